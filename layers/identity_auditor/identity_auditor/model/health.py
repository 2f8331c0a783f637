"""AWS Health events (EventBridge detail-type ``AWS Health Event``), read as CloudTrail-shaped records.

Some things only AWS Health says: that an Identity Center SCIM bearer token is about to expire
(``AWS_IAMIDENTITYCENTER_SCIM_BEARER_TOKEN_EXPIRY_NOTIFICATION``), for one. Rather than a second engine,
the edge (the evaluator's handler, the CLI's reader) turns a Health event into the record the engine
already reads: ``eventSource`` :data:`HEALTH_SOURCE`, ``eventName`` the event type code, ``eventType``
``AwsServiceEvent``, the caller the AWS Health service, and the Health ``detail`` itself, unchanged, in
``serviceEventDetails``. Everything downstream (rules, policy, findings, de-duplication, sinks) is then
the same as for CloudTrail.

The record's ``eventID`` is derived from the Health event ARN and the affected account: Health sends an
update of the same event (a new ``statusCode`` or description) with the same ARN, so it updates the same
finding and pages once. Field names follow the AWS Health EventBridge schema
(https://docs.aws.amazon.com/health/latest/ug/aws-health-events-eventbridge-schema.html).
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any

HEALTH_EVENT = "AWS Health Event"
HEALTH_SOURCE = "health.amazonaws.com"  # the eventSource of the records made from Health events
HEALTH_INVOKER = "health.amazonaws.com"


class HealthEventError(ValueError):
    """An ``AWS Health Event`` that cannot be read (no ``detail`` object, no ``eventTypeCode``)."""


def is_health_event(envelope: Any) -> bool:
    return isinstance(envelope, dict) and envelope.get("detail-type") == HEALTH_EVENT


def health_record(envelope: dict) -> dict:
    """The CloudTrail-shaped record of an AWS Health EventBridge event (see the module docstring). Raises
    :class:`HealthEventError` naming what is missing."""
    detail = envelope.get("detail")
    if not isinstance(detail, dict):
        raise HealthEventError(f"AWS Health event id {str(envelope.get('id'))[:80]!r} has no detail object")
    code = detail.get("eventTypeCode")
    if not isinstance(code, str) or not code:
        raise HealthEventError(f"AWS Health event id {str(envelope.get('id'))[:80]!r} has no eventTypeCode")
    account = str(detail.get("affectedAccount") or envelope.get("account") or "unknown")
    arn = str(detail.get("eventArn") or envelope.get("id") or code)
    region = str(detail.get("eventRegion") or envelope.get("region") or "unknown")
    if region == "global":  # Health's name for a global service; findings need a real region
        region = str(envelope.get("region") or "us-east-1")
    return {
        "eventVersion": "1.08",
        "userIdentity": {"type": "AWSService", "invokedBy": HEALTH_INVOKER},
        "eventTime": _iso(health_time(detail.get("startTime"))) or envelope.get("time"),
        "eventSource": HEALTH_SOURCE,
        "eventName": code,
        "awsRegion": region,
        "sourceIPAddress": HEALTH_INVOKER,
        "userAgent": HEALTH_INVOKER,
        "requestParameters": None,
        "responseElements": None,
        "serviceEventDetails": detail,
        "eventID": "health-" + hashlib.sha256(f"{arn}|{account}".encode("utf-8", "surrogatepass")).hexdigest()[:32],
        "readOnly": True,
        "eventType": "AwsServiceEvent",
        "managementEvent": True,
        "recipientAccountId": account,
        "eventCategory": "Management",
    }


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def health_envelope(envelope: dict) -> dict:
    """The EventBridge envelope with its ``detail`` replaced by :func:`health_record`'s record."""
    return {**envelope, "detail": health_record(envelope)}


def health_time(value: Any) -> datetime | None:
    """A Health time: RFC 1123 in EventBridge (``Wed, 05 Jun 2024 15:10:09 GMT``), ISO 8601 elsewhere; ``None``
    when it is neither."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        try:
            parsed = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)
