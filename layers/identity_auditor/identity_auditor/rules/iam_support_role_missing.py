"""No IAM user, group or role of the account has the AWS managed policy AWSSupportAccess (no support role).

Decisions (spec/rules.md §B, IAM posture):
- Subject: the account's IAM posture (``GetAccountAuthorizationDetails``, part ``authorization``: not run when it
  could not be read). One account-level result (``AWS::::Account``), as FSBP IAM.18 judges the account.
- COMPLIANT when any user, group or role has ``arn:<partition>:iam::aws:policy/AWSSupportAccess`` attached (the
  partition is the account's; the ARN is compared ignoring case, as IAM resolves it); the annotation names one
  holder (roles first, then groups, then users) and how many there are.
- NON_COMPLIANT (LOW) otherwise. A customer managed copy of the policy, or an inline policy allowing
  ``support:*``, does not count: CIS 1.16 and FSBP IAM.18 look for the AWS managed policy, which AWS keeps
  current as AWS Support adds actions.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from identity_auditor.model.contract import (
    Compliance,
    Context,
    RuleMeta,
    Severity,
    StateResult,
    StateTrigger,
    Violation,
)
from identity_auditor.model.text import clip


if TYPE_CHECKING:  # annotations only: the snapshots are built by the collectors, on the Config path
    from identity_auditor.model.snapshots import IamPosture

META = RuleMeta(
    id="iam_support_role_missing",
    title="No IAM support role to manage incidents with AWS Support",
    severity=Severity.LOW,
    trigger=None,
    state=StateTrigger("AWS::::Account", periodic=True, subject="iam_posture", reads=("authorization",)),
    resource_type="AwsAccount",
    finding_types=(
        "Software and Configuration Checks/Industry and Regulatory Standards/CIS AWS Foundations Benchmark",
        "Software and Configuration Checks/AWS Security Best Practices",
    ),
    why=(
        "During an incident someone must be able to open and follow AWS Support cases without reaching for "
        "root or an administrator; a dedicated support role gives exactly that."
    ),
    remediation=(
        "Create a role for the people who work with AWS Support and attach the AWS managed policy: aws iam "
        "create-role --role-name aws-support --assume-role-policy-document file://trust.json, then aws iam "
        "attach-role-policy --role-name aws-support --policy-arn arn:aws:iam::aws:policy/AWSSupportAccess "
        "(or attach it to a group, or grant it through an IAM Identity Center permission set)."
    ),
    remediation_url="https://docs.aws.amazon.com/awssupport/latest/user/accessing-support.html",
    compliance=("CIS5 1.16", "CIS3 1.17", "FSBP IAM.18"),
)


def evaluate_state(posture: IamPosture, ctx: Context) -> StateResult:
    arn = posture.managed_policy_arn("AWSSupportAccess")
    holders = sorted(posture.holders(arn), key=lambda principal: principal.kind != "role")  # a role named first
    if holders:
        first = holders[0]
        more = f" (and {len(holders) - 1} more)" if len(holders) > 1 else ""
        return StateResult(Compliance.COMPLIANT,
                           clip(f"AWSSupportAccess is attached to {first.kind} {first.name}{more}.", 256))
    account = posture.account_id
    return StateResult(
        Compliance.NON_COMPLIANT,
        "No IAM user, group or role has the AWS managed policy AWSSupportAccess attached.",
        Violation(
            description=f"No IAM user, group or role in account {account} has AWSSupportAccess: no one can manage "
                        "AWS Support cases without broader access.",
            resource_id=f"AWS::::Account:{account}",
            details={"PolicyArn": arn},
            subject=account,
        ),
    )
