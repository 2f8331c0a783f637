"""A customer managed policy in use, or an inline policy, allows every action on every resource ("*" on "*").

Decisions (spec/rules.md §B, IAM posture):
- Subject: the account's IAM posture (``GetAccountAuthorizationDetails``, part ``authorization``: not run when it
  could not be read). Judged, one result each:
  * every customer managed policy attached to something (``AttachmentCount`` > 0), its default version:
    ``AWS::IAM::Policy`` with the ANPA... policy id as AWS Config's resource id (the name when unknown), filed
    under the policy ARN. Unattached policies grant nothing and are not judged (FSBP IAM.1 checks attached ones
    only): when an attached one is detached, the sweep archives its finding as a resource no longer judged.
    AWS managed policies (``AdministratorAccess``) are not judged: AWS owns them, and attaching them is
    ``iam_admin_policy_attached``'s and the privileged checks' concern;
  * every inline policy of every user, group and role of the account: ``AWS::::Account`` (AWS Config records no
    inline policies), filed under ``<principal ARN>/inline/<policy name>``, ASFF type ``Other``. Inline policies
    of Identity Center's ``AWSReservedSSO_*`` roles are judged too (a permission set's inline policy lands
    there); the finding says so, since the fix is in the permission set, not the role.
- "Allows ``*`` on ``*``" is FSBP IAM.1's / CIS's test, :func:`rules._lib.permissions.full_admin`: an ``Allow``
  statement whose ``Action`` covers every action (``*``, ``*:*``) on a ``Resource`` covering every ARN (``*``),
  with or without a ``Condition``. ``iam:*`` alone, ``NotAction`` and ``NotResource`` do not make this rule fire
  (they are ``admin_grant``'s broader notion of administrative power).
- NON_COMPLIANT (MEDIUM) only when a readable statement grants it. A document that cannot be read (missing,
  not JSON, a statement that cannot be judged and no readable grant) is NOT_APPLICABLE for that policy, the
  reason in the annotation: never a silent pass, never a guess.
- Nothing to judge (no attached customer managed policy, no inline policy): one account-level COMPLIANT result.
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
from identity_auditor.rules._lib.permissions import full_admin


if TYPE_CHECKING:  # annotations only: the snapshots are built by the collectors, on the Config path
    from identity_auditor.model.snapshots import IamPosture, IamPrincipal, InlinePolicy, ManagedPolicy

META = RuleMeta(
    id="iam_policy_full_admin",
    title="IAM policy allows full administrative privileges",
    severity=Severity.MEDIUM,
    trigger=None,
    state=StateTrigger("AWS::::Account", periodic=True, subject="iam_posture", reads=("authorization",)),
    resource_type="AwsIamPolicy",
    finding_types=(
        "Software and Configuration Checks/Industry and Regulatory Standards/CIS AWS Foundations Benchmark",
        "Software and Configuration Checks/AWS Security Best Practices",
    ),
    why=(
        "A policy that allows every action on every resource makes whoever holds it an administrator of the "
        "account, far beyond what a task needs; one leaked credential then owns everything."
    ),
    remediation=(
        "Replace the \"Action\": \"*\" on \"Resource\": \"*\" statement with the actions and resources the holders "
        "need (IAM Access Analyzer can generate a policy from their activity). Managed: aws iam "
        "create-policy-version --policy-arn <arn> --policy-document file://least.json --set-as-default; inline: "
        "aws iam put-role-policy (or put-user-policy, put-group-policy) with the narrowed document. For an "
        "AWSReservedSSO_ role, fix the permission set."
    ),
    remediation_url="https://docs.aws.amazon.com/IAM/latest/UserGuide/access_policies_manage-edit.html",
    compliance=("CIS5 1.15", "CIS3 1.16", "FSBP IAM.1"),
)

def evaluate_state(posture: IamPosture, ctx: Context) -> StateResult | list[StateResult]:
    results = [_managed(policy, posture.account_id) for policy in posture.policies
               if not policy.aws_managed and policy.attachment_count > 0]
    results += [_inline(principal, policy, posture.account_id)
                for principal in posture.principals for policy in principal.inline]
    if not results:
        return StateResult(Compliance.COMPLIANT,
                           f"Account {posture.account_id} has no attached customer managed policy and no inline "
                           "policy: none allows * on *.")
    return results


def _managed(policy: ManagedPolicy, account_id: str) -> StateResult:
    resource = Resource("AWS::IAM::Policy", policy.policy_id or policy.name, policy.name, policy.arn, "AwsIamPolicy")
    label = f"customer managed policy {clip(policy.name, 128)}"
    attached = f"attached {policy.attachment_count} time{'s' if policy.attachment_count != 1 else ''}"
    return _verdict(policy.document, resource, label, f"{label} ({attached}) in account {account_id}",
                    {"PolicyName": policy.name, "PolicyArn": policy.arn,
                     "AttachmentCount": str(policy.attachment_count)}, "AwsIamPolicy")


def _inline(principal: IamPrincipal, policy: InlinePolicy, account_id: str) -> StateResult:
    kind = principal.kind
    name = f"{policy.name} (inline, {kind} {principal.name})"
    key = f"{principal.arn}/inline/{policy.name}"
    resource = Resource("AWS::::Account", account_id, name, key, "Other")
    label = f"inline policy {clip(policy.name, 128)} of {kind} {clip(principal.name, 64)}"
    details = {"PolicyName": policy.name, "PrincipalType": kind, "PrincipalName": principal.name,
               "PrincipalArn": principal.arn}
    if kind == "role" and is_reserved_sso_role(principal.name, principal.path):
        details["ManagedBy"] = "IAM Identity Center: fix the permission set, the role is re-provisioned from it"
    return _verdict(policy.document, resource, label, f"{label} in account {account_id}", details, "Other")


def _verdict(document, resource: Resource, label: str, described: str, details: dict[str, str],
             asff_type: str) -> StateResult:
    if document is None:
        return StateResult(Compliance.NOT_APPLICABLE,
                           clip(f"The document of {label} could not be read: whether it allows * on * is unknown.",
                                256), resource=resource)
    try:
        grant = full_admin(document)
    except ValueError as error:
        return StateResult(Compliance.NOT_APPLICABLE, clip(f"The document of {label} cannot be judged: {error}.", 256),
                           resource=resource)
    if grant is None:
        return StateResult(Compliance.COMPLIANT, clip(f"No statement of {label} allows * on *.", 256),
                           resource=resource)
    return StateResult(
        Compliance.NON_COMPLIANT,
        clip(f"{label[0].upper()}{label[1:]} allows every action on every resource: {grant}.", 256),
        Violation(
            description=f"The {described} allows every action on every resource ({grant}).",
            resource_id=resource.key,
            resource_type=asff_type,
            details={**details, "Grant": clip(grant, 1024)},
            subject=resource.name,
        ),
        resource=resource,
    )
