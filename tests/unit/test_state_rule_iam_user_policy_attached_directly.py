"""iam_user_policy_attached_directly (IAM posture state rule) on IAM users as ``GetAccountAuthorizationDetails``
returns them (``UserDetailList``: ``UserName``, ``UserId`` AIDA..., ``Arn``, ``Path``, ``GroupList``,
``AttachedManagedPolicies[].PolicyArn``, ``UserPolicyList[].PolicyName`` / ``PolicyDocument``,
``PermissionsBoundary.PermissionsBoundaryArn``), built by hand as the collector fills ``IamPrincipal``."""

from __future__ import annotations

from datetime import datetime, timezone
from types import MappingProxyType

import pytest
from asff_validator import assert_valid_asff
from identity_auditor.engine.registry import Registry, Rule
from identity_auditor.engine.state import NotRun, StateEngine, posture_subject, state_finding_id
from identity_auditor.model.contract import Compliance, Context, Severity, StateResult
from identity_auditor.model.home import Home
from identity_auditor.model.policy import OrgPolicy
from identity_auditor.model.snapshots import IamPosture, IamPrincipal, InlinePolicy
from identity_auditor.rules import iam_user_policy_attached_directly as rule
from identity_auditor.sinks.asff import to_asff

ACCOUNT = "123456789012"
REGION = "us-east-1"
NOW = datetime(2026, 11, 22, 6, 0, tzinfo=timezone.utc)
WHERE = Home(ACCOUNT, REGION, "aws")
PRODUCT_ARN = f"arn:aws:securityhub:{REGION}:{ACCOUNT}:product/{ACCOUNT}/default"
READ_ONLY = "arn:aws:iam::aws:policy/ReadOnlyAccess"
DEPLOY = f"arn:aws:iam::{ACCOUNT}:policy/ci/DeployPolicy"
INLINE_DOC = {"Version": "2012-10-17",
              "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::builds/*"}]}
RULE = Rule(rule.META, None, rule.evaluate_state)
ENGINE = StateEngine(Registry([RULE]))


def user(name: str, *, attached: tuple[str, ...] = (), inline: tuple[str, ...] = (), groups: tuple[str, ...] = (),
         user_id: str | None = "AIDA", path: str = "/", boundary: str | None = None) -> IamPrincipal:
    uid = f"AIDA{name.upper():X<17}"[:21] if user_id == "AIDA" else user_id
    return IamPrincipal(kind="user", name=name, arn=f"arn:aws:iam::{ACCOUNT}:user{path}{name}", principal_id=uid,
                        path=path, attached=attached, inline=tuple(InlinePolicy(n, INLINE_DOC) for n in inline),
                        groups=groups, permissions_boundary=boundary)


def posture(*users: IamPrincipal, **more) -> IamPosture:
    return IamPosture(account_id=ACCOUNT, partition="aws", users=users, **more)


def ctx(policy: OrgPolicy | None = None) -> Context:
    return Context(now=NOW, policy=policy or OrgPolicy())


def judge(*users: IamPrincipal, policy: OrgPolicy | None = None) -> list[StateResult]:
    results = rule.evaluate_state(posture(*users), ctx(policy))
    assert isinstance(results, list)
    for result in results:
        assert 0 < len(result.annotation) <= 256 and result.resource is not None
        assert (result.violation is not None) == (result.compliance is Compliance.NON_COMPLIANT)
    return results


def test_an_attached_managed_policy_is_non_compliant():
    [result] = judge(user("alice", attached=(READ_ONLY,), groups=("developers",)))
    assert result.compliance is Compliance.NON_COMPLIANT
    assert result.annotation == ("IAM user alice has 1 managed policy attached directly: ReadOnlyAccess "
                                 "(groups: developers).")
    violation = result.violation
    assert violation.description == f"IAM user alice in account {ACCOUNT} has 1 managed policy attached directly."
    assert violation.resource_id == f"arn:aws:iam::{ACCOUNT}:user/alice" and violation.resource_type == "AwsIamUser"
    assert violation.details == {"UserName": "alice", "Groups": "developers", "AttachedManagedPolicies": READ_ONLY}
    assert violation.severity is None and rule.META.severity is Severity.LOW and violation.subject == "alice"


