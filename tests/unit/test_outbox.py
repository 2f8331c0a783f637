"""The findings queue's message format and the evaluators' queue sink."""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime, timedelta, timezone

import pytest
from identity_auditor.aws.retry import RetryPolicy
from identity_auditor.model.findings import Suppression
from identity_auditor.sinks import SinkError, alerts
from identity_auditor.sinks.queue import Delivery, DeliveryError, QueueSink, alert_key, batches, delivery
from support import copies, findings_from, invictus_event

PRODUCT = "arn:aws:securityhub:us-east-1:123456789012:product/123456789012/default"
NOW = datetime(2026, 11, 23, 1, 0, tzinfo=timezone.utc)


@pytest.fixture
def finding():
    [found] = findings_from(invictus_event("70e5932e-9022-4b38-837e-ca10dad94eb7")["detail"])
    return found


def test_a_delivery_round_trips_through_json(finding):
    sent = delivery(finding, product_arn=PRODUCT, updated_at=NOW, page=True)
    received = Delivery.from_json(sent.to_json())
    assert received == sent
    assert received.asff["Id"] == finding.finding_id and received.asff["UpdatedAt"] == "2026-11-23T01:00:00.000Z"
    subject, message = alerts.render(finding, "email")
    assert received.alert["Subject"] == subject and received.alert["Message"] == message
    assert received.alert["MessageAttributes"] == alerts.attributes(finding)
    assert received.alert_key == finding.finding_id


def test_a_finding_that_does_not_page_carries_no_alert(finding):
    quiet = delivery(finding, product_arn=PRODUCT, updated_at=NOW, page=False)
    assert quiet.alert is None and quiet.alert_key is None
    assert Delivery.from_json(quiet.to_json()).alert is None


def test_an_event_finding_pages_once_ever_and_a_state_finding_once_per_evaluation(finding):
    assert alert_key(finding, "2026-11-23T01:00:00.000Z") == finding.finding_id
    state = dataclasses.replace(finding, event_id=None)
    tomorrow = dataclasses.replace(state, event_time=state.event_time + timedelta(days=1))
    assert alert_key(state, "2026-11-23T01:00:00.000Z") != alert_key(tomorrow, "2026-11-24T01:00:00.000Z")
    # a retry of the same Config invocation (the same evaluation time) queues the same key: it pages once
    assert alert_key(state, "2026-11-23T01:00:00.000Z") == alert_key(state, "2026-11-23T01:05:00.000Z")


@pytest.mark.parametrize("body, reason", [
    ("{not json", "not JSON"),
    ("[1, 2]", "expected a JSON object"),
    ('{"v": 2}', "unknown delivery version 2"),
    ('{"v": 1, "asff": {}}', "asff is missing or has no Id"),
    ('{"v": 1, "asff": {"Id": "x"}, "finding_id": "x", "rule_id": "r"}', "account_id is missing"),
    ('{"v": 1, "asff": {"Id": "x"}, "finding_id": "x", "rule_id": "r", "account_id": "1", "alert": {"Subject": 1}}',
     "alert must carry Subject and Message strings"),
    ('{"v": 1, "asff": {"Id": "x"}, "finding_id": "x", "rule_id": "r", "account_id": "1", '
     '"alert": {"Subject": "s", "Message": "m"}}', "an alert needs an alert_key"),
])
def test_an_unreadable_message_is_refused_with_the_reason(body, reason):
    with pytest.raises(DeliveryError, match=reason):
        Delivery.from_json(body)


class FakeSqs:
    def __init__(self, fail_ids=(), sender_fault=False):
        self.calls, self.fail_ids, self.sender_fault = [], set(fail_ids), sender_fault

    def send_message_batch(self, QueueUrl, Entries):  # noqa: N803
        self.calls.append([json.loads(entry["MessageBody"]) for entry in Entries])
        failed = [{"Id": e["Id"], "Code": "InternalError", "Message": "injected", "SenderFault": self.sender_fault}
                  for e in Entries if e["Id"] in self.fail_ids]
        self.fail_ids -= {e["Id"] for e in Entries}
        return {"Successful": [], "Failed": failed}


def sink(client) -> QueueSink:
    return QueueSink(client, queue_url="https://sqs.us-east-1.amazonaws.com/123456789012/findings",
                     product_arn=lambda f: PRODUCT, clock=lambda: NOW,
                     policy=RetryPolicy(sleep=lambda seconds: None))


def test_the_sink_queues_ten_findings_a_call_and_pages_only_unsuppressed_ones(finding):
    findings = copies(finding, 23)
    findings[5] = dataclasses.replace(findings[5], suppression=Suppression("drill", "secops", NOW.date(), "*"))
    client = FakeSqs()
    assert sink(client).publish(findings) == 23
    assert [len(call) for call in client.calls] == [10, 10, 3]
    queued = [message for call in client.calls for message in call]
    assert [m["finding_id"] for m in queued] == [f.finding_id for f in findings]
    assert [m["alert"] is None for m in queued] == [index == 5 for index in range(23)]


def test_the_sink_pages_exactly_the_findings_it_is_told_to(finding):
    findings = copies(finding, 3)
    client = FakeSqs()
    sink(client).publish(findings, alerts=[findings[1]])
    assert [m["alert"] is not None for m in client.calls[0]] == [False, True, False]


def test_entries_sqs_fails_are_retried_and_a_permanent_failure_raises(finding):
    client = FakeSqs(fail_ids={"1", "4"})
    sink(client).publish(copies(finding, 5))
    assert [len(call) for call in client.calls] == [5, 2]
    findings = copies(finding, 5)
    with pytest.raises(SinkError, match="SQS SendMessageBatch: 1 of 5 findings not queued") as raised:
        sink(FakeSqs(fail_ids={"2"}, sender_fault=True)).publish(findings)
    assert raised.value.undelivered == [findings[2].finding_id]  # the others were queued


def test_batches_respect_the_size_limit():
    from identity_auditor.aws.retry import Item

    big = [Item(str(i), {"MessageBody": "x" * 100_000}) for i in range(5)]
    assert [len(batch) for batch in batches(big)] == [2, 2, 1]
