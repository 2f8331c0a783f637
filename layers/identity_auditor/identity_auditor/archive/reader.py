"""The one reader of CloudTrail archives, for ``identity-auditor evaluate`` and the backfill function.

    plan = plan_inputs(["trail/", "s3://bucket/AWSLogs/"], window=Window.between("2023-07-10", None))
    result = Replayer(policy=policy).run(plan.sources[0])     # one FileResult per file
    result = Replayer(deliver=publish).read(key, data)        # bytes already fetched (the backfill)

- **Inputs** are local files, directories (walked recursively, sorted), ``-`` (stdin) and
  ``s3://bucket/prefix`` (every ``.json``/``.jsonl``/``.gz`` object under the prefix, listed with
  paginated ``ListObjectsV2``, keys sorted; boto3 is imported only then, with the standard credential
  chain and ``AWS_ENDPOINT_URL``). :func:`plan_inputs` turns them into a list of :class:`Source`, one
  per file or object, in a deterministic order.
- **One file at a time.** The reader reads one file (or downloads one object, gunzipping it as it arrives),
  and keeps nothing of it but the findings: memory is bounded by the largest file.
- **Parse only what a rule can want.** A CloudTrail log file (``{"Records": [...]}``) is read by
  :func:`_prefiltered`: msgspec reads each record's filter fields (checking, not building, the rest), and
  only the records some rule can want are parsed, by ``orjson``, with the same findings, problems and counts
  as a full parse (what it cannot be sure of goes to the full parse: ``Replayer(prefilter=False)``).
- **Filter first.** Each record's ``eventSource``, ``eventName`` and ``userIdentity.type`` are looked up
  in the registry (memoised) *before* anything else is done with it; only the records some rule
  wants are wrapped in an EventBridge envelope, validated with pydantic and evaluated, as EventBridge
  would deliver only those to the Lambda function. Origins (``file#Records[i]``) are formatted only
  for what is reported.
- **Time window.** With ``--since``/``--until`` (:class:`Window`) records outside are counted as
  skipped, not evaluated; CloudTrail date paths (``.../CloudTrail/<region>/YYYY/MM/DD/``) outside the
  window (with a day of margin each side for delivery delays) are not read nor downloaded at all.
- **Shapes.** A file (or stdin, or an object) is one JSON document (``{"Records": [...]}``, an array of
  records or EventBridge events, or one of them); else JSON Lines (recognised by a first line that is a
  whole JSON object: origins ``file:line``, ``file:line#Records[i]``); else documents one after the other,
  with whitespace or nothing between them, as ``cat a.json b.json`` or ``zcat *.json.gz`` give them
  (recognised by a first document that is an object or an array followed by more): the n-th is
  ``file#n`` in origins (``<stdin>#2#Records[5]``). A broken document in such a stream is one problem,
  ``file#n``, saying where it starts (line, column, character); no next document can be found after it,
  so nothing from there on is read, and the message says so. Gzip members one after the other
  (``cat a.gz b.gz``) are one stream.
- **Delivery.** ``deliver(origin, envelope, findings)``, when given, is called for each event with
  findings, as it is evaluated: the backfill publishes them there, exactly as the live evaluator would.

Whatever cannot be read comes out as an :class:`~identity_auditor.archive.inputs.InputProblem` naming the
file, the object (``s3://bucket/key``) or the record (``...#Records[i]``); the other records and files are
still evaluated. Spreading files over every core is :mod:`identity_auditor.archive.pool`.
"""

from __future__ import annotations

import gc
import gzip
import itertools
import json
import pickle
import re
import struct
import sys
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from functools import partial
from pathlib import Path
from typing import IO, Any

import orjson
from pydantic import ValidationError

from identity_auditor.archive.inputs import (
    DIGEST_FOLDER,
    READABLE_SUFFIXES,
    STDIN,
    InputProblem,
    NotCloudTrail,
    account_and_region,
    as_eventbridge,
    classify,
    expand,
)
from identity_auditor.engine.events import Engine
from identity_auditor.engine.registry import REGISTRY
from identity_auditor.engine.sequences import MemoryStore, Observed, SequenceEngine
from identity_auditor.model.cloudtrail import CloudTrailEvent, CloudTrailRecord
from identity_auditor.model.contract import Context, RuleFailure
from identity_auditor.model.findings import Finding
from identity_auditor.model.policy import DEFAULT_POLICY, OrgPolicy

S3_SCHEME = "s3://"
_BOM = b"\xef\xbb\xbf"
_GZIP_MAGIC = b"\x1f\x8b"
# .../CloudTrail/<region>/YYYY/MM/DD/ (also CloudTrail-Insight): the day a log file belongs to
_DATE_PATH = re.compile(r"/CloudTrail(?:-Insight)?/[^/]+/(?P<year>\d{4})/(?P<month>\d{2})/(?P<day>\d{2})/")
_WANTS_CACHE_LIMIT = 100_000
# between concatenated documents: JSON whitespace, and the byte order mark of a file that began with one
_BETWEEN = re.compile("[ \t\n\r\ufeff]*")


# -- what replay works on and returns ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)  # slots: an archive of many small files is many of these
class Source:
    """One file to read: a local path (``kind="file"``), stdin (``"stdin"``) or an S3 object (``"s3"``).
    ``name`` is what origins and problems call it: the path, ``<stdin>`` or ``s3://bucket/key``."""

    kind: str
    name: str
    bucket: str | None = None
    key: str | None = None
    size: int | None = field(default=None, compare=False)  # bytes, when the listing said (S3)

    @classmethod
    def file(cls, path: str) -> Source:
        return cls("stdin", "<stdin>") if path == STDIN else cls("file", path)

    @classmethod
    def s3(cls, bucket: str, key: str, size: int | None = None) -> Source:
        return cls("s3", f"{S3_SCHEME}{bucket}/{key}", bucket, key, size)


@dataclass
class FileResult:
    """What one input gave: its findings (in record order), problems, rule errors and counts.

    ``read`` is False for an argument that named nothing readable (a missing path, an empty directory,
    an S3 prefix that could not be listed): its only content is the problem saying so."""

    source: str
    read: bool = True
    findings: list[Finding] = field(default_factory=list)
    problems: list[InputProblem] = field(default_factory=list)
    failures: list[RuleFailure] = field(default_factory=list)
    records: int = 0  # CloudTrail records read (wanted by a rule or not)
    evaluated: int = 0  # records some rule wants, validated and run through the engine
    not_cloudtrail: int = 0  # events skipped: not CloudTrail records (other EventBridge events, Insights, ...)
    outside_window: int = 0  # records skipped: their eventTime is outside since/until
    # the records a sequence (spec §E) may take as a step, with what the event rules found on them: judged by
    # the caller over every input in event-time order (see sequence_findings), so --jobs changes nothing
    steps: list[SequenceInput] = field(default_factory=list)