def test_an_inline_policy_is_non_compliant_whatever_it_grants():
    [result] = judge(user("build", inline=("s3-read",)))
    assert result.compliance is Compliance.NON_COMPLIANT
    assert "1 inline policy attached directly: s3-read (inline) (in no group)" in result.annotation
    assert result.violation.details == {"UserName": "build", "Groups": "none", "InlinePolicies": "s3-read"}


def test_managed_and_inline_are_counted_together():
    [result] = judge(user("carol", attached=(READ_ONLY, DEPLOY), inline=("a", "b")))
    assert "has 2 managed and 2 inline policies attached directly: ReadOnlyAccess, DeployPolicy, a (inline), " \
           "b (inline)" in result.annotation
    assert result.violation.details["AttachedManagedPolicies"] == f"{READ_ONLY}, {DEPLOY}"


@pytest.mark.parametrize("prefix", ["p", "team-policy-with-a-rather-long-name-that-goes-on-"])
def test_many_policies_stay_within_the_annotation_and_say_how_many_more(prefix):
    attached = tuple(f"arn:aws:iam::{ACCOUNT}:policy/{prefix}{n}" for n in range(10))
    groups = tuple(f"group-{n}-with-a-long-name" for n in range(8))
    [result] = judge(user("d" * 64, attached=attached, inline=tuple(f"inline-{n}" for n in range(10)), groups=groups))
    assert result.compliance is Compliance.NON_COMPLIANT and len(result.annotation) <= 256
    assert "has 10 managed and 10 inline policies attached directly: " in result.annotation
    assert result.annotation.endswith(" and 15 more (groups: group-0-with-a-long-name, group…).")
    if prefix == "p":
        assert ": p0, p1, p2, p3, p4 and 15 more" in result.annotation


@pytest.mark.parametrize("member", [user("erin", groups=("developers", "oncall")), user("frank")])
def test_users_without_their_own_policies_are_compliant(member):
    [result] = judge(member)
    assert result.compliance is Compliance.COMPLIANT and result.violation is None
    assert "has no policy attached directly" in result.annotation
    assert ("groups: developers, oncall" if member.groups else "in no group") in result.annotation


def test_a_permissions_boundary_is_not_a_policy_attached_to_the_user():
    bounded = user("gina", groups=("developers",), boundary=f"arn:aws:iam::{ACCOUNT}:policy/DeveloperBoundary")
    [result] = judge(bounded)
    assert result.compliance is Compliance.COMPLIANT


def test_break_glass_users_are_judged_too():
    [result] = judge(user("breakglass", attached=("arn:aws:iam::aws:policy/AdministratorAccess",)),
                     policy=OrgPolicy(break_glass_users=("breakglass",)))
    assert result.compliance is Compliance.NON_COMPLIANT


def test_every_user_gets_a_result_naming_it_as_aws_config_knows_it():
    results = judge(user("alice", attached=(READ_ONLY,)), user("bob", groups=("ops",)),
                    user("nobody-knows", user_id=None, path="/contractors/", inline=("x",)))
    assert [r.compliance for r in results] == [Compliance.NON_COMPLIANT, Compliance.COMPLIANT,
                                               Compliance.NON_COMPLIANT]
    alice, bob, unknown = (r.resource for r in results)
    assert (alice.config_type, alice.config_id, alice.name, alice.key, alice.asff_type) == (
        "AWS::IAM::User", "AIDAALICEXXXXXXXXXXXX", "alice", f"arn:aws:iam::{ACCOUNT}:user/alice", "AwsIamUser")
    assert bob.config_id == "AIDABOBXXXXXXXXXXXXXX"
    assert (unknown.config_id, unknown.key) == ("nobody-knows", f"arn:aws:iam::{ACCOUNT}:user/contractors/nobody-knows")


