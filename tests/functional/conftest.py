"""Fixtures for handler tests: an emulated account (moto) and a freshly imported handler module."""

from __future__ import annotations

import pytest
from moto import mock_aws
from support import create_emulated_account, load_handler_module


@pytest.fixture
def account(monkeypatch):
    """Security Hub, the findings topic (+ subscribed queue) and the de-duplication table, in moto;
    the handler's environment points at them."""
    monkeypatch.delenv("SECURITY_HUB_PRODUCT_ARN", raising=False)
    with mock_aws():
        emulated = create_emulated_account()
        monkeypatch.setenv("FINDINGS_TOPIC_ARN", emulated.topic_arn)
        monkeypatch.setenv("SECURITY_HUB_ENABLED", "true")
        monkeypatch.setenv("IDEMPOTENCY_TABLE", emulated.table_name)
        yield emulated


@pytest.fixture
def module(account):
    """A cold start: the handler module imported afresh after the environment is set."""
    return load_handler_module()
