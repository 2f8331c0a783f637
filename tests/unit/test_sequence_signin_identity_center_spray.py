"""signin_identity_center_spray: >= 10 failed Identity Center password checks from one address across >= 3 users in
15 minutes (a failure naming no user counts once per AuthWorkflowID); in order, out of order, duplicated, outside
the window, interleaved addresses, the threshold, the policy knobs, both record shapes. Records: AWS's failed
password sign-in (CredentialVerification "Failure") with only the user, address, time and id changed."""

from __future__ import annotations

import json
import random
from datetime import datetime, timezone

import pytest
from asff_validator import assert_valid_asff
from identity_auditor.model.findings import finding_id, short_hash
from identity_auditor.model.policy import OrgPolicy
from identity_auditor.sequences import signin_identity_center_spray as sequence
from identity_auditor.sinks.asff import to_asff
from sequence_support import NOW, at, minutes, run_sequences
from support import CORPUS, changed, load_sample

ID = sequence.META.id
PRODUCT_ARN = "arn:aws:securityhub:us-east-1:123456789012:product/123456789012/default"
T0 = datetime(2026, 11, 21, 9, 0, tzinfo=timezone.utc)


def _doc(number: int) -> dict:
    path = CORPUS / "aws-docs" / "identity-center-2023" / f"understanding-sign-in-events__{number:02d}.json"
    return json.loads(path.read_text())


FAILED = load_sample("signin_identity_center_credential_verification_failed")["detail"]  # = AWS's sample 14
PASSWORD_OK, TOTP_OK = _doc(6), _doc(8)
ADDRESS, ACCOUNT = FAILED["sourceIPAddress"], FAILED["recipientAccountId"]
IDENTITY_2025 = load_sample("signin_identity_center_user_authentication_password_only_2025__constructed")["detail"][
    "userIdentity"]
ANONYMOUS = load_sample("signin_identity_center_credential_challenge_wrong_user_name_2025__constructed")["detail"][
    "userIdentity"]


def old_shape(user: str) -> dict:
    return changed(FAILED, userIdentity={**FAILED["userIdentity"], "userName": user})


def new_shape(user_id: str) -> dict:
    return changed(FAILED, userIdentity={**IDENTITY_2025, "onBehalfOf": {**IDENTITY_2025["onBehalfOf"],
                                                                         "userId": user_id}})


def hidden(flow: str) -> dict:
    return changed(FAILED, userIdentity=ANONYMOUS,
                   additionalEventData={**FAILED["additionalEventData"], "AuthWorkflowID": flow})


def spray(count: int, users=("alice", "bob", "carol"), *, start=T0, every=1.0, address=ADDRESS, prefix="s",
          shape=old_shape) -> list[dict]:
    return [at(shape(users[i % len(users)]), start + minutes(i * every), f"{prefix}-{i:02d}", sourceIPAddress=address)
            for i in range(count)]


def test_ten_failures_across_three_users_are_one_medium_finding_linking_every_step():
    [finding] = run_sequences(spray(10), rule_id=ID)
    assert finding.severity.value == "MEDIUM"
    assert finding.resource_id == f"AWS::::Account:{ACCOUNT}" and finding.resource_type == "AwsAccount"
    assert finding.sequence_steps == tuple(f"s-{i:02d}" for i in range(10))
    assert finding.finding_id == finding_id(ID, ACCOUNT, "us-east-1", short_hash(ADDRESS), "s-00")
    assert finding.description == (
        f"10 failed Identity Center password checks from {ADDRESS} against 3 users within 9 minutes in account "
        f"{ACCOUNT} (alice, bob, carol).")
    assert finding.details["DistinctUsers"] == "3" and finding.details["Failures"] == "10"
    assert_valid_asff(to_asff(finding, product_arn=PRODUCT_ARN, updated_at=NOW))


def test_the_thresholds_are_exact():
    assert run_sequences(spray(9), rule_id=ID) == []
    assert run_sequences(spray(12, users=("alice", "bob")), rule_id=ID) == []  # two users: guessing, not spraying
    policy = OrgPolicy(sequence_thresholds={ID: 5})
    assert len(run_sequences(spray(5), policy=policy, rule_id=ID)) == 1
    assert run_sequences(spray(4), policy=policy, rule_id=ID) == []


@pytest.mark.parametrize("seed", range(5))
def test_out_of_order_and_duplicated_steps_give_the_same_single_finding(seed):
    records = spray(10)
    shuffled = records + random.Random(seed).sample(records, 4)
    random.Random(seed + 100).shuffle(shuffled)
    [expected] = run_sequences(records, rule_id=ID)
    [finding] = run_sequences(shuffled, rule_id=ID)
    assert finding.finding_id == expected.finding_id and set(finding.sequence_steps) == set(expected.sequence_steps)


