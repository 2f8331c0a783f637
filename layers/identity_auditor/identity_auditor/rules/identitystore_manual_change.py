"""A user, group or group membership was changed by hand in an identity store that SCIM provisions.

When an external IdP provisions Identity Center through SCIM, the IdP is the source of truth: a user or
membership created in Identity Center directly escapes the IdP's joiner/mover/leaver process and its
access reviews (and a group membership added by hand can grant an admin permission set).

Decisions (spec/rules.md §A; event names and sources from the IAM Identity Center user guide: the public
Identity Store API logs as identitystore.amazonaws.com, the console's calls as
sso-directory.amazonaws.com, SCIM as identitystore-scim.amazonaws.com):
- Two event sources. ``META.trigger`` covers identitystore.amazonaws.com; :data:`ALSO` lists the
  sso-directory.amazonaws.com names (``META.also``).
- Only when ``policy.external_idp_scim`` is true; with the default policy the rule never fires.
- SCIM is not a manual change: event source ``identitystore-scim.amazonaws.com`` or caller type
  ``WebIdentityUser`` (the SCIM bearer token). Identity Center acting on its own behalf is skipped too.
- Allow-listed callers (``policy.allow[rule id]``, matched against the caller's ARN and its session
  issuer's role ARN) are skipped: some IdP integrations sync through the Identity Store API from a role.
- Success only. MEDIUM. The resource is the user, group or membership when the request or response names
  it (ARN forms ``arn:<partition>:identitystore:::user|group|membership/<id>``), else the identity store.
- Both record shapes (AWS Security Blog, "Important changes to CloudTrail events for AWS IAM Identity
  Center", 2024-11-19, updated 2025-11-26): administrative writes keep their caller (an ``AssumedRole``
  session in the blog's CreateGroup example), but since July 2025 a group's ``displayName`` in
  ``CreateGroup`` / ``UpdateGroup`` reads ``HIDDEN_DUE_TO_SECURITY_REASONS``. The group is therefore
  named by its id; a display name is added to the details only when the record shows a real one (older
  records). SCIM is recognised by event source and caller type, which did not change. A caller that is
  an Identity Center user (``IdentityCenterUser``, named only by ``onBehalfOf.userId``) is named by that
  id. Samples: ``identitystore_create_group_display_name_hidden__constructed`` (fires when the policy
  says SCIM), ``identitystore_update_group_failed__constructed`` (quiet).
"""

from __future__ import annotations

from identity_auditor.model.cloudtrail import CloudTrailRecord, named
from identity_auditor.model.contract import Context, RuleMeta, Severity, Trigger, Violation
from identity_auditor.rules._lib import identity_center

SCIM_SOURCE = "identitystore-scim.amazonaws.com"
SCIM_IDENTITY_TYPE = "WebIdentityUser"

_PUBLIC = {  # identitystore.amazonaws.com
    "CreateUser": "created a user",
    "UpdateUser": "updated a user",
    "DeleteUser": "deleted a user",
    "CreateGroup": "created a group",
    "UpdateGroup": "updated a group",
    "DeleteGroup": "deleted a group",
    "CreateGroupMembership": "added a member to a group",
    "DeleteGroupMembership": "removed a member from a group",
}
_CONSOLE = {  # sso-directory.amazonaws.com
    "CreateUser": "created a user",
    "UpdateUser": "updated a user",
    "UpdateUserName": "renamed a user",
    "DeleteUser": "deleted a user",
    "DisableUser": "disabled a user",
    "EnableUser": "enabled a user",
    "CreateGroup": "created a group",
    "UpdateGroup": "updated a group",
    "UpdateGroupDisplayName": "renamed a group",
    "DeleteGroup": "deleted a group",
    "AddMemberToGroup": "added a member to a group",
    "RemoveMemberFromGroup": "removed a member from a group",
}

ALSO = Trigger("sso-directory.amazonaws.com", tuple(_CONSOLE))

META = RuleMeta(
    id="identitystore_manual_change",
    title="Identity Center user or group changed outside SCIM provisioning",
    severity=Severity.MEDIUM,
    trigger=Trigger("identitystore.amazonaws.com", tuple(_PUBLIC)),
    also=(ALSO,),
    resource_type="Other",
    finding_types=(
        "Software and Configuration Checks/Industry and Regulatory Standards/CIS AWS Foundations Benchmark",
        "TTPs/Persistence",
    ),
    why=(
        "Users and groups here are provisioned from the external identity provider. A change made "
        "directly in Identity Center bypasses the IdP's approvals and leaver process, and can keep "
        "access alive after the IdP account is gone."
    ),
    remediation=(
        "Find out who made the change and why. Revert it in Identity Center and make the change in the "
        "identity provider instead, letting SCIM provision it. Deny identitystore and sso-directory "
        "write actions to everyone but a break-glass role with an SCP."
    ),
    remediation_url="https://docs.aws.amazon.com/singlesignon/latest/userguide/provision-automatically.html",
    compliance=("CIS5 1.20", "CIS3 1.21"),
)

# The sso-directory.amazonaws.com half of the trigger (a Trigger has one event source).

_ID_KEYS = (("userId", "user"), ("groupId", "group"), ("membershipId", "membership"))


def evaluate(record: CloudTrailRecord, ctx: Context) -> Violation | None:
    if not ctx.policy.external_idp_scim or not record.succeeded:
        return None
    if record.event_source == SCIM_SOURCE or record.user_identity.type == SCIM_IDENTITY_TYPE:
        return None
    if record.by_identity_center:
        return None
    changes = _CONSOLE if record.event_source == ALSO.event_source else _PUBLIC
    action = changes.get(record.event_name)
    if action is None:
        return None
    store = str(record.request("identityStoreId") or "")
    kind, target = _target(record)
    resource = store or "identity store"
    if target:
        resource = f"arn:{record.partition}:identitystore:::{kind}/{target}"
    text = (
        f"{identity_center.caller(record)} {action} directly in the Identity Center identity store"
        f"{' ' + store if store else ''} of account {record.account_id} ({record.event_name} via "
        f"{record.event_source}), although the external identity provider provisions it through SCIM."
    )
    details = {"IdentityStoreId": store} if store else {}
    if target:
        details[f"{kind.capitalize()}Id"] = target
    group_name = _group_display_name(record) if kind == "group" else None
    if group_name:
        details["GroupDisplayName"] = group_name
    details.update(identity_center.caller_details(record))
    return Violation(description=text, resource_id=resource, details=details)


def _group_display_name(record: CloudTrailRecord) -> str | None:
    """A group's display name from the request or response, unless hidden (records since July 2025)."""
    blocks = [record.request_parameters or {}, record.response_elements or {}]
    blocks += [value for block in list(blocks) for value in block.values() if isinstance(value, dict)]  # {"group": …}
    for source in blocks:
        value = named(source.get("displayName"))
        if value:
            return value
    return None


def _target(record: CloudTrailRecord) -> tuple[str, str | None]:
    """The kind and id of the changed user, group or membership, from the request or the response."""
    response = record.response_elements or {}
    nested = [value for value in response.values() if isinstance(value, dict)]  # e.g. {"group": {...}}
    for key, kind in _ID_KEYS:
        for source in (record.request_parameters or {}, response, *nested):
            value = source.get(key)
            if isinstance(value, str) and value:
                return kind, value
    return "user", None
