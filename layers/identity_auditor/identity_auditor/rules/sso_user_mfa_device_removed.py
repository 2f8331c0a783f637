"""An MFA device of an IAM Identity Center user was deleted.

Removing a user's MFA device and registering a new one is how an account takeover is completed; an
administrator doing it for someone else is the social-engineering path ("I lost my phone").

Decisions (spec/rules.md §A; no public sample of this event exists, so the sample in events/ is
constructed):
- Success: no ``errorCode`` and no ``Failure`` value.
- Who removed it is decided from the caller's identity type. Identity Center users manage their own
  devices in the AWS access portal, and those events carry ``userIdentity.type``
  ``IdentityCenterUser`` (``Unknown`` in records before July 2025) with ``onBehalfOf.userId`` (user
  guide, "CloudTrail use cases for IAM Identity Center": "using the AWS access portal, including
  managing MFA devices"): MEDIUM, a user removed their own device. The portal offers no way to manage
  another user's devices.
- Any other caller type (``AssumedRole`` such as an ``AWSReservedSSO_*`` console session, ``IAMUser``,
  ``Root``, ...) is an administrator acting on a user in the console or API: HIGH.
- ``DeleteMfaDeviceForUser`` is a console-only (sso-directory) operation without a published request
  shape. The affected user is named only if the request carries a ``userId`` (the Identity Store's
  name for a user id) somewhere in ``requestParameters``; no other field name is assumed.
- The shared record model drops ``userIdentity.onBehalfOf``; once it is kept, a portal user whose
  ``onBehalfOf.userId`` differs from the request's ``userId`` should be treated as HIGH too.
"""

from __future__ import annotations

from identity_auditor.model.cloudtrail import CloudTrailRecord
from identity_auditor.model.contract import Context, RuleMeta, Severity, Trigger, Violation

SELF_SERVICE_TYPES = ("IdentityCenterUser", "Unknown")

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
    store = _find(record.request_parameters, "identityStoreId")
    user = f"user {target}" if target else "a user"
    self_service = identity.type in SELF_SERVICE_TYPES
    if self_service:
        text = f"Identity Center {user} removed one of their own MFA devices in the AWS access portal"
    else:
        caller = f"{identity.display_name} ({identity.type or 'unknown type'})"
        text = f"{caller} removed an MFA device of Identity Center {user}"
    details = {"RemovedBy": "self-service" if self_service else "administrator"}
    if target:
        details["UserId"] = target
    if store:
        details["IdentityStoreId"] = store
    resource = f"arn:{record.partition}:identitystore:::user/{target}" if target else store or "unknown user"
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
