"""The ``email`` alert format: plain text read at a glance: what happened, who, from where, where, when,
why it matters, what to do, then a link to the finding in Security Hub and a console deep link."""

from __future__ import annotations

from identity_auditor.model.findings import Finding
from identity_auditor.sinks.alerts.common import VALUE_LIMIT, clean, console_link, securityhub_link, when
from identity_auditor.sinks.asff import cloudtrail_event_url, related_requirement

_DETAILS_BUDGET = 200 * 1024  # characters of evidence lines, keeping the message under 256 KB


def body(finding: Finding, *, home_region: str | None = None, home_partition: str | None = None) -> str:
    actor, console = finding.actor, console_link(finding)
    lines = [
        f"{finding.severity.value}: {finding.title}",
        "",
        f"What happened: {clean(finding.description, 1000)}",
    ]
    if finding.event_id or actor.source_ip:  # an event: someone did it (state findings have no actor)
        lines.append(f"Who:           {clean(actor.short_name(), VALUE_LIMIT)} ({clean(actor.type or 'unknown type', 40)})")
        if actor.arn:
            lines.append(f"               {clean(actor.arn, VALUE_LIMIT)}")
        lines.append(
            f"From:          {clean(actor.source_ip or 'unknown address', 100)}"
            f" with {clean(actor.user_agent or 'unknown client', 200)}"
        )
    lines += [
        f"Where:         account {clean(finding.account_id, 64)}, region {clean(finding.region, 32)}",
        f"When:          {when(finding)}",
        f"Resource:      {clean(finding.resource_type, 64)} {clean(finding.resource_id, VALUE_LIMIT)}",
    ]
    budget = _DETAILS_BUDGET
    for key, value in sorted(finding.details.items()):
        line = f"  {clean(key, 64)}: {clean(value, VALUE_LIMIT)}"
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
            f"CloudTrail event: {clean(finding.event_source, 100)} {clean(finding.event_name, 100)}"
            f" {clean(finding.event_id or '(no event id)', 100)}"
        )
    else:
        lines.append("Evaluated by: AWS Config (identity state), re-checked on every sweep")
    if finding.event_id and cloudtrail_event_url(finding) != console:
        lines.append(f"  {cloudtrail_event_url(finding)}")
    lines += [
        f"Security Hub finding: {clean(finding.finding_id, 600)}",
        f"Rule: {finding.rule_id}"
        + (
            f" ({', '.join(related_requirement(c) for c in finding.compliance)})"
            if finding.compliance
            else ""
        ),
    ]
    return "\n".join(lines) + "\n"
