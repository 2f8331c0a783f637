"""An Identity Center user (or group) was created by hand in the identity store although an external identity
provider provisions them via SCIM.

Decisions (spec/rules.md §B, Identity Center posture):
- Only when the organisation policy says an external IdP provisions via SCIM (``external_idp_scim: true``);
  otherwise one NOT_APPLICABLE result: hand-made users are the normal case with the Identity Center directory.
- Subject: the Identity Center instance (``IdentityCenterSnapshot``, periodic). One result per identity store
  user, its own resource: ``AWS::::Account`` of the instance's account for AWS Config, key
  ``arn:<partition>:identitystore:::user/<user id>``, ASFF type ``Other``.
- A user without ``ExternalIds`` (``ListUsers``: the (Issuer, Id) pairs a SCIM provisioner sets) was made by
  hand: NON_COMPLIANT (MEDIUM). COMPLIANT with ``ExternalIds``, and for users whose ``UserName`` matches
  ``break_glass_users`` (an emergency user kept outside the IdP on purpose; matched on the name only).
- Groups (key ``…:identitystore:::group/<group id>``) are judged the same way only when the policy says the IdP
  sends ``externalId`` for groups (``scim_group_external_ids``): some IdPs do not, and every group would look
  hand-made. ``break_glass_users`` does not apply to groups.
- ``reads`` lists ``groups`` although groups are judged only under that knob: the engine checks ``reads``
  before the rule runs and cannot know the knob, and leaving ``groups`` out would let an unreadable group
  listing pass silently as "no hand-made groups" when the knob is on. The price: when the groups cannot be
  read, the users are not judged either in that sweep (the sweep says why).
- No instance: one NOT_APPLICABLE result; nothing to judge (no users, and no groups judged): one NOT_APPLICABLE
  result.
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
    from identity_auditor.model.snapshots import DirectoryPrincipal, IdentityCenterSnapshot

META = RuleMeta(
    id="identitystore_user_not_provisioned",
    title="Identity Center user not provisioned by the identity provider",
    severity=Severity.MEDIUM,
    trigger=None,
    state=StateTrigger("AWS::::Account", periodic=True, subject="identity_center",
                       reads=("instance", "users", "groups"), scope="identity_center"),
    resource_type="Other",
    finding_types=(
        "Software and Configuration Checks/AWS Security Best Practices",
        "TTPs/Persistence",
    ),
    why=(
        "A user created by hand in the identity store is outside the identity provider: disabling the person "
        "there does not remove them here, and their password and MFA follow no corporate policy. Hand-made "
        "users are also a way to keep access after losing it."
    ),
    remediation=(
        "Find who created the user (CloudTrail CreateUser from identitystore.amazonaws.com). If the person needs "
        "access, provision them from the identity provider and delete the hand-made user (aws identitystore "
        "delete-user); for an emergency user, list its UserName in the organisation policy's break_glass_users."
    ),
    remediation_url="https://docs.aws.amazon.com/singlesignon/latest/userguide/provision-automatically.html",
    compliance=(),
)


def evaluate_state(snapshot: IdentityCenterSnapshot, ctx: Context) -> StateResult | list[StateResult]:
    absent = identity_center.no_instance(snapshot)
    if absent is not None:
        return absent
    if not ctx.policy.external_idp_scim:
        return state_result(Compliance.NOT_APPLICABLE, "The organisation policy does not say an external identity "
                                                       "provider provisions users via SCIM (external_idp_scim).")
    groups = snapshot.groups if ctx.policy.scim_group_external_ids else ()
    results = [_judge(snapshot, principal, ctx) for principal in snapshot.users + groups]
    if not results:
        judged = "users or groups" if ctx.policy.scim_group_external_ids else "users"
        return state_result(Compliance.NOT_APPLICABLE,
                            f"Identity store {snapshot.identity_store_id or '(unknown)'} holds no {judged}.")
    return results


def _judge(snapshot: IdentityCenterSnapshot, principal: DirectoryPrincipal, ctx: Context) -> StateResult:
    is_user = principal.kind == "USER"
    kind = "user" if is_user else "group"
    name = clip(principal.name or principal.principal_id, 128)
    key = (identity_center.user_arn(snapshot.partition, principal.principal_id) if is_user
           else f"arn:{snapshot.partition}:identitystore:::group/{principal.principal_id}")
    resource = Resource("AWS::::Account", snapshot.account_id, name, key, "Other")
    if is_user and principal.name and matches_any(principal.name, ctx.policy.break_glass_users):
        return state_result(Compliance.COMPLIANT, f"User {name} is a break-glass user (break_glass_users): kept "
                                                  "outside the identity provider on purpose.", resource=resource)
    if principal.external_ids:
        issuers = ", ".join(dict.fromkeys(clip(issuer, 64) for issuer, _ in principal.external_ids))
        return state_result(Compliance.COMPLIANT, f"The {kind} {name} is provisioned by the identity provider "
                                                  f"(ExternalIds from {issuers}).", resource=resource)
    store = snapshot.identity_store_id or "(unknown)"
    details = {"IdentityStoreId": store, f"{kind.capitalize()}Id": principal.principal_id,
               "UserName" if is_user else "DisplayName": name, "ExternalIds": "none"}
    if is_user and principal.display_name:
        details["DisplayName"] = clip(principal.display_name, 128)
    return state_result(
        Compliance.NON_COMPLIANT,
        f"The {kind} {name} has no ExternalIds: created by hand, not provisioned by the identity provider.",
        Violation(
            description=(f"Identity Center {kind} {name} ({principal.principal_id}) of identity store {store} "
                         f"(account {snapshot.account_id}) has no ExternalIds: it was created by hand, not "
                         "provisioned by the identity provider via SCIM."),
            resource_id=key,
            resource_type="Other",
            details=details,
            subject=name,
        ),
        resource=resource,
    )
