"""A second, deliberately plain reader of CloudTrail archives (the standard library's json, every record
classified, nothing filtered): the oracle the tests hold the auditor's one reader
(:class:`identity_auditor.archive.reader.Replayer`, orjson and filter-first) against. Not shipped."""

from __future__ import annotations

import gzip
import json
import sys
import zlib
from collections.abc import Iterator
from typing import IO

from identity_auditor.archive.inputs import STDIN, Envelope, InputProblem, NotCloudTrail, classify


def read(path: str, stdin: IO[bytes] | None = None) -> Iterator[Envelope | InputProblem | NotCloudTrail]:
    """The envelopes in one file (or stdin), and a problem for each part that cannot be read."""
    name = "<stdin>" if path == STDIN else path
    try:
        if path == STDIN:
            data = (stdin or sys.stdin.buffer).read()
        else:
            with open(path, "rb") as handle:
                data = handle.read()
        if data[:2] == b"\x1f\x8b":
            data = gzip.decompress(data)
        text = data.decode("utf-8-sig")
    except (OSError, EOFError, UnicodeDecodeError, zlib.error) as error:
        yield InputProblem(name, f"cannot read: {error}")
        return
    if not text.strip():
        yield InputProblem(name, "empty input")
        return
    try:
        document = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as whole_error:
        yield from _read_lines(name, text, whole_error)
        return
    yield from _from_document(name, document)


def _read_lines(name: str, text: str, whole_error: Exception) -> Iterator[Envelope | InputProblem]:
    """JSON Lines, recognised by a first line that is a whole JSON object; else one broken document."""
    lines = [(number, line) for number, line in enumerate(text.splitlines(), 1) if line.strip()]
    if len(lines) < 2 or not isinstance(_loads(lines[0][1]), dict):
        yield InputProblem(name, f"invalid JSON: {_reason(whole_error)}")
        return
    for number, line in lines:
        try:
            document = json.loads(line)
        except (json.JSONDecodeError, RecursionError) as error:
            yield InputProblem(f"{name}:{number}", f"invalid JSON: {_reason(error)}")
            continue
        yield from _from_document(f"{name}:{number}", document)


def _loads(text: str) -> object:
    try:
        return json.loads(text)
    except (json.JSONDecodeError, RecursionError):
        return None


def _reason(error: Exception) -> str:
    return "nested too deeply" if isinstance(error, RecursionError) else str(error)


def _from_document(origin: str, document: object) -> Iterator[Envelope | InputProblem]:
    if isinstance(document, dict) and isinstance(document.get("Records"), list):
        for index, record in enumerate(document["Records"]):
            yield classify(f"{origin}#Records[{index}]", record)
    elif isinstance(document, list):
        for index, item in enumerate(document):
            yield classify(f"{origin}[{index}]", item)
    else:
        yield classify(origin, document)