@dataclass(frozen=True)
class SequenceInput:
    record: Any  # the CloudTrailRecord
    fired: frozenset[str]
    account: str | None
    region: str | None
    origin: str


class PlanItems(Sequence):
    """The inputs of a plan, in order (:class:`Source` and :class:`InputProblem`), kept compact: local files are
    kept as runs of names in one folder (the folder once, the names in one string) and made into a
    :class:`Source` only when they are read, so that a plan of many small files (an archive of 100,000 files) does
    not hold 100,000 paths and sources while it is read. A list's equal (``==``) with the same items."""

    __slots__ = ("_runs", "_open", "_length", "_sources")

    def __init__(self, items: Iterable[Source | InputProblem] = ()):
        # a run of local files: [folder, "\0".join(names), count]; anything else as it is
        self._runs: list[Any] = []
        self._open: list[str] | None = None  # the names of the last run of files while it grows
        self._length = self._sources = 0
        for item in items:
            self.append(item)

    def append(self, item: Source | InputProblem) -> None:
        self._length += 1
        if not isinstance(item, Source):
            self._close()
            self._runs.append(item)
            return
        self._sources += 1
        # a plain local file (no bucket, key or size: what Source.file makes) is kept as a name in its folder's run
        if (item.kind != "file" or item.bucket is not None or item.key is not None or item.size is not None
                or "\0" in item.name):
            self._close()
            self._runs.append(item)  # stdin, an S3 object: as it is
            return
        cut = item.name.rfind("/") + 1
        folder, name = item.name[:cut], item.name[cut:]
        if self._open is None or self._runs[-1][0] != folder:
            self._close()
            self._runs.append([folder, "", 0])
            self._open = []
        self._open.append(name)

    def extend(self, items: Iterable[Source | InputProblem]) -> None:
        for item in items:
            self.append(item)

    def _close(self) -> None:
        if self._open is not None:
            self._runs[-1][1:] = ["\0".join(self._open), len(self._open)]
            self._open = None

    def __iter__(self) -> Iterator[Source | InputProblem]:
        self._close()  # (a file appended after this starts a run of its own)
        for run in self._runs:
            if type(run) is not list:
                yield run
                continue
            folder = run[0]
            for name in run[1].split("\0"):
                yield Source("file", folder + name)

    def __len__(self) -> int:
        return self._length

    def __getitem__(self, index: int | slice) -> Any:
        if isinstance(index, slice):
            return list(self)[index]
        if index < 0:
            index += self._length
        if not 0 <= index < self._length:
            raise IndexError("plan item index out of range")
        return next(itertools.islice(self, index, None))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence) or isinstance(other, (str, bytes)):
            return NotImplemented
        return len(self) == len(other) and all(a == b for a, b in zip(self, other))

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"PlanItems({list(self)!r})"

    @property
    def source_count(self) -> int:
        return self._sources


@dataclass
class Plan:
    """The inputs to read, in order: one :class:`Source` per file or object, and the problems of the
    arguments that named nothing readable, in their place (:class:`PlanItems`: given a list, it keeps it as
    one). ``pruned`` counts the files and objects left unread because their CloudTrail date path is outside the
    time window, ``unlisted_folders`` the S3 date folders not even listed for that reason."""

    items: PlanItems
    pruned: int = 0
    unlisted_folders: int = 0  # CloudTrail date folders of S3 prefixes outside the time window: never listed

    def __post_init__(self) -> None:
        if not isinstance(self.items, PlanItems):
            self.items = PlanItems(self.items)

    @property
    def sources(self) -> list[Source]:
        return [item for item in self.items if isinstance(item, Source)]

    @property
    def source_count(self) -> int:
        """How many files and objects there are to read (without making a list of them)."""
        return self.items.source_count


# -- the time window ---------------------------------------------------------------------------------


def parse_moment(text: str, *, end: bool = False) -> datetime:
    """An ISO 8601 date or date-time as an aware UTC datetime (naive values are UTC).

    ``end=True`` (for ``--until``) makes the bound inclusive: a date means through the end of that day,
    a date-time through that instant. The result is then the *exclusive* upper bound. Raises
    ``ValueError`` for anything else."""
    text = text.strip()
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        day = date.fromisoformat(text)
        start = datetime.combine(day, time(0), tzinfo=timezone.utc)
        return start + timedelta(days=1) if end else start
    if not re.match(r"\d{4}-\d{2}-\d{2}[T ]\d{2}", text):
        raise ValueError(f"{text!r} is not an ISO 8601 date or date-time")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text!r} is not an ISO 8601 date or date-time") from None
    moment = moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)
    return moment + timedelta(microseconds=1) if end else moment


def _ceil_seconds(moment: datetime) -> str:
    """The first whole second at or after ``moment``, formatted as CloudTrail writes eventTime."""
    if moment.microsecond:
        moment = moment.replace(microsecond=0) + timedelta(seconds=1)
    return moment.astimezone(timezone.utc).replace(tzinfo=None).isoformat() + "Z"


