"""Shared test set-up: offline AWS environment, paths to the samples and the real corpus, loaders."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

# Never reach real AWS: fake credentials, no instance metadata, no SAM telemetry.
for _name, _value in {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
    "SAM_CLI_TELEMETRY": "0",
    "POWERTOOLS_METRICS_NAMESPACE": "IdentityAuditorTests",
    "POWERTOOLS_SERVICE_NAME": "identity-auditor",
}.items():
    os.environ[_name] = _value
for _name in ("AWS_PROFILE", "AWS_ENDPOINT_URL"):
    os.environ.pop(_name, None)

# freezegun must not fake the clock inside Powertools' lazily imported modules (pydantic breaks).
import freezegun  # noqa: E402

freezegun.configure(extend_ignore_list=["aws_lambda_powertools"])

TESTS = Path(__file__).resolve().parent
if str(TESTS) not in sys.path:
    sys.path.insert(0, str(TESTS))

from support import FakeLambdaContext  # noqa: E402


@pytest.fixture
def lambda_context() -> FakeLambdaContext:
    return FakeLambdaContext()


def pytest_addoption(parser) -> None:
    parser.addoption(
        "--full",
        action="store_true",
        default=False,
        help="run the large reliability suites (burst, fault injection, hostile input) at full size; "
        "the default size keeps `make test` fast",
    )


@pytest.fixture(scope="session")
def full_size(request) -> bool:
    """True under ``pytest --full`` (``make test-full``): the large suites run at their documented full size."""
    return bool(request.config.getoption("full"))
