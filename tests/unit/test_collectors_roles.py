"""Role snapshots from AWS Config configuration items and from the IAM API (stubbed)."""

from __future__ import annotations

import copy
import json
from datetime import datetime, timezone
from urllib.parse import quote

import boto3
import pytest
from botocore.stub import Stubber
from identity_auditor.collectors.roles import collect_role, collect_roles, role_from_configuration_item
from identity_auditor.model.snapshots import RoleSnapshot
from identity_auditor.rules._lib.trust import analyze_trust_policy

TRUST = {"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"Federated": "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"},
    "Action": "sts:AssumeRoleWithWebIdentity",
    "Condition": {"StringEquals": {"token.actions.githubusercontent.com:aud": "sts.amazonaws.com"},
                  "StringLike": {"token.actions.githubusercontent.com:sub": "repo:*"}}}]}
ENCODED = quote(json.dumps(TRUST, separators=(",", ":")), safe="")
# The configurationItem of a ConfigurationItemChangeNotification for an IAM role: the envelope as in
# the real Config events (corpus/config-events), the configuration fields as in the AWS Config resource
# schema for AWS::IAM::Role (awslabs/aws-config-resource-schema); assumeRolePolicyDocument is URL-encoded.
ITEM = {
    "relatedEvents": [],
    "relationships": [{"resourceId": "ANPAEXAMPLEPOLICY0001", "resourceName": "DeployPolicy",
                       "resourceType": "AWS::IAM::Policy", "name": "Is attached to CustomerManagedPolicy"}],
    "configuration": {
        "path": "/ci/",
        "roleName": "github-deploy",
        "roleId": "AROAEXAMPLEROLEID0001",
        "arn": "arn:aws:iam::123456789012:role/ci/github-deploy",
        "createDate": "2026-11-20T10:00:00.000Z",
        "assumeRolePolicyDocument": ENCODED,
        "instanceProfileList": [],
        "rolePolicyList": [],
        "attachedManagedPolicies": [{"policyArn": "arn:aws:iam::123456789012:policy/DeployPolicy",
                                     "policyName": "DeployPolicy"}],
        "permissionsBoundary": None,
        "tags": [],
        "roleLastUsed": None,
    },
    "supplementaryConfiguration": {},
    "tags": {},
    "configurationItemVersion": "1.3",
    "configurationItemCaptureTime": "2026-11-22T10:15:30.123Z",
    "configurationStateId": 1795389661123,
    "awsAccountId": "123456789012",
    "configurationItemStatus": "OK",
    "resourceType": "AWS::IAM::Role",
    "resourceId": "AROAEXAMPLEROLEID0001",
    "resourceName": "github-deploy",
    "ARN": "arn:aws:iam::123456789012:role/ci/github-deploy",
    "awsRegion": "global",
    "availabilityZone": "Not Applicable",
    "configurationStateMd5Hash": "",
    "resourceCreationTime": "2026-11-20T10:00:00.000Z",
}
EXPECTED = RoleSnapshot(name="github-deploy", arn="arn:aws:iam::123456789012:role/ci/github-deploy", path="/ci/",
                        role_id="AROAEXAMPLEROLEID0001", trust_policy=TRUST, account_id="123456789012")


def test_role_from_a_change_notification_item():
    role = role_from_configuration_item(ITEM)
    assert role == EXPECTED
    assert [p.code for p in analyze_trust_policy(role.trust_policy)] == ["web-identity-sub-wildcard"]


def test_role_from_a_config_history_item():
    """GetResourceConfigHistory / BatchGetResourceConfig: configuration is a JSON string, accountId, arn."""
    item = {key: value for key, value in ITEM.items() if key not in ("awsAccountId", "ARN")}
    item.update(accountId="123456789012", arn=ITEM["ARN"], configuration=json.dumps(ITEM["configuration"]))
    assert role_from_configuration_item(item) == EXPECTED


def test_plain_json_and_unreadable_trust_policies():
    item = copy.deepcopy(ITEM)
    item["configuration"]["assumeRolePolicyDocument"] = json.dumps(TRUST)
    assert role_from_configuration_item(item).trust_policy == TRUST
    item["configuration"]["assumeRolePolicyDocument"] = "%7Bnot json"
    assert role_from_configuration_item(item).trust_policy == "%7Bnot json"  # the rule reports it
    item["configuration"]["assumeRolePolicyDocument"] = None
    assert role_from_configuration_item(item).trust_policy is None


def test_deleted_and_foreign_items_are_refused():
    deleted = {**ITEM, "configurationItemStatus": "ResourceDeleted", "configuration": None}
    with pytest.raises(ValueError, match="'github-deploy' has no configuration \\(ResourceDeleted\\)"):
        role_from_configuration_item(deleted)
    with pytest.raises(ValueError, match="AWS::IAM::User, not an AWS::IAM::Role"):
        role_from_configuration_item({**ITEM, "resourceType": "AWS::IAM::User"})


@pytest.fixture
def iam():
    client = boto3.client("iam", region_name="us-east-1")
    with Stubber(client) as stubber:
        client.stubber = stubber
        yield client
        stubber.assert_no_pending_responses()


def api_role(name: str, document: str = ENCODED) -> dict:
    return {"Path": "/ci/", "RoleName": name, "RoleId": f"AROA{name.upper():0<17}"[:21],
            "Arn": f"arn:aws:iam::123456789012:role/ci/{name}",
            "CreateDate": datetime(2026, 11, 20, tzinfo=timezone.utc), "AssumeRolePolicyDocument": document,
            "MaxSessionDuration": 3600}


def test_collect_roles_pages_list_roles_without_per_role_calls(iam):
    iam.stubber.add_response("list_roles", {"Roles": [api_role("a")], "IsTruncated": True, "Marker": "next"},
                             {"MaxItems": 1000})
    iam.stubber.add_response("list_roles", {"Roles": [api_role("b"), api_role("c")], "IsTruncated": False},
                             {"MaxItems": 1000, "Marker": "next"})
    roles = collect_roles(iam)
    assert [role.name for role in roles] == ["a", "b", "c"]
    assert all(role.trust_policy == TRUST and role.account_id == "123456789012" for role in roles)


def test_collect_role_and_a_deleted_role(iam):
    iam.stubber.add_response("get_role", {"Role": api_role("github-deploy")}, {"RoleName": "github-deploy"})
    iam.stubber.add_client_error("get_role", service_error_code="NoSuchEntity", http_status_code=404,
                                 expected_params={"RoleName": "gone"})
    role = collect_role(iam, "github-deploy")
    assert role is not None and role.trust_policy == TRUST and role.path == "/ci/"
    assert collect_role(iam, "gone") is None
