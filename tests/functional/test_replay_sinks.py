"""``identity-auditor evaluate --sink securityhub,sns``: the replay's findings published into the account of
the credentials (STS) and the session's region, against moto (Security Hub, and SNS with a subscribed SQS
queue to see the alerts)."""

from __future__ import annotations

import io
import json

import pytest
from identity_auditor.cli.main import main
from support import CORPUS, INVICTUS_CRITICAL, INVICTUS_FINDINGS, create_emulated_account

INVICTUS = CORPUS / "invictus"
HOME_ACCOUNT = "123456789012"  # moto's
PRODUCT_ARN = f"arn:aws:securityhub:us-east-1:{HOME_ACCOUNT}:product/{HOME_ACCOUNT}/default"


def run(*argv: object) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main([str(arg) for arg in argv], stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def jsonl(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines()]


@pytest.fixture
def account(monkeypatch):
    from moto import mock_aws

    for name in ("FINDINGS_TOPIC_ARN", "SECURITY_HUB_PRODUCT_ARN", "ALERT_FORMAT", "POLICY_APPCONFIG"):
        monkeypatch.delenv(name, raising=False)
    with mock_aws():
        yield create_emulated_account()


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_findings_go_to_security_hub_and_sns(account, jobs):
    code, out, err = run("evaluate", INVICTUS, "--format", "jsonl", "--jobs", jobs,
                         "--sink", "securityhub,sns", "--topic-arn", account.topic_arn)
    assert code == 0, err
    findings = jsonl(out)
    assert len(findings) == INVICTUS_FINDINGS
    imported = account.findings()
    assert sorted(f["Id"] for f in imported) == sorted(f["finding_id"] for f in findings)
    assert {f["ProductArn"] for f in imported} == {PRODUCT_ARN}
    assert {f["AwsAccountId"] for f in imported} == {"123837392027"}  # the finding's account, not the home one
    alerts = account.alerts()
    assert len(alerts) == len(findings)
    assert {a["MessageAttributes"]["rule_id"]["Value"] for a in alerts} == {f["rule_id"] for f in findings}
    assert (f"identity-auditor: {INVICTUS_FINDINGS} findings imported into Security Hub, {INVICTUS_FINDINGS} alerts "
            "sent to SNS "
            f"({HOME_ACCOUNT}, us-east-1)") in err


def test_every_finding_is_published_whatever_min_severity_shows(account):
    code, out, err = run("evaluate", INVICTUS, "--format", "jsonl", "--jobs", "1", "--min-severity", "critical",
                         "--sink", "securityhub")
    assert code == 0, err
    assert len(jsonl(out)) == INVICTUS_CRITICAL
    assert len(account.findings()) == INVICTUS_FINDINGS
    assert account.alerts() == []  # no sns sink asked for


def test_suppressed_findings_go_to_security_hub_but_do_not_page(account, tmp_path, monkeypatch):
    policy = tmp_path / "policy.yaml"
    policy.write_text("rules:\n  iam_user_created:\n    suppress:\n"
                      "      - {resource: 'arn:aws:iam::123837392027:user/*', reason: lab, owner: sec, "
                      "expires: 2999-12-31}\n")
    monkeypatch.setenv("FINDINGS_TOPIC_ARN", account.topic_arn)  # the topic from the environment
    code, out, err = run("evaluate", INVICTUS, "--format", "jsonl", "--jobs", "1", "--policy", policy,
                         "--sink", "sns,securityhub")
    assert code == 0, err
    findings = jsonl(out)
    suppressed = [f for f in findings if f["suppression"]]
    assert len(suppressed) == 4
    imported = {f["Id"]: f for f in account.findings()}
    assert len(imported) == INVICTUS_FINDINGS
    assert {imported[f["finding_id"]]["Workflow"]["Status"] for f in suppressed} == {"SUPPRESSED"}
    assert len(account.alerts()) == INVICTUS_FINDINGS - 4
    assert (f"{INVICTUS_FINDINGS} findings imported into Security Hub, {INVICTUS_FINDINGS - 4} alerts sent "
            "to SNS") in err


def test_product_arn_option_is_used_for_the_import(account):
    arn = f"arn:aws:securityhub:us-east-1:{HOME_ACCOUNT}:product/{HOME_ACCOUNT}/replay"
    code, _, err = run("evaluate", INVICTUS, "--jobs", "1", "--sink", "securityhub", "--product-arn", arn)
    assert code == 0, err
    assert {f["ProductArn"] for f in account.findings()} == {arn}


def test_a_publishing_error_exits_4_after_printing_the_findings(account):
    missing = f"arn:aws:sns:us-east-1:{HOME_ACCOUNT}:no-such-topic"
    code, out, err = run("evaluate", INVICTUS, "--format", "jsonl", "--jobs", "1",
                         "--sink", "securityhub,sns", "--topic-arn", missing, "--fail-on", "low")
    assert code == 4  # AWS refused: not a bug in the auditor
    assert len(jsonl(out)) == INVICTUS_FINDINGS  # still printed
    assert "identity-auditor: could not publish the findings: sns: " in err
    assert "NotFound" in err
    assert len(account.findings()) == INVICTUS_FINDINGS  # Security Hub still got them
    # review: and says so, so that nobody reruns it for Security Hub's sake and pages everyone again
    assert f"(delivered all the same: {INVICTUS_FINDINGS} findings imported into Security Hub)" in err


def test_no_findings_nothing_to_publish(account, tmp_path):
    quiet = tmp_path / "quiet.json"
    quiet.write_text(json.dumps({"Records": []}))
    code, out, err = run("evaluate", quiet, "--sink", "securityhub,sns", "--topic-arn", account.topic_arn)
    assert code == 0, err
    assert "no findings to publish" in err
    assert account.findings() == [] and account.alerts() == []


def test_sns_without_a_topic_is_an_error_before_reading(account):
    code, out, err = run("evaluate", INVICTUS, "--sink", "sns")
    assert code == 2
    assert out == ""
    assert "--sink sns needs a topic: --topic-arn ARN or FINDINGS_TOPIC_ARN" in err


@pytest.mark.parametrize(("argv", "message"), [
    (["--sink", "slack"], "invalid sink list 'slack'"),
    (["--sink", ","], "invalid sink list ','"),
    (["--sink", "sns", "--topic-arn", "my-topic"], "'my-topic' is not an SNS topic ARN"),
])
def test_bad_sink_options_are_argparse_errors(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["evaluate", str(INVICTUS), *argv], stdout=io.StringIO(), stderr=io.StringIO())
    assert exit_.value.code == 2
    assert message in capsys.readouterr().err


def test_no_region_is_a_publishing_error(account, monkeypatch):
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/dev/null")
    code, out, err = run("evaluate", INVICTUS, "--format", "jsonl", "--jobs", "1", "--sink", "securityhub")
    assert code == 4
    assert len(jsonl(out)) == INVICTUS_FINDINGS
    assert "could not publish the findings: no AWS region: set AWS_REGION or AWS_DEFAULT_REGION" in err
