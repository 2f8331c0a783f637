"""signin_mfa_failure_after_password: >= 2 failed console sign-ins of one existing user whose records say MFA is in
use (IAM users, root), or an Identity Center password success followed by >= 2 failed second-factor checks, within
15 minutes; in order, out of order, duplicated, outside the window, interleaved users, the threshold, the policy
knobs, both Identity Center record shapes and sign-in steps that name no user."""

from __future__ import annotations

import json
import random
from datetime import datetime, timezone

import pytest
from asff_validator import assert_valid_asff
from identity_auditor.engine.sequences import MemoryStore, SequenceEngine
from identity_auditor.model.findings import finding_id, short_hash
from identity_auditor.model.policy import OrgPolicy
from identity_auditor.sequences import signin_mfa_failure_after_password as sequence
from identity_auditor.sinks.asff import to_asff
from sequence_support import NOW, at, minutes, run_sequences
from support import CORPUS, changed, load_sample

ID = sequence.META.id
PRODUCT_ARN = "arn:aws:securityhub:us-east-1:123456789012:product/123456789012/default"
T0 = datetime(2026, 11, 21, 9, 0, tzinfo=timezone.utc)

# AWS's documented failed sign-in of IAM user anaya (MFAUsed: Yes, "Failed authentication", no arn).
FAILED_MFA = load_sample("signin_console_login_iam_user_failed_with_mfa")["detail"]
ROOT_FAILED = load_sample("signin_console_login_root_failed")["detail"]  # MFAUsed: No
UNKNOWN_FAILED = load_sample("signin_console_login_unknown_user_failed")["detail"]  # HIDDEN_DUE_TO_SECURITY_REASONS
ACCOUNT = FAILED_MFA["recipientAccountId"]
ANAYA_ARN = f"arn:aws:iam::{ACCOUNT}:user/anaya"


def _doc(number: int) -> dict:
    path = CORPUS / "aws-docs" / "identity-center-2023" / f"understanding-sign-in-events__{number:02d}.json"
    return json.loads(path.read_text())


# AWS's password + TOTP sign-in of user1 (2023 shape): the password verification (06) and the TOTP one (08).
PASSWORD_OK, TOTP_OK, PASSWORD_FAILED = _doc(6), _doc(8), _doc(14)
TOTP_FAILED = changed(TOTP_OK, serviceEventDetails={"CredentialVerification": "Failure"})
# The 2025 shape's user identity (IdentityCenterUser, onBehalfOf) and an unauthenticated step's (Unknown, nothing).
USER_2025 = load_sample("signin_identity_center_user_authentication_password_totp_2025__constructed")["detail"]
IDENTITY_2025 = USER_2025["userIdentity"]
ANONYMOUS = load_sample("signin_identity_center_credential_challenge_wrong_user_name_2025__constructed")["detail"][
    "userIdentity"]
USER_ID = IDENTITY_2025["onBehalfOf"]["userId"]


def console_failures(count: int, *, start=T0, every=1.0, base=FAILED_MFA, prefix="f", **fields) -> list[dict]:
    return [at(base, start + minutes(i * every), f"{prefix}-{i:02d}", **fields) for i in range(count)]


def as_user(record: dict, name: str) -> dict:
    return changed(record, userIdentity={**record["userIdentity"], "userName": name})


def with_mfa(record: dict, value="Yes") -> dict:
    return changed(record, additionalEventData={**record["additionalEventData"], "MFAUsed": value})


def center(password_at=T0, failures=(1.0, 2.0), *, identity=None, prefix="c", flow=None) -> list[dict]:
    """A password success at ``password_at`` then failed TOTP checks ``failures`` minutes later."""
    def shaped(record: dict) -> dict:
        result = dict(record)
        if identity is not None:
            result["userIdentity"] = identity
        if flow is not None:
            result["additionalEventData"] = {**record["additionalEventData"], "AuthWorkflowID": flow}
        return result
    records = [at(shaped(PASSWORD_OK), password_at, f"{prefix}-pw")]
    records += [at(shaped(TOTP_FAILED), password_at + minutes(m), f"{prefix}-totp-{i}") for i, m in enumerate(failures)]
    return records


def assert_asff(finding) -> None:
    assert_valid_asff(to_asff(finding, product_arn=PRODUCT_ARN, updated_at=NOW))


# -- IAM users and root ------------------------------------------------------------------------------------------

