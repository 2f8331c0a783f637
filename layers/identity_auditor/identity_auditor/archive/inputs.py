"""Reading events for local evaluation: EventBridge envelopes, raw CloudTrail records, CloudTrail log
files (``{"Records": [...]}``, plain or gzip), JSON arrays, JSON Lines, directories and stdin.

Every record comes out as an EventBridge envelope, shaped as EventBridge would deliver it, together
with where it came from (``file``, ``file:line`` or ``file#Records[i]``). What cannot be read comes out
as an :class:`InputProblem` naming the place; reading goes on with the next record and file.

``identity-auditor evaluate`` reads through :mod:`identity_auditor.archive.replay`, which parses with orjson and
filters records before wrapping them; it uses :func:`expand` and :func:`classify` from here and gives
the same origins and messages as :func:`read`.
"""

from __future__ import annotations

import gzip
import json
import os
import sys
import uuid
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from identity_auditor.model.cloudtrail import API_CALL, CONSOLE_SIGN_IN, SERVICE_EVENT

READABLE_SUFFIXES = (".json", ".jsonl", ".ndjson", ".gz")
STDIN = "-"
DIGEST_FOLDER = "CloudTrail-Digest"


@dataclass(frozen=True)
class Envelope:
    origin: str
    event: dict


@dataclass(frozen=True)
class InputProblem:
    origin: str
    message: str


@dataclass(frozen=True)
class NotCloudTrail:
    """A valid event that is not a CloudTrail record (another EventBridge event, an AWS Config rule
    invocation): EventBridge would never deliver it to the evaluator, so it is skipped, not an error."""

    origin: str
    kind: str


def expand(paths: Iterable[str]) -> Iterator[str | InputProblem]:
    """Paths to read: files as given, directories walked recursively (sorted; only JSON and gzip files,
    and not the hidden ones: names starting with ``.`` or ``_``, such as an ``_index.json`` of metadata;
    nor CloudTrail's integrity digests, under ``CloudTrail-Digest/``, which hold no records)."""
    for path in paths:
        if path == STDIN or os.path.isfile(path):
            yield path
        elif os.path.isdir(path):
            found = sorted(_walk(str(Path(path))))
            if not found:
                yield InputProblem(path, "directory holds no .json, .jsonl or .gz files")
            yield from found
        else:
            yield InputProblem(path, "no such file or directory")


def _hidden(part: str) -> bool:
    return part.startswith((".", "_")) or part == DIGEST_FOLDER


def _walk(root: str) -> Iterator[str]:
    """The readable files under ``root``, named as ``Path(root).rglob`` names them; hidden files and
    folders are not entered, symbolic links to folders not followed."""
    pending = [root]
    while pending:
        folder = pending.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            if _hidden(entry.name):
                continue
            name = entry.name if folder == "." else os.path.join(folder, entry.name)
            try:
                if entry.is_dir() and not entry.is_symlink():
                    pending.append(name)
                elif entry.name.lower().endswith(READABLE_SUFFIXES) and entry.is_file():
                    yield name
            except OSError:
                continue


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


def classify(origin: str, item: object) -> Envelope | InputProblem | NotCloudTrail:
    """One decoded item: a CloudTrail record (as an EventBridge envelope), an event that is not one
    (skipped), or a problem."""
    if not isinstance(item, dict):
        return InputProblem(origin, f"expected a JSON object, found {type(item).__name__}")
    if "invokingEvent" in item and ("resultToken" in item or "configRuleName" in item):
        return NotCloudTrail(origin, "AWS Config rule invocation")
    if "detail" in item and "detail-type" in item:
        detail = item["detail"]
        if not str(item["detail-type"]).endswith("via CloudTrail"):
            return NotCloudTrail(origin, f"EventBridge event {str(item['detail-type'])[:80]!r}")
        if not isinstance(detail, dict) or not {"eventSource", "eventName"} <= detail.keys():
            return InputProblem(origin, "EventBridge event whose detail is not a CloudTrail record "
                                        "(no eventSource/eventName)")
        return Envelope(origin, item)
    if item.get("eventCategory") == "Insight" or item.get("eventType") == "AwsCloudTrailInsight":
        return NotCloudTrail(origin, "CloudTrail Insights event")
    if "eventSource" in item and "eventName" in item:
        return Envelope(origin, as_eventbridge(item))
    return InputProblem(origin, "neither an EventBridge event nor a CloudTrail record (no detail-type/detail, "
                                "no eventSource/eventName)")


_envelope = classify  # the former name


def detail_type_of(record: dict) -> str:
    """The detail-type EventBridge gives a CloudTrail record."""
    event_type = str(record.get("eventType") or "").lower()
    if event_type == "awsconsolesignin" or (
        not event_type and record.get("eventSource") == "signin.amazonaws.com" and record.get("eventName") == "ConsoleLogin"
    ):
        return CONSOLE_SIGN_IN
    if event_type == "awsserviceevent":
        return SERVICE_EVENT
    return API_CALL


def as_eventbridge(record: dict) -> dict:
    """Wrap a raw CloudTrail record the way EventBridge delivers it."""
    source = str(record.get("eventSource") or "")
    event_id = str(record.get("eventID") or json.dumps(record, sort_keys=True, default=str))
    identity = record.get("userIdentity") if isinstance(record.get("userIdentity"), dict) else {}
    return {
        "version": "0",
        "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"identity-auditor:{event_id}")),
        "detail-type": detail_type_of(record),
        "source": "aws." + source.split(".", 1)[0] if source else "aws.unknown",
        "account": str(record.get("recipientAccountId") or identity.get("accountId") or "unknown"),
        "time": record.get("eventTime") or "1970-01-01T00:00:00Z",
        "region": str(record.get("awsRegion") or "unknown"),
        "resources": [],
        "detail": record,
    }
