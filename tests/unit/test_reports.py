"""The exchange formats and reports of `evaluate` and `audit-account` (identity_auditor.cli.reports): CSV
(stable columns, cells safe from spreadsheet formulas), OCSF (validated by py-ocsf-models' own models,
round-tripped so that no attribute outside the library's schema is emitted), the Markdown summary and the
compliance verdicts every report shares. Findings come from the real samples (events/) and real state rules."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
from datetime import date, datetime, timezone

import pytest
from identity_auditor.cli.reports import FILES, write_reports
from identity_auditor.cli.reports.csv_out import COLUMNS, CsvWriter, cell
from identity_auditor.cli.reports.markdown import md_cell
from identity_auditor.cli.reports.ocsf import OcsfWriter, to_ocsf
from identity_auditor.cli.reports.summary import FAIL, PASS, SUPPRESSED, summarise
from identity_auditor.engine.registry import REGISTRY
from identity_auditor.model.contract import Violation
from identity_auditor.model.findings import Suppression, build_state_finding
from identity_auditor.model.severity import Severity
from report_checks import assert_valid_ocsf
from support import findings_from, load_sample

NOW = datetime(2026, 11, 22, tzinfo=timezone.utc)


def event_finding(sample: str = "access_analyzer_delete_analyzer__constructed"):
    (finding,) = findings_from(load_sample(sample)["detail"])
    return finding


def state_finding(rule_id="iam_user_console_access_without_mfa", *, status="FAILED", name="alice"):
    meta = REGISTRY.get(rule_id).meta
    arn = f"arn:aws:iam::123456789012:user/{name}"
    violation = Violation(description=f"IAM user {name} can sign in to the console without MFA", resource_id=arn,
                          subject=name)
    finding = build_state_finding(meta, violation, account="123456789012", region="us-east-1", partition="aws",
                                  observed_at=NOW)
    if status == "PASSED":
        finding = dataclasses.replace(finding, compliance_status="PASSED", severity=Severity.INFORMATIONAL,
                                      description=f"{name}: console password and an MFA device")
    return finding


# -- CSV -----------------------------------------------------------------------------------------------

def test_csv_has_the_documented_columns_and_one_row_per_finding():
    findings = [event_finding(), state_finding()]
    out = io.StringIO()
    writer = CsvWriter(out)
    for finding in findings:
        writer.write(finding)
    writer.close()
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert tuple(rows[0]) == COLUMNS
    assert [r["rule_id"] for r in rows] == ["security_tooling_disabled", "iam_user_console_access_without_mfa"]
    first = rows[0]
    assert first["severity"] == "CRITICAL" and first["suppressed"] == ""
    assert first["actor_arn"] == "arn:aws:iam::123837392027:user/bert-jan"
    assert first["event_time"] == "2023-07-10T12:46:44+00:00" and first["event_name"] == "DeleteAnalyzer"
    assert rows[1]["compliance"] == "CIS5 1.9;CIS3 1.10;FSBP IAM.5" and rows[1]["event_id"] == ""
    for column in COLUMNS:  # every column of the module docstring is documented by name
        assert f"``{column}``" in __import__("identity_auditor.cli.reports.csv_out", fromlist=["x"]).__doc__


@pytest.mark.parametrize("hostile", ["=HYPERLINK(\"https://evil.example\",\"x\")", "+1+cmd|' /C calc'!A0",
                                     "-2+3", "@SUM(A1)", "\t=1+1", "\r\n=1+1", " =1"])
def test_csv_cells_never_start_a_formula(hostile):
    finding = dataclasses.replace(event_finding(), description=hostile, resource_id=hostile,
                                  actor=dataclasses.replace(event_finding().actor, name=hostile, arn=None))
    out = io.StringIO()
    writer = CsvWriter(out)
    writer.write(finding)
    (row,) = list(csv.DictReader(io.StringIO(out.getvalue())))
    for column in ("description", "resource_id", "actor"):
        assert row[column].startswith("'"), (column, row[column])
        assert "\r" not in row[column] and "\n" not in row[column] and "\t" not in row[column]
    assert cell("arn:aws:iam::1:user/x") == "arn:aws:iam::1:user/x"  # ordinary values untouched
    assert cell("admin\u202egnp.exe") == "admingnp.exe"  # bidi overrides removed (model/text.clean)


# -- OCSF ----------------------------------------------------------------------------------------------

def test_an_event_finding_is_an_ocsf_detection_finding():
    finding = event_finding()
    event = to_ocsf(finding)
    assert_valid_ocsf(event)
    assert event["class_uid"] == 2004 and event["class_name"] == "Detection Finding"
    assert event["severity_id"] == 5 and event["status_id"] == 1  # Critical, New
    assert event["time"] == int(finding.event_time.timestamp() * 1000)
    assert event["finding_info"]["uid"] == finding.finding_id
    assert event["finding_info"]["analytic"]["uid"] == "security_tooling_disabled"
    assert event["cloud"]["account"]["uid"] == "123837392027" and event["cloud"]["provider"] == "AWS"
    assert event["api"]["operation"] == "DeleteAnalyzer"
    assert event["resources"][0]["uid"] == finding.resource_id
    assert event["remediation"]["references"] == [finding.remediation_url]
    assert event["unmapped"]["actor"]["arn"] == "arn:aws:iam::123837392027:user/bert-jan"


def test_a_state_result_is_an_ocsf_compliance_finding_with_its_controls():
    failed, passed = state_finding(), state_finding(status="PASSED", name="bob")
    for finding, verdict in ((failed, 3), (passed, 1)):
        event = to_ocsf(finding)
        assert_valid_ocsf(event)
        assert event["class_uid"] == 2003 and event["class_name"] == "Compliance Finding"
        compliance = event["compliance"]
        assert compliance["status_id"] == verdict
        assert compliance["requirements"] == ["CIS5 1.9", "CIS3 1.10", "FSBP IAM.5"]
        assert {(c["uid"], c["standards"][0]) for c in compliance["checks"]} == {
            ("1.9", "CIS Amazon Web Services Foundations Benchmark v5.0.0"),
            ("1.10", "CIS Amazon Web Services Foundations Benchmark v3.0.0"),
            ("IAM.5", "AWS Foundational Security Best Practices (Security Hub controls)")}
    assert to_ocsf(passed)["status_id"] == 4  # Resolved


def test_a_suppressed_finding_is_suppressed_in_ocsf():
    finding = dataclasses.replace(event_finding(), suppression=Suppression("break-glass drill", "secops",
                                                                           date(2027, 1, 1), "*"))
    event = to_ocsf(finding)
    assert_valid_ocsf(event)
    assert event["status_id"] == 3 and event["unmapped"]["suppression"]["owner"] == "secops"


def test_the_ocsf_writer_writes_one_json_array():
    out = io.StringIO()
    writer = OcsfWriter(out)
    writer.close()
    assert json.loads(out.getvalue()) == []
    out = io.StringIO()
    writer = OcsfWriter(out)
    for finding in (event_finding(), state_finding()):
        writer.write(finding)
    writer.close()
    assert [e["class_uid"] for e in json.loads(out.getvalue())] == [2004, 2003]


# -- verdicts, Markdown, the output directory -------------------------------------------------------

def test_a_control_fails_on_a_finding_and_passes_only_on_compliant_state_results():
    summary = summarise([state_finding(), state_finding(status="PASSED", name="bob"), event_finding()])
    controls = {c.ref: c for c in summary.controls}
    assert controls["CIS5 1.9"].status == FAIL
    assert controls["CIS5 1.9"].count(FAIL) == 1 and controls["CIS5 1.9"].count(PASS) == 1
    suppressed = dataclasses.replace(state_finding(), suppression=Suppression("x", "y", date(2027, 1, 1), "*"))
    assert {c.ref: c.status for c in summarise([suppressed]).controls}["CIS5 1.9"] == SUPPRESSED
    passed = summarise([state_finding(status="PASSED", name="bob")])
    assert {c.ref: c.status for c in passed.controls}["FSBP IAM.5"] == PASS


def test_markdown_cells_cannot_break_the_table_or_add_markup():
    hostile = "a | b\r\n| c <img src=x> [x](https://evil.example) @team `x`"
    text = md_cell(hostile)
    assert "\n" not in text and "\r" not in text
    assert "<img" not in text and "&lt;img" in text
    for special in "|[]()@`":
        assert special not in text.replace("\\" + special, "")


def test_write_reports_writes_every_file_with_its_stable_name(tmp_path):
    findings = [event_finding(), state_finding()]
    paths = write_reports(tmp_path, FILES, findings, now=NOW)
    assert [p.name for p in paths] == ["findings.jsonl", "findings.csv", "findings.ocsf.json", "report.html",
                                       "report.md"]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(FILES.values())  # no temporary file left
    lines = (tmp_path / "findings.jsonl").read_text().splitlines()
    assert [json.loads(line)["rule_id"] for line in lines] == [f.rule_id for f in findings]
    assert len(json.loads((tmp_path / "findings.ocsf.json").read_text())) == 2
    report = (tmp_path / "report.md").read_text()
    assert "**2 findings** (1 critical, 1 medium)" in report and "| CIS5 1.9 | FAIL |" in report


def test_a_control_over_what_the_run_could_not_judge_is_incomplete_not_pass():
    """Review of issue 17: an organisation audit with an account it could not read (or a rule that could not run)
    showed CIS controls as PASS. Now such a control is INCOMPLETE, a failure stays FAIL, and the gaps are listed."""
    from identity_auditor.cli.reports.summary import FAIL, INCOMPLETE, PASS, Control, Evidence

    passing = Control("CIS5", "1.13", rules={"iam_access_key_not_rotated"},
                      evidence=[Evidence(PASS, "iam_access_key_not_rotated", "111122223333", "bob", "checked")])
    assert passing.status == PASS
    passing.incomplete = True
    assert passing.status == INCOMPLETE
    failing = Control("CIS5", "1.4", rules={"root_mfa_not_enabled"}, incomplete=True,
                      evidence=[Evidence(FAIL, "root_mfa_not_enabled", "111122223333", "root", "no MFA")])
    assert failing.status == FAIL


def test_a_markdown_cell_cannot_become_a_www_autolink():
    """Review of issue 17: GitHub's extended autolinks turned "www.evil-login.example/reset" into a link."""
    assert md_cell("www.evil-login.example/reset") == "www\\.evil-login.example/reset"
    assert md_cell("see WWW.evil.example") == "see WWW\\.evil.example"
