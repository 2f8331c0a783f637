"""EC2 instances were launched, or changed, so that IMDSv1 (metadata without a session token) works.

IMDSv1 answers any local HTTP GET, so a server-side request forgery in an application on the instance
is enough to read the instance role's credentials. CIS AWS Foundations v5.0.0 5.7 asks for IMDSv2 only
(``HttpTokens`` ``required``).

Decisions (spec/rules.md §A, second wave; shapes from real records):
- Successful calls only (a DryRun ends in ``Client.DryRunOperation`` and is not a launch).
- ``RunInstances``: the real invictus launches show the *effective* settings in
  ``responseElements.instancesSet.items[].metadataOptions`` (``httpTokens``, ``httpEndpoint``), after
  the launch template, AMI and account defaults were applied. That is what the rule judges, per
  instance. Only when an item has no ``metadataOptions`` does it fall back to the request's top-level
  ``requestParameters.metadataOptions.httpTokens``; and when the request has none either, the launch
  template, AMI or account default applies, which is ``optional`` unless the AMI is IMDSv2-only
  (``ImdsSupport`` ``v2.0``) or the account default requires tokens. That case fires, and its
  description says the setting was left to the defaults.
- ``ModifyInstanceMetadataOptions``: CloudTrail nests this call's parameters under
  ``requestParameters.ModifyInstanceMetadataOptionsRequest`` in PascalCase (``InstanceId``,
  ``HttpTokens``, ``HttpEndpoint``), unlike most EC2 calls. It fires when ``HttpTokens`` is
  ``optional``; a request that leaves ``HttpTokens`` out keeps the instance's current setting, which the
  record does not show, so it is not a finding. Its response is not read (no published record shows it).
- ``httpEndpoint`` ``disabled`` turns the metadata service off: no finding, whatever ``HttpTokens`` says.
- One launch of several instances gives one finding naming them: resource ``AwsEc2Instance`` for the
  first (its ARN), the details list up to 10 ids and the count. Without instance ids (no response
  recorded) the resource is ``Other``, named after the AMI.
- A call made by an AWS service on someone's behalf (``userIdentity.invokedBy``, e.g. Auto Scaling or
  CloudFormation launching from a template) changes nothing: the instance accepts IMDSv1 either way,
  and the fix belongs in that launch template. Expect one finding per scale-out until it is fixed.
"""

from __future__ import annotations

from typing import Any

from identity_auditor.model.cloudtrail import CloudTrailRecord
from identity_auditor.model.contract import Context, RuleMeta, Severity, Trigger, Violation

META = RuleMeta(
    id="ec2_imdsv1_allowed",
    title="EC2 instance allows IMDSv1",
    severity=Severity.MEDIUM,
    trigger=Trigger("ec2.amazonaws.com", ("RunInstances", "ModifyInstanceMetadataOptions")),
    resource_type="AwsEc2Instance",
    finding_types=(
        "Software and Configuration Checks/Industry and Regulatory Standards/CIS AWS Foundations Benchmark",
        "Software and Configuration Checks/AWS Security Best Practices",
    ),
    why=(
        "With IMDSv1 a single server-side request forgery in an application on the instance can read the "
        "instance role's temporary credentials. IMDSv2 requires a session token that such requests cannot "
        "get."
    ),
    remediation=(
        "Require IMDSv2 on the instance (aws ec2 modify-instance-metadata-options --http-tokens required "
        "--http-endpoint enabled) after checking its MetadataNoToken metric is zero, set HttpTokens required "
        "in launch templates, and make it the account default (aws ec2 modify-instance-metadata-defaults "
        "--http-tokens required)."
    ),
    remediation_url="https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/configuring-IMDS-existing-instances.html",
    compliance=("CIS5 5.7",),
)

_MAX_LISTED = 10
_WHY_OPEN = {
    "response": "the launch response records HttpTokens optional",
    "request": "the request set HttpTokens to optional",
    "default": (
        "the request did not set HttpTokens, so the launch template, AMI or account default applies, which "
        "allows IMDSv1 unless the AMI is IMDSv2-only or the account default requires tokens"
    ),
}


