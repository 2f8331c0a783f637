"""The heartbeat: a scheduled test message through the whole delivery path, and an alarm when it stops (issue 16).

An auditor that stops paging looked exactly like a quiet account: nothing went through the pipeline unless a
finding did, and every alarm treated missing data as fine. Now the stack's scheduled rule ``<stack>-heartbeat``
invokes the CloudTrail evaluator; the evaluator recognises that event exactly and queues a heartbeat (signed like
every findings message); the publisher verifies it, never imports it, publishes it to the findings topic with the
``heartbeat`` message attribute, and counts ``HeartbeatsDelivered`` once SNS accepted it. ``HeartbeatMissingAlarm``
fires when that count stays below one for two periods, missing data included.

The deployment is emulated as in the other reliability suites (moto: KMS HMAC key, SQS with its dead-letter
redrive, Security Hub, SNS, DynamoDB; tests/pipeline.py plays Lambda's SQS event source). The alert e-mail is an
SQS queue subscribed to the findings topic with the filter policy template.yaml builds for AlertEmailSubscription
(at its loosest, AlertMinimumSeverity=INFORMATIONAL), so moto's SNS applies it as SNS would. Metrics are read from
the handlers' CloudWatch embedded metric format output.
"""

from __future__ import annotations

import json
from collections import Counter

import boto3
import pytest
from moto.sns.utils import FilterPolicyMatcher
from identity_auditor.delivery.heartbeat import HEARTBEAT_ATTRIBUTE, HEARTBEATS_DELIVERED_METRIC
from pipeline import error_response, inject, record_ledger
from support import FakeLambdaContext, invictus_event, load_handler_module, load_template

HOME = "123456789012"
STACK = "identity-auditor"
HEARTBEAT_RULE = f"arn:aws:events:us-east-1:{HOME}:rule/{STACK}-heartbeat"
LOGIN_WITHOUT_MFA = "70e5932e-9022-4b38-837e-ca10dad94eb7"  # a real console login without MFA: pages
TEMPLATE = load_template()


def scheduled_event(rule_arn: str = HEARTBEAT_RULE, **fields) -> dict:
    """A scheduled event as EventBridge delivers it (the EventBridge User Guide's "Scheduled Event" example)."""
    return {"version": "0", "id": "89d1a02d-5ec7-412e-82f5-13505f849b41", "detail-type": "Scheduled Event",
            "source": "aws.events", "account": HOME, "time": "2026-11-23T10:30:00Z", "region": "us-east-1",
            "resources": [rule_arn], "detail": {}, **fields}


@pytest.fixture
def evaluator(signed):
    return load_handler_module("cloudtrail_evaluator_heartbeat")


@pytest.fixture
def alert_email(account) -> str:
    """The AlertEmail subscription: a queue subscribed with the template's filter policy (loosest severity)."""
    subscription = TEMPLATE["Resources"]["AlertEmailSubscription"]["Properties"]
    policy = resolve(subscription["FilterPolicy"], minimum_rank=0)
    sqs = boto3.client("sqs", region_name="us-east-1")
    url = sqs.create_queue(QueueName="alert-email")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    boto3.client("sns", region_name="us-east-1").subscribe(
        TopicArn=account.topic_arn, Protocol="sqs", Endpoint=arn,
        Attributes={"FilterPolicy": json.dumps(policy), "FilterPolicyScope": subscription["FilterPolicyScope"]})
    return url


def resolve(value, *, minimum_rank: int):
    """The filter policy as CloudFormation resolves it, with AlertMinimumSeverity's rank."""
    if isinstance(value, dict):
        if set(value) == {"Fn::FindInMap"}:
            assert value["Fn::FindInMap"][0] == "SeverityRank"
            return minimum_rank
        return {key: resolve(item, minimum_rank=minimum_rank) for key, item in value.items()}
    if isinstance(value, list):
        return [resolve(item, minimum_rank=minimum_rank) for item in value]
    return value


def received(url: str) -> list[dict]:
    sqs = boto3.client("sqs", region_name="us-east-1")
    bodies = []
    while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages"):
        for message in messages:
            bodies.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return bodies


def metric(out: str, name: str) -> int:
    """The total of one metric in the handlers' CloudWatch embedded metric format output."""
    total = 0
    for line in out.splitlines():
        if line.startswith("{") and '"_aws"' in line:
            value = json.loads(line).get(name, 0)
            total += sum(value) if isinstance(value, list) else value
    return int(total)


