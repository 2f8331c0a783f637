"""A CloudTrail trail was stopped, deleted, changed so that it records less, or pointed at another bucket or key
(audit tampering).

Decisions (spec/rules.md §A, checked against the real invictus records and the AWS samples):
- Successful calls only (``record.succeeded``). The invictus StopLogging / DeleteTrail attempts that
  failed with ``TrailNotFoundException`` changed nothing and are not findings.
- ``StopLogging`` and ``DeleteTrail`` always fire. ``requestParameters.name`` is a trail name or ARN.
- ``UpdateTrail`` fires CRITICAL when the request turns off multi-Region logging
  (``isMultiRegionTrail: false``), global service events (``includeGlobalServiceEvents: false``) or
  log file validation (``enableLogFileValidation: false``), and HIGH (spec §A, after the third-wave
  table) when it only points the trail at another S3 bucket (``s3BucketName``) or KMS key
  (``kmsKeyId``): the logs keep flowing, but to a place (or under a key) the intruder may own, and
  the old bucket's lifecycle or key policy no longer protects them. Field names are the UpdateTrail
  API's in CloudTrail's lower-camel form (CloudTrail API reference, UpdateTrail; the request of the
  sample ``cloudtrail_update_trail_s3_bucket__constructed`` follows AWS's UpdateTrail log example).
  A ``kmsKeyId`` that is present but empty is how the API removes SSE-KMS (the CLI's
  ``--kms-key-id ""``): it is named as the KMS encryption removed. A bucket or key that is present
  is a change even when it equals the old one (the record does not carry the old value; IaC tools
  that re-send every property are allow-listed for this rule, not special-cased here). Prefix, SNS
  topic and CloudWatch Logs changes stay quiet. The request is judged, not the earlier state:
  setting ``false`` on a trail that was already ``false`` fires too.
- CloudTrail Lake (``StopEventDataStoreIngestion``, ``DeleteEventDataStore``) is
  ``security_tooling_disabled``'s (spec §A), not this rule's.
- ``PutEventSelectors`` fires when, after the call, the trail records no *write* management events.
  Field names and case follow the real invictus records: ``eventSelectors[].includeManagementEvents``
  (JSON boolean) and ``readWriteType``. The selectors echoed in ``responseElements`` (the trail's new
  configuration, as in the invictus records) are judged when present, else the request's; a selector
  without ``includeManagementEvents`` includes them and one without ``readWriteType`` is ``All``
  (the API defaults). Advanced selectors are read in the same lowerCamel form
  (``advancedEventSelectors[].fieldSelectors[].field`` / ``equals``, inferred from that convention; no
  public record shows them): a selector records management events when it has ``eventCategory`` equal
  to ``Management``. Beyond the brief: a selector that keeps only read-only management events
  (``readWriteType: ReadOnly``, or an advanced ``readOnly`` selector equal to ``true``) also fires,
  because every write (``DeleteTrail``, ``CreateAccessKey``, ...) then goes unrecorded; AWS Config's
  ``cloudtrail-security-trail-enabled`` likewise requires reads *and* writes. Excluding sources such as
  KMS (``excludeManagementEventSources``) keeps management events and is not a finding.
- A call made by an AWS service on someone's behalf (``userIdentity.invokedBy``, e.g. a CloudFormation
  stack deleting its trail) changes nothing: the account is just as blind. The rule makes no exception
  of its own; the engine skips only callers the organisation explicitly allow-lists for this rule, and
  a suppression with reason and expiry (spec §C) is the better tool, since it stays visible.
- The resource is the trail: its ARN when the request or response names one, else built from the name,
  account and Region (trail API calls are made in the trail's home Region).
"""

from __future__ import annotations

from typing import Any

from identity_auditor.model.cloudtrail import CloudTrailRecord
from identity_auditor.model.contract import Context, RuleMeta, Severity, Trigger, Violation

META = RuleMeta(
    id="cloudtrail_logging_disabled",
    title="CloudTrail logging stopped, deleted, reduced or redirected",
    severity=Severity.CRITICAL,
    trigger=Trigger(
        "cloudtrail.amazonaws.com", ("StopLogging", "DeleteTrail", "UpdateTrail", "PutEventSelectors")
    ),
    resource_type="AwsCloudTrailTrail",
    finding_types=(
        "TTPs/Defense Evasion",
        "Software and Configuration Checks/Industry and Regulatory Standards/CIS AWS Foundations Benchmark",
    ),
    why=(
        "CloudTrail is the account's audit record. Stopping or narrowing it is how intruders hide what they "
        "do next, and every API call made while it is off is lost for good."
    ),
    remediation=(
        "Confirm with the caller that the change was approved. If not, restore the trail at once "
        "(start-logging, re-create it, or put back multi-Region, global service events, log file validation, "
        "All management events and the approved S3 bucket and KMS key), treat the caller's credentials as "
        "compromised and review their other "
        "activity. Protect trails with a service control policy denying cloudtrail:StopLogging, DeleteTrail "
        "and UpdateTrail."
    ),
    remediation_url=(
        "https://docs.aws.amazon.com/awscloudtrail/latest/userguide/"
        "cloudtrail-create-and-update-a-trail-by-using-the-aws-cli-create-trail.html"
    ),
    compliance=("CIS5 4.5", "CIS5 3.1"),
    severity_note="HIGH when UpdateTrail only changes the trail's S3 bucket or KMS key",
)