def test_an_account_without_users_is_one_compliant_account_result():
    result = rule.evaluate_state(posture(), ctx())
    assert isinstance(result, StateResult) and result.resource is None
    assert result.compliance is Compliance.COMPLIANT and "no IAM users" in result.annotation


def test_end_to_end_through_the_state_engine():
    alice, bob = user("alice", attached=(READ_ONLY,)), user("bob", groups=("ops",))
    evaluations = ENGINE.evaluate([RULE], [posture_subject(posture(alice, bob), "iam_posture")], ctx(), WHERE)
    failed, passed = evaluations  # users are told to AWS Config one by one: no summing account evaluation
    assert failed.finding.finding_id == state_finding_id(rule.META.id, WHERE, alice.arn)
    assert passed.finding.finding_id == state_finding_id(rule.META.id, WHERE, bob.arn)
    assert failed.finding.finding_id.startswith(f"iam_user_policy_attached_directly/{ACCOUNT}/{REGION}/")
    assert (failed.finding.compliance_status, failed.finding.severity) == ("FAILED", Severity.LOW)
    assert (passed.finding.compliance_status, passed.finding.severity) == ("PASSED", Severity.INFORMATIONAL)
    assert failed.config_evaluation()["ComplianceResourceType"] == "AWS::IAM::User"
    assert failed.config_evaluation()["ComplianceResourceId"] == alice.principal_id and failed.reported
    for evaluation in evaluations:
        document = to_asff(evaluation.finding, product_arn=PRODUCT_ARN, updated_at=NOW)
        assert_valid_asff(document)
        assert document["Resources"][0]["Type"] == "AwsIamUser"
    assert to_asff(failed.finding, product_arn=PRODUCT_ARN, updated_at=NOW)["Compliance"]["RelatedRequirements"] == [
        "CIS AWS Foundations Benchmark v5.0.0/1.14", "CIS AWS Foundations Benchmark v3.0.0/1.15",
        "AWS Foundational Security Best Practices/IAM.2"]
    # fixed: the same finding becomes PASSED
    [fixed] = ENGINE.evaluate([RULE], [posture_subject(posture(user("alice")), "iam_posture")], ctx(), WHERE)
    assert fixed.finding.finding_id == failed.finding.finding_id and fixed.finding.compliance_status == "PASSED"


def test_not_run_when_the_authorization_details_could_not_be_read():
    denied = "GetAccountAuthorizationDetails: AccessDenied: not authorized"
    unreadable = posture(user("alice", attached=(READ_ONLY,)), unavailable=MappingProxyType({"authorization": denied}))
    not_run: list[NotRun] = []
    assert ENGINE.evaluate([RULE], [posture_subject(unreadable, "iam_posture")], ctx(), WHERE, not_run=not_run) == []
    assert not_run == [NotRun(rule.META.id, ACCOUNT, f"authorization: {denied}")]
    other = posture(user("alice", attached=(READ_ONLY,)), unavailable=MappingProxyType({"saml_providers": "throttled"}))
    assert len(ENGINE.evaluate([RULE], [posture_subject(other, "iam_posture")], ctx(), WHERE)) == 1


def test_meta():
    meta = rule.META
    assert meta.id == rule.__name__.rsplit(".", 1)[-1] and meta.trigger is None
    assert (meta.state.resource_type, meta.state.subject, meta.state.reads, meta.state.scope) == (
        "AWS::::Account", "iam_posture", ("authorization",), "account") and meta.state.periodic
    assert meta.severity is Severity.LOW and meta.resource_type == "AwsIamUser"
    assert meta.compliance == ("CIS5 1.14", "CIS3 1.15", "FSBP IAM.2")
    assert len(meta.remediation) <= 512 and "aws iam detach-user-policy" in meta.remediation