def test_a_failure_just_outside_the_window_does_not_count_and_one_at_its_end_does():
    spread = spray(9, every=1.5)
    assert run_sequences(spread + [at(old_shape("dave"), T0 + minutes(15.05), "late")], rule_id=ID) == []
    [finding] = run_sequences(spread + [at(old_shape("dave"), T0 + minutes(15), "edge")], rule_id=ID)
    assert finding.sequence_steps[-1] == "edge" and finding.details["DistinctUsers"] == "4"


def test_interleaved_addresses_are_separate_keys():
    first = spray(6, address="203.0.113.7", prefix="a")
    second = spray(6, address="198.51.100.9", prefix="b")
    mixed = [record for pair in zip(first, second) for record in pair]
    assert run_sequences(mixed, rule_id=ID) == []
    [finding] = run_sequences(mixed + spray(4, start=T0 + minutes(6), address="203.0.113.7", prefix="c"), rule_id=ID)
    assert finding.details["SourceIPAddress"] == "203.0.113.7"


def test_failures_naming_no_user_count_once_per_sign_in():
    distinct = [at(hidden(f"flow-{i}"), T0 + minutes(i), f"h-{i:02d}") for i in range(10)]
    [finding] = run_sequences(distinct, rule_id=ID)
    assert finding.details["DistinctUsers"] == "10" and finding.details["UnnamedUsers"] == "10"
    assert "10 sign-ins naming no user" in finding.description
    same = [at(hidden("flow-x"), T0 + minutes(i), f"h-{i:02d}") for i in range(8)]
    same += [at(old_shape("alice"), T0 + minutes(9), "n-1"), at(old_shape("bob"), T0 + minutes(10), "n-2")]
    [mixed] = run_sequences(same, rule_id=ID)  # 8 attempts in one sign-in = one user, + alice, bob = 3 users
    assert mixed.details["DistinctUsers"] == "3" and "alice, bob; 1 sign-in naming no user" in mixed.description
    assert run_sequences(same[:8] + [at(old_shape("alice"), T0 + minutes(9), "n-1"),
                                     at(old_shape("alice"), T0 + minutes(10), "n-3")], rule_id=ID) == []


def test_the_2025_shape_counts_users_by_their_id():
    ids = ("544894e8-80c1-707f-60e3-3ba6510dfac1", "94482488-3041-7026-18f0-000000000002",
           "94482488-3041-7026-18f0-000000000003")
    [finding] = run_sequences(spray(10, users=ids, shape=new_shape), rule_id=ID)
    assert finding.details["DistinctUsers"] == "3" and ids[0] in finding.details["UsersTried"]
    assert run_sequences(spray(10, users=ids[:2], shape=new_shape), rule_id=ID) == []


def test_second_factor_failures_and_successes_are_no_steps():
    totp_failed = changed(TOTP_OK, serviceEventDetails={"CredentialVerification": "Failure"})
    records = [at(changed(totp_failed, userIdentity={**totp_failed["userIdentity"], "userName": f"u{i % 3}"}),
                  T0 + minutes(i * 0.5), f"x-{i:02d}") for i in range(12)]
    records += [at(changed(PASSWORD_OK, userIdentity={**PASSWORD_OK["userIdentity"], "userName": f"u{i % 3}"}),
                   T0 + minutes(i * 0.5), f"ok-{i:02d}") for i in range(12)]
    assert run_sequences(records, rule_id=ID) == []
    no_address = [changed(record, sourceIPAddress=None) for record in spray(12)]
    assert run_sequences(no_address, rule_id=ID) == []  # no address: no key


def test_the_policy_can_widen_the_window_and_disable_the_sequence():
    records = spray(10, every=3)  # 27 minutes
    assert run_sequences(records, rule_id=ID) == []
    assert len(run_sequences(records, policy=OrgPolicy(sequence_windows={ID: 30}), rule_id=ID)) == 1
    assert run_sequences(spray(10), policy=OrgPolicy(disabled=frozenset({ID})), rule_id=ID) == []


def test_the_trigger_names_the_exact_source_name_and_detail_type():
    [trigger] = sequence.META.triggers
    assert (trigger.event_source, set(trigger.event_names), trigger.detail_types) == (
        "signin.amazonaws.com", {"CredentialVerification"}, ("AWS Service Event via CloudTrail",))
