"""The sequence engine (spec/rules.md §E): beside the event engine, it keeps the steps of the sequence rules
(:mod:`identity_auditor.sequences`) in a :class:`SequenceStore` and raises a finding when one completes.

For each record: the sequences whose triggers admit it ``observe`` it (most records are no step of anything
and touch nothing); each observation is added to the store under (sequence, key); the sequence then ``judge``s
every step kept under that key within two windows of the new one (so that a step can complete a sequence whose
other steps span a window before it), in event-time order, whatever order they arrived in and however often. A
verdict that overlaps a sequence already raised under the key (within a window of its steps) is the same sequence:
it keeps that finding's Id, updates it when its severity rises or it reaches a new stage, and otherwise only
extends how far the raised sequence reaches, so a long attack or a late earlier step never starts a second finding. A verdict becomes a finding whose Id is deterministic from the key and its first
step (``<id>/<account>/<region>/<hash of key>/<first step's event id>``), carrying every step's event id; the
store remembers which (first step, severity) it already raised, so a completed sequence is raised once, again
only when its severity rises (a brute force that ends in a success). The caller marks a finding raised
(:meth:`SequenceEngine.commit`) only once it was delivered: a delivery that fails is retried with the event, and
the finding is raised again. The organisation policy applies as to
event rules: ``enabled``, ``allow`` (the current record's caller), ``severity``, ``suppress``, and the window
and threshold knobs (``sequences.<id>``).

:meth:`SequenceEngine.evaluate` is two halves: :meth:`~SequenceEngine.observe` (what the record is to each
sequence: it depends on the record, the event rules that fired on it and the context only) and
:meth:`~SequenceEngine.judge` (the store and the verdicts). The live path does both at once; an archive replay
observes each record as it is read and keeps only the records some sequence observed, to judge them in event
order once every file was read.

The store is the one thing here that can fail for reasons outside the record (DynamoDB throttled or down): its
errors are raised as :class:`SequenceStoreError`, after the event's own findings were delivered by the caller,
so the invocation is retried and, in the end, dead-lettered: a sequence step is never silently dropped. A
sequence rule that raises is a :class:`~identity_auditor.model.contract.RuleFailure`, like an event rule's.
"""

from __future__ import annotations

import logging
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from types import ModuleType
from typing import Protocol

from identity_auditor.engine.policy import apply_policy
from identity_auditor.model.cloudtrail import CloudTrailRecord, base_event_name
from identity_auditor.model.contract import RULE_ERRORS, Context, RuleFailure, RuleMeta, Severity, Violation
from identity_auditor.model.findings import Actor, Finding, build_finding, finding_id, short_hash
from identity_auditor.model.redaction import redact
from identity_auditor.model.sequence import Observation, SequenceMeta, Step, Verdict
from identity_auditor.sequences import SEQUENCES

logger = logging.getLogger(__name__)

MAX_STEPS_PER_KEY = 200  # steps kept per (sequence, key); past it the oldest are dropped (see SequenceStore.add)


_ACTOR = "actor."  # the facts the engine adds to every step: who made its event


def _actor_facts(record: CloudTrailRecord) -> dict[str, str]:
    """Who made a step's event, kept with the step: a sequence's finding names who started it (its first step's
    actor), not whoever made the event that completed it."""
    identity = record.user_identity
    facts = {"type": identity.type, "name": record.actor_name, "arn": identity.arn, "account": identity.account_id,
             "ip": record.source_ip_address, "agent": record.user_agent, "key": identity.access_key_id,
             "via": identity.invoked_by, "event": record.event_name, "source": record.event_source,
             "issuer": identity.issuer.arn if identity.issuer else None}
    return {f"{_ACTOR}{key}": str(value)[:256] for key, value in facts.items() if value}


_ZERO = timedelta(0)


