"""signin_console_brute_force: >= 10 failed console sign-ins from one address in 15 minutes (>= 5 for root), CRITICAL
when a success from that address follows; in order, out of order, duplicated, outside the window, interleaved keys,
the threshold exactly reached; and the sequence engine's own guarantees (one finding per completed sequence, a
deterministic Id from the key and the first step, every step linked)."""

from __future__ import annotations

import random
from datetime import datetime, timezone

import pytest
from asff_validator import assert_valid_asff
from identity_auditor.engine.sequences import MemoryStore, SequenceEngine
from identity_auditor.model.findings import finding_id, short_hash
from identity_auditor.model.policy import OrgPolicy
from identity_auditor.sequences import signin_console_brute_force as sequence
from identity_auditor.sinks.asff import to_asff
from identity_auditor.sinks.queue import alert_key
from sequence_support import NOW, at, minutes, run_sequences
from support import load_sample

ID = sequence.META.id
FAILED = load_sample("signin_console_login_unknown_user_failed")["detail"]  # a real failed sign-in (AWS docs)
SUCCESS = load_sample("signin_console_login_iam_user_without_mfa")["detail"]  # a real success (invictus)
ROOT_FAILED = load_sample("signin_console_login_root_failed")["detail"]
T0 = datetime(2026, 11, 21, 9, 0, tzinfo=timezone.utc)
ADDRESS = FAILED["sourceIPAddress"]
ACCOUNT = FAILED["recipientAccountId"]


def failures(count: int, *, start=T0, every=1.0, address=ADDRESS, base=FAILED, prefix="f") -> list[dict]:
    return [at(base, start + minutes(i * every), f"{prefix}-{i:02d}", sourceIPAddress=address) for i in range(count)]


def success(when, address=ADDRESS) -> dict:
    return at(SUCCESS, when, "s-01", sourceIPAddress=address, recipientAccountId=ACCOUNT,
              userIdentity={**SUCCESS["userIdentity"], "accountId": ACCOUNT})


def test_ten_failures_in_order_are_one_high_finding_linking_every_step():
    [finding] = run_sequences(failures(10), rule_id=ID)
    assert finding.severity.value == "HIGH"
    assert finding.finding_id == finding_id(ID, ACCOUNT, FAILED["awsRegion"], short_hash(f"{ACCOUNT}|{ADDRESS}"),
                                            "f-00")
    assert finding.sequence_steps == tuple(f"f-{i:02d}" for i in range(10))
    assert finding.details["Failures"] == "10" and finding.details["SourceIPAddress"] == ADDRESS
    assert f"10 failed console sign-ins to account {ACCOUNT} from {ADDRESS}" in finding.description
    assert_valid_asff(to_asff(finding, product_arn="arn:aws:securityhub:us-east-1:123456789012:product/"
                                                   "123456789012/default", updated_at=NOW))


def test_nine_failures_are_not_enough_and_the_threshold_is_exact():
    assert run_sequences(failures(9), rule_id=ID) == []
    assert len(run_sequences(failures(5), policy=OrgPolicy(sequence_thresholds={ID: 5}), rule_id=ID)) == 1


@pytest.mark.parametrize("seed", range(5))
def test_out_of_order_and_duplicated_steps_give_the_same_single_finding(seed):
    records = failures(10)
    shuffled = records + random.Random(seed).sample(records, 4)  # four redelivered
    random.Random(seed + 100).shuffle(shuffled)
    [expected] = run_sequences(records, rule_id=ID)
    [finding] = run_sequences(shuffled, rule_id=ID)
    assert finding.finding_id == expected.finding_id and set(finding.sequence_steps) == set(expected.sequence_steps)


def test_a_step_just_outside_the_window_does_not_count():
    spread = failures(9, every=1.5) + [at(FAILED, T0 + minutes(15) + minutes(0.05), "late")]  # 15 min + 3 s
    assert run_sequences(spread, rule_id=ID) == []
    inside = failures(9, every=1.5) + [at(FAILED, T0 + minutes(15), "edge")]
    assert len(run_sequences(inside, rule_id=ID)) == 1  # exactly at the window's end still counts


def test_interleaved_addresses_are_separate_keys():
    first = failures(6, address="203.0.113.7", prefix="a")
    second = failures(6, address="198.51.100.9", prefix="b")
    mixed = [record for pair in zip(first, second) for record in pair]
    assert run_sequences(mixed, rule_id=ID) == []
    more = mixed + failures(4, start=T0 + minutes(6), address="203.0.113.7", prefix="c")
    [finding] = run_sequences(more, rule_id=ID)
    assert finding.details["SourceIPAddress"] == "203.0.113.7"


def test_five_root_failures_are_enough():
    assert len(run_sequences(failures(5, base=ROOT_FAILED, prefix="r"), rule_id=ID)) == 1
    assert run_sequences(failures(4, base=ROOT_FAILED, prefix="r"), rule_id=ID) == []


def test_a_success_from_the_same_address_after_the_failures_raises_it_to_critical_once_more():
    engine = SequenceEngine(MemoryStore())
    first = run_sequences(failures(10), engine=engine, rule_id=ID)
    [escalated] = run_sequences([success(T0 + minutes(12))], engine=engine, rule_id=ID)
    assert [f.severity.value for f in first] == ["HIGH"] and escalated.severity.value == "CRITICAL"
    assert escalated.finding_id == first[0].finding_id  # the same finding, updated
    assert alert_key(escalated, "") != alert_key(first[0], "")  # and paged again: the guess worked
    assert "signed in from the same address" in escalated.description
    assert run_sequences([success(T0 + minutes(13))], engine=engine, rule_id=ID) == []  # raised once


def test_a_success_from_another_address_or_after_the_window_is_no_escalation():
    assert [f.severity.value for f in run_sequences(failures(10) + [success(T0 + minutes(12), "192.0.2.250")],
                                                    rule_id=ID)] == ["HIGH"]
    assert [f.severity.value for f in run_sequences(failures(10) + [success(T0 + minutes(40))], rule_id=ID)] == [
        "HIGH"]


def test_the_policy_can_disable_allow_and_widen_the_window():
    records = failures(10, every=3)  # 27 minutes: outside the default window
    assert run_sequences(records, rule_id=ID) == []
    assert len(run_sequences(records, policy=OrgPolicy(sequence_windows={ID: 30}), rule_id=ID)) == 1
    assert run_sequences(failures(10), policy=OrgPolicy(disabled=frozenset({ID})), rule_id=ID) == []


def test_the_store_keeps_each_step_once_and_bounds_a_key():
    store = MemoryStore(max_steps=20)
    run_sequences(failures(30) + failures(30), engine=SequenceEngine(store), rule_id=ID)
    [(_orders, _times, kept, _identities)] = store._steps.values()
    assert len(kept) == 20 and min(step.event_id for step in kept) == "f-10"  # the oldest went first


def test_a_success_counts_within_the_window_after_the_last_failure():
    """Found by an adversarial review: 10 failures 1.5 min apart (13.5 min) and a success 2 min after the last one
    stayed HIGH, because the success had to come within 15 minutes of the first failure."""
    severities = [f.severity.value for f in run_sequences(failures(10, every=1.5) + [success(T0 + minutes(15.5))],
                                                          rule_id=ID)]
    assert severities[-1] == "CRITICAL"
