"""Alerts for chat: the AWS Chatbot / Amazon Q Developer custom-notification JSON (Slack, Teams, Chime).

Schema: "Custom notifications using Amazon Q Developer in chat applications" (version "1.0", source
"custom", content.textType "client-markdown"). Backslash escapes do not work in Slack and the Markdown
conversion is not documented, so values from events are made inert with look-alike characters instead:
``[link](x)`` becomes ``［link］（x）``, ``@here`` becomes ``＠here``; the exact values stay in
Security Hub and in the e-mail format. The JSON is only ever built with ``json.dumps``.
"""

from __future__ import annotations

import json
import re

from identity_auditor.model.findings import Finding
from identity_auditor.model.text import clip
from identity_auditor.sinks.alerts.common import MESSAGE_LIMIT, clean, console_link, securityhub_link, when

# Look-alikes for every character that means something to Slack mrkdwn, Teams Markdown or CommonMark.
_MARKDOWN = str.maketrans(
    {
        "\\": "\u2216",  # ∖  escapes
        "*": "\u2217",  # ∗  bold / italic
        "`": "\u02cb",  # ˋ  code
        "[": "\uff3b",  # ［ links
        "]": "\uff3d",  # ］
        "(": "\uff08",  # （
        ")": "\uff09",  # ）
        "<": "\u2039",  # ‹  Slack links and mentions (<url|text>, <!here>, <@U123>), HTML
        ">": "\u203a",  # ›  quotes
        "#": "\uff03",  # ＃ headings, channels
        "|": "\u01c0",  # ǀ  tables, Slack link text
        "~": "\u223c",  # ∼  strike-through
        "&": "\uff06",  # ＆ Slack entities (&lt;)
        "@": "\uff20",  # ＠ mentions: @here, @channel, @everyone, @user
    }
)
# Our own rule texts (titles, why, remediation) keep their parentheses: without a bracket, "(" makes no link.
_MARKDOWN_TRUSTED = {**_MARKDOWN}
del _MARKDOWN_TRUSTED[ord("(")], _MARKDOWN_TRUSTED[ord(")")]
_LOOSE_UNDERSCORE = re.compile(r"(?<![0-9A-Za-z])_|_(?![0-9A-Za-z])")  # inside a word it cannot emphasise


def md(value: object, limit: int, *, trusted: bool = False) -> str:
    """An untrusted value made inert in chat Markdown: cleaned, clipped, no link, mention or markup
    can start from it; ``http://x`` is defanged to ``http:∕∕x`` so it is not auto-linked. ``trusted``
    (the rule's own texts) keeps parentheses."""
    table = _MARKDOWN_TRUSTED if trusted else _MARKDOWN
    text = _LOOSE_UNDERSCORE.sub("\uff3f", clean(value, limit)).translate(table)
    return text.replace("://", ":\u2215\u2215")


def _token(value: object, limit: int = 1024) -> str:
    """A value for places that take plain tokens (ids, custom-action variables: ``[\\x21-\\x7F]+``)."""
    return re.sub(r"[^A-Za-z0-9_.:/=+,-]", "-", clean(value, limit)) or "-"


# -- chat (AWS Chatbot / Amazon Q Developer custom notification) -----------------------------------

CHAT_TITLE_LIMIT = 250  # our bounds: the documented schema gives no per-field limits
CHAT_DESCRIPTION_LIMIT = 4000
CHAT_STEP_LIMIT = 600
CHAT_LINK_LIMIT = 1000  # a longer link (from a hostile finding id) is left out of the description
_EMOJI = {
    "CRITICAL": ":rotating_light:",
    "HIGH": ":red_circle:",
    "MEDIUM": ":warning:",
    "LOW": ":information_source:",
    "INFORMATIONAL": ":information_source:",
}


