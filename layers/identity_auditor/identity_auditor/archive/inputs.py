"""What an archive holds, record by record: EventBridge envelopes, raw CloudTrail records (wrapped as
EventBridge would deliver them), events that are not CloudTrail records (skipped), and problems naming
their place (``file``, ``file:line`` or ``file#Records[i]``); and which files a path names.

The reading itself is :mod:`identity_auditor.archive.reader`.
"""

from __future__ import annotations

import json
from datetime import datetime
import os
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from identity_auditor.model.cloudtrail import API_CALL, CONSOLE_SIGN_IN, SERVICE_EVENT
from identity_auditor.model.health import HealthEventError, health_envelope, is_health_event

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


def classify(origin: str, item: object) -> Envelope | InputProblem | NotCloudTrail:
    """One decoded item: a CloudTrail record (as an EventBridge envelope), an event that is not one
    (skipped), or a problem."""
    if not isinstance(item, dict):
        return InputProblem(origin, f"expected a JSON object, found {type(item).__name__}")
    if "invokingEvent" in item and ("resultToken" in item or "configRuleName" in item):
        return NotCloudTrail(origin, "AWS Config rule invocation")
    if "detail" in item and "detail-type" in item:
        if is_health_event(item):
            try:
                return Envelope(origin, health_envelope(item))
            except HealthEventError as error:
                return InputProblem(origin, str(error))
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


def _envelope_time(value: object) -> str:
    """The envelope's time, as EventBridge sets it: the record's eventTime when it is one (a record whose time is no
    time is still evaluated, and says so: see ``CloudTrailRecord``), else the epoch."""
    if isinstance(value, str):
        try:
            datetime.fromisoformat(value.replace("Z", "+00:00"))
            return value
        except ValueError:
            pass
    return "1970-01-01T00:00:00Z"


def account_and_region(record: dict) -> tuple[str, str]:
    """The ``account`` and ``region`` of the EventBridge envelope of a raw CloudTrail record (:func:`as_eventbridge`):
    the recipient account (else the caller's), the record's region; ``unknown`` for what the record does not say."""
    identity = record.get("userIdentity")
    account = record.get("recipientAccountId") or (identity.get("accountId") if isinstance(identity, dict) else None)
    return str(account or "unknown"), str(record.get("awsRegion") or "unknown")


def as_eventbridge(record: dict) -> dict:
    """Wrap a raw CloudTrail record the way EventBridge delivers it."""
    source = str(record.get("eventSource") or "")
    event_id = str(record.get("eventID") or json.dumps(record, sort_keys=True, default=str))
    account, region = account_and_region(record)
    name = f"identity-auditor:{event_id}"
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate (JSON's "\ud800" escape): the id of its escaped form
        name = f"identity-auditor:{json.dumps(event_id)}"
    return {
        "version": "0",
        "id": str(uuid.uuid5(uuid.NAMESPACE_URL, name)),
        "detail-type": detail_type_of(record),
        "source": "aws." + source.split(".", 1)[0] if source else "aws.unknown",
        "account": account,
        "time": _envelope_time(record.get("eventTime")),
        "region": region,
        "resources": [],
        "detail": record,
    }
