"""`identity-auditor audit-account --organization` against an emulated organisation of three accounts (moto,
in-process; scripts/org_world.py): the management account read with the CLI's own credentials, ``prod`` through
the member role, ``sandbox`` without one (reported with STS's answer, the others still audited); narrowed with
``--accounts`` and ``--ous``; one combined result and the exit status of cli/output.py."""

from __future__ import annotations

import io
import json
import re
import sys
from pathlib import Path

import pytest
from botocore.exceptions import ClientError
from identity_auditor.aws.member_access import DEFAULT_ROLE_NAME, READER_ROLE_NAME
from identity_auditor.cli.main import main
from moto import mock_aws

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
from org_world import MANAGEMENT, assume_role_needs_the_role, build_org_world  # noqa: E402
from posture_world import emulator_gaps  # noqa: E402  (moto has no Access Analyzer)

pytestmark = pytest.mark.filterwarnings("ignore:Exception\\(STSClientError\\) with code AccessDenied")


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def run(*argv: str, err: io.StringIO | None = None) -> tuple[int, str, str]:
    out, err = io.StringIO(), err or io.StringIO()
    return main(list(argv), stdout=out, stderr=err), out.getvalue(), err.getvalue()


@pytest.fixture
def org():
    with mock_aws(), emulator_gaps():
        ids = build_org_world()
        with assume_role_needs_the_role():
            yield ids


def findings(out: str) -> list[dict]:
    return [json.loads(line) for line in out.splitlines()]


def test_every_account_is_audited_and_the_one_without_the_role_is_named(org):
    code, out, err = run("audit-account", "--organization", "--format", "jsonl")
    assert code == 4, err  # an account could not be read: the result is incomplete
    found = findings(out)
    pairs = {(f["account_id"], f["rule_id"], f["resource_id"].rsplit("/", 1)[-1]) for f in found}
    assert (MANAGEMENT, "iam_user_multiple_active_access_keys", "ci-deploy") in pairs  # own credentials
    assert (org["prod"], "iam_user_console_access_without_mfa", "alice") in pairs  # through the member role
    assert {f["account_id"] for f in found} == {MANAGEMENT, org["prod"]}
    # the organisation is known: the member role trusting the management account is inside the zone of trust
    assert not [f for f in found if f["rule_id"] == "iam_role_trust_policy_unsafe"
                and f["resource_id"].endswith(f"role/{READER_ROLE_NAME}")]
    role = f"arn:aws:iam::{org['sandbox']}:role/{READER_ROLE_NAME}"
    assert (f"identity-auditor: account {org['sandbox']} (sandbox) not audited: cannot assume {role}: "
            "An error occurred (AccessDenied) when calling the AssumeRole operation") in err
    assert re.search(r"\d+ non-compliant, \d+ compliant, \d+ not applicable evaluations in 2 of 3 accounts", err)
    assert "AuditReaderPrincipalArns names" in err and "--role-name" in err  # and what to do instead
    # not a terminal: one plain line per account as it ends
    assert len(re.findall(r"^identity-auditor: \[\d/3\] account \d{12} ", err, re.MULTILINE)) == 3


def test_the_result_is_the_same_with_one_worker(org):
    _, parallel, _ = run("audit-account", "--organization", "--format", "jsonl")
    code, serial, err = run("audit-account", "--organization", "--format", "jsonl", "--max-workers", "1")
    assert code == 4, err
    key = lambda f: (f["account_id"], f["rule_id"], f["resource_id"])  # noqa: E731
    assert sorted(map(key, findings(parallel))) == sorted(map(key, findings(serial)))
    assert [f["account_id"] for f in findings(serial)] == sorted(  # accounts in the organisation's order
        (f["account_id"] for f in findings(serial)), key=[MANAGEMENT, org["prod"]].index)


def test_accounts_narrows_to_the_named_accounts(org):
    code, out, err = run("audit-account", "--organization", "--accounts", org["prod"], "--format", "jsonl")
    assert code == 0, err
    assert {f["account_id"] for f in findings(out)} == {org["prod"]}
    assert "in 1 of 1 accounts" in err and org["sandbox"] not in err


def test_ous_narrows_to_the_accounts_under_them(org):
    code, out, err = run("audit-account", "--organization", "--ous", org["workloads"], "--format", "jsonl")
    assert code == 0, err
    assert {f["account_id"] for f in findings(out)} == {org["prod"]}
    code, out, err = run("audit-account", "--organization", "--ous", org["root"], "--format", "jsonl")
    assert code == 4 and {f["account_id"] for f in findings(out)} == {MANAGEMENT, org["prod"]}  # OUs walked down
    assert f"account {org['sandbox']} (sandbox) not audited" in err


