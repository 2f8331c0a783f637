"""An MFA device was deactivated or a virtual MFA device deleted.

Decisions (spec/rules.md §A; request shapes from the IAM API reference: ``DeactivateMFADevice`` takes
``serialNumber`` and an optional ``userName``, ``DeleteVirtualMFADevice`` only ``serialNumber``):
- Success only (no ``errorCode``).
- CRITICAL when the device belonged to root, which is recognised by any of:
  ``serialNumber`` ending in ``:mfa/root-account-mfa-device`` (the name AWS gives root's virtual
  device); ``userName == "AWS ROOT USER"`` (what CloudTrail records for root's own MFA calls, as in
  AWS's real root ``EnableMFADevice`` sample); or a ``DeactivateMFADevice`` by root without
  ``userName`` (the API then acts on the caller). ``DeleteVirtualMFADevice`` has no ``userName``, so
  root deleting some device is CRITICAL only by the serial number (root could be cleaning up an IAM
  user's device; ``root_account_used`` reports root's call anyway).
- HIGH otherwise, for users removing their own device or someone else's (MFA removal is the step
  before a password-only takeover either way).
- A removal made through CloudFormation (``invokedBy: cloudformation.amazonaws.com``) is still a
  removal; only callers the policy allow-lists for this rule (e.g. an off-boarding pipeline, which must
  deactivate MFA before it can delete a user) are skipped.
"""

from __future__ import annotations

from identity_auditor.model.cloudtrail import CloudTrailRecord
from identity_auditor.model.contract import Context, RuleMeta, Severity, Trigger, Violation

_ROOT_DEVICE = ":mfa/root-account-mfa-device"
_ROOT_USER_NAME = "AWS ROOT USER"

META = RuleMeta(
    id="iam_mfa_device_removed",
    title="MFA device removed",
    severity=Severity.HIGH,
    trigger=Trigger("iam.amazonaws.com", ("DeactivateMFADevice", "DeleteVirtualMFADevice")),
    resource_type="AwsIamUser",
    finding_types=(
        "TTPs/Defense Evasion",
        "Software and Configuration Checks/Industry and Regulatory Standards/CIS AWS Foundations Benchmark",
    ),
    why=(
        "Without its MFA device the identity is protected by a password or key alone. Removing MFA is a "
        "common step for an intruder who wants to keep or take over access."
    ),
    remediation=(
        "Confirm with the owner that the device was lost or replaced on purpose. If not, reset the "
        "password, deactivate the identity's access keys, register a new MFA device and review the "
        "caller's recent activity. Require MFA in policies (aws:MultiFactorAuthPresent) so that an "
        "identity without MFA cannot act."
    ),
    severity_note="CRITICAL when the device was root's",
    remediation_url="https://docs.aws.amazon.com/IAM/latest/UserGuide/id_credentials_mfa_disable.html",
    compliance=("CIS5 1.4", "CIS5 1.9", "CIS3 1.5", "CIS3 1.10"),
)


def evaluate(record: CloudTrailRecord, ctx: Context) -> Violation | None:
    if not record.succeeded:
        return None
    identity = record.user_identity
    serial = str(record.request("serialNumber") or "")
    target = record.request("userName")
    account = record.account_id
    caller = identity.display_name
    # DeactivateMFADevice without userName acts on the caller; DeleteVirtualMFADevice names no user.
    deactivating = record.event_name == "DeactivateMFADevice"
    verb = "deactivated" if deactivating else "deleted"
    is_root_device = (
        serial.endswith(_ROOT_DEVICE)
        or target == _ROOT_USER_NAME
        or (identity.type == "Root" and not target and deactivating)
    )
    details = {"SerialNumber": serial}
    if is_root_device:
        details["DeviceOwner"] = "root"
        return Violation(
            description=f"{caller} {verb} the root user's MFA device {serial} in account {account}.",
            resource_id=f"AWS::::Account:{account}",
            resource_type="AwsAccount",
            severity=Severity.CRITICAL,
            details=details,
        )
    owner = target or (identity.user_name if deactivating and identity.type == "IAMUser" else None)
    if owner:
        details["DeviceOwner"] = str(owner)
        return Violation(
            description=f"{caller} {verb} the MFA device {serial} of IAM user {owner} in account {account}.",
            resource_id=f"arn:{record.partition}:iam::{account}:user/{owner}",
            details=details,
        )
    return Violation(
        description=f"{caller} {verb} the virtual MFA device {serial} in account {account}.",
        resource_id=serial or f"arn:{record.partition}:iam::{account}:mfa/unknown",
        resource_type="Other",
        details=details,
    )
