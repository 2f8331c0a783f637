"""`evaluate` and `audit-account` with `--format csv|ocsf`, `--output-dir` and `--evidence`: the real samples
(events/cloudtrail) and an emulated account (moto), the files read back as a user's tools would."""

from __future__ import annotations

import csv
import io
import json
import sys
from pathlib import Path

import pytest
from identity_auditor.cli.main import main
from report_checks import assert_valid_ocsf

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))

SAMPLES = [str(ROOT / "events" / "cloudtrail" / name) for name in (
    "access_analyzer_delete_analyzer__constructed.json", "iam_create_user.json",
    "account_accept_primary_email_update__constructed.json")]
FILES = ["findings.csv", "findings.jsonl", "findings.ocsf.json", "report.html", "report.md"]


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    return main(list(argv), stdout=out, stderr=err), out.getvalue(), err.getvalue()


def test_evaluate_writes_every_format_into_the_output_directory(tmp_path):
    code, jsonl, err = run("evaluate", *SAMPLES, "--format", "jsonl", "--jobs", "1", "--output-dir",
                           str(tmp_path / "out"))
    assert code == 0, err
    out = tmp_path / "out"
    assert sorted(p.name for p in out.iterdir()) == FILES
    assert (out / "findings.jsonl").read_text() == jsonl  # the same findings as --format jsonl
    rules = [json.loads(line)["rule_id"] for line in jsonl.splitlines()]
    assert len(rules) == 3
    rows = list(csv.DictReader((out / "findings.csv").open(newline="")))
    assert [row["rule_id"] for row in rows] == rules
    events = json.loads((out / "findings.ocsf.json").read_text())
    assert [e["class_uid"] for e in events] == [2004] * 3
    for event in events:
        assert_valid_ocsf(event)
    html = (out / "report.html").read_text()
    assert 'id="total-findings">3<' in html and "iam_user_created" in html
    assert "**3 findings**" in (out / "report.md").read_text()
    assert f"wrote {out / 'findings.jsonl'}" in err


@pytest.mark.parametrize("fmt", ["csv", "ocsf"])
def test_evaluate_prints_csv_and_ocsf(fmt):
    code, out, err = run("evaluate", *SAMPLES, "--format", fmt, "--jobs", "1")
    assert code == 0, err
    if fmt == "csv":
        assert len(list(csv.DictReader(io.StringIO(out)))) == 3
    else:
        assert len(json.loads(out)) == 3
    assert "3 findings" in err  # the summary goes to stderr, as for jsonl


def test_an_output_directory_that_cannot_be_made_is_a_usage_error(tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    with pytest.raises(SystemExit) as exit_:
        main(["evaluate", *SAMPLES, "--output-dir", str(tmp_path / "file" / "out")])
    assert exit_.value.code == 2
    assert "cannot create the output directory" in capsys.readouterr().err


def test_audit_evidence_adds_the_compliant_results(iam_world):
    code, out, err = run("audit-account", "--format", "jsonl")
    assert code == 0, err
    assert {json.loads(line)["compliance_status"] for line in out.splitlines()} == {"FAILED"}
    code, out, err = run("audit-account", "--format", "jsonl", "--evidence")
    assert code == 0, err
    findings = [json.loads(line) for line in out.splitlines()]
    passed = {(f["rule_id"], f["resource_id"]): f for f in findings if f["compliance_status"] == "PASSED"}
    ci_deploy = passed[("iam_user_console_access_without_mfa", "arn:aws:iam::123456789012:user/ci-deploy")]
    assert ci_deploy["description"] == "IAM user ci-deploy has no console password."  # what was checked
    assert ci_deploy["severity"] == "INFORMATIONAL"
    assert ("iam_user_console_access_without_mfa", "arn:aws:iam::123456789012:user/alice") not in passed
    assert findings[0]["compliance_status"] == "FAILED"  # the failures first


def test_audit_writes_the_reports_with_pass_and_fail_per_control(iam_world, tmp_path):
    code, out, err = run("audit-account", "--format", "ocsf", "--output-dir", str(tmp_path))
    assert code == 0, err
    assert sorted(p.name for p in tmp_path.iterdir()) == FILES
    events = json.loads(out)
    assert events and {e["class_uid"] for e in events} == {2003}  # state results: Compliance Findings
    for event in events + json.loads((tmp_path / "findings.ocsf.json").read_text()):
        assert_valid_ocsf(event)
    report = (tmp_path / "report.md").read_text()
    assert "| CIS5 1.9 | FAIL |" in report  # alice: console password without MFA
    assert "| CIS5 1.13 | PASS |" in report  # no access key older than 90 days
    html = (tmp_path / "report.html").read_text()
    assert 'data-control="CIS5 1.13"' in html and "Active access keys of IAM user ci-deploy are at most 90" in html


def test_a_report_that_cannot_be_written_is_exit_2_and_leaves_no_half_file(tmp_path, monkeypatch):
    import errno

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("identity_auditor.cli.reports._render", full)
    code, out, err = run("evaluate", *SAMPLES, "--format", "jsonl", "--jobs", "1", "--output-dir", str(tmp_path))
    assert code == 2
    assert len(out.splitlines()) == 3  # stdout still has every finding
    assert "cannot write the reports into" in err and "No space left on device" in err
    assert list(tmp_path.iterdir()) == []  # neither a half-written report nor a temporary file