def test_an_unknown_ou_is_a_usage_error(org):
    code, out, err = run("audit-account", "--organization", "--ous", "ou-abcd-12345678")
    assert code == 2 and out == ""
    assert "--ous names an organisational unit or root that the organisation does not hold: " \
           "ParentNotFoundException" in err


def test_every_account_is_judged_as_of_the_same_moment(org):
    _, out, _ = run("audit-account", "--organization", "--format", "jsonl")
    assert len({f["event_time"] for f in findings(out)}) == 1


def test_another_role_name_is_assumed_in_every_member_account(org):
    code, out, err = run("audit-account", "--organization", "--role-name", "security-audit", "--format", "jsonl")
    assert code == 4 and "AuditReaderPrincipalArns" not in err  # the hint is about the default role
    assert {f["account_id"] for f in findings(out)} == {MANAGEMENT}
    for account in (org["prod"], org["sandbox"]):
        assert f"cannot assume arn:aws:iam::{account}:role/security-audit: " in err


def test_an_account_outside_the_organisation_is_a_usage_error(org):
    code, out, err = run("audit-account", "--organization", "--accounts", f"{org['prod']},999999999999")
    assert code == 2 and out == ""
    assert "not an ACTIVE account of the organisation: 999999999999" in err


@pytest.mark.parametrize("argv, message", [
    (["--accounts", "123"], "not 12-digit account ids: 123"),
    (["--ous", "workloads"], "not organisational unit (ou-...) or root (r-...) ids: workloads"),
    (["--max-workers", "0"], "a number from 1 to 32"),
])
def test_bad_arguments_are_named(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["audit-account", "--organization", *argv])
    assert exit_.value.code == 2 and message in capsys.readouterr().err


def test_organisation_options_need_organization(org):
    code, _, err = run("audit-account", "--accounts", org["prod"])
    assert code == 2 and "go with --organization" in err


def test_a_refused_list_of_accounts_says_where_to_run_it(org, monkeypatch):
    def refused(*args, **kwargs):
        raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": "You don't have permissions to "
                                     "access this resource."}}, "ListAccounts")

    monkeypatch.setattr("identity_auditor.collectors.organization.active_accounts", refused)
    code, out, err = run("audit-account", "--organization")
    assert code == 4 and out == ""
    assert "cannot list the organisation's accounts (run it with credentials of the management account" in err
    assert "AccessDeniedException" in err


def test_fail_on_in_an_incomplete_run_exits_4(org):
    """cli/output.py: when several exit statuses apply the highest wins; a finding past --fail-on in a run that
    could not read every account is 4."""
    code, _, _ = run("audit-account", "--organization", "--fail-on", "low", "--format", "jsonl")
    assert code == 4
    code, _, _ = run("audit-account", "--organization", "--accounts", org["prod"], "--fail-on", "low",
                     "--format", "jsonl")
    assert code == 1


def test_a_terminal_shows_the_live_progress(org, monkeypatch):
    monkeypatch.setenv("COLUMNS", "120")
    err = Terminal()
    code, out, text = run("audit-account", "--organization", "--format", "jsonl", err=err)
    assert code == 4
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text)
    assert re.search(r"3/3 accounts, 1 failed, \d:\d\d:\d\d spent, \d:\d\d:\d\d left", plain)
    assert f"account {org['sandbox']} (sandbox): cannot assume" in plain  # printed above the bar when it happens
    assert "[1/3]" not in plain  # no plain progress lines on a terminal


def test_the_default_role_is_the_reader_role_the_deployment_creates():
    template = (ROOT / "template.yaml").read_text()
    assert re.search(r"^  MemberRoleName:\n    Type: String\n    Default: (\S+)\n", template,
                     re.MULTILINE).group(1) == DEFAULT_ROLE_NAME
    forwarder = (ROOT / "forwarder.yaml").read_text()
    assert 'RoleName: !Sub "${MemberRoleName}-reader"' in forwarder and READER_ROLE_NAME == f"{DEFAULT_ROLE_NAME}-reader"


