"""The sequence contract (spec/rules.md §E): detections that need several events, one finding.

A sequence rule module (``identity_auditor.sequences.<id>``) holds ``META`` (:class:`SequenceMeta`) and two
pure functions:

- ``observe(record, found, ctx) -> list[Observation]``: the record's part in the sequence, if any: under which
  key (e.g. account + user name) it is which step, with the facts a later judgement needs. ``found`` are the
  ids of the single-event rules that fired on the record, before the organisation policy (allow-lists,
  suppressions) was applied: a step is what happened, not what the organisation chose to page about.
- ``judge(key, steps, ctx) -> Verdict | None``: whether the steps kept under one key (every step of the key
  within two windows of the new one, either side, in event-time order, each event at most once per step name)
  complete the sequence, and what its finding says; the judge checks the window itself.

Only records a sequence's ``triggers`` admit are observed (the rest never touch the state). The engine
(:mod:`identity_auditor.engine.sequences`) keeps the steps in a store (DynamoDB in the deployment, memory in
the CLI), asks ``judge`` after each new step, and builds the finding, whose Id is deterministic from the key
and the verdict's first step, so a replay or a redelivery updates the same finding. Sequence rules are as pure
as event rules: no AWS, no clock (``ctx.now``), no environment.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Mapping

from identity_auditor.model.contract import Trigger
from identity_auditor.model.severity import Severity


def _empty() -> Mapping[str, str]:
    return MappingProxyType({})


@dataclass(frozen=True)
class Step:
    """One event's part in a sequence: the step's name (``failed``, ``success``, ``created``...), the event
    (id, time) and the facts (strings) the judgement or the finding needs later (source address, user, ...).
    Facts are stored: keep them few and short."""

    name: str
    event_id: str
    time: datetime
    facts: Mapping[str, str] = field(default_factory=_empty)
    account: str | None = None  # where the event happened: set by the engine, not the rule
    region: str | None = None

    @property
    def identity(self) -> tuple[str, str]:
        """What makes a step the same step when it arrives twice (EventBridge is at-least-once)."""
        return (self.event_id, self.name)


@dataclass(frozen=True)
class Observation:
    """A step under a key (the sequence's key, as a string the rule composes, e.g. ``123456789012|1.2.3.4``)."""

    key: str
    step: Step


@dataclass(frozen=True)
class Verdict:
    """A completed sequence: ``steps`` are the steps that make it, first step first (the finding's Id is built
    from the key and ``steps[0]``; every step's event id is linked in the finding)."""

    description: str
    resource_id: str
    steps: tuple[Step, ...]
    resource_type: str | None = None
    severity: Severity | None = None
    details: dict[str, str] = field(default_factory=dict)
    subject: str | None = None


@dataclass(frozen=True)
class SequenceMeta:
    """What a sequence rule declares; everything here ends up in findings, routes and the catalogue."""

    id: str
    title: str
    severity: Severity
    triggers: tuple[Trigger, ...]  # the records that can be a step (routes and the engine's filter)
    window: timedelta  # the spec's default; the policy's sequences.<id>.window_minutes overrides it
    resource_type: str
    finding_types: tuple[str, ...]
    why: str
    remediation: str
    remediation_url: str
    threshold: int | None = None  # the spec's default count, when the sequence counts (policy: threshold)
    compliance: tuple[str, ...] = ()
    severity_note: str = ""


def runs(steps: list[Step] | tuple[Step, ...], window: timedelta) -> list[tuple[Step, ...]]:
    """Every maximal run of ``steps`` (in time order) that fits in ``window`` (last - first <= window), earliest
    first: what a judgement that counts steps looks at (e.g. "10 failures within 15 minutes")."""
    ordered = sorted(steps, key=lambda step: (step.time, step.event_id, step.name))
    found: list[tuple[Step, ...]] = []
    end = 0
    for start, first in enumerate(ordered):
        end = max(end, start)
        while end + 1 < len(ordered) and ordered[end + 1].time - first.time <= window:
            end += 1
        run = tuple(ordered[start:end + 1])
        if not found or run[-1] is not found[-1][-1]:
            found.append(run)
    return found
