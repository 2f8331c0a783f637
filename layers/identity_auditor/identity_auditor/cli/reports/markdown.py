"""``report.md``: a short summary to paste into a pull request or a ticket (GitHub-flavoured Markdown).

Counts by severity, the compliance controls that failed or passed, and the findings (the 50 most severe;
``report.html`` has them all). Findings carry attacker-chosen text: every cell is one clean line
(:func:`identity_auditor.model.text.clean`) with HTML's special characters escaped (GitHub renders inline
HTML), and ``|``, backslashes and Markdown's emphasis, link and code characters escaped, so that a value
can neither break out of its cell nor become a link, an image or a mention.
"""

from __future__ import annotations

import html
import re
from typing import IO

from identity_auditor.cli.reports.summary import FAIL, FRAMEWORKS, PASS, SUPPRESSED, Summary
from identity_auditor.model.text import clean

FINDINGS_SHOWN = 50
_MARKDOWN = re.compile(r"([\\`*_{}\[\]()#+!|~>@:])")
_WWW = re.compile(r"(?i)\b(www)\.")  # GitHub's extended autolinks make "www.example.com" a link


def md_cell(value: object, limit: int = 300) -> str:
    """A value as one Markdown table cell: one line, HTML and Markdown syntax escaped."""
    text = html.escape(clean(value, limit), quote=False)
    return _WWW.sub(r"\1\\.", _MARKDOWN.sub(r"\\\1", text)) or " "


def render(summary: Summary, out: IO[str], *, title: str, generated: str) -> None:
    findings = summary.findings
    w = out.write
    w(f"## {md_cell(title, 200)}\n\n")
    counts = ", ".join(f"{n} {s.value.lower()}" for s, n in summary.by_severity.items() if n)
    w(f"**{len(findings)} finding{'s' if len(findings) != 1 else ''}**" + (f" ({counts})" if counts else ""))
    if summary.suppressed:
        w(f", {summary.suppressed} of them suppressed by the organisation policy")
    if summary.evaluations:
        v = summary.verdicts
        w(f"; state results: {v.get(PASS, 0)} compliant, {v.get(FAIL, 0) + v.get(SUPPRESSED, 0)} non-compliant")
    w(f" in {len(summary.accounts)} account{'s' if len(summary.accounts) != 1 else ''}. Generated {generated}.\n\n")
    if summary.gaps:  # an incomplete run says so before any verdict
        w("**Not covered by this run** (no control under them is shown as passing: INCOMPLETE):\n\n")
        for gap in summary.gaps:
            w(f"- {md_cell(gap, 1000)}\n")
        w("\n")

    if summary.controls:
        w("| Control | Status | Rules | Failed | Passed |\n|---|---|---|---:|---:|\n")
        for control in summary.controls:
            w(f"| {md_cell(control.ref)} | {control.status} | {md_cell(', '.join(sorted(control.rules)))} | "
              f"{control.count(FAIL) + control.count(SUPPRESSED)} | {control.count(PASS)} |\n")
        w("\n")

    if findings:
        w("| Severity | Rule | Account | Actor | Resource | Description |\n|---|---|---|---|---|---|\n")
        for f in findings[:FINDINGS_SHOWN]:
            severity = f.severity.value + (" (suppressed)" if f.suppression else "")
            w(f"| {severity} | {md_cell(f.rule_id)} | {md_cell(f.account_id)} | {md_cell(f.actor.short_name(80))} | "
              f"{md_cell(f.resource_id, 200)} | {md_cell(f.description, 300)} |\n")
        if len(findings) > FINDINGS_SHOWN:
            w(f"\n… and {len(findings) - FINDINGS_SHOWN} more (all of them in `report.html` and `findings.csv`).\n")
        w("\n")
    legend = "; ".join(f"{key}: {name}" for key, name in FRAMEWORKS.items())
    w(f"<sub>{html.escape(legend)}</sub>\n")