def _utc(moment: datetime) -> datetime:
    """A step's time in UTC as :data:`datetime.timezone.utc` (the same instant, written the same): a record's time
    carries a zone object of its own, and two times with different zone objects compare ten times slower, while a
    key's steps are compared with each other at every step added to it. (The DynamoDB store reads its steps back
    in :data:`~datetime.timezone.utc` already.)"""
    if isinstance(moment, datetime) and moment.tzinfo is not timezone.utc and moment.tzinfo is not None \
            and moment.utcoffset() == _ZERO:
        return moment.replace(tzinfo=timezone.utc)
    return moment


def _actor(step: Step) -> Actor | None:
    facts = step.facts
    if f"{_ACTOR}name" not in facts:
        return None

    def fact(key: str) -> str | None:
        return facts.get(f"{_ACTOR}{key}")

    return Actor(type=fact("type"), name=fact("name") or "unknown", arn=fact("arn"), account_id=fact("account"),
                 source_ip=fact("ip"), user_agent=redact(fact("agent")), invoked_by=fact("via"),
                 access_key_id=fact("key"))


@dataclass(frozen=True)
class _Mark:
    """What the store remembers of a raised sequence: its first step (the finding's Id), severity, and the times
    its steps span (epoch seconds), as ``<event id>#<step>#<severity>#<first>#<last>``."""

    event_id: str
    name: str
    severity: Severity
    lo: datetime
    hi: datetime

    @property
    def text(self) -> str:
        return (f"{self.event_id}#{self.name}#{self.severity.value}#{int(self.lo.timestamp())}"
                f"#{int(self.hi.timestamp())}")[:1024]

    @classmethod
    def parse(cls, text: str) -> _Mark | None:
        try:
            event_id, name, severity, lo, hi = text.rsplit("#", 4)
            return cls(event_id, name, Severity(severity), datetime.fromtimestamp(int(lo), timezone.utc),
                       datetime.fromtimestamp(int(hi), timezone.utc))
        except ValueError:
            return None  # a mark of another shape: ignored


@lru_cache(maxsize=4096)
def _parse_mark(text: str) -> _Mark | None:
    """:meth:`_Mark.parse`, remembered: a key's marks are read again at every verdict under it."""
    return _Mark.parse(text)


def _callers(step: Step) -> tuple[str, ...]:
    """The ARNs of who made a step's event (its session and issuing role), as the allow-list matches them."""
    return tuple(arn for arn in (step.facts.get(f"{_ACTOR}arn"), step.facts.get(f"{_ACTOR}issuer")) if arn)


class SequenceStoreError(RuntimeError):
    """The sequence state could not be read or written (the message says what and why)."""


class SequenceStore(Protocol):
    def add(self, sequence_id: str, key: str, step: Step, *, window: timedelta) -> tuple[list[Step], frozenset[str]]:
        """Keep ``step`` under (sequence, key), once per :attr:`Step.identity`, for at least ``window`` past the
        newest step's time; return the kept steps whose time is within ``window`` of ``step``'s (either side), in
        time order, and the marks already raised under the key. At most :data:`MAX_STEPS_PER_KEY` steps are kept
        per key: past that the oldest go."""

    def mark_raised(self, sequence_id: str, key: str, marks: frozenset[str]) -> None:
        """Remember that these marks (first step and severity of a raised finding) were raised under the key."""


def _order(step: Step) -> tuple:
    return (step.time, step.event_id, step.name)


def in_window(steps: Iterable[Step], around: Step, window: timedelta) -> list[Step]:
    """The steps within ``window`` of ``around`` (either side), in time order."""
    return sorted((s for s in steps if abs(s.time - around.time) <= window), key=_order)


