"""Helpers for the sequence tests: run records through the event engine and the sequence engine, in any order,
as the handler does (the ids of the event rules that fired are what a sequence's ``observe`` is given)."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

from identity_auditor.engine.events import Engine
from identity_auditor.engine.sequences import MemoryStore, SequenceEngine
from identity_auditor.model.cloudtrail import CloudTrailRecord
from identity_auditor.model.contract import Context
from identity_auditor.model.policy import OrgPolicy

NOW = datetime(2026, 11, 22, tzinfo=timezone.utc)
EVENTS = Engine()


def run_sequences(records: list[dict], *, policy: OrgPolicy | None = None, engine: SequenceEngine | None = None,
                  rule_id: str | None = None) -> list:
    """The sequence findings of ``records`` given one by one in this order (of rule ``rule_id`` only, if given)."""
    engine = engine or SequenceEngine(MemoryStore())
    ctx = Context(now=NOW, policy=policy or OrgPolicy())
    findings = []
    for raw in records:
        record = CloudTrailRecord.model_validate(raw)
        found = EVENTS.evaluate(record, Context(now=NOW)).fired
        result = engine.evaluate_and_commit(record, found, ctx)
        assert result.failures == [], result.failures
        findings += [f for f in result.findings if rule_id is None or f.rule_id == rule_id]
    return findings


def at(record: dict, when: datetime, event_id: str, **fields) -> dict:
    """A copy of ``record`` at ``when`` with ``event_id`` (and top-level fields replaced)."""
    result = copy.deepcopy(record)
    result.update(eventTime=when.strftime("%Y-%m-%dT%H:%M:%SZ"), eventID=event_id, **fields)
    return result


def minutes(n: float) -> timedelta:
    return timedelta(minutes=n)


def printed_under_hash_seeds(module: str, expression: str, seeds: tuple[str, ...] = ("1", "2", "3")) -> set[str]:
    """What ``print(<expression>)`` prints, after ``import <module> as tested`` (a module of tests/unit), in a fresh
    process for each ``PYTHONHASHSEED``: one output when nothing depends on the order sets and dicts of strings
    iterate in, which Python randomises per process."""
    tests = Path(__file__).resolve().parent
    code = (f"import sys; sys.path[:0] = [{str(tests)!r}, {str(tests / 'unit')!r}]\n"
            f"import {module} as tested\nprint({expression})\n")
    return {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           env={**os.environ, "PYTHONHASHSEED": seed}).stdout for seed in seeds}
