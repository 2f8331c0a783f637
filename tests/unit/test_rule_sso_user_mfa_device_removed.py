"""sso_user_mfa_device_removed: HIGH when an admin removes a user's device, MEDIUM for self-service."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from asff_validator import assert_valid_asff
from identity_auditor.model.cloudtrail import CloudTrailRecord
from identity_auditor.model.contract import Severity
from identity_auditor.model.findings import build_finding
from identity_auditor.rules import sso_user_mfa_device_removed as rule
from identity_auditor.sinks.asff import to_asff
from support import changed, load_sample, run_rule

NOW = datetime(2025, 3, 5, 12, 0, tzinfo=timezone.utc)
PRODUCT_ARN = "arn:aws:securityhub:us-east-1:123456789012:product/123456789012/default"
BY_ADMIN = load_sample("sso_directory_delete_mfa_device_for_user_by_admin__constructed")["detail"]
SELF = load_sample("sso_directory_delete_mfa_device_for_user_self_service__constructed")["detail"]
FAILED = load_sample("sso_directory_delete_mfa_device_for_user_failed__constructed")["detail"]
SELF_BEFORE_2025 = load_sample("sso_directory_delete_mfa_device_for_user_self_service_unknown_type__constructed")[
    "detail"
]
SELF_FAILED_2025 = load_sample("sso_directory_delete_mfa_device_for_user_self_service_failed__constructed")["detail"]
USER_ID = "544894e8-80c1-707f-60e3-3ba6510dfac1"
OTHER_ID = "94e80458-9021-70ea-08fa-c3a10a1d8a92"


def _assert_asff(raw: dict, violation) -> None:
    finding = build_finding(rule.META, violation, CloudTrailRecord.model_validate(raw))
    assert_valid_asff(to_asff(finding, product_arn=PRODUCT_ARN, updated_at=NOW))


def test_administrator_removing_a_device_is_high():
    violation = run_rule(rule, BY_ADMIN)
    assert violation is not None and violation.severity is Severity.HIGH
    assert violation.details["RemovedBy"] == "administrator"
    assert "jane@example.com" in violation.description
    assert violation.resource_id == "d-9067230c03"  # no user id in the request: the identity store
    _assert_asff(BY_ADMIN, violation)


def test_portal_user_removing_their_own_device_is_medium_in_the_2025_shape():
    assert SELF["userIdentity"]["type"] == "IdentityCenterUser" and "userName" not in SELF["userIdentity"]
    violation = run_rule(rule, SELF)
    assert violation is not None and violation.severity is Severity.MEDIUM
    assert violation.details["RemovedBy"] == "self-service"
    # No user id in the request: the user removed their own device, so the user is the caller.
    assert violation.resource_id == f"arn:aws:identitystore:::user/{USER_ID}"
    assert violation.description.startswith(f"Identity Center user {USER_ID} removed one of their own MFA devices")
    assert violation.details["UserId"] == violation.details["CallerUserId"] == USER_ID
    finding = build_finding(rule.META, violation, CloudTrailRecord.model_validate(SELF))
    assert finding.actor.name == finding.actor.person == USER_ID
    _assert_asff(SELF, violation)


def test_portal_user_removing_their_own_device_is_medium_in_the_older_shape():
    assert SELF_BEFORE_2025["userIdentity"]["type"] == "Unknown"
    violation = run_rule(rule, SELF_BEFORE_2025)
    assert violation is not None and violation.severity is Severity.MEDIUM
    assert violation.description.startswith(f"Identity Center user anyuser ({USER_ID}) removed one of their own")
    assert violation.resource_id == f"arn:aws:identitystore:::user/{USER_ID}"
    assert build_finding(rule.META, violation, CloudTrailRecord.model_validate(SELF_BEFORE_2025)).actor.name == (
        "anyuser"
    )
    _assert_asff(SELF_BEFORE_2025, violation)


def test_older_portal_records_with_unknown_type_and_no_user_id_are_self_service():
    identity = {
        "type": "Unknown",
        "principalId": "111122223333",
        "accountId": "111122223333",
        "userName": "user1",
    }
    violation = run_rule(rule, changed(SELF, userIdentity=identity))
    assert violation.severity is Severity.MEDIUM
    assert violation.description.startswith("Identity Center user user1 removed one of their own")
    assert violation.resource_id == "d-9067230c03"  # no user id anywhere: the identity store


def test_portal_user_naming_their_own_user_id_is_self_service():
    raw = changed(SELF, requestParameters={"identityStoreId": "d-9067230c03", "userId": USER_ID})
    assert run_rule(rule, raw).severity is Severity.MEDIUM


@pytest.mark.parametrize("record", [SELF, SELF_BEFORE_2025], ids=["2025", "before-2025"])
def test_portal_user_removing_another_users_device_is_high(record):
    raw = changed(record, requestParameters={"identityStoreId": "d-9067230c03", "userId": OTHER_ID})
    violation = run_rule(rule, raw)
    assert violation.severity is Severity.HIGH
    assert violation.details["RemovedBy"] == "another Identity Center user"
    assert violation.resource_id == f"arn:aws:identitystore:::user/{OTHER_ID}"
    assert f"removed an MFA device of Identity Center user {OTHER_ID}" in violation.description
    assert violation.description.startswith("Identity Center user ")
    _assert_asff(raw, violation)


def test_ignores_a_failed_self_service_removal_in_the_2025_shape():
    assert SELF_FAILED_2025["userIdentity"]["type"] == "IdentityCenterUser"
    assert SELF_FAILED_2025["errorCode"] == "AccessDeniedException"
    assert run_rule(rule, SELF_FAILED_2025) is None


@pytest.mark.parametrize(
    "identity",
    [
        {
            "type": "IAMUser",
            "arn": "arn:aws:iam::111122223333:user/alice",
            "userName": "alice",
            "accountId": "111122223333",
        },
        {"type": "Root", "arn": "arn:aws:iam::111122223333:root", "accountId": "111122223333"},
    ],
)
def test_any_non_portal_caller_is_an_administrator(identity):
    assert run_rule(rule, changed(BY_ADMIN, userIdentity=identity)).severity is Severity.HIGH


@pytest.mark.parametrize(
    "request_parameters",
    [
        {"identityStoreId": "d-9067230c03", "userId": OTHER_ID},
        # Unpublished console API: wherever a userId sits in the request, it names the user.
        {"user": {"directoryId": "d-9067230c03", "userId": "94e80458-9021-70ea-08fa-c3a10a1d8a92"}},
    ],
)
def test_names_the_user_when_the_request_carries_a_user_id(request_parameters):
    violation = run_rule(rule, changed(BY_ADMIN, requestParameters=request_parameters))
    assert violation.resource_id == "arn:aws:identitystore:::user/94e80458-9021-70ea-08fa-c3a10a1d8a92"
    assert "94e80458-9021-70ea-08fa-c3a10a1d8a92" in violation.description


def test_tolerates_null_request_parameters():
    assert run_rule(rule, changed(BY_ADMIN, requestParameters=None)).resource_id == "unknown user"


def test_ignores_failed_removal():
    assert FAILED["errorCode"] == "AccessDeniedException"
    assert run_rule(rule, FAILED) is None