@dataclass(frozen=True)
class Window:
    """Records whose eventTime is in ``[since, until)`` (aware UTC datetimes; either may be None).

    Build it with :meth:`between`, which takes what a person writes (``--until`` inclusive)."""

    since: datetime | None = None
    until: datetime | None = None  # exclusive
    _low: str | None = field(default=None, init=False, repr=False, compare=False)
    _high: str | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # CloudTrail's eventTime is 'YYYY-MM-DDTHH:MM:SSZ': whole seconds, so for a time t,
        # t >= since <=> t >= ceil(since) and t < until <=> t < ceil(until), compared as text.
        object.__setattr__(self, "_low", _ceil_seconds(self.since) if self.since else None)
        object.__setattr__(self, "_high", _ceil_seconds(self.until) if self.until else None)

    @classmethod
    def between(cls, since: str | date | datetime | None, until: str | date | datetime | None) -> Window | None:
        """The window from ``since`` (inclusive) through ``until`` (inclusive: a date means the whole
        day); text is parsed by :func:`parse_moment`. None when neither is given."""
        low = _bound(since, end=False)
        high = _bound(until, end=True)
        if low is None and high is None:
            return None
        if low is not None and high is not None and low >= high:
            raise ValueError("--since must be before --until")
        return cls(low, high)

    def admits(self, event_time: Any) -> bool:
        """The record's eventTime is inside the window. A record without a readable time is admitted
        (and reported if its time is invalid): the window cannot say it is outside."""
        if type(event_time) is str and len(event_time) == 20 and event_time[19] == "Z" and event_time[10] == "T":
            return (self._low is None or event_time >= self._low) and (self._high is None or event_time < self._high)
        moment = _moment_of(event_time)
        if moment is None:
            return True
        return (self.since is None or moment >= self.since) and (self.until is None or moment < self.until)

    def _days_held(self) -> tuple[date | None, date | None]:
        """The first and last day folder that can hold a record of the window (a day of margin each side)."""
        low = self.since.date() - timedelta(days=1) if self.since is not None else None
        high = (self.until - timedelta(microseconds=1)).date() + timedelta(days=1) if self.until is not None else None
        return low, high

    def days(self) -> list[date] | None:
        """Every day folder that can hold a record of the window; None when it is open at one end."""
        low, high = self._days_held()
        if low is None or high is None:
            return None
        return [low + timedelta(days=n) for n in range((high - low).days + 1)]

    def may_hold_folder(self, match: re.Match) -> bool:
        """False when a CloudTrail date folder (a :data:`_DATE_FOLDER` match: a year, a month or a day; or the day
        of a :data:`_DATE_PATH` match) cannot hold a record of the window."""
        low, high = self._days_held()
        year, month, day = int(match["year"]), match["month"], match["day"]
        try:
            first = date(year, int(month or 1), int(day or 1))
            last = (date(year, 12, 31) if month is None
                    else (date(year + int(month) // 12, int(month) % 12 + 1, 1) - timedelta(days=1)) if day is None
                    else first)
        except ValueError:
            return True  # not a date: read it
        return not ((low is not None and last < low) or (high is not None and first > high))

    def may_hold(self, path: str) -> bool:
        """False when ``path`` (a key or file path) is in a CloudTrail date folder that cannot hold a
        record of the window: a day of margin each side, for events delivered late or early."""
        match = _DATE_PATH.search(path if path.startswith("/") else "/" + path)
        return match is None or self.may_hold_folder(match)


def _bound(value: str | date | datetime | None, *, end: bool) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        moment = value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)
        return moment + timedelta(microseconds=1) if end else moment
    if isinstance(value, date):
        return parse_moment(value.isoformat(), end=end)
    return parse_moment(str(value), end=end)


def _moment_of(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment


# -- planning: paths and prefixes -> sources -----------------------------------------------------------


def plan_inputs(paths: Iterable[str], *, window: Window | None = None, client: Any = None,
                progress: Callable[[str, int, int], None] | None = None) -> Plan:
    """Every file and object to read, in order: arguments in the order given, files of a directory and
    keys of a prefix sorted. Files and objects found by walking a directory or listing a prefix whose
    CloudTrail date path is outside ``window`` are left out (counted in ``Plan.pruned``); files named
    explicitly are always read. ``client``: the S3 client to list with (default: :func:`s3_client`);
    ``progress``: told how an S3 listing goes (see :func:`_list_s3`)."""
    items = PlanItems()
    pruned = folders = 0
    for path in paths:
        if path.startswith(S3_SCHEME):
            found, skipped, unlisted = _list_s3(path, window, client, progress)
            items.extend(found)
            pruned += skipped
            folders += unlisted
            continue
        for item in expand([path]):
            if isinstance(item, InputProblem):
                items.append(item)
            elif item != path and window is not None and not window.may_hold(Path(item).as_posix()):
                pruned += 1
            else:
                items.append(Source.file(item))
    return Plan(items, pruned, folders)


def _list_s3(url: str, window: Window | None, client: Any,
             progress: Callable[[str, int, int], None] | None = None) -> tuple[list[Source | InputProblem], int, int]:
    """The objects to read under ``url``, sorted, and how many were left out by the window: ``(sources,
    files pruned, date folders not listed)``. With a window, the prefix is walked folder by folder
    (``ListObjectsV2`` with a ``/`` delimiter) along CloudTrail's layout
    (``AWSLogs/[o-org/]<account>/CloudTrail/<region>/YYYY/MM/DD/``): the day folders outside the window (a day
    of margin each side) are never listed, and a region's days are listed one by one when the window spans at
    most :data:`_DAYS_LISTED_ONE_BY_ONE` days; anything off that layout is listed whole. A folder below the prefix
    that AWS will not list (a bucket policy denying one account's prefix) is an :class:`InputProblem` naming it,
    before the sources, and the other folders are still listed. ``progress(url, objects, folders skipped)`` is
    called after each page."""
    bucket, _, prefix = url[len(S3_SCHEME):].partition("/")
    if not bucket:
        return [InputProblem(url, "not an S3 location: expected s3://bucket/prefix")], 0, 0
    from botocore.exceptions import BotoCoreError, ClientError

    found: dict[str, int] = {}
    skipped = 0
    unlisted: list[InputProblem] = []  # folders below the prefix that AWS would not list: the others go on

    def listed(folder: str, *, delimiter: bool) -> list[str]:
        folders: list[str] = []
        pages = client.get_paginator("list_objects_v2").paginate(
            Bucket=bucket, Prefix=folder, **({"Delimiter": "/"} if delimiter else {}))
        try:
            for page in pages:
                found.update((item["Key"], item.get("Size")) for item in page.get("Contents") or ())
                folders += [entry["Prefix"] for entry in page.get("CommonPrefixes") or ()]
                if progress is not None:
                    progress(url, len(found), skipped)
        except (BotoCoreError, ClientError) as error:
            if folder == prefix:
                raise  # the prefix itself: nothing of it can be listed
            unlisted.append(InputProblem(f"{S3_SCHEME}{bucket}/{folder}", f"cannot list: {error}"))
        return folders

    def walk(folder: str) -> None:
        nonlocal skipped
        for below in listed(folder, delimiter=True):
            match = _DATE_FOLDER.search("/" + below)
            if match is not None:
                if not window.may_hold_folder(match):
                    skipped += 1
                elif match["day"]:
                    listed(below, delimiter=False)
                else:
                    walk(below)
            elif _REGION_FOLDER.search("/" + below):
                days = window.days()
                if days is not None and len(days) <= _DAYS_LISTED_ONE_BY_ONE:
                    for day in days:
                        listed(f"{below}{day:%Y/%m/%d}/", delimiter=False)
                else:
                    walk(below)
            elif _LAYOUT_FOLDER.search("/" + below):
                walk(below)
            elif not below.endswith(f"/{DIGEST_FOLDER}/"):  # (digest files are no log files)
                listed(below, delimiter=False)  # off CloudTrail's layout: every object

    try:
        client = client or s3_client()
        if window is None:
            listed(prefix, delimiter=False)
        else:
            walk(prefix)
    except (BotoCoreError, ClientError) as error:
        return [InputProblem(url, f"cannot list: {error}")], 0, 0
    keys = sorted(key for key in found if _readable_key(key, prefix))
    if not keys:
        if skipped or unlisted:
            return [*unlisted], 0, skipped
        return [InputProblem(url, "prefix holds no .json, .jsonl or .gz objects")], 0, 0
    kept = [key for key in keys if window is None or window.may_hold(key)]
    return [*unlisted, *(Source.s3(bucket, key, found[key]) for key in kept)], len(keys) - len(kept), skipped


# CloudTrail's bucket layout, folder by folder: [prefix/]AWSLogs/[o-org/]<account>/CloudTrail[-Insight]/<region>/YYYY/MM/DD/
_LAYOUT_FOLDER = re.compile(r"/(?:AWSLogs|o-[a-z0-9]{10,32}|\d{12}|CloudTrail(?:-Insight)?)/$")
_REGION_FOLDER = re.compile(r"/CloudTrail(?:-Insight)?/[^/]+/$")
_DATE_FOLDER = re.compile(r"/CloudTrail(?:-Insight)?/[^/]+/(?P<year>\d{4})/(?:(?P<month>\d{2})/(?:(?P<day>\d{2})/)?)?$")
_DAYS_LISTED_ONE_BY_ONE = 62  # a longer window walks the year and month folders instead


def _readable_key(key: str, prefix: str) -> bool:
    """A JSON or gzip object under the prefix, not hidden (a part below the prefix starting with ``.``
    or ``_``, as in directory walks) and not a CloudTrail digest file."""
    if key.endswith("/") or not key.lower().endswith(READABLE_SUFFIXES) or f"/{DIGEST_FOLDER}/" in "/" + key:
        return False
    parts = key[len(prefix):].split("/")
    if prefix and not prefix.endswith("/"):
        parts = parts[1:]  # the first part completes the prefix's last name: the caller chose it
    return not any(part.startswith((".", "_")) for part in parts)


def s3_client() -> Any:
    """An S3 client from the standard chain (environment, profile, instance role; ``AWS_ENDPOINT_URL``)."""
    import boto3
    from botocore.config import Config

    return boto3.client("s3", config=Config(retries={"mode": "standard", "max_attempts": 5},
                                            connect_timeout=10, read_timeout=60))


# -- reading and evaluating one file -------------------------------------------------------------------


class Replayer:
    """Reads and evaluates files one at a time with its own engine (one per process)."""

    def __init__(
        self,
        *,
        policy: OrgPolicy = DEFAULT_POLICY,
        window: Window | None = None,
        now: datetime | None = None,
        engine: Engine | None = None,
        deliver: Callable[[str, dict, list[Finding]], None] | None = None,
        context: Callable[[Any], Context] | None = None,
        prefilter: bool = True,
    ):
        """``context``, when given, makes each record's :class:`Context` (the deployment's backfill: what the
        rules read of the organisation); otherwise every record gets the policy and ``now``. ``prefilter=False``
        parses every record whole (:func:`_prefiltered` gives the same results, faster; the tests compare)."""
        self.ctx = Context(now=now or datetime.now(timezone.utc), policy=policy)
        self.engine = engine or Engine(REGISTRY.able_to_fire(self.ctx) if context is None else REGISTRY)
        self.deliver = deliver
        self.registry = self.engine.registry
        self.sequences = SequenceEngine(MemoryStore())  # only asked which records are steps; judged by the caller
        self._context = context
        self.window = window
        self._wants: dict[tuple, bool] = {}
        self._s3: Any = None
        self.prefilter = prefilter

    def run(self, source: Source, stdin: IO[bytes] | None = None) -> FileResult:
        """Fetch and read one file, stdin or S3 object (an S3 object is gunzipped as it downloads)."""
        try:
            inflated = source.kind == "s3"
            data = self._download(source) if inflated else self._fetch(source, stdin)
        except (OSError, EOFError, zlib.error) as error:
            return FileResult(source.name, problems=[InputProblem(source.name, f"cannot read: {error}")])
        except Exception as error:  # botocore's errors (imported only for S3 inputs)
            if not _is_aws_error(error):
                raise
            return FileResult(source.name, problems=[InputProblem(source.name, f"cannot read: {error}")])
        return self._parsed(FileResult(source.name), source.name, data) if inflated else self.read(source.name, data)

    def read(self, name: str, data: bytes) -> FileResult:
        """Read one file's bytes (plain or gzip) called ``name`` in origins and problems."""
        result = FileResult(name)
        if data[:2] == _GZIP_MAGIC:
            try:
                data = gunzip(data)
            except (OSError, EOFError, zlib.error) as error:
                result.problems.append(InputProblem(name, f"cannot read: {error}"))
                return result
        return self._parsed(result, name, data)

    def _parsed(self, result: FileResult, name: str, data: bytes) -> FileResult:
        with _gc_paused():  # a parsed log file is a tree: nothing for the cycle collector to find
            self._scan(result, name, data)
        return result

    def _fetch(self, source: Source, stdin: IO[bytes] | None) -> bytes:
        if source.kind == "stdin":
            return (stdin or sys.stdin.buffer).read()
        with open(source.name, "rb") as handle:
            return handle.read()

    def _download(self, source: Source) -> bytes:
        """An S3 object's bytes, gunzipped (when they are gzip) chunk by chunk as they arrive: inflating overlaps
        the download, and no whole copy of the compressed object is made (:func:`gunzip` keeps its chunks until it
        is done, about a tenth of what they expand to, for the standard library's words on an error)."""
        if self._s3 is None:
            self._s3 = s3_client()
        body = self._s3.get_object(Bucket=source.bucket, Key=source.key)["Body"]
        try:
            chunks = body.iter_chunks(DOWNLOAD_CHUNK)
            first = b""
            for chunk in chunks:
                first += chunk
                if len(first) >= len(_GZIP_MAGIC):
                    break
            if first[:2] == _GZIP_MAGIC:
                return gunzip(itertools.chain((first,), chunks))
            return first + b"".join(chunks)
        finally:
            body.close()

    # -- parsing: orjson once; the standard library only to explain what orjson refused ----------------

    def _scan(self, result: FileResult, name: str, data: bytes) -> None:
        if self.prefilter and _prefiltered(self, result, name, data[3:] if data[:3] == _BOM else data):
            return
        try:
            document = orjson.loads(data[3:] if data[:3] == _BOM else data)
        except orjson.JSONDecodeError:
            pass
        else:
            self._document(result, name, document)
            return
        # Not one JSON document for orjson: JSON Lines, something orjson is stricter about than the
        # standard library (NaN, lone surrogates, deep nesting), or broken: the standard library's verdict.
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as error:
            result.problems.append(InputProblem(name, f"cannot read: {error}"))
            return
        if not text.strip():
            result.problems.append(InputProblem(name, "empty input"))
            return
        try:
            document = json.loads(text)
        except (json.JSONDecodeError, RecursionError) as whole_error:
            # JSON Lines, else documents one after the other, else one broken document
            if not (self._lines(result, name, text) or self._stream(result, name, text, whole_error)):
                result.problems.append(InputProblem(name, f"invalid JSON: {_reason(whole_error)}"))
            return
        self._document(result, name, document)

    def _lines(self, result: FileResult, name: str, text: str) -> bool:
        """JSON Lines, the n-th line called ``name:n``; False (nothing read) when ``text`` is not that: fewer
        than two lines, or a first line that is not a whole JSON object."""
        lines = [(number, line) for number, line in enumerate(text.splitlines(), 1) if line.strip()]
        if len(lines) < 2 or not isinstance(_loads_or_none(lines[0][1]), dict):
            return False
        for number, line in lines:
            try:
                document = _loads(line)
            except (json.JSONDecodeError, RecursionError) as error:
                result.problems.append(InputProblem(f"{name}:{number}", f"invalid JSON: {_reason(error)}"))
                continue
            self._document(result, f"{name}:{number}", document)
        return True

    def _stream(self, result: FileResult, name: str, text: str, whole_error: Exception) -> bool:
        """Documents one after the other (``cat a.json b.json``), the n-th called ``name#n``; False (nothing
        read) when ``text`` is not that: one document followed by something else than whitespace (what
        the standard library calls "Extra data"), that is an object or an array. The first broken
        document is a problem and ends the stream: there is no telling where a next one would begin."""
        if not (isinstance(whole_error, json.JSONDecodeError) and whole_error.msg == "Extra data"):
            return False
        decoder = json.JSONDecoder()
        document, end = decoder.raw_decode(text, _BETWEEN.match(text).end())
        if not isinstance(document, (dict, list)):
            return False
        number = 1
        while True:
            self._document(result, f"{name}#{number}", document)
            start = _BETWEEN.match(text, end).end()
            if start == len(text):
                return True
            number += 1
            try:
                document, end = decoder.raw_decode(text, start)
            except (json.JSONDecodeError, RecursionError) as error:
                result.problems.append(InputProblem(f"{name}#{number}", f"invalid JSON: {_reason(error)}; "
                                                    + _rest_unread(text, number, start)))
                return True

    def _document(self, result: FileResult, origin: str, document: object) -> None:
        if isinstance(document, dict) and isinstance(document.get("Records"), list):
            self._items(result, document["Records"], origin + "#Records[")
        elif isinstance(document, list):
            self._items(result, document, origin + "[")
        else:
            self._item(result, origin, document)

    def _items(self, result: FileResult, items: list, prefix: str, indices: Iterable[int] | None = None) -> None:
        """The hot loop. A raw CloudTrail record is looked up in the registry's memo by (eventSource,
        eventName, userIdentity.type) before anything is allocated for it; anything else (envelopes,
        other events, problems) goes the general way, through :func:`~identity_auditor.archive.inputs.classify`,
        with the same verdicts. ``indices``: each item's place in its file (default: its place in ``items``),
        for the records the prefilter left to parse."""
        wants, window = self._wants, self.window
        records = not_cloudtrail = outside = 0
        for index, item in zip(range(len(items)) if indices is None else indices, items):
            if type(item) is not dict or "detail" in item or "invokingEvent" in item:
                self._item(result, f"{prefix}{index}]", item)
                continue
            try:
                key = (item["eventSource"], item["eventName"], item["userIdentity"]["type"])
            except (KeyError, TypeError):
                if "eventSource" not in item or "eventName" not in item:
                    self._item(result, f"{prefix}{index}]", item)  # not a record: classify says what
                    continue
                identity = item.get("userIdentity")  # absent, null, or without a type
                key = (item["eventSource"], item["eventName"], identity.get("type") if type(identity) is dict else None)
            if item.get("eventType") == "AwsCloudTrailInsight" or item.get("eventCategory") == "Insight":
                not_cloudtrail += 1
                continue
            records += 1
            if window is not None and not window.admits(item.get("eventTime")):
                outside += 1
                continue
            try:
                wanted = wants[key]
            except (KeyError, TypeError):
                wanted = self._wanted(*key)
            if wanted:
                self._evaluate_record(result, f"{prefix}{index}]", item)
        result.records += records
        result.not_cloudtrail += not_cloudtrail
        result.outside_window += outside

    def _item(self, result: FileResult, origin: str, item: object) -> None:
        found = classify(origin, item)
        if isinstance(found, InputProblem):
            result.problems.append(found)
            return
        if isinstance(found, NotCloudTrail):
            result.not_cloudtrail += 1
            return
        result.records += 1
        event = found.event
        detail = event["detail"]
        if self.window is not None and not self.window.admits(detail.get("eventTime") or event.get("time")):
            result.outside_window += 1
            return
        identity = detail.get("userIdentity")
        if self._wanted(detail["eventSource"], detail["eventName"],
                        identity.get("type") if isinstance(identity, dict) else None):
            self._evaluate(result, origin, event)

    def _wanted(self, source: Any, name: Any, identity_type: Any) -> bool:
        """Whether some rule listens to the event (EventBridge would deliver it), memoised for text keys."""
        wanted = self.registry.wants(str(source), str(name), identity_type)
        if (type(source) is str and type(name) is str and (identity_type is None or type(identity_type) is str)
                and len(self._wants) < _WANTS_CACHE_LIMIT):
            self._wants[(source, name, identity_type)] = wanted
        return wanted

    def _evaluate_record(self, result: FileResult, origin: str, item: dict) -> None:
        """A raw CloudTrail record: :meth:`_evaluate` of the EventBridge envelope :func:`as_eventbridge` wraps it
        in, without making the envelope when nothing reads it (no ``deliver``) and nothing of it can fail (see
        :func:`_envelope_is_sure`): the record is validated alone, as the envelope would validate it, and the
        account and region are the envelope's. A record that does not validate goes the envelope's way, whose
        error says what is wrong, in the same words as ever."""
        if self.deliver is None and _envelope_is_sure(item):
            try:
                record = CloudTrailRecord.model_validate(item)
            except ValidationError:
                pass
            else:
                self._evaluated(result, origin, record, *account_and_region(item), None)
                return
        self._evaluate(result, origin, as_eventbridge(item))

    def _evaluate(self, result: FileResult, origin: str, envelope: dict) -> None:
        try:
            event = CloudTrailEvent.model_validate(envelope)
        except ValidationError as error:
            result.problems.append(InputProblem(origin, "invalid event: " + first_errors(error)))
            return
        self._evaluated(result, origin, event.detail, event.account, event.region, envelope)

    def _evaluated(self, result: FileResult, origin: str, record: CloudTrailRecord, account: str, region: str,
                   envelope: dict | None) -> None:
        result.evaluated += 1
        ctx = self._context(record) if self._context else self.ctx
        evaluation = self.engine.evaluate(record, ctx, account=account, region=region)
        for failure in evaluation.failures:
            result.failures.append(RuleFailure(failure.rule_id, origin, failure.error))
        result.findings.extend(evaluation.findings)
        if self.deliver is not None and evaluation.findings:
            self.deliver(origin, envelope, evaluation.findings)
        if self.sequences.wants(record.event_source, record.event_name, record.user_identity.type):
            result.steps.append(SequenceInput(record, frozenset(evaluation.fired), account, region, origin))


_SCALARS = (str, int, float, bool, type(None))


def _envelope_is_sure(item: dict) -> bool:
    """Nothing of the envelope :func:`as_eventbridge` makes of ``item`` can fail, nor be validated otherwise than
    the record alone is: an ASCII ``eventID`` (its id is a UUID of it, no JSON dump of the record), text
    ``eventSource`` and ``eventType`` (or none), and plain values for the account and region. (A record whose
    envelope is not sure is wrapped and validated as before.)"""
    event_id, event_type, identity = item.get("eventID"), item.get("eventType"), item.get("userIdentity")
    return (type(event_id) is str and event_id != "" and event_id.isascii()
            and type(item.get("eventSource")) is str and (event_type is None or type(event_type) is str)
            and type(item.get("recipientAccountId")) in _SCALARS and type(item.get("awsRegion")) in _SCALARS
            and (not isinstance(identity, dict) or type(identity.get("accountId")) in _SCALARS))


# -- the prefilter: parse only the records a rule can want ---------------------------------------------------

_PREFILTER: Any = None  # (headers decoder, raw records decoder), made on first use (msgspec imported then)


def _decoders() -> Any:
    """msgspec decoders for a CloudTrail log file: one that reads each record's few top-level fields the
    filter looks at (skipping, but still checking, everything else), one that cuts the file into its
    records' bytes."""
    global _PREFILTER
    if _PREFILTER is None:
        import msgspec

        unset = msgspec.UNSET
        # gc=False: plain values, no cycles (about 15% less to build a file's headers)
        identity = msgspec.defstruct("Identity", [("type", Any, None)], gc=False)
        header = msgspec.defstruct("Header", [
            ("eventSource", Any, unset), ("eventName", Any, unset), ("userIdentity", identity | None, None),
            ("eventType", Any, None), ("eventCategory", Any, None), ("eventTime", Any, None),
            ("detail", msgspec.Raw, unset), ("invokingEvent", msgspec.Raw, unset)], gc=False)
        headers = msgspec.defstruct("Headers", [("Records", list[header])], gc=False)
        cut = msgspec.defstruct("Cut", [("Records", list[msgspec.Raw])])
        _PREFILTER = (msgspec.json.Decoder(headers), msgspec.json.Decoder(cut), msgspec.DecodeError, unset)
    return _PREFILTER


def _prefiltered(replayer: Replayer, result: FileResult, name: str, data: bytes) -> bool:
    """Read a CloudTrail log file (``{"Records": [...]}``) parsing only the records some rule can want, with
    the same findings, problems and counts, in the same order, as parsing it whole; False (nothing read) when
    the bytes are not in a shape this can be sure of, for the full parse to read.

    msgspec reads the file once for each record's ``eventSource``, ``eventName``, ``userIdentity.type``,
    ``eventType``, ``eventCategory`` and ``eventTime`` (and whether it has ``detail`` or ``invokingEvent``),
    skipping the rest without building it but checking it is JSON; the records the filter would pass over
    (not wanted by any rule, Insights events, outside the time window) are counted from that alone. When some
    record is left, a second read cuts the file into records and only those are parsed, by ``orjson``, and go
    through the usual loop (:meth:`Replayer._items`) at their place. Not sure of, so left to the full parse:
    anything but one JSON object with a ``Records`` array of objects (JSON Lines, concatenated documents, other
    layouts), a field of another type than a record has (``userIdentity`` not an object), JSON that msgspec
    refuses and bytes that are not UTF-8 (orjson or the standard library will say what is wrong, as before)."""
    if data[:1] != b"{":
        return False
    if not data.isascii():  # msgspec does not check the UTF-8 of what it skips: Python's decoder does, as orjson
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            return False  # the full parse says what is wrong, as before
    headers_decoder, cut_decoder, refused, unset = _decoders()
    try:
        headers = headers_decoder.decode(data).Records
    except (refused, RecursionError):
        return False
    wants, window, wanted_by = replayer._wants, replayer.window, replayer._wanted
    left: list[int] = []
    records = not_cloudtrail = outside = 0
    for index, header in enumerate(headers):
        source, event, identity = header.eventSource, header.eventName, header.userIdentity
        if source is unset or event is unset or header.detail is not unset or header.invokingEvent is not unset:
            left.append(index)  # not a plain record: the general way says what it is
            continue
        if header.eventType == "AwsCloudTrailInsight" or header.eventCategory == "Insight":
            not_cloudtrail += 1
            continue
        if window is not None and not window.admits(header.eventTime):
            records += 1
            outside += 1
            continue
        key = (source, event, identity.type if identity is not None else None)
        try:
            wanted = wants[key]
        except (KeyError, TypeError):
            wanted = wanted_by(*key)
        if wanted:
            left.append(index)
        else:
            records += 1
    result.records += records
    result.not_cloudtrail += not_cloudtrail
    result.outside_window += outside
    if left:
        cut = cut_decoder.decode(data).Records
        replayer._items(result, [_loads_raw(cut[index]) for index in left], name + "#Records[", left)
    return True


def _loads_raw(raw: Any) -> object:
    """One record's bytes, cut out by msgspec (valid JSON: it checked), as orjson parses them; the standard
    library for what orjson refuses but JSON allows (a number beyond a float's range, as the full parse does)."""
    try:
        return orjson.loads(memoryview(raw))
    except orjson.JSONDecodeError:
        return json.loads(bytes(raw).decode("utf-8"))


_EPOCH = datetime.min.replace(tzinfo=timezone.utc)


def _event_order(step: SequenceInput) -> tuple:
    return step.record.event_time or _EPOCH, str(step.record.event_id), step.origin


_PLACE = struct.Struct(">QQ")  # a spooled step's offset and size in the spool's file
_MICROSECOND = timedelta(microseconds=1)


def _spool_entry(step: SequenceInput, offset: int, size: int) -> bytes:
    """A step's place in the spool's index: bytes that sort as :func:`_event_order`'s (time, event id) do, then by
    ``offset`` (the order they came in): the time as microseconds since ``_EPOCH`` (8 bytes, big-endian), the event
    id in UTF-8 (code-point order; lone surrogates kept) with its NUL characters written ``00 01`` and ended by
    ``00 00`` (so an id sorts before the ids it begins), then ``offset`` and ``size``."""
    moment, event_id, _ = _event_order(step)
    micros = (moment - _EPOCH) // _MICROSECOND
    return (micros.to_bytes(8, "big") + event_id.encode("utf-8", "surrogatepass").replace(b"\x00", b"\x00\x01")
            + b"\x00\x00" + _PLACE.pack(offset, size))


def _event_key(step: SequenceInput) -> tuple:
    """:func:`_event_order` with the time as microseconds since ``_EPOCH``: the same order, and cheap to compare
    (two times whose zone objects differ, as two records' do, compare ten times slower)."""
    moment, event_id, origin = _event_order(step)
    return (moment - _EPOCH) // _MICROSECOND, event_id, origin


def in_event_order(inputs: Iterable[SequenceInput]) -> list[SequenceInput]:
    """Sequence steps in event-time order, then event id and origin: the order archives are judged in."""
    return sorted(inputs, key=_event_order)


@dataclass(frozen=True, slots=True)
class ObservedStep:
    """A sequence step of an archive, ready to be judged: where it was read, what the sequences observed of its
    record (:meth:`SequenceEngine.observe <identity_auditor.engine.sequences.SequenceEngine.observe>`), and the
    record itself, given by ``record()`` (a spooled step's is read back from disk then: only to build a finding)."""

    origin: str
    observed: Observed
    record: Callable[[], CloudTrailRecord]


class StepSpool:
    """The sequence steps of an archive, kept on disk until they are judged, so that ``evaluate``'s memory does not
    grow with the archive. Each step is observed as it comes (what the sequences make of a record depends on the
    record, the event rules that fired on it and ``ctx`` only, never on what was seen before): a record no sequence
    takes as a step (most records a sequence listens to: a ``CreateRole`` whose trust is not unsafe) is dropped
    there, as judging it would change nothing. Of the others, what the sequences observed (a few short facts) is
    pickled to a temporary file with the record beside it, read back only to build a finding it completes; only
    its place in event order stays in memory, as one short byte string (:func:`_spool_entry`: time, event id,
    where it is on disk; about 100 bytes a step). :meth:`in_event_order` gives the steps back one at a time, in
    the order :func:`in_event_order` sorts; :func:`sequence_findings` judges them with ``engine``."""

    def __init__(self, ctx: Context, engine: SequenceEngine | None = None) -> None:
        self.ctx = ctx
        self.engine = engine or SequenceEngine(MemoryStore())
        self._file: IO[bytes] | None = None
        self._end = 0
        self._index: list[bytes] = []  # one _spool_entry per step kept
        self._held: list[ObservedStep] = []  # the rare steps pickle cannot write (hostile nesting)

    def __len__(self) -> int:
        """The steps kept: those some sequence observed."""
        return len(self._index)

    def extend(self, steps: Iterable[SequenceInput]) -> None:
        observe, ctx = self.engine.observe, self.ctx
        for step in steps:
            observed = observe(step.record, step.fired, ctx, account=step.account, region=step.region)
            if observed is None:
                continue  # no step of any sequence: judging it would change nothing
            if self._file is None:
                import tempfile

                self._file = tempfile.TemporaryFile(prefix="identity-auditor-steps-")
            elif self._file.tell() != self._end:  # read from since: write at the end
                self._file.seek(self._end)
            try:
                record = pickle.dumps(step.record, pickle.HIGHEST_PROTOCOL)
                entry = pickle.dumps((step.origin, observed, self._end, len(record)), pickle.HIGHEST_PROTOCOL)
            except (RecursionError, pickle.PicklingError):  # a record nested deeper than pickle goes: kept in memory
                self._index.append(_spool_entry(step, len(self._held), 0))  # size 0: the place in _held
                self._held.append(ObservedStep(step.origin, observed, lambda record=step.record: record))
                continue
            # the record, then what was observed of it (which says where the record is); the origin, for ties
            # only, stays on disk
            self._file.write(record)
            self._file.write(entry)
            self._index.append(_spool_entry(step, self._end + len(record), len(entry)))
            self._end += len(record) + len(entry)

    def in_event_order(self) -> Iterator[ObservedStep]:
        self._index.sort()  # time, event id, then place on disk: the order they came in within a tie
        tie: list[ObservedStep] = []
        last = None
        for entry in self._index:
            place = entry[-_PLACE.size:]
            if entry[:-_PLACE.size] != last and tie:
                yield from sorted(tie, key=lambda step: step.origin) if len(tie) > 1 else tie
                tie = []
            last = entry[:-_PLACE.size]
            offset, size = _PLACE.unpack(place)
            if size == 0:
                tie.append(self._held[offset])
                continue
            self._file.seek(offset)
            origin, observed, record_offset, record_size = pickle.loads(self._file.read(size))
            tie.append(ObservedStep(origin, observed, partial(self._record, record_offset, record_size)))
        yield from sorted(tie, key=lambda step: step.origin) if len(tie) > 1 else tie

    def _record(self, offset: int, size: int) -> CloudTrailRecord:
        self._file.seek(offset)
        return pickle.loads(self._file.read(size))

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        self._index = []
        self._held = []
        self._end = 0


def observed_in_event_order(inputs: Iterable[SequenceInput], ctx: Context,
                            engine: SequenceEngine) -> list[ObservedStep]:
    """The steps of ``inputs`` some sequence of ``engine`` observes, in :func:`in_event_order`'s order."""
    kept = []
    for step in inputs:
        observed = engine.observe(step.record, step.fired, ctx, account=step.account, region=step.region)
        if observed is not None:
            kept.append((step, ObservedStep(step.origin, observed, lambda record=step.record: record)))
    kept.sort(key=lambda pair: _event_key(pair[0]))
    return [observed for _, observed in kept]


def sequence_findings(inputs: Iterable[SequenceInput] | StepSpool, ctx: Context,
                      engine: SequenceEngine | None = None) -> tuple[list[Finding], list[RuleFailure]]:
    """The sequence findings (spec §E) of the steps of an archive, judged in event-time order (then event id), so
    that the result does not depend on the order the files were read in or on ``--jobs``: the same findings as
    the live path, which judges them as they arrive. ``engine``: the deployment's (the backfill shares the live
    path's DynamoDB state), else one with its own memory; its findings are committed as found. A
    :class:`StepSpool` is judged by its own engine, with the context it observed its steps with."""
    if isinstance(inputs, StepSpool):
        if ctx != inputs.ctx or engine not in (None, inputs.engine):
            raise ValueError("a step spool is judged with the context and the engine it observed its steps with")
        engine = inputs.engine
        steps: Iterable[ObservedStep] = inputs.in_event_order()
    else:
        engine = engine or SequenceEngine(MemoryStore())
        steps = observed_in_event_order(inputs, ctx, engine)
    findings: list[Finding] = []
    failures: list[RuleFailure] = []
    for step in steps:
        evaluation = engine.judge(step.observed, ctx, step.record)
        engine.commit(evaluation)
        findings.extend(evaluation.findings)
        failures.extend(RuleFailure(f.rule_id, step.origin, f.error) for f in evaluation.failures)
    # a sequence raised again (a higher severity, more steps) updates its finding: keep its latest state, once
    latest = {finding.finding_id: finding for finding in findings}
    return list(latest.values()), failures


@contextmanager
def _gc_paused() -> Iterator[None]:
    """The cyclic garbage collector off while one file is parsed and scanned (orjson's many new
    containers would otherwise set off collections that walk every live object), on again after."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


_isal_zlib: Any = ...  # ISA-L's zlib module once looked for (None: no wheel for this platform)
# A CloudTrail log file holds a few MB of JSON; one that expands beyond this is not a log file (a gzip "bomb" of
# 1 MB can expand to 1 GiB) and is refused with a problem instead of taking the machine's memory.
MAX_EXPANDED_BYTES = 512 * 1024 * 1024
DOWNLOAD_CHUNK = 1024 * 1024  # an S3 object is read (and inflated) this much at a time


def _fast_zlib() -> Any:
    """ISA-L's zlib, imported on the first gunzip (not at import: the backfill's cold start)."""
    global _isal_zlib
    if _isal_zlib is ...:
        try:
            from isal import isal_zlib
        except ImportError:  # no ISA-L wheel for this platform: zlib
            isal_zlib = None
        _isal_zlib = isal_zlib
    return _isal_zlib


class TooLarge(OSError):
    """A gzip file that expands beyond :data:`MAX_EXPANDED_BYTES`."""


def gunzip(data: bytes | Iterable[bytes], limit: int = MAX_EXPANDED_BYTES) -> bytes:
    """The bytes of a gzip file (every member), inflated with ISA-L (``isal``, about twice zlib's speed) where
    its wheel exists, else zlib; never more than ``limit`` bytes (:class:`TooLarge` past it: nothing is
    inflated beyond the limit, whatever the file claims). ``data`` may come in chunks (an S3 object as it
    downloads): each is inflated as it arrives. Corrupt or truncated data raise what the standard library's
    gzip says of them (``OSError``, ``EOFError``, ``zlib.error``), the same with or without ISA-L."""
    inflating = _fast_zlib() or zlib
    chunks = iter((data,) if isinstance(data, (bytes, bytearray, memoryview)) else data)
    seen: list[bytes] = []  # the compressed bytes so far: for the standard library's words on an error
    parts: list[bytes] = []
    total = 0
    inflater = None  # None: between members (or before the first)
    between = b""  # bytes after a member's end not yet known to start another
    for chunk in chunks:
        seen.append(chunk)
        rest = bytes(chunk)
        while rest:
            if inflater is None:
                between += rest
                rest = b""
                if len(between) < len(_GZIP_MAGIC):
                    break  # the next chunk says whether a member starts here
                if not between.startswith(_GZIP_MAGIC):
                    if between.strip(b"\x00"):  # gzip tolerates trailing zeros, nothing else
                        raise OSError("Not a gzipped file (trailing garbage after the last member)")
                    break
                inflater, rest, between = inflating.decompressobj(31), between, b""
            try:
                out = inflater.decompress(rest, limit - total + 1)
            except Exception:  # noqa: BLE001 - ISA-L's and zlib's own error types: the standard library's words count
                # it fails at the same place in the stream, so it inflates no more than this did (within the limit)
                whole = gzip.decompress(b"".join(seen) + b"".join(chunks))
                if len(whole) > limit:
                    raise _too_large(limit) from None
                return whole
            total += len(out)
            if total > limit:
                raise _too_large(limit)
            parts.append(out)
            if inflater.eof:
                rest, inflater = inflater.unused_data, None
            else:
                rest = b""  # all taken: the member goes on in the next chunk
    if inflater is not None:
        raise EOFError("Compressed file ended before the end-of-stream marker was reached")
    if between.strip(b"\x00"):  # a lone byte after the last member, or a first chunk of one byte
        raise OSError("Not a gzipped file (trailing garbage after the last member)")
    return b"".join(parts)


def _too_large(limit: int) -> TooLarge:
    return TooLarge(f"expands beyond {limit // (1024 * 1024)} MiB: not a CloudTrail log file "
                    "(a decompression bomb?); not read")


def _loads(text: str) -> object:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)  # the standard library's verdict (and message) is the one that counts


def _loads_or_none(text: str) -> object:
    try:
        return _loads(text)
    except (json.JSONDecodeError, RecursionError):
        return None


def _rest_unread(text: str, number: int, start: int) -> str:
    """Where broken document ``number`` of a stream starts (as the json module says where), and that nothing
    from there on is read."""
    line = text.count("\n", 0, start) + 1
    column = start - text.rfind("\n", 0, start)
    left = len(text) - start
    return (f"document {number} starts at line {line} column {column} (char {start}), nothing from there on is "
            f"read ({left} character{'' if left == 1 else 's'})")


def _reason(error: Exception) -> str:
    return "nested too deeply" if isinstance(error, RecursionError) else str(error)


def _is_aws_error(error: Exception) -> bool:
    if "botocore" not in sys.modules:
        return False
    from botocore.exceptions import BotoCoreError, ClientError

    return isinstance(error, (BotoCoreError, ClientError))


def first_errors(error: ValidationError, limit: int = 3) -> str:
    """The first few validation errors, ``location: message``, for one line of output."""
    parts = []
    for item in error.errors()[:limit]:
        location = ".".join(str(part) for part in item.get("loc", ())) or "(event)"
        parts.append(f"{location}: {item.get('msg')}")
    more = len(error.errors()) - limit
    return "; ".join(parts) + (f"; and {more} more" if more > 0 else "")
