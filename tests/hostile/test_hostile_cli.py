"""Hostile and malformed input through ``identity-auditor evaluate`` (identity_auditor.cli.main, in process).

Each case is a directory of three files: a CloudTrail log file of good records, a file where one record
among good ones is mutated (hostile_cases) or replaced by something that is not a record, and a JSON
Lines file of good EventBridge events. Whatever the mutation, the command

* reports every finding of the good records (nothing lost to the bad one);
* exits 0 when every record could be read, else 2 (the documented "some input could not be read or is
  not a valid event"), never 3 (a rule failed) nor with an exception;
* names each problem on stderr with the place: ``<file>#Records[1]``, ``<file>[1]``, ``<file>:<line>``;
* writes only what a strict UTF-8 terminal accepts (stdout and stderr are strict UTF-8 streams here:
  a lone surrogate from an event would raise), and valid JSON Lines / ASFF for those formats.

Whole files are broken too (truncated, invalid UTF-8, NUL bytes, gzip cut short, nested 100,000 deep,
JSON Lines with bad lines, a missing path, a dangling symbolic link), and hypothesis writes arbitrary bytes
and JSON next to the good files.
"""

from __future__ import annotations

import gzip
import io
import json
import re
from pathlib import Path

import pytest
from asff_validator import assert_valid_asff
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
from identity_auditor.cli.main import main
from identity_auditor.cli.output import EXIT_BAD_INPUT, EXIT_OK
from support import load_sample, sample_names

SUITE = "cli"
GOOD = ["signin_console_login_iam_user_without_mfa.json", "iam_create_access_key_for_other_user.json",
        "cloudtrail_delete_trail.json", "iam_create_user.json", "sso_create_account_assignment_user__constructed.json",
        "iam_create_role_trust_any_principal__constructed.json"]
FORMATS = ("jsonl", "table", "asff")


def run(*argv: object) -> tuple[int, str, str]:
    """main() in process, its stdout and stderr strict UTF-8 streams as a terminal's would be."""
    out_bytes, err_bytes = io.BytesIO(), io.BytesIO()
    out = io.TextIOWrapper(out_bytes, encoding="utf-8", errors="strict", newline="")
    err = io.TextIOWrapper(err_bytes, encoding="utf-8", errors="strict", newline="")
    code = main(["evaluate", *map(str, argv), "--jobs", "1"], stdout=out, stderr=err)
    out.flush(), err.flush()
    return code, out_bytes.getvalue().decode("utf-8"), err_bytes.getvalue().decode("utf-8")


def write_good(folder: Path) -> None:
    """The two good files of a case: a CloudTrail log file and a JSON Lines file of EventBridge events."""
    folder.mkdir(parents=True, exist_ok=True)
    records = [load_sample(name)["detail"] for name in GOOD[:2]]
    (folder / "good_log.json").write_text(json.dumps({"Records": records}))
    (folder / "good_events.jsonl").write_text("\n".join(json.dumps(load_sample(name)) for name in GOOD[4:]) + "\n")


def middle_file(folder: Path, bad: object, *, as_envelopes: bool) -> Path:
    """The file with the bad item between two good ones: ``{"Records": [...]}`` of raw records, or a JSON
    array of EventBridge events. Written with the standard library, as an exporter would."""
    if as_envelopes:
        path, document = folder / "mixed_events.json", [load_sample(GOOD[2]), bad, load_sample(GOOD[3])]
    else:
        path = folder / "mixed_log.json"
        document = {"Records": [load_sample(GOOD[2])["detail"], bad, load_sample(GOOD[3])["detail"]]}
    path.write_text(json.dumps(document, allow_nan=True))
    return path


@pytest.fixture(scope="module")
def baseline(tmp_path_factory) -> set[tuple[str, str]]:
    """(event id, rule id) of every finding of the good records, as the command reports them."""
    folder = tmp_path_factory.mktemp("baseline")
    write_good(folder)
    code, out, err = run(folder, "--format", "jsonl")
    assert code == EXIT_OK, err
    found = {(line["event_id"], line["rule_id"]) for line in map(json.loads, out.splitlines())}
    extra = set()
    for name in GOOD[2:4]:
        sample = folder / f"one_{name}"
        sample.write_text(json.dumps(load_sample(name)))
        code, out, err = run(sample, "--format", "jsonl")
        assert code == EXIT_OK, err
        extra |= {(line["event_id"], line["rule_id"]) for line in map(json.loads, out.splitlines())}
    assert len(found) >= 4 and len(extra) >= 2  # the good records do have findings to lose
    return found | extra