_UPDATE_SWITCHES = {
    "isMultiRegionTrail": "multi-Region logging",
    "includeGlobalServiceEvents": "global service events",
    "enableLogFileValidation": "log file validation",
}


def evaluate(record: CloudTrailRecord, ctx: Context) -> Violation | None:
    if not record.succeeded:
        return None
    name, tail, severity = record.event_name, "", None
    if name == "StopLogging":
        change, verb = "logging stopped", "stopped logging on"
    elif name == "DeleteTrail":
        change, verb = "trail deleted", "deleted"
    elif name == "UpdateTrail":
        turned_off = [label for key, label in _UPDATE_SWITCHES.items() if _is_false(record.request(key))]
        moved = _destination_changes(record)
        if not turned_off and not moved:
            return None
        changes = [f"turned off {', '.join(turned_off)}"] if turned_off else []
        changes += [text for _, text in moved]
        change = "; ".join(changes)
        if turned_off:
            verb = f"turned off {' and '.join(turned_off)} on"
            tail = f"; {'; '.join(text for _, text in moved)}" if moved else ""
        else:
            verb = f"changed the {' and '.join(label for label, _ in moved)} of"
            tail = f"; {'; '.join(text for _, text in moved)}"
            severity = Severity.HIGH
    elif name == "PutEventSelectors":
        response = record.response_elements or {}
        effective = any(key in response for key in ("eventSelectors", "advancedEventSelectors"))
        dropped = _selectors_change(response if effective else record.request_parameters or {})
        if dropped is None:
            return None
        change, verb, tail = f"now {dropped}", "changed the event selectors of", f"; it now {dropped}"
    else:
        return None
    trail, arn = _trail(record)
    details = {"TrailName": trail, "Change": change}
    if name == "UpdateTrail":
        details.update(_destination_details(record))
    return Violation(
        description=(
            f"{record.caller} {verb} CloudTrail trail {trail} in account "
            f"{record.account_id} ({record.aws_region or 'unknown Region'}){tail}."
        ),
        resource_id=arn,
        severity=severity,
        details=details,
    )


def _destination_changes(record: CloudTrailRecord) -> list[tuple[str, str]]:
    """What an UpdateTrail request does to where the logs go, as (what, how) pairs: the bucket first, then
    the key. Absent or ``null`` parameters change nothing; an empty ``kmsKeyId`` removes SSE-KMS."""
    changes = []
    bucket = record.request("s3BucketName")
    if isinstance(bucket, str) and bucket:
        changes.append(("S3 bucket", f"log files now go to S3 bucket {bucket}"))
    key = record.request("kmsKeyId")
    if isinstance(key, str):
        text = f"log files now encrypted with KMS key {key}" if key.strip() else "KMS encryption of log files removed"
        changes.append(("KMS key", text))
    return changes


def _destination_details(record: CloudTrailRecord) -> dict[str, str]:
    details = {}
    bucket, key = record.request("s3BucketName"), record.request("kmsKeyId")
    if isinstance(bucket, str) and bucket:
        details["S3BucketName"] = bucket
    if isinstance(key, str):
        details["KmsKeyId"] = key.strip() or "(removed)"
    return details


def _is_false(value: Any) -> bool:
    return value is False or (isinstance(value, str) and value.strip().lower() == "false")


def _selectors_change(params: dict) -> str | None:
    """What the new selectors drop, or ``None`` when write management events are still recorded."""
    basic, advanced = params.get("eventSelectors"), params.get("advancedEventSelectors")
    if isinstance(basic, list) and basic:
        selectors = [s for s in basic if isinstance(s, dict)]
        management = [s for s in selectors if not _is_false(s.get("includeManagementEvents"))]
        writes = [s for s in management if str(s.get("readWriteType") or "All") != "ReadOnly"]
    elif isinstance(advanced, list) and advanced:
        management = [s for s in advanced if _field_equals(s, "eventCategory", "Management")]
        writes = [s for s in management if not _field_equals(s, "readOnly", "true")]
    else:
        return None  # nothing to judge (an empty list is the unused kind, or a call the API rejects)
    if not management:
        return "records no management events"
    if not writes:
        return "records only read-only management events"
    return None


def _field_equals(selector: Any, field: str, value: str) -> bool:
    if not isinstance(selector, dict):
        return False
    for item in selector.get("fieldSelectors") or []:
        if isinstance(item, dict) and item.get("field") == field:
            equals = item.get("equals") or []
            equals = [equals] if isinstance(equals, str) else equals
            if any(str(v).lower() == value.lower() for v in equals):
                return True
    return False


def _trail(record: CloudTrailRecord) -> tuple[str, str]:
    """The trail's name and its ARN (the request names it by name or ARN; responses carry ``trailARN``)."""
    given = str(record.request("name") or record.request("trailName") or "")
    returned = (record.response_elements or {}).get("trailARN")
    arn = given if given.startswith("arn:") else returned if isinstance(returned, str) else ""
    name = given.split(":trail/", 1)[-1] if given else arn.split(":trail/", 1)[-1] if arn else "unknown"
    if not arn and given and record.aws_region:
        arn = f"arn:{record.partition}:cloudtrail:{record.aws_region}:{record.account_id}:trail/{given}"
    return name, arn or name
