"""What both alert formats share: cleaning untrusted values, links into the console, the subject
line, the timestamp and the SNS message attributes."""

from __future__ import annotations

import re
from urllib.parse import quote

from identity_auditor.model.findings import Finding
from identity_auditor.model.text import ascii_clip, clean, clip
from identity_auditor.sinks.asff import (
    cloudtrail_event_url,
    console_origin,
    safe_region,
    securityhub_finding_url,
)

ALERT_FORMATS = ("email", "chat")
SUBJECT_LIMIT = 99  # SNS: ASCII, no line breaks, less than 100 characters
MESSAGE_LIMIT = 256 * 1024  # SNS: a message is at most 256 KB
VALUE_LIMIT = 400  # characters of one untrusted value in an alert
_PERSON_MAX = 64  # a role session or IAM user name is at most 64 characters: a subject keeps it whole
_TITLE_MIN = 20  # what a subject keeps of a rule's title when a long name needs the room

# IAM user and role names; an ARN's path is skipped, only the name is used in a link.
_IAM_NAME = re.compile(r"[\w+=,.@-]{1,128}", re.ASCII)
_IAM_ARN = re.compile(
    r"arn:aws[a-z-]*:iam::\d{12}:(user|role)/(?:[\x21-\x7e]*/)?([\w+=,.@-]{1,128})", re.ASCII
)

# -- cleaning --------------------------------------------------------------------------------------


# -- links -----------------------------------------------------------------------------------------


def securityhub_link(
    finding: Finding, *, home_region: str | None = None, home_partition: str | None = None
) -> str:
    """The finding in the Security Hub console of the region it was imported into (the home region)."""
    return securityhub_finding_url(
        finding.finding_id, home_region or finding.region, home_partition or finding.partition
    )


def _iam_entity(finding: Finding) -> tuple[str, str] | None:
    """``("user" | "role", name)`` when the finding is about an IAM user, role or a user's access key."""
    match = _IAM_ARN.fullmatch(finding.resource_id or "")
    if match and finding.resource_type in ("AwsIamUser", "AwsIamRole", "AwsIamAccessKey"):
        return match.group(1), match.group(2)
    if finding.resource_type == "AwsIamRole" and _IAM_NAME.fullmatch(finding.resource_id or ""):
        return "role", finding.resource_id
    owner = finding.details.get("KeyOwner") or ""
    if finding.resource_type == "AwsIamAccessKey" and _IAM_NAME.fullmatch(owner):
        return "user", owner
    return None


def console_link(finding: Finding) -> str:
    """A console deep link for the resource: the IAM user or role page for IAM identities, otherwise
    the CloudTrail event (or the region's event history when the record had no event id)."""
    entity = _iam_entity(finding)
    if entity:
        kind, name = entity
        return f"{console_origin(finding.partition)}/iam/home#/{kind}s/details/{quote(name, safe='')}"
    if finding.event_id:
        return cloudtrail_event_url(finding)
    region = safe_region(finding.region)
    return f"{console_origin(finding.partition, region)}/cloudtrailv2/home?region={region}#/events"


def subject(finding: Finding) -> str:
    """``[SEVERITY] Title: who in account``: ASCII, one line, under 100 characters. Who is what the title
    names, or else the actor as a person reads it (:meth:`Actor.short_name`): when that is too long, the
    parts give way in this order: the role of the session, the title (down to ``_TITLE_MIN`` characters),
    the account; the person stays whole (if at most 64 characters, the longest role session or IAM user name).
    """
    head = f"[{finding.severity.value}] "
    if finding.subject:
        return ascii_clip(f"{head}{finding.title}: {clean(finding.subject, 200)} in {finding.account_id}",
                          SUBJECT_LIMIT)
    actor = finding.actor
    title, tail = clean(finding.title, 200), f" in {clean(finding.account_id, 64)}"
    person = clean(actor.person, VALUE_LIMIT)
    if len(person) > _PERSON_MAX:  # no role session or IAM user is named so: nothing gives way to it
        person = ""

    def room() -> int:  # characters left for the actor
        return SUBJECT_LIMIT - len(head) - len(title) - len(": ") - len(tail)

    if room() < len(person):
        title = clip(title, max(len(title) + room() - len(person), _TITLE_MIN), ellipsis="...")
    if room() < len(person):
        tail = ""
    left = max(room(), 1)
    return ascii_clip(f"{head}{title}: {clean(actor.short_name(left, ellipsis='...'), left)}{tail}", SUBJECT_LIMIT)


def when(finding: Finding) -> str:
    return finding.event_time.isoformat().replace("+00:00", "Z") if finding.event_time else "unknown"


def attributes(finding: Finding) -> dict[str, dict[str, str]]:
    """SNS message attributes for subscription filter policies."""
    return {
        "severity": {"DataType": "String", "StringValue": finding.severity.value},
        "severity_rank": {"DataType": "Number", "StringValue": str(finding.severity.rank)},
        "rule_id": {"DataType": "String", "StringValue": finding.rule_id},
        "account_id": {"DataType": "String", "StringValue": clean(finding.account_id, 64) or "unknown"},
    }