def findings_of(fmt: str, out: str) -> set[tuple[str, str]] | set[str]:
    """What the output shows: (event id, rule id) pairs (jsonl, asff) or the rule ids (table)."""
    if fmt == "jsonl":
        return {(line["event_id"], line["rule_id"]) for line in map(json.loads, out.splitlines())}
    if fmt == "asff":
        documents = json.loads(out)
        for document in documents:
            assert_valid_asff(document)
        return {(d["ProductFields"].get("identity-auditor/EventId"), d["GeneratorId"]) for d in documents}
    return {line.split()[1] for line in out.splitlines()[1:] if line and not line.startswith(" ")}


def check_case(folder: Path, bad_origin: str, baseline: set, fmt: str) -> tuple[int, str]:
    """Run the command on ``folder`` and check the properties in the module docs; returns (code, stderr)."""
    code, out, err = run(folder, "--format", fmt)
    assert code in (EXIT_OK, EXIT_BAD_INPUT), (code, err)
    assert " failed on " not in err, err  # no rule raised
    shown = findings_of(fmt, out)
    expected = baseline if fmt != "table" else {rule for _, rule in baseline}
    assert expected <= shown, f"findings of good records lost: {sorted(expected - shown)}"
    problems = [line for line in err.splitlines() if line.startswith("identity-auditor: ")]
    summary = [line for line in (err if fmt != "table" else out).splitlines() if re.match(r"\d+ findings? ", line)]
    assert summary, (out[-500:], err[-500:])
    if code == EXIT_BAD_INPUT:
        assert problems and all(bad_origin in line for line in problems), err
        assert "input problem" in summary[-1]
    else:
        assert not problems, err
    return code, err


# -- one mutated record among good ones --------------------------------------------------------------------


