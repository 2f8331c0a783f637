"""Functional tests of the ``identity-auditor`` command line (identity_auditor.cli.main).

Everything runs offline: the CLI only reads local files (the real Invictus CloudTrail archive in
tests/corpus/invictus and files written to ``tmp_path``) and never talks to AWS.
"""

from __future__ import annotations

import copy
import gzip
import io
import json
import subprocess
import sys
import types
from pathlib import Path

import pytest
from asff_validator import assert_valid_asff, assert_valid_batch
from identity_auditor import __version__
from identity_auditor.cli.main import main
from identity_auditor.engine.registry import REGISTRY
from support import CORPUS, INVICTUS_SUMMARY, ROOT, corpus_records

INVICTUS = CORPUS / "invictus"
CONSOLE_SCRIPT = ROOT / ".venv" / "bin" / "identity-auditor"

NO_MFA_LOGIN = "70e5932e-9022-4b38-837e-ca10dad94eb7"  # stratus-red-team-nmfalu-gfjyeaypjt, MFAUsed: No
MFA_LOGIN = "8feee4c2-5e27-4857-8475-bfa7e7b6d791"  # bert-jan, MFAUsed: Yes
KEY_FOR_BACKDOOR_USER = "64b7de64-bf53-47ae-b7e3-d30cb1b5136e"  # bert-jan -> stratus-red-team-backdoor-u-user
KEY_FOR_MALICIOUS_USER = "8c282c0b-00d1-4369-95b7-cb50b6eee620"  # bert-jan -> malicious-iam-user
NO_MFA_USER = "stratus-red-team-nmfalu-gfjyeaypjt"

EXPECTED = {  # event id -> (rule id, severity, actor name): everything the catalogue finds in the archive
    NO_MFA_LOGIN: ("signin_console_login_without_mfa", "HIGH", NO_MFA_USER),
    KEY_FOR_BACKDOOR_USER: ("iam_access_key_created", "HIGH", "bert-jan"),
    KEY_FOR_MALICIOUS_USER: ("iam_access_key_created", "HIGH", "bert-jan"),
    "66d008e1-12cf-4a45-99e7-0be67fc70d71": ("iam_user_created", "MEDIUM", "bert-jan"),
    "648d0a9c-6d07-4c99-bd4e-9a27b3ad45d2": ("iam_user_created", "MEDIUM", "bert-jan"),
    "85c89720-8103-4281-9e0e-8977b52bcdbe": ("iam_user_created", "MEDIUM", "bert-jan"),
    "564ee71e-5934-49b7-8a5f-d6f4d9248018": ("iam_user_created", "MEDIUM", "bert-jan"),
    "f0d7bb15-75c8-4770-a500-92d1f71b948c": ("iam_login_profile_changed", "HIGH", "bert-jan"),
    "1170c908-ce8d-4c6f-bc65-cf43aae5235b": ("iam_login_profile_changed", "HIGH", "bert-jan"),
    "076e96d5-2983-473f-920a-2fc2d7e02777": ("cloudtrail_logging_disabled", "CRITICAL", "bert-jan"),
    "fcec2e46-3cc3-4ac2-8144-3674f06990e4": ("cloudtrail_logging_disabled", "CRITICAL", "bert-jan"),
    "c0057a42-1625-4b1d-9db5-352f931f790a": ("cloudtrail_logging_disabled", "CRITICAL", "bert-jan"),
    "86eac0ac-8521-4126-aa32-a22f2b74d02e": ("ec2_imdsv1_allowed", "MEDIUM", "bert-jan"),
    "8c9d5d59-f65e-4d38-a71b-6d712487cd91": ("ec2_imdsv1_allowed", "MEDIUM", "bert-jan"),
    # the attack paths (spec §A, third wave)
    "f4923a37-92d5-4dfd-9786-6caef2b5f33c": ("iam_admin_policy_attached", "CRITICAL", "bert-jan"),  # malicious-iam-user
    "493e08b7-63e4-49a4-832a-1a7598ce78e5": ("iam_admin_policy_attached", "HIGH", "bert-jan"),  # the backdoor role
    "d96d75c7-e715-44ff-9735-9dc51afbd774": ("iam_role_trust_policy_unsafe", "HIGH", "bert-jan"),  # trusts 193672423079
    "be7f89b5-d456-4423-b3e6-0fb0b19bad7c": ("organizations_guardrail_changed", "HIGH",
                                             "stratus-red-team-leave-org-role/aws-go-sdk-1688990515440126480"),
    "2950830a-24ae-4565-bfab-74d3be4ad0d0": ("iam_roles_anywhere_trust_changed", "HIGH", "bert-jan"),
    "782bc4f5-53eb-4072-ac09-070425df6eef": ("iam_roles_anywhere_trust_changed", "MEDIUM", "bert-jan"),
}
# The sequences (spec §E) the archive holds: rule id -> (first step's event id, severity, actor, steps)
SEQUENCES = {
    "iam_admin_user_created": ("85c89720-8103-4281-9e0e-8977b52bcdbe", "CRITICAL", "bert-jan",
                               ("85c89720-8103-4281-9e0e-8977b52bcdbe", "f4923a37-92d5-4dfd-9786-6caef2b5f33c",
                                KEY_FOR_MALICIOUS_USER)),
    "iam_backdoor_admin_role": ("493e08b7-63e4-49a4-832a-1a7598ce78e5", "CRITICAL", "bert-jan",
                                ("493e08b7-63e4-49a4-832a-1a7598ce78e5", "d96d75c7-e715-44ff-9735-9dc51afbd774")),
    "password_reset_takeover": ("1170c908-ce8d-4c6f-bc65-cf43aae5235b", "HIGH", "bert-jan",
                                ("1170c908-ce8d-4c6f-bc65-cf43aae5235b", NO_MFA_LOGIN)),
}
TOTAL = len(EXPECTED) + len(SEQUENCES)
SAMPLE_EVENTS = [NO_MFA_LOGIN, KEY_FOR_BACKDOOR_USER, KEY_FOR_MALICIOUS_USER]  # used across input shapes
SUMMARY = INVICTUS_SUMMARY
HIGH_AND_ABOVE = sum(1 for _, severity, *_ in [*EXPECTED.values(), *SEQUENCES.values()]
                     if severity in ("HIGH", "CRITICAL"))
JSONL_FIELDS = {
    "rule_id", "severity", "event_id", "event_name", "account_id", "region", "resource_id", "actor", "title",
    "finding_id",
}


