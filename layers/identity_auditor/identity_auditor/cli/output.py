"""What every command shares: exit codes, the severity option, the findings as a table, JSON Lines or
ASFF, the summary line, and a progress line on a terminal.

Exit codes: 0 done; 1 a finding that is not suppressed reached ``--fail-on``; 2 some input (a file, a record, a
policy) could not be used, each problem named on stderr; 3 a rule failed on a record (a bug: please report it
with the record); 4 AWS refused what the command needed (no credentials or region, access denied, a missing
topic): the findings were still printed. When several apply, the highest wins (a finding past ``--fail-on`` in
an incomplete run is exit 2: the run's verdict cannot be trusted whole).
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from datetime import datetime, timezone
from typing import IO, TYPE_CHECKING, Callable, Iterable, Protocol

from identity_auditor.cli.table import is_terminal, render_table
from identity_auditor.model.severity import Severity
from identity_auditor.model.text import clean

if TYPE_CHECKING:  # `identity-auditor --version`, `rules` or a usage error never import pydantic models
    from identity_auditor.archive.inputs import InputProblem
    from identity_auditor.model.findings import Finding

EXIT_OK, EXIT_FAIL_ON, EXIT_BAD_INPUT, EXIT_RULE_ERROR, EXIT_AWS_REFUSED = 0, 1, 2, 3, 4


def fails(findings, threshold: Severity | None) -> bool:
    """``--fail-on``: some finding the organisation has not suppressed is at ``threshold`` or above."""
    return threshold is not None and any(
        f.suppression is None and f.severity.rank >= threshold.rank for f in findings)


def name_list(text: str, known, what: str) -> tuple[str, ...]:
    """An option's comma-separated list of names, each one of ``known`` (``--sink``, ``--reports``): lower-cased,
    without duplicates, in the order given; anything else is a usage error naming what was expected."""
    names = tuple(dict.fromkeys(part.strip().lower() for part in text.split(",") if part.strip()))
    if not names or any(name not in known for name in names):
        raise argparse.ArgumentTypeError(f"invalid {what} list {text!r}: expected a comma-separated list of "
                                         f"{', '.join(known)}")
    return names


def policy_option(path: str | None, err: IO[str]):
    """``--policy FILE``: the organisation policy it holds (the default policy without it); None, the reason
    said on stderr, when the file is unreadable or invalid (the command exits 2)."""
    from identity_auditor.model.policy import DEFAULT_POLICY

    if not path:
        return DEFAULT_POLICY
    from identity_auditor.policy.document import PolicyError
    from identity_auditor.policy.loader import load_policy_file

    try:
        return load_policy_file(path)
    except PolicyError as error:  # an unreadable file is one too
        err.write(f"identity-auditor: {error}\n")
        return None


def severity(text: str) -> Severity:
    """The type of ``--min-severity`` and ``--fail-on``."""
    try:
        return Severity.parse(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


class FindingWriter(Protocol):
    """Where a command's findings go, one at a time, as they are found.

    ``write`` takes one finding (already filtered by ``--min-severity``); ``close`` finishes the document
    (the closing ``]`` of an ASFF array, the sorted table) and flushes, but never closes the stream itself.
    Call ``close`` exactly once, also when there were no findings: some formats write something for none
    (ASFF writes ``[]``). A writer that can stream (``jsonl``, ``asff``) keeps nothing after ``write``
    returns, so memory does not grow with the archive; one that must sort for people (``table``) buffers.
    """

    def write(self, finding: Finding) -> None: ...

    def close(self) -> None: ...


WRITERS: dict[str, Callable[..., FindingWriter]] = {}  # format name -> factory(out, *, product_arn)


def writer(name: str):
    """Register a :class:`FindingWriter` factory under a ``--format`` name (the factory takes
    ``(out, *, product_arn)``)."""
    def register(factory):
        WRITERS[name] = factory
        return factory
    return register


def open_writer(fmt: str, out: IO[str], *, product_arn: str | None = None) -> FindingWriter:
    """The writer for ``--format fmt`` on ``out``; ``product_arn`` is ASFF's ``--product-arn`` (``None``:
    each finding's account's default product). Raises ``ValueError`` for an unknown format."""
    try:
        factory = WRITERS[fmt]
    except KeyError:
        raise ValueError(f"unknown output format {fmt!r}: expected one of {', '.join(WRITERS)}") from None
    return factory(out, product_arn=product_arn)


def write_findings(fmt: str, findings: Iterable[Finding], out: IO[str], *, product_arn: str | None = None) -> None:
    """The findings in ``fmt`` (see :func:`open_writer`), all at once."""
    sink = open_writer(fmt, out, product_arn=product_arn)
    for finding in findings:
        sink.write(finding)
    sink.close()


@writer("jsonl")
class JsonLinesWriter:
    """One finding summary per line, written as it is found."""

    def __init__(self, out: IO[str], *, product_arn: str | None = None):
        self.out = out

    def write(self, finding: Finding) -> None:
        self.out.write(json.dumps(finding.summary(), default=str) + "\n")

    def close(self) -> None:
        self.out.flush()


class JsonArrayWriter:
    """A JSON array written one element at a time (nothing kept): still one valid JSON document when closed,
    ``[]`` when there is nothing. A format gives :meth:`document` (one finding's element) and its ``indent``."""

    indent: int | None = None
    ensure_ascii = True

    def __init__(self, out: IO[str], *, product_arn: str | None = None):
        self.out, self.product_arn, self.count = out, product_arn, 0

    def document(self, finding: Finding) -> dict:
        raise NotImplementedError

    def write(self, finding: Finding) -> None:
        text = json.dumps(self.document(finding), indent=self.indent, ensure_ascii=self.ensure_ascii)
        self.out.write(("[\n  " if not self.count else ",\n  ") + text.replace("\n", "\n  "))
        self.count += 1

    def close(self) -> None:
        self.out.write("\n]\n" if self.count else "[]\n")
        self.out.flush()


@writer("asff")
class AsffWriter(JsonArrayWriter):
    """A JSON array of AWS Security Finding Format documents (what ``BatchImportFindings`` takes)."""

    indent = 2

    def __init__(self, out: IO[str], *, product_arn: str | None = None):
        super().__init__(out, product_arn=product_arn)
        self.now = datetime.now(timezone.utc)

    def document(self, finding: Finding) -> dict:
        from identity_auditor.sinks.asff import default_product_arn, to_asff

        return to_asff(finding, updated_at=self.now, product_arn=self.product_arn or default_product_arn(
            finding.partition, finding.region, finding.account_id))


@writer("table")
class TableWriter:
    """The table for people: buffered, sorted most severe first when closed (see :func:`identity_auditor.cli.table.table_order`)."""

    def __init__(self, out: IO[str], *, product_arn: str | None = None):
        self.out, self.findings = out, []

    def write(self, finding: Finding) -> None:
        self.findings.append(finding)

    def close(self) -> None:
        render_table(self.findings, self.out)  # a rich table on a terminal, plain columns for scripts
        self.out.flush()


def summary_line(counts: Counter[Severity], records: int, files: int, problems: list[InputProblem]) -> str:
    """The run in one line: the findings shown by severity (``counts``, kept as they were written), the
    records and inputs read, and how many inputs had problems."""
    total = sum(counts.values())
    by_severity = ", ".join(f"{counts[s]} {s.value.lower()}" for s in reversed(Severity) if counts[s])
    text = f"{total} finding{'s' if total != 1 else ''}"
    text += f" ({by_severity})" if by_severity else ""
    text += f" in {records} record{'s' if records != 1 else ''} from {files} input{'s' if files != 1 else ''}"
    if problems:
        text += f"; {len(problems)} input problem{'s' if len(problems) != 1 else ''} (see above)"
    return text


class Progress:
    """A one-line progress indicator on stderr, only when stderr is a terminal and there is much to read."""

    def __init__(self, stream: IO[str], total: int):
        self.stream, self.total, self.count = stream, total, 0
        self.enabled = total > 20 and is_terminal(stream)

    def step(self, path: object) -> None:
        self.count += 1
        if self.enabled:
            self.stream.write(f"\r  reading {self.count}/{self.total} files ")
            self.stream.flush()

    def done(self) -> None:
        if self.enabled:
            self.stream.write("\r" + " " * 40 + "\r")
            self.stream.flush()



class Listing:
    """How an S3 listing goes, on one line of stderr, only when stderr is a terminal: a prefix of many objects
    takes many ``ListObjectsV2`` pages before anything is read."""

    def __init__(self, stream: IO[str]):
        self.stream, self.shown = stream, False
        self.enabled = is_terminal(stream)

    def step(self, url: str, objects: int, skipped_folders: int) -> None:
        if self.enabled:
            skipped = f", {skipped_folders} date folders outside the window skipped" if skipped_folders else ""
            self.stream.write(f"\r  listing {clean(url, 60)}: {objects} objects{skipped} ")
            self.stream.flush()
            self.shown = True

    def done(self) -> None:
        if self.shown:
            self.stream.write("\r" + " " * 120 + "\r")
            self.stream.flush()