def test_two_failures_with_mfa_in_use_are_one_high_finding_that_says_what_the_records_show():
    [finding] = run_sequences(console_failures(2), rule_id=ID)
    assert finding.severity.value == "HIGH"
    assert finding.resource_id == ANAYA_ARN and finding.resource_type == "AwsIamUser"
    assert finding.sequence_steps == ("f-00", "f-01")
    assert finding.finding_id == finding_id(ID, ACCOUNT, FAILED_MFA["awsRegion"],
                                            short_hash(f"iam|{ACCOUNT}|anaya"), "f-00")
    assert finding.description == (
        f"IAM user anaya of account {ACCOUNT} failed 2 console sign-ins within 1 minute from 192.0.2.0, each "
        f'recorded with MFA in use (MFAUsed: Yes, "Failed authentication"): either the password or the MFA code '
        f"was wrong, and CloudTrail does not say which.")
    assert finding.details["MFAUsed"] == "Yes" and finding.details["Failures"] == "2"
    assert_asff(finding)


def test_one_failure_is_not_enough_and_the_threshold_is_a_knob():
    assert run_sequences(console_failures(1), rule_id=ID) == []
    policy = OrgPolicy(sequence_thresholds={ID: 3})
    assert run_sequences(console_failures(2), policy=policy, rule_id=ID) == []
    [finding] = run_sequences(console_failures(3), policy=policy, rule_id=ID)
    assert finding.sequence_steps == ("f-00", "f-01", "f-02")


@pytest.mark.parametrize("seed", range(5))
def test_out_of_order_and_duplicated_failures_give_the_same_single_finding(seed):
    records = console_failures(2) + [at(FAILED_MFA, T0 + minutes(40), "other-burst")]
    shuffled = records + random.Random(seed).sample(records, 2)  # two redelivered
    random.Random(seed + 50).shuffle(shuffled)
    [expected] = run_sequences(records, rule_id=ID)
    [finding] = run_sequences(shuffled, rule_id=ID)
    assert finding.finding_id == expected.finding_id and finding.sequence_steps == ("f-00", "f-01")


def test_a_failure_just_outside_the_window_does_not_count_and_one_at_its_end_does():
    late = console_failures(1) + [at(FAILED_MFA, T0 + minutes(15) + minutes(0.05), "late")]
    assert run_sequences(late, rule_id=ID) == []
    [finding] = run_sequences(console_failures(1) + [at(FAILED_MFA, T0 + minutes(15), "edge")], rule_id=ID)
    assert finding.sequence_steps == ("f-00", "edge")
    assert "within 15 minutes" in finding.description


def test_interleaved_users_are_separate_keys_and_names_ignore_case():
    bert = as_user(FAILED_MFA, "bert")
    mixed = [at(FAILED_MFA, T0, "a-1"), at(bert, T0 + minutes(1), "b-1")]
    assert run_sequences(mixed, rule_id=ID) == []
    [finding] = run_sequences(mixed + [at(bert, T0 + minutes(2), "b-2")], rule_id=ID)
    assert finding.sequence_steps == ("b-1", "b-2") and "IAM user bert" in finding.description
    [same] = run_sequences([at(FAILED_MFA, T0, "a-1"), at(as_user(FAILED_MFA, "Anaya"), T0 + minutes(1), "a-2")],
                           rule_id=ID)
    assert same.sequence_steps == ("a-1", "a-2")


def test_failures_that_do_not_say_mfa_is_in_use_or_name_no_user_are_no_steps():
    assert run_sequences(console_failures(3, base=with_mfa(FAILED_MFA, "No")), rule_id=ID) == []
    # an unknown user name (CloudTrail hides it), even if the record said MFAUsed: Yes
    assert run_sequences(console_failures(3, base=with_mfa(UNKNOWN_FAILED)), rule_id=ID) == []
    successes = console_failures(3, base=changed(FAILED_MFA, responseElements={"ConsoleLogin": "Success"},
                                                 errorMessage=None))
    assert run_sequences(successes, rule_id=ID) == []


def test_root_failures_with_mfa_in_use_name_the_account():
    assert run_sequences(console_failures(2, base=ROOT_FAILED), rule_id=ID) == []  # AWS's sample: MFAUsed No
    [finding] = run_sequences(console_failures(2, base=with_mfa(ROOT_FAILED, "YES")), rule_id=ID)
    assert finding.resource_id == f"AWS::::Account:{ACCOUNT}" and finding.resource_type == "AwsAccount"
    assert finding.description.startswith(f"The root user of account {ACCOUNT} failed 2 console sign-ins")
    assert_asff(finding)


def test_the_policy_can_widen_the_window_and_disable_the_sequence():
    spread = console_failures(2, every=20)
    assert run_sequences(spread, rule_id=ID) == []
    assert len(run_sequences(spread, policy=OrgPolicy(sequence_windows={ID: 30}), rule_id=ID)) == 1
    assert run_sequences(console_failures(2), policy=OrgPolicy(disabled=frozenset({ID})), rule_id=ID) == []


def test_more_failures_later_in_the_same_window_do_not_raise_it_again():
    engine = SequenceEngine(MemoryStore())
    assert len(run_sequences(console_failures(2), engine=engine, rule_id=ID)) == 1
    assert run_sequences([at(FAILED_MFA, T0 + minutes(5), "f-more")], engine=engine, rule_id=ID) == []