def test_accounts_without_identity_center_are_one_line_not_one_per_rule_and_account():
    """Most accounts of an organisation hold no Identity Center instance: said once, with the accounts, and not
    counted as an unread account (exit 0); a refused read still is (exit 4)."""
    from argparse import Namespace

    from identity_auditor.cli.sweep import AccountAudit, report
    from identity_auditor.engine.state import NotRun

    rules = ("sso_account_assignment_to_user", "sso_reserved_role_drift")
    audits = [AccountAudit(account, not_run=[NotRun(rule, account, f"account {account} holds no Identity Center "
                                                                   "instance in us-east-1", absent=True)
                                             for rule in rules])
              for account in ("111111111111", "222222222222", "333333333333")]
    args = Namespace(min_severity=None, fail_on=None, format="jsonl", product_arn=None)
    err = io.StringIO()
    assert report(audits, args, io.StringIO(), err, where="3 of 3 accounts", seconds=1.0) == 0
    lines = err.getvalue().splitlines()
    assert lines[1:] == ["identity-auditor: not run in 3 account(s) that hold no Identity Center instance (run them "
                         "where Identity Center is administered, with --identity-center-region): "
                         "sso_account_assignment_to_user, sso_reserved_role_drift; "
                         "accounts: 111111111111, 222222222222, 333333333333"]
    audits[0].not_run.append(NotRun("iam_policy_full_admin", "111111111111", "iam:GetAccountAuthorizationDetails: "
                                    "AccessDenied"))
    err = io.StringIO()
    assert report(audits, args, io.StringIO(), err, where="3 of 3 accounts", seconds=1.0) == 4
    assert ("identity-auditor: not run: iam_policy_full_admin in account 111111111111: "
            "iam:GetAccountAuthorizationDetails: AccessDenied") in err.getvalue()


def test_one_account_a_finding_past_fail_on_in_an_incomplete_sweep_exits_4(org, monkeypatch):
    """README: when several exit statuses apply the highest wins; audit-account of one account returned 1 for a
    finding past --fail-on even when a rule could not be read (regression)."""
    from identity_auditor.config_rule import sweep
    from identity_auditor.engine.state import NotRun

    original = sweep.audit_account

    def refused_once(*args, not_run, **kwargs):
        answer = original(*args, not_run=not_run, **kwargs)
        not_run.append(NotRun("iam_policy_full_admin", MANAGEMENT, "iam:GetAccountAuthorizationDetails: AccessDenied"))
        return answer

    monkeypatch.setattr(sweep, "audit_account", refused_once)
    code, out, err = run("audit-account", "--fail-on", "low", "--format", "jsonl")
    assert findings(out) and "not run: iam_policy_full_admin" in err
    assert code == 4


def test_interrupted_the_accounts_not_started_are_not_swept():
    """Ctrl-C: the pool's queued accounts are cancelled rather than swept one after the other before exiting."""
    from identity_auditor.cli.organization import _run

    swept = []

    def sweep(account):
        swept.append(account["Id"])
        raise KeyboardInterrupt

    accounts = [{"Id": f"{index:012d}", "Name": f"a{index}"} for index in range(6)]
    with pytest.raises(KeyboardInterrupt):
        _run(accounts, sweep, 1, io.StringIO())
    assert swept == ["000000000000"]


def test_against_a_moto_server_over_http(monkeypatch):
    """The same organisation behind a moto server on 127.0.0.1 (AWS_ENDPOINT_URL, as `make demo` runs): three
    accounts read at once over HTTP, each with its own session and credentials."""
    import socket
    import urllib.request

    from moto.server import ThreadedMotoServer

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{port}")
        with emulator_gaps():
            ids = build_org_world()
            with assume_role_needs_the_role():
                code, out, err = run("audit-account", "--organization", "--max-workers", "3", "--format", "jsonl")
    finally:
        urllib.request.urlopen(urllib.request.Request(f"http://127.0.0.1:{port}/moto-api/reset", method="POST"))
        server.stop()  # and moto's state emptied for the tests that follow in this process
    assert code == 4, err
    assert {f["account_id"] for f in findings(out)} == {MANAGEMENT, ids["prod"]}
    assert ("iam_user_console_access_without_mfa", ids["prod"]) in {(f["rule_id"], f["account_id"])
                                                                   for f in findings(out)}
    assert f"account {ids['sandbox']} (sandbox) not audited: cannot assume" in err


