"""mfa_removed_then_login_without_mfa: a user's MFA device removed (iam DeactivateMFADevice; Identity Center
DeleteMfaDeviceForUser in both record shapes), then within 24 hours that user signed in without MFA (ConsoleLogin
without MFA; UserAuthentication with one factor); in order, out of order, duplicated, outside the window, interleaved
users, policy knobs. Records are the real samples with only the user, account, time and id changed."""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta, timezone

import pytest
from asff_validator import assert_valid_asff
from identity_auditor.model.findings import finding_id, short_hash
from identity_auditor.model.policy import OrgPolicy
from identity_auditor.sequences import mfa_removed_then_login_without_mfa as sequence
from identity_auditor.sinks.asff import to_asff
from sequence_support import NOW, at, minutes, run_sequences
from support import CORPUS, changed, load_sample

ID = sequence.META.id
PRODUCT_ARN = "arn:aws:securityhub:us-east-1:123456789012:product/123456789012/default"
T0 = datetime(2026, 11, 21, 9, 0, tzinfo=timezone.utc)
HOURS = timedelta(hours=1)

# IAM: bert-jan deactivates another user's device (constructed on the invictus account); that account's real
# console login without MFA (invictus).
REMOVAL = load_sample("iam_deactivate_mfa_device_for_other_user__constructed")["detail"]
LOGIN = load_sample("signin_console_login_iam_user_without_mfa")["detail"]
LOGIN_WITH_MFA = load_sample("signin_console_login_iam_user_with_mfa")["detail"]
DELETE_VIRTUAL = load_sample("iam_delete_virtual_mfa_device__constructed")["detail"]
USER = LOGIN["userIdentity"]["userName"]
ACCOUNT = LOGIN["recipientAccountId"]
IAM_REMOVAL = changed(REMOVAL, requestParameters={"userName": USER,
                                                  "serialNumber": f"arn:aws:iam::{ACCOUNT}:mfa/{USER}"})
ROOT_REMOVAL = load_sample("iam_deactivate_mfa_device_root__constructed")["detail"]
ROOT_ACCOUNT = ROOT_REMOVAL["recipientAccountId"]
_ROOT_LOGIN = load_sample("signin_console_login_root_without_mfa")["detail"]
ROOT_LOGIN = changed(_ROOT_LOGIN, userIdentity={**_ROOT_LOGIN["userIdentity"], "accountId": ROOT_ACCOUNT,
                                                "arn": f"arn:aws:iam::{ROOT_ACCOUNT}:root"})


def _doc(number: int) -> dict:
    path = CORPUS / "aws-docs" / "identity-center-2023" / f"understanding-sign-in-events__{number:02d}.json"
    return json.loads(path.read_text())


# Identity Center, 2025 shape: the user removes their own device, then signs in with a password only.
SELF_REMOVAL = load_sample("sso_directory_delete_mfa_device_for_user_self_service__constructed")["detail"]
ADMIN_REMOVAL = load_sample("sso_directory_delete_mfa_device_for_user_by_admin__constructed")["detail"]
OLD_REMOVAL = load_sample("sso_directory_delete_mfa_device_for_user_self_service_unknown_type__constructed")["detail"]
PASSWORD_ONLY_2025 = load_sample("signin_identity_center_user_authentication_password_only_2025__constructed")["detail"]
PASSWORD_TOTP_2025 = load_sample("signin_identity_center_user_authentication_password_totp_2025__constructed")["detail"]
USER_ID = SELF_REMOVAL["userIdentity"]["onBehalfOf"]["userId"]
CENTER_ACCOUNT = SELF_REMOVAL["recipientAccountId"]
# The 2023 shape (AWS's samples: user1, type Unknown, no onBehalfOf): password only, external IdP, forced enrolment.
PASSWORD_ONLY, EXTERNAL_IDP, MFA_REGISTRATION = _doc(3), _doc(4), _doc(12)
OLD_USER_REMOVAL = changed(OLD_REMOVAL, userIdentity={key: value for key, value in OLD_REMOVAL["userIdentity"].items()
                                                      if key not in ("onBehalfOf", "credentialId")} | {
                                                          "userName": "user1"})


def pair(removal: dict, login: dict, *, after=2 * HOURS, prefix="") -> list[dict]:
    return [at(removal, T0, f"{prefix}removed"), at(login, T0 + after, f"{prefix}login")]


def assert_asff(finding) -> None:
    assert_valid_asff(to_asff(finding, product_arn=PRODUCT_ARN, updated_at=NOW))


# -- IAM ---------------------------------------------------------------------------------------------------------

