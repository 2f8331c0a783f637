"""An Identity Center reserved role (``AWSReservedSSO_<set>_<hash>``) in a member account no longer matches its
permission set: its policies or permissions boundary were changed outside Identity Center.

Decisions (spec/rules.md §B, Identity Center posture):
- Subject: the Identity Center instance (``IdentityCenterSnapshot``, periodic) with the reserved roles of every
  account the sweep could read (``reserved_roles``: account -> roles, read through the organisation role).
  One result per reserved role, its own resource: ``AWS::::Account`` of the instance's account for AWS Config
  (the role lives in another account), key the role ARN, ASFF type ``AwsIamRole``. Every finding names the
  member account. Accounts that could not be read (``unavailable["reserved_roles:<account>"]``) are not
  judged; the others are, and the sweep reports the unreadable ones.
- ``reads``: ``instance``, ``permission_sets`` and ``reserved_roles`` without the trailing ``:``. The sweep
  collects the parts its rules read, so without ``reserved_roles`` no role would be read at all; and the
  engine matches ``reserved_roles`` exactly: the rule is not run when no account's roles could be collected
  (``unavailable["reserved_roles"]``: no access to the member accounts), but still runs when only some
  accounts failed (``reserved_roles:<account>``, which a read ending in ``:`` would have covered).
- The permission set of a role: the role name is ``AWSReservedSSO_`` + the set's name + ``_`` + 16 hex digits,
  and set names may hold ``_``; the set whose name fits that way, the longest if several did (with the fixed
  16-digit suffix at most one can). Names compare exactly, as Identity Center writes them. A reserved role
  that fits no permission set of the instance is NON_COMPLIANT (HIGH): "matches no permission set" (a
  leftover of a deleted set, or a role made to look like one).
- A role in an account where its permission set's provisioning is outdated (``outdated_accounts``) is still
  compared: a difference there may be the older version of the set, or a change by hand, and the sweep cannot
  tell which (the older version is not kept), so it is NON_COMPLIANT at MEDIUM and says so. Never
  NOT_APPLICABLE: that would archive a drift found before the set was edited, and leave the role unwatched
  until someone provisions the set. Matching the set there is COMPLIANT.
- Compared, each difference named (NON_COMPLIANT, HIGH):
  * managed policies: the role's attached policy ARNs against the set's AWS managed policy ARNs plus its
    customer managed references resolved in the role's account (``CustomerManagedPolicyReference.arn_in``):
    "policy <arn> added" / "policy <arn> missing";
  * inline policy: the set's inline policy against the role's inline policy named ``AwsSSOInlinePolicy`` (the
    name Identity Center gives it), compared as parsed JSON (``parse_policy``: formatting and key order do
    not count, any other change does): "inline policy AwsSSOInlinePolicy changed / added / missing"; any
    other inline policy of the role is drift ("inline policy <name> added"). A document that cannot be parsed
    is a difference too ("cannot be compared"): never a silent pass;
  * permissions boundary: the role's against the set's (an AWS managed ARN, or the customer managed
    reference resolved in the account): "permissions boundary <arn> removed / added / changed to <arn>".
- ARNs compare ignoring case. IAM policy names are unique in an account regardless of case, and IAM resolves
  a policy ARN written in another case to the same policy (as :meth:`OrgPolicy.is_privileged_policy`
  assumes), so two ARNs that differ only in case name the same policy: a customer managed reference typed
  ``readonly-extra`` against the account's ``ReadOnly-Extra`` is no drift. Findings show the ARNs as the role
  holds them. Partition: the instance's (member accounts are in the organisation's partition).
- No instance: one NOT_APPLICABLE result; no reserved role in any account read: one NOT_APPLICABLE result.
- Also change-triggered (spec §B): when a role changes in any account of the organisation (an AWS Config
  organisation rule, ``DeployOrganizationIdentityCenterRules``), the Config function judges that one role
  from its configuration item against the permission sets read where Identity Center is administered: the
  same finding as the periodic sweep's (same Id), AWS Config told about the role itself; a role that is not
  reserved is NOT_APPLICABLE without a finding.
- AWS Config records no member account's roles here, so this rule is periodic only; the spec's change trigger
  on ``AWS::IAM::Role`` would belong to the member accounts' deployment.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import re

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
from identity_auditor.model.cloudtrail import RESERVED_SSO_ROLE_PREFIX, RESERVED_SSO_ROLE_SUFFIX
from identity_auditor.model.text import clip
from identity_auditor.rules._lib import identity_center
from identity_auditor.rules._lib.identity_center import state_result
from identity_auditor.rules._lib.trust import parse_policy


if TYPE_CHECKING:  # annotations only: the snapshots are built by the collectors, on the Config path
    from identity_auditor.model.snapshots import IdentityCenterSnapshot, PermissionSet, ReservedRole

INLINE_NAME = "AwsSSOInlinePolicy"  # the name Identity Center gives a permission set's inline policy on its roles
_SUFFIX = re.compile(RESERVED_SSO_ROLE_SUFFIX, re.ASCII)
_MAX_SHOWN = 5  # differences named in the description; details hold them all

META = RuleMeta(
    id="sso_reserved_role_drift",
    title="Identity Center reserved role differs from its permission set",
    severity=Severity.HIGH,
    trigger=None,
    state=StateTrigger("AWS::::Account", periodic=True, subject="identity_center",
                       reads=("instance", "permission_sets", "reserved_roles"), scope="identity_center",
                       change_triggered=True, change_type="AWS::IAM::Role"),
    resource_type="AwsIamRole",
    finding_types=(
        "Software and Configuration Checks/AWS Security Best Practices",
        "TTPs/Persistence",
        "TTPs/Privilege Escalation",
    ),
    why=(
        "Everyone the permission set is assigned to in that account gets the role's permissions, not the "
        "permission set's: a policy added to the reserved role quietly widens their access, and reviews of the "
        "permission set no longer describe it."
    ),
    remediation=(
        "Find who changed the role (CloudTrail, sso_reserved_role_modified findings). Undo the change in the member "
        "account (detach the added policies, restore the boundary), or re-provision the permission set to it (aws "
        "sso-admin provision-permission-set --target-type AWS_ACCOUNT). Make the change in the permission set "
        "if it is wanted, and deny changes to aws-reserved roles with an SCP."
    ),
    remediation_url="https://docs.aws.amazon.com/singlesignon/latest/userguide/referencingpermissionsets.html",
    compliance=(),
)


def evaluate_state(snapshot: IdentityCenterSnapshot, ctx: Context) -> StateResult | list[StateResult]:
    absent = identity_center.no_instance(snapshot)
    if absent is not None:
        return absent
    results = [_judge(snapshot, role) for account in sorted(snapshot.reserved_roles)
               for role in snapshot.reserved_roles[account]]
    if not results:
        read = len(snapshot.reserved_roles)
        unread = sum(1 for part in snapshot.unavailable if part.startswith("reserved_roles:"))
        return state_result(Compliance.NOT_APPLICABLE,
                            f"No Identity Center reserved role in the {read} account(s) read"
                            + (f"; {unread} account(s) could not be read." if unread else "."))
    return results


def permission_set_of(role_name: str, permission_sets: tuple[PermissionSet, ...]) -> PermissionSet | None:
    """The permission set a reserved role was made for: ``AWSReservedSSO_<name>_<16 hex digits>``, the longest
    ``<name>`` that fits (names may hold ``_``)."""
    fits = [ps for ps in permission_sets
            if ps.name and role_name.startswith(f"{RESERVED_SSO_ROLE_PREFIX}{ps.name}")
            and _SUFFIX.fullmatch(role_name[len(RESERVED_SSO_ROLE_PREFIX) + len(ps.name):])]
    return max(fits, key=lambda ps: len(ps.name), default=None)


def _judge(snapshot: IdentityCenterSnapshot, role: ReservedRole) -> StateResult:
    account = role.account_id
    role_name = clip(role.name, 64)
    resource = Resource("AWS::::Account", snapshot.account_id, f"{role_name} in {account}", role.arn, "AwsIamRole")
    permission_set = permission_set_of(role.name, snapshot.permission_sets)
    if permission_set is None:
        return _drift(snapshot, role, resource, None, ["matches no permission set of the instance"])
    set_name = clip(permission_set.name, 64)
    differences = (_managed(snapshot, permission_set, role) + _inline(permission_set, role)
                   + _boundary(snapshot, permission_set, role))
    if differences:
        return _drift(snapshot, role, resource, permission_set, differences,
                      outdated=account in permission_set.outdated_accounts)
    return state_result(Compliance.COMPLIANT, f"Role {role_name} in {account} matches permission set {set_name}.",
                        resource=resource)


def _managed(snapshot: IdentityCenterSnapshot, permission_set: PermissionSet, role: ReservedRole) -> list[str]:
    expected = list(permission_set.managed_policies) + [
        reference.arn_in(snapshot.partition, role.account_id) for reference in permission_set.customer_managed]
    wanted, held = {arn.casefold() for arn in expected}, {arn.casefold() for arn in role.attached}
    added = [f"policy {arn} added" for arn in dict.fromkeys(role.attached) if arn.casefold() not in wanted]
    missing = [f"policy {arn} missing" for arn in dict.fromkeys(expected) if arn.casefold() not in held]
    return added + missing


def _inline(permission_set: PermissionSet, role: ReservedRole) -> list[str]:
    differences = [f"inline policy {clip(policy.name, 128)} added" for policy in role.inline
                   if policy.name != INLINE_NAME]
    ours = next((policy for policy in role.inline if policy.name == INLINE_NAME), None)
    wanted = identity_center.has_inline(permission_set.inline_policy)
    if ours is None:
        return differences + ([f"inline policy {INLINE_NAME} missing"] if wanted else [])
    if not wanted:
        return differences + [f"inline policy {INLINE_NAME} added"]
    try:
        same = parse_policy(permission_set.inline_policy, "policy") == parse_policy(ours.document, "policy")
    except ValueError as error:
        why = clip(str(error), 120)
        return differences + [f"inline policy {INLINE_NAME} cannot be compared ({why})"]
    return differences + ([] if same else [f"inline policy {INLINE_NAME} changed"])


def _boundary(snapshot: IdentityCenterSnapshot, permission_set: PermissionSet, role: ReservedRole) -> list[str]:
    expected = permission_set.boundary_managed or (
        permission_set.boundary_customer.arn_in(snapshot.partition, role.account_id)
        if permission_set.boundary_customer else None)
    held = role.permissions_boundary
    if expected and not held:
        return [f"permissions boundary {expected} removed"]
    if held and not expected:
        return [f"permissions boundary {held} added"]
    if expected and held and expected.casefold() != held.casefold():
        return [f"permissions boundary changed from {expected} to {held}"]
    return []


def _drift(snapshot: IdentityCenterSnapshot, role: ReservedRole, resource: Resource,
           permission_set: PermissionSet | None, differences: list[str], *, outdated: bool = False) -> StateResult:
    role_name, account = clip(role.name, 64), role.account_id
    shown = "; ".join(differences[:_MAX_SHOWN]) + (f"; and {len(differences) - _MAX_SHOWN} more"
                                                   if len(differences) > _MAX_SHOWN else "")
    if permission_set is None:
        text = f"Reserved role {role_name} in account {account} matches no permission set of the instance"
    else:
        text = (f"Reserved role {role_name} in account {account} differs from permission set "
                f"{clip(permission_set.name, 64)}: {shown}")
        if outdated:
            text += (" (the set is not provisioned there since its last change: this may be its older version; "
                     "provision it, and if the difference stays it was made by hand)")
    details = {"MemberAccount": account, "RoleArn": role.arn, "InstanceArn": snapshot.instance_arn or ""}
    if permission_set is not None:
        details["PermissionSet"] = clip(permission_set.name, 64)
        details["PermissionSetArn"] = permission_set.arn
        details["Differences"] = clip("; ".join(differences), 2000)
    return state_result(
        Compliance.NON_COMPLIANT,
        f"{text}.",
        Violation(description=f"{text}.", resource_id=role.arn, resource_type="AwsIamRole", details=details,
                  subject=f"{role_name} in {account}", severity=Severity.MEDIUM if outdated else None),
        resource=resource,
    )