class MemoryStore:
    """The store of the CLI and the tests: the same semantics as the deployment's DynamoDB store, in memory
    (an archive replay finds the same sequences as the live path)."""

    def __init__(self, max_steps: int = MAX_STEPS_PER_KEY):
        self.max_steps = max_steps
        # per key: its steps in time order, as three lists side by side (their sort keys, their times, the steps:
        # found by bisection without a key function, the window cut out by one slice), and the identities kept
        self._steps: dict[tuple[str, str], tuple[list[tuple], list[datetime], list[Step], set[tuple[str, str]]]] = {}
        self._raised: dict[tuple[str, str], set[str]] = {}
        self.calls = 0

    def add(self, sequence_id: str, key: str, step: Step, *, window: timedelta) -> tuple[list[Step], frozenset[str]]:
        self.calls += 1
        kept = self._steps.get((sequence_id, key))
        if kept is None:
            kept = self._steps[(sequence_id, key)] = ([], [], [], set())
        orders, times, steps, identities = kept
        identity = step.identity
        if identity not in identities:
            identities.add(identity)
            order = _order(step)
            if not orders or orders[-1] < order:  # the newest yet (an archive replays in time order)
                orders.append(order)
                times.append(step.time)
                steps.append(step)
            else:
                at = bisect_right(orders, order)
                orders.insert(at, order)
                times.insert(at, step.time)
                steps.insert(at, step)
            if len(steps) > self.max_steps:  # the oldest go
                gone = len(steps) - self.max_steps
                for old in steps[:gone]:
                    identities.discard(old.identity)
                del orders[:gone], times[:gone], steps[:gone]
        low = bisect_left(times, step.time - window)
        high = bisect_right(times, step.time + window)
        return steps[low:high], frozenset(self._raised.get((sequence_id, key), ()))

    def mark_raised(self, sequence_id: str, key: str, marks: frozenset[str]) -> None:
        self.calls += 1
        self._raised.setdefault((sequence_id, key), set()).update(marks)


@dataclass(frozen=True)
class SequenceRule:
    meta: SequenceMeta
    observe: Callable[[CloudTrailRecord, frozenset[str], Context], list[Observation]]
    judge: Callable[[str, list[Step], Context], Verdict | None]

    @property
    def rule_meta(self) -> RuleMeta:
        """The sequence as the finding builder and the policy see a rule."""
        meta = self.meta
        return RuleMeta(id=meta.id, title=meta.title, severity=meta.severity, trigger=None,
                        resource_type=meta.resource_type, finding_types=meta.finding_types, why=meta.why,
                        remediation=meta.remediation, remediation_url=meta.remediation_url,
                        compliance=meta.compliance, severity_note=meta.severity_note)


@dataclass(frozen=True)
class Observed:
    """A record as the sequences see it (:meth:`SequenceEngine.observe`), before any is judged: in the order of the
    engine's sequences, each step a sequence observed, as ``(sequence id, key, step)`` (the step with who made the
    event and where, see ``_actor_facts``), or the :class:`RuleFailure` of a sequence that failed to observe it.
    It depends only on the record, the event rules that fired on it and the context, never on the store: an
    archive replay observes each record as it is read, keeps only this until every file was read, and judges the
    records in event-time order (:meth:`SequenceEngine.judge`)."""

    event_id: str | None
    parts: tuple[tuple[str, str, Step] | RuleFailure, ...]


@dataclass
class SequenceEvaluation:
    findings: list[Finding] = field(default_factory=list)
    failures: list[RuleFailure] = field(default_factory=list)
    steps: int = 0  # observations added to the store
    marks: dict[tuple[str, str], set[str]] = field(default_factory=dict)  # to record once delivered (commit)


