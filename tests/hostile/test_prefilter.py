"""The prefilter (issue 18 item 1) against the full parse, finding for finding, in the same order: the real
corpus, the samples, the hostile mutations, generated archives and byte-level damage. Whatever the prefilter
reads itself or leaves to the full parse, a file must give the same :class:`FileResult` both ways: findings,
input problems (their place and words), rule failures, counts and sequence steps."""

from __future__ import annotations

import copy
import gzip
import json
from datetime import datetime, timezone

import orjson
import pytest
from archives import replicate_invictus
from hostile_cases import (
    NOT_EVENTS,
    count,
    envelope_mutations,
    hypothesis_settings,
    json_values,
    pick,
    record_mutations,
)
from hypothesis import given
from hypothesis import strategies as st
from identity_auditor.archive import reader
from identity_auditor.archive.reader import FileResult, Replayer, Window
from support import CORPUS, load_sample, sample_names

SUITE = "prefilter"
NOW = datetime(2026, 12, 1, tzinfo=timezone.utc)
WINDOW = Window.between("2023-07-10T11:50:00Z", "2023-07-10T12:30:00Z")
FAST = {None: Replayer(now=NOW), "window": Replayer(now=NOW, window=WINDOW)}
FULL = {None: Replayer(now=NOW, prefilter=False), "window": Replayer(now=NOW, window=WINDOW, prefilter=False)}


def view(result: FileResult) -> dict:
    return {
        "findings": [repr(f) for f in result.findings],
        "problems": [(p.origin, p.message) for p in result.problems],
        "failures": [(f.rule_id, f.subject, f.error) for f in result.failures],
        "counts": (result.records, result.evaluated, result.not_cloudtrail, result.outside_window),
        "steps": [(s.origin, sorted(s.fired), s.account, s.region, s.record.event_id) for s in result.steps],
    }


def same(data: bytes, name: str = "log.json", *, window: str | None = None) -> dict:
    """Read ``data`` both ways and check they agree; the full parse's view."""
    full = view(FULL[window].read(name, data))
    fast = view(FAST[window].read(name, data))
    assert fast == full
    count(SUITE)
    return full


def used_the_prefilter(data: bytes) -> bool:
    return reader._prefiltered(Replayer(now=NOW), FileResult("x"), "x", data)


# -- real records ------------------------------------------------------------------------------------------


CORPUS_FILES = sorted(p for p in CORPUS.rglob("*.json") if not p.name.startswith("_"))


@pytest.mark.parametrize("path", CORPUS_FILES, ids=lambda p: str(p.relative_to(CORPUS)))
def test_corpus_files(path):
    data = path.read_bytes()
    for window in (None, "window"):
        same(data, path.name, window=window)
        same(gzip.compress(data), path.name + ".gz", window=window)


def test_the_whole_corpus_as_one_log_file_is_prefiltered_and_finds_the_same():
    records = []
    for path in CORPUS_FILES:
        document = json.loads(path.read_text())
        if isinstance(document, dict) and isinstance(document.get("Records"), list):
            records += document["Records"]
    data = orjson.dumps({"Records": records})
    assert data.isascii() and used_the_prefilter(data)
    result = same(data)
    assert len(result["findings"]) >= 10 and result["counts"][0] + result["counts"][2] == len(records)
    same(data, window="window")


def test_every_sample_in_a_log_file_among_other_records():
    filler = [r for r in json.loads(sorted((CORPUS / "invictus").glob("*.json"))[0].read_text())["Records"]][:20]
    for name in sample_names():
        event = load_sample(name)
        detail = event.get("detail")
        if not isinstance(detail, dict):
            continue
        data = json.dumps({"Records": [*filler[:10], detail, *filler[10:]]}).encode()
        same(data)
        same(json.dumps([*filler[:3], event, *filler[3:6]]).encode())  # an array of envelopes: the full parse


def test_generated_archive(tmp_path):
    paths, total = replicate_invictus(tmp_path, 1)
    records = 0
    for path in paths:
        records += same(path.read_bytes(), str(path))["counts"][0]
    assert records == total


# -- hostile records ---------------------------------------------------------------------------------------


def _samples() -> list[tuple[str, dict]]:
    return [(name, load_sample(name)) for name in sample_names()
            if isinstance(load_sample(name).get("detail"), dict) and load_sample(name).get("source") != "aws.health"]


