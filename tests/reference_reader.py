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
    """JSON Lines, recognised by a first line that is a whole JSON object; else concatenated documents,
    recognised by a first document that is an object or an array followed by more; else one broken
    document."""
    lines = [(number, line) for number, line in enumerate(text.splitlines(), 1) if line.strip()]
    if len(lines) < 2 or not isinstance(_loads(lines[0][1]), dict):
        if isinstance(whole_error, json.JSONDecodeError) and whole_error.msg == "Extra data":
            first, _ = json.JSONDecoder().raw_decode(text, len(text) - len(text.lstrip(_BETWEEN)))
            if isinstance(first, (dict, list)):
                yield from _read_documents(name, text)
                return
        yield InputProblem(name, f"invalid JSON: {_reason(whole_error)}")
        return
    for number, line in lines:
        try:
            document = json.loads(line)
        except (json.JSONDecodeError, RecursionError) as error:
            yield InputProblem(f"{name}:{number}", f"invalid JSON: {_reason(error)}")
            continue
        yield from _from_document(f"{name}:{number}", document)


_BETWEEN = " \t\n\r\ufeff"  # JSON whitespace, and the byte order mark of a file concatenated after another


def _read_documents(name: str, text: str) -> Iterator[Envelope | InputProblem]:
    """Documents one after the other (``cat a.json b.json``): ``name#n`` for the n-th; the first broken one
    is a problem, and nothing after it is read."""
    decoder = json.JSONDecoder()
    number, start = 0, 0
    while True:
        while start < len(text) and text[start] in _BETWEEN:
            start += 1
        if start == len(text):
            return
        number += 1
        try:
            document, end = decoder.raw_decode(text, start)
        except (json.JSONDecodeError, RecursionError) as error:
            line = text[:start].count("\n") + 1
            column = len(text[:start].split("\n")[-1]) + 1
            left = len(text) - start
            yield InputProblem(f"{name}#{number}", f"invalid JSON: {_reason(error)}; document {number} starts at line "
                                                   f"{line} column {column} (char {start}), nothing from there on "
                                                   f"is read ({left} character{'' if left == 1 else 's'})")
            return
        yield from _from_document(f"{name}#{number}", document)
        start = end


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
