"""Reports and exchange formats of ``evaluate`` and ``audit-account`` (CLI only: the Lambda layer's build
removes ``cli/``, and with it these modules and their libraries, py-ocsf-models and Jinja2).

* ``--format csv`` and ``--format ocsf``: :class:`~.csv_out.CsvWriter` and :class:`~.ocsf.OcsfWriter`,
  :class:`~identity_auditor.cli.output.FindingWriter` s registered in ``cli.output.WRITERS`` when this
  package is imported (the commands import it before their parsers are built);
* ``--output-dir DIR``: every format at once, under names that never change:

  ====================== =========================================================================
  ``findings.jsonl``     one finding per line, the keys of ``--format jsonl``
  ``findings.csv``       the columns of :mod:`.csv_out`
  ``findings.ocsf.json`` OCSF Detection Findings (events) and Compliance Findings (state results)
  ``report.html``        one self-contained page: summary, charts, CIS/FSBP controls with evidence,
                         every finding with its remediation (:mod:`.html`)
  ``report.md``          a summary for pull requests and tickets (:mod:`.markdown`)
  ====================== =========================================================================

  The three finding files are written as findings come (nothing kept); the HTML and Markdown reports need
  them all, so the findings are kept in memory when one of those is asked for (``--reports``).
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import IO

from identity_auditor.cli.output import name_list, open_writer
from identity_auditor.cli.reports import csv_out, ocsf  # noqa: F401  (registers the csv and ocsf writers)
from identity_auditor.model.text import clean

FILES = {
    "jsonl": "findings.jsonl",
    "csv": "findings.csv",
    "ocsf": "findings.ocsf.json",
    "html": "report.html",
    "md": "report.md",
}
STREAMED = ("jsonl", "csv", "ocsf")
REPORT_FORMATS = tuple(FILES)


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


def _formats(text: str) -> tuple[str, ...]:
    return name_list(text, tuple(FILES), "report")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``--output-dir`` and ``--reports`` (the same on ``evaluate`` and ``audit-account``)."""
    parser.add_argument("--output-dir", type=output_dir, default=None, metavar="DIR",
                        help="also write the findings and reports into DIR (created if missing): "
                             + ", ".join(FILES.values()))
    parser.add_argument("--reports", type=_formats, default=REPORT_FORMATS, metavar="F,F",
                        help=f"which files --output-dir writes (default: all of {','.join(REPORT_FORMATS)})")


class ReportWriter:
    """A :class:`~identity_auditor.cli.output.FindingWriter` that passes each finding to ``sink`` (the
    command's ``--format`` on stdout) and writes the files of ``formats`` into ``directory``. Each file is
    written under a temporary name and renamed when closed, so that no reader sees half a report. A file that
    cannot be written is said on ``err`` and :attr:`failed` is set: the command's exit status says so."""

    def __init__(self, sink, directory: Path, formats: Iterable[str], err: IO[str] | None, *, title: str,
                 scope: str = "", state_results: Sequence = (), now: datetime | None = None,
                 coverage: Coverage | None = None):
        self.sink, self.directory, self.err = sink, Path(directory), err
        self.formats = tuple(dict.fromkeys(formats))
        self.title, self.scope, self.state_results = title, scope, state_results
        self.coverage = coverage or Coverage()
        self.now = now or datetime.now(timezone.utc)
        self.kept: list | None = [] if {"html", "md"} & set(self.formats) else None
        self.error: OSError | None = None  # the write that failed, said on stderr
        self.paths: list[Path] = []
        self._files: list[tuple[str, IO[str], object]] = []
        try:
            for fmt in self.formats:
                if fmt in STREAMED:
                    handle = open(self._temporary(fmt), "w", encoding="utf-8", newline="")
                    self._files.append((fmt, handle, open_writer(fmt, handle)))
        except OSError as error:
            self._fail(error)

    def _temporary(self, fmt: str) -> Path:
        return self.directory / f".{FILES[fmt]}.tmp"

    def _fail(self, error: OSError) -> None:
        self.error = error
        if self.err is not None:
            self.err.write(f"identity-auditor: cannot write the reports into {self.directory}: {error}\n")
        for _, handle, _ in self._files:
            handle.close()
        self._files = []
        for fmt in self.formats:  # no half-written file left behind
            self._temporary(fmt).unlink(missing_ok=True)

    @property
    def failed(self) -> bool:
        return self.error is not None

    def write(self, finding) -> None:
        if self.sink is not None:
            self.sink.write(finding)
        try:
            for _, _, writer in self._files:
                writer.write(finding)
        except OSError as error:
            self._fail(error)
        if self.kept is not None:
            self.kept.append(finding)

    def close(self) -> None:
        if self.sink is not None:
            self.sink.close()
        if self.failed:
            return
        try:
            for fmt, handle, writer in self._files:
                writer.close()
                handle.close()
            summary = None
            if self.kept is not None:  # html or md asked for: the figures every report shows, once
                from identity_auditor.cli.reports.summary import summarise

                summary = summarise(self.kept, self.state_results, gaps=self.coverage.gaps,
                                    rules_not_run=self.coverage.rules_not_run,
                                    accounts_unread=self.coverage.accounts_unread)
            for fmt in self.formats:
                if fmt not in STREAMED:
                    with open(self._temporary(fmt), "w", encoding="utf-8", newline="") as handle:
                        _render(fmt, summary, handle, title=self.title, scope=self.scope, now=self.now)
            for fmt in self.formats:
                os.replace(self._temporary(fmt), self.directory / FILES[fmt])
                self.paths.append(self.directory / FILES[fmt])
        except OSError as error:
            self._fail(error)
            return
        if self.err is not None:
            self.err.write(f"identity-auditor: wrote {', '.join(str(path) for path in self.paths)}\n")