def chat_message(
    finding: Finding, *, home_region: str | None = None, home_partition: str | None = None
) -> str:
    """The custom-notification JSON for AWS Chatbot / Amazon Q Developer in chat applications."""
    actor, severity = finding.actor, finding.severity.value
    hub = securityhub_link(finding, home_region=home_region, home_partition=home_partition)
    console = console_link(finding)
    lines = [
        f"*What happened:* {md(finding.description, 600)}",
        f"*Who:* {md(actor.short_name(), 128)} ({md(actor.type or 'unknown type', 40)})"
        + (f" {md(actor.arn, 300)}" if actor.arn else ""),
        f"*From:* {md(actor.source_ip or 'unknown address', 64)}"
        f" with {md(actor.user_agent or 'unknown client', 200)}",
        f"*Where:* account {md(finding.account_id, 64)}, region {md(finding.region, 32)}",
        f"*When:* {md(when(finding), 40)}",
        f"*Resource:* {md(finding.resource_type, 64)} {md(finding.resource_id, 300)}",
    ]
    lines += [
        f"• {md(key, 64)}: {md(value, 150)}" for key, value in sorted(finding.details.items()) if value
    ][:5]
    lines.append(f"*Why it matters:* {md(finding.why, 500, trusted=True)}")
    # Links go whole or not at all: one cut short leads nowhere. The values above give way to them.
    tail = "\n".join(line for line in (f"*Security Hub:* {hub}", f"*Console:* {console}")
                     if len(line) <= CHAT_LINK_LIMIT) + f"\n*Rule:* {md(finding.rule_id, 128)}"
    head = clip("\n".join(lines), CHAT_DESCRIPTION_LIMIT - len(tail) - 1, single_line=False)
    steps = [f"*What to do:* {md(finding.remediation, CHAT_STEP_LIMIT - 20, trusted=True)}"]
    steps += [step for step in (f"Open the finding in Security Hub: {hub}", f"Open in the console: {console}")
              if len(step) <= CHAT_STEP_LIMIT]
    if re.fullmatch(r"https://[A-Za-z0-9.-]+(/[A-Za-z0-9._~%/#?=&+-]*)?", finding.remediation_url or ""):
        steps.append(f"Guide: {finding.remediation_url}")
    thread = "/".join(finding.finding_id.split("/")[:4])  # rule/account/region/resource: one thread each
    document = {
        "version": "1.0",
        "source": "custom",
        "id": _token(finding.finding_id, 512),
        "content": {
            "textType": "client-markdown",
            "title": clip(
                f"{_EMOJI.get(severity, '')} {severity}: {md(finding.title, 120, trusted=True)}"
                f" by {md(actor.short_name(), 100)}",
                CHAT_TITLE_LIMIT,
            ).strip(),
            "description": f"{head}\n{tail}",
            "nextSteps": [clip(step, CHAT_STEP_LIMIT) for step in steps],
            "keywords": [severity, _token(finding.rule_id, 64), _token(finding.account_id, 64)],
        },
        "metadata": {
            "threadId": _token(thread, 256),
            "summary": clip(
                f"{severity}: {md(finding.title, 120, trusted=True)} in account {md(finding.account_id, 64)}",
                200,
            ),
            "eventType": _token(finding.rule_id, 100),
            "relatedResources": list(
                dict.fromkeys(md(value, 512) for value in (finding.resource_id, actor.arn) if value)
            ),
            "additionalContext": {
                "severity": severity,
                "severityRank": str(finding.severity.rank),
                "ruleId": _token(finding.rule_id),
                "accountId": _token(finding.account_id, 64),
                "region": _token(finding.region, 32),
                "findingId": _token(finding.finding_id),
            },
        },
    }
    message = json.dumps(document, ensure_ascii=False, separators=(",", ":"))
    if len(message.encode("utf-8")) > MESSAGE_LIMIT:  # cannot happen with the bounds above; never send more
        raise ValueError(f"chat alert for {finding.finding_id!r} is over the SNS message limit")
    return message
