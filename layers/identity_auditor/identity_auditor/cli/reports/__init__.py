"""Reports and exchange formats of ``evaluate`` and ``audit-account`` (CLI only: the Lambda layer's build
removes ``cli/``, and with it these modules and their libraries, py-ocsf-models and Jinja2).

* ``--format csv`` / ``--format ocsf``: :class:`~.csv_out.CsvWriter`, :class:`~.ocsf.OcsfWriter` (``write``
  each finding, then ``close``), through :func:`open_stream_writer`;
* ``--output-dir DIR``: :func:`write_reports` writes every format at once, under names that never change:

  ==================== =========================================================================
  ``findings.jsonl``   one finding per line, the keys of ``--format jsonl``
  ``findings.csv``     the columns of :mod:`.csv_out`
  ``findings.ocsf.json`` OCSF Detection Findings (events) and Compliance Findings (state results)
  ``report.html``      one self-contained page: summary, charts, CIS/FSBP controls with evidence,
                       every finding with its remediation (:mod:`.html`)
  ``report.md``        a summary for pull requests and tickets (:mod:`.markdown`)
  ==================== =========================================================================
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Iterable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import IO

STREAM_FORMATS = ("csv", "ocsf")
FILES = {
    "jsonl": "findings.jsonl",
    "csv": "findings.csv",
    "ocsf": "findings.ocsf.json",
    "html": "report.html",
    "md": "report.md",
}
REPORT_FORMATS = tuple(FILES)


def open_stream_writer(fmt: str, out: IO[str]):
    """A writer of ``fmt`` (``csv`` or ``ocsf``) on ``out``: ``write(finding)`` each finding, then ``close()``."""
    if fmt == "csv":
        from identity_auditor.cli.reports.csv_out import CsvWriter

        return CsvWriter(out)
    if fmt == "ocsf":
        from identity_auditor.cli.reports.ocsf import OcsfWriter

        return OcsfWriter(out)
    raise ValueError(f"unknown stream format {fmt!r}; expected one of {', '.join(STREAM_FORMATS)}")


def output_dir(text: str) -> Path:
    """The type of ``--output-dir``: the directory, created if missing; a usage error when it cannot be written
    (before any work is done)."""
    path = Path(text)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise argparse.ArgumentTypeError(f"cannot create the output directory {text!r}: {error.strerror}") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise argparse.ArgumentTypeError(f"cannot write to the output directory {text!r}")
    return path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``--output-dir`` and ``--reports`` (the same on ``evaluate`` and ``audit-account``)."""
    parser.add_argument("--output-dir", type=output_dir, default=None, metavar="DIR",
                        help="also write the findings and reports into DIR (created if missing): "
                             + ", ".join(FILES.values()))
    parser.add_argument("--reports", type=_formats, default=REPORT_FORMATS, metavar="F,F",
                        help=f"which files --output-dir writes (default: all of {','.join(REPORT_FORMATS)})")


def _formats(text: str) -> tuple[str, ...]:
    names = tuple(dict.fromkeys(part.strip().lower() for part in text.split(",") if part.strip()))
    unknown = [name for name in names if name not in FILES]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"invalid report list {text!r}: expected a comma-separated list of "
                                         f"{', '.join(FILES)}")
    return names


def passed_findings(state_results: Iterable) -> list:
    """The PASSED findings of the COMPLIANT state results (``audit-account --evidence``)."""
    from identity_auditor.cli.reports.summary import passed_findings as passed

    return passed(state_results)


def write_reports(directory: Path | str, formats: Iterable[str], findings: Sequence, *,
                  state_results: Sequence = (), title: str = "identity-auditor report", scope: str = "",
                  now: datetime | None = None) -> list[Path]:
    """Write ``formats`` (keys of :data:`FILES`) of ``findings`` into ``directory``; ``state_results`` (the
    :class:`~identity_auditor.engine.state.StateEvaluation` list of ``audit-account``) give the HTML and
    Markdown reports their PASS/FAIL verdicts and evidence. Each file is written whole to a temporary name and
    renamed, so a reader never sees half a report. Returns the paths written."""
    from identity_auditor.cli.reports.summary import summarise

    directory = Path(directory)
    generated = (now or datetime.now(timezone.utc)).strftime("%Y-%m-%d %H:%M:%S UTC")
    summary = None
    written = []
    for fmt in dict.fromkeys(formats):
        path = directory / FILES[fmt]
        temporary = path.with_name(f".{path.name}.tmp")
        with open(temporary, "w", encoding="utf-8", newline="") as out:
            if fmt == "jsonl":
                for finding in findings:
                    out.write(json.dumps(finding.summary(), default=str) + "\n")
            elif fmt in STREAM_FORMATS:
                writer = open_stream_writer(fmt, out)
                for finding in findings:
                    writer.write(finding)
                writer.close()
            else:
                summary = summary or summarise(findings, state_results)
                if fmt == "html":
                    from identity_auditor.cli.reports.html import render
                else:
                    from identity_auditor.cli.reports.markdown import render
                kwargs = {"scope": scope} if fmt == "html" else {}
                render(summary, out, title=title, generated=generated, **kwargs)
        os.replace(temporary, path)
        written.append(path)
    return written


def write_for_command(args: argparse.Namespace, findings: Sequence, err: IO[str], *, state_results: Sequence = (),
                      title: str, scope: str = "") -> bool:
    """``--output-dir`` of a command: the reports written and named on stderr; False (said why) when it failed."""
    if getattr(args, "output_dir", None) is None:
        return True
    try:
        paths = write_reports(args.output_dir, args.reports, findings, state_results=state_results, title=title,
                              scope=scope)
    except OSError as error:
        err.write(f"identity-auditor: cannot write the reports into {args.output_dir}: {error}\n")
        return False
    err.write(f"identity-auditor: wrote {', '.join(str(p) for p in paths)}\n")
    return True
