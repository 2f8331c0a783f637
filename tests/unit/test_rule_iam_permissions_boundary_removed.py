"""iam_permissions_boundary_removed: a user's or role's boundary removed is HIGH; never reserved or service-linked
roles, failed calls or Identity Center's own calls."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from identity_auditor.engine.events import Engine
from identity_auditor.engine.registry import Registry, Rule
from identity_auditor.model.cloudtrail import CloudTrailRecord
from identity_auditor.model.contract import Context
from identity_auditor.model.policy import OrgPolicy
from identity_auditor.rules import iam_permissions_boundary_removed as rule
from identity_auditor.rules import sso_reserved_role_modified
from support import changed, load_sample, rule_findings, run_rule

NOW = datetime(2026, 11, 22, tzinfo=timezone.utc)
# A real record (account masked "***" as published): an administrator in an Identity Center session removes the
# boundary of an application role from the console.
ROLE = load_sample("iam_delete_role_permissions_boundary")["detail"]
USER = load_sample("iam_delete_user_permissions_boundary__constructed")["detail"]
RESERVED = load_sample("iam_delete_role_permissions_boundary_reserved_role__constructed")["detail"]
SSO_SERVICE = load_sample("iam_put_role_policy_reserved_by_sso_service_role__constructed")["detail"]["userIdentity"]


def test_real_role_boundary_removal_is_high_on_the_role_with_the_account_as_recorded():
    violation = run_rule(rule, ROLE)
    assert violation.severity is None  # the rule's HIGH
    assert (violation.resource_id, violation.resource_type) == ("arn:aws:iam::***:role/App_test2", "AwsIamRole")
    assert violation.subject == "App_test2"
    assert violation.description == (
        "AWSReservedSSO_AdministratorAccess_33d40419b45cd0b4/michael.ullrich@nuvibit.com removed the permissions "
        "boundary of IAM role App_test2 in account ***: its own policies now apply without that cap.")
    assert violation.details["RemovedBoundary"].endswith("PutRolePermissionsBoundary or CreateRole for this principal")
    [finding] = rule_findings(rule, ROLE)
    assert (finding.severity.value, finding.account_id) == ("HIGH", "***")


def test_user_boundary_removal_is_high_on_the_user():
    violation = run_rule(rule, USER)
    assert violation.severity is None
    assert (violation.resource_id, violation.resource_type) == (
        "arn:aws:iam::123837392027:user/malicious-iam-user", "AwsIamUser")
    assert "bert-jan removed the permissions boundary of IAM user malicious-iam-user" in violation.description
    assert "PutUserPermissionsBoundary or CreateUser" in violation.details["RemovedBoundary"]
    rule_findings(rule, USER)


@pytest.mark.parametrize("record", [ROLE, USER], ids=lambda record: record["eventName"])
def test_failed_calls_are_not_findings(record):
    assert run_rule(rule, changed(record, errorCode="NoSuchEntity", errorMessage="The role cannot be found")) is None


def test_reserved_role_is_left_to_sso_reserved_role_modified():
    assert run_rule(rule, RESERVED) is None
    registry = Registry([Rule(m.META, m.evaluate) for m in (rule, sso_reserved_role_modified)])
    result = Engine(registry).evaluate(CloudTrailRecord.model_validate(RESERVED), Context(now=NOW))
    assert [(f.rule_id, f.severity.value) for f in result.findings] == [("sso_reserved_role_modified", "CRITICAL")]


def test_service_linked_roles_are_not_findings():
    assert run_rule(rule, changed(ROLE, requestParameters={"roleName": "AWSServiceRoleForECS"})) is None
    assert run_rule(rule, changed(ROLE, requestParameters={"roleName": "x", "path": "/aws-service-role/ecs/"})) is None
    # a user is never a service-linked role, whatever its name
    assert run_rule(rule, changed(USER, requestParameters={"userName": "AWSServiceRoleForECS"})) is not None


def test_identity_center_own_calls_are_not_findings():
    assert run_rule(rule, changed(ROLE, userIdentity=SSO_SERVICE)) is None


def test_missing_names_are_reported_on_the_account_without_raising():
    for record in (changed(ROLE, requestParameters=None), changed(USER, requestParameters={"userName": ""})):
        violation = run_rule(rule, record)
        assert violation.resource_type == "AwsAccount"
        assert "(the record does not name it)" in violation.description
        rule_findings(rule, record)


def test_allow_listed_automation_is_skipped_by_the_engine():
    assert len(rule_findings(rule, ROLE)) == 1
    policy = OrgPolicy(allow={rule.META.id: ("arn:aws:iam::*:role/aws-reserved/sso.amazonaws.com/*/"
                                            "AWSReservedSSO_AdministratorAccess_*",)})
    assert rule_findings(rule, ROLE, policy) == []
