"""AWS Health warns that an IAM Identity Center SCIM bearer token is about to expire.

When it expires, the external identity provider silently stops provisioning and de-provisioning users and groups.

Decisions (spec/rules.md §A; an AWS Health event, not CloudTrail: :mod:`identity_auditor.model.health` turns
it into a record with ``eventSource`` ``health.amazonaws.com``, ``eventName`` the event type code and the
Health ``detail`` in ``serviceEventDetails``; field names from the AWS Health EventBridge schema, no public
sample of this event type exists):
- Always a finding: the notification is the signal. De-provisioning is what stops: a person who leaves the
  company keeps their Identity Center access until someone notices.
- When the token expires: a date in the notification's text (``latestDescription``: ISO ``2026-12-20``,
  ``December 20, 2026``, ``Dec 20 2026``, ``Sat Dec 20 09:00:00 UTC 2026`` as AWS's e-mail writes it, ``20 December
  2026``), else "expires in N days" counted from the notification's time, else, for a ``scheduledChange`` event,
  its ``startTime`` (Health's time of the scheduled change). HIGH when that is within 14 days of ``ctx.now`` (or already past); MEDIUM otherwise,
  and MEDIUM, saying so, when the notification names no date.
- Health sends updates of the same event (same ARN): they update the same finding (see the model).
- The resource is the Identity Center instance or token the event names (``affectedEntities``), else the
  account.
"""

from __future__ import annotations

import re
from datetime import date, timedelta

from identity_auditor.model.cloudtrail import as_text, CloudTrailRecord
from identity_auditor.model.contract import Context, RuleMeta, Severity, Trigger, Violation
from identity_auditor.model.health import HEALTH_EVENT, HEALTH_SOURCE, health_time

EVENT_TYPE = "AWS_IAMIDENTITYCENTER_SCIM_BEARER_TOKEN_EXPIRY_NOTIFICATION"
URGENT = timedelta(days=14)

META = RuleMeta(
    id="sso_scim_token_expiring",
    title="Identity Center SCIM token expiring",
    severity=Severity.MEDIUM,
    trigger=Trigger(HEALTH_SOURCE, (EVENT_TYPE,), HEALTH_EVENT),
    resource_type="Other",
    finding_types=(
        "Software and Configuration Checks/AWS Security Best Practices",
        "Software and Configuration Checks/Industry and Regulatory Standards/CIS AWS Foundations Benchmark",
    ),
    why=(
        "Identity Center's SCIM token lets the external identity provider provision and de-provision users and "
        "groups. When it expires, synchronisation stops silently: people who leave keep their AWS access."
    ),
    remediation=(
        "In the Identity Center console (Settings, Identity source, Automatic provisioning) generate a new access "
        "token, enter it in the identity provider's provisioning settings (Entra ID, Okta), test the connection, "
        "then delete the old token. Check that users removed since the sync stopped are gone from Identity Center."
    ),
    remediation_url="https://docs.aws.amazon.com/singlesignon/latest/userguide/provision-automatically.html",
    severity_note="HIGH when the token expires within 14 days",
    compliance=("CIS5 1.20", "CIS3 1.21"),
)

_ISO_DATE = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b")
_MONTHS = ("january february march april may june july august september october november december").split()
_MONTH = r"(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?"
# "March 15, 2025", "Mar 15 2025", "Sat Mar 15 09:00:00 UTC 2025" (the AWS e-mail's form), "15 March 2025"
_MONTH_DAY = re.compile(_MONTH + r"\s+(\d{1,2}),?\s+(?:\d{1,2}:\d{2}(?::\d{2})?\s+(?:[A-Z]{2,5}\s+)?)?(\d{4})\b",
                        re.IGNORECASE)
_DAY_MONTH = re.compile(r"\b(\d{1,2})\s+" + _MONTH + r",?\s+(\d{4})\b", re.IGNORECASE)
_IN_DAYS = re.compile(r"\bexpires?\s+in\s+(\d{1,4})\s+days?\b", re.IGNORECASE)


def evaluate(record: CloudTrailRecord, ctx: Context) -> Violation | None:
    detail = record.service_event_details or {}
    text = _description(detail)
    sent = health_time(detail.get("lastUpdatedTime")) or health_time(detail.get("startTime"))
    expires = _expiry(text, detail, sent.date() if sent else ctx.now.date())
    account = record.account_id
    entities = [e["entityValue"] for e in _list(detail.get("affectedEntities"))
                if isinstance(e, dict) and isinstance(e.get("entityValue"), str) and e["entityValue"]]
    details = {"HealthEventArn": as_text(detail.get("eventArn")), "StatusCode": as_text(detail.get("statusCode"))}
    if entities:
        details["AffectedEntities"] = ", ".join(entities)[:512]
    if expires is not None:
        left = expires - ctx.now.date()
        details["ExpiresOn"] = expires.isoformat()
        when = (f"expired on {expires.isoformat()}" if left.days < 0
                else f"expires on {expires.isoformat()} ({left.days} day{'s' if left.days != 1 else ''} from now)")
        severity = Severity.HIGH if left <= URGENT else None
    else:
        when, severity = "is about to expire (the notification names no date)", None
    return Violation(
        description=(f"AWS Health: the IAM Identity Center SCIM bearer token of account {account} {when}; when it "
                     "expires the identity provider stops provisioning and de-provisioning users."),
        resource_id=entities[0] if entities else f"AWS::::Account:{account}",
        resource_type="Other" if entities else "AwsAccount",
        severity=severity,
        details={key: value for key, value in details.items() if value},
        subject=f"account {account}",
    )


def _list(value) -> list:
    """A list field of the Health event; anything else (a hostile or broken event) counts as absent."""
    return value if isinstance(value, list) else []


def _description(detail: dict) -> str:
    return " ".join(as_text(p.get("latestDescription")) for p in _list(detail.get("eventDescription"))
                    if isinstance(p, dict))


def _month(name: str) -> int:
    return next(index for index, month in enumerate(_MONTHS, 1) if month.startswith(name[:3].lower()))


def _expiry(text: str, detail: dict, received: date | None = None) -> date | None:
    """The expiry date the notification states, or the scheduled change's start (see the module docstring)."""
    for match in _ISO_DATE.finditer(text):
        try:
            return date(int(match[1]), int(match[2]), int(match[3]))
        except ValueError:
            continue
    for pattern, (month, day, year) in ((_MONTH_DAY, (1, 2, 3)), (_DAY_MONTH, (2, 1, 3))):
        for match in pattern.finditer(text):
            try:
                return date(int(match[year]), _month(match[month]), int(match[day]))
            except ValueError:
                continue
    if (match := _IN_DAYS.search(text)) and received is not None:
        return received + timedelta(days=int(match[1]))
    if detail.get("eventTypeCategory") == "scheduledChange":
        start = health_time(detail.get("startTime"))
        return start.date() if start else None
    return None
