"""The CloudTrailEvaluator Lambda handler end to end, against an emulated account (moto): real
invictus CloudTrail records in EventBridge envelopes -> engine -> Security Hub findings and SNS alerts
(read back from an SQS queue subscribed to the topic, raw delivery off, so the SNS envelope with its
Subject and MessageAttributes is visible).

The handler module reads its settings at import and builds its sinks once per module: every test
sets the environment first and loads a fresh module.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import sys
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError
from pydantic import ValidationError

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/ holds the shared helpers
import support  # noqa: E402
from asff_validator import assert_valid_asff  # noqa: E402
from identity_auditor.engine.events import Engine  # noqa: E402
from identity_auditor.engine.registry import REGISTRY, Registry, Rule  # noqa: E402
from identity_auditor.sinks import SinkError  # noqa: E402

REGION = "us-east-1"
HOME_ACCOUNT = "123456789012"  # the account moto answers as; the function ARN in FakeLambdaContext
EVENT_ACCOUNT = "123837392027"  # the account of the invictus archive
PRODUCT_ARN = f"arn:aws:securityhub:{REGION}:{HOME_ACCOUNT}:product/{HOME_ACCOUNT}/default"

LOGIN_WITHOUT_MFA = "70e5932e-9022-4b38-837e-ca10dad94eb7"
LOGIN_WITH_MFA = "8feee4c2-5e27-4857-8475-bfa7e7b6d791"
USER = "stratus-red-team-nmfalu-gfjyeaypjt"
USER_ARN = f"arn:aws:iam::{EVENT_ACCOUNT}:user/{USER}"
RULE = "signin_console_login_without_mfa"
FINDING_ID = f"{RULE}/{EVENT_ACCOUNT}/{REGION}/c12613ae38ec8130/{LOGIN_WITHOUT_MFA}"
SUBJECT = f"[HIGH] Console login without MFA: {USER} in {EVENT_ACCOUNT}"


event_for = support.invictus_event


class _CurrentStdout:
    """A stream that writes to whatever ``sys.stdout`` is at the time of writing (capsys's, in a test)."""

    def write(self, text: str) -> int:
        return sys.stdout.write(text)

    def flush(self) -> None:
        sys.stdout.flush()


@pytest.fixture
def logs_to_capsys(module, capsys):
    """Make the Powertools log output visible to capsys for this test.

    Powertools' Logger configures the handler of a service once per process, keeping the
    ``sys.stdout`` of that moment (later ``Logger()`` calls, i.e. fresh handler modules, reuse it);
    capsys replaces and closes its own stdout per test. So route the handler through the current
    ``sys.stdout`` while the test runs, and put the old stream back afterwards if it is still usable.
    """
    handler = module.logger.registered_handler
    previous = handler.stream
    handler.setStream(_CurrentStdout())
    yield capsys
    if not getattr(previous, "closed", False):
        handler.setStream(previous)


def stdout_json(text: str) -> list[dict]:
    documents = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("{"):
            try:
                documents.append(json.loads(line))
            except json.JSONDecodeError:
                pass
    return documents


def emf_metrics(documents: list[dict]) -> dict[str, float]:
    """Metric name -> value summed over the EMF documents printed by Powertools Metrics."""
    values: dict[str, float] = {}
    for document in documents:
        for directive in document.get("_aws", {}).get("CloudWatchMetrics", []):
            for metric in directive["Metrics"]:
                value = document[metric["Name"]]
                total = sum(value if isinstance(value, list) else [value])
                values[metric["Name"]] = values.get(metric["Name"], 0) + total
    return values


# -- findings --------------------------------------------------------------------------------------


def test_login_without_mfa_is_imported_and_alerted(module, account, lambda_context):
    result = module.handler(event_for(LOGIN_WITHOUT_MFA), lambda_context)

    assert result["eventId"] == LOGIN_WITHOUT_MFA
    assert result["findings"] == [FINDING_ID]
    assert result["ruleErrors"] == []
    assert result["delivered"] == {"securityhub": 1, "sns": 1}

    (finding,) = account.findings()
    assert_valid_asff(finding)
    assert finding["Id"] == FINDING_ID
    assert FINDING_ID.split("/")[3] == hashlib.sha256(USER_ARN.encode()).hexdigest()[:16]
    assert finding["GeneratorId"] == RULE
    assert finding["ProductArn"] == PRODUCT_ARN
    assert finding["AwsAccountId"] == EVENT_ACCOUNT
    assert finding["Severity"]["Label"] == "HIGH"
    assert finding["FindingProviderFields"]["Severity"]["Label"] == "HIGH"
    assert finding["Types"] == [
        "Software and Configuration Checks/Industry and Regulatory Standards/CIS AWS Foundations Benchmark",
        "TTPs/Initial Access",
    ]
    assert finding["Resources"][0]["Id"] == USER_ARN
    assert finding["Resources"][0]["Type"] == "AwsIamUser"
    assert finding["FirstObservedAt"] == "2023-07-10T12:23:15.000Z"
    assert finding["Compliance"]["Status"] == "FAILED"
    assert finding["RecordState"] == "ACTIVE"

    (alert,) = account.alerts()
    assert alert["Type"] == "Notification"
    assert alert["TopicArn"] == account.topic_arn
    assert alert["Subject"] == SUBJECT
    assert alert["MessageAttributes"] == {
        "severity": {"Type": "String", "Value": "HIGH"},
        "severity_rank": {"Type": "Number", "Value": "3"},
        "rule_id": {"Type": "String", "Value": RULE},
        "account_id": {"Type": "String", "Value": EVENT_ACCOUNT},
    }
    body = alert["Message"]
    assert f"Who:           {USER} (IAMUser)" in body
    assert f"Where:         account {EVENT_ACCOUNT}, region {REGION}" in body
    assert f"Security Hub finding: {FINDING_ID}" in body


def test_an_event_that_breaks_no_rule_and_is_no_step_needs_no_client(module, account, lambda_context, monkeypatch):
    def no_client(*args, **kwargs):
        raise AssertionError("a boto3 client was created for an event without findings")

    monkeypatch.setattr(boto3, "client", no_client)
    monkeypatch.setattr(boto3.session.Session, "client", no_client)
    event = support.load_sample("ec2_run_instances_imdsv2_required__constructed")

    result = module.handler(event, lambda_context)

    monkeypatch.undo()  # let the checks below use the fixture's clients normally
    assert result == {"eventId": event["detail"]["eventID"], "findings": [], "ruleErrors": [], "delivered": {}}
    assert not module.DELIVERY.sinks_built
    assert account.findings() == []
    assert account.alerts() == []


def test_a_login_with_mfa_finds_nothing_but_is_kept_as_a_sequence_step(module, account, lambda_context):
    """A console sign-in is a step of the sign-in sequences (spec §E): it touches the sequence state (one
    DynamoDB write), and builds no sink."""
    result = module.handler(event_for(LOGIN_WITH_MFA), lambda_context)
    assert result == {"eventId": LOGIN_WITH_MFA, "findings": [], "ruleErrors": [], "delivered": {}}
    assert not module.DELIVERY.sinks_built
    assert module.SEQUENCES.store.calls >= 1
    items = boto3.client("dynamodb", region_name=REGION).scan(TableName=account.table_name)["Items"]
    assert any(item["id"]["S"].startswith("identity-auditor#sequence#") for item in items)


def test_redelivered_event_updates_the_same_finding(module, account, lambda_context):
    first = module.handler(event_for(LOGIN_WITHOUT_MFA), lambda_context)
    second = module.handler(event_for(LOGIN_WITHOUT_MFA), lambda_context)

    assert first["findings"] == second["findings"] == [FINDING_ID]
    (finding,) = account.findings()
    assert finding["Id"] == FINDING_ID
    assert_valid_asff(finding)


def test_redelivery_after_a_cold_start_updates_the_same_finding(account, lambda_context):
    support.load_handler_module().handler(event_for(LOGIN_WITHOUT_MFA), lambda_context)
    support.load_handler_module().handler(event_for(LOGIN_WITHOUT_MFA), lambda_context)

    assert [finding["Id"] for finding in account.findings()] == [FINDING_ID]


# -- bad input -------------------------------------------------------------------------------------


def _without_event_name(event: dict) -> dict:
    del event["detail"]["eventName"]
    return event


def _detail_as_string(event: dict) -> dict:
    event["detail"] = json.dumps(event["detail"])
    return event


def _without_detail(event: dict) -> dict:
    del event["detail"]
    return event


@pytest.mark.filterwarnings("ignore:No application metrics to publish:UserWarning")
@pytest.mark.parametrize("damage", [_without_event_name, _detail_as_string, _without_detail],
                         ids=["detail-without-eventName", "detail-is-a-string", "no-detail"])
def test_malformed_event_fails_the_invocation_and_publishes_nothing(module, account, lambda_context, damage):
    with pytest.raises(ValidationError):
        module.handler(damage(event_for(LOGIN_WITHOUT_MFA)), lambda_context)

    assert not module.DELIVERY.sinks_built
    assert account.findings() == []
    assert account.alerts() == []


@pytest.mark.filterwarnings("ignore:No application metrics to publish:UserWarning")
def test_an_event_without_an_aws_source_is_refused_as_forged(module, account, lambda_context):
    forged = event_for(LOGIN_WITHOUT_MFA)
    forged["source"] = "custom.signin"
    with pytest.raises(ValueError, match=f"refusing the event: its source 'custom.signin' is not an AWS service .*"
                                         f"eventID '{LOGIN_WITHOUT_MFA}'"):
        module.handler(forged, lambda_context)
    assert not module.DELIVERY.sinks_built and account.findings() == [] and account.alerts() == []


# -- failures ---------------------------------------------------------------------------------------


def test_a_broken_rule_does_not_hide_the_other_findings(module, account, lambda_context, logs_to_capsys):
    real = REGISTRY.get(RULE)

    def broken(record, ctx):
        raise RuntimeError("rule bug")

    broken_rule = Rule(meta=dataclasses.replace(real.meta, id="test_broken_rule"), evaluate=broken)
    module.ENGINE = Engine(Registry([broken_rule, *REGISTRY.rules]))  # the broken one runs first

    result = module.handler(event_for(LOGIN_WITHOUT_MFA), lambda_context)

    assert result["findings"] == [FINDING_ID]
    assert result["ruleErrors"] == ["test_broken_rule"]
    assert [finding["Id"] for finding in account.findings()] == [FINDING_ID]
    assert [alert["Subject"] for alert in account.alerts()] == [SUBJECT]
    documents = stdout_json(logs_to_capsys.readouterr().out)
    (error_log,) = [d for d in documents if d.get("rule_id") == "test_broken_rule"]
    assert error_log["level"] == "ERROR"
    assert error_log["event_id"] == LOGIN_WITHOUT_MFA
    assert error_log["correlation_id"] == LOGIN_WITHOUT_MFA
    assert "RuntimeError: rule bug" in error_log.get("exception", "")
    metrics = emf_metrics(documents)
    assert metrics.get("RuleErrors") == 1
    assert metrics.get("Findings") == 1


def test_security_hub_failure_still_sends_the_alert_and_fails(module, account, lambda_context, monkeypatch):
    sinks = module.DELIVERY.sinks(lambda_context)
    (hub,) = [sink for sink in sinks if sink.name == "securityhub"]

    def denied(**kwargs):
        raise ClientError(
            {"Error": {"Code": "AccessDeniedException", "Message": "not subscribed to AWS Security Hub"},
             "ResponseMetadata": {"HTTPStatusCode": 403}},
            "BatchImportFindings",
        )

    monkeypatch.setattr(hub.client, "batch_import_findings", denied)

    with pytest.raises(SinkError) as raised:
        module.handler(event_for(LOGIN_WITHOUT_MFA), lambda_context)

    assert "securityhub" in str(raised.value)
    assert "AccessDeniedException" in str(raised.value)
    assert [alert["Subject"] for alert in account.alerts()] == [SUBJECT]
    assert account.findings() == []


# -- observability ----------------------------------------------------------------------------------


def test_logs_carry_the_event_id_and_metrics_count_findings(module, account, lambda_context, logs_to_capsys):
    module.handler(event_for(LOGIN_WITHOUT_MFA), lambda_context)

    documents = stdout_json(logs_to_capsys.readouterr().out)
    logs = [document for document in documents if "message" in document]
    finding_logs = [log for log in logs if log["message"] == "finding"]
    assert len(finding_logs) == 1, logs
    log = finding_logs[0]
    assert log["correlation_id"] == LOGIN_WITHOUT_MFA
    assert log["finding_id"] == FINDING_ID
    assert log["rule_id"] == RULE
    assert log["severity"] == "HIGH"
    assert log["event_name"] == "ConsoleLogin"
    assert log["function_request_id"] == lambda_context.aws_request_id

    # what the log group says already is not repeated on every line (issue 18: the log is what an event costs)
    assert not {"service", "cold_start", "function_name", "function_arn", "function_memory_size", "location",
                "suppressed"} & set(log), log

    # one rule, one severity: Findings by service and by (rule_id, severity, service) in one document
    metrics = emf_metrics(documents)
    assert metrics["Findings"] == 1
    assert "EventsEvaluated" not in metrics  # Lambda's Invocations metric counts events: no EMF document per event
    (emf,) = [document for document in documents if "Findings" in document]
    (directive,) = emf["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == "IdentityAuditorTests"
    assert directive["Dimensions"] == [["service"], ["rule_id", "severity", "service"]]
    assert (emf["rule_id"], emf["severity"], emf["Findings"]) == (RULE, "HIGH", [1.0])


def test_findings_of_several_rules_are_counted_by_rule(module, account, lambda_context, logs_to_capsys):
    """A root console login without MFA breaks two rules at two severities: the total by service, and each
    (rule_id, severity) in a document of its own (a shared document would count one rule's findings for both)."""
    event = support.load_sample("signin_console_login_root_without_mfa.json")
    assert len(module.handler(event, lambda_context)["findings"]) == 2

    documents = [d for d in stdout_json(logs_to_capsys.readouterr().out) if "Findings" in d]
    counted = {}
    for document in documents:
        (directive,) = document["_aws"]["CloudWatchMetrics"]
        for dimensions in directive["Dimensions"]:
            key = tuple((name, document[name]) for name in dimensions)
            counted[key] = counted.get(key, 0) + sum(document["Findings"])
    service = ("service", "identity-auditor")
    assert counted == {
        (service,): 2,
        (("rule_id", "root_account_used"), ("severity", "HIGH"), service): 1,
        (("rule_id", "signin_console_login_without_mfa"), ("severity", "CRITICAL"), service): 1,
    }


def test_an_event_that_breaks_no_rule_writes_nothing_to_the_log(module, account, lambda_context, logs_to_capsys):
    """Issue 18: CloudWatch Logs is most of what an event costs. A quiet event writes no line, no EMF document and
    no warning (the platform's START/END/REPORT lines are turned off by the template's SystemLogLevel)."""
    quiet = support.load_sample("ec2_start_instances.json")  # admitted (ImDS rules), breaks none, no sequence step
    assert module.handler(quiet, lambda_context)["findings"] == []
    captured = logs_to_capsys.readouterr()
    assert captured.out == "" and captured.err == ""


def test_an_aws_health_scim_token_warning_is_imported_and_alerted(module, account, lambda_context):
    """AWS Health events reach the same handler (their own EventBridge pattern) and are read as records."""
    envelope = json.loads((support.ROOT / "events" / "health" /
                           "sso_scim_token_expiring_in_10_days__constructed.json").read_text())
    result = module.handler(envelope, lambda_context)
    assert result["ruleErrors"] == [] and result["delivered"] == {"securityhub": 1, "sns": 1}
    (finding,) = account.findings()
    assert_valid_asff(finding)
    assert (finding["GeneratorId"], finding["AwsAccountId"]) == ("sso_scim_token_expiring", HOME_ACCOUNT)
    assert finding["Resources"][0]["Id"] == "arn:aws:sso:::instance/ssoins-72230a4b5c6d7e8f"
    (alert,) = account.alerts()
    assert "SCIM" in alert["Subject"]
    assert module.handler(envelope, lambda_context)["findings"] == result["findings"]  # redelivery: same finding
    assert account.alerts() == []  # and no second page (the first was read above)


def test_tampering_with_the_deployments_own_rule_is_critical_and_another_stacks_is_not(account, lambda_context,
                                                                                       monkeypatch):
    """The handler knows the auditor's own resources from its stack name (AUDITOR_STACK_NAME, set by the template):
    disabling the stack's EventBridge rule pages; the same call on a rule of another stack does not."""
    monkeypatch.setenv("AUDITOR_STACK_NAME", "identity-auditor")
    handler = support.load_handler_module().handler
    own = support.load_sample("events_disable_rule_auditor_route__constructed")
    assert own["detail"]["requestParameters"]["name"].startswith("identity-auditor-")
    result = handler(own, lambda_context)
    assert [f.split("/")[0] for f in result["findings"]] == ["auditor_pipeline_tampered"]
    (finding,) = account.findings()
    assert finding["Severity"]["Label"] == "CRITICAL"
    other = json.loads(json.dumps(own))
    other["detail"]["eventID"] = "0b8f3c1e-2d4a-4e6b-8c0d-1f2e3a4b5c6d"
    other["detail"]["requestParameters"]["name"] = "payments-nightly-batch"
    assert handler(other, lambda_context)["findings"] == []
    monkeypatch.delenv("AUDITOR_STACK_NAME")
    assert support.load_handler_module().handler(own, lambda_context)["findings"] == []  # a stack it does not know
