"""``identity-auditor policy validate | show | schema`` and ``evaluate --policy`` (offline)."""

from __future__ import annotations

import copy
import io
import json
import tempfile
from datetime import date
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from identity_auditor.cli.main import main
from identity_auditor.model.policy import DEFAULT_POLICY
from identity_auditor.policy.loader import RULE_IDS, load_policy_text
from support import EVENTS, ROOT

EXAMPLE = ROOT / "examples" / "policy.example.yaml"
SCHEMA_FILE = ROOT / "policy.schema.json"
ATTACH_ADMIN = EVENTS / "sso_attach_managed_policy_to_permission_set_administrator_access__constructed.json"
PIPELINE_ROLE = "arn:aws:iam::111122223333:role/identity-center-terraform-pipeline"


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


# -- validate -------------------------------------------------------------------------------------------

def test_validate_the_example_prints_a_one_line_summary():
    code, out, err = run("policy", "validate", str(EXAMPLE))
    assert (code, err) == (0, "")
    assert out == (
        f"{EXAMPLE}: valid organisation policy: allow-lists for 2 rules, 1 suppression (0 expired), 1 rule "
        "disabled, 1 severity override; 3 trusted accounts, 1 federated account, 2 break-glass patterns, "
        "2 privileged permission set patterns, 2 privileged policy patterns, SCIM on; access keys 90 days, unused credentials 45 days; "
        "sessions 8 h (2 h privileged), SAML certificates warned 30 days ahead\n"
    )


def test_validate_a_bad_file_exits_2_naming_the_key_and_value(tmp_path):
    bad = tmp_path / "policy.yaml"
    bad.write_text(
        "version: 1\nrules:\n  sso_permission_set_changed:\n    suppress:\n"
        "      - resource: 'arn:aws:sso:::permissionSet/*'\n        reason: change freeze\n"
        "        owner: secops\n        expires: next week\n"
    )
    code, out, err = run("policy", "validate", str(bad))
    assert (code, out) == (2, "")
    assert err == (f"identity-auditor: {bad}: invalid organisation policy: "
                   "rules.sso_permission_set_changed.suppress[0].expires: 'next week' is not a date (YYYY-MM-DD)\n")


def test_validate_lists_every_problem(tmp_path):
    bad = tmp_path / "policy.json"
    bad.write_text(json.dumps({"rules": {"iam_user_creatd": {}}, "access_key_max_age_days": 0}))
    code, _, err = run("policy", "validate", str(bad))
    assert code == 2
    assert f"{bad}: invalid organisation policy (2 problems):" in err
    assert "  access_key_max_age_days: 0 must be a positive whole number" in err
    assert "  rules.iam_user_creatd: unknown rule id (did you mean iam_user_created" in err


def test_validate_a_yaml_syntax_error_names_the_line(tmp_path):
    bad = tmp_path / "policy.yaml"
    bad.write_text("version: 1\nrules:\n  iam_user_created:\n    allow: ['arn:aws:iam::*:role/x'\n")
    code, _, err = run("policy", "validate", str(bad))
    assert code == 2 and "YAML error at line 5" in err


def test_validate_a_missing_file_exits_2(tmp_path):
    missing = tmp_path / "nope.yaml"
    code, out, err = run("policy", "validate", str(missing))
    assert (code, out) == (2, "")
    assert err == f"identity-auditor: {missing}: cannot read the organisation policy: No such file or directory\n"


