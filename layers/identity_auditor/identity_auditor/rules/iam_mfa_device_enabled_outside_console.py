"""An MFA device was created or enabled through the API rather than the console: an intruder with stolen
keys adding their own second factor.

Decisions (spec/rules.md §A third wave; shapes: AWS's real console ``EnableMFADevice`` record in the
CloudTrail console sign-in event reference (root, ``userAgent`` ``Coral/Netty4``, ``userName`` ``AWS ROOT
USER``, ``serialNumber``), the real invictus records carrying ``sessionCredentialFromConsole: "true"`` with
``userAgent`` ``AWS Internal``, Panther's console ``CreateVirtualMFADevice`` test event (``invokedBy``
``signin.amazonaws.com``); ``CreateVirtualMFADevice`` parameters from the IAM API reference as CloudTrail
renders IAM (lowerCamelCase: ``virtualMFADeviceName``, ``path``, response ``virtualMFADevice.serialNumber``);
keys are looked up case-insensitively):
- Success only (no ``errorCode``).
- A call counts as made in the console, and is quiet, when the record says so:
  ``sessionCredentialFromConsole == "true"`` (current records); ``userIdentity.invokedBy ==
  "signin.amazonaws.com"`` (console records before 2021, as ``root_account_used`` reads them); or the user
  agent ``Coral/Netty4`` or ``AWS Internal`` (spec: both count as the console; AWS's own console
  ``EnableMFADevice`` sample has no ``sessionCredentialFromConsole`` and ``Coral/Netty4``).
- Long-term ``AKIA`` access keys are never the console (the console signs with temporary ``ASIA``
  credentials): an ``AKIA`` call is a finding whatever its user agent says. The user agent is chosen by the
  caller; this stops the cheapest spoof, but a temporary-credential caller that sets ``AWS Internal`` as its
  user agent still passes for the console (a limit of the record, written down here).
- Everything else is a finding, MEDIUM: CLI, SDK and Terraform calls, root included (``root_account_used``
  reports root's call as well). Identity Center's own calls are not findings.
- The finding names the device (serial number, from the request, the response, or built from the device
  name and path) and, for ``EnableMFADevice``, the user it was attached to (``AWS ROOT USER`` or no
  ``userName`` from root means root itself).
"""

from __future__ import annotations

from identity_auditor.model.cloudtrail import ROOT_USER_NAME, CloudTrailRecord
from identity_auditor.model.contract import Context, RuleMeta, Severity, Trigger, Violation

CONSOLE_USER_AGENTS = frozenset({"Coral/Netty4", "AWS Internal"})
_CONSOLE_INVOKER = "signin.amazonaws.com"

META = RuleMeta(
    id="iam_mfa_device_enabled_outside_console",
    title="MFA device enabled outside the console",
    severity=Severity.MEDIUM,
    trigger=Trigger("iam.amazonaws.com", ("CreateVirtualMFADevice", "EnableMFADevice")),
    resource_type="AwsIamUser",
    finding_types=("TTPs/Persistence",),
    why=(
        "People enrol MFA devices in the console. A device created or enabled with access keys is how an "
        "intruder holding stolen keys adds a second factor of their own, to pass MFA checks and keep access."
    ),
    remediation=(
        "Confirm with the user that they enrolled this device from a script. If not, deactivate and delete it "
        "(aws iam deactivate-mfa-device --user-name USER --serial-number SERIAL; aws iam "
        "delete-virtual-mfa-device --serial-number SERIAL), deactivate the access key used, and review the "
        "caller's recent activity."
    ),
    remediation_url="https://docs.aws.amazon.com/IAM/latest/UserGuide/id_credentials_mfa_enable_virtual.html",
)


def from_console(record: CloudTrailRecord) -> bool:
    """Whether the record shows a console session (see the module's decisions)."""
    if str(record.user_identity.access_key_id or "").startswith("AKIA"):
        return False
    return (
        str(record.session_credential_from_console or "").lower() == "true"
        or record.user_identity.invoked_by == _CONSOLE_INVOKER
        or record.user_agent in CONSOLE_USER_AGENTS
    )


def _serial(record: CloudTrailRecord) -> str:
    serial = record.request("serialNumber")
    if not serial:
        device = record.response("virtualMFADevice")
        serial = device.get("serialNumber") if isinstance(device, dict) else None
    name = record.request("virtualMFADeviceName")
    if not serial and name:
        path = str(record.request("path") or "/")
        serial = f"arn:{record.partition}:iam::{record.account_id}:mfa{path if path.endswith('/') else path + '/'}{name}"
    return str(serial or "")


def evaluate(record: CloudTrailRecord, ctx: Context) -> Violation | None:
    if not record.succeeded or record.by_identity_center or from_console(record):
        return None
    identity = record.user_identity
    account = record.account_id
    serial = _serial(record)
    details = {"EventName": record.event_name, "SerialNumber": serial,
               "AccessKeyId": str(identity.access_key_id or ""), "UserAgent": str(record.user_agent or "")}
    details = {key: value for key, value in details.items() if value}
    device = f"MFA device {serial}" if serial else "an MFA device"
    source = f" from {record.source_ip_address}" if record.source_ip_address else ""
    how = f"with access key {identity.access_key_id}" if identity.access_key_id else "outside the console"

    if record.event_name == "CreateVirtualMFADevice":
        return Violation(
            description=(f"{identity.display_name} created the virtual {device} {how}{source} in account "
                         f"{account}, not in the console."),
            resource_id=serial or f"arn:{record.partition}:iam::{account}:mfa/unknown",
            resource_type="Other",
            details=details,
        )
    target = record.request("userName")
    if target == ROOT_USER_NAME or (not target and identity.type == "Root"):
        details["DeviceOwner"] = "root"
        return Violation(
            description=(f"{identity.display_name} enabled {device} for the root user {how}{source} in account "
                         f"{account}, not in the console."),
            resource_id=f"AWS::::Account:{account}",
            resource_type="AwsAccount",
            details=details,
        )
    owner = str(target or identity.user_name or identity.display_name)
    details["DeviceOwner"] = owner
    return Violation(
        description=(f"{identity.display_name} enabled {device} for IAM user {owner} {how}{source} in account "
                     f"{account}, not in the console."),
        resource_id=f"arn:{record.partition}:iam::{account}:user/{owner}",
        details=details,
    )
