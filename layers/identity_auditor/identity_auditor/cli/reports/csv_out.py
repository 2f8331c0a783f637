"""``--format csv`` and ``findings.csv``: one finding per row, for spreadsheets and data tools.

The columns, in this order, never renamed or reordered (new ones are only ever added at the end):

``severity`` (CRITICAL, HIGH, MEDIUM, LOW, INFORMATIONAL), ``suppressed`` (``yes`` when the organisation
policy suppressed it, else empty), ``rule_id``, ``title``, ``compliance_status`` (FAILED; PASSED for the
evidence of ``audit-account --evidence``), ``event_time`` (ISO 8601, UTC; for a state result the time of the
audit), ``account_id``, ``region``, ``actor`` (the person first: role session or Identity Center user, then
the role), ``actor_arn``, ``source_ip``, ``event_name``, ``resource_type``, ``resource_id``, ``description``,
``compliance`` (CIS5/CIS3/FSBP ids separated by ``;``), ``remediation``, ``remediation_url``, ``finding_id``,
``event_id``, ``suppression_reason``, ``suppression_owner``, ``suppression_expires``.

Findings carry text an attacker chose (user names, session names, user agents). Every cell is one line
without control or invisible characters (:func:`identity_auditor.model.text.clean`), and a cell a
spreadsheet would take for a formula (starting with ``=``, ``+``, ``-`` or ``@``) is prefixed with ``'``,
so that opening the file in Excel or LibreOffice never runs anything.
"""

from __future__ import annotations

import csv
from typing import IO

from identity_auditor.cli.output import writer
from identity_auditor.model.text import clean

COLUMNS = (
    "severity", "suppressed", "rule_id", "title", "compliance_status", "event_time", "account_id", "region",
    "actor", "actor_arn", "source_ip", "event_name", "resource_type", "resource_id", "description", "compliance",
    "remediation", "remediation_url", "finding_id", "event_id", "suppression_reason", "suppression_owner",
    "suppression_expires",
)
CELL_LIMIT = 4000
_FORMULA = ("=", "+", "-", "@")


def cell(value: object) -> str:
    """A value as a safe CSV cell: one clean line, never a formula."""
    text = clean(value, CELL_LIMIT)
    if text.lstrip().startswith(_FORMULA):
        return "'" + text
    return text


def row(finding) -> list[str]:
    why = finding.suppression
    values = (
        finding.severity.value,
        "yes" if why is not None else "",
        finding.rule_id,
        finding.title,
        finding.compliance_status,
        finding.event_time.isoformat() if finding.event_time else "",
        finding.account_id,
        finding.region,
        finding.actor.short_name(),
        finding.actor.arn or "",
        finding.actor.source_ip or "",
        finding.event_name,
        finding.resource_type,
        finding.resource_id,
        finding.description,
        ";".join(finding.compliance),
        finding.remediation,
        finding.remediation_url,
        finding.finding_id,
        finding.event_id or "",
        why.reason if why else "",
        why.owner if why else "",
        why.expires.isoformat() if why else "",
    )
    return [cell(value) for value in values]


@writer("csv")
class CsvWriter:
    """Writes the header at once, then one row per :meth:`write` (nothing kept); :meth:`close` flushes."""

    def __init__(self, out: IO[str], *, product_arn: str | None = None):
        self.out = out
        self._csv = csv.writer(out, lineterminator="\n")
        self._csv.writerow(COLUMNS)

    def write(self, finding) -> None:
        self._csv.writerow(row(finding))

    def close(self) -> None:
        self.out.flush()