# -- helpers -----------------------------------------------------------------------------------------


def run(*argv: object, stdin: bytes | None = None, monkeypatch: pytest.MonkeyPatch | None = None):
    """Run main() in-process; returns (exit code, stdout text, stderr text)."""
    if stdin is not None:
        assert monkeypatch is not None
        monkeypatch.setattr(sys, "stdin", types.SimpleNamespace(buffer=io.BytesIO(stdin)))
    out, err = io.StringIO(), io.StringIO()
    code = main([str(arg) for arg in argv], stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def jsonl(text: str) -> list[dict]:
    """Every stdout line must be one JSON object (stdout stays pure JSONL)."""
    lines = text.splitlines()
    documents = [json.loads(line) for line in lines]
    assert all(isinstance(document, dict) for document in documents), text
    return documents


def write_json(path: Path, document: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document))
    return path


def write_gzip(path: Path, document: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(json.dumps(document).encode()))
    return path


def write_jsonl(path: Path, documents: list[object]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(document) + "\n" for document in documents))
    return path


def envelope(record: dict, event_bridge_id: str = "0b1d7c7e-1111-2222-3333-444455556666") -> dict:
    """The record as EventBridge delivers it (its own envelope id, not the CLI's derived one)."""
    console = record.get("eventType") == "AwsConsoleSignIn"
    return {
        "version": "0",
        "id": event_bridge_id,
        "detail-type": "AWS Console Sign In via CloudTrail" if console else "AWS API Call via CloudTrail",
        "source": "aws." + record["eventSource"].split(".", 1)[0],
        "account": record["recipientAccountId"],
        "time": record["eventTime"],
        "region": record["awsRegion"],
        "resources": [],
        "detail": record,
    }


# -- fixtures ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def records() -> dict[str, dict]:
    """Corpus records by eventID."""
    by_id = {record["eventID"]: record for record in corpus_records("invictus")}
    for event_id in (NO_MFA_LOGIN, MFA_LOGIN, KEY_FOR_BACKDOOR_USER, KEY_FOR_MALICIOUS_USER):
        assert event_id in by_id, f"corpus record {event_id} missing"
    return by_id


@pytest.fixture(scope="module")
def others(records) -> list[dict]:
    """A few corpus records no rule listens to (noise around the interesting ones)."""
    noise = [
        r for r in records.values()
        if not REGISTRY.wants(r["eventSource"], r["eventName"], r["userIdentity"].get("type"))
    ]
    return noise[:5]