def in_security_hub(account) -> int:
    return sum(len(page["Findings"]) for page in account.securityhub.get_paginator("get_findings").paginate())


def heartbeat_alarm() -> dict:
    return TEMPLATE["Resources"]["HeartbeatMissingAlarm"]["Properties"]


# -- the scenarios ------------------------------------------------------------------------------------


def test_a_heartbeat_goes_through_the_pipeline_to_the_topic_and_pages_nobody(
        signed, evaluator, account, alert_email, capsys):
    result = evaluator.handler(scheduled_event(), FakeLambdaContext())
    assert result["heartbeat"] is True and result["findings"] == []
    assert signed.depth() == 1  # one signed message on the findings queue
    run = signed.drain()

    topic = account.alerts()
    assert len(topic) == 1, "one heartbeat on the findings topic"
    attributes = {name: value["Value"] for name, value in topic[0]["MessageAttributes"].items()}
    assert attributes[HEARTBEAT_ATTRIBUTE] == "true" and "severity_rank" not in attributes
    assert "test message" in topic[0]["Subject"].lower() and "not a finding" in topic[0]["Subject"].lower()
    out = capsys.readouterr().out
    assert metric(out, HEARTBEATS_DELIVERED_METRIC) == 1
    assert in_security_hub(account) == 0, "a heartbeat is never imported"
    assert received(alert_email) == [], "the alert e-mail's filter policy lets the heartbeat through"
    assert run.deleted == 1 and signed.depth() == 0 and signed.dead_letters() == []
    # the heartbeat attribute alone keeps it out, whatever else a heartbeat might carry one day
    policy = FilterPolicyMatcher(resolve(TEMPLATE["Resources"]["AlertEmailSubscription"]["Properties"]["FilterPolicy"],
                                         minimum_rank=0), "MessageAttributes")
    as_sent = {name: {"Type": "String", "Value": value} for name, value in attributes.items()}
    critical = {"severity_rank": {"Type": "Number", "Value": "4"}}
    assert not policy.matches({**as_sent, **critical}, "") and policy.matches(critical, "")

    # the same subscription still gets a real finding, paged at the loosest severity: the filter is not just closed
    evaluator.handler(invictus_event(LOGIN_WITHOUT_MFA), FakeLambdaContext())
    signed.drain()
    paged = received(alert_email)
    assert len(paged) == 1 and HEARTBEAT_ATTRIBUTE not in paged[0]["MessageAttributes"]
    assert in_security_hub(account) == 1
    assert metric(capsys.readouterr().out, HEARTBEATS_DELIVERED_METRIC) == 0
    record_ledger("1 heartbeat in -> 1 on the findings topic (heartbeat=true), HeartbeatsDelivered 1, "
                  "0 in Security Hub, 0 to the alert e-mail; then 1 finding -> 1 alert e-mail")


# "evaluator-not-invoked" (the schedule disabled or deleted): nothing runs, so what it shows is the alarm's
# definition, which is what turns that silence into a page (missing data breaching)
@pytest.mark.parametrize("fault", ["evaluator-not-invoked", "findings-queue-refuses", "sns-refuses"])
def test_a_missing_heartbeat_emits_no_metric_and_the_alarm_treats_silence_as_breaching(
        signed, evaluator, account, fault, capsys):
    if fault == "findings-queue-refuses":  # the queue policy's explicit Deny, say, or the queue deleted
        evaluator.DELIVERY.sinks(FakeLambdaContext())  # build the evaluator's clients to break one
        inject(evaluator.DELIVERY.sinks(FakeLambdaContext())[0].client, "SendMessageBatch",
               lambda request: error_response(request, 403, "AccessDenied", "explicit deny in a resource-based policy"))
    if fault == "sns-refuses":
        publisher = signed.publisher_clients()
        publisher._sns = boto3.client("sns", region_name="us-east-1")
        inject(publisher._sns, "Publish",
               lambda request: error_response(request, 500, "InternalError", json_protocol=False))
    if fault != "evaluator-not-invoked":
        try:
            evaluator.handler(scheduled_event(), FakeLambdaContext())
        except Exception as error:  # noqa: BLE001 - the invocation fails: Lambda retries, then the dead-letter queue
            assert fault == "findings-queue-refuses", error

    run = signed.drain()

    out = capsys.readouterr().out
    assert metric(out, HEARTBEATS_DELIVERED_METRIC) == 0, "HeartbeatsDelivered counted without SNS accepting it"
    assert account.alerts() == [] and in_security_hub(account) == 0
    alarm = heartbeat_alarm()
    assert alarm["MetricName"] == HEARTBEATS_DELIVERED_METRIC and alarm["Namespace"] == "IdentityAuditor"
    assert alarm["Statistic"] == "Sum" and alarm["ComparisonOperator"] == "LessThanThreshold"
    assert alarm["Threshold"] == 1
    assert alarm["TreatMissingData"] == "breaching", "no data must be a missing heartbeat"
    assert alarm["AlarmActions"] == [{"Ref": "OperationsTopic"}]
    kept = len(signed.dead_letters())
    if fault == "sns-refuses":
        assert kept == 1 and run.returned == 10  # back to the queue on each receive, then dead-lettered whole
    else:
        assert kept == 0 and run.invocations == 0
    record_ledger(f"heartbeat, {fault} -> 0 on the topic, HeartbeatsDelivered 0 (no data), "
                  f"HeartbeatMissingAlarm breaching on missing data; {kept} on the findings DLQ")


