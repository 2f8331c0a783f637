"""Shared test set-up: offline AWS environment, paths to the samples and the real corpus, loaders."""

from __future__ import annotations

import os
import sys
from collections import Counter
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

# One botocore data loader for the whole run. moto gives every test a new boto3 default session, and a new
# session parses botocore's JSON models afresh: ~0.15 s for each service a test touches, most of the set-up
# of a test in moto. The loader is shared by every session of one data path (what a long-lived session
# does anyway): the same files, parsed once. Nothing in the project or its tests changes the data path.
import botocore.loaders  # noqa: E402
import botocore.session  # noqa: E402


class _SearchPaths(list):
    """boto3 adds its own data folder to the loader's search paths for every new Session: once is enough."""

    def append(self, path) -> None:
        if path not in self:
            super().append(path)


_LOADERS: dict[str | None, botocore.loaders.Loader] = {}


def _shared_loader(search_path_string: str | None = None) -> botocore.loaders.Loader:
    loader = _LOADERS.get(search_path_string)
    if loader is None:  # as botocore.loaders.create_loader, with the search paths above
        paths = _SearchPaths(
            os.path.expanduser(os.path.expandvars(path)) for path in search_path_string.split(os.pathsep)
        ) if search_path_string is not None else _SearchPaths()
        loader = _LOADERS[search_path_string] = botocore.loaders.Loader(extra_search_paths=paths)
    return loader


botocore.session.create_loader = _shared_loader

TESTS = Path(__file__).resolve().parent
if str(TESTS) not in sys.path:
    sys.path.insert(0, str(TESTS))

from support import FakeLambdaContext  # noqa: E402


@pytest.fixture
def lambda_context() -> FakeLambdaContext:
    return FakeLambdaContext()


@pytest.fixture(autouse=True)
def credential_report_clock(monkeypatch):
    """IAM makes a credential report in the background: the collector asks again after its default policy's
    backoff (up to a second, at random), and moto always answers STARTED before COMPLETE. The polls happen as
    configured; their waits pass on a fake clock (a test about the waiting patches in its own)."""
    import dataclasses

    import identity_auditor.collectors.credential_report as credential_report
    from fake_time import FakeClock

    clock = FakeClock()
    monkeypatch.setattr(credential_report, "DEFAULT_POLICY",
                        dataclasses.replace(credential_report.DEFAULT_POLICY, sleep=clock.sleep))
    return clock


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


# -- the run's tallies: the findings ledger (tests/reliability) and the hostile-input case counts ---------
# Each suite notes its figures in its process (pipeline.LEDGER, hostile_cases.CASES). Under pytest-xdist
# (``-n``) the tests run in worker processes: each worker hands its figures to the controller, which prints
# them all; without xdist, the one process prints its own.

_FROM_WORKERS: dict = {"ledger": [], "cases": Counter()}


def _tallies() -> tuple[list, Counter]:
    """The ledger and the case counts noted in this process and received from workers."""
    pipeline, hostile = sys.modules.get("pipeline"), sys.modules.get("hostile_cases")
    ledger = [*(getattr(pipeline, "LEDGER", None) or []), *_FROM_WORKERS["ledger"]]
    cases = Counter(getattr(hostile, "CASES", None) or {}) + _FROM_WORKERS["cases"]
    return ledger, cases


def pytest_sessionfinish(session) -> None:
    workeroutput = getattr(session.config, "workeroutput", None)  # set in an xdist worker only
    if workeroutput is not None:
        ledger, cases = _tallies()
        workeroutput["ledger"] = [list(entry) for entry in ledger]
        workeroutput["cases"] = dict(cases)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error) -> None:
    """xdist: a worker has finished; keep its figures for the summary."""
    output = getattr(node, "workeroutput", None) or {}
    _FROM_WORKERS["ledger"].extend(tuple(entry) for entry in output.get("ledger", []))
    _FROM_WORKERS["cases"].update(output.get("cases", {}))


def pytest_terminal_summary(terminalreporter) -> None:
    ledger, cases = _tallies()
    if ledger:
        terminalreporter.section("findings ledger (tests/reliability)")
        for test, line in ledger:
            terminalreporter.write_line(f"{test}: {line}")
    if cases:
        parts = ", ".join(f"{suite} {count:,}" for suite, count in sorted(cases.items()))
        full = terminalreporter.config.getoption("full", default=False)
        size = "full size" if full else "default size; --full for the full size"
        terminalreporter.write_line(f"hostile input: {sum(cases.values()):,} cases ({parts}) [{size}]")
