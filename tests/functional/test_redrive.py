"""identity-auditor redrive: the documented way to replay both dead-letter queues (moto SQS)."""

from __future__ import annotations

import io
import json

import boto3
import pytest
from fake_time import FakeClock, fake_sqs_long_polling
from identity_auditor.cli.main import main
from identity_auditor.cli.redrive import RedriveError, original_event, redrive, to_function
from identity_auditor.delivery.provenance import Signer
from moto import mock_aws
from support import invictus_event

EVENT = invictus_event("70e5932e-9022-4b38-837e-ca10dad94eb7")


@pytest.fixture
def sqs(monkeypatch):
    with mock_aws():
        # redrive long-polls the dead-letter queue (WaitTimeSeconds=1) until it is empty: on a fake clock
        fake_sqs_long_polling(monkeypatch, FakeClock())
        yield boto3.client("sqs", region_name="us-east-1")


def queue(sqs, name: str) -> str:
    return sqs.create_queue(QueueName=name)["QueueUrl"]


def bodies(sqs, url: str) -> list[str]:
    found = []
    while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=60)\
            .get("Messages", []):
        found += [message["Body"] for message in messages]
    return found


def on_failure_record(event: dict) -> dict:
    """What Lambda's OnFailure destination writes for a failed asynchronous invocation."""
    return {"version": "1.0", "timestamp": "2026-11-23T01:00:00.000Z",
            "requestContext": {"requestId": "r", "functionArn": "arn:aws:lambda:us-east-1:123456789012:function:f",
                               "condition": "RetriesExhausted", "approximateInvokeCount": 3},
            "requestPayload": event, "responseContext": {"statusCode": 200, "functionError": "Unhandled"},
            "responsePayload": {"errorMessage": "boom", "errorType": "SinkError"}}


def test_the_original_event_is_found_in_both_kinds_of_dead_letter():
    assert original_event(json.dumps(EVENT)) == EVENT  # EventBridge target DLQ: the event itself
    assert original_event(json.dumps(on_failure_record(EVENT))) == EVENT  # Lambda OnFailure record
    for garbage, reason in (("nope", "not JSON"), ("[]", "not a JSON object"), ('{"a": 1}', "no EventBridge event")):
        with pytest.raises(RedriveError, match=reason):
            original_event(garbage)


