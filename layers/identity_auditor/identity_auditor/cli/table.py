"""The findings as a table for a person: :func:`render_table`.

On a terminal, a table drawn by ``rich`` (a CLI-only dependency, imported here only), as wide as the terminal,
severities in colour unless ``NO_COLOR`` is set or ``--no-color`` was given. Anywhere else (a file, a pipe, a
script), plain whitespace-separated columns that scripts can split: ``SEVERITY RULE TIME ACCOUNT ACTOR
RESOURCE``, the rule id second, with the suppression and the description on indented lines under each row.

Both are sorted the same way (:func:`table_order`) and both mark a suppressed finding. Every value from an
event goes through :func:`~identity_auditor.model.text.clean` (no terminal escapes, nothing that hides or
reorders text), and the terminal table puts values in ``rich`` ``Text`` objects, which are never read as
markup: an actor named ``[bold red]admin`` is shown as those characters.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import IO, TYPE_CHECKING

from identity_auditor.model.text import as_utc, clean

if TYPE_CHECKING:
    from identity_auditor.model.findings import Finding

ACTOR_WIDTH = 64  # a role session or IAM user name (the person) is at most 64 characters: never clipped
SUPPRESSED = "SUPPRESSED"
HEADER = ("SEVERITY", "RULE", "TIME", "ACCOUNT", "ACTOR", "RESOURCE")

# ``--no-color`` for this run of the command (cli.main sets it); ``NO_COLOR`` in the environment is honoured too
COLOR: ContextVar[bool] = ContextVar("identity_auditor_color", default=True)

SEVERITY_STYLE = {
    "CRITICAL": "bold white on red",
    "HIGH": "bold red",
    "MEDIUM": "yellow",
    "LOW": "cyan",
    "INFORMATIONAL": "dim",
}


def table_order(finding: Finding) -> tuple:
    """How the table sorts: severity (highest first), then event time (oldest first, none last), then rule id."""
    moment = finding.event_time
    return (-finding.severity.rank, moment is None, as_utc(moment).timestamp() if moment else 0.0, finding.rule_id)


def is_terminal(stream: IO[str]) -> bool:
    return bool(getattr(stream, "isatty", lambda: False)())


def render_table(findings: list[Finding], out: IO[str]) -> None:
    """One row per finding, most severe first: a ``rich`` table when ``out`` is a terminal, plain aligned
    columns otherwise. A suppressed finding says so in its severity (``HIGH/SUPPRESSED``) and under its row
    (until when, whose, why), so nobody takes it for a live one."""
    if not findings:
        return
    findings = sorted(findings, key=table_order)  # stable: ties keep the order the findings came in
    if is_terminal(out):
        _rich_table(findings, out)
    else:
        _plain_table(findings, out)


def _cells(finding: Finding) -> tuple[str, ...]:
    return (
        f"{finding.severity.value}/{SUPPRESSED}" if finding.suppression else finding.severity.value,
        finding.rule_id,
        finding.event_time.strftime("%Y-%m-%dT%H:%M:%SZ") if finding.event_time else "-",
        clean(finding.account_id, 14),
        clean(finding.actor.short_name(ACTOR_WIDTH), ACTOR_WIDTH),
        clean(finding.resource_id, 60),
    )


def _suppression(finding: Finding) -> str:
    why = finding.suppression
    return f"{SUPPRESSED} until {why.expires.isoformat()} (owner {clean(why.owner, 60)}): {clean(why.reason, 200)}"


def _plain_table(findings: list[Finding], out: IO[str]) -> None:
    rows = [_cells(f) for f in findings]
    widths = [max(len(row[i]) for row in [HEADER, *rows]) for i in range(len(HEADER))]
    out.write("  ".join(h.ljust(w) for h, w in zip(HEADER, widths)).rstrip() + "\n")
    for finding, row in zip(findings, rows):
        out.write("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() + "\n")
        if finding.suppression:
            out.write(f"    {_suppression(finding)}\n")
        out.write(f"    {clean(finding.description, 200)}\n")


def console(out: IO[str]):
    """A ``rich`` console writing to ``out`` (a terminal): its width, colours unless ``NO_COLOR`` (rich reads
    it) or ``--no-color``; no markup and no highlighting, since what is printed comes from events."""
    from rich.console import Console

    return Console(file=out, force_terminal=True, no_color=not COLOR.get() or None, markup=False,
                   highlight=False, emoji=False, soft_wrap=False)


def _rich_table(findings: list[Finding], out: IO[str]) -> None:
    from rich import box
    from rich.table import Table
    from rich.text import Text

    table = Table(box=box.SIMPLE_HEAD, header_style="bold", show_edge=False, pad_edge=False, expand=True)
    table.add_column("SEVERITY", no_wrap=True)
    longest_rule = max(len(finding.rule_id) for finding in findings)  # a rule id is never cut
    table.add_column("RULE / WHAT HAPPENED", ratio=5, min_width=max(30, longest_rule), overflow="fold")
    table.add_column("TIME", no_wrap=True)
    table.add_column("ACCOUNT", no_wrap=True)
    table.add_column("ACTOR", ratio=2, min_width=16, overflow="fold")
    table.add_column("RESOURCE", ratio=3, min_width=20, overflow="fold")
    for finding in findings:
        _, rule, moment, account, actor, _ = _cells(finding)
        level = Text(finding.severity.value, style="dim" if finding.suppression else
                     SEVERITY_STYLE.get(finding.severity.value, ""))
        what = Text()
        what.append(rule, style="bold")
        if finding.suppression:
            level.append("\nsuppressed", style="italic")
            what.append("\n" + _suppression(finding), style="italic")
        what.append("\n" + clean(finding.description, 400))
        table.add_row(level, what, Text(moment), Text(account), Text(actor), Text(clean(finding.resource_id, 300)))
    console(out).print(table)
