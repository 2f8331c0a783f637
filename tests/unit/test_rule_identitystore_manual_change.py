"""identitystore_manual_change: hand-made identity store writes when an external IdP provisions via SCIM."""

from __future__ import annotations

import copy
from datetime import datetime, timezone

import pytest
from asff_validator import assert_valid_asff
from identity_auditor.model.cloudtrail import CloudTrailRecord
from identity_auditor.model.contract import Context
from identity_auditor.model.findings import build_finding
from identity_auditor.model.policy import OrgPolicy
from identity_auditor.rules import identitystore_manual_change as rule
from identity_auditor.sinks.asff import to_asff
from support import changed, load_sample, rule_findings

NOW = datetime(2025, 3, 5, 12, 0, tzinfo=timezone.utc)
PRODUCT_ARN = "arn:aws:securityhub:us-east-1:123456789012:product/123456789012/default"
SCIM = OrgPolicy(external_idp_scim=True)
API_CREATE_USER = load_sample("identitystore_create_user__constructed")["detail"]
CONSOLE_ADD_MEMBER = load_sample("sso_directory_add_member_to_group__constructed")["detail"]
# The documented SCIM CreateUser record (IAM Identity Center user guide, "Logging IAM Identity Center SCIM
# API calls with AWS CloudTrail"), its "xxxx" placeholders filled in.
SCIM_CREATE_USER = {
    "eventVersion": "1.10",
    "userIdentity": {"type": "WebIdentityUser", "accountId": "123456789012", "accessKeyId": "xxxx"},
    "eventTime": "2024-10-10T13:23:45Z",
    "eventSource": "identitystore-scim.amazonaws.com",
    "eventName": "CreateUser",
    "awsRegion": "us-east-1",
    "sourceIPAddress": "198.51.100.7",
    "userAgent": "Go-http-client/2.0",
    "requestParameters": {
        "httpBody": {
            "displayName": "HIDDEN_DUE_TO_SECURITY_REASONS",
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "active": True,
            "userName": "HIDDEN_DUE_TO_SECURITY_REASONS",
        },
        "tenantId": "xxxx",
    },
    "responseElements": {"id": "c4488478-a0e1-700e-3d75-96c6bb641596", "active": True},
    "requestID": "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0",
    "eventID": "1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d",
    "readOnly": False,
    "eventType": "AwsApiCall",
    "managementEvent": True,
    "recipientAccountId": "123456789012",
    "eventCategory": "Management",
}


def _evaluate(raw: dict, policy: OrgPolicy = SCIM):
    return rule.evaluate(CloudTrailRecord.model_validate(raw), Context(now=NOW, policy=policy))


def _assert_asff(raw: dict, violation) -> None:
    finding = build_finding(rule.META, violation, CloudTrailRecord.model_validate(raw))
    assert_valid_asff(to_asff(finding, product_arn=PRODUCT_ARN, updated_at=NOW))


def test_flags_a_user_created_through_the_identity_store_api():
    violation = _evaluate(API_CREATE_USER)
    assert violation is not None and violation.severity is None  # the rule's MEDIUM
    assert violation.resource_id == "arn:aws:identitystore:::user/c4488478-a0e1-700e-3d75-96c6bb641596"
    assert "jane@example.com" in violation.description and "d-9067230c03" in violation.description
    _assert_asff(API_CREATE_USER, violation)


def test_flags_a_group_membership_added_in_the_console():
    assert rule.ALSO.matches("sso-directory.amazonaws.com", "AddMemberToGroup", "AssumedRole")
    violation = _evaluate(CONSOLE_ADD_MEMBER)
    assert violation is not None
    assert violation.resource_id == "arn:aws:identitystore:::group/34887428-4081-7042-c3c6-928d413009e7"
    _assert_asff(CONSOLE_ADD_MEMBER, violation)


def test_nothing_fires_when_the_policy_says_no_scim():
    assert OrgPolicy().external_idp_scim is False
    assert _evaluate(API_CREATE_USER, OrgPolicy()) is None
    assert _evaluate(CONSOLE_ADD_MEMBER, OrgPolicy()) is None


def test_ignores_scim_writes():
    assert not rule.META.trigger.matches("identitystore-scim.amazonaws.com", "CreateUser", "WebIdentityUser")
    assert _evaluate(SCIM_CREATE_USER) is None
    # a SCIM caller showing up under another event source is still SCIM
    assert (
        _evaluate(changed(API_CREATE_USER, userIdentity=copy.deepcopy(SCIM_CREATE_USER["userIdentity"])))
        is None
    )


def test_ignores_failed_writes():
    failed = changed(
        API_CREATE_USER,
        errorCode="ConflictException",
        errorMessage="Duplicate UserName",
        responseElements=None,
    )
    assert _evaluate(failed) is None


