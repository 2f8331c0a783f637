"""report.html in a real browser: Debian's chromium, headless. What the rendered page shows is asserted from
its DOM (counts, a rule id, the compliance table, a hostile finding's text shown as text and no script),
and the page is rendered to a screenshot: a template or markup error fails here, not in front of an auditor.

Without chromium the test is skipped, saying "browser check skipped: chromium not installed"; in CI (``CI``
set) it fails instead: .ci/run installs chromium."""

from __future__ import annotations

import dataclasses
import struct
from datetime import datetime, timezone

from identity_auditor.cli.reports import write_reports
from identity_auditor.engine.registry import REGISTRY
from identity_auditor.model.contract import Violation
from identity_auditor.model.findings import build_state_finding
from identity_auditor.model.severity import Severity
from report_checks import Dom, browse
from support import findings_from, load_sample

NOW = datetime(2026, 11, 22, tzinfo=timezone.utc)
HOSTILE = '<script>document.title="pwned"</script><img src=x onerror=alert(1)>\u202eevil'


def state(rule_id: str, name: str, status: str):
    meta = REGISTRY.get(rule_id).meta
    finding = build_state_finding(meta, Violation(f"IAM user {name} checked", f"arn:aws:iam::123456789012:user/{name}",
                                                  subject=name),
                                  account="123456789012", region="us-east-1", partition="aws", observed_at=NOW)
    if status == "PASSED":
        finding = dataclasses.replace(finding, compliance_status="PASSED", severity=Severity.INFORMATIONAL)
    return finding


def test_the_report_renders_in_a_headless_browser(tmp_path):
    findings = [f for name in ("access_analyzer_delete_analyzer__constructed", "iam_create_user",
                               "account_accept_primary_email_update__constructed")
                for f in findings_from(load_sample(name)["detail"])]
    findings[1] = dataclasses.replace(findings[1], description=HOSTILE,
                                      actor=dataclasses.replace(findings[1].actor, name=HOSTILE, arn=None))
    findings += [state("iam_user_console_access_without_mfa", "alice", "FAILED"),
                 state("iam_access_key_not_rotated", "bob", "PASSED")]
    write_reports(tmp_path, ["html"], findings, now=NOW)
    page = tmp_path / "report.html"

    dom_text = browse(page, tmp_path / "profile", "--dump-dom").stdout
    dom = Dom()
    dom.feed(dom_text)
    assert "script" not in dom.tags and "img" not in dom.tags
    assert dom.by_key["total-findings"] == "4"  # the PASSED result is evidence (CIS5 1.13), not a finding
    assert {s: dom.by_key[f"severity:{s}"] for s in ("CRITICAL", "MEDIUM", "INFORMATIONAL")} == {
        "CRITICAL": "2", "MEDIUM": "2", "INFORMATIONAL": "0"}
    text = "".join(dom.text)
    assert "identity-auditor report" in text  # the title: the hostile script did not run
    assert "iam_user_created" in text and "Compliance: CIS and FSBP controls" in text
    assert '<script>document.title="pwned"</script><img src=x onerror=alert(1)>evil' in text  # shown as text
    assert "IAM user bob checked" in text  # the PASS evidence of CIS5 1.13
    assert dom_text.count("<svg") == 4  # the charts: severity, rule, account, controls

    shot = tmp_path / "report.png"
    browse(page, tmp_path / "profile", "--window-size=1280,1600", f"--screenshot={shot}")
    header = shot.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", header[16:24]) == (1280, 1600)
