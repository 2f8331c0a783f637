"""Fixtures for the reliability suites: the emulated account (moto) with the findings queue and the
publisher (tests/pipeline.py), and evaluators loaded after the environment points at them."""

from __future__ import annotations

import pytest
from pipeline import Pipeline
from support import emulated_account, load_handler_module


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


# The findings ledger (pipeline.record_ledger) is printed by tests/conftest.py's terminal summary, which
# also gathers it from pytest-xdist's workers.
