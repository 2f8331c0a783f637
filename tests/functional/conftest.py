"""Fixtures for handler tests: an emulated account (moto) and a freshly imported handler module."""

from __future__ import annotations

import pytest
from support import emulated_account, load_handler_module


@pytest.fixture
def account(monkeypatch):
    """Security Hub, the findings topic (+ subscribed queue) and the de-duplication table, in moto;
    the handlers' environment points at them."""
    yield from emulated_account(monkeypatch)


@pytest.fixture
def module(account):
    """A cold start: the handler module imported afresh after the environment is set."""
    return load_handler_module()


@pytest.fixture
def iam_world():
    """An emulated account for audit-account (moto): alice signs in to the console without MFA, ci-deploy has two
    active access keys, an external-access Access Analyzer in us-east-1 (moto has none: posture_world fills in)."""
    import sys

    import boto3
    from moto import mock_aws
    from support import ROOT

    sys.path.insert(0, str(ROOT / "scripts"))
    from posture_world import ANALYZERS, emulator_gaps

    with mock_aws(), emulator_gaps():
        ANALYZERS["us-east-1"] = [{"arn": "arn:aws:access-analyzer:us-east-1:123456789012:analyzer/external",
                                   "name": "external", "type": "ACCOUNT", "status": "ACTIVE"}]
        iam = boto3.client("iam", region_name="us-east-1")
        iam.create_user(UserName="alice")
        iam.create_login_profile(UserName="alice", Password="Example-Passw0rd!")  # no MFA
        iam.create_user(UserName="ci-deploy")
        iam.create_access_key(UserName="ci-deploy")
        iam.create_access_key(UserName="ci-deploy")
        yield iam
        ANALYZERS.clear()