@pytest.fixture(scope="module")
def corpus_jsonl() -> tuple[int, list[dict], str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(["evaluate", str(INVICTUS), "--format", "jsonl"], stdout=out, stderr=err)
    return code, jsonl(out.getvalue()), err.getvalue()


@pytest.fixture(scope="module")
def baseline(corpus_jsonl) -> dict[str, dict]:
    """The corpus run's findings by event id: what every other input shape must reproduce exactly."""
    _, findings, _ = corpus_jsonl
    return {finding["event_id"]: finding for finding in findings}


def assert_same_findings(findings: list[dict], baseline: dict[str, dict], event_ids: list[str]) -> None:
    """Exactly one finding per event id, identical (finding id included) to the corpus run's finding."""
    assert sorted(f["event_id"] for f in findings) == sorted(event_ids)
    for finding in findings:
        assert finding == baseline[finding["event_id"]]


# -- the real archive --------------------------------------------------------------------------------


def test_corpus_table_shows_exactly_the_expected_findings():
    code, out, err = run("evaluate", INVICTUS, "--format", "table")
    assert code == 0, err
    assert err == ""
    lines = out.splitlines()
    severities = ("INFORMATIONAL", "LOW", "MEDIUM", "HIGH", "CRITICAL")
    header, rows = lines[0], [line for line in lines if line.startswith(severities)]
    assert header.split() == ["SEVERITY", "RULE", "TIME", "ACCOUNT", "ACTOR", "RESOURCE"]
    assert len(rows) == TOTAL
    assert sorted(row.split()[1] for row in rows) == sorted([rule for rule, _, _ in EXPECTED.values()] + list(SEQUENCES))
    assert f"IAM user {NO_MFA_USER} signed in to the console" in out
    assert "bert-jan created an access key for another IAM user, stratus-red-team-backdoor-u-user" in out
    assert "bert-jan created an access key for another IAM user, malicious-iam-user" in out
    # bert-jan's login used MFA: no console-login finding names bert-jan.
    assert not [row for row in rows if "signin_console_login_without_mfa" in row and "bert-jan" in row]
    # The summary (last line, on stdout for the table format) counts every record of the archive.
    assert lines[-1] == SUMMARY


def test_corpus_jsonl_findings_by_rule_actor_and_event(corpus_jsonl, records):
    code, findings, err = corpus_jsonl
    assert code == 0, err
    seen = {f["event_id"]: (f["rule_id"], f["severity"], f["actor_detail"]["name"]) for f in findings
            if not f["sequence_steps"]}
    assert seen == EXPECTED
    sequences = {f["rule_id"]: (f["event_id"], f["severity"], f["actor_detail"]["name"], tuple(f["sequence_steps"]))
                 for f in findings if f["sequence_steps"]}
    assert sequences == SEQUENCES  # linking every step, named after who started them
    assert len(findings) == TOTAL
    assert MFA_LOGIN not in {f["event_id"] for f in findings}
    for finding in findings:
        assert JSONL_FIELDS <= finding.keys(), JSONL_FIELDS - finding.keys()
        record = records[finding["event_id"]]
        assert finding["event_name"] == record["eventName"]
        assert finding["account_id"] == "123837392027"
        assert finding["region"] == "us-east-1"
        assert finding["actor"] == record["userIdentity"]["arn"]
        assert finding["finding_id"].startswith(f"{finding['rule_id']}/123837392027/us-east-1/")
        assert finding["finding_id"].endswith("/" + finding["event_id"])
        assert finding["title"]
    by_event = {f["event_id"]: f for f in findings}
    assert by_event[NO_MFA_LOGIN]["resource_id"] == f"arn:aws:iam::123837392027:user/{NO_MFA_USER}"
    assert by_event[KEY_FOR_BACKDOOR_USER]["resource_id"] == "AKIATFQR7NSC3ZO6PKAZ"
    assert by_event[KEY_FOR_MALICIOUS_USER]["resource_id"] == "AKIATFQR7NSCQLA2F4OD"
    assert len({f["finding_id"] for f in findings}) == TOTAL


def test_corpus_jsonl_summary_goes_to_stderr(corpus_jsonl):
    _, _, err = corpus_jsonl  # stdout already proved pure JSONL by the fixture
    assert err.strip() == SUMMARY


def test_corpus_jsonl_is_deterministic(corpus_jsonl):
    _, first, _ = corpus_jsonl
    code, out, _ = run("evaluate", INVICTUS, "--format", "jsonl")
    assert code == 0
    assert jsonl(out) == first


def test_corpus_asff_documents_are_valid(corpus_jsonl):
    code, out, err = run("evaluate", INVICTUS, "--format", "asff")
    assert code == 0, err
    documents = json.loads(out)
    assert isinstance(documents, list) and len(documents) == TOTAL
    for document in documents:
        assert_valid_asff(document)
    assert_valid_batch(documents)
    _, findings, _ = corpus_jsonl
    assert sorted(d["Id"] for d in documents) == sorted(f["finding_id"] for f in findings)
    assert {d["Severity"]["Label"] for d in documents} == {"CRITICAL", "HIGH", "MEDIUM"}
    assert {d["AwsAccountId"] for d in documents} == {"123837392027"}
    assert "2900 records" in err  # summary on stderr: stdout is one JSON document


def test_asff_product_arn_option(tmp_path, records):
    path = write_json(tmp_path / "login.json", records[NO_MFA_LOGIN])
    arn = "arn:aws:securityhub:us-east-1:123456789012:product/123456789012/default"
    code, out, err = run("evaluate", path, "--format", "asff", "--product-arn", arn)
    assert code == 0, err
    (document,) = json.loads(out)
    assert document["ProductArn"] == arn
    assert_valid_asff(document)


def test_asff_with_no_findings_is_an_empty_array(tmp_path, records):
    path = write_json(tmp_path / "login.json", records[MFA_LOGIN])
    code, out, _ = run("evaluate", path, "--format", "asff")
    assert code == 0
    assert json.loads(out) == []


# -- severities --------------------------------------------------------------------------------------


def test_min_severity_critical_hides_high_findings():
    code, out, err = run("evaluate", INVICTUS, "--format", "table", "--min-severity", "critical")
    assert code == 0, err
    assert "signin_console_login_without_mfa" not in out
    assert "iam_access_key_created" not in out
    assert out.count("cloudtrail_logging_disabled") == 3
    assert out.count("iam_admin_policy_attached") == 1  # the admin grant to malicious-iam-user
    assert out.count("iam_admin_user_created") == 1 and out.count("iam_backdoor_admin_role") == 1  # sequences
    assert out.splitlines()[-1] == "6 findings (6 critical) in 2900 records from 55 inputs"


def test_min_severity_critical_jsonl_prints_only_critical():
    code, out, err = run("evaluate", INVICTUS, "--format", "jsonl", "--min-severity", "CRITICAL")
    assert code == 0
    assert {f["severity"] for f in jsonl(out)} == {"CRITICAL"}
    assert "6 findings (6 critical) in 2900 records" in err


def test_min_severity_high_keeps_high_findings():
    code, out, _ = run("evaluate", INVICTUS, "--format", "jsonl", "--min-severity", "high")
    assert code == 0
    assert len(jsonl(out)) == HIGH_AND_ABOVE


@pytest.mark.parametrize(("fail_on", "expected"), [("high", 1), ("medium", 1), ("HIGH", 1), ("critical", 1)])
def test_fail_on(fail_on, expected):
    code, out, _ = run("evaluate", INVICTUS, "--format", "jsonl", "--fail-on", fail_on)
    assert code == expected
    assert len(jsonl(out)) == TOTAL  # --fail-on never hides findings


@pytest.mark.parametrize("option", ["--min-severity", "--fail-on"])
def test_invalid_severity_is_an_argparse_error(option, capsys):
    out, err = io.StringIO(), io.StringIO()
    try:
        code = main(["evaluate", str(INVICTUS), option, "severe"], stdout=out, stderr=err)
    except SystemExit as exit_:
        code = exit_.code
    captured = capsys.readouterr()
    message = err.getvalue() + captured.err
    assert code == 2
    assert "severe" in message
    assert "informational, low, medium, high, critical" in message
    assert option in message
    assert out.getvalue() == "" and captured.out == ""  # nothing was evaluated


# -- input shapes ------------------------------------------------------------------------------------


def test_single_raw_record_file(tmp_path, records, baseline):
    path = write_json(tmp_path / "record.json", records[NO_MFA_LOGIN])
    code, out, err = run("evaluate", path, "--format", "jsonl")
    assert code == 0, err
    assert_same_findings(jsonl(out), baseline, [NO_MFA_LOGIN])
    assert "1 finding (1 high) in 1 record from 1 input" in err


def test_eventbridge_envelope_file(tmp_path, records, baseline):
    path = write_json(tmp_path / "envelope.json", envelope(records[NO_MFA_LOGIN]))
    code, out, err = run("evaluate", path, "--format", "jsonl")
    assert code == 0, err
    assert_same_findings(jsonl(out), baseline, [NO_MFA_LOGIN])


def test_envelope_id_does_not_change_the_finding_id(tmp_path, records, baseline):
    record = records[KEY_FOR_BACKDOOR_USER]
    a = write_json(tmp_path / "a.json", envelope(record, "11111111-1111-1111-1111-111111111111"))
    b = write_json(tmp_path / "b.json", envelope(record, "22222222-2222-2222-2222-222222222222"))
    code, out, err = run("evaluate", a, b, "--format", "jsonl")
    assert code == 0, err
    first, second = jsonl(out)
    assert first == second == baseline[KEY_FOR_BACKDOOR_USER]


def test_cloudtrail_log_file(tmp_path, records, others, baseline):
    log = {"Records": [*others, records[NO_MFA_LOGIN], records[MFA_LOGIN]]}
    path = write_json(tmp_path / "log.json", log)
    code, out, err = run("evaluate", path, "--format", "jsonl")
    assert code == 0, err
    assert_same_findings(jsonl(out), baseline, [NO_MFA_LOGIN])
    assert f"in {len(others) + 2} records from 1 input" in err


def test_gzipped_cloudtrail_log_file(tmp_path, records, others, baseline):
    log = {"Records": [*others, records[NO_MFA_LOGIN], records[MFA_LOGIN]]}
    path = write_gzip(tmp_path / "log.json.gz", log)
    code, out, err = run("evaluate", path, "--format", "jsonl")
    assert code == 0, err
    assert_same_findings(jsonl(out), baseline, [NO_MFA_LOGIN])
    assert f"in {len(others) + 2} records from 1 input" in err


def test_json_array(tmp_path, records, others, baseline):
    # An array may mix raw records and envelopes.
    document = [records[NO_MFA_LOGIN], *others, envelope(records[KEY_FOR_MALICIOUS_USER])]
    path = write_json(tmp_path / "array.json", document)
    code, out, err = run("evaluate", path, "--format", "jsonl")
    assert code == 0, err
    assert_same_findings(jsonl(out), baseline, [NO_MFA_LOGIN, KEY_FOR_MALICIOUS_USER])


def test_json_lines(tmp_path, records, others, baseline):
    lines = [records[NO_MFA_LOGIN], records[MFA_LOGIN], *others, records[KEY_FOR_BACKDOOR_USER],
             envelope(records[KEY_FOR_MALICIOUS_USER])]
    path = write_jsonl(tmp_path / "events.jsonl", lines)
    code, out, err = run("evaluate", path, "--format", "jsonl")
    assert code == 0, err
    assert_same_findings(jsonl(out), baseline, SAMPLE_EVENTS)
    assert f"3 findings (3 high) in {len(lines)} records from 1 input" in err


def test_directory_tree_mixing_shapes(tmp_path, records, others, baseline):
    root = tmp_path / "trails"
    write_json(root / "raw.json", records[MFA_LOGIN])
    write_json(root / "2023" / "07" / "envelope.json", envelope(records[NO_MFA_LOGIN]))
    write_gzip(root / "2023" / "07" / "10" / "log.json.gz",
               {"Records": [*others, records[KEY_FOR_BACKDOOR_USER]]})
    write_jsonl(root / "2023" / "08" / "stream.jsonl", [others[0], envelope(records[KEY_FOR_MALICIOUS_USER])])
    write_jsonl(root / "deep" / "er" / "stream.ndjson", [others[1], others[2]])
    write_json(root / "deep" / "array.json", [others[3]])
    (root / "deep" / "README.txt").write_text("not JSON, not read")
    (root / "2023" / "notes.md").write_text("# ignored")
    code, out, err = run("evaluate", root, "--format", "jsonl")
    assert code == 0, err
    assert_same_findings(jsonl(out), baseline, SAMPLE_EVENTS)
    records_read = 1 + 1 + len(others) + 1 + 2 + 2 + 1
    assert f"3 findings (3 high) in {records_read} records from 6 inputs" in err


def test_stdin(monkeypatch, records, others, baseline):
    data = "\n".join(json.dumps(r) for r in [*others, records[NO_MFA_LOGIN], records[KEY_FOR_BACKDOOR_USER]])
    code, out, err = run("evaluate", "-", "--format", "jsonl", stdin=data.encode(), monkeypatch=monkeypatch)
    assert code == 0, err
    assert_same_findings(jsonl(out), baseline, [NO_MFA_LOGIN, KEY_FOR_BACKDOOR_USER])


def test_stdin_gzipped_log_file(monkeypatch, records, baseline):
    data = gzip.compress(json.dumps({"Records": [records[KEY_FOR_MALICIOUS_USER]]}).encode())
    code, out, err = run("evaluate", "-", "--format", "jsonl", stdin=data, monkeypatch=monkeypatch)
    assert code == 0, err
    assert_same_findings(jsonl(out), baseline, [KEY_FOR_MALICIOUS_USER])


def test_stdin_together_with_files(tmp_path, monkeypatch, records, baseline):
    path = write_json(tmp_path / "record.json", records[NO_MFA_LOGIN])
    data = json.dumps(envelope(records[KEY_FOR_BACKDOOR_USER])).encode()
    code, out, err = run("evaluate", path, "-", "--format", "jsonl", stdin=data, monkeypatch=monkeypatch)
    assert code == 0, err
    assert_same_findings(jsonl(out), baseline, [NO_MFA_LOGIN, KEY_FOR_BACKDOOR_USER])
    assert "from 2 inputs" in err


def test_every_shape_in_one_run_gives_identical_finding_ids(tmp_path, monkeypatch, records, baseline):
    record = records[NO_MFA_LOGIN]
    paths = [
        write_json(tmp_path / "raw.json", record),
        write_json(tmp_path / "envelope.json", envelope(record)),
        write_json(tmp_path / "log.json", {"Records": [record]}),
        write_gzip(tmp_path / "log.json.gz", {"Records": [record]}),
        write_json(tmp_path / "array.json", [record]),
        write_jsonl(tmp_path / "lines.jsonl", [records[MFA_LOGIN], record]),
        "-",
    ]
    code, out, err = run("evaluate", *paths, "--format", "jsonl", stdin=json.dumps(record).encode(),
                         monkeypatch=monkeypatch)
    assert code == 0, err
    findings = jsonl(out)
    assert len(findings) == len(paths)
    assert {f["finding_id"] for f in findings} == {baseline[NO_MFA_LOGIN]["finding_id"]}
    assert all(f == baseline[NO_MFA_LOGIN] for f in findings)


def test_record_without_event_id_gets_a_stable_finding_id(tmp_path, records):
    record = copy.deepcopy(records[NO_MFA_LOGIN])
    del record["eventID"]
    a = write_json(tmp_path / "a.json", record)
    b = write_gzip(tmp_path / "b.json.gz", {"Records": [record]})
    code, out, err = run("evaluate", a, b, "--format", "jsonl")
    assert code == 0, err
    first, second = jsonl(out)
    assert first["event_id"] is None
    assert first["finding_id"] == second["finding_id"]
    assert first["finding_id"].startswith("signin_console_login_without_mfa/123837392027/us-east-1/")


# -- bad input ---------------------------------------------------------------------------------------


def test_bad_inputs_are_named_and_valid_inputs_still_evaluated(tmp_path, records, baseline):
    good_login = json.dumps(records[NO_MFA_LOGIN])

    truncated = tmp_path / "truncated.json"
    truncated.write_text(good_login[: len(good_login) // 2])

    broken_lines = tmp_path / "broken.jsonl"
    broken_lines.write_text(good_login + "\n" + '{"eventSource": "iam.amazonaws.com", "eventName": \n'
                            + json.dumps(records[MFA_LOGIN]) + "\n")

    no_event_name = {k: v for k, v in records[KEY_FOR_MALICIOUS_USER].items() if k != "eventName"}
    bad_records = write_json(tmp_path / "bad_records.json",
                             {"Records": [records[KEY_FOR_BACKDOOR_USER], 42, no_event_name]})

    bad_time = envelope(copy.deepcopy(records[NO_MFA_LOGIN]))
    bad_time["detail"]["eventTime"] = ["yesterday"]  # not even text: refused (text that is no time is evaluated)
    bad_time_path = write_json(tmp_path / "bad_time.json", bad_time)

    missing = tmp_path / "does-not-exist.json"
    empty = tmp_path / "empty.json"
    empty.write_text("")
    corrupt_gz = tmp_path / "corrupt.json.gz"
    corrupt_gz.write_bytes(gzip.compress(good_login.encode())[:40])
    no_json_dir = tmp_path / "nothing-here"
    no_json_dir.mkdir()
    (no_json_dir / "notes.txt").write_text("hello")

    valid = write_json(tmp_path / "valid.json", records[KEY_FOR_MALICIOUS_USER])

    code, out, err = run("evaluate", truncated, broken_lines, bad_records, bad_time_path, missing, empty,
                         corrupt_gz, no_json_dir, valid, "--format", "jsonl", "--fail-on", "high")
    assert code == 2, err
    # The valid inputs (including the good lines and records of the broken files) were evaluated.
    assert_same_findings(jsonl(out), baseline, SAMPLE_EVENTS)

    problems = [line for line in err.splitlines() if line.startswith("identity-auditor: ")]
    assert any(line.startswith(f"identity-auditor: {truncated}: invalid JSON") for line in problems), err
    assert any(line.startswith(f"identity-auditor: {broken_lines}:2: invalid JSON") for line in problems), err
    assert not any(f"{broken_lines}:1" in line or f"{broken_lines}:3" in line for line in problems), err
    assert any(line.startswith(f"identity-auditor: {bad_records}#Records[1]: expected a JSON object") for line
               in problems), err
    assert any(line.startswith(f"identity-auditor: {bad_records}#Records[2]: ") for line in problems), err
    assert not any(f"{bad_records}#Records[0]" in line for line in problems), err
    assert any(line.startswith(f"identity-auditor: {bad_time_path}: invalid event") and "eventTime" in line
               for line in problems), err
    assert any(line.startswith(f"identity-auditor: {missing}: no such file") for line in problems), err
    assert any(line.startswith(f"identity-auditor: {empty}: empty input") for line in problems), err
    assert any(line.startswith(f"identity-auditor: {corrupt_gz}: cannot read") for line in problems), err
    assert any(line.startswith(f"identity-auditor: {no_json_dir}: directory holds no")
               for line in problems), err
    assert not any(str(valid) in line for line in problems), err
    assert len(problems) == 9, err
    assert "9 input problems" in err.splitlines()[-1]


@pytest.fixture
def good_file(tmp_path, records) -> Path:
    return write_json(tmp_path / "good.json", records[NO_MFA_LOGIN])


def _bad_truncated(tmp_path, records):
    path = tmp_path / "truncated.json"
    path.write_text(json.dumps({"Records": [records[KEY_FOR_BACKDOOR_USER]]})[:-30])
    return path, str(path), "invalid JSON"


def _bad_jsonl_line(tmp_path, records):
    path = tmp_path / "stream.jsonl"
    lines = [json.dumps(records[MFA_LOGIN]), json.dumps(records[KEY_FOR_BACKDOOR_USER]), "{not json",
             json.dumps(records[KEY_FOR_MALICIOUS_USER])]
    path.write_text("\n".join(lines) + "\n")
    return path, f"{path}:3", "invalid JSON"


def _bad_record_not_object(tmp_path, records):
    path = write_json(tmp_path / "log.json", {"Records": [records[MFA_LOGIN], "oops"]})
    return path, f"{path}#Records[1]", "expected a JSON object, found str"


def _bad_record_without_event_name(tmp_path, records):
    record = {k: v for k, v in records[MFA_LOGIN].items() if k != "eventName"}
    path = write_json(tmp_path / "log.json", {"Records": [records[MFA_LOGIN], records[MFA_LOGIN], record]})
    return path, f"{path}#Records[2]", "neither an EventBridge event nor a CloudTrail record"


def _bad_event_time(tmp_path, records):
    event = envelope(copy.deepcopy(records[MFA_LOGIN]))
    event["detail"]["eventTime"] = ["yesterday"]  # not text: refused (text that is no time is evaluated, see below)
    path = write_json(tmp_path / "envelope.json", event)
    return path, str(path), "detail.eventTime"


def _bad_missing(tmp_path, records):
    path = tmp_path / "missing" / "nothing.json"
    return path, str(path), "no such file or directory"


def _bad_empty(tmp_path, records):
    path = tmp_path / "empty.json"
    path.write_text("  \n")
    return path, str(path), "empty input"


def _bad_corrupt_gzip(tmp_path, records):
    path = tmp_path / "log.json.gz"
    data = gzip.compress(json.dumps({"Records": [records[MFA_LOGIN]]}).encode())
    path.write_bytes(data[: len(data) // 2])
    return path, str(path), "cannot read"


def _bad_empty_directory(tmp_path, records):
    path = tmp_path / "empty-tree"
    (path / "sub").mkdir(parents=True)
    (path / "sub" / "readme.txt").write_text("no events here")
    return path, str(path), "directory holds no .json, .jsonl or .gz files"


@pytest.mark.parametrize(
    "make_bad",
    [_bad_truncated, _bad_jsonl_line, _bad_record_not_object, _bad_record_without_event_name, _bad_event_time,
     _bad_missing, _bad_empty, _bad_corrupt_gzip, _bad_empty_directory],
    ids=lambda f: f.__name__.removeprefix("_bad_"),
)
@pytest.mark.parametrize("fmt", ["table", "jsonl"])
def test_each_bad_input_exits_2_after_evaluating_the_rest(
    make_bad, fmt, tmp_path, records, good_file, baseline
):
    bad, origin, message = make_bad(tmp_path, records)
    code, out, err = run("evaluate", bad, good_file, "--format", fmt)
    assert code == 2, (out, err)
    problem = f"identity-auditor: {origin}: "
    lines = [line for line in err.splitlines() if line.startswith(problem)]
    assert len(lines) == 1, err
    assert message in lines[0]
    if fmt == "jsonl":
        findings = jsonl(out)
        expected = [NO_MFA_LOGIN]
        if make_bad is _bad_jsonl_line:
            expected += [KEY_FOR_BACKDOOR_USER, KEY_FOR_MALICIOUS_USER]  # the good lines are still evaluated
        assert_same_findings(findings, baseline, expected)
    else:
        assert f"IAM user {NO_MFA_USER} signed in to the console" in out
        assert "1 input problem (see above)" in out.splitlines()[-1]


def test_bad_input_takes_precedence_over_fail_on(tmp_path, good_file):
    missing = tmp_path / "missing.json"
    code, out, _ = run("evaluate", good_file, missing, "--format", "jsonl", "--fail-on", "low")
    assert code == 2
    assert len(jsonl(out)) == 1


def test_unwatched_event_is_counted_but_not_validated(tmp_path, others):
    # EventBridge would never deliver events no rule listens to: they are read, not judged.
    record = copy.deepcopy(others[0])
    record["eventTime"] = "yesterday"
    path = write_json(tmp_path / "noise.json", {"Records": [record]})
    code, out, err = run("evaluate", path, "--format", "jsonl")
    assert code == 0, err
    assert out == ""
    assert "0 findings in 1 record from 1 input" in err


def test_corrupt_gzip_deflate_stream_is_reported_not_raised(tmp_path, good_file, records, baseline):
    """A .gz whose header is fine but whose deflate data is garbage (zlib.error, not BadGzipFile)."""
    data = gzip.compress(json.dumps({"Records": [records[MFA_LOGIN]]}).encode())
    bad = tmp_path / "bad-block.json.gz"
    bad.write_bytes(data[:10] + b"\xff" + data[11:])  # first deflate block: reserved block type 3
    code, out, err = run("evaluate", bad, good_file, "--format", "jsonl")
    assert code == 2, err
    assert any(line.startswith(f"identity-auditor: {bad}: cannot read") for line in err.splitlines()), err
    assert_same_findings(jsonl(out), baseline, [NO_MFA_LOGIN])


def test_byte_order_mark_is_accepted(tmp_path, records, baseline):
    path = tmp_path / "bom.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(records[NO_MFA_LOGIN]).encode())
    code, out, err = run("evaluate", path, "--format", "jsonl")
    assert code == 0, err
    assert_same_findings(jsonl(out), baseline, [NO_MFA_LOGIN])


def test_truncated_pretty_printed_file_is_one_problem_not_many(tmp_path, records, good_file):
    text = json.dumps({"Records": [records[NO_MFA_LOGIN]]}, indent=2)
    path = tmp_path / "cut.json"
    path.write_text(text[: len(text) // 2])
    code, _, err = run("evaluate", path, good_file, "--format", "jsonl")
    problems = [line for line in err.splitlines() if "cut.json" in line]
    assert code == 2
    assert len(problems) == 1 and "invalid JSON" in problems[0], err


def test_deeply_nested_json_is_reported_not_raised(tmp_path, good_file):
    path = tmp_path / "deep.json"
    path.write_text("[" * 100_000)
    code, _, err = run("evaluate", path, good_file, "--format", "jsonl")
    assert code == 2
    assert f"{path}: invalid JSON" in err


def test_envelope_without_a_cloudtrail_detail_is_a_problem(tmp_path, good_file, records):
    path = write_json(tmp_path / "odd.json", [{**envelope(records[NO_MFA_LOGIN]), "detail": "ConsoleLogin"},
                                             {**envelope(records[NO_MFA_LOGIN]), "detail": {"eventName": "x"}}])
    code, _, err = run("evaluate", path, good_file, "--format", "jsonl")
    assert code == 2
    assert f"{path}[0]: EventBridge event whose detail is not a CloudTrail record" in err
    assert f"{path}[1]: EventBridge event whose detail is not a CloudTrail record" in err


def test_events_that_are_not_cloudtrail_records_are_skipped_not_errors(tmp_path, good_file):
    config = json.loads(next((CORPUS / "config-events" / "powertools").glob("*.json")).read_text())
    scheduled = json.loads((CORPUS / "aws-docs" / "eventbridge" / "awsdocs-cwe__Scheduled_Event.json").read_text())
    insights = json.loads((CORPUS / "aws-docs" / "cloudtrail" / "cloudtrail-log-file-examples__08.json").read_text())
    path = write_json(tmp_path / "mixed.json", [config, scheduled, *insights["Records"]])
    code, out, err = run("evaluate", path, good_file, "--format", "jsonl")
    assert code == 0, err
    assert len(jsonl(out)) == 1
    assert f"{len(insights['Records']) + 2} events skipped (not CloudTrail records)" in err


def test_directory_walk_leaves_out_hidden_and_underscore_files(tmp_path, records, baseline):
    write_json(tmp_path / "_index.json", [{"file": "a.json", "heading": "metadata, not an event"}])
    write_json(tmp_path / ".cache" / "x.json", {"not": "an event"})
    write_json(tmp_path / "login.json", records[NO_MFA_LOGIN])
    code, out, err = run("evaluate", tmp_path, "--format", "jsonl")
    assert code == 0, err
    assert_same_findings(jsonl(out), baseline, [NO_MFA_LOGIN])
    named, _, named_err = run("evaluate", tmp_path / "_index.json")
    assert named == 2 and "_index.json[0]: neither an EventBridge event nor a CloudTrail record" in named_err


def test_broken_pipe_ends_quietly(tmp_path, records):
    many = [{**records[NO_MFA_LOGIN], "eventID": f"00000000-0000-4000-8000-{n:012d}"} for n in range(3000)]
    path = write_json(tmp_path / "many.json", {"Records": many})  # megabytes of output: more than a pipe holds
    listing = subprocess.run(f"{CONSOLE_SCRIPT} evaluate {path} --format jsonl | head -n 1", shell=True,
                             capture_output=True, text=True)
    assert json.loads(listing.stdout)["rule_id"] == "signin_console_login_without_mfa"
    assert "Traceback" not in listing.stderr, listing.stderr


# -- catalogue and patterns --------------------------------------------------------------------------


def test_rules_json():
    code, out, _ = run("rules", "--format", "json")
    assert code == 0
    rules = json.loads(out)
    severities = {rule["id"]: rule["severity"] for rule in rules}
    assert severities["signin_console_login_without_mfa"] == "HIGH"
    assert severities["iam_access_key_created"] == "MEDIUM"
    assert severities["sso_reserved_role_modified"] == "CRITICAL"
    assert [rule["id"] for rule in rules] == [rule.meta.id for rule in REGISTRY.rules]
    for rule in rules:
        meta = REGISTRY.get(rule["id"]).meta
        assert rule["title"] == meta.title
        if meta.trigger is not None:
            assert rule["triggers"][0]["event_source"] == meta.trigger.event_source
            assert rule["triggers"][0]["event_names"] == sorted(meta.trigger.event_names)
        else:
            assert rule["triggers"] == [] and meta.state is not None
        assert rule["summary"] and rule["remediation_url"].startswith("https://")
        assert rule["resource_type"] == meta.resource_type


def test_rules_table():
    code, out, _ = run("rules")
    assert code == 0
    lines = out.splitlines()
    assert len(lines) == len(REGISTRY.rules) + len(REGISTRY.sequences)
    for line, rule in zip(lines, REGISTRY.rules):
        assert line.split()[:2] == [rule.meta.id, rule.meta.severity.value]
        assert line.endswith(rule.meta.title)
    for line, meta in zip(lines[len(REGISTRY.rules):], REGISTRY.sequences):  # then the sequences (spec §E)
        assert line.split()[:2] == [meta.id, meta.severity.value] and line.endswith(f"{meta.title} (sequence)")


def test_patterns():
    code, out, _ = run("patterns")
    assert code == 0
    routes = json.loads(out)
    assert [route["pattern"] for route in routes] == REGISTRY.event_patterns()
    assert {route["name"]: route["scope"] for route in routes}["iam-api"] == "global"


def test_rules_markdown_is_the_readme_table():
    code, out, _ = run("rules", "--format", "markdown")
    assert code == 0
    readme = (ROOT / "README.md").read_text()
    assert out in readme, "README.md's rule table is stale: run `make generate`"
    assert out.count("\n") == len(REGISTRY.rules) + len(REGISTRY.sequences) + 2


def test_version(capsys):
    out = io.StringIO()
    try:
        code = main(["--version"], stdout=out, stderr=io.StringIO())
    except SystemExit as exit_:
        code = exit_.code
    assert code in (0, None)
    assert f"identity-auditor {__version__}" in out.getvalue() + capsys.readouterr().out


def test_no_command_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_:
        main([], stdout=io.StringIO(), stderr=io.StringIO())
    assert exit_.value.code == 2
    assert "usage:" in capsys.readouterr().err


# -- the installed console script --------------------------------------------------------------------


def _script(*args: object, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    assert CONSOLE_SCRIPT.exists(), f"{CONSOLE_SCRIPT} is not installed (pip install -e .)"
    return subprocess.run([str(CONSOLE_SCRIPT), *map(str, args)], input=stdin, capture_output=True,
                          timeout=120, cwd=ROOT)


def test_console_script_entry_point(tmp_path, records, baseline):
    log = {"Records": [records[MFA_LOGIN], records[KEY_FOR_BACKDOOR_USER]]}
    path = write_gzip(tmp_path / "log.json.gz", log)
    result = _script("evaluate", path, "-", "--format", "jsonl", "--fail-on", "high",
                     stdin=json.dumps(envelope(records[NO_MFA_LOGIN])).encode())
    assert result.returncode == 1, result.stderr.decode()
    assert_same_findings(jsonl(result.stdout.decode()), baseline, [KEY_FOR_BACKDOOR_USER, NO_MFA_LOGIN])
    assert "2 findings (2 high) in 3 records from 2 inputs" in result.stderr.decode()


def test_console_script_version_and_usage_errors():
    version = _script("--version")
    assert version.returncode == 0
    assert version.stdout.decode().strip() == f"identity-auditor {__version__}"
    bad = _script("evaluate", INVICTUS, "--min-severity", "urgent")
    assert bad.returncode == 2
    assert bad.stdout == b""
    assert "informational, low, medium, high, critical" in bad.stderr.decode()


def test_version_and_usage_import_no_models_sdk_or_engine():
    """`identity-auditor --version` and a usage error start fast: no pydantic, no boto3, no rule engine."""
    code = (
        "import sys, contextlib, io\n"
        "from identity_auditor.cli.main import main\n"
        "for argv in (['--version'], ['evaluate']):\n"
        "    with contextlib.suppress(SystemExit), contextlib.redirect_stdout(io.StringIO()), "
        "contextlib.redirect_stderr(io.StringIO()):\n"
        "        main(argv)\n"
        "heavy = ('pydantic', 'boto3', 'botocore', 'aws_lambda_powertools', 'identity_auditor.engine.registry')\n"
        "print(','.join(name for name in heavy if name in sys.modules))\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert run.stdout.strip() == ""


def test_fail_on_counts_only_findings_the_organisation_has_not_suppressed(tmp_path):
    """The six CRITICAL findings of invictus are trail tampering, the admin grant to malicious-iam-user and the two
    sequences it completes (admin user, backdoor role);
    suppressed (an accepted, time-boxed risk) they are still printed, but `--fail-on critical` passes; suppressing
    another trail fails it again."""
    def policy(resource: str) -> str:
        path = tmp_path / f"policy-{len(list(tmp_path.iterdir()))}.yaml"
        entry = ("    suppress:\n      - resource: '{}'\n        reason: red-team exercise\n"
                 "        owner: secops\n        expires: '2099-12-31'\n")
        path.write_text("version: 1\nrules:\n  cloudtrail_logging_disabled:\n" + entry.format(resource)
                        + "  iam_admin_policy_attached:\n" + entry.format("arn:aws:iam::*:user/malicious-iam-user")
                        + "  iam_admin_user_created:\n" + entry.format("arn:aws:iam::*:user/malicious-iam-user")
                        + "  iam_backdoor_admin_role:\n" + entry.format("arn:aws:iam::*:role/stratus-*"))
        return str(path)

    code, out, _ = run("evaluate", INVICTUS, "--format", "jsonl", "--fail-on", "critical", "--policy", policy("*"))
    critical = [f for f in jsonl(out) if f["severity"] == "CRITICAL"]
    assert len(critical) == 6 and all(f["suppression"] for f in critical)
    assert code == 0
    code, _, _ = run("evaluate", INVICTUS, "--format", "jsonl", "--fail-on", "critical",
                     "--policy", policy("arn:aws:cloudtrail:*:*:trail/another-trail"))
    assert code == 1


# -- the table: the person first, most severe first, suppressed findings marked ---------------------------------

SEVERITY_NAMES = ("INFORMATIONAL", "LOW", "MEDIUM", "HIGH", "CRITICAL")


def table_rows(out: str) -> list[list[str]]:
    return [line.split() for line in out.splitlines() if line.startswith(SEVERITY_NAMES)]


def test_table_sorts_by_severity_then_time_then_rule():
    code, out, err = run("evaluate", INVICTUS, "--format", "table")
    assert code == 0, err
    rows = table_rows(out)
    order = [(-SEVERITY_NAMES.index(row[0]), row[2], row[1]) for row in rows]
    assert order == sorted(order) and len(rows) == TOTAL
    assert [row[0] for row in rows] == ["CRITICAL"] * 6 + ["HIGH"] * 10 + ["MEDIUM"] * 7
    # The finding's description stays under its own row.
    lines = out.splitlines()
    assert "signin_console_login_without_mfa" in lines[lines.index(next(
        line for line in lines if f"IAM user {NO_MFA_USER} signed in to the console" in line)) - 1]


def test_table_order_does_not_depend_on_the_order_of_the_inputs(tmp_path, records):
    first = write_json(tmp_path / "a.json", {"Records": [records[KEY_FOR_MALICIOUS_USER], records[NO_MFA_LOGIN]]})
    second = write_json(tmp_path / "b.json", {"Records": [records["076e96d5-2983-473f-920a-2fc2d7e02777"],
                                                          records[KEY_FOR_BACKDOOR_USER]]})
    _, forward, _ = run("evaluate", first, second, "--format", "table")
    _, backward, _ = run("evaluate", second, first, "--format", "table")
    assert forward == backward
    assert [row[1] for row in table_rows(forward)] == [
        "cloudtrail_logging_disabled", "signin_console_login_without_mfa", "iam_access_key_created",
        "iam_access_key_created"]


def test_table_marks_suppressed_findings(tmp_path):
    policy = tmp_path / "policy.yaml"
    policy.write_text("version: 1\nrules:\n  cloudtrail_logging_disabled:\n    suppress:\n"
                      "      - resource: '*'\n        reason: red-team exercise\n"
                      "        owner: secops\n        expires: '2099-12-31'\n")
    code, out, err = run("evaluate", INVICTUS, "--format", "table", "--policy", policy)
    assert code == 0, err
    rows = table_rows(out)
    suppressed = [row for row in rows if row[0] == "CRITICAL/SUPPRESSED"]
    assert len(suppressed) == 3 and {row[1] for row in suppressed} == {"cloudtrail_logging_disabled"}
    assert not [row for row in rows if row[1] != "cloudtrail_logging_disabled" and "SUPPRESSED" in row[0]]
    assert out.count("    SUPPRESSED until 2099-12-31 (owner secops): red-team exercise\n") == 3
    assert rows[0][0] == "CRITICAL/SUPPRESSED"  # still sorted by severity


def test_table_names_the_person_of_an_identity_center_session_first(tmp_path):
    detail = json.loads((ROOT / "events" / "cloudtrail" / "sso_create_account_assignment_user__constructed.json")
                        .read_text())["detail"]
    long_session = "jane.maria.van-der-berg.security-engineering-oncall1@example.com"  # 64: STS's longest
    other = copy.deepcopy(detail)
    other["eventID"] = "b0c1d2e3-0000-4000-8000-000000000001"
    other["userIdentity"]["arn"] = other["userIdentity"]["arn"].replace("jane@example.com", long_session)
    path = write_json(tmp_path / "sso.json", {"Records": [detail, other]})
    code, out, err = run("evaluate", path, "--format", "table")
    assert code == 0, err
    assert "  jane@example.com (AWSReservedSSO_AdministratorAccess)  " in out
    assert f"  {long_session}  " in out  # the person whole; no room left for the role
    rows = [line for line in out.splitlines() if line.startswith(SEVERITY_NAMES)]
    assert len(rows) == 2 and not [row for row in rows if "0123456789abcdef" in row]  # rows, not descriptions


def test_file_names_reach_the_terminal_without_escapes_or_bidi_controls(tmp_path):
    """A file or S3 key is named by whoever wrote it: its name is shown, but a terminal escape (here one that
    would clear the screen) or a right-to-left override in it is not passed to the terminal."""
    name = "trail\x1b[2J\u202egz.json"
    (tmp_path / name).write_text("{not json")
    code, _, err = run("evaluate", tmp_path / name, "--format", "jsonl")
    assert code == 2
    assert "\x1b" not in err and "\u202e" not in err
    assert "trail [2Jgz.json: invalid JSON" in err


def test_a_record_whose_time_is_no_time_keeps_its_finding(tmp_path, records):
    """Issue 16, point 8: an impossible eventTime (day 00) cost the record its finding; it is evaluated, the finding
    says the time could not be read, and nothing is reported as a bad input."""
    record = copy.deepcopy(records[NO_MFA_LOGIN])
    record["eventTime"] = "2023-07-00T12:23:15Z"
    path = write_json(tmp_path / "day-00.json", {"Records": [record]})
    code, out, err = run("evaluate", path, "--format", "jsonl")
    assert code == 0, err
    [finding] = jsonl(out)
    assert finding["rule_id"] == "signin_console_login_without_mfa" and finding["event_time"] is None
    assert "'2023-07-00T12:23:15Z' is not a time" in finding["details"]["EventTimeUnreadable"]


@pytest.mark.parametrize("time", ["9999-12-31T23:59:59Z", "0001-01-01T00:30:00+01:00", "0001-01-03T00:00:00Z"])
def test_a_time_at_the_ends_of_the_calendar_is_no_time(tmp_path, records, time):
    """A time at the very ends of the calendar (before year 1 once in UTC; too close to its last day for a
    sequence's window around it) crashed evaluate, every other file lost; it is a time that cannot be read like
    day 00: the record is evaluated without it, its finding says so."""
    record = copy.deepcopy(records[NO_MFA_LOGIN])
    record["eventTime"] = time
    path = write_json(tmp_path / "end-of-time.json", {"Records": [record]})
    code, out, err = run("evaluate", path, "--format", "jsonl")
    assert code == 0, err
    [finding] = jsonl(out)
    assert finding["rule_id"] == "signin_console_login_without_mfa" and finding["event_time"] is None
    assert f"{time!r} is not a time" in finding["details"]["EventTimeUnreadable"]