def test_identity_center_rules_read_the_reserved_roles_of_member_accounts_through_the_role(org):
    """Run where Identity Center is administered, the reserved-role rule reads the AWSReservedSSO_* roles of
    every account a permission set is provisioned to through the same role: drift in prod is found (a single
    account run could only say it cannot read prod)."""
    import boto3
    from org_world import session_in
    from posture_world import _reserved_role

    sso = boto3.client("sso-admin", region_name="us-east-1")
    store = boto3.client("identitystore", region_name="us-east-1")
    (instance,) = sso.list_instances()["Instances"]
    auditors = sso.create_permission_set(Name="Auditors", InstanceArn=instance["InstanceArn"],
                                         SessionDuration="PT1H")["PermissionSet"]["PermissionSetArn"]
    group = store.create_group(IdentityStoreId=instance["IdentityStoreId"], DisplayName="auditors")["GroupId"]
    sso.create_account_assignment(InstanceArn=instance["InstanceArn"], TargetId=org["prod"], TargetType="AWS_ACCOUNT",
                                  PermissionSetArn=auditors, PrincipalType="GROUP", PrincipalId=group)
    prod = session_in(org["prod"]).client("iam")
    drifted = _reserved_role(prod, org["prod"], "Auditors", "9f8e7d6c5b4a3f2e", [])
    prod.put_role_policy(RoleName=drifted, PolicyName="break-glass", PolicyDocument=json.dumps(  # by hand
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}))

    code, out, err = run("audit-account", "--organization", "--accounts", f"{MANAGEMENT},{org['prod']}",
                         "--rules", "sso_reserved_role_drift", "--format", "jsonl")
    assert code == 0, err
    assert [(f["rule_id"], f["resource_id"]) for f in findings(out)] == [
        ("sso_reserved_role_drift",
         f"arn:aws:iam::{org['prod']}:role/aws-reserved/sso.amazonaws.com/{drifted}")]


def test_the_organisation_audit_writes_every_report_over_http(monkeypatch, tmp_path):
    """Issue 17, done when: three accounts behind a moto server, the CLI assuming the member role in each;
    ``--output-dir`` writes jsonl, csv, ocsf, html and md; every OCSF event validates; the HTML report renders in
    headless chromium and shows each audited account, the totals and the compliance table."""
    import csv
    import socket
    import urllib.request

    from moto.server import ThreadedMotoServer
    from report_checks import Dom, assert_valid_ocsf, browse

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    out_dir = tmp_path / "out"
    try:
        monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{port}")
        with emulator_gaps():
            ids = build_org_world()
            with assume_role_needs_the_role():
                code, out, err = run("audit-account", "--organization", "--evidence", "--format", "jsonl",
                                     "--output-dir", str(out_dir))
    finally:
        urllib.request.urlopen(urllib.request.Request(f"http://127.0.0.1:{port}/moto-api/reset", method="POST"))
        server.stop()
    assert code == 4, err  # sandbox has no member role: named, the others audited
    audited = {MANAGEMENT, ids["prod"]}
    assert sorted(path.name for path in out_dir.iterdir()) == [
        "findings.csv", "findings.jsonl", "findings.ocsf.json", "report.html", "report.md"]

    lines = [json.loads(line) for line in (out_dir / "findings.jsonl").read_text().splitlines()]
    assert lines == findings(out)  # the file holds what stdout printed
    failed = [line for line in lines if line.get("compliance_status", "FAILED") == "FAILED"]
    assert failed and {line["account_id"] for line in failed} == audited
    rows = list(csv.DictReader((out_dir / "findings.csv").open(newline="")))
    assert len(rows) == len(lines)
    events = json.loads((out_dir / "findings.ocsf.json").read_text())
    assert len(events) == len(lines) and {event["class_uid"] for event in events} == {2003}  # Compliance Finding
    for event in events:
        assert_valid_ocsf(event)
    markdown = (out_dir / "report.md").read_text()
    assert all(account in markdown for account in audited)

    dom_text = browse(out_dir / "report.html", tmp_path / "profile", "--dump-dom").stdout
    dom = Dom()
    dom.feed(dom_text)
    text = "".join(dom.text)
    assert "script" not in dom.tags
    assert int(dom.by_key["total-findings"]) == len(failed)
    assert all(account in text for account in audited)
    assert "Compliance: CIS and FSBP controls" in text and "root_mfa_not_enabled" in text
    # review: an account not read is named, and no control passes over it (INCOMPLETE instead)
    assert "Not covered by this run" in text and f"account {ids['sandbox']} (sandbox) not audited" in text
    statuses = re.findall(r'<tr data-control="[^"]+"><td><strong>[^<]+</strong></td><td><span class="status" '
                          r'data-status="([A-Z ]+)"', dom_text)  # each control's verdict (not its evidence rows)
    assert "INCOMPLETE" in statuses and "PASS" not in statuses and "FAIL" in statuses
    assert "Not covered by this run" in markdown and f"account {ids['sandbox']} \\(sandbox\\) not audited" in markdown
    assert "| PASS |" not in markdown and "| INCOMPLETE |" in markdown
