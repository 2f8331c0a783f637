"""The heartbeat's recognition, message and queueing (identity_auditor.delivery.heartbeat; issue 16).

Recognition must be exact: only the scheduled event of the stack's own rule, in the function's own account and
region, with an empty detail, is a heartbeat; every variation is an ordinary event (so an imitation cannot make
the evaluator skip anything). The message is marked as a test, carries the ``heartbeat`` attribute and no
severity, and is signed on the findings queue like every findings message.
"""

from __future__ import annotations

import json

import pytest
from identity_auditor.delivery.heartbeat import (
    HEARTBEAT_ATTRIBUTE,
    Heartbeat,
    HeartbeatError,
    heartbeat_rule_arn,
    is_heartbeat,
    is_heartbeat_message,
)
from identity_auditor.model.home import Home
from identity_auditor.sinks.queue import Delivery, DeliveryError, QueueingError, QueueSink

HOME = Home("123456789012", "us-east-1", "aws")
RULE = "arn:aws:events:us-east-1:123456789012:rule/identity-auditor-heartbeat"
EVENT = {"version": "0", "id": "89d1a02d-5ec7-412e-82f5-13505f849b41", "detail-type": "Scheduled Event",
         "source": "aws.events", "account": "123456789012", "time": "2026-11-23T10:30:00Z", "region": "us-east-1",
         "resources": [RULE], "detail": {}}


def test_the_rule_arn_is_the_stacks_rule_on_the_default_bus():
    assert heartbeat_rule_arn("identity-auditor", HOME) == RULE
    assert heartbeat_rule_arn("a", Home("123456789012", "cn-north-1", "aws-cn")) == \
        "arn:aws-cn:events:cn-north-1:123456789012:rule/a-heartbeat"
    assert heartbeat_rule_arn(None, HOME) is None and heartbeat_rule_arn("", HOME) is None


def test_only_the_exact_scheduled_event_is_a_heartbeat():
    assert is_heartbeat(EVENT, RULE, HOME)
    variations = {
        "another rule": {"resources": [RULE + "-2"]},
        "two resources": {"resources": [RULE, RULE]},
        "no resources": {"resources": []},
        "another source": {"source": "aws.iam"},
        "a custom source": {"source": "custom.events"},
        "a CloudTrail detail-type": {"detail-type": "AWS API Call via CloudTrail"},
        "a detail": {"detail": {"eventName": "ConsoleLogin"}},
        "no detail": {"detail": None},
        "another account": {"account": "999999999999"},
        "another region": {"region": "eu-west-1"},
    }
    for name, change in variations.items():
        assert not is_heartbeat({**EVENT, **change}, RULE, HOME), name
    assert not is_heartbeat(EVENT, None, HOME), "no stack name (a local run): nothing is a heartbeat"
    assert not is_heartbeat([EVENT], RULE, HOME) and not is_heartbeat("heartbeat", RULE, HOME)


def test_a_heartbeat_round_trips_and_is_told_apart_from_a_finding():
    heartbeat = Heartbeat.from_event(EVENT)
    body = heartbeat.to_json()
    assert is_heartbeat_message(body) and Heartbeat.from_json(body) == heartbeat
    assert heartbeat.rule_arn == RULE and heartbeat.scheduled_at == EVENT["time"]
    assert heartbeat.account_id == HOME.account
    with pytest.raises(DeliveryError):  # a heartbeat is never read as a finding (nothing to import)
        Delivery.from_json(body)
    assert not is_heartbeat_message('{"v":1,"finding_id":"x","kind":"finding"}')
    assert not is_heartbeat_message("not json") and not is_heartbeat_message(None)
    for bad in ('{"kind":"heartbeat","v":2}', '{"kind":"heartbeat","v":1,"event_id":1}', "[]", "nope"):
        with pytest.raises(HeartbeatError):
            Heartbeat.from_json(bad)


def test_the_heartbeat_alert_is_a_test_message_with_the_attribute_and_no_severity():
    alert = Heartbeat.from_event(EVENT).alert()
    assert "test message" in alert["Subject"].lower() and "not a finding" in alert["Subject"].lower()
    assert alert["Message"].startswith("TEST MESSAGE")
    attributes = alert["MessageAttributes"]
    assert attributes[HEARTBEAT_ATTRIBUTE] == {"DataType": "String", "StringValue": "true"}
    assert not {"severity", "severity_rank", "rule_id"} & set(attributes), "a severity filter would let it through"
    assert len(alert["Subject"]) <= 100  # SNS's subject limit


class _Sqs:
    def __init__(self, failed=None):
        self.calls, self.failed = [], failed

    def send_message_batch(self, QueueUrl, Entries):  # noqa: N803 (boto3's argument names)
        self.calls.append(Entries)
        return {"Successful": [], "Failed": self.failed or []}


def _sink(client, sign):
    return QueueSink(client, queue_url="https://sqs.us-east-1.amazonaws.com/123456789012/q",
                     product_arn=lambda finding: "", sign=sign)


def test_the_queue_sink_signs_the_heartbeat_like_every_findings_message():
    client = _Sqs()
    body = Heartbeat.from_event(EVENT).to_json()
    assert _sink(client, lambda text: {"mac": {"DataType": "String", "StringValue": f"mac-of-{len(text)}"}}) \
        .send_heartbeat(body) == 1
    [[entry]] = client.calls
    assert entry["MessageBody"] == body and json.loads(entry["MessageBody"])["kind"] == "heartbeat"
    assert entry["MessageAttributes"] == {"mac": {"DataType": "String", "StringValue": f"mac-of-{len(body)}"}}


def test_a_heartbeat_not_signed_or_refused_by_the_queue_is_an_error():
    def refuse(text):
        raise RuntimeError("KMS GenerateMac refused")

    client = _Sqs()
    with pytest.raises(QueueingError, match="heartbeat not signed"):
        _sink(client, refuse).send_heartbeat("{}")
    assert client.calls == [], "nothing queued unsigned"
    refused = _Sqs(failed=[{"Id": "0", "Code": "AccessDenied", "Message": "denied", "SenderFault": True}])
    with pytest.raises(QueueingError, match="heartbeat was not queued: AccessDenied"):
        _sink(refused, None).send_heartbeat("{}")
