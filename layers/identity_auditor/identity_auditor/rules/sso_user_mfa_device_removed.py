"""An MFA device of an IAM Identity Center user was deleted.

Removing a user's MFA device and registering a new one is how an account takeover is completed; an
administrator doing it for someone else is the social-engineering path ("I lost my phone").

Decisions (spec/rules.md §A; no public sample of this event exists, so the sample in events/ is
constructed):
- Success: no ``errorCode`` and no ``Failure`` value.
- Who removed it is decided from the caller, in both record shapes (AWS Security Blog, "Important
  changes to CloudTrail events for AWS IAM Identity Center", 2024-11-19, updated 2025-11-26: MFA device
  management in the AWS access portal is one of the events that changed). Identity Center users manage
  their own devices in the AWS access portal; those records carry ``userIdentity.type``
  ``IdentityCenterUser`` with ``onBehalfOf.userId`` and no ``userName`` (since July 2025), or ``Unknown``
  with ``userName`` (before; from October 2024 with ``onBehalfOf`` too). Such a caller removing a device
  is MEDIUM (self-service: the portal offers no way to manage another user's devices), unless the
  request names a user (``userId``) and the record names the caller by a different ``onBehalfOf.userId``:
  a portal user removing someone else's device is HIGH.
- Any other caller type (``AssumedRole`` such as an ``AWSReservedSSO_*`` console session, ``IAMUser``,
  ``Root``, ...) is an administrator acting on a user in the console or API: HIGH.
- ``DeleteMfaDeviceForUser`` is a console-only (sso-directory) operation without a published request
  shape. The affected user is named by a ``userId`` found anywhere in ``requestParameters`` (the Identity
  Store's name for a user id); no other field name is assumed. Without one, a self-service removal names
  the caller (``onBehalfOf.userId``, or the user name of older records): the user removed their own
  device. Samples: ``sso_directory_delete_mfa_device_for_user_*`` (``self_service`` is the 2025 shape,
  ``self_service_unknown_type`` the older one).
"""

from __future__ import annotations

from identity_auditor.model.cloudtrail import CloudTrailRecord
from identity_auditor.model.contract import Context, RuleMeta, Severity, Trigger, Violation
from identity_auditor.rules._lib import identity_center

META = RuleMeta(
    id="sso_user_mfa_device_removed",
    title="Identity Center user MFA device removed",
    severity=Severity.HIGH,
    trigger=Trigger("sso-directory.amazonaws.com", ("DeleteMfaDeviceForUser",)),
    resource_type="Other",
    finding_types=(
        "Software and Configuration Checks/Industry and Regulatory Standards/CIS AWS Foundations Benchmark",
        "TTPs/Persistence",
        "TTPs/Defense Evasion",
    ),
    why=(
        "Without its MFA device the user can sign in with a password alone, or register a new device "
        "at the next sign-in: removing a device and enrolling another is how account takeovers are "
        "completed."
    ),
    remediation=(
        "Confirm with the user, through a channel other than email, that the device removal was expected. "
        "If not, disable the user, reset the password, remove any device registered since, and review the "
        "user's sign-ins and role sessions. Verify identity before admins remove devices for users."
    ),
    severity_note="MEDIUM when users removed their own device",
    remediation_url="https://docs.aws.amazon.com/singlesignon/latest/userguide/how-to-manage-device.html",
    compliance=("CIS5 1.20", "CIS3 1.21"),
)


def evaluate(record: CloudTrailRecord, ctx: Context) -> Violation | None:
    if not record.succeeded:
        return None
    identity = record.user_identity
    target = _find(record.request_parameters, "userId")
    store = _find(record.request_parameters, "identityStoreId") or identity_center.identity_store_id(record)
    portal_user = identity_center.is_portal_user(record)
    caller_id = identity_center.user_id(record)
    self_service = portal_user and (not target or not caller_id or target == caller_id)
    if self_service:
        target = target or caller_id
        who = identity_center.user_label(record) or target
        text = (f"Identity Center user {who}" if who else "An Identity Center user") + (
            " removed one of their own MFA devices in the AWS access portal")
        removed_by = "self-service"
    else:
        user = f"user {target}" if target else "a user"
        if portal_user:
            caller = identity_center.caller(record)
            removed_by = "another Identity Center user"
        else:
            caller = f"{record.actor_name} ({identity.type or 'unknown type'})"
            removed_by = "administrator"
        text = f"{caller} removed an MFA device of Identity Center {user}"
    details = {"RemovedBy": removed_by, **identity_center.caller_details(record)}
    if target:
        details["UserId"] = target
    if store:
        details["IdentityStoreId"] = store
    resource = identity_center.user_arn(record.partition, target) if target else store or "unknown user"
    return Violation(
        description=f"{text} (account {record.account_id}).",
        resource_id=resource,
        severity=Severity.MEDIUM if self_service else Severity.HIGH,
        details=details,
    )


def _find(value, key: str, depth: int = 0) -> str | None:
    """The first string value under ``key`` in a nested request, or ``None``."""
    if depth > 4:
        return None
    if isinstance(value, dict):
        if isinstance(value.get(key), str) and value[key]:
            return value[key]
        children = value.values()
    elif isinstance(value, list):
        children = value
    else:
        return None
    for child in children:
        found = _find(child, key, depth + 1)
        if found:
            return found
    return None
