"""Sequences through the CloudTrail handler, end to end against moto (spec §E): the steps arrive as separate
invocations, out of order and one of them twice, and exactly one sequence finding reaches Security Hub and one
alert the subscriber; a success that completes the guess raises it once more; and with the sequence state failing,
the event's own findings are still delivered and the invocation fails (to be retried), counted in SequenceErrors."""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta, timezone

import boto3
import pytest
import support
from asff_validator import assert_valid_asff
from identity_auditor.archive.inputs import as_eventbridge
from identity_auditor.engine.sequences import SequenceStoreError
from sequence_support import at

FAILED = support.load_sample("signin_console_login_unknown_user_failed")["detail"]
SUCCESS = support.load_sample("signin_console_login_iam_user_without_mfa")["detail"]
ACCOUNT, ADDRESS = FAILED["recipientAccountId"], FAILED["sourceIPAddress"]
T0 = datetime(2026, 11, 21, 9, 0, tzinfo=timezone.utc)


def events(count: int = 10) -> list[dict]:
    return [as_eventbridge(at(FAILED, T0 + timedelta(minutes=i), f"0e3b4c5d-0000-4000-8000-{i:012d}"))
            for i in range(count)]


def success() -> dict:
    record = at(SUCCESS, T0 + timedelta(minutes=11), "0e3b4c5d-0000-4000-8000-999999999999", sourceIPAddress=ADDRESS,
                recipientAccountId=ACCOUNT, userIdentity={**SUCCESS["userIdentity"], "accountId": ACCOUNT,
                                                          "arn": f"arn:aws:iam::{ACCOUNT}:user/jane"})
    return as_eventbridge(record)


def sequence_findings(account) -> list[dict]:
    return [f for f in account.findings() if f["GeneratorId"] == "signin_console_brute_force"]


def test_steps_out_of_order_and_twice_give_one_finding_and_one_alert(module, account, lambda_context):
    steps = events()
    arrivals = steps + [steps[3]]
    random.Random(7).shuffle(arrivals)
    results = [module.handler(event, lambda_context) for event in arrivals]
    raised = [finding for result in results for finding in result["findings"]]
    assert len(raised) == 1 and raised[0].startswith(f"signin_console_brute_force/{ACCOUNT}/")
    [finding] = sequence_findings(account)
    assert_valid_asff(finding)
    assert finding["Severity"]["Label"] == "HIGH" and finding["Id"] == raised[0]
    assert finding["ProductFields"]["identity-auditor/Detail/Steps"] == "10"
    linked = finding["ProductFields"]["identity-auditor/Detail/StepEventIds"].split(", ")
    assert sorted(linked) == sorted(e["detail"]["eventID"] for e in steps)
    [alert] = account.alerts()
    assert alert["MessageAttributes"]["rule_id"]["Value"] == "signin_console_brute_force"
    assert f"from {ADDRESS}" in alert["Message"]

    # A cold start later (another container): the same state, so the redelivered steps raise nothing new...
    again = support.load_handler_module("sequences_second_container")
    assert [again.handler(event, lambda_context)["findings"] for event in steps[:3]] == [[], [], []]
    # ...and the success that follows raises it once more, CRITICAL, the same finding, paged again.
    result = again.handler(success(), lambda_context)
    assert raised[0] in result["findings"]
    [updated] = sequence_findings(account)
    assert updated["Severity"]["Label"] == "CRITICAL"
    rules = sorted(a["MessageAttributes"]["rule_id"]["Value"] for a in account.alerts())
    assert rules == ["signin_console_brute_force", "signin_console_login_without_mfa"]


def test_a_failing_sequence_state_loses_nothing(module, account, lambda_context, monkeypatch, capsys):
    """DynamoDB refuses the sequence write: the login's own finding (no MFA) is still imported and paged, the
    invocation fails (Lambda retries it, then the dead-letter queue keeps it) and SequenceErrors counts it; the
    retry, once the table answers, records the step and pages nothing twice."""
    def refuse(*args, **kwargs):
        raise SequenceStoreError("DynamoDB update_item on table identity-auditor-idempotency failed: "
                                 "ProvisionedThroughputExceededException: slow down")

    monkeypatch.setattr(module.SEQUENCES.store, "add", refuse)
    event = success()
    with pytest.raises(SequenceStoreError, match="ProvisionedThroughputExceededException"):
        module.handler(event, lambda_context)
    [finding] = account.findings()
    assert finding["GeneratorId"] == "signin_console_login_without_mfa"
    [alert] = account.alerts()
    metrics = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith('{"_aws"')]
    assert any(document.get("SequenceErrors") == [1.0] for document in metrics)

    monkeypatch.undo()
    result = module.handler(event, lambda_context)  # Lambda's retry
    assert result["ruleErrors"] == []
    assert account.alerts() == []  # the finding was already paged
    items = boto3.client("dynamodb", region_name="us-east-1").scan(TableName=account.table_name)["Items"]
    assert any(item["id"]["S"].startswith("identity-auditor#sequence#signin_console_brute_force#") for item in items)