@pytest.mark.parametrize("kind", ["record", "envelope"])
def test_hostile_mutations_inside_a_log_file(kind, sized):
    good = [load_sample("iam_create_user.json")["detail"], load_sample("cloudtrail_delete_trail.json")["detail"]]
    cases = 0
    for name, sample in pick(_samples(), sized(12, 200), seed=f"prefilter/{kind}"):
        mutations = record_mutations(sample) if kind == "record" else envelope_mutations(sample)
        for mutation in pick(mutations, sized(12, 60), seed=f"prefilter/{kind}/{name}"):
            event = mutation.apply(copy.deepcopy(sample))
            bad = event.get("detail") if kind == "record" and isinstance(event, dict) else event
            document = {"Records": [good[0], bad, good[1]]}
            same(json.dumps(document, allow_nan=True).encode())
            try:  # the hostile strings written as UTF-8, not escaped (lone surrogates cannot be)
                same(json.dumps(document, allow_nan=True, ensure_ascii=False).encode("utf-8"))
            except UnicodeEncodeError:
                pass
            cases += 1
    assert cases >= 100


@pytest.mark.parametrize("name", sorted(NOT_EVENTS))
def test_not_events_inside_a_log_file(name):
    sample = load_sample("iam_create_user.json")
    bad = {"LIST": [sample, sample], "RECORDS": {"Records": [sample["detail"]]}, "RAW": sample["detail"]}.get(
        NOT_EVENTS[name], NOT_EVENTS[name]) if isinstance(NOT_EVENTS[name], str) else NOT_EVENTS[name]
    same(json.dumps({"Records": [sample["detail"], bad, sample["detail"]]}).encode())


SHAPES = {  # bytes the prefilter must leave to the full parse, or read the same
    "records-of-junk": b'{"Records": [5, null, "x", [], {}, {"eventSource": 1}]}',
    "records-not-a-list": b'{"Records": "none"}',
    "identity-a-string": b'{"Records": [{"eventSource": "iam.amazonaws.com", "eventName": "CreateUser", '
                         b'"userIdentity": "Root"}]}',
    "escaped-name": b'{"Records": [{"eventSource": "iam.amazonaws.com", "eventName": "Create\\u0055ser", '
                    b'"userIdentity": {"type": "Root"}, "eventTime": "2023-07-10T12:00:00Z"}]}',
    "escaped-key": b'{"Records": [{"eventSource": "iam.amazonaws.com", "event\\u004eame": "CreateUser", '
                   b'"userIdentity": {"type": "Root"}}]}',
    "duplicate-keys": b'{"Records": [{"eventSource": "s3.amazonaws.com", "eventName": "GetObject", '
                      b'"eventName": "ConsoleLogin", "eventSource": "signin.amazonaws.com", '
                      b'"userIdentity": {"type": "Root"}}], "Records": []}',
    "big-number": b'{"Records": [{"eventSource": "iam.amazonaws.com", "eventName": "CreateUser", "x": 1e400, '
                  b'"userIdentity": {"type": "IAMUser"}}]}',
    "nan": b'{"Records": [{"eventSource": "iam.amazonaws.com", "eventName": "CreateUser", "x": NaN}]}',
    "lone-surrogate": b'{"Records": [{"eventSource": "iam.amazonaws.com", "eventName": "CreateUser", '
                      b'"x": "\\ud800"}]}',
    "invalid-utf8": b'{"Records": [{"eventSource": "iam.amazonaws.com", "eventName": "GetUser", "x": "\xff"}]}',
    "utf8": '{"Records": [{"eventSource": "iam.amazonaws.com", "eventName": "CreateUser", "x": "é"}, '
            '{"eventSource": "s3.amazonaws.com", "eventName": "GetObject", "key": "r\u00e9sum\u00e9 \U0001f600"}]}'.encode(),
    "encoded-surrogate": b'{"Records": [{"eventSource": "s3.amazonaws.com", "eventName": "GetObject", "x": "\xed\xa0\x80"}]}',
    "overlong": b'{"Records": [{"eventSource": "s3.amazonaws.com", "eventName": "GetObject", "x": "\xc0\xaf"}]}',
    "bom": b'\xef\xbb\xbf{"Records": [{"eventSource": "iam.amazonaws.com", "eventName": "CreateUser"}]}',
    "whitespace": b'\n {\n\t"Records" :\r\n [ {"eventSource" : "iam.amazonaws.com" , "eventName":"CreateUser"} ] }\n',
    "concatenated": b'{"Records": []}{"Records": [{"eventSource": "iam.amazonaws.com", "eventName": "CreateUser"}]}',
    "insight": b'{"Records": [{"eventSource": "iam.amazonaws.com", "eventName": "CreateUser", '
               b'"eventType": "AwsCloudTrailInsight"}, {"eventSource": "iam.amazonaws.com", '
               b'"eventName": "CreateUser", "eventCategory": "Insight"}, {"eventSource": "s3.amazonaws.com", '
               b'"eventName": "GetObject", "eventCategory": "Insight"}, {"eventSource": "s3.amazonaws.com", '
               b'"eventName": "GetObject", "eventType": "AwsCloudTrailInsight"}]}',
    "detail-and-config": b'{"Records": [{"eventSource": "s3.amazonaws.com", "eventName": "GetObject", '
                         b'"detail": null}, {"eventSource": "s3.amazonaws.com", "eventName": "GetObject", '
                         b'"invokingEvent": "{}"}]}',
    "unhashable-key": b'{"Records": [{"eventSource": {"a": 1}, "eventName": ["CreateUser"]}]}',
    "deep": b'{"Records": [{"eventSource": "s3.amazonaws.com", "eventName": "GetObject", "x": '
            + b"[" * 5000 + b"]" * 5000 + b"}]}",
    "nested-records": b'{"Records": [{"eventSource": "s3.amazonaws.com", "eventName": "GetObject", '
                      b'"requestParameters": {"Records": [{"eventSource": "iam.amazonaws.com", '
                      b'"eventName": "CreateUser", "userIdentity": {"type": "Root"}}]}}]}',
    "times": b'{"Records": [{"eventSource": "s3.amazonaws.com", "eventName": "GetObject", "eventTime": 5}, '
             b'{"eventSource": "s3.amazonaws.com", "eventName": "GetObject", "eventTime": "2023-07-10T12:00:00"}, '
             b'{"eventSource": "s3.amazonaws.com", "eventName": "GetObject", "eventTime": "2020-01-01T00:00:00Z"}]}',
}


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_shapes(shape):
    for window in (None, "window"):
        same(SHAPES[shape], f"{shape}.json", window=window)


