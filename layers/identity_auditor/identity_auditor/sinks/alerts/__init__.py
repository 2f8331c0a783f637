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

from identity_auditor.model.findings import Finding
from identity_auditor.sinks.alerts.chat import chat_message
from identity_auditor.sinks.alerts.common import (  # the alert's parts, for the sinks and the CLI
    ALERT_FORMATS,
    MESSAGE_LIMIT,
    SUBJECT_LIMIT,
    attributes,
    clean,
    console_link,
    securityhub_link,
    subject,
)
from identity_auditor.sinks.alerts.email import body

__all__ = ["ALERT_FORMATS", "MESSAGE_LIMIT", "SUBJECT_LIMIT", "attributes", "body", "chat_message", "clean",
           "console_link", "render", "securityhub_link", "subject"]


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
        return subject(finding), chat_message(finding, home_region=home_region, home_partition=home_partition)
    raise ValueError(f"alert format {alert_format!r} is not one of {', '.join(ALERT_FORMATS)}")