@pytest.mark.parametrize("forged", [
    scheduled_event(f"arn:aws:events:us-east-1:{HOME}:rule/attacker-heartbeat"),
    scheduled_event(f"arn:aws:events:us-east-1:{HOME}:rule/{STACK}-organization/{STACK}-heartbeat"),
    scheduled_event(f"arn:aws:events:us-east-1:999999999999:rule/{STACK}-heartbeat", account="999999999999"),
    scheduled_event(resources=[HEARTBEAT_RULE, f"arn:aws:events:us-east-1:{HOME}:rule/other"]),
    scheduled_event(detail={"eventName": "ConsoleLogin"}),
], ids=["another-rule", "another-bus", "another-account", "two-rules", "with-a-detail"])
def test_a_forged_heartbeat_is_an_ordinary_event_that_produces_nothing(signed, evaluator, account, forged, capsys):
    """A direct lambda:InvokeFunction that imitates the heartbeat is refused like any event that is not a
    CloudTrail event; the genuine one, invoked the same way, is a heartbeat."""
    with pytest.raises(Exception, match="(?i)valid"):
        evaluator.handler(forged, FakeLambdaContext())
    assert signed.depth() == 0, "an imitation queued something"

    evaluator.handler(scheduled_event(), FakeLambdaContext())  # the stack's own rule
    signed.drain()
    assert len(account.alerts()) == 1
    assert metric(capsys.readouterr().out, HEARTBEATS_DELIVERED_METRIC) == 1
    record_ledger("1 forged heartbeat (direct invoke) -> refused as not a CloudTrail event, 0 queued; "
                  "the genuine one -> 1 heartbeat")


def test_the_heartbeat_rules_arn_cannot_make_the_evaluator_skip_a_real_event(signed, evaluator, account):
    """A real CloudTrail event carrying the heartbeat rule's ARN in ``resources`` is still evaluated and paged."""
    event = invictus_event(LOGIN_WITHOUT_MFA)
    event["resources"] = [HEARTBEAT_RULE]

    result = evaluator.handler(event, FakeLambdaContext())
    signed.drain()

    assert "heartbeat" not in result and len(result["findings"]) == 1
    assert in_security_hub(account) == 1
    sent = account.alerts()
    assert len(sent) == 1 and HEARTBEAT_ATTRIBUTE not in sent[0]["MessageAttributes"]
    evaluator.handler(scheduled_event(), FakeLambdaContext())  # and the genuine heartbeat is one
    signed.drain()
    assert Counter(HEARTBEAT_ATTRIBUTE in alert["MessageAttributes"] for alert in account.alerts()) == {True: 1}
    record_ledger("1 real event with the heartbeat rule's ARN -> evaluated, 1 in Security Hub, 1 alert; "
                  "then 1 heartbeat -> 1 heartbeat")