def _record_cases(size: int) -> list[tuple[str, object, bool]]:
    """(label, bad item, as EventBridge events?): mutated records and envelopes of the samples, and items
    that are not records at all."""
    cases: list[tuple[str, object, bool]] = []
    for name in sample_names():
        sample = load_sample(name)
        for mutation in pick(record_mutations(sample), size, seed=f"cli/{name}"):
            cases.append((f"{name} {mutation.name}", mutation.apply(sample)["detail"], False))
        for mutation in pick(envelope_mutations(sample), max(size // 3, 1), seed=f"cli-envelope/{name}"):
            cases.append((f"{name} envelope {mutation.name}", mutation.apply(sample), True))
    return cases


NOT_RECORDS = {kind: value for kind, value in NOT_EVENTS.items() if not isinstance(value, str) or
               value not in ("LIST", "RECORDS", "RAW")}


def test_one_bad_record_loses_no_other_finding(tmp_path, baseline, sized):
    cases = pick(_record_cases(sized(1, 8)), sized(90, 800), seed="cli")
    cases += [(f"not a record: {kind}", value, index % 2 == 0) for index, (kind, value) in
              enumerate(sorted(NOT_RECORDS.items()))]
    for index, (label, bad, as_envelopes) in enumerate(cases):
        folder = tmp_path / f"case{index:04d}"
        write_good(folder)
        path = middle_file(folder, bad, as_envelopes=as_envelopes)
        origin = f"{path}[1]" if as_envelopes else f"{path}#Records[1]"
        try:
            check_case(folder, origin, baseline, FORMATS[index % len(FORMATS)])
        except AssertionError as failure:
            raise AssertionError(f"case {index} ({label}): {failure}") from None
        count(SUITE)


def test_bad_records_are_reported_with_their_place_and_exit_2(tmp_path, baseline):
    """Items that are certainly not valid events: each named with its place, exit 2. (A record no rule
    listens to is not validated at all, as documented: only what EventBridge would deliver is.)"""
    sample = load_sample(GOOD[0])
    bad_items = {
        "null": None, "number": 5, "string": "x", "list": [], "no-source": {"eventName": "ConsoleLogin"},
        "identity-type-is-a-list": {**sample["detail"], "userIdentity": {"type": ["IAMUser"]}},
        "event-id-is-an-object": {**sample["detail"], "eventID": {"id": 1}},
        "detail-not-a-record": {**sample, "detail": {"x": 1}},
        "time-not-a-time": {**sample["detail"], "eventTime": ["\u202eyesterday\ud800"]},
    }
    for index, (label, item) in enumerate(bad_items.items()):
        folder = tmp_path / label
        write_good(folder)
        path = middle_file(folder, item, as_envelopes=False)
        code, err = check_case(folder, f"{path}#Records[1]", baseline, FORMATS[index % len(FORMATS)])
        assert code == EXIT_BAD_INPUT, f"{label}: {err}"
        count(SUITE)


# -- whole files broken -----------------------------------------------------------------------------------


def _good_log() -> bytes:
    return json.dumps({"Records": [load_sample(name)["detail"] for name in GOOD[2:4]]}).encode()


def _lines(bad_line: bytes) -> bytes:
    events = [json.dumps(load_sample(name)).encode() for name in GOOD[2:4]]
    return events[0] + b"\n" + bad_line + b"\n" + events[1] + b"\n"


BROKEN_FILES = {  # name -> (file name, content, the origin a problem must name: "" the file, else a suffix)
    "truncated": ("t.json", lambda: _good_log()[:-40], ""),
    "invalid-utf8": ("u.json", lambda: _good_log()[:30] + b"\xff\xfe\xc0" + _good_log()[30:], ""),
    "nul-bytes": ("n.json", lambda: _good_log()[:50] + b"\x00" * 20 + _good_log()[50:], ""),
    "empty": ("e.json", lambda: b"", ""),
    "blank": ("b.json", lambda: b" \n\t\n", ""),
    "gzip-cut-short": ("g.json.gz", lambda: gzip.compress(_good_log())[:-30], ""),
    "gzip-of-garbage": ("h.json.gz", lambda: gzip.compress(b"\x00\xff" * 500), ""),
    "not-gzip": ("i.json.gz", lambda: b"\x1f\x8b\x08garbage", ""),
    "nested-100000-deep": ("d.json", lambda: b"[" * 100_000 + b"]" * 100_000, ""),
    "number": ("num.json", lambda: b"42", ""),
    "records-not-a-list": ("r.json", lambda: b'{"Records": "none"}', ""),
    "records-of-junk": ("j.json", lambda: b'{"Records": [5, null, "x", [], {}, {"eventSource": 1}]}',
                        "#Records["),
    "jsonl-with-a-broken-line": ("l.jsonl", lambda: _lines(b'{"detail": {"eventSource": "iam.amaz'), ":2"),
    "jsonl-with-a-number-line": ("m.jsonl", lambda: _lines(b"12"), ":2"),
    "jsonl-with-a-deep-line": ("k.jsonl", lambda: _lines(b"[" * 5000 + b"]" * 5000), ":2"),
}


@pytest.mark.parametrize("kind", sorted(BROKEN_FILES))
def test_a_broken_file_loses_no_finding_of_the_others(tmp_path, baseline, kind):
    file_name, content, suffix = BROKEN_FILES[kind]
    write_good(tmp_path)
    (tmp_path / "mixed_log.json").write_text(json.dumps({"Records": [load_sample(name)["detail"]
                                                                     for name in GOOD[2:4]]}))
    path = tmp_path / file_name
    path.write_bytes(content())
    for index, fmt in enumerate(FORMATS):
        code, err = check_case(tmp_path, f"{path}{suffix}", baseline, fmt)
        assert code == EXIT_BAD_INPUT, err
        count(SUITE)


def test_a_byte_order_mark_and_lone_surrogates_are_read(tmp_path, baseline):
    """A BOM is not a problem; a record whose strings hold lone surrogates (valid JSON escapes) is
    evaluated and shown without breaking a strict UTF-8 terminal (regression: the table crashed)."""
    write_good(tmp_path)
    record = load_sample(GOOD[2])["detail"]
    record["userIdentity"]["userName"] = "adm\ud800in\u202e"
    record["userIdentity"]["arn"] = "arn:aws:iam::123837392027:user/adm\udfffin"
    (tmp_path / "mixed_log.json").write_bytes(b"\xef\xbb\xbf" + json.dumps(
        {"Records": [record, load_sample(GOOD[3])["detail"]]}).encode())
    for fmt in FORMATS:
        code, _ = check_case(tmp_path, "-", baseline, fmt)
        assert code == EXIT_OK
        count(SUITE)


def test_missing_paths_and_dangling_links_are_named(tmp_path, baseline):
    write_good(tmp_path / "in")
    (tmp_path / "in" / "dangling.json").symlink_to(tmp_path / "nowhere.json")
    (tmp_path / "in" / "loop").symlink_to(tmp_path / "in", target_is_directory=True)
    (tmp_path / "in" / "mixed_log.json").write_text(json.dumps({"Records": [load_sample(name)["detail"]
                                                                            for name in GOOD[2:4]]}))
    missing = tmp_path / "missing \u202e\x1b[31m.json"
    code, out, err = run(tmp_path / "in", missing, "--format", "jsonl")
    count(SUITE)
    assert code == EXIT_BAD_INPUT
    assert baseline <= findings_of("jsonl", out)
    # named, but without the terminal escape and the right-to-left override its name carries
    assert f"{str(missing).replace(chr(0x202e), '').replace(chr(0x1b), ' ')}: no such file or directory" in err
    assert "\x1b" not in err and "\u202e" not in err


def test_the_same_output_with_one_and_several_workers(tmp_path, baseline):
    """The process pool (``--jobs 2``) sees the same bad records and reports them the same way."""
    for index, name in enumerate(GOOD[:3]):
        folder = tmp_path / f"part{index}"
        write_good(folder)
        bad = load_sample(name)["detail"]
        bad["eventTime"] = ["not a time \ud800"]
        middle_file(folder, bad, as_envelopes=False)
    one = run(tmp_path, "--format", "jsonl")
    out_bytes, err_bytes = io.BytesIO(), io.BytesIO()
    out = io.TextIOWrapper(out_bytes, encoding="utf-8", errors="strict", newline="")
    err = io.TextIOWrapper(err_bytes, encoding="utf-8", errors="strict", newline="")
    code = main(["evaluate", str(tmp_path), "--format", "jsonl", "--jobs", "2"], stdout=out, stderr=err)
    out.flush(), err.flush()
    count(SUITE)
    assert (code, out_bytes.getvalue().decode(), err_bytes.getvalue().decode()) == one
    assert one[0] == EXIT_BAD_INPUT and one[2].count("#Records[1]: invalid event") == 3


# -- hypothesis: arbitrary files next to the good ones ---------------------------------------------------


def test_arbitrary_files_next_to_good_ones(tmp_path_factory, baseline, sized):
    documents = st.one_of(
        st.binary(max_size=300),
        json_values.map(lambda value: json.dumps(value, allow_nan=True).encode()),
        st.lists(json_values, max_size=4).map(lambda items: json.dumps({"Records": items}, allow_nan=True).encode()),
        st.lists(json_values, min_size=2, max_size=4).map(
            lambda items: b"\n".join(json.dumps(item, allow_nan=True).encode() for item in items)),
    )

    @hypothesis_settings(sized(30, 200))
    @given(content=documents, suffix=st.sampled_from([".json", ".jsonl", ".json.gz"]))
    def check(content, suffix):
        folder = tmp_path_factory.mktemp("arbitrary")
        write_good(folder)
        (folder / "mixed_log.json").write_text(json.dumps({"Records": [load_sample(name)["detail"]
                                                                       for name in GOOD[2:4]]}))
        path = folder / f"hostile{suffix}"
        path.write_bytes(gzip.compress(content) if suffix.endswith(".gz") and content[:1] == b"{" else content)
        check_case(folder, str(path), baseline, "jsonl")
        count(SUITE)

    check()
