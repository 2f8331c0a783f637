"""An Identity Center account assignment gives a permission set to a user directly, not through a group.

Decisions (spec/rules.md §B, Identity Center posture):
- Subject: the Identity Center instance (``IdentityCenterSnapshot``, periodic, where Identity Center is
  administered). One result per account assignment (``ListAccountAssignments``: ``AccountId``,
  ``PermissionSetArn``, ``PrincipalType``, ``PrincipalId``), each its own resource: ``AWS::::Account`` of the
  instance's account for AWS Config, key ``<permission set ARN>/assignment/<account>/<type>/<principal id>``,
  ASFF type ``Other``.
- NON_COMPLIANT (MEDIUM) when ``PrincipalType`` is ``USER``: access should follow group membership in the
  identity provider, where joiners, movers and leavers are handled. HIGH when the permission set is
  privileged (:func:`identity_auditor.rules._lib.identity_center.privileged`: listed, a privileged managed
  policy, or an inline policy granting ``*``/``iam:*`` on ``*``). An assignment whose permission set is not
  among the instance's (the lists were read moments apart) is judged by its ARN and ``ps-…`` id against
  ``privileged_permission_sets`` only.
- COMPLIANT for ``GROUP`` (any type but ``USER``), and for users whose ``UserName`` matches
  ``break_glass_users`` ("break-glass"; matched on the name only: identity store users have no IAM path). A
  user missing from the identity store listing (deleted, its assignment left behind) is named by its id and
  is never break-glass.
- The description names the user (``UserName``, else the user id), the permission set and the account.
- No instance: one NOT_APPLICABLE result; no assignment at all: one NOT_APPLICABLE result (nothing to judge).
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
from identity_auditor.model.policy import matches_any
from identity_auditor.model.text import clip
from identity_auditor.rules._lib import identity_center
from identity_auditor.rules._lib.identity_center import state_result

if TYPE_CHECKING:  # annotations only: the snapshots are built by the collectors, on the Config path
    from identity_auditor.model.snapshots import AccountAssignment, IdentityCenterSnapshot

META = RuleMeta(
    id="sso_account_assignment_to_user",
    title="Identity Center permission set assigned to a user",
    severity=Severity.MEDIUM,
    severity_note="HIGH when the permission set is privileged",
    trigger=None,
    state=StateTrigger("AWS::::Account", periodic=True, subject="identity_center",
                       reads=("instance", "assignments", "permission_sets"),
                       # names and break-glass come from the users, privilege from customer managed policies as
                       # created in the accounts: judged without them when they cannot be read (named by id, never
                       # break-glass, privileged as far as the set itself says)
                       optional=("users", "reserved_roles"), scope="identity_center"),
    resource_type="Other",
    finding_types=("Software and Configuration Checks/AWS Security Best Practices",),
    why=(
        "Access granted to a single user escapes the group membership the identity provider manages: it is "
        "missed by access reviews and survives role changes and, until the user is removed, departures."
    ),
    remediation=(
        "Add the user to a group of the identity provider that holds this access, assign the permission set "
        "to that group, then delete the user's assignment (aws sso-admin delete-account-assignment "
        "--principal-type USER). For emergency users, list their UserName in the organisation policy's "
        "break_glass_users."
    ),
    remediation_url="https://docs.aws.amazon.com/singlesignon/latest/userguide/useraccess.html",
    compliance=(),
)


def evaluate_state(snapshot: IdentityCenterSnapshot, ctx: Context) -> StateResult | list[StateResult]:
    absent = identity_center.no_instance(snapshot)
    if absent is not None:
        return absent
    if not snapshot.assignments:
        return state_result(Compliance.NOT_APPLICABLE, f"Identity Center instance {snapshot.instance_arn} has no "
                                                       "account assignments.")
    return [_judge(snapshot, assignment, ctx) for assignment in snapshot.assignments]


def _judge(snapshot: IdentityCenterSnapshot, assignment: AccountAssignment, ctx: Context) -> StateResult:
    permission_set = snapshot.permission_set(assignment.permission_set_arn)
    set_name = clip(permission_set.name if permission_set else assignment.permission_set_arn.rsplit("/", 1)[-1], 64)
    is_user = assignment.principal_type == "USER"
    user = snapshot.user(assignment.principal_id) if is_user else None
    if is_user:
        principal = clip(user.name if user and user.name else assignment.principal_id, 128)
    else:
        principal = clip(_group_name(snapshot, assignment), 128)
    kind = "user" if is_user else assignment.principal_type.lower() or "principal"
    resource = Resource(
        "AWS::::Account", snapshot.account_id, f"{set_name} for {kind} {principal} in {assignment.account_id}",
        f"{assignment.permission_set_arn}/assignment/{assignment.account_id}/{assignment.principal_type}/"
        f"{assignment.principal_id}",
        "Other",
    )
    if not is_user:
        return state_result(Compliance.COMPLIANT, f"Permission set {set_name} is assigned to {kind} {principal} in "
                                                  f"account {assignment.account_id}.", resource=resource)
    if user is not None and user.name and matches_any(user.name, ctx.policy.break_glass_users):
        return state_result(Compliance.COMPLIANT, f"User {principal} is a break-glass user (break_glass_users): its "
                                                  f"direct assignment of {set_name} in {assignment.account_id} is "
                                                  "expected.", resource=resource)
    if permission_set is None:  # only its ARN and id are known
        from identity_auditor.model.snapshots import PermissionSet

        permission_set = PermissionSet(assignment.permission_set_arn, "", None)
    known = permission_set
    reason = identity_center.privileged(known, ctx.policy, snapshot.customer_policies)
    details = {
        "InstanceArn": snapshot.instance_arn or "",
        "PermissionSet": set_name,
        "PermissionSetArn": assignment.permission_set_arn,
        "TargetAccount": assignment.account_id,
        "PrincipalType": assignment.principal_type,
        "PrincipalId": assignment.principal_id,
        "UserName": clip(user.name, 128) if user and user.name else "unknown (not in the identity store listing)",
    }
    if reason:
        details["Privileged"] = clip(reason, 256)
    what = f"privileged permission set {set_name}" if reason else f"permission set {set_name}"
    return state_result(
        Compliance.NON_COMPLIANT,
        f"User {principal} is assigned {what} directly in account {assignment.account_id}, not through a group.",
        Violation(
            description=(f"Identity Center user {principal} is assigned {what} directly in account "
                         f"{assignment.account_id}, not through a group"
                         + (f" ({clip(reason, 200)})." if reason else ".")),
            resource_id=resource.key,
            resource_type="Other",
            severity=Severity.HIGH if reason else None,
            details=details,
            subject=f"{principal} / {set_name} / {assignment.account_id}",
        ),
        resource=resource,
    )


def _group_name(snapshot: IdentityCenterSnapshot, assignment: AccountAssignment) -> str:
    group = snapshot.group(assignment.principal_id)
    return group.name if group and group.name else assignment.principal_id