def test_a_disabled_routing_rule_is_counted_at_the_next_heartbeat(signed, evaluator, account, capsys, monkeypatch):
    """Review of issue 16: a disabled EventBridge rule cannot report itself (disabling the rule that routes
    EventBridge's own events first silences the finding about it). The heartbeat lists the stack's routing rules:
    ``RoutingRulesOff`` counts the disabled and the missing ones (RoutingRulesOffAlarm)."""
    from dataclasses import replace as replaced

    from identity_auditor.engine.registry import REGISTRY

    monkeypatch.setattr(evaluator, "SETTINGS", replaced(evaluator.SETTINGS, auditor_stack_name="identity-auditor"))
    events = boto3.client("events", region_name="us-east-1")
    regional = sorted(route.name for route in REGISTRY.routes() if route.scope == "regional")
    for name in regional:
        events.put_rule(Name=f"identity-auditor-{name}", EventPattern='{"source": [{"prefix": "aws."}]}')
    evaluator.handler(scheduled_event(), FakeLambdaContext())
    assert metric(capsys.readouterr().out, "RoutingRulesOff") == 0

    events.disable_rule(Name=f"identity-auditor-{regional[0]}")
    events.delete_rule(Name=f"identity-auditor-{regional[1]}")
    logged = []
    monkeypatch.setattr(evaluator.logger, "error", lambda message, **kwargs: logged.append(kwargs["extra"]["rules"]))
    evaluator.handler(scheduled_event(), FakeLambdaContext())
    out = capsys.readouterr().out
    assert metric(out, "RoutingRulesOff") == 2
    out = "\n".join(logged[0])
    assert f"identity-auditor-{regional[0]} (default: DISABLED)" in out
    assert f"identity-auditor-{regional[1]} (default: missing)" in out
    record_ledger("one routing rule disabled and one deleted -> RoutingRulesOff 2 at the next heartbeat "
                  "(RoutingRulesOffAlarm)")


def test_the_alert_subscriptions_are_counted_at_each_heartbeat(signed, evaluator, account, capsys):
    """Review of issue 16: an address unsubscribed with its e-mail's link leaves no CloudTrail record. The publisher
    counts the findings topic's confirmed e-mail subscriptions at each heartbeat (AlertSubscriptionMissingAlarm)."""
    sns = boto3.client("sns", region_name="us-east-1")
    topic = signed.publisher.SETTINGS.findings_topic_arn
    subscription = sns.subscribe(TopicArn=topic, Protocol="email", Endpoint="security@example.com",
                                 ReturnSubscriptionArn=True)["SubscriptionArn"]
    evaluator.handler(scheduled_event(), FakeLambdaContext())
    signed.drain()
    assert metric(capsys.readouterr().out, "AlertSubscriptions") == 1
    sns.unsubscribe(SubscriptionArn=subscription)
    evaluator.handler(scheduled_event(), FakeLambdaContext())
    signed.drain()
    assert metric(capsys.readouterr().out, "AlertSubscriptions") == 0
    record_ledger("alert e-mail unsubscribed -> AlertSubscriptions 1 -> 0 at the next heartbeat "
                  "(AlertSubscriptionMissingAlarm)")


def test_alert_subscriptions_that_cannot_be_counted_are_reported_as_none_and_the_heartbeat_still_counts(
        signed, evaluator, account, capsys):
    """ListSubscriptionsByTopic refused (the publisher's role lost sns:ListSubscriptionsByTopic, say): the heartbeat
    SNS accepted is still counted (HeartbeatsDelivered: no false HeartbeatMissingAlarm), and the subscriptions count
    0, so AlertSubscriptionMissingAlarm says that alerts may reach no one."""
    sns = boto3.client("sns", region_name="us-east-1")
    sns.subscribe(TopicArn=signed.publisher.SETTINGS.findings_topic_arn, Protocol="email",
                  Endpoint="security@example.com", ReturnSubscriptionArn=True)
    publisher = signed.publisher_clients()
    publisher._sns = boto3.client("sns", region_name="us-east-1")
    inject(publisher._sns, "ListSubscriptionsByTopic",
           lambda request: error_response(request, 403, "AuthorizationError", "not authorized to perform: "
                                          "SNS:ListSubscriptionsByTopic", json_protocol=False))
    evaluator.handler(scheduled_event(), FakeLambdaContext())
    run = signed.drain()
    out = capsys.readouterr().out
    assert metric(out, HEARTBEATS_DELIVERED_METRIC) == 1
    assert metric(out, "AlertSubscriptions") == 0 and '"AlertSubscriptions"' in out
    assert len(account.alerts()) == 1 and signed.dead_letters() == [] and run.returned == 0
    record_ledger("ListSubscriptionsByTopic refused at a heartbeat -> HeartbeatsDelivered 1, AlertSubscriptions 0 "
                  "(AlertSubscriptionMissingAlarm)")
