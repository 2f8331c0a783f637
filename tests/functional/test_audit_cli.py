"""`identity-auditor audit-account` against an emulated account (moto, in-process): the same sweep as the
Config evaluator, printed like `evaluate`; bad arguments and unreadable accounts are clear errors."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

from botocore.exceptions import ClientError
from identity_auditor.cli.main import main

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    return main(list(argv), stdout=out, stderr=err), out.getvalue(), err.getvalue()


def test_reports_the_violations_with_the_evaluate_keys(iam_world):
    code, out, err = run("audit-account", "--format", "jsonl")
    assert code == 0, err
    findings = [json.loads(line) for line in out.splitlines()]
    pairs = {(f["rule_id"], f["resource_id"].rsplit("/", 1)[-1]) for f in findings}
    assert ("iam_user_console_access_without_mfa", "alice") in pairs
    assert ("iam_user_multiple_active_access_keys", "ci-deploy") in pairs
    weak = [f for f in findings if f["rule_id"] == "iam_password_policy_weak"]
    assert [f["resource_id"] for f in weak] == ["AWS::::Account:123456789012"]  # moto: no password policy
    assert all(f["event_id"] is None and f["finding_id"].count("/") == 3 for f in findings)
    assert "non-compliant" in err and "API calls" in err


def test_rules_filter_and_fail_on(iam_world):
    code, out, _ = run("audit-account", "--rules", "iam_user_multiple_active_access_keys", "--format", "jsonl",
                       "--fail-on", "low")
    assert code == 1
    assert {json.loads(line)["rule_id"] for line in out.splitlines()} == {"iam_user_multiple_active_access_keys"}


def test_unknown_rule_id_is_a_usage_error(iam_world):
    code, _, err = run("audit-account", "--rules", "iam_user_created")
    assert code == 2 and "unknown state rule id(s): iam_user_created" in err


def test_an_unreadable_account_is_a_clear_error(iam_world, monkeypatch):
    def denied(*args, **kwargs):
        raise ClientError({"Error": {"Code": "AccessDenied", "Message": "not authorized"}}, "GetCredentialReport")

    monkeypatch.setattr("identity_auditor.config_rule.sweep.audit_account", denied)
    code, _, err = run("audit-account")
    assert code == 4  # AWS refused: exit 3 is kept for a rule failing (a bug)
    assert "cannot read the account's identity state" in err and "AccessDenied" in err
