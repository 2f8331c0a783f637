"""AWS Config recording was stopped, or its recorder or delivery channel deleted.

Decisions (spec/rules.md §A; shapes from the AWS Config developer guide's CloudTrail examples):
- Successful calls only. A failed call (e.g. ``NoSuchConfigurationRecorderException``) changed nothing.
- ``StopConfigurationRecorder`` and ``DeleteConfigurationRecorder`` name the recorder in
  ``requestParameters.configurationRecorderName``; ``DeleteDeliveryChannel`` names the channel in
  ``deliveryChannelName``. Deleting the delivery channel stops delivery of configuration history and
  snapshots, so it is treated like stopping the recorder (HIGH, as the spec says, for all three).
- Config is regional: the finding names the Region; recording in other Regions is unaffected.
- A call made by an AWS service on someone's behalf (``userIdentity.invokedBy``, e.g. a CloudFormation
  stack deleting its recorder) changes nothing: configuration changes still go unrecorded. Service-linked
  recorders (names starting ``AWSConfigurationRecorderFor``) cannot be stopped, only deleted, and their
  deletion is reported like any other. Only explicit allow-list entries (engine) excuse a caller;
  prefer a suppression.
- Resource type ``Other`` (Security Hub has no ASFF type for a Config recorder), identified by the
  recorder's or channel's name, account and Region.
"""

from __future__ import annotations

from identity_auditor.model.cloudtrail import CloudTrailRecord
from identity_auditor.model.contract import Context, RuleMeta, Severity, Trigger, Violation

_RECORDER = ("configurationRecorderName", "configuration recorder")
_RECORDING = "configuration changes there are no longer recorded"
_ACTIONS = {
    "StopConfigurationRecorder": (*_RECORDER, "stopped", _RECORDING),
    "DeleteConfigurationRecorder": (*_RECORDER, "deleted", _RECORDING),
    "DeleteDeliveryChannel": (
        "deliveryChannelName", "delivery channel", "deleted", "configuration history is no longer delivered"),
}

META = RuleMeta(
    id="config_recording_disabled",
    title="AWS Config recording stopped or deleted",
    severity=Severity.HIGH,
    trigger=Trigger("config.amazonaws.com", tuple(_ACTIONS)),
    resource_type="Other",
    finding_types=(
        "TTPs/Defense Evasion",
        "Software and Configuration Checks/Industry and Regulatory Standards/CIS AWS Foundations Benchmark",
    ),
    why=(
        "AWS Config keeps the history of resource configurations and drives compliance rules. While it is "
        "off, changes in this Region go unrecorded and unevaluated."
    ),
    remediation=(
        "Confirm with the caller that the change was approved. If not, re-create the recorder and delivery "
        "channel if they were deleted and start recording again (aws configservice "
        "start-configuration-recorder), then review the caller's other activity. Deny "
        "config:StopConfigurationRecorder, DeleteConfigurationRecorder and DeleteDeliveryChannel with a "
        "service control policy."
    ),
    remediation_url="https://docs.aws.amazon.com/config/latest/developerguide/managing-recorder_console-start.html",
    compliance=("CIS5 4.9",),
)


def evaluate(record: CloudTrailRecord, ctx: Context) -> Violation | None:
    if not record.succeeded or record.event_name not in _ACTIONS:
        return None
    key, kind, verb, effect = _ACTIONS[record.event_name]
    name = str(record.request(key) or "unknown")
    region = record.aws_region or "unknown Region"
    return Violation(
        description=(
            f"{record.caller} {verb} the AWS Config {kind} {name} in account "
            f"{record.account_id} ({region}); {effect}."
        ),
        resource_id=f"{kind.replace(' ', '-')}/{name}",
        details={"ConfigResource": kind, "Name": name},
    )
