"""The sequence engine's own guarantees, beside the sequences' tests: a finding is marked raised only when the
caller commits it (a delivery that failed raises it again on the retry, never losing it), the organisation policy
applies to sequence findings as to event findings, and a sequence that raises is a rule failure, not a crash."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta, timezone

from identity_auditor.engine.sequences import MemoryStore, SequenceEngine
from identity_auditor.model.cloudtrail import CloudTrailRecord
from identity_auditor.model.contract import Context, Severity
from identity_auditor.model.policy import OrgPolicy, SuppressEntry
from identity_auditor.sequences import signin_console_brute_force
from sequence_support import NOW, at
from support import load_sample

FAILED = load_sample("signin_console_login_unknown_user_failed")["detail"]
T0 = datetime(2026, 11, 21, 9, 0, tzinfo=timezone.utc)
RECORDS = [CloudTrailRecord.model_validate(at(FAILED, T0 + timedelta(minutes=i), f"f-{i:02d}")) for i in range(10)]


def feed(engine: SequenceEngine, policy: OrgPolicy = OrgPolicy(), *, commit: bool = True) -> list:
    found = []
    for record in RECORDS:
        evaluation = engine.evaluate(record, frozenset(), Context(now=NOW, policy=policy))
        if commit:
            engine.commit(evaluation)
        found += evaluation.findings
    return found


def test_a_finding_not_committed_is_raised_again_by_the_retry():
    engine = SequenceEngine(MemoryStore())
    [first] = feed(engine, commit=False)  # the delivery failed: nothing committed
    last = engine.evaluate(RECORDS[-1], frozenset(), Context(now=NOW))  # Lambda's retry of the last event
    assert [f.finding_id for f in last.findings] == [first.finding_id]
    engine.commit(last)
    assert engine.evaluate(RECORDS[-1], frozenset(), Context(now=NOW)).findings == []


def test_the_organisation_policy_applies_to_sequence_findings():
    sid = signin_console_brute_force.META.id
    [overridden] = feed(SequenceEngine(MemoryStore()), OrgPolicy(severity={sid: Severity.CRITICAL}))
    assert overridden.severity is Severity.CRITICAL and "SeverityOverride" in overridden.details
    entry = SuppressEntry(reason="pen test", owner="secops", expires=date(2099, 1, 1), resource="AWS::::Account:*")
    [suppressed] = feed(SequenceEngine(MemoryStore()), OrgPolicy(suppress={sid: (entry,)}))
    assert suppressed.suppression is not None and suppressed.suppression.reason == "pen test"


def test_a_sequence_that_raises_is_a_rule_failure_and_the_others_still_run():
    engine = SequenceEngine(MemoryStore())
    broken = engine.rules[0]

    def boom(key, steps, ctx):
        raise KeyError("judge broke")

    engine.rules = (replace(broken, judge=boom), *engine.rules[1:])
    engine._for.clear()
    evaluation = engine.evaluate(RECORDS[0], frozenset(), Context(now=NOW))
    assert [f.rule_id for f in evaluation.failures] == [broken.meta.id]
    assert "KeyError" in evaluation.failures[0].error


# -- found by an adversarial review of the sequences, each failing before its fix -------------------------------------

def test_a_brute_force_that_goes_on_stays_one_finding():
    """40 failures, one a minute: the earliest window moves on, but it is the same attack (it raised 25 Ids)."""
    records = [at(FAILED, T0 + timedelta(minutes=i), f"g-{i:02d}") for i in range(40)]
    from sequence_support import run_sequences
    findings = run_sequences(records, rule_id="signin_console_brute_force")
    assert len({f.finding_id for f in findings}) == 1 and findings[0].finding_id.endswith("/g-00")


def test_an_earlier_step_arriving_late_updates_the_same_finding():
    from sequence_support import run_sequences
    records = [at(FAILED, T0 + timedelta(minutes=i), f"h-{i:02d}") for i in range(11)]
    findings = run_sequences(records[1:] + records[:1], rule_id="signin_console_brute_force")
    assert len({f.finding_id for f in findings}) == 1


def test_a_time_without_a_zone_is_read_as_utc_not_a_crash():
    from sequence_support import run_sequences
    naive = [{**at(FAILED, T0 + timedelta(minutes=i), f"n-{i:02d}"),
              "eventTime": (T0 + timedelta(minutes=i)).strftime("%Y-%m-%dT%H:%M:%S")} for i in range(10)]
    aware = [at(FAILED, T0 + timedelta(minutes=i), f"n-{i:02d}") for i in range(10)]
    assert len(run_sequences(naive[:5] + aware[5:], rule_id="signin_console_brute_force")) == 1
