"""signin_identity_center_login_without_mfa on AWS's real Identity Center sign-in samples (2023 shape) and on
the same samples in the 2025 shape (type IdentityCenterUser, onBehalfOf, additionalEventData.UserName)."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest
from asff_validator import assert_valid_asff
from identity_auditor.model.cloudtrail import CloudTrailRecord
from identity_auditor.model.findings import build_finding
from identity_auditor.rules import signin_identity_center_login_without_mfa as rule
from identity_auditor.sinks.asff import to_asff
from support import CORPUS, changed, load_sample, run_rule

NOW = datetime(2025, 3, 5, 12, 0, tzinfo=timezone.utc)
PRODUCT_ARN = "arn:aws:securityhub:us-east-1:123456789012:product/123456789012/default"


def _sample(number: int) -> dict:
    """understanding-sign-in-events__NN.json (by file: two samples share one eventID)."""
    path = CORPUS / "aws-docs" / "identity-center-2023" / f"understanding-sign-in-events__{number:02d}.json"
    return json.loads(path.read_text())


PASSWORD_ONLY, EXTERNAL_IDP, PASSWORD_TOTP, MFA_REGISTRATION = _sample(3), _sample(4), _sample(9), _sample(12)
PASSWORD_ONLY_2025 = load_sample("signin_identity_center_user_authentication_password_only_2025__constructed")["detail"]
PASSWORD_TOTP_2025 = load_sample("signin_identity_center_user_authentication_password_totp_2025__constructed")["detail"]
WRONG_NAME_2025 = load_sample("signin_identity_center_credential_challenge_wrong_user_name_2025__constructed")["detail"]
USER_ID = "544894e8-80c1-707f-60e3-3ba6510dfac1"
USER_ARN = f"arn:aws:identitystore:::user/{USER_ID}"


def _with_types(record: dict, value) -> dict:
    data = {**record["additionalEventData"], "CredentialType": value}
    if value is None:
        data.pop("CredentialType")
    return changed(record, additionalEventData=data)


def test_the_samples_are_what_the_index_says():
    assert [
        r["additionalEventData"]["CredentialType"] for r in (PASSWORD_ONLY, EXTERNAL_IDP, PASSWORD_TOTP)
    ] == ["PASSWORD", "EXTERNAL_IDP", "PASSWORD,TOTP"]
    assert MFA_REGISTRATION["additionalEventData"]["DeviceEnrollmentRequired"] == "true"
    assert {r["eventName"] for r in (PASSWORD_ONLY, EXTERNAL_IDP, PASSWORD_TOTP, MFA_REGISTRATION)} == {
        "UserAuthentication"
    }


def test_flags_password_only_sign_in_and_the_finding_is_valid_asff():
    violation = run_rule(rule, PASSWORD_ONLY)
    assert violation is not None
    assert violation.severity is None  # the rule's MEDIUM
    assert violation.resource_id == "user1"
    assert "user1" in violation.description and "PASSWORD" in violation.description
    assert violation.details["CredentialType"] == "PASSWORD"
    # LoginTo carries an auth code and a CSRF token: only its origin may reach the finding.
    assert violation.details["LoginTo"] == "https://d-1234567890.awsapps.com"
    record = CloudTrailRecord.model_validate(PASSWORD_ONLY)
    document = to_asff(build_finding(rule.META, violation, record), product_arn=PRODUCT_ARN, updated_at=NOW)
    assert_valid_asff(document)
    assert "auth_code" not in json.dumps(document)


@pytest.mark.parametrize(
    "record",
    [EXTERNAL_IDP, PASSWORD_TOTP, MFA_REGISTRATION],
    ids=["external-idp", "password-totp", "forced-mfa-registration"],
)
def test_ignores_mfa_and_federated_sign_ins(record):
    assert run_rule(rule, record) is None


@pytest.mark.parametrize(
    "value", ["PASSWORD,WEBAUTHN", "password, totp", "PASSWORD,RESYNC_TOTP", "SMARTCARD"]
)
def test_ignores_every_documented_second_factor_whatever_the_case(value):
    assert run_rule(rule, _with_types(PASSWORD_ONLY, value)) is None


def test_flags_an_unrecognised_credential_type_and_names_it():
    violation = run_rule(rule, _with_types(PASSWORD_ONLY, "PASSWORD,SMS"))
    assert violation is not None and "SMS" in violation.description


def test_ignores_a_record_without_credential_type():
    assert run_rule(rule, _with_types(PASSWORD_ONLY, None)) is None


def test_credential_checks_are_not_in_the_trigger():
    assert rule.META.trigger.event_names == frozenset({"UserAuthentication"})
    assert rule.META.trigger.detail_types == ("AWS Service Event via CloudTrail",)
    for number in (1, 2, 5, 6, 7, 8, 10, 11, 13, 14):  # CredentialChallenge / CredentialVerification
        event_name = _sample(number)["eventName"]
        assert not rule.META.trigger.matches("signin.amazonaws.com", event_name, "Unknown")


def test_ignores_failed_authentication():
    failed = changed(PASSWORD_ONLY, serviceEventDetails={"UserAuthentication": "Failure"})
    assert run_rule(rule, failed) is None
    # AWS's failed sign-in sample is a CredentialVerification with a Failure value, no errorCode.
    assert _sample(14)["serviceEventDetails"] == {"CredentialVerification": "Failure"}
    assert run_rule(rule, _sample(14)) is None


def test_flags_the_current_record_shape_with_identity_center_user_type():
    """Since July 2025: type IdentityCenterUser, no userName; the name is in additionalEventData."""
    assert PASSWORD_ONLY_2025["userIdentity"]["type"] == "IdentityCenterUser"
    assert "userName" not in PASSWORD_ONLY_2025["userIdentity"]
    violation = run_rule(rule, PASSWORD_ONLY_2025)
    assert violation is not None and violation.severity is None
    assert violation.resource_id == USER_ARN  # the user, whatever name they typed
    assert f"Identity Center user anyuser ({USER_ID})" in violation.description
    assert violation.details["UserName"] == "anyuser" and violation.details["UserId"] == USER_ID
    assert violation.details["IdentityStoreId"] == "d-9067230c03"
    record = CloudTrailRecord.model_validate(PASSWORD_ONLY_2025)
    finding = build_finding(rule.META, violation, record)
    assert finding.actor.name == finding.actor.person == "anyuser"
    document = to_asff(finding, product_arn=PRODUCT_ARN, updated_at=NOW)
    assert_valid_asff(document)
    assert document["Title"] == "Identity Center sign-in without MFA: anyuser"


def test_ignores_a_2025_sign_in_with_a_second_factor():
    assert PASSWORD_TOTP_2025["userIdentity"]["type"] == "IdentityCenterUser"
    assert run_rule(rule, PASSWORD_TOTP_2025) is None


def test_the_2025_credential_challenge_with_a_wrong_user_name_is_not_in_the_trigger():
    assert WRONG_NAME_2025["additionalEventData"]["UserName"] == "HIDDEN_DUE_TO_SECURITY_REASONS"
    assert not rule.META.trigger.matches("signin.amazonaws.com", WRONG_NAME_2025["eventName"], "Unknown")


@pytest.mark.parametrize("typed", ["HIDDEN_DUE_TO_SECURITY_REASONS", "Unknown", None])
def test_a_2025_sign_in_without_a_real_typed_name_is_named_by_the_user_id(typed):
    data = {**PASSWORD_ONLY_2025["additionalEventData"], "UserName": typed}
    if typed is None:
        data.pop("UserName")
    raw = changed(PASSWORD_ONLY_2025, additionalEventData=data)
    violation = run_rule(rule, raw)
    assert violation.resource_id == USER_ARN and "UserName" not in violation.details
    assert f"Identity Center user {USER_ID} signed in" in violation.description
    assert build_finding(rule.META, violation, CloudTrailRecord.model_validate(raw)).actor.name == USER_ID


def test_the_transitional_shape_names_the_user_and_keys_on_the_user_id():
    """October 2024 to July 2025: type Unknown with userName and principalId, plus onBehalfOf."""
    identity = {**PASSWORD_ONLY["userIdentity"], "onBehalfOf": PASSWORD_ONLY_2025["userIdentity"]["onBehalfOf"]}
    violation = run_rule(rule, changed(PASSWORD_ONLY, userIdentity=identity))
    assert violation.resource_id == USER_ARN
    assert f"Identity Center user user1 ({USER_ID})" in violation.description


def test_a_record_that_names_nobody_still_yields_a_finding():
    raw = changed(PASSWORD_ONLY_2025, userIdentity={"type": "IdentityCenterUser", "accountId": "111122223333"},
                  additionalEventData={"CredentialType": "PASSWORD"})
    violation = run_rule(rule, raw)
    assert violation.resource_id == "unknown user" and "(not named in the record)" in violation.description
