"""Fixtures for the reliability suites: the emulated account (moto) with the findings queue and the
publisher (tests/pipeline.py), and evaluators loaded after the environment points at them."""

from __future__ import annotations

import pytest
from moto import mock_aws
from pipeline import Pipeline
from support import create_emulated_account, load_handler_module


@pytest.fixture
def account(monkeypatch):
    monkeypatch.delenv("SECURITY_HUB_PRODUCT_ARN", raising=False)
    monkeypatch.delenv("MEMBER_ROLE_NAME", raising=False)
    with mock_aws():
        emulated = create_emulated_account()
        monkeypatch.setenv("FINDINGS_TOPIC_ARN", emulated.topic_arn)
        monkeypatch.setenv("SECURITY_HUB_ENABLED", "true")
        monkeypatch.setenv("IDEMPOTENCY_TABLE", emulated.table_name)
        yield emulated


@pytest.fixture
def pipeline(account, monkeypatch) -> Pipeline:
    return Pipeline(account, monkeypatch)


@pytest.fixture
def evaluator(pipeline):
    """The CloudTrail evaluator, cold-started with FINDINGS_QUEUE_URL set (as deployed)."""
    return load_handler_module()