def test_validate_several_files_reports_each(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("trusted_accounts: [111122223333]\n")
    code, out, err = run("policy", "validate", str(EXAMPLE), str(bad))
    assert code == 2
    assert out.startswith(f"{EXAMPLE}: valid organisation policy")
    assert "trusted_accounts[0]: 111122223333 is a number, not a string (quote it: '111122223333')" in err


def test_validate_warns_about_expired_suppressions_but_passes(tmp_path):
    stale = tmp_path / "policy.yaml"
    stale.write_text("rules:\n  iam_user_created:\n    suppress:\n"
                     "      - {resource: 'it-*', reason: tests, owner: qa@example.com, expires: 2020-01-31}\n")
    code, out, err = run("policy", "validate", str(stale))
    assert code == 0 and "1 suppression (1 expired)" in out
    assert err == (f"identity-auditor: warning: {stale}: rules.iam_user_created.suppress[0] (owner qa@example.com) "
                   "expired on 2020-01-31 and no longer applies\n")


# -- show / schema ----------------------------------------------------------------------------------------

def test_show_without_a_source_prints_the_defaults(monkeypatch):
    for name in ("POLICY_SSM_PARAMETER", "POLICY_APPCONFIG"):
        monkeypatch.delenv(name, raising=False)
    code, out, _ = run("policy", "show")
    assert code == 0
    assert out.startswith("# Effective identity-auditor organisation policy (packaged default policy)\n")
    document = yaml.safe_load(out)
    assert list(document["rules"]) == list(RULE_IDS)
    assert document["access_key_max_age_days"] == 90
    assert load_policy_text(out, source="shown") == DEFAULT_POLICY


def test_show_a_file_as_json_fills_in_defaults():
    code, out, _ = run("policy", "show", str(EXAMPLE), "--format", "json")
    assert code == 0
    document = json.loads(out)
    assert document["rules"]["sso_permission_set_changed"]["allow"] == [PIPELINE_ROLE]
    assert document["rules"]["root_account_used"] == {"enabled": True, "severity": None, "allow": [], "suppress": []}
    assert document["rules"]["iam_user_created"]["suppress"][0]["expires"] == "2026-12-31"
    assert load_policy_text(out, source="shown") == load_policy_text(EXAMPLE.read_text(), source="example")


def test_show_a_bad_file_exits_2(tmp_path):
    bad = tmp_path / "p.yaml"
    bad.write_text("rules: {iam_user_created: {severity: urgent}}\n")
    code, out, err = run("policy", "show", str(bad))
    assert (code, out) == (2, "") and "rules.iam_user_created.severity: 'urgent' is not a severity" in err


def test_schema_command_prints_the_published_schema():
    code, out, _ = run("policy", "schema")
    assert code == 0 and out == SCHEMA_FILE.read_text()


# -- evaluate --policy ------------------------------------------------------------------------------------

def _pipeline_event(tmp_path: Path) -> Path:
    event = json.loads(ATTACH_ADMIN.read_text())
    person = copy.deepcopy(event)
    identity = event["detail"]["userIdentity"]
    identity["arn"] = "arn:aws:sts::111122223333:assumed-role/identity-center-terraform-pipeline/terraform-run-8812"
    identity["sessionContext"]["sessionIssuer"].update(arn=PIPELINE_ROLE, userName="identity-center-terraform-pipeline")
    event["detail"]["eventID"] = "5d2e9f68-3a7c-4b4f-8d1e-8c2f3b4a5d63"
    path = tmp_path / "events.jsonl"
    path.write_text(json.dumps(person) + "\n" + json.dumps(event) + "\n")
    return path


def test_evaluate_with_a_policy_drops_the_pipelines_change_but_not_the_persons(tmp_path):
    events = _pipeline_event(tmp_path)
    code, out, _ = run("evaluate", str(events), "--format", "jsonl")
    assert code == 0 and len(out.splitlines()) == 2  # no policy: both are findings
    code, out, _ = run("evaluate", str(events), "--format", "jsonl", "--policy", str(EXAMPLE))
    (line,) = out.splitlines()
    finding = json.loads(line)
    assert code == 0 and finding["rule_id"] == "sso_permission_set_changed"
    assert finding["actor"].endswith("/jane@example.com") and finding["suppression"] is None


def test_evaluate_shows_the_suppression(tmp_path):
    policy = tmp_path / "policy.yaml"
    policy.write_text("rules:\n  sso_permission_set_changed:\n    suppress:\n"
                      "      - {resource: 'arn:aws:sso:::permissionSet/*', reason: review, owner: iam-team, "
                      "expires: 2999-12-31}\n")
    code, out, _ = run("evaluate", str(ATTACH_ADMIN), "--format", "jsonl", "--policy", str(policy))
    finding = json.loads(out)
    assert code == 0
    assert finding["suppression"] == {"reason": "review", "owner": "iam-team", "expires": "2999-12-31",
                                      "pattern": "arn:aws:sso:::permissionSet/*"}


def test_evaluate_with_a_bad_policy_exits_2_before_reading_events(tmp_path):
    bad = tmp_path / "policy.yaml"
    bad.write_text("rules: {sso_permission_set_changed: {allow: [terraform]}}\n")
    code, out, err = run("evaluate", str(ATTACH_ADMIN), "--policy", str(bad))
    assert (code, out) == (2, "")
    assert "rules.sso_permission_set_changed.allow[0]: 'terraform' is not an ARN pattern" in err


# -- property: whatever valid document, `show` output validates back to the same policy ----------------

_text = st.text(st.characters(categories=("L", "N", "P", "S", "Zs")), min_size=1, max_size=30).filter(str.strip)
_pattern = st.from_regex(r"\A[a-z0-9:/*?_.@-]{1,40}\Z")
_arn_pattern = st.builds(lambda tail: "arn:aws:iam::" + tail, _pattern)
_account = st.from_regex(r"\A\d{12}\Z")
_suppress = st.builds(
    lambda resource, principal, reason, owner, expires, which: {
        **({"resource": resource} if which != "principal" else {}),
        **({"principal": principal} if which != "resource" else {}),
        "reason": reason, "owner": owner, "expires": expires.isoformat(),
    },
    _pattern, _arn_pattern, _text, _text, st.dates(date(2020, 1, 1), date(2035, 12, 31)),
    st.sampled_from(["resource", "principal", "both"]),
)
_rule = st.fixed_dictionaries({}, optional={
    "enabled": st.booleans(),
    "severity": st.sampled_from([None, "INFORMATIONAL", "LOW", "MEDIUM", "HIGH", "CRITICAL"]),
    "allow": st.lists(_arn_pattern, max_size=3),
    "suppress": st.lists(_suppress, max_size=3),
})
_document = st.fixed_dictionaries({}, optional={
    "version": st.just(1),
    "trusted_accounts": st.lists(_account, max_size=3),
    "federated_accounts": st.lists(_account, max_size=3),
    "privileged_permission_sets": st.lists(_pattern, max_size=3),
    "external_idp_scim": st.booleans(),
    "break_glass_users": st.lists(_pattern, max_size=3),
    "access_key_max_age_days": st.integers(1, 10_000),
    "credentials_unused_days": st.integers(1, 10_000),
    "rules": st.dictionaries(st.sampled_from(RULE_IDS), _rule, max_size=5),
})


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(document=_document, as_json=st.booleans(), show_format=st.sampled_from(["yaml", "json"]))
def test_any_valid_document_round_trips_through_show_and_validate(document, as_json, show_format):
    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder) / ("policy.json" if as_json else "policy.yaml")
        source.write_text(json.dumps(document) if as_json else yaml.safe_dump(document, allow_unicode=True))
        code, shown, err = run("policy", "show", str(source), "--format", show_format)
        assert code == 0, err
        again = Path(folder) / f"shown.{show_format}"
        again.write_text(shown)
        code, out, err = run("policy", "validate", str(again))
        assert code == 0, err
        assert out.startswith(f"{again}: valid organisation policy")
        assert load_policy_text(again.read_text(), source="shown") == load_policy_text(source.read_text(), source="in")
