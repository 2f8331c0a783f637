"""``identity-auditor evaluate`` over large archives: the same output whatever ``--jobs`` is, time windows,
and bad files among many in parallel mode (offline: local files only)."""

from __future__ import annotations

import gzip
import io
import json
import shutil
import time
from pathlib import Path

import pytest
from archives import replicate_invictus
from identity_auditor.cli.main import main
from support import CORPUS, INVICTUS_FINDINGS, corpus_records

INVICTUS = CORPUS / "invictus"
FINDINGS_PER_COPY = INVICTUS_FINDINGS
# The copies share accounts, users and event times: their steps make one sequence each, not one per copy.
SEQUENCES = 3


def run(*argv: object) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main([str(arg) for arg in argv], stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def jsonl(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines()]


@pytest.fixture(scope="module")
def archive(tmp_path_factory) -> tuple[Path, list[Path], int]:
    """20 copies of the invictus archive with fresh event ids: 1,100 gzipped log files, 58,000 records."""
    root = tmp_path_factory.mktemp("archive")
    files, records = replicate_invictus(root, 20)
    return root, files, records


@pytest.fixture(scope="module")
def baseline() -> list[dict]:
    code, out, err = run("evaluate", INVICTUS, "--format", "jsonl", "--jobs", "1")
    assert code == 0, err
    return jsonl(out)


def test_jobs_1_and_jobs_4_give_identical_output_on_58k_records(archive):
    root, files, records = archive
    assert records == 58_000 and len(files) == 1_100
    started = time.perf_counter()
    one = run("evaluate", root, "--format", "jsonl", "--jobs", "1")
    four = run("evaluate", root, "--format", "jsonl", "--jobs", "4")
    default = run("evaluate", root, "--format", "jsonl")  # every core
    assert time.perf_counter() - started < 30
    assert one[0] == four[0] == default[0] == 0, one[2]
    assert one[1] == four[1] == default[1]  # same findings, same order, same ids, byte for byte
    assert one[2] == four[2] == default[2]
    findings = jsonl(one[1])
    assert len(findings) == 20 * (FINDINGS_PER_COPY - SEQUENCES) + SEQUENCES
    assert len({f["finding_id"] for f in findings}) == len(findings)
    assert one[2].strip() == (f"{len(findings)} findings (82 critical, 181 high, 140 medium) in 58000 records "
                              f"from 1100 inputs")
    # in input order: the files sorted, the records of each file in order
    place = {}
    for index, path in enumerate(files):
        records_ = json.loads(gzip.decompress(path.read_bytes()))["Records"]
        place.update({record["eventID"]: (index, position) for position, record in enumerate(records_)})
    positions = [place[f["event_id"]] for f in findings if not f["sequence_steps"]]
    assert positions == sorted(positions)
    assert all(f["sequence_steps"] for f in findings[-SEQUENCES:])  # the sequences, judged once all was read


def test_table_output_is_the_same_with_any_jobs(archive):
    root, _, _ = archive
    one = run("evaluate", root, "--jobs", "1", "--min-severity", "critical")
    two = run("evaluate", root, "--jobs", "2", "--min-severity", "critical")
    assert one == two
    assert one[1].splitlines()[-1] == "82 findings (82 critical) in 58000 records from 1100 inputs"


def test_a_corrupt_file_among_many_is_reported_and_the_rest_evaluated_in_parallel(archive, tmp_path):
    root, files, _ = archive
    tree = tmp_path / "tree"
    shutil.copytree(root, tree)
    relative = [path.relative_to(root) for path in files]
    truncated, not_json, empty = tree / relative[333], tree / relative[555], tree / relative[777]
    lost = {json.loads(gzip.decompress(path.read_bytes()))["Records"][0]["eventID"]
            for path in (truncated, not_json, empty)}
    data = truncated.read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    not_json.write_bytes(gzip.compress(b"this is not JSON"))
    empty.write_bytes(b"")

    code, out, err = run("evaluate", tree, "--format", "jsonl", "--jobs", "2", "--fail-on", "high")
    assert code == 2, err
    problems = [line for line in err.splitlines() if line.startswith("identity-auditor: ")]
    assert problems == [
        f"identity-auditor: {truncated}: cannot read: Compressed file ended before the end-of-stream marker "
        "was reached",
        f"identity-auditor: {not_json}: invalid JSON: Expecting value: line 1 column 1 (char 0)",
        f"identity-auditor: {empty}: empty input",
    ]
    assert err.splitlines()[-1].endswith("from 1100 inputs; 3 input problems (see above)")

    # every other file was evaluated: the same findings as a sequential run without the three files
    for path in (truncated, not_json, empty):
        path.unlink()
    clean = run("evaluate", tree, "--format", "jsonl", "--jobs", "1")
    assert out == clean[1]
    assert not lost & {f["event_id"] for f in jsonl(out)}


def test_jobs_option_is_validated(capsys):
    for value in ("-1", "many"):
        with pytest.raises(SystemExit) as exit_:
            main(["evaluate", str(INVICTUS), "--jobs", value], stdout=io.StringIO(), stderr=io.StringIO())
        assert exit_.value.code == 2
        assert "invalid job count" in capsys.readouterr().err


def test_jobs_0_means_every_core(baseline):
    code, out, err = run("evaluate", INVICTUS, "--format", "jsonl", "--jobs", "0")
    assert code == 0, err
    assert jsonl(out) == baseline


# -- --since / --until ---------------------------------------------------------------------------------


def test_since_until_evaluates_only_the_window(baseline):
    since, until = "2023-07-10T12:00:00Z", "2023-07-10T12:23:05Z"
    code, out, err = run("evaluate", INVICTUS, "--format", "jsonl", "--since", since, "--until", until)
    assert code == 0, err
    expected = [f for f in baseline if "2023-07-10T12:00:00" <= f["event_time"][:19] <= "2023-07-10T12:23:05"]
    assert 0 < len(expected) < len(baseline)
    assert jsonl(out) == expected  # --until is inclusive: 12:23:05 is in
    outside = sum(1 for r in corpus_records("invictus") if not since <= r["eventTime"] <= until)
    assert err.strip().endswith(f"in 2900 records from 55 inputs; {outside} records outside --since/--until skipped")


def test_until_a_date_includes_the_whole_day(baseline):
    code, out, err = run("evaluate", INVICTUS, "--format", "jsonl", "--since", "2023-07-10", "--until", "2023-07-10")
    assert code == 0, err
    assert jsonl(out) == baseline
    assert "outside" not in err


def test_offsets_are_converted_to_utc(baseline):
    code, out, _ = run("evaluate", INVICTUS, "--format", "jsonl", "--since", "2023-07-10T14:20:00+02:00")
    assert code == 0
    assert jsonl(out) == [f for f in baseline if f["event_time"] >= "2023-07-10T12:20:00"]


def test_since_after_every_record_finds_nothing(baseline):
    code, out, err = run("evaluate", INVICTUS, "--format", "jsonl", "--since", "2023-07-10T13:00:00")
    assert code == 0
    assert out == ""
    assert err.strip() == "0 findings in 2900 records from 55 inputs; 2900 records outside --since/--until skipped"


def test_cloudtrail_date_folders_outside_the_window_are_not_read(archive, tmp_path):
    root, files, _ = archive
    tree = tmp_path / "two-days"
    day = files[0].parent.relative_to(root)  # AWSLogs/<account>/CloudTrail/us-east-1/2023/07/10
    for path in [path for path in files if path.name.endswith("00000.json.gz")]:  # the first copy
        target = tree / path.relative_to(root)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, target)
    old_day = tree / day.parent.parent / "01" / "01"  # 2023/01/01: would be a problem if read
    old_day.mkdir(parents=True)
    (old_day / "broken.json.gz").write_bytes(b"\x1f\x8b not gzip")
    code, out, err = run("evaluate", tree, "--format", "jsonl", "--since", "2023-07-10")
    assert code == 0, err
    assert len(jsonl(out)) == FINDINGS_PER_COPY
    assert err.strip().endswith("in 2900 records from 55 inputs; 1 file outside --since/--until not read "
                                "(CloudTrail date path)")
    # named explicitly, a file is always read
    code, _, err = run("evaluate", old_day / "broken.json.gz", "--since", "2023-07-10")
    assert code == 2 and "cannot read" in err


