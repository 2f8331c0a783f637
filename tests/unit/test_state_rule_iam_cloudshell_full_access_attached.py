"""iam_cloudshell_full_access_attached (IAM posture state rule) on principals as ``GetAccountAuthorizationDetails``
returns them (``UserDetailList`` / ``GroupDetailList`` / ``RoleDetailList``: name, ``UserId`` / ``GroupId`` /
``RoleId`` AIDA... / AGPA... / AROA..., ``Arn``, ``Path``, ``AttachedManagedPolicies[].PolicyArn``), built by hand
as ``IamPrincipal``."""

from __future__ import annotations

from datetime import datetime, timezone
from types import MappingProxyType

import pytest
from asff_validator import assert_valid_asff
from identity_auditor.engine.registry import Registry, Rule
from identity_auditor.engine.state import NotRun, StateEngine, account_key, posture_subject, state_finding_id
from identity_auditor.model.contract import Compliance, Context, Severity, StateResult
from identity_auditor.model.home import Home
from identity_auditor.model.snapshots import IamPosture, IamPrincipal
from identity_auditor.rules import iam_cloudshell_full_access_attached as rule
from identity_auditor.sinks.asff import to_asff

ACCOUNT = "123456789012"
REGION = "us-east-1"
NOW = datetime(2026, 11, 22, 6, 0, tzinfo=timezone.utc)
WHERE = Home(ACCOUNT, REGION, "aws")
PRODUCT_ARN = f"arn:aws:securityhub:{REGION}:{ACCOUNT}:product/{ACCOUNT}/default"
CLOUDSHELL = "arn:aws:iam::aws:policy/AWSCloudShellFullAccess"
READ_ONLY = "arn:aws:iam::aws:policy/ReadOnlyAccess"
RULE = Rule(rule.META, None, rule.evaluate_state)
ENGINE = StateEngine(Registry([RULE]))
IDS = {"user": "AIDAJQABLZS4A3QDU576Q", "group": "AGPAJQABLZS4A3QDU576Q", "role": "AROAJQABLZS4A3QDU576Q"}


def principal(kind: str, name: str, *attached: str, path: str = "/", principal_id: str | None = "known",
              partition: str = "aws") -> IamPrincipal:
    return IamPrincipal(kind=kind, name=name, arn=f"arn:{partition}:iam::{ACCOUNT}:{kind}{path}{name}",
                        principal_id=IDS[kind] if principal_id == "known" else principal_id, path=path,
                        attached=attached)


def posture(*principals: IamPrincipal, partition: str = "aws", **more) -> IamPosture:
    return IamPosture(account_id=ACCOUNT, partition=partition,
                      users=tuple(p for p in principals if p.kind == "user"),
                      groups=tuple(p for p in principals if p.kind == "group"),
                      roles=tuple(p for p in principals if p.kind == "role"), **more)


def judge(snapshot: IamPosture) -> list[StateResult]:
    results = rule.evaluate_state(snapshot, Context(now=NOW))
    assert isinstance(results, list)
    for result in results:
        assert 0 < len(result.annotation) <= 256 and result.resource is not None
        assert result.compliance is Compliance.NON_COMPLIANT and result.violation is not None
    return results


@pytest.mark.parametrize("kind, config_type, asff_type", [
    ("user", "AWS::IAM::User", "AwsIamUser"),
    ("group", "AWS::IAM::Group", "AwsIamGroup"),
    ("role", "AWS::IAM::Role", "AwsIamRole"),
])
def test_each_principal_with_the_policy_is_non_compliant_as_its_own_type(kind, config_type, asff_type):
    holder = principal(kind, "shell", READ_ONLY, CLOUDSHELL, path="/ops/")
    [result] = judge(posture(holder, principal("role", "quiet", READ_ONLY)))
    resource = result.resource
    assert (resource.config_type, resource.config_id, resource.name, resource.key, resource.asff_type) == (
        config_type, IDS[kind], "shell", holder.arn, asff_type)
    assert result.annotation == f"AWSCloudShellFullAccess is attached to {kind} shell."
    violation = result.violation
    assert violation.description == (f"IAM {kind} shell in account {ACCOUNT} has AWSCloudShellFullAccess attached: "
                                     "it can move files in and out through CloudShell.")
    assert (violation.resource_id, violation.resource_type, violation.subject) == (holder.arn, asff_type, "shell")
    assert violation.details == {"PrincipalType": kind, "PrincipalName": "shell", "PolicyArn": CLOUDSHELL}
    assert violation.severity is None and rule.META.severity is Severity.LOW


def test_every_holder_is_reported_and_no_one_else():
    results = judge(posture(principal("user", "alice", CLOUDSHELL), principal("user", "bob", READ_ONLY),
                            principal("group", "ops", CLOUDSHELL), principal("role", "admin", CLOUDSHELL)))
    assert [(r.resource.config_type, r.resource.name) for r in results] == [
        ("AWS::IAM::User", "alice"), ("AWS::IAM::Group", "ops"), ("AWS::IAM::Role", "admin")]


