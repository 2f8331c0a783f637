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