# -- Identity Center -----------------------------------------------------------------------------------------------

def test_a_password_success_then_two_failed_totp_checks_is_one_finding_linking_all_three():
    [finding] = run_sequences(center(), rule_id=ID)
    assert finding.severity.value == "HIGH"
    assert finding.sequence_steps == ("c-pw", "c-totp-0", "c-totp-1")
    assert finding.resource_id == "user1" and finding.resource_type == "Other"  # 2023 shape: no user id
    assert finding.description == (
        "Identity Center user user1 passed the password check and then failed the second factor (TOTP) 2 times "
        "within 2 minutes from 203.0.113.0 (account 111122223333): whoever tried knows the password.")
    assert finding.details["AuthWorkflowIDs"] == PASSWORD_OK["additionalEventData"]["AuthWorkflowID"]
    assert_asff(finding)


def test_the_2025_shape_is_keyed_by_the_user_id():
    [finding] = run_sequences(center(identity=IDENTITY_2025), rule_id=ID)
    assert finding.resource_id == f"arn:aws:identitystore:::user/{USER_ID}"
    assert finding.details["UserId"] == USER_ID
    assert finding.finding_id == finding_id(ID, "111122223333", "us-east-1", short_hash(f"idc|{USER_ID}"), "c-pw")
    assert_asff(finding)


def test_failures_in_several_sign_ins_of_the_same_user_count_together():
    first = center(failures=(1.0,), prefix="a", flow="flow-a")
    second = center(T0 + minutes(3), failures=(1.0,), prefix="b", flow="flow-b")
    [finding] = run_sequences(first + second, rule_id=ID)
    assert finding.sequence_steps == ("a-pw", "a-totp-0", "b-totp-0")


def test_sign_in_steps_that_name_no_user_are_judged_within_their_sign_in_once():
    [finding] = run_sequences(center(identity=ANONYMOUS), rule_id=ID)
    assert finding.sequence_steps == ("c-pw", "c-totp-0", "c-totp-1")
    assert finding.description.startswith("An Identity Center user (not named in the records) passed the password")
    # the password step names the user, the failures do not: still one finding, under the sign-in
    records = center()
    records[1:] = [changed(record, userIdentity=ANONYMOUS) for record in records[1:]]
    [mixed] = run_sequences(records, rule_id=ID)
    assert mixed.sequence_steps == ("c-pw", "c-totp-0", "c-totp-1") and "user user1" in mixed.description


def test_identity_center_order_window_duplicates_and_threshold():
    assert run_sequences(center(failures=(1.0,)), rule_id=ID) == []  # one failure
    before = center(failures=(-2.0, -1.0))  # failures before the password success: not "after the password"
    assert run_sequences(before, rule_id=ID) == []
    assert run_sequences(center(failures=(1.0, 15.05)), rule_id=ID) == []  # just outside the window
    [edge] = run_sequences(center(failures=(1.0, 15.0)), rule_id=ID)
    assert edge.sequence_steps == ("c-pw", "c-totp-0", "c-totp-1")
    records = center(failures=(1.0, 2.0, 3.0))
    for seed in range(4):
        shuffled = records + random.Random(seed).sample(records, 2)
        random.Random(seed + 9).shuffle(shuffled)
        [finding] = run_sequences(shuffled, rule_id=ID)
        assert finding.sequence_steps[0] == "c-pw"
    assert run_sequences(records, policy=OrgPolicy(sequence_thresholds={ID: 4}), rule_id=ID) == []


def test_failed_passwords_and_successful_second_factors_are_no_mfa_failures():
    records = [at(PASSWORD_OK, T0, "pw"), at(TOTP_OK, T0 + minutes(1), "ok-1"), at(TOTP_OK, T0 + minutes(2), "ok-2"),
               at(PASSWORD_FAILED, T0 + minutes(3), "bad-1"), at(PASSWORD_FAILED, T0 + minutes(4), "bad-2")]
    assert run_sequences(records, rule_id=ID) == []


def test_interleaved_identity_center_users_are_separate():
    other = {**IDENTITY_2025, "onBehalfOf": {**IDENTITY_2025["onBehalfOf"], "userId": "94482488-3041-7026-18f0-"
                                                                                     "000000000002"}}
    one = center(identity=IDENTITY_2025, failures=(1.0,), prefix="u1", flow="f1")
    two = center(identity=other, failures=(1.5,), prefix="u2", flow="f2")
    assert run_sequences(one + two, rule_id=ID) == []


def test_the_triggers_name_the_exact_sources_names_and_detail_types():
    assert {(t.event_source, name, t.detail_types) for t in sequence.META.triggers for name in t.event_names} == {
        ("signin.amazonaws.com", "ConsoleLogin", ("AWS Console Sign In via CloudTrail",)),
        ("signin.amazonaws.com", "CredentialVerification", ("AWS Service Event via CloudTrail",)),
    }