def test_deactivation_then_a_console_login_without_mfa_is_one_critical_finding():
    [finding] = run_sequences(pair(IAM_REMOVAL, LOGIN), rule_id=ID)
    assert finding.severity.value == "CRITICAL"
    assert finding.sequence_steps == ("removed", "login")
    assert finding.resource_id == LOGIN["userIdentity"]["arn"] and finding.resource_type == "AwsIamUser"
    assert finding.finding_id == finding_id(ID, ACCOUNT, "us-east-1", short_hash(f"iam|{ACCOUNT}|{USER}"), "removed")
    assert finding.description == (
        f"bert-jan deactivated the MFA device of IAM user {USER} in account {ACCOUNT}, and 2 h 00 min later {USER} "
        f"signed in to the console without MFA from {LOGIN['sourceIPAddress']}.")
    assert finding.details["RemovedBy"] == "bert-jan" and finding.details["MinutesBetween"] == "120"
    assert_asff(finding)


@pytest.mark.parametrize("seed", range(4))
def test_out_of_order_and_duplicated_steps_give_the_same_single_finding(seed):
    records = pair(IAM_REMOVAL, LOGIN) + [at(LOGIN, T0 + 3 * HOURS, "login-2")]
    shuffled = records + random.Random(seed).sample(records, 2)
    random.Random(seed + 7).shuffle(shuffled)
    findings = run_sequences(shuffled, rule_id=ID)
    assert len(findings) == 1 and findings[0].sequence_steps[0] == "removed"
    assert findings[0].finding_id == run_sequences(records, rule_id=ID)[0].finding_id


def test_the_login_must_follow_the_removal_within_the_window():
    assert run_sequences([at(LOGIN, T0, "login"), at(IAM_REMOVAL, T0 + minutes(1), "removed")], rule_id=ID) == []
    assert run_sequences(pair(IAM_REMOVAL, LOGIN, after=24 * HOURS + minutes(1)), rule_id=ID) == []
    [edge] = run_sequences(pair(IAM_REMOVAL, LOGIN, after=24 * HOURS), rule_id=ID)
    assert edge.sequence_steps == ("removed", "login") and "24 h 00 min later" in edge.description
    [same_second] = run_sequences(pair(IAM_REMOVAL, LOGIN, after=timedelta(0)), rule_id=ID)
    assert "0 minutes later" in same_second.description


def test_a_login_with_mfa_or_of_another_user_or_a_device_deletion_are_no_sequence():
    with_mfa = changed(LOGIN_WITH_MFA, recipientAccountId=ACCOUNT,
                       userIdentity={**LOGIN_WITH_MFA["userIdentity"], "userName": USER, "accountId": ACCOUNT})
    assert run_sequences(pair(IAM_REMOVAL, with_mfa), rule_id=ID) == []
    assert run_sequences(pair(REMOVAL, LOGIN), rule_id=ID) == []  # the device of stratus-red-team-login-profile-user
    assert run_sequences(pair(DELETE_VIRTUAL, LOGIN), rule_id=ID) == []  # names no user
    failed = changed(IAM_REMOVAL, errorCode="AccessDenied", errorMessage="not authorized")
    assert run_sequences(pair(failed, LOGIN), rule_id=ID) == []


def test_interleaved_users_are_separate_keys_and_names_ignore_case():
    other = changed(IAM_REMOVAL, requestParameters={**IAM_REMOVAL["requestParameters"], "userName": "someone-else"})
    assert run_sequences([at(other, T0, "r-other"), at(LOGIN, T0 + HOURS, "login")], rule_id=ID) == []
    upper = changed(IAM_REMOVAL, requestParameters={**IAM_REMOVAL["requestParameters"], "userName": USER.upper()})
    records = [at(other, T0, "r-other"), at(upper, T0 + minutes(5), "r-user"), at(LOGIN, T0 + HOURS, "login")]
    [finding] = run_sequences(records, rule_id=ID)
    assert finding.sequence_steps == ("r-user", "login")


def test_root_device_removal_then_root_login_without_mfa():
    [finding] = run_sequences(pair(ROOT_REMOVAL, ROOT_LOGIN), rule_id=ID)
    assert finding.resource_id == f"AWS::::Account:{ROOT_ACCOUNT}" and finding.resource_type == "AwsAccount"
    assert finding.description == (
        f"root deactivated the root user's MFA device in account {ROOT_ACCOUNT}, and 2 h 00 min later root signed "
        f"in to the console without MFA from {ROOT_LOGIN['sourceIPAddress']}.")
    assert_asff(finding)


def test_the_policy_can_narrow_the_window_and_disable_the_sequence():
    assert run_sequences(pair(IAM_REMOVAL, LOGIN), policy=OrgPolicy(sequence_windows={ID: 60}), rule_id=ID) == []
    assert len(run_sequences(pair(IAM_REMOVAL, LOGIN, after=minutes(60)),
                             policy=OrgPolicy(sequence_windows={ID: 60}), rule_id=ID)) == 1
    assert run_sequences(pair(IAM_REMOVAL, LOGIN), policy=OrgPolicy(disabled=frozenset({ID})), rule_id=ID) == []


# -- Identity Center -----------------------------------------------------------------------------------------------

