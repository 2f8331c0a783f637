"""Identity Center users in both record shapes, for the Identity Center rules.

Before July 2025 a signed-in Identity Center user's records carried ``userIdentity.type`` ``Unknown`` with
``userName`` and ``principalId`` (from October 2024 also ``onBehalfOf`` and ``credentialId``); since then
they carry ``IdentityCenterUser``, no ``userName`` or ``principalId``, and name the user only by
``onBehalfOf.userId`` with ``onBehalfOf.identityStoreArn``. Sign-in records also carry the name the user typed
in ``additionalEventData.UserName`` (``HIDDEN_DUE_TO_SECURITY_REASONS`` when it was wrong); unauthenticated
sign-in steps stay ``Unknown``. Sources: AWS Security Blog, "Important changes to CloudTrail events for AWS
IAM Identity Center" (2024-11-19, updated 2025-11-26); AWS CloudTrail User Guide, "CloudTrail userIdentity
element" (example "userIdentity for a request made on behalf of an IAM Identity Center user").
"""

from __future__ import annotations

from identity_auditor.model.cloudtrail import IDENTITY_CENTER_USER_TYPES, CloudTrailRecord, named


def is_portal_user(record: CloudTrailRecord) -> bool:
    """The caller is an Identity Center user acting for themselves (AWS access portal, sign-in, CLI
    sign-in), in either shape: identity type ``IdentityCenterUser`` or ``Unknown``."""
    return record.user_identity.type in IDENTITY_CENTER_USER_TYPES


def user_id(record: CloudTrailRecord) -> str | None:
    """The Identity Center user id the record names its caller by (``onBehalfOf.userId``), if any."""
    return named(record.user_identity.identity_center_user_id)


def user_name(record: CloudTrailRecord) -> str | None:
    """A readable name of an Identity Center user caller: ``userIdentity.userName`` (older records), else
    the user name typed at sign-in when it is a real name; ``None`` when the record has neither."""
    return named(record.user_identity.user_name) or (record.typed_user_name if is_portal_user(record) else None)


def user_label(record: CloudTrailRecord) -> str | None:
    """How a finding names an Identity Center user caller: ``name (user id)`` when the record has both,
    else whichever it has, else ``None``."""
    name, uid = user_name(record), user_id(record)
    if name and uid and name != uid:
        return f"{name} ({uid})"
    return name or uid


def caller(record: CloudTrailRecord) -> str:
    """The caller as a finding's description names it: ``Identity Center user <name> (<user id>)`` for an
    Identity Center user caller (either shape), else :attr:`CloudTrailRecord.actor_name` (a role session,
    an IAM user, root)."""
    if is_portal_user(record) or (user_id(record) and not record.user_identity.arn):
        return f"Identity Center user {user_label(record) or record.actor_name}"
    return record.actor_name


def user_arn(partition: str, uid: str) -> str:
    """The ARN of an Identity Store user (Service Authorization Reference, identitystore ``User``)."""
    return f"arn:{partition}:identitystore:::user/{uid}"


def identity_store_id(record: CloudTrailRecord) -> str | None:
    """The identity store of the caller, from ``onBehalfOf.identityStoreArn`` (``…:identitystore/d-…``)."""
    on_behalf_of = record.user_identity.on_behalf_of
    arn = named(on_behalf_of.identity_store_arn) if on_behalf_of else None
    return arn.rsplit("/", 1)[-1] if arn and "/" in arn else None


def caller_details(record: CloudTrailRecord) -> dict[str, str]:
    """The facts that identify an Identity Center user caller, for a finding's details: the user id and
    identity store (2025 shape, also on role sessions with trusted identity propagation) and the name typed
    at sign-in. Empty for callers that are not Identity Center users."""
    details: dict[str, str] = {}
    uid = user_id(record)
    if uid:
        details["CallerUserId"] = uid
        store = record.user_identity.on_behalf_of.identity_store_arn if record.user_identity.on_behalf_of else None
        if named(store):
            details["CallerIdentityStoreArn"] = store
    typed = record.typed_user_name if is_portal_user(record) else None
    if typed:
        details["CallerUserName"] = typed
    return details