def test_an_identity_center_reserved_role_is_reported_pointing_at_the_permission_set():
    reserved = principal("role", "AWSReservedSSO_Operators_0a1b2c3d4e5f6a7b", CLOUDSHELL,
                         path="/aws-reserved/sso.amazonaws.com/eu-west-1/")
    [result] = judge(posture(reserved))
    assert result.violation.details["ManagedBy"].startswith("IAM Identity Center: change the permission set")


def test_the_arn_is_the_accounts_partitions_compared_ignoring_case():
    [result] = judge(posture(principal("role", "r", "arn:aws:iam::aws:policy/awscloudshellfullaccess")))
    assert result.resource.name == "r"
    gov = principal("role", "g", "arn:aws-us-gov:iam::aws:policy/AWSCloudShellFullAccess", partition="aws-us-gov")
    [result] = judge(posture(gov, partition="aws-us-gov"))
    assert result.violation.details["PolicyArn"] == "arn:aws-us-gov:iam::aws:policy/AWSCloudShellFullAccess"


def test_a_customer_policy_of_the_same_name_is_not_the_aws_managed_one():
    copy = principal("role", "r", f"arn:aws:iam::{ACCOUNT}:policy/AWSCloudShellFullAccess")
    result = rule.evaluate_state(posture(copy), Context(now=NOW))
    assert isinstance(result, StateResult) and result.compliance is Compliance.COMPLIANT


def test_an_unknown_principal_id_names_it_to_aws_config_by_name():
    [result] = judge(posture(principal("user", "legacy", CLOUDSHELL, principal_id=None)))
    assert result.resource.config_id == "legacy"


def test_no_holder_is_one_compliant_account_result():
    for snapshot in (posture(principal("user", "bob", READ_ONLY)), posture()):
        result = rule.evaluate_state(snapshot, Context(now=NOW))
        assert isinstance(result, StateResult) and result.resource is None
        assert result.compliance is Compliance.COMPLIANT and result.violation is None
        assert "AWSCloudShellFullAccess" in result.annotation


def test_end_to_end_through_the_state_engine():
    alice, admin = principal("user", "alice", CLOUDSHELL), principal("role", "admin", CLOUDSHELL)
    evaluations = ENGINE.evaluate([RULE], [posture_subject(posture(alice, admin), "iam_posture")], Context(now=NOW),
                                  WHERE)
    assert len(evaluations) == 2  # users and roles are told to AWS Config one by one: no summing evaluation
    for evaluation, holder, config_type, asff_type in zip(evaluations, (alice, admin),
                                                           ("AWS::IAM::User", "AWS::IAM::Role"),
                                                           ("AwsIamUser", "AwsIamRole")):
        assert evaluation.finding.finding_id == state_finding_id(rule.META.id, WHERE, holder.arn)
        assert (evaluation.finding.compliance_status, evaluation.finding.severity) == ("FAILED", Severity.LOW)
        assert (evaluation.resource_type, evaluation.resource_id, evaluation.reported) == (
            config_type, holder.principal_id, True)
        document = to_asff(evaluation.finding, product_arn=PRODUCT_ARN, updated_at=NOW)
        assert_valid_asff(document)
        assert document["Resources"][0]["Type"] == asff_type and document["Resources"][0]["Id"] == holder.arn
    [clean] = ENGINE.evaluate([RULE], [posture_subject(posture(principal("user", "alice")), "iam_posture")],
                              Context(now=NOW), WHERE)
    assert clean.finding.finding_id == state_finding_id(rule.META.id, WHERE, account_key(ACCOUNT))
    assert clean.finding.compliance_status == "PASSED" and clean.resource_type == "AWS::::Account"
    assert_valid_asff(to_asff(clean.finding, product_arn=PRODUCT_ARN, updated_at=NOW))


def test_not_run_without_the_authorization_details():
    snapshot = posture(principal("user", "alice", CLOUDSHELL), unavailable=MappingProxyType({"authorization": "x"}))
    not_run: list[NotRun] = []
    assert ENGINE.evaluate([RULE], [posture_subject(snapshot, "iam_posture")], Context(now=NOW), WHERE,
                           not_run=not_run) == []
    assert [n.rule_id for n in not_run] == [rule.META.id]


def test_meta():
    meta = rule.META
    assert meta.id == rule.__name__.rsplit(".", 1)[-1] and meta.trigger is None
    assert (meta.state.resource_type, meta.state.subject, meta.state.reads) == (
        "AWS::::Account", "iam_posture", ("authorization",))
    assert meta.severity is Severity.LOW
    assert meta.compliance == ("CIS5 1.21", "CIS3 1.22", "FSBP IAM.27")
    assert len(meta.remediation) <= 512 and "aws iam detach-role-policy" in meta.remediation
