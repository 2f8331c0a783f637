"""An IAM user has managed or inline policies attached directly instead of getting permissions through groups.

Decisions (spec/rules.md §B, IAM posture):
- Subject: the account's IAM posture (``GetAccountAuthorizationDetails``, part ``authorization``: not run when it
  could not be read). One result per IAM user: ``AWS::IAM::User`` with the AIDA... unique id as AWS Config's
  resource id (the user name when the id is unknown), filed under the user's ARN.
- NON_COMPLIANT (LOW) when the user has at least one attached managed policy (AWS or customer managed) or one
  inline policy, whatever the policy grants: a read-only or deny-only policy attached to a user is still a
  permission that group membership does not show (CIS 1.14, FSBP IAM.2 count any). The permissions boundary
  is not a permissions policy and does not count; group membership is what the rule asks for.
- Break-glass users (policy ``break_glass_users``) are judged too: CIS makes no exception, and an accepted one
  belongs in a ``suppress`` entry with its reason, owner and expiry.
- COMPLIANT for every user without such policies, so a fixed user's finding becomes PASSED. An account without
  IAM users gets one account-level COMPLIANT result.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

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
    id="iam_user_policy_attached_directly",
    title="IAM user has policies attached directly",
    severity=Severity.LOW,
    trigger=None,
    state=StateTrigger("AWS::::Account", periodic=True, subject="iam_posture", reads=("authorization",)),
    resource_type="AwsIamUser",
    finding_types=(
        "Software and Configuration Checks/Industry and Regulatory Standards/CIS AWS Foundations Benchmark",
        "Software and Configuration Checks/AWS Security Best Practices",
    ),
    why=(
        "Permissions attached to individual users are hard to review and easy to forget when people change "
        "roles. Granting them through groups keeps who-can-do-what in one place."
    ),
    remediation=(
        "Put the user in a group that carries the permissions (aws iam add-user-to-group), then remove the "
        "user's own policies: aws iam detach-user-policy --user-name <user> --policy-arn <arn> for managed "
        "policies and aws iam delete-user-policy --user-name <user> --policy-name <name> for inline ones. "
        "Better, replace IAM users with IAM Identity Center."
    ),
    remediation_url="https://docs.aws.amazon.com/IAM/latest/UserGuide/access_policies_manage-attach-detach.html",
    compliance=("CIS5 1.14", "CIS3 1.15", "FSBP IAM.2"),
)

_SHOWN = 5  # policy names listed in an annotation


def evaluate_state(posture: IamPosture, ctx: Context) -> StateResult | list[StateResult]:
    if not posture.users:
        return StateResult(Compliance.COMPLIANT,
                           f"Account {posture.account_id} has no IAM users: no policy is attached to a user.")
    return [_judge(user, posture.account_id) for user in posture.users]


def _judge(user: IamPrincipal, account_id: str) -> StateResult:
    resource = Resource("AWS::IAM::User", user.principal_id or user.name, user.name, user.arn, "AwsIamUser")
    name = clip(user.name, 64)
    managed = [arn.rsplit("/", 1)[-1] for arn in user.attached]
    inline = [policy.name for policy in user.inline]
    groups = clip(f"groups: {', '.join(user.groups)}", 40) if user.groups else "in no group"
    if not managed and not inline:
        return StateResult(Compliance.COMPLIANT,
                           clip(f"IAM user {name} has no policy attached directly ({groups}).", 256),
                           resource=resource)
    counts = " and ".join(part for part in (
        f"{len(managed)} managed" if managed else "", f"{len(inline)} inline" if inline else "") if part)
    plural = "policy" if len(managed) + len(inline) == 1 else "policies"
    listed = clip(", ".join([*managed, *(f"{policy} (inline)" for policy in inline)][:_SHOWN]), 60)
    more = len(managed) + len(inline) - _SHOWN
    details = {"UserName": user.name, "Groups": ", ".join(user.groups) or "none"}
    if managed:
        details["AttachedManagedPolicies"] = clip(", ".join(user.attached), 1024)
    if inline:
        details["InlinePolicies"] = clip(", ".join(inline), 1024)
    return StateResult(
        Compliance.NON_COMPLIANT,
        clip(f"IAM user {name} has {counts} {plural} attached directly: {listed}"
             f"{f' and {more} more' if more > 0 else ''} ({groups}).", 256),
        Violation(
            description=f"IAM user {user.name} in account {account_id} has {counts} {plural} attached directly.",
            resource_id=user.arn,
            resource_type="AwsIamUser",
            details=details,
            subject=user.name,
        ),
        resource=resource,
    )
