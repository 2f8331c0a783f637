"""The alert a security engineer reads: an SNS subject and a plain-text body, read at a glance.

What happened, who, from where, where, when, why it matters, what to do. Every value that comes from
an event (names, user agents, addresses) is cleaned of control characters and length-limited, so a
hostile string cannot reshape the message or push it past SNS limits (subject < 100 ASCII characters,
message ≤ 256 KB).
"""

from __future__ import annotations

from identity_auditor.asff import cloudtrail_event_url, related_requirement
from identity_auditor.findings import Finding
from identity_auditor.text import ascii_clip, clip

SUBJECT_LIMIT = 99  # SNS: ASCII, no line breaks, less than 100 characters
_VALUE = 400


def subject(finding: Finding) -> str:
    return ascii_clip(
        f"[{finding.severity.value}] {finding.title}: {finding.actor.name} in {finding.account_id}", SUBJECT_LIMIT
    )


def body(finding: Finding) -> str:
    actor = finding.actor
    when = finding.event_time.isoformat().replace("+00:00", "Z") if finding.event_time else "unknown"
    lines = [
        f"{finding.severity.value}: {finding.title}",
        "",
        f"What happened: {clip(finding.description, 1000)}",
        f"Who:           {clip(actor.name, _VALUE)} ({clip(actor.type or 'unknown type', 40)})",
    ]
    if actor.arn:
        lines.append(f"               {clip(actor.arn, _VALUE)}")
    lines += [
        f"From:          {clip(actor.source_ip or 'unknown address', 100)}"
        f" with {clip(actor.user_agent or 'unknown client', 200)}",
        f"Where:         account {clip(finding.account_id, 64)}, region {clip(finding.region, 32)}",
        f"When:          {when}",
        f"Resource:      {clip(finding.resource_type, 64)} {clip(finding.resource_id, _VALUE)}",
    ]
    lines += [f"  {clip(key, 64)}: {clip(value, _VALUE)}" for key, value in sorted(finding.details.items()) if value]
    lines += [
        "",
        f"Why it matters: {finding.why}",
        "",
        f"What to do: {finding.remediation}",
        f"Guide: {finding.remediation_url}",
        "",
        f"CloudTrail event: {clip(finding.event_source, 100)} {clip(finding.event_name, 100)}"
        f" {clip(finding.event_id or '(no event id)', 100)}",
    ]
    if finding.event_id:
        lines.append(f"  {cloudtrail_event_url(finding)}")
    lines += [
        f"Security Hub finding: {clip(finding.finding_id, 600)}",
        f"Rule: {finding.rule_id}"
        + (f" ({', '.join(related_requirement(c) for c in finding.compliance)})" if finding.compliance else ""),
    ]
    return "\n".join(lines) + "\n"


def attributes(finding: Finding) -> dict[str, dict[str, str]]:
    """SNS message attributes for subscription filter policies."""
    return {
        "severity": {"DataType": "String", "StringValue": finding.severity.value},
        "severity_rank": {"DataType": "Number", "StringValue": str(finding.severity.rank)},
        "rule_id": {"DataType": "String", "StringValue": finding.rule_id},
        "account_id": {"DataType": "String", "StringValue": clip(finding.account_id, 64) or "unknown"},
    }