def test_findings_go_back_to_the_findings_queue_and_leave_the_dead_letter_queue(sqs):
    dlq, findings = queue(sqs, "findings-dlq"), queue(sqs, "findings")
    kms = boto3.client("kms", region_name="us-east-1")
    key = kms.create_key(KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")["KeyMetadata"]["Arn"]
    sign = Signer(key, kms=kms)  # as the evaluators signed them
    for index in range(13):
        body = json.dumps({"v": 1, "finding_id": f"f{index}"})
        sqs.send_message(QueueUrl=dlq, MessageBody=body, MessageAttributes=sign(body))
    out = io.StringIO()

    assert main(["redrive", dlq, "--to-queue", findings, "--mac-key", key, "--dry-run"], stdout=out) == 0
    assert out.getvalue() == "would replay 13 message(s)\n"
    assert sorted(bodies(sqs, findings)) == []

    out = io.StringIO()  # the real run, at once: the dry run gave every message back
    assert main(["redrive", dlq, "--to-queue", findings, "--mac-key", key], stdout=out) == 0
    assert out.getvalue() == "replayed 13 message(s)\n"
    assert sorted(json.loads(b)["finding_id"] for b in bodies(sqs, findings)) == sorted(f"f{i}" for i in range(13))
    assert bodies(sqs, dlq) == []


class FakeLambda:
    def __init__(self, status=202):
        self.payloads, self.status = [], status

    def invoke(self, FunctionName, InvocationType, Payload):  # noqa: N803
        assert InvocationType == "Event"
        self.payloads.append(json.loads(Payload))
        return {"StatusCode": self.status}


def test_events_are_replayed_to_the_evaluator_and_what_cannot_be_replayed_stays(sqs):
    dlq = queue(sqs, "events-dlq")
    sqs.send_message(QueueUrl=dlq, MessageBody=json.dumps(on_failure_record(EVENT)))
    sqs.send_message(QueueUrl=dlq, MessageBody=json.dumps(EVENT))
    sqs.send_message(QueueUrl=dlq, MessageBody="not an event")
    evaluator = FakeLambda()

    report = redrive(sqs, dlq, to_function(evaluator, "stack-cloudtrail-evaluator"),
                     extract=lambda body: json.dumps(original_event(body)))

    assert report.replayed == 2 and evaluator.payloads == [EVENT, EVENT]
    [(message_id, reason)] = report.left.items()
    assert reason.startswith("RedriveError: not JSON")
    assert "left on the queue: " + message_id in report.text(False)
    assert bodies(sqs, dlq) == ["not an event"]  # visible again at once, for the next run


def test_a_replay_lambda_refuses_keeps_the_message(sqs):
    dlq = queue(sqs, "events-dlq")
    sqs.send_message(QueueUrl=dlq, MessageBody=json.dumps(EVENT))
    report = redrive(sqs, dlq, to_function(FakeLambda(status=500), "f"),
                     extract=lambda body: json.dumps(original_event(body)))
    assert report.replayed == 0 and "Lambda did not accept the event (status 500)" in next(iter(report.left.values()))


def test_a_queue_that_cannot_be_read_is_a_clear_error(sqs):
    out, err = io.StringIO(), io.StringIO()
    missing = "https://sqs.us-east-1.amazonaws.com/123456789012/no-such-queue"
    key = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    assert main(["redrive", missing, "--to-queue", missing, "--mac-key", key], stdout=out, stderr=err) == 2
    assert err.getvalue().startswith(f"identity-auditor: cannot read {missing}: ") and out.getvalue() == ""


def test_max_replays_that_many_and_gives_the_rest_back_at_once(sqs):
    dlq, findings = queue(sqs, "findings-dlq"), queue(sqs, "findings")
    for index in range(13):
        sqs.send_message(QueueUrl=dlq, MessageBody=json.dumps({"v": 1, "finding_id": f"f{index}"}))
    assert redrive(sqs, dlq, lambda body: sqs.send_message(QueueUrl=findings, MessageBody=body),
                   max_messages=4).replayed == 4
    assert len(bodies(sqs, findings)) == 4
    assert len(bodies(sqs, dlq)) == 9  # the other nine are visible again, not hidden for five minutes


class RefusingRelease:
    """The moto SQS client, but giving messages back fails: for one entry (a receipt handle SQS no longer
    knows) or for the whole call (access denied)."""

    def __init__(self, sqs, whole_call: bool):
        self.sqs, self.whole_call = sqs, whole_call

    def __getattr__(self, name):
        return getattr(self.sqs, name)

    def change_message_visibility_batch(self, QueueUrl, Entries):  # noqa: N803 (boto3's parameter names)
        if self.whole_call:
            raise RuntimeError("AccessDenied: not authorized to perform sqs:ChangeMessageVisibility")
        self.sqs.change_message_visibility_batch(QueueUrl=QueueUrl, Entries=Entries[1:])
        return {"Successful": [{"Id": e["Id"]} for e in Entries[1:]],
                "Failed": [{"Id": Entries[0]["Id"], "Code": "ReceiptHandleIsInvalid", "Message": "expired",
                            "SenderFault": True}]}


@pytest.mark.parametrize("whole_call", [False, True], ids=["one-entry", "whole-call"])
def test_messages_that_cannot_be_given_back_are_named_and_the_report_is_kept(sqs, whole_call):
    dlq = queue(sqs, "findings-dlq")
    for index in range(3):
        sqs.send_message(QueueUrl=dlq, MessageBody=json.dumps({"v": 1, "finding_id": f"f{index}"}))
    report = redrive(RefusingRelease(sqs, whole_call), dlq, lambda body: None, dry_run=True)
    assert report.replayed == 3
    assert len(report.hidden) == (3 if whole_call else 1)
    reason = "AccessDenied" if whole_call else "ReceiptHandleIsInvalid: expired"
    assert all(reason in why for why in report.hidden.values())
    assert "invisible for up to 5 minutes: " in report.text(True)