@pytest.mark.parametrize("value", ["yesterday", "2023-07-32", "10/07/2023", "2023-07-10T25:00:00Z"])
@pytest.mark.parametrize("option", ["--since", "--until"])
def test_invalid_times_are_argparse_errors(option, value, capsys):
    out, err = io.StringIO(), io.StringIO()
    with pytest.raises(SystemExit) as exit_:
        main(["evaluate", str(INVICTUS), option, value], stdout=out, stderr=err)
    assert exit_.value.code == 2
    message = capsys.readouterr().err
    assert option in message and value in message and "ISO 8601" in message
    assert out.getvalue() == ""


def test_since_after_until_is_an_error():
    code, out, err = run("evaluate", INVICTUS, "--since", "2023-07-11", "--until", "2023-07-10")
    assert code == 2
    assert out == ""
    assert "--since must be before --until" in err


def test_a_failing_rule_is_named_with_the_record_and_exits_3(monkeypatch, baseline):
    import identity_auditor.engine.events as engine_module

    build = engine_module.build_finding

    def broken(meta, *args, **kwargs):
        if meta.id == "iam_user_created":
            raise RuntimeError("boom")
        return build(meta, *args, **kwargs)

    monkeypatch.setattr(engine_module, "build_finding", broken)
    code, out, err = run("evaluate", INVICTUS, "--format", "jsonl", "--jobs", "1")
    assert code == 3
    assert jsonl(out) == [f for f in baseline if f["rule_id"] != "iam_user_created"]
    failures = [line for line in err.splitlines() if " failed on " in line]
    assert len(failures) == 4
    for line in failures:
        assert line.startswith(f"identity-auditor: rule iam_user_created failed on {INVICTUS}/")
        assert "#Records[" in line and line.endswith(": RuntimeError: boom")
