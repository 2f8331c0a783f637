"""iam_support_role_missing (IAM posture state rule) on principals as ``GetAccountAuthorizationDetails`` returns
them: ``UserDetailList`` / ``GroupDetailList`` / ``RoleDetailList`` with ``AttachedManagedPolicies[].PolicyArn``
(the AWS managed ``arn:<partition>:iam::aws:policy/AWSSupportAccess``), built by hand as ``IamPrincipal``."""

from __future__ import annotations

from datetime import datetime, timezone
from types import MappingProxyType

import pytest
from asff_validator import assert_valid_asff
from identity_auditor.engine.registry import Registry, Rule
from identity_auditor.engine.state import NotRun, StateEngine, account_key, posture_subject, state_finding_id
from identity_auditor.model.contract import Compliance, Context, Severity, StateResult
from identity_auditor.model.home import Home
from identity_auditor.model.snapshots import IamPosture, IamPrincipal, InlinePolicy
from identity_auditor.rules import iam_support_role_missing as rule
from identity_auditor.sinks.asff import to_asff

ACCOUNT = "123456789012"
REGION = "us-east-1"
NOW = datetime(2026, 11, 22, 6, 0, tzinfo=timezone.utc)
WHERE = Home(ACCOUNT, REGION, "aws")
PRODUCT_ARN = f"arn:aws:securityhub:{REGION}:{ACCOUNT}:product/{ACCOUNT}/default"
SUPPORT = "arn:aws:iam::aws:policy/AWSSupportAccess"
RULE = Rule(rule.META, None, rule.evaluate_state)
ENGINE = StateEngine(Registry([RULE]))


def principal(kind: str, name: str, *attached: str, partition: str = "aws", inline=()) -> IamPrincipal:
    prefix = {"user": "AIDA", "group": "AGPA", "role": "AROA"}[kind]
    return IamPrincipal(kind=kind, name=name, arn=f"arn:{partition}:iam::{ACCOUNT}:{kind}/{name}",
                        principal_id=f"{prefix}{name.upper()[:10]:X<17}", path="/", attached=attached,
                        inline=tuple(inline))


def posture(*principals: IamPrincipal, partition: str = "aws", **more) -> IamPosture:
    return IamPosture(account_id=ACCOUNT, partition=partition,
                      users=tuple(p for p in principals if p.kind == "user"),
                      groups=tuple(p for p in principals if p.kind == "group"),
                      roles=tuple(p for p in principals if p.kind == "role"), **more)


def judge(snapshot: IamPosture) -> StateResult:
    result = rule.evaluate_state(snapshot, Context(now=NOW))
    assert isinstance(result, StateResult) and result.resource is None  # one account-level result
    assert 0 < len(result.annotation) <= 256
    assert (result.violation is not None) == (result.compliance is Compliance.NON_COMPLIANT)
    return result


@pytest.mark.parametrize("holder, named", [
    (principal("role", "aws-support", SUPPORT), "role aws-support"),
    (principal("group", "support-team", "arn:aws:iam::aws:policy/ReadOnlyAccess", SUPPORT), "group support-team"),
    (principal("user", "helpdesk", SUPPORT), "user helpdesk"),
])
def test_any_user_group_or_role_with_the_policy_is_a_support_role(holder, named):
    result = judge(posture(principal("role", "deploy", "arn:aws:iam::aws:policy/PowerUserAccess"), holder))
    assert result.compliance is Compliance.COMPLIANT
    assert result.annotation == f"AWSSupportAccess is attached to {named}."


def test_the_annotation_names_a_role_first_and_counts_the_others():
    result = judge(posture(principal("user", "helpdesk", SUPPORT), principal("group", "support", SUPPORT),
                           principal("role", "aws-support", SUPPORT)))
    assert result.annotation == "AWSSupportAccess is attached to role aws-support (and 2 more)."