def evaluate(record: CloudTrailRecord, ctx: Context) -> Violation | None:
    if not record.succeeded:
        return None
    if record.event_name == "ModifyInstanceMetadataOptions":
        return _modified(record)
    if record.event_name == "RunInstances":
        return _launched(record)
    return None


def _modified(record: CloudTrailRecord) -> Violation | None:
    request = record.request("ModifyInstanceMetadataOptionsRequest")
    if not isinstance(request, dict) or _low(request.get("HttpTokens")) != "optional":
        return None
    if _low(request.get("HttpEndpoint")) == "disabled":
        return None
    instance = str(request.get("InstanceId") or "unknown")
    return Violation(
        description=(
            f"{record.caller} set HttpTokens to optional on EC2 instance {instance} in "
            f"account {record.account_id} ({record.aws_region or 'unknown Region'}), allowing IMDSv1 again."
        ),
        resource_id=_instance_arn(record, instance),
        details={"InstanceIds": instance, "HttpTokens": "optional", "SettingFrom": "request"},
    )


def _launched(record: CloudTrailRecord) -> Violation | None:
    requested = record.request("metadataOptions")
    requested = requested if isinstance(requested, dict) else {}
    launched = (record.response_elements or {}).get("instancesSet")
    items = launched.get("items") if isinstance(launched, dict) else None
    items = [item for item in items if isinstance(item, dict)] if isinstance(items, list) else []
    exposed: list[str] = []
    sources: set[str] = set()
    for item in items or [{}]:
        options = item.get("metadataOptions")
        if isinstance(options, dict) and options.get("httpTokens"):
            tokens, endpoint, source = options.get("httpTokens"), options.get("httpEndpoint"), "response"
        else:
            tokens, endpoint = requested.get("httpTokens"), requested.get("httpEndpoint")
            source = "request" if tokens else "default"
        if _low(endpoint) == "disabled" or _low(tokens) == "required":
            continue
        exposed.append(str(item.get("instanceId") or ""))
        sources.add(source)
    if not exposed:
        return None
    source = next(s for s in ("default", "request", "response") if s in sources)
    ids = [instance for instance in exposed if instance]
    more = len(ids) - _MAX_LISTED
    listed = ", ".join(ids[:_MAX_LISTED]) + (f" (+{more} more)" if more > 0 else "")
    count = len(exposed)
    what = f"{count} EC2 instance{'s' if count != 1 else ''}" + (f" ({listed})" if ids else "")
    details = {
        "InstanceIds": listed,
        "InstanceCount": str(count),
        "HttpTokens": "not set" if source == "default" else "optional",
        "SettingFrom": source,
        "ImageId": _image_id(record),
    }
    return Violation(
        description=(
            f"{record.caller} launched {what} in account {record.account_id} "
            f"({record.aws_region or 'unknown Region'}) that accept{'s' if count == 1 else ''} IMDSv1: "
            f"{_WHY_OPEN[source]}."
        ),
        resource_id=_instance_arn(record, ids[0]) if ids else f"image/{details['ImageId'] or 'unknown'}",
        resource_type=None if ids else "Other",
        details={key: value for key, value in details.items() if value},
    )


def _image_id(record: CloudTrailRecord) -> str:
    launch = record.request("instancesSet")
    items = launch.get("items") if isinstance(launch, dict) else None
    first = items[0] if isinstance(items, list) and items and isinstance(items[0], dict) else {}
    return str(first.get("imageId") or "")


def _instance_arn(record: CloudTrailRecord, instance: str) -> str:
    if instance == "unknown" or not record.aws_region:
        return instance
    return f"arn:{record.partition}:ec2:{record.aws_region}:{record.account_id}:instance/{instance}"


def _low(value: Any) -> str:
    return str(value).strip().lower() if value is not None else ""