def test_self_service_removal_then_a_password_only_sign_in_2025_shape():
    [finding] = run_sequences(pair(SELF_REMOVAL, PASSWORD_ONLY_2025), rule_id=ID)
    assert finding.severity.value == "CRITICAL"
    assert finding.resource_id == f"arn:aws:identitystore:::user/{USER_ID}" and finding.resource_type == "Other"
    assert finding.finding_id == finding_id(ID, CENTER_ACCOUNT, "us-east-1", short_hash(f"idc|{USER_ID}"),
                                            "removed")
    assert finding.description == (
        f"Identity Center user anyuser ({USER_ID}) removed one of their own MFA devices in account "
        f"{CENTER_ACCOUNT}, and 2 h 00 min later signed in with PASSWORD only from 203.0.113.0, without a "
        f"second factor.")
    assert finding.details["UserId"] == USER_ID and finding.details["CredentialType"] == "PASSWORD"
    assert_asff(finding)


def test_the_older_unknown_shape_with_a_user_id_meets_the_2025_sign_in():
    [finding] = run_sequences(pair(OLD_REMOVAL, PASSWORD_ONLY_2025), rule_id=ID)
    assert finding.sequence_steps == ("removed", "login")


def test_records_without_a_user_id_are_keyed_by_the_user_name():
    [finding] = run_sequences(pair(OLD_USER_REMOVAL, PASSWORD_ONLY), rule_id=ID)
    assert finding.resource_id == "user1"
    assert finding.finding_id == finding_id(ID, CENTER_ACCOUNT, "us-east-1",
                                            short_hash(f"idc|{CENTER_ACCOUNT}|user1"), "removed")
    assert_asff(finding)


def test_a_sign_in_that_had_to_register_a_new_device_counts_and_says_so():
    [finding] = run_sequences(pair(OLD_USER_REMOVAL, MFA_REGISTRATION), rule_id=ID)
    assert finding.description.endswith("registering a new MFA device during that sign-in.")
    assert finding.details["DeviceEnrollmentRequired"] == "true"


def test_an_administrator_removal_counts_when_the_request_names_the_user():
    assert run_sequences(pair(ADMIN_REMOVAL, PASSWORD_ONLY_2025), rule_id=ID) == []  # whose device: not said
    named = changed(ADMIN_REMOVAL, requestParameters={**ADMIN_REMOVAL["requestParameters"], "userId": USER_ID})
    [finding] = run_sequences(pair(named, PASSWORD_ONLY_2025), rule_id=ID)
    assert ("had an MFA device removed by AWSReservedSSO_AdministratorAccess_0123456789abcdef/jane@example.com"
            in finding.description)
    assert_asff(finding)


def test_sign_ins_with_a_second_factor_or_an_external_idp_are_no_sequence():
    assert run_sequences(pair(SELF_REMOVAL, PASSWORD_TOTP_2025), rule_id=ID) == []
    assert run_sequences(pair(OLD_USER_REMOVAL, EXTERNAL_IDP), rule_id=ID) == []
    other_user = changed(PASSWORD_ONLY_2025, userIdentity={
        **PASSWORD_ONLY_2025["userIdentity"],
        "onBehalfOf": {**PASSWORD_ONLY_2025["userIdentity"]["onBehalfOf"], "userId": "94482488-3041-7026-18f0-"
                                                                                     "000000000002"}})
    assert run_sequences(pair(SELF_REMOVAL, other_user), rule_id=ID) == []


@pytest.mark.parametrize("seed", range(4))
def test_identity_center_out_of_order_duplicated_and_window(seed):
    records = pair(SELF_REMOVAL, PASSWORD_ONLY_2025) + [at(PASSWORD_ONLY_2025, T0 + 5 * HOURS, "login-2")]
    shuffled = records + random.Random(seed).sample(records, 2)
    random.Random(seed + 3).shuffle(shuffled)
    [finding] = run_sequences(shuffled, rule_id=ID)
    assert finding.sequence_steps[0] == "removed"
    assert run_sequences(pair(SELF_REMOVAL, PASSWORD_ONLY_2025, after=24 * HOURS + minutes(1)), rule_id=ID) == []
    assert len(run_sequences(pair(SELF_REMOVAL, PASSWORD_ONLY_2025, after=24 * HOURS), rule_id=ID)) == 1


def test_the_triggers_name_the_exact_sources_names_and_detail_types():
    assert {(t.event_source, name, t.detail_types) for t in sequence.META.triggers for name in t.event_names} == {
        ("iam.amazonaws.com", "DeactivateMFADevice", ("AWS API Call via CloudTrail",)),
        ("signin.amazonaws.com", "ConsoleLogin", ("AWS Console Sign In via CloudTrail",)),
        ("sso-directory.amazonaws.com", "DeleteMfaDeviceForUser", ("AWS API Call via CloudTrail",)),
        ("signin.amazonaws.com", "UserAuthentication", ("AWS Service Event via CloudTrail",)),
    }