def test_the_arn_is_compared_ignoring_case_in_the_accounts_partition():
    assert judge(posture(principal("role", "s", "arn:aws:iam::aws:policy/awssupportaccess"))).compliance is \
        Compliance.COMPLIANT
    gov = posture(principal("role", "s", "arn:aws-us-gov:iam::aws:policy/AWSSupportAccess", partition="aws-us-gov"),
                  partition="aws-us-gov")
    assert judge(gov).compliance is Compliance.COMPLIANT
    # the commercial partition's ARN does not exist in GovCloud
    assert judge(posture(principal("role", "s", SUPPORT), partition="aws-us-gov")).compliance is \
        Compliance.NON_COMPLIANT


def test_no_holder_is_non_compliant():
    copy = f"arn:aws:iam::{ACCOUNT}:policy/AWSSupportAccess"  # a customer managed copy does not count
    inline = InlinePolicy("support", {"Version": "2012-10-17",
                                      "Statement": [{"Effect": "Allow", "Action": "support:*", "Resource": "*"}]})
    result = judge(posture(principal("role", "support", copy, inline=(inline,)), principal("user", "alice")))
    assert result.compliance is Compliance.NON_COMPLIANT
    assert result.annotation == "No IAM user, group or role has the AWS managed policy AWSSupportAccess attached."
    violation = result.violation
    assert violation.description.startswith(f"No IAM user, group or role in account {ACCOUNT} has AWSSupportAccess")
    assert violation.resource_id == account_key(ACCOUNT) and violation.subject == ACCOUNT
    assert violation.details == {"PolicyArn": SUPPORT} and violation.severity is None


def test_an_account_without_principals_has_no_support_role():
    assert judge(posture()).compliance is Compliance.NON_COMPLIANT


def test_end_to_end_through_the_state_engine():
    subject = posture_subject(posture(principal("user", "alice")), "iam_posture")
    [failed] = ENGINE.evaluate([RULE], [subject], Context(now=NOW), WHERE)
    assert failed.finding.finding_id == state_finding_id(rule.META.id, WHERE, account_key(ACCOUNT))
    assert (failed.resource_type, failed.resource_id, failed.compliance) == (
        "AWS::::Account", ACCOUNT, Compliance.NON_COMPLIANT)
    assert (failed.finding.compliance_status, failed.finding.severity) == ("FAILED", Severity.LOW)
    document = to_asff(failed.finding, product_arn=PRODUCT_ARN, updated_at=NOW)
    assert_valid_asff(document)
    assert document["Resources"][0] == {"Type": "AwsAccount", "Id": account_key(ACCOUNT), "Partition": "aws",
                                        "Region": REGION}
    fixed = posture_subject(posture(principal("role", "aws-support", SUPPORT)), "iam_posture")
    [passed] = ENGINE.evaluate([RULE], [fixed], Context(now=NOW), WHERE)
    assert passed.finding.finding_id == failed.finding.finding_id
    assert passed.finding.compliance_status == "PASSED"
    assert_valid_asff(to_asff(passed.finding, product_arn=PRODUCT_ARN, updated_at=NOW))


def test_not_run_without_the_authorization_details():
    snapshot = posture(unavailable=MappingProxyType({"authorization": "AccessDenied"}))
    not_run: list[NotRun] = []
    assert ENGINE.evaluate([RULE], [posture_subject(snapshot, "iam_posture")], Context(now=NOW), WHERE,
                           not_run=not_run) == []
    assert [n.reason for n in not_run] == ["authorization: AccessDenied"]


def test_meta():
    meta = rule.META
    assert meta.id == rule.__name__.rsplit(".", 1)[-1] and meta.trigger is None
    assert (meta.state.resource_type, meta.state.subject, meta.state.reads) == (
        "AWS::::Account", "iam_posture", ("authorization",))
    assert meta.severity is Severity.LOW and meta.resource_type == "AwsAccount"
    assert meta.compliance == ("CIS5 1.16", "CIS3 1.17", "FSBP IAM.18")
    assert len(meta.remediation) <= 512 and "aws iam attach-role-policy" in meta.remediation
