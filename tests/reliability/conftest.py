"""Fixtures for the reliability suites: the emulated account (moto) with the findings queue and the
publisher (tests/pipeline.py), and evaluators loaded after the environment points at them."""

from __future__ import annotations

import dataclasses
import importlib.util
import sys

import boto3

import identity_auditor.collectors.credential_report as credential_report
import pytest
from fake_time import FakeClock, fake_botocore_time, fake_sqs_long_polling
from pipeline import Pipeline
from support import ROOT, emulated_account, load_handler_module

CONFIG_HANDLER = ROOT / "functions" / "config_rule_evaluator" / "config_rule_evaluator.py"


@pytest.fixture
def account(monkeypatch):
    """Security Hub, the findings topic (+ subscribed queue) and the de-duplication table, in moto;
    the handlers' environment points at them."""
    yield from emulated_account(monkeypatch)


@pytest.fixture
def pipeline(account, monkeypatch) -> Pipeline:
    return Pipeline(account, monkeypatch)


@pytest.fixture
def evaluator(pipeline):
    """The CloudTrail evaluator, cold-started with FINDINGS_QUEUE_URL set (as deployed)."""
    return load_handler_module()


STACK = "identity-auditor"


@pytest.fixture
def signed(account, monkeypatch) -> Pipeline:
    """The delivery path as deployed: the stack's name and HMAC key in every function's settings (the
    evaluators sign, the publisher checks)."""
    key = boto3.client("kms", region_name="us-east-1").create_key(
        KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC", Description="FindingsMacKey")["KeyMetadata"]["Arn"]
    monkeypatch.setenv("FINDINGS_MAC_KEY_ARN", key)
    monkeypatch.setenv("AUDITOR_STACK_NAME", STACK)
    pipe = Pipeline(account, monkeypatch)
    fake_sqs_long_polling(monkeypatch, fake_botocore_time(monkeypatch, FakeClock()))
    return pipe


@pytest.fixture
def config_clock(monkeypatch) -> FakeClock:
    """botocore's backoff and the credential report collector's retries and polling wait on a fake clock."""
    clock = fake_botocore_time(monkeypatch, FakeClock())
    monkeypatch.setattr(credential_report, "DEFAULT_POLICY",
                        dataclasses.replace(credential_report.DEFAULT_POLICY, sleep=clock.sleep))
    return clock


@pytest.fixture
def config_app(pipeline, monkeypatch, config_clock):
    """The Config evaluator, cold-started against the pipeline."""
    spec = importlib.util.spec_from_file_location("config_rule_evaluator_faults", CONFIG_HANDLER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    sys.modules[spec.name] = module  # freezegun stops the handler's clock too
    return module


# The findings ledger (pipeline.record_ledger) is printed by tests/conftest.py's terminal summary, which
# also gathers it from pytest-xdist's workers.