def test_the_prefilter_reads_cloudtrail_log_files_and_leaves_what_it_cannot_be_sure_of():
    for shape in ("insight", "detail-and-config", "unhashable-key", "duplicate-keys", "escaped-name", "times",
                  "nested-records", "big-number", "utf8"):
        assert used_the_prefilter(SHAPES[shape]), shape
    for shape in ("records-of-junk", "records-not-a-list", "bom", "whitespace", "identity-a-string", "nan", "lone-surrogate", "invalid-utf8", "encoded-surrogate", "overlong",
                  "concatenated", "deep"):
        assert not used_the_prefilter(SHAPES[shape]), shape


# -- byte-level damage and arbitrary records (hypothesis) ----------------------------------------------------

SMALL_LOG = json.dumps({"Records": [load_sample("iam_create_user.json")["detail"],
                                    {"eventSource": "s3.amazonaws.com", "eventName": "GetObject",
                                     "userIdentity": {"type": "Root"}, "eventTime": "2023-07-10T12:00:00Z"}]},
                       separators=(",", ":")).encode()


@hypothesis_settings(300)
@given(st.lists(st.tuples(st.integers(0, len(SMALL_LOG) - 1), st.integers(0, 2),
                          st.sampled_from(b'{}[]",:\\ 0aeu\x00\xff')), min_size=1, max_size=3))
def test_damaged_bytes(edits):
    data = bytearray(SMALL_LOG)
    for place, how, byte in edits:
        place = min(place, len(data) - 1)
        if how == 0:
            data[place] = byte
        elif how == 1:
            data.insert(place, byte)
        else:
            del data[place]
    same(bytes(data))


@hypothesis_settings(200)
@given(st.lists(json_values, max_size=3))
def test_arbitrary_records_among_good_ones(values):
    good = load_sample("iam_create_user.json")["detail"]
    for ascii_only in (True, False):  # escaped, or written as UTF-8 (lone surrogates cannot be: escaped then)
        try:
            data = json.dumps({"Records": [good, *values, good]}, ensure_ascii=ascii_only).encode("utf-8")
        except (ValueError, TypeError, UnicodeEncodeError):
            continue
        same(data)
