"""The AWS managed policy AWSCloudShellFullAccess is attached to an IAM user, group or role.

Decisions (spec/rules.md §B, IAM posture):
- Subject: the account's IAM posture (``GetAccountAuthorizationDetails``, part ``authorization``: not run when it
  could not be read). One NON_COMPLIANT (LOW) result per user, group or role of the account with
  ``arn:<partition>:iam::aws:policy/AWSCloudShellFullAccess`` attached (compared ignoring case, as IAM resolves
  it), with its own AWS Config type (``AWS::IAM::User``, ``AWS::IAM::Group``, ``AWS::IAM::Role``, the AIDA.../
  AGPA.../AROA... id; the name when the id is unknown), filed under its ARN. The policy lets its holder upload and
  download files through CloudShell, a way out for data that bypasses the network controls (CIS 1.21, IAM.27).
- Principals without it are not judged one by one (that would be one PASSED finding per principal of the
  account each sweep): when the policy is detached, the sweep archives that principal's finding as a resource no
  longer judged. No principal with it: one account-level COMPLIANT result.
- Identity Center's ``AWSReservedSSO_*`` roles are reported too (the policy came from a permission set; the
  finding says to fix the permission set), as are service-linked roles, which never carry it in practice.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from identity_auditor.model.cloudtrail import is_reserved_sso_role
from identity_auditor.model.contract import (
    Compliance,
    Context,
    Resource,
    RuleMeta,
    Severity,
    StateResult,
    StateTrigger,
    Violation,
)
from identity_auditor.model.text import clip


if TYPE_CHECKING:  # annotations only: the snapshots are built by the collectors, on the Config path
    from identity_auditor.model.snapshots import IamPosture, IamPrincipal

META = RuleMeta(
    id="iam_cloudshell_full_access_attached",
    title="AWSCloudShellFullAccess is attached to an IAM principal",
    severity=Severity.LOW,
    trigger=None,
    state=StateTrigger("AWS::::Account", periodic=True, subject="iam_posture", reads=("authorization",)),
    resource_type="AwsIamRole",
    finding_types=(
        "Software and Configuration Checks/Industry and Regulatory Standards/CIS AWS Foundations Benchmark",
        "Software and Configuration Checks/AWS Security Best Practices",
    ),
    why=(
        "AWSCloudShellFullAccess lets its holder move files in and out of a shell with internet access, a "
        "channel for data exfiltration that network controls do not see."
    ),
    remediation=(
        "Detach the policy: aws iam detach-role-policy --role-name <role> --policy-arn "
        "arn:aws:iam::aws:policy/AWSCloudShellFullAccess (detach-user-policy / detach-group-policy for users and "
        "groups). Where CloudShell is needed, grant a policy that denies cloudshell:GetFileDownloadUrls and "
        "cloudshell:GetFileUploadUrls. For an AWSReservedSSO_ role, change the permission set."
    ),
    remediation_url="https://docs.aws.amazon.com/cloudshell/latest/userguide/sec-auth-with-identities.html",
    compliance=("CIS5 1.21", "CIS3 1.22", "FSBP IAM.27"),
)

# principal kind -> (AWS Config type, ASFF type)
TYPES = {"user": ("AWS::IAM::User", "AwsIamUser"), "group": ("AWS::IAM::Group", "AwsIamGroup"),
         "role": ("AWS::IAM::Role", "AwsIamRole")}


def evaluate_state(posture: IamPosture, ctx: Context) -> StateResult | list[StateResult]:
    arn = posture.managed_policy_arn("AWSCloudShellFullAccess")
    holders = posture.holders(arn)
    if not holders:
        return StateResult(Compliance.COMPLIANT,
                           "No IAM user, group or role has the AWS managed policy AWSCloudShellFullAccess attached.")
    return [_judge(principal, posture.account_id, arn) for principal in holders]


def _judge(principal: IamPrincipal, account_id: str, arn: str) -> StateResult:
    config_type, asff_type = TYPES.get(principal.kind, ("AWS::::Account", "Other"))
    config_id = principal.principal_id or principal.name if config_type != "AWS::::Account" else account_id
    resource = Resource(config_type, config_id, principal.name, principal.arn, asff_type)
    details = {"PrincipalType": principal.kind, "PrincipalName": principal.name, "PolicyArn": arn}
    if principal.kind == "role" and is_reserved_sso_role(principal.name, principal.path):
        details["ManagedBy"] = "IAM Identity Center: change the permission set, the role is re-provisioned from it"
    return StateResult(
        Compliance.NON_COMPLIANT,
        clip(f"AWSCloudShellFullAccess is attached to {principal.kind} {principal.name}.", 256),
        Violation(
            description=f"IAM {principal.kind} {principal.name} in account {account_id} has AWSCloudShellFullAccess "
                        "attached: it can move files in and out through CloudShell.",
            resource_id=principal.arn,
            resource_type=asff_type,
            details=details,
            subject=principal.name,
        ),
        resource=resource,
    )
