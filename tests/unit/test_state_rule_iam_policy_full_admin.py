"""iam_policy_full_admin (IAM posture state rule) and ``rules._lib.permissions.full_admin`` on policies as
``GetAccountAuthorizationDetails`` returns them: ``Policies[]`` (``PolicyName``, ``PolicyId`` ANPA..., ``Arn``,
``Path``, ``AttachmentCount``, the default version's ``PolicyVersionList[].Document``) and the principals' inline
``UserPolicyList`` / ``GroupPolicyList`` / ``RolePolicyList`` (``PolicyName``, ``PolicyDocument``). botocore
decodes those documents into objects; the raw API text is URL-encoded JSON, judged the same (tested too)."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from urllib.parse import quote

import pytest
from asff_validator import assert_valid_asff
from identity_auditor.engine.registry import Registry, Rule
from identity_auditor.engine.state import ACCOUNT as ACCOUNT_TYPE
from identity_auditor.engine.state import StateEngine, account_key, posture_subject, state_finding_id
from identity_auditor.model.contract import Compliance, Context, Severity, StateResult
from identity_auditor.model.home import Home
from identity_auditor.model.snapshots import IamPosture, IamPrincipal, InlinePolicy, ManagedPolicy
from identity_auditor.rules import iam_policy_full_admin as rule
from identity_auditor.rules._lib.permissions import admin_grant, full_admin
from identity_auditor.sinks.asff import to_asff

ACCOUNT = "123456789012"
REGION = "eu-west-1"
NOW = datetime(2026, 11, 22, 6, 0, tzinfo=timezone.utc)
WHERE = Home(ACCOUNT, REGION, "aws")
PRODUCT_ARN = f"arn:aws:securityhub:{REGION}:{ACCOUNT}:product/{ACCOUNT}/default"
RULE = Rule(rule.META, None, rule.evaluate_state)
ENGINE = StateEngine(Registry([RULE]))


def doc(*statements) -> dict:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def allow(action="*", resource="*", **more) -> dict:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **more}


ADMIN = doc(allow())
IAM_ADMIN = doc(allow("iam:*"))
READ = doc(allow(["s3:GetObject", "s3:ListBucket"], ["arn:aws:s3:::reports", "arn:aws:s3:::reports/*"]))


# -- full_admin ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("action", ["*", "*:*", "**", "*?", "*:?*", "????*", ["s3:GetObject", "*"], ["*:*"]])
def test_actions_covering_every_action_of_every_service(action):
    shown = action[-1] if isinstance(action, list) else action
    assert full_admin(doc(allow(action))) == f"Statement[0] allows Action {shown} on Resource *"


@pytest.mark.parametrize("action", [
    "iam:*", "s3:*", "*:Get*", "*:List*", "?:*", "??:*", "*:?", "*:*:*", "*:??", "ec2:*", "iam:?*", "a*", "*a",
    "*****?????", ["iam:*", "s3:*", "ec2:*"], [],
])
def test_actions_that_leave_some_action_out(action):
    assert full_admin(doc(allow(action))) is None


def test_iam_star_is_admin_grants_business_not_full_admins():
    assert admin_grant(IAM_ADMIN) == "Statement[0] allows Action iam:* on Resource *"
    assert full_admin(IAM_ADMIN) is None


@pytest.mark.parametrize("resource, shown", [
    ("*", "*"), ("arn:aws:*", "arn:aws:*"), ("arn:*:*:*:*:*", "arn:*:*:*:*:*"),
    (["arn:aws:s3:::reports", "*"], "*"),
])
def test_resources_covering_every_arn(resource, shown):
    assert full_admin(doc(allow("*", resource))) == f"Statement[0] allows Action * on Resource {shown}"


@pytest.mark.parametrize("resource", ["arn:aws:s3:::*", f"arn:aws:iam::{ACCOUNT}:*", "arn:aws:ec2:*:*:instance/*"])
def test_resources_that_leave_some_arn_out(resource):
    assert full_admin(doc(allow("*", resource))) is None


def test_not_action_and_not_resource_are_not_star_on_star():
    not_action = doc({"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"})
    not_resource = doc({"Effect": "Allow", "Action": "*", "NotResource": "arn:aws:s3:::secrets/*"})
    assert full_admin(not_action) is None and full_admin(not_resource) is None
    assert admin_grant(not_action) and admin_grant(not_resource)  # the broader notion still sees them


def test_a_condition_does_not_clear_the_grant_and_is_named():
    conditioned = doc(allow(Condition={"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}}))
    assert full_admin(conditioned) == ("Statement[0] allows Action * on Resource * "
                                       "(under a Condition on aws:SourceIp)")


def test_deny_statements_never_grant_and_sid_is_named():
    assert full_admin(doc({"Effect": "Deny", "Action": "*", "Resource": "*"})) is None
    assert full_admin(doc({"Effect": "Deny", "Action": "*", "Resource": "*"},
                          allow(["*"], Sid="Everything"))) == ("Statement[1] (Sid Everything) allows Action * on "
                                                               "Resource *")


def test_documents_in_every_shape_iam_returns():
    single = {"Version": "2012-10-17", "Statement": {"effect": "allow", "action": "*", "resource": "*"}}
    assert full_admin(single) == "Statement[0] allows Action * on Resource *"
    assert full_admin(json.dumps(ADMIN)) == "Statement[0] allows Action * on Resource *"
    assert full_admin(quote(json.dumps(ADMIN))) == "Statement[0] allows Action * on Resource *"


def test_a_readable_grant_wins_over_an_unreadable_statement():
    assert full_admin(doc("not a statement", allow())) == "Statement[1] allows Action * on Resource *"


@pytest.mark.parametrize("document, message", [
    (doc("not a statement", allow("s3:*")), "Statement[0] is a string, not an object"),
    (doc({"Effect": "Allow", "Resource": "*"}), "Statement[0] has neither Action nor NotAction"),
    (doc({"Effect": "Allow", "Action": "*"}), "Statement[0] has neither Resource nor NotResource"),
    (doc({"Effect": "Maybe", "Action": "*", "Resource": "*"}), "Statement[0] has Effect 'Maybe'"),
    (doc(allow("*", ["*", 7])), "Statement[0] Resource holds a number, not a string"),
    ({"Version": "2012-10-17"}, "policy has no Statement"),
    ("{not json", "policy is not JSON"),
])
def test_unreadable_documents_raise_naming_the_part(document, message):
    with pytest.raises(ValueError) as raised:
        full_admin(document)
    assert message in str(raised.value)
    if "Statement[0]" in message:
        assert str(raised.value).endswith("so whether it allows every action on every resource cannot be told")


# -- the rule --------------------------------------------------------------------------------------------------


def managed(name: str, document, attachments: int = 1, *, policy_id: str | None = "ANPA", aws: bool = False,
            path: str = "/") -> ManagedPolicy:
    owner = "aws" if aws else ACCOUNT
    pid = f"ANPA{name.upper():X<17}"[:21] if policy_id == "ANPA" else policy_id
    return ManagedPolicy(arn=f"arn:aws:iam::{owner}:policy{path}{name}", name=name, policy_id=pid, path=path,
                         attachment_count=attachments, document=document, aws_managed=aws)


def principal(kind: str, name: str, *inline: tuple[str, object], path: str = "/") -> IamPrincipal:
    prefix = {"user": "AIDA", "group": "AGPA", "role": "AROA"}[kind]
    return IamPrincipal(kind=kind, name=name, arn=f"arn:aws:iam::{ACCOUNT}:{kind}{path}{name}",
                        principal_id=f"{prefix}{name.upper()[:10]:X<17}", path=path, attached=(),
                        inline=tuple(InlinePolicy(n, d) for n, d in inline))


def posture(policies=(), users=(), groups=(), roles=()) -> IamPosture:
    return IamPosture(account_id=ACCOUNT, partition="aws", users=tuple(users), groups=tuple(groups),
                      roles=tuple(roles), policies=tuple(policies))


def judge(snapshot: IamPosture) -> list[StateResult]:
    results = rule.evaluate_state(snapshot, Context(now=NOW))
    assert isinstance(results, list)
    for result in results:
        assert 0 < len(result.annotation) <= 256 and result.resource is not None
        assert (result.violation is not None) == (result.compliance is Compliance.NON_COMPLIANT)
    return results


def test_an_attached_customer_managed_policy_allowing_star_on_star_is_non_compliant():
    [result] = judge(posture([managed("EverythingPolicy", ADMIN, 2)]))
    assert result.compliance is Compliance.NON_COMPLIANT
    resource = result.resource
    assert (resource.config_type, resource.config_id, resource.name, resource.key, resource.asff_type) == (
        "AWS::IAM::Policy", "ANPAEVERYTHINGPOLICYX", "EverythingPolicy",
        f"arn:aws:iam::{ACCOUNT}:policy/EverythingPolicy", "AwsIamPolicy")
    assert result.annotation == ("Customer managed policy EverythingPolicy allows every action on every resource: "
                                 "Statement[0] allows Action * on Resource *.")
    violation = result.violation
    assert violation.description == (
        f"The customer managed policy EverythingPolicy (attached 2 times) in account {ACCOUNT} allows every action "
        "on every resource (Statement[0] allows Action * on Resource *).")
    assert (violation.resource_id, violation.resource_type, violation.subject) == (
        resource.key, "AwsIamPolicy", "EverythingPolicy")
    assert violation.details == {"PolicyName": "EverythingPolicy", "PolicyArn": resource.key, "AttachmentCount": "2",
                                 "Grant": "Statement[0] allows Action * on Resource *"}
    assert violation.severity is None and rule.META.severity is Severity.MEDIUM


def test_attached_policies_that_stop_short_of_star_on_star_are_compliant():
    results = judge(posture([managed("IamAdmins", IAM_ADMIN), managed("Reports", READ, 5)]))
    assert [r.compliance for r in results] == [Compliance.COMPLIANT, Compliance.COMPLIANT]
    assert results[0].annotation == "No statement of customer managed policy IamAdmins allows * on *."


def test_unattached_and_aws_managed_policies_are_not_judged():
    results = judge(posture([managed("Unused", ADMIN, 0),
                             managed("AdministratorAccess", ADMIN, 3, aws=True, policy_id="ANPAIWMBCKSKIEE64ZLYK"),
                             managed("InUse", READ, 1)]))
    assert [r.resource.name for r in results] == ["InUse"]


def test_inline_policies_of_users_groups_and_roles_are_judged():
    role = principal("role", "deploy", ("admin", ADMIN), ("reports", READ), path="/ci/")
    user = principal("user", "alice", ("everything", quote(json.dumps(doc(allow("*:*"))))))  # raw API text
    group = principal("group", "ops", ("ops-iam", IAM_ADMIN))
    results = judge(posture(users=[user], groups=[group], roles=[role]))
    verdicts = {r.resource.key: r for r in results}
    assert list(verdicts) == [f"arn:aws:iam::{ACCOUNT}:user/alice/inline/everything",
                              f"arn:aws:iam::{ACCOUNT}:group/ops/inline/ops-iam",
                              f"arn:aws:iam::{ACCOUNT}:role/ci/deploy/inline/admin",
                              f"arn:aws:iam::{ACCOUNT}:role/ci/deploy/inline/reports"]
    [alice, ops, admin, reports] = results
    assert [r.compliance for r in results] == [Compliance.NON_COMPLIANT, Compliance.COMPLIANT,
                                               Compliance.NON_COMPLIANT, Compliance.COMPLIANT]
    assert (admin.resource.config_type, admin.resource.config_id, admin.resource.asff_type) == (
        "AWS::::Account", ACCOUNT, "Other")
    assert admin.resource.name == "admin (inline, role deploy)"
    assert admin.violation.description == (
        f"The inline policy admin of role deploy in account {ACCOUNT} allows every action on every resource "
        "(Statement[0] allows Action * on Resource *).")
    assert admin.violation.details["PrincipalArn"] == role.arn and "ManagedBy" not in admin.violation.details
    assert admin.violation.resource_type == "Other" and admin.violation.subject == admin.resource.name
    assert "Action *:* on Resource *" in alice.annotation


def test_identity_center_reserved_roles_inline_policies_are_judged_and_say_where_to_fix():
    reserved = principal("role", "AWSReservedSSO_AdministratorAccess_0123456789abcdef", ("AwsSSOInlinePolicy", ADMIN),
                         path="/aws-reserved/sso.amazonaws.com/")
    [result] = judge(posture(roles=[reserved]))
    assert result.compliance is Compliance.NON_COMPLIANT
    assert result.violation.details["ManagedBy"].startswith("IAM Identity Center: fix the permission set")


@pytest.mark.parametrize("document, reason", [
    (None, "could not be read: whether it allows * on * is unknown"),
    (doc({"Effect": "Allow", "Resource": "*"}), "cannot be judged: policy Statement[0] has neither Action nor "
                                                "NotAction"),
    ("%7Bnot json", "cannot be judged: policy is not JSON"),
])
def test_an_unreadable_document_is_not_applicable_with_the_reason(document, reason):
    [policy, inline] = judge(posture([managed("Odd", document)], roles=[principal("role", "r", ("odd", document))]))
    assert policy.compliance is inline.compliance is Compliance.NOT_APPLICABLE
    assert reason in policy.annotation and "customer managed policy Odd" in policy.annotation
    assert reason in inline.annotation and "inline policy odd of role r" in inline.annotation


def test_a_policy_without_a_known_id_is_named_to_aws_config_by_its_name():
    [result] = judge(posture([managed("NoId", ADMIN, policy_id=None)]))
    assert result.resource.config_id == "NoId"


def test_nothing_to_judge_is_one_compliant_account_result():
    result = rule.evaluate_state(posture([managed("Unused", ADMIN, 0)], users=[principal("user", "bob")]),
                                 Context(now=NOW))
    assert isinstance(result, StateResult) and result.resource is None
    assert result.compliance is Compliance.COMPLIANT and "no attached customer managed policy" in result.annotation


def test_end_to_end_through_the_state_engine():
    snapshot = posture([managed("EverythingPolicy", ADMIN, 2), managed("Reports", READ)],
                       roles=[principal("role", "deploy", ("admin", ADMIN), ("odd", None))])
    evaluations = ENGINE.evaluate([RULE], [posture_subject(snapshot, "iam_posture")], Context(now=NOW), WHERE)
    everything, reports, inline_admin, inline_odd, summary = evaluations
    keys = [f"arn:aws:iam::{ACCOUNT}:policy/EverythingPolicy", f"arn:aws:iam::{ACCOUNT}:policy/Reports",
            f"arn:aws:iam::{ACCOUNT}:role/deploy/inline/admin", f"arn:aws:iam::{ACCOUNT}:role/deploy/inline/odd"]
    for evaluation, key in zip(evaluations, keys):
        assert evaluation.finding.finding_id == state_finding_id(rule.META.id, WHERE, key)
        assert_valid_asff(to_asff(evaluation.finding, product_arn=PRODUCT_ARN, updated_at=NOW))
    assert [(e.finding.compliance_status, e.finding.record_state) for e in evaluations[:4]] == [
        ("FAILED", "ACTIVE"), ("PASSED", "ACTIVE"), ("FAILED", "ACTIVE"), ("NOT_AVAILABLE", "ARCHIVED")]
    assert everything.finding.severity is Severity.MEDIUM and inline_admin.finding.severity is Severity.MEDIUM
    failed = to_asff(everything.finding, product_arn=PRODUCT_ARN, updated_at=NOW)
    assert failed["Resources"][0]["Type"] == "AwsIamPolicy" and failed["Resources"][0]["Id"] == keys[0]
    assert to_asff(inline_admin.finding, product_arn=PRODUCT_ARN, updated_at=NOW)["Resources"][0]["Type"] == "Other"
    # managed policies are told to AWS Config one by one; inline ones through the account's summing evaluation
    assert (everything.resource_type, everything.resource_id, everything.reported) == (
        "AWS::IAM::Policy", "ANPAEVERYTHINGPOLICYX", True)
    assert not inline_admin.reported and not inline_odd.reported
    assert (summary.resource_type, summary.resource_id, summary.compliance, summary.finding) == (
        ACCOUNT_TYPE, ACCOUNT, Compliance.NON_COMPLIANT, None)
    assert summary.key == account_key(ACCOUNT) and "admin (inline, role deploy)" in summary.annotation


def test_meta():
    meta = rule.META
    assert meta.id == rule.__name__.rsplit(".", 1)[-1] and meta.trigger is None
    assert (meta.state.resource_type, meta.state.subject, meta.state.reads) == (
        "AWS::::Account", "iam_posture", ("authorization",))
    assert meta.severity is Severity.MEDIUM and meta.resource_type == "AwsIamPolicy"
    assert meta.compliance == ("CIS5 1.15", "CIS3 1.16", "FSBP IAM.1")
    assert len(meta.remediation) <= 512 and "aws iam create-policy-version" in meta.remediation
