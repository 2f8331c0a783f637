"""The alert a security engineer reads: an SNS subject and a message, in one of two formats.

* ``email``: plain text read at a glance: what happened, who, from where, where, when, why it matters,
  what to do, then a link to the finding in Security Hub and a console deep link to the resource.
* ``chat``: an AWS Chatbot / Amazon Q Developer in chat applications *custom notification* (JSON with
  ``version: "1.0"``, ``source: "custom"``, ``content``, ``metadata``), so the same topic can feed a
  Slack or Microsoft Teams channel.

Every value that comes from an event (names, user agents, addresses, ids) is cleaned of control and
invisible characters and length-limited, so a hostile string cannot reshape the message or push it past
SNS limits (subject < 100 ASCII characters, message <= 256 KB). In the chat format such values are also
neutralised for Markdown: the characters that make links, mentions, emphasis, code, headings or tables
are replaced by look-alikes that mean nothing to Slack or Teams (chat Markdown has no escape that
works everywhere); the exact values are in Security Hub. JSON is only ever made by ``json.dumps``.
Links are built from validated, percent-encoded parts only.
"""

from __future__ import annotations

import re
from urllib.parse import quote

from identity_auditor.model.findings import Finding
from identity_auditor.model.text import ascii_clip, clip
from identity_auditor.sinks.asff import (
    cloudtrail_event_url,
    console_origin,
    related_requirement,
    safe_region,
    securityhub_finding_url,
)

ALERT_FORMATS = ("email", "chat")
SUBJECT_LIMIT = 99  # SNS: ASCII, no line breaks, less than 100 characters
MESSAGE_LIMIT = 256 * 1024  # SNS: a message is at most 256 KB
_VALUE = 400
_DETAILS_BUDGET = 200 * 1024  # e-mail: characters of evidence lines, keeping the message under 256 KB

# Characters that hide or reorder text: zero-width, bidi controls, word joiners, BOM; lone surrogates
# (from "\ud800" escapes in event JSON) cannot be encoded at all.
_INVISIBLE = re.compile("[\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]")
_SURROGATE = re.compile("[\ud800-\udfff]")
# IAM user and role names; an ARN's path is skipped, only the name is used in a link.
_IAM_NAME = re.compile(r"[\w+=,.@-]{1,128}", re.ASCII)
_IAM_ARN = re.compile(
    r"arn:aws[a-z-]*:iam::\d{12}:(user|role)/(?:[\x21-\x7e]*/)?([\w+=,.@-]{1,128})", re.ASCII
)

# -- cleaning --------------------------------------------------------------------------------------


def _text(value: object, limit: int) -> str:
    """An untrusted value on one line: no control or invisible characters, at most ``limit`` characters."""
    raw = "" if value is None else str(value)
    return clip(_SURROGATE.sub("\ufffd", _INVISIBLE.sub("", raw)), limit)


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


# -- e-mail ----------------------------------------------------------------------------------------


def subject(finding: Finding) -> str:
    return ascii_clip(
        f"[{finding.severity.value}] {finding.title}: {_text(finding.subject or finding.actor.name, 200)}"
        f" in {finding.account_id}",
        SUBJECT_LIMIT,
    )


def _when(finding: Finding) -> str:
    return finding.event_time.isoformat().replace("+00:00", "Z") if finding.event_time else "unknown"


def body(finding: Finding, *, home_region: str | None = None, home_partition: str | None = None) -> str:
    actor, console = finding.actor, console_link(finding)
    lines = [
        f"{finding.severity.value}: {finding.title}",
        "",
        f"What happened: {_text(finding.description, 1000)}",
    ]
    if finding.event_id or actor.source_ip:  # an event: someone did it (state findings have no actor)
        lines.append(f"Who:           {_text(actor.name, _VALUE)} ({_text(actor.type or 'unknown type', 40)})")
        if actor.arn:
            lines.append(f"               {_text(actor.arn, _VALUE)}")
        lines.append(
            f"From:          {_text(actor.source_ip or 'unknown address', 100)}"
            f" with {_text(actor.user_agent or 'unknown client', 200)}"
        )
    lines += [
        f"Where:         account {_text(finding.account_id, 64)}, region {_text(finding.region, 32)}",
        f"When:          {_when(finding)}",
        f"Resource:      {_text(finding.resource_type, 64)} {_text(finding.resource_id, _VALUE)}",
    ]
    budget = _DETAILS_BUDGET
    for key, value in sorted(finding.details.items()):
        line = f"  {_text(key, 64)}: {_text(value, _VALUE)}"
        if value and len(line) <= budget:
            lines.append(line)
            budget -= len(line) + 1
    lines += [
        "",
        f"Why it matters: {finding.why}",
        "",
        f"What to do: {finding.remediation}",
        f"Guide: {finding.remediation_url}",
        "",
        f"Security Hub:  {securityhub_link(finding, home_region=home_region, home_partition=home_partition)}",
        f"Console:       {console}",
        "",
    ]
    if finding.event_id or finding.event_source != "config.amazonaws.com":
        lines.append(
            f"CloudTrail event: {_text(finding.event_source, 100)} {_text(finding.event_name, 100)}"
            f" {_text(finding.event_id or '(no event id)', 100)}"
        )
    else:
        lines.append("Evaluated by: AWS Config (identity state), re-checked on every sweep")
    if finding.event_id and cloudtrail_event_url(finding) != console:
        lines.append(f"  {cloudtrail_event_url(finding)}")
    lines += [
        f"Security Hub finding: {_text(finding.finding_id, 600)}",
        f"Rule: {finding.rule_id}"
        + (
            f" ({', '.join(related_requirement(c) for c in finding.compliance)})"
            if finding.compliance
            else ""
        ),
    ]
    return "\n".join(lines) + "\n"


def attributes(finding: Finding) -> dict[str, dict[str, str]]:
    """SNS message attributes for subscription filter policies."""
    return {
        "severity": {"DataType": "String", "StringValue": finding.severity.value},
        "severity_rank": {"DataType": "Number", "StringValue": str(finding.severity.rank)},
        "rule_id": {"DataType": "String", "StringValue": finding.rule_id},
        "account_id": {"DataType": "String", "StringValue": _text(finding.account_id, 64) or "unknown"},
    }


def render(
    finding: Finding,
    alert_format: str = "email",
    *,
    home_region: str | None = None,
    home_partition: str | None = None,
) -> tuple[str, str]:
    """``(subject, message)`` of the alert in ``alert_format`` (``email`` or ``chat``)."""
    if alert_format == "email":
        return subject(finding), body(finding, home_region=home_region, home_partition=home_partition)
    if alert_format == "chat":
        from identity_auditor.sinks.alerts.chat import chat_message

        return subject(finding), chat_message(finding, home_region=home_region, home_partition=home_partition)
    raise ValueError(f"alert format {alert_format!r} is not one of {', '.join(ALERT_FORMATS)}")
