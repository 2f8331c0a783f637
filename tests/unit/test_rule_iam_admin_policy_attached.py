"""iam_admin_policy_attached: privileged managed policies attached, admin inline policies, new default versions;
CRITICAL for IAM users, MEDIUM for SetDefaultPolicyVersion; never reserved or service-linked roles."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from urllib.parse import quote

import pytest
from identity_auditor.engine.events import Engine
from identity_auditor.engine.registry import Registry, Rule
from identity_auditor.model.cloudtrail import CloudTrailRecord
from identity_auditor.model.contract import Context, Severity
from identity_auditor.model.policy import OrgPolicy
from identity_auditor.rules import iam_admin_policy_attached as rule
from identity_auditor.rules import sso_reserved_role_modified
from support import changed, corpus_record, load_sample, rule_findings, run_rule

NOW = datetime(2026, 11, 22, tzinfo=timezone.utc)
ACCOUNT = "123837392027"
ADMIN = "arn:aws:iam::aws:policy/AdministratorAccess"
# The real invictus records: bert-jan gives AdministratorAccess to a new user and to a backdoor role.
ATTACH_USER = corpus_record("invictus", "AttachUserPolicy", eventID="f4923a37-92d5-4dfd-9786-6caef2b5f33c")
ATTACH_ROLE = corpus_record("invictus", "AttachRolePolicy", eventID="493e08b7-63e4-49a4-832a-1a7598ce78e5")
SSM_ROLE = corpus_record("invictus", "AttachRolePolicy")  # AmazonSSMManagedInstanceCore on an EC2 role
PUT_ROLE = corpus_record("invictus", "PutRolePolicy")  # a real inline policy: ec2:Describe* on *
GROUP_INLINE = load_sample("iam_put_group_policy_admin_inline__constructed")["detail"]
NEW_VERSION = load_sample("iam_create_policy_version_admin_default__constructed")["detail"]
SET_DEFAULT = load_sample("iam_set_default_policy_version__constructed")["detail"]
RESERVED_BY_SSO_USER = load_sample("iam_attach_role_policy_reserved_role_by_sso_user__constructed")["detail"]
POLICY = f"arn:aws:iam::{ACCOUNT}:policy/stratus-red-team-ec2lui-policy-pcccexdthk"
ADMIN_DOC = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
SSO_SERVICE = load_sample("iam_put_role_policy_reserved_by_sso_service_role__constructed")["detail"]["userIdentity"]


def _evaluate(raw: dict, policy: OrgPolicy | None = None):
    return rule.evaluate(CloudTrailRecord.model_validate(raw), Context(now=NOW, policy=policy or OrgPolicy()))


def _put(event_name: str, name_key: str, name: str, document, **more) -> dict:
    parameters = {name_key: name, "policyName": "backdoor", "policyDocument": document, **more}
    return changed(PUT_ROLE, eventName=event_name, requestParameters=parameters)


def _attach(event_name: str, name_key: str, name: str, policy_arn: str = ADMIN) -> dict:
    return changed(ATTACH_USER, eventName=event_name, requestParameters={name_key: name, "policyArn": policy_arn})


# -- attached managed policies ----------------------------------------------------------------------------------


def test_real_administrator_access_on_an_iam_user_is_critical_and_names_principal_policy_and_why():
    violation = run_rule(rule, ATTACH_USER)
    assert violation.severity is Severity.CRITICAL
    assert violation.resource_id == f"arn:aws:iam::{ACCOUNT}:user/malicious-iam-user"
    assert violation.resource_type == "AwsIamUser"
    assert violation.subject == "malicious-iam-user"
    assert violation.description == (
        f"bert-jan attached the managed policy AdministratorAccess ({ADMIN}) to IAM user malicious-iam-user in "
        f"account {ACCOUNT}, granting administrative power: it allows every action on every resource.")
    assert violation.details == {"PolicyArn": ADMIN, "PrincipalType": "IAM user",
                                 "Principal": f"arn:aws:iam::{ACCOUNT}:user/malicious-iam-user",
                                 "Grant": "it allows every action on every resource"}
    [finding] = rule_findings(rule, ATTACH_USER)
    assert (finding.severity.value, finding.resource_type) == ("CRITICAL", "AwsIamUser")


def test_real_administrator_access_on_a_backdoor_role_is_high():
    violation = run_rule(rule, ATTACH_ROLE)
    assert violation.severity is None  # the rule's HIGH
    assert violation.resource_id == f"arn:aws:iam::{ACCOUNT}:role/stratus-red-team-backdoor-r-role"
    assert violation.resource_type == "AwsIamRole"
    [finding] = rule_findings(rule, ATTACH_ROLE)
    assert finding.severity.value == "HIGH"


def test_iam_full_access_on_a_group_is_high_and_says_members_inherit_it():
    record = _attach("AttachGroupPolicy", "groupName", "developers", "arn:aws:iam::aws:policy/IAMFullAccess")
    violation = run_rule(rule, record)
    assert violation.severity is None
    assert (violation.resource_id, violation.resource_type) == (f"arn:aws:iam::{ACCOUNT}:group/developers",
                                                                "AwsIamGroup")
    assert "every IAM action" in violation.description
    assert violation.description.endswith("; every member of the group inherits it.")
    rule_findings(rule, record)


def test_managed_policies_that_are_not_privileged_are_not_findings():
    assert run_rule(rule, SSM_ROLE) is None  # real: AmazonSSMManagedInstanceCore
    assert run_rule(rule, _attach("AttachUserPolicy", "userName", "u", "arn:aws:iam::aws:policy/ReadOnlyAccess")) is None
    # a customer managed policy named like the AWS one is not the AWS one
    assert run_rule(rule, _attach("AttachUserPolicy", "userName", "u",
                                  f"arn:aws:iam::{ACCOUNT}:policy/AdministratorAccess")) is None
    assert run_rule(rule, load_sample("iam_attach_user_policy_read_only_access__constructed")["detail"]) is None


def test_the_organisation_decides_which_managed_policies_are_privileged():
    custom = OrgPolicy(privileged_policies=("arn:aws:iam::*:policy/BreakGlass*",))
    record = _attach("AttachRolePolicy", "roleName", "ops", f"arn:aws:iam::{ACCOUNT}:policy/BreakGlassAdmin")
    violation = _evaluate(record, custom)
    assert violation.details["Grant"] == "it is one of the organisation policy's privileged_policies"
    assert _evaluate(record) is None  # not privileged under the default policy
    assert _evaluate(ATTACH_ROLE, custom) is None  # AdministratorAccess is no longer listed


def test_administrator_access_counts_in_every_partition():
    record = changed(_attach("AttachUserPolicy", "userName", "ops", "arn:aws-cn:iam::aws:policy/AdministratorAccess"),
                     awsRegion="cn-north-1",
                     userIdentity={**ATTACH_USER["userIdentity"], "arn": f"arn:aws-cn:iam::{ACCOUNT}:user/bert-jan"})
    violation = run_rule(rule, record)
    assert violation.resource_id == f"arn:aws-cn:iam::{ACCOUNT}:user/ops"


# -- inline policies --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("event_name", "name_key", "kind", "severity"), [
    ("PutUserPolicy", "userName", "user", Severity.CRITICAL),
    ("PutGroupPolicy", "groupName", "group", None),
    ("PutRolePolicy", "roleName", "role", None),
])
def test_admin_inline_policies_name_the_statement_that_grants_it(event_name, name_key, kind, severity):
    record = _put(event_name, name_key, "target", json.dumps(ADMIN_DOC))
    violation = run_rule(rule, record)
    assert violation.severity is severity
    assert violation.resource_id == f"arn:aws:iam::{ACCOUNT}:{kind}/target"
    assert violation.details["PolicyName"] == "backdoor"
    assert violation.details["Grant"] == "Statement[0] allows Action * on Resource *"
    assert "put the inline policy backdoor on IAM " in violation.description
    rule_findings(rule, record)


def test_url_encoded_iam_star_and_not_action_documents_are_admin():
    iam_star = {"Statement": [{"Sid": "Iam", "Effect": "Allow", "Action": ["s3:*", "iam:*"], "Resource": ["*"]}]}
    assert run_rule(rule, _put("PutRolePolicy", "roleName", "r", quote(json.dumps(iam_star)))).details["Grant"] == (
        "Statement[0] (Sid Iam) allows Action iam:* on Resource *")
    not_action = {"Statement": {"Effect": "Allow", "NotAction": "iam:DeleteUser", "Resource": "*"}}
    grant = run_rule(rule, _put("PutUserPolicy", "userName", "u", json.dumps(not_action))).details["Grant"]
    assert grant == "Statement[0] allows every action except iam:DeleteUser on Resource *"


def test_inline_policies_that_grant_less_are_not_findings():
    assert run_rule(rule, PUT_ROLE) is None  # real: ec2:Describe* on *
    scoped = {"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "arn:aws:s3:::reports/*"},
                            {"Effect": "Deny", "Action": "*", "Resource": "*"}]}
    assert run_rule(rule, _put("PutRolePolicy", "roleName", "r", json.dumps(scoped))) is None


@pytest.mark.parametrize("document", [
    "not json", "%7Bbroken", json.dumps({"Version": "2012-10-17"}), json.dumps(["*"]), 42, {"Statement": "x"},
    json.dumps({"Statement": ["x", {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}),
])
def test_unreadable_documents_are_no_finding_and_no_exception(document):
    assert run_rule(rule, _put("PutUserPolicy", "userName", "u", document)) is None
    assert rule_findings(rule, _put("PutUserPolicy", "userName", "u", document)) == []


def test_a_readable_admin_statement_is_judged_even_next_to_an_unreadable_one():
    document = {"Statement": ["garbage", {"Effect": "Allow", "Action": "*", "Resource": "*"}]}
    violation = run_rule(rule, _put("PutUserPolicy", "userName", "u", json.dumps(document)))
    assert violation.details["Grant"] == "Statement[1] allows Action * on Resource *"


@pytest.mark.parametrize("event_name", sorted(rule.META.trigger.event_names - {"SetDefaultPolicyVersion"}))
def test_without_request_parameters_nothing_can_be_judged(event_name):
    assert run_rule(rule, changed(ATTACH_USER, eventName=event_name, requestParameters=None)) is None
    assert run_rule(rule, changed(ATTACH_USER, eventName=event_name, requestParameters={})) is None


def test_missing_document_is_no_finding():
    no_document = changed(PUT_ROLE, requestParameters={"roleName": "r", "policyName": "p"})
    assert run_rule(rule, no_document) is None


def test_a_record_without_the_target_name_is_still_reported_on_the_account():
    record = changed(ATTACH_USER, requestParameters={"policyArn": ADMIN})
    violation = run_rule(rule, record)
    assert violation.severity is Severity.CRITICAL
    assert (violation.resource_id, violation.resource_type) == (f"AWS::::Account:{ACCOUNT}", "AwsAccount")
    assert "an IAM user (the record does not name it)" in violation.description
    rule_findings(rule, record)


# -- policy versions --------------------------------------------------------------------------------------------


def test_a_new_admin_default_version_is_high_on_the_policy():
    violation = run_rule(rule, NEW_VERSION)
    assert violation.severity is None
    assert (violation.resource_id, violation.resource_type) == (POLICY, "AwsIamPolicy")
    assert violation.details == {"PolicyArn": POLICY, "VersionId": "v2",
                                 "Grant": "Statement[0] allows Action * on Resource *"}
    assert "made a new default version (v2) of the managed policy" in violation.description
    rule_findings(rule, NEW_VERSION)


@pytest.mark.parametrize("set_as_default", [False, "false", None])
def test_a_version_that_is_not_the_default_grants_nothing_yet(set_as_default):
    parameters = {**NEW_VERSION["requestParameters"], "setAsDefault": set_as_default}
    assert run_rule(rule, changed(NEW_VERSION, requestParameters=parameters)) is None
    assert run_rule(rule, load_sample("iam_create_policy_version_not_default__constructed")["detail"]) is None


def test_set_as_default_as_a_string_and_a_narrow_new_version():
    parameters = {**NEW_VERSION["requestParameters"], "setAsDefault": "true"}
    assert run_rule(rule, changed(NEW_VERSION, requestParameters=parameters)) is not None
    narrow = {**parameters, "policyDocument": json.dumps({"Statement": [
        {"Effect": "Allow", "Action": "iam:Get*", "Resource": "*"}]})}
    assert run_rule(rule, changed(NEW_VERSION, requestParameters=narrow)) is None


def test_set_default_policy_version_is_always_medium():
    violation = run_rule(rule, SET_DEFAULT)
    assert violation.severity is Severity.MEDIUM
    assert (violation.resource_id, violation.resource_type) == (POLICY, "AwsIamPolicy")
    assert violation.details == {"PolicyArn": POLICY, "VersionId": "v2"}
    assert "made version v2 the default of the managed policy" in violation.description
    [finding] = rule_findings(rule, SET_DEFAULT)
    assert finding.severity.value == "MEDIUM"
    bare = run_rule(rule, changed(SET_DEFAULT, requestParameters=None))
    assert (bare.resource_type, bare.details["VersionId"]) == ("AwsAccount", "(not in the record)")


# -- what is never a finding ------------------------------------------------------------------------------------


@pytest.mark.parametrize("record", [
    ATTACH_USER, ATTACH_ROLE, _put("PutUserPolicy", "userName", "u", json.dumps(ADMIN_DOC)), NEW_VERSION, SET_DEFAULT,
    _attach("AttachGroupPolicy", "groupName", "g"), _put("PutGroupPolicy", "groupName", "g", json.dumps(ADMIN_DOC)),
    _put("PutRolePolicy", "roleName", "r", json.dumps(ADMIN_DOC)),
], ids=lambda record: record["eventName"])
def test_failed_calls_are_not_findings(record):
    assert run_rule(rule, record) is not None
    assert run_rule(rule, changed(record, errorCode="AccessDenied", errorMessage="not authorized")) is None


def test_the_failed_sample_is_quiet():
    assert run_rule(rule, load_sample("iam_attach_user_policy_administrator_access_failed__constructed")["detail"]) is None


def test_reserved_role_is_left_to_sso_reserved_role_modified():
    assert run_rule(rule, RESERVED_BY_SSO_USER) is None
    registry = Registry([Rule(m.META, m.evaluate) for m in (rule, sso_reserved_role_modified)])
    for record in (RESERVED_BY_SSO_USER, _put("PutRolePolicy", "roleName", "AWSReservedSSO_Admin_0123456789abcdef",
                                              json.dumps(ADMIN_DOC))):
        result = Engine(registry).evaluate(CloudTrailRecord.model_validate(record), Context(now=NOW))
        assert [f.rule_id for f in result.findings] == ["sso_reserved_role_modified"]
    by_path = _put("PutRolePolicy", "roleName", "renamed", json.dumps(ADMIN_DOC),
                   path="/aws-reserved/sso.amazonaws.com/")
    assert run_rule(rule, by_path) is None


def test_service_linked_roles_are_not_findings():
    assert run_rule(rule, load_sample("iam_attach_role_policy_service_linked_role__constructed")["detail"]) is None
    assert run_rule(rule, _put("PutRolePolicy", "roleName", "AWSServiceRoleForSupport", json.dumps(ADMIN_DOC))) is None
    by_path = _put("PutRolePolicy", "roleName", "custom", json.dumps(ADMIN_DOC), path="/aws-service-role/x/")
    assert run_rule(rule, by_path) is None
    # the prefix is the service-linked one, not anything that merely mentions it
    assert run_rule(rule, _attach("AttachRolePolicy", "roleName", "MyAWSServiceRoleForSupport")) is not None


def test_identity_center_own_calls_are_not_findings():
    own = _put("PutRolePolicy", "roleName", "ordinary", json.dumps(ADMIN_DOC))
    assert run_rule(rule, own) is not None
    assert run_rule(rule, changed(own, userIdentity=SSO_SERVICE)) is None
    assert run_rule(rule, changed(own, sourceIPAddress="sso.amazonaws.com")) is None


def test_allow_listed_pipeline_is_skipped_by_the_engine():
    pipeline = {"type": "AssumedRole", "accountId": ACCOUNT,
                "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/terraform-pipeline/deploy",
                "sessionContext": {"sessionIssuer": {"type": "Role", "userName": "terraform-pipeline",
                                                     "arn": f"arn:aws:iam::{ACCOUNT}:role/terraform-pipeline"}}}
    record = changed(ATTACH_ROLE, userIdentity=pipeline)
    assert len(rule_findings(rule, record)) == 1
    policy = OrgPolicy(allow={rule.META.id: ("arn:aws:iam::*:role/terraform-pipeline",)})
    assert rule_findings(rule, record, policy) == []