def _render(fmt: str, summary, out: IO[str], *, title: str, scope: str, now: datetime) -> None:
    generated = now.strftime("%Y-%m-%d %H:%M:%S UTC")
    if fmt == "html":
        from identity_auditor.cli.reports.html import render

        render(summary, out, title=title, generated=generated, scope=scope)
    else:
        from identity_auditor.cli.reports.markdown import render

        render(summary, out, title=title, generated=generated)


@dataclass(frozen=True)
class Coverage:
    """What an ``audit-account`` run could not cover, for the reports: ``gaps`` (one line each: an account not
    read and why, a rule not run in an account and why), the rules that did not run somewhere, the number of
    accounts not read. A report never shows a control as passing over what was not judged."""

    gaps: tuple[str, ...] = ()
    rules_not_run: frozenset[str] = frozenset()
    accounts_unread: int = 0


def tee(sink, args: argparse.Namespace, err: IO[str], *, title: str, scope: str = "", state_results: Sequence = (),
        coverage: Coverage | None = None):
    """``sink`` as it is without ``--output-dir``; with it, a :class:`ReportWriter` that also writes the reports."""
    if getattr(args, "output_dir", None) is None:
        return sink
    return ReportWriter(sink, args.output_dir, args.reports, err, title=title, scope=scope,
                        state_results=state_results, coverage=coverage)


def write_for_command(args: argparse.Namespace, findings: Iterable, err: IO[str], *, title: str, scope: str = "",
                      state_results: Sequence = (), coverage: Coverage | None = None) -> bool:
    """``--output-dir`` of a command that has its findings at hand (``audit-account``): the reports written
    and named on stderr; False (said why on stderr) when they could not be."""
    writer = tee(None, args, err, title=title, scope=scope, state_results=state_results, coverage=coverage)
    if writer is None:
        return True
    for finding in findings:
        writer.write(finding)
    writer.close()
    return not writer.failed


def failed(sink) -> bool:
    """Whether ``sink`` (from :func:`tee`) could not write its reports (said on stderr)."""
    return bool(getattr(sink, "failed", False))


def write_reports(directory: Path | str, formats: Iterable[str], findings: Iterable, *,
                  state_results: Sequence = (), title: str = "identity-auditor report", scope: str = "",
                  now: datetime | None = None, coverage: Coverage | None = None) -> list[Path]:
    """Write ``formats`` (keys of :data:`FILES`) of ``findings`` into ``directory`` at once; ``state_results``
    (the :class:`~identity_auditor.engine.state.StateEvaluation` list of ``audit-account``) give the HTML and
    Markdown reports their PASS/FAIL verdicts and evidence. Returns the paths written; raises OSError."""
    writer = ReportWriter(None, Path(directory), formats, None, title=title, scope=scope,
                          state_results=state_results, now=now, coverage=coverage)
    for finding in findings:
        writer.write(finding)
    writer.close()
    if writer.failed:
        raise writer.error
    return writer.paths


def passed_findings(state_results: Iterable) -> list:
    """The PASSED findings of the COMPLIANT state results (``audit-account --evidence``)."""
    from identity_auditor.cli.reports.summary import passed_findings as passed

    return passed(state_results)


def scope_of(paths: Sequence[str]) -> str:
    """The inputs of ``evaluate`` in a report's header: one clean line."""
    return clean(", ".join(paths), 200)