def test_ignores_allow_listed_sync_role():
    sync = {
        "type": "AssumedRole",
        "arn": "arn:aws:sts::111122223333:assumed-role/idp-sync/lambda",
        "accountId": "111122223333",
        "sessionContext": {
            "sessionIssuer": {
                "type": "Role",
                "arn": "arn:aws:iam::111122223333:role/idp-sync",
                "userName": "idp-sync",
            }
        },
    }
    raw = changed(API_CREATE_USER, userIdentity=sync)
    policy = OrgPolicy(
        external_idp_scim=True, allow={rule.META.id: ("arn:aws:iam::111122223333:role/idp-sync",)}
    )
    assert not rule_findings(rule, raw, policy)
    assert rule_findings(rule, raw, SCIM)


@pytest.mark.parametrize(
    ("source", "name"),
    [
        *[("identitystore.amazonaws.com", name) for name in sorted(rule.META.trigger.event_names)],
        *[("sso-directory.amazonaws.com", name) for name in sorted(rule.ALSO.event_names)],
    ],
)
def test_every_watched_write_is_flagged(source, name):
    assert _evaluate(changed(API_CREATE_USER, eventSource=source, eventName=name)) is not None


def test_membership_deletion_names_the_membership():
    raw = changed(
        API_CREATE_USER,
        eventName="DeleteGroupMembership",
        responseElements=None,
        requestParameters={"identityStoreId": "d-9067230c03", "membershipId": "m-0123"},
    )
    assert _evaluate(raw).resource_id == "arn:aws:identitystore:::membership/m-0123"


# -- both record shapes (spec/rules.md §A, "Identity Center records changed shape in 2025") ------------------
CREATE_GROUP_2025 = load_sample("identitystore_create_group_display_name_hidden__constructed")["detail"]
UPDATE_GROUP_FAILED_2025 = load_sample("identitystore_update_group_failed__constructed")["detail"]
GROUP_ID = "11a1a111-1111-1010-aaa1-01111a1111a0"
USER_ID = "544894e8-80c1-707f-60e3-3ba6510dfac1"


def test_flags_a_group_created_with_its_display_name_hidden_and_names_it_by_id():
    assert CREATE_GROUP_2025["requestParameters"]["displayName"] == "HIDDEN_DUE_TO_SECURITY_REASONS"
    violation = _evaluate(CREATE_GROUP_2025)
    assert violation is not None
    assert violation.resource_id == f"arn:aws:identitystore:::group/{GROUP_ID}"
    assert violation.details["GroupId"] == GROUP_ID and "GroupDisplayName" not in violation.details
    assert "HIDDEN" not in violation.description
    assert violation.description.startswith("AWSReservedSSO_AdministratorAccess_0123456789abcdef/jane@example.com ")
    _assert_asff(CREATE_GROUP_2025, violation)
    assert _evaluate(CREATE_GROUP_2025, OrgPolicy()) is None  # the default policy: no SCIM, no finding


@pytest.mark.parametrize("where", ["request", "response", "nested response"])
def test_older_records_name_the_group_by_its_display_name(where):
    request = {**CREATE_GROUP_2025["requestParameters"]}
    response = {**CREATE_GROUP_2025["responseElements"]}
    if where == "request":
        request["displayName"] = "PowerUserGroup"
    elif where == "response":
        response["displayName"] = "PowerUserGroup"
    else:  # the blog's console record: {"group": {"groupId": ..., "displayName": ...}}
        response = {"group": {"groupId": GROUP_ID, "displayName": "PowerUserGroup"}}
    violation = _evaluate(changed(CREATE_GROUP_2025, requestParameters=request, responseElements=response))
    assert violation.details["GroupDisplayName"] == "PowerUserGroup"
    assert violation.resource_id == f"arn:aws:identitystore:::group/{GROUP_ID}"


def test_ignores_a_failed_2025_group_update():
    assert UPDATE_GROUP_FAILED_2025["errorCode"] == "AccessDeniedException"
    assert _evaluate(UPDATE_GROUP_FAILED_2025) is None
    update = changed(UPDATE_GROUP_FAILED_2025, errorCode=None, errorMessage=None)
    assert _evaluate(update).resource_id == f"arn:aws:identitystore:::group/{GROUP_ID}"


def test_an_identity_center_user_caller_is_named_by_user_id_and_is_not_scim():
    identity = load_sample("sso_directory_delete_mfa_device_for_user_self_service__constructed")["detail"][
        "userIdentity"
    ]
    raw = changed(CREATE_GROUP_2025, userIdentity=identity)
    violation = _evaluate(raw)
    assert violation is not None
    assert violation.description.startswith(f"Identity Center user {USER_ID} created a group")
    assert violation.details["CallerUserId"] == USER_ID
    finding = build_finding(rule.META, violation, CloudTrailRecord.model_validate(raw))
    assert finding.actor.name == USER_ID
    _assert_asff(raw, violation)
