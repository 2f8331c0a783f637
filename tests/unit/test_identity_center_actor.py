"""The actor of a finding names an Identity Center user in both record shapes (spec/rules.md §A, "Identity
Center records changed shape in 2025"): ``userIdentity.userName`` in older records; since July 2025 type
``IdentityCenterUser`` with only ``onBehalfOf.userId``, and the name typed at sign-in in
``additionalEventData.UserName`` (``HIDDEN_DUE_TO_SECURITY_REASONS`` when it was wrong)."""

from __future__ import annotations

import pytest
from identity_auditor.model.cloudtrail import CloudTrailRecord, named
from identity_auditor.model.contract import RuleMeta, Severity, Trigger, Violation
from identity_auditor.model.findings import build_finding
from identity_auditor.rules._lib import identity_center
from support import changed, load_sample

USER_ID = "544894e8-80c1-707f-60e3-3ba6510dfac1"
STORE_ARN = "arn:aws:identitystore::111122223333:identitystore/d-9067230c03"
SIGN_IN_2025 = load_sample("signin_identity_center_user_authentication_password_only_2025__constructed")["detail"]
SIGN_IN_2023 = load_sample("signin_identity_center_user_authentication_password_only")["detail"]
PORTAL_2025 = load_sample("sso_directory_delete_mfa_device_for_user_self_service__constructed")["detail"]
PORTAL_BEFORE = load_sample("sso_directory_delete_mfa_device_for_user_self_service_unknown_type__constructed")["detail"]
WRONG_NAME = load_sample("signin_identity_center_credential_challenge_wrong_user_name_2025__constructed")["detail"]
ADMIN = load_sample("sso_create_account_assignment_user__constructed")["detail"]
META = RuleMeta(
    id="test_rule", title="Test", severity=Severity.MEDIUM, trigger=Trigger("sso.amazonaws.com", ("X",)),
    resource_type="Other", finding_types=("TTPs/Persistence",), why="why", remediation="fix",
    remediation_url="https://docs.aws.amazon.com/", compliance=(),
)


def _actor(raw: dict):
    record = CloudTrailRecord.model_validate(raw)
    return build_finding(META, Violation(description="d", resource_id="r"), record).actor


def _extra(raw: dict, **fields) -> dict:
    return changed(raw, additionalEventData={**(raw.get("additionalEventData") or {}), **fields})


def test_the_samples_have_the_shapes_they_claim():
    assert SIGN_IN_2025["userIdentity"]["type"] == PORTAL_2025["userIdentity"]["type"] == "IdentityCenterUser"
    for raw in (SIGN_IN_2025, PORTAL_2025):
        assert "userName" not in raw["userIdentity"] and "principalId" not in raw["userIdentity"]
        assert raw["userIdentity"]["onBehalfOf"]["userId"] == USER_ID
    assert SIGN_IN_2023["userIdentity"]["type"] == PORTAL_BEFORE["userIdentity"]["type"] == "Unknown"
    assert WRONG_NAME["additionalEventData"]["UserName"] == "HIDDEN_DUE_TO_SECURITY_REASONS"


def test_a_2025_sign_in_is_named_by_the_user_name_typed_at_sign_in():
    actor = _actor(SIGN_IN_2025)
    assert (actor.type, actor.name, actor.person, actor.short_name()) == ("IdentityCenterUser", "anyuser",
                                                                           "anyuser", "anyuser")
    assert actor.arn is None and actor.role is None


def test_a_2025_record_without_a_typed_name_is_named_by_the_user_id():
    assert _actor(PORTAL_2025).name == USER_ID
    assert CloudTrailRecord.model_validate(PORTAL_2025).user_identity.display_name == USER_ID


@pytest.mark.parametrize("placeholder", ["HIDDEN_DUE_TO_SECURITY_REASONS", "Unknown", "", "  "])
def test_a_placeholder_typed_name_gives_way_to_the_user_id(placeholder):
    assert _actor(_extra(SIGN_IN_2025, UserName=placeholder)).name == USER_ID


def test_older_records_are_named_by_user_name_which_wins_over_the_typed_name():
    assert _actor(SIGN_IN_2023).name == "user1"
    assert _actor(_extra(SIGN_IN_2023, UserName="someone-else")).name == "user1"
    assert _actor(PORTAL_BEFORE).name == "anyuser"


def test_a_hidden_user_name_in_user_identity_gives_way_to_the_user_id():
    identity = {**PORTAL_BEFORE["userIdentity"], "userName": "HIDDEN_DUE_TO_SECURITY_REASONS"}
    assert _actor(changed(PORTAL_BEFORE, userIdentity=identity)).name == USER_ID


def test_an_unauthenticated_step_without_any_name_is_not_blank():
    actor = _actor(WRONG_NAME)
    assert actor.name == "Unknown" and actor.name.strip()  # the record names nobody: its identity type


def test_the_typed_name_is_read_only_for_identity_center_user_records():
    # A role session's actor stays the session, whatever additionalEventData says.
    assert _actor(_extra(ADMIN, UserName="someone")).name == (
        "AWSReservedSSO_AdministratorAccess_0123456789abcdef/jane@example.com"
    )


def test_a_role_session_with_an_on_behalf_of_user_stays_the_session_and_the_caller_details_name_the_user():
    identity = {**ADMIN["userIdentity"], "onBehalfOf": {"userId": USER_ID, "identityStoreArn": STORE_ARN}}
    raw = changed(ADMIN, userIdentity=identity)
    actor = _actor(raw)
    assert actor.person == "jane@example.com" and actor.role == "AWSReservedSSO_AdministratorAccess"
    record = CloudTrailRecord.model_validate(raw)
    assert identity_center.caller(record) == actor.name
    assert identity_center.caller_details(record) == {"CallerUserId": USER_ID, "CallerIdentityStoreArn": STORE_ARN}


def test_caller_and_record_caller_name_the_identity_center_user():
    record = CloudTrailRecord.model_validate(SIGN_IN_2025)
    assert identity_center.caller(record) == f"Identity Center user anyuser ({USER_ID})"
    assert record.caller == "anyuser"
    assert identity_center.caller(CloudTrailRecord.model_validate(PORTAL_2025)) == f"Identity Center user {USER_ID}"
    assert identity_center.identity_store_id(record) == "d-9067230c03"


def test_named():
    assert named("jane") == "jane"
    assert [named(v) for v in ("HIDDEN_DUE_TO_SECURITY_REASONS", "unknown", " ", None, 3)] == [None] * 5