class SequenceEngine:
    def __init__(self, store: SequenceStore | None = None, sequences: Sequence[ModuleType] = SEQUENCES):
        self.store = store if store is not None else MemoryStore()
        self.rules = tuple(SequenceRule(m.META, m.observe, m.judge) for m in sequences)
        self._for: dict[tuple, tuple[SequenceRule, ...]] = {}
        self._by_id: tuple[tuple[SequenceRule, ...], dict[str, SequenceRule]] = ((), {})  # see _rule

    def rules_for(self, event_source: str, event_name: str, identity_type: str | None) -> tuple[SequenceRule, ...]:
        key = (event_source, event_name, identity_type)
        found = self._for.get(key)
        if found is None:
            name = base_event_name(event_source, event_name)
            found = tuple(rule for rule in self.rules
                          if any(t.matches(event_source, name, identity_type) for t in rule.meta.triggers))
            if len(self._for) < 10_000:
                self._for[key] = found
        return found

    def wants(self, event_source: str, event_name: str, identity_type: str | None = None) -> bool:
        return bool(self.rules_for(event_source, event_name, identity_type))

    def evaluate(self, record: CloudTrailRecord, found: Iterable[str], ctx: Context, *, account: str | None = None,
                 region: str | None = None) -> SequenceEvaluation:
        """The sequence findings ``record`` completes. ``found``: the ids of the event rules that fired on it
        (before the organisation policy). Raises :class:`SequenceStoreError` when the store fails. The same as
        :meth:`judge` of :meth:`observe`."""
        observed = self.observe(record, found, ctx, account=account, region=region)
        return self.judge(observed, ctx, lambda: record) if observed is not None else SequenceEvaluation()

    def observe(self, record: CloudTrailRecord, found: Iterable[str], ctx: Context, *, account: str | None = None,
                region: str | None = None) -> Observed | None:
        """What ``record`` is to the sequences, before any is judged (see :class:`Observed`); ``None`` when it is
        no step of any (nor did a sequence fail to observe it): then it changes nothing and need not be judged."""
        rules = self.rules_for(record.event_source, record.event_name, record.user_identity.type)
        if not rules:
            return None
        found = frozenset(found)
        parts: list[tuple[str, str, Step] | RuleFailure] = []
        actor: dict[str, str] | None = None
        where_account = where_region = "unknown"
        for rule in rules:
            meta = rule.meta
            if not ctx.policy.is_enabled(meta.id):
                continue
            try:
                observations = list(rule.observe(record, found, ctx) or ())
            except RULE_ERRORS as error:  # a broken sequence rule must not hide the others
                parts.append(RuleFailure(meta.id, record.event_id, f"{type(error).__name__}: {error}"))
                logger.exception("sequence %s failed to observe event %s", meta.id, record.event_id)
                continue
            for observation in observations:
                if actor is None:  # who made the event, and where: the same for every step of the record
                    actor = _actor_facts(record)
                    where_account = (record.recipient_account_id or account or record.user_identity.account_id
                                     or "unknown")
                    where_region = record.aws_region or region or "unknown"
                step = observation.step
                parts.append((meta.id, observation.key, Step(step.name, step.event_id, _utc(step.time),
                                                             {**step.facts, **actor}, where_account, where_region)))
        return Observed(record.event_id, tuple(parts)) if parts else None

    def judge(self, observed: Observed, ctx: Context, record: Callable[[], CloudTrailRecord]) -> SequenceEvaluation:
        """The sequence findings the steps of :meth:`observe` complete, against the store (each step is added to
        it): ``record`` gives the observed record, asked for only to build a finding. Raises
        :class:`SequenceStoreError` when the store fails."""
        result = SequenceEvaluation()
        for part in observed.parts:
            if isinstance(part, RuleFailure):  # the sequence failed to observe the record
                result.failures.append(part)
                continue
            rule_id, key, step = part
            rule = self._rule(rule_id)
            meta = rule.meta
            window = ctx.policy.window_for(meta.id, meta.window)
            # two windows either side: a step can complete a sequence whose other steps span a window before it
            steps, raised = self.store.add(meta.id, key, step, window=2 * window)  # may raise
            result.steps += 1
            try:
                verdict = rule.judge(key, steps, ctx)
            except RULE_ERRORS as error:
                result.failures.append(RuleFailure(meta.id, observed.event_id, f"{type(error).__name__}: {error}"))
                logger.exception("sequence %s failed to judge key %s", meta.id, key[:200])
                continue
            if verdict is None or all(ctx.policy.allows(meta.id, *_callers(step)) for step in verdict.steps):
                continue  # only allow-listed callers made its steps (whatever order they came in)
            severity = ctx.policy.severity_for(meta.id) or verdict.severity or meta.severity
            pending = result.marks.setdefault((meta.id, key), set())
            times = [s.time for s in verdict.steps]
            lo, hi = min(times), max(times)
            same = [m for m in map(_parse_mark, raised | pending)
                    if m is not None and lo <= m.hi + window and hi >= m.lo - window]
            stage = verdict.steps[0].name  # a sequence names a new stage by its first step's name
            # the earliest raised sequence it overlaps; among the marks of that one first step, the mark of this
            # stage at its highest severity, else the first stage by name (not whichever a set happens to give
            # first: Python's string hashing differs from one process to the next, and so did the findings)
            anchor = min(same, key=lambda m: (m.lo, m.event_id, m.name != stage, -m.severity.rank, m.name)) \
                if same else None
            if (anchor is not None and severity.rank <= max(m.severity.rank for m in same)
                    and stage in {m.name for m in same}):
                # the sequence already raised (as it grows, or an earlier step came late): no new finding;
                # remember how far it reaches, so that a long attack stays one finding
                if hi > max(m.hi for m in same):
                    pending.add(_Mark(anchor.event_id, anchor.name, anchor.severity, anchor.lo, hi).text)
                continue
            first = (anchor.event_id, stage, anchor.lo) if anchor else (
                verdict.steps[0].event_id, stage, verdict.steps[0].time)
            # a higher severity or a new stage updates the finding (the same Id); only a higher severity pages
            finding, expired = self._finding(rule, key, verdict, record(), ctx, first=first)
            pending.add(_Mark(first[0], stage, finding.severity, min(lo, first[2]), hi).text)
            result.findings.append(finding)
            result.findings.extend(expired)
        return result

    def _rule(self, rule_id: str) -> SequenceRule:
        rules, by_id = self._by_id
        if rules is not self.rules:  # first use, or the rules were replaced
            by_id = {rule.meta.id: rule for rule in self.rules}
            self._by_id = (self.rules, by_id)
        return by_id[rule_id]

    def commit(self, evaluation: SequenceEvaluation) -> None:
        """Remember the findings of ``evaluation`` as raised: call it once they were delivered. Raises
        :class:`SequenceStoreError` (the findings then may be raised again, never lost)."""
        for (sequence_id, key), marks in evaluation.marks.items():
            if marks:
                self.store.mark_raised(sequence_id, key, frozenset(marks))

    def evaluate_and_commit(self, record: CloudTrailRecord, found: Iterable[str], ctx: Context, *,
                            account: str | None = None, region: str | None = None) -> SequenceEvaluation:
        """:meth:`evaluate`, then :meth:`commit` at once: for a caller whose findings cannot fail to be delivered
        (the CLI prints them)."""
        result = self.evaluate(record, found, ctx, account=account, region=region)
        self.commit(result)
        return result

    def _finding(self, rule: SequenceRule, key: str, verdict: Verdict, record: CloudTrailRecord,
                 ctx: Context, *, first: tuple[str, str, datetime]) -> tuple[Finding, list[Finding]]:
        """The finding of a verdict, filed under ``first`` (event id, step name, time): the first step of the
        sequence as first raised, so that the Id stays whatever was learned since."""
        anchor_id, _, anchor_time = first
        first = verdict.steps[0]
        linked = ", ".join(dict.fromkeys(step.event_id for step in verdict.steps))
        violation = Violation(description=verdict.description, resource_id=verdict.resource_id,
                              resource_type=verdict.resource_type, severity=verdict.severity,
                              details={**verdict.details, "Steps": str(len(verdict.steps)), "StepEventIds": linked},
                              subject=verdict.subject)
        account, region = first.account or "unknown", first.region or "unknown"
        meta = rule.rule_meta

        def build(meta_: RuleMeta, violation_: Violation) -> Finding:
            built = build_finding(meta_, violation_, record, account_fallback=account, region_fallback=region)
            return replace(built, account_id=account, region=region, event_id=anchor_id,
                           actor=_actor(first) or built.actor,
                           event_name=first.facts.get(f"{_ACTOR}event", built.event_name),
                           event_source=first.facts.get(f"{_ACTOR}source", built.event_source),
                           event_time=anchor_time,
                           sequence_steps=tuple(dict.fromkeys(step.event_id for step in verdict.steps)),
                           finding_id=finding_id(meta_.id, account, region, short_hash(key), anchor_id))

        return apply_policy(build(meta, violation), ctx, record.user_identity.arns, build, event_id=record.event_id)

