"""The deployed delivery path, emulated in-process over moto: evaluator -> findings queue -> publisher.

:class:`Pipeline` creates the findings queue with its dead-letter queue (redrive after
``max_receive_count`` receives, as in template.yaml), points the evaluators at it, and plays Lambda's SQS
event source for the publisher handler: receive a batch, invoke, delete what succeeded, return the
``batchItemFailures`` (or everything, when the invocation itself failed or timed out) to the queue.
Faults are injected at the HTTP boundary of boto3 clients (:func:`inject`), so botocore's own retry
modes see them exactly as they would see the real service's responses.
"""

from __future__ import annotations

import importlib.util
import json
import os
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timezone

from botocore.awsrequest import AWSResponse
from support import ROOT, EmulatedAccount, FakeLambdaContext

PUBLISHER_PATH = ROOT / "functions" / "findings_publisher" / "findings_publisher.py"
PUBLISHER_ARN = "arn:aws:lambda:us-east-1:123456789012:function:identity-auditor-findings-publisher"


class LambdaTimeout(BaseException):  # noqa: N818 (named after what Lambda does to the invocation)
    """Raised by an injected fault: the invocation stops here, as when Lambda's timeout strikes; not an
    ``Exception``, so no handler code can catch it."""


class PublisherContext(FakeLambdaContext):
    function_name = "identity-auditor-findings-publisher"
    invoked_function_arn = PUBLISHER_ARN

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 120_000  # the publisher's timeout: every invocation of the harness starts afresh


def load_publisher():
    spec = importlib.util.spec_from_file_location("findings_publisher_app", PUBLISHER_PATH)
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module


# -- the ledger the suites print at the end of the run ---------------------------------------------------

LEDGER: list[tuple[str, str]] = []


def record_ledger(line: str) -> None:
    """Note a scenario's count of findings in and out; printed in the terminal summary."""
    test = os.environ.get("PYTEST_CURRENT_TEST", "?").split("::")[-1].split(" ")[0]
    LEDGER.append((test, line))


# -- faults at the HTTP boundary ------------------------------------------------------------------------


class _Raw:
    def __init__(self, body: bytes):
        self._body = body

    def stream(self, **kwargs):
        yield self._body


def error_response(request, status: int, code: str, message: str = "injected", *, json_protocol=True) -> AWSResponse:
    """What the service would answer: a JSON-protocol error (Security Hub, DynamoDB, SQS) or a query one (SNS)."""
    if json_protocol:
        body = json.dumps({"__type": code, "message": message, "Code": code, "Message": message}).encode()
        headers = {"Content-Type": "application/x-amz-json-1.0", "x-amzn-ErrorType": code}
    else:
        body = (f'<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message>'
                f'</Error><RequestId>r</RequestId></ErrorResponse>').encode()
        headers = {"Content-Type": "text/xml"}
    return AWSResponse(request.url, status, headers, _Raw(body))


def inject(client, operation: str, fault: Callable) -> None:
    """Call ``fault(request)`` before each ``operation`` request of ``client``; a response it returns is
    what the client receives instead of the service's (``None``: the call goes through).

    botocore asks every ``before-send`` handler (moto's too) and takes the first response; so that moto
    does not also carry out a request the fault answered, the request is readdressed to a host moto
    does not serve."""
    service = client.meta.service_model.service_id.hyphenize()

    def handler(request, **kwargs):
        response = fault(request)
        if response is not None:
            request.url = "https://fault-injected.invalid/"
        return response

    client.meta.events.register_first(f"before-send.{service}.{operation}", handler)


@dataclass
class TokenBucket:
    """Security Hub's BatchImportFindings quota: ``rate`` requests a second, bursts of ``burst``, on
    ``clock`` (the real monotonic clock, or a test's :class:`fake_time.FakeClock`)."""

    rate: float = 10.0
    burst: float = 30.0
    tokens: float = 30.0
    clock: Callable[[], float] = time.monotonic
    stamp: float | None = None  # the clock's reading at the last refill (None: when created)
    throttled: int = 0
    admitted: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        if self.stamp is None:
            self.stamp = self.clock()

    def __call__(self, request):
        with self.lock:
            now = self.clock()
            self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
            self.stamp = now
            if self.tokens >= 1:
                self.tokens -= 1
                self.admitted += 1
                return None
            self.throttled += 1
        return error_response(request, 429, "TooManyRequestsException", "Rate exceeded")


class ImportSpy:
    """Counts, per finding Id, the imports Security Hub accepted (calls that reached moto and succeeded)."""

    def __init__(self, client):
        self.accepted: Counter = Counter()
        self.calls = 0
        client.meta.events.register("after-call.securityhub.BatchImportFindings", self._after)
        client.meta.events.register("provide-client-params.securityhub.BatchImportFindings", self._params)
        self._pending: list[str] = []

    def _params(self, params, **kwargs):
        self._pending = [finding["Id"] for finding in params.get("Findings", [])]

    def _after(self, http_response, parsed, **kwargs):
        if http_response.status_code == 200:
            self.calls += 1
            failed = {item.get("Id") for item in parsed.get("FailedFindings") or []}
            self.accepted.update(i for i in self._pending if i not in failed)


# -- the emulated deployment ----------------------------------------------------------------------------


@dataclass
class Run:
    invocations: int = 0
    failed_invocations: int = 0
    returned: int = 0  # messages returned to the queue (partial failures and failed invocations)
    deleted: int = 0


class Pipeline:
    def __init__(self, account: EmulatedAccount, monkeypatch, *, max_receive_count: int = 10):
        import boto3
        import moto.sqs.models

        # moto's SQS asks each message's visibility through datetime arithmetic on every ReceiveMessage,
        # (1.3 s a call at 1,000 queued messages); the same clock as plain epoch milliseconds.
        monkeypatch.setattr(moto.sqs.models, "unix_time_millis", _epoch_millis)
        # ... and, for each message it receives, whether the message is still within the queue's retention
        # period, through GetQueueAttributes: every attribute, ApproximateNumberOfMessages* included (each
        # a pass over every message), three times. The same answer from the queue's retention period.
        monkeypatch.setattr(moto.sqs.models.SQSBackend, "is_message_valid_based_on_retention_period",
                            _within_retention_period)
        self.account = account
        self.sqs = boto3.client("sqs", region_name="us-east-1")
        self.dlq_url = self.sqs.create_queue(QueueName="identity-auditor-findings-dlq")["QueueUrl"]
        dlq_arn = self._arn(self.dlq_url)
        self.queue_url = self.sqs.create_queue(
            QueueName="identity-auditor-findings",
            Attributes={"VisibilityTimeout": "730", "RedrivePolicy": json.dumps(
                {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(max_receive_count)})},
        )["QueueUrl"]
        monkeypatch.setenv("FINDINGS_QUEUE_URL", self.queue_url)
        self.publisher = load_publisher()
        self.context = PublisherContext()

    def _time_out_in_progress_records(self) -> None:
        """What the time after a timeout does: the idempotency records the invocation left INPROGRESS reach
        their expiry (the invocation's deadline), so the next invocation takes over."""
        import boto3

        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        for page in dynamodb.get_paginator("scan").paginate(TableName=self.account.table_name):
            for item in page["Items"]:
                if item.get("status", {}).get("S") == "INPROGRESS":
                    dynamodb.update_item(TableName=self.account.table_name, Key={"id": item["id"]},
                                         UpdateExpression="SET in_progress_expiration = :past",
                                         ExpressionAttributeValues={":past": {"N": "0"}})

    def _arn(self, url: str) -> str:
        return self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]

    def publisher_clients(self):
        """The publisher's boto3 clients (built on its first batch): for injecting faults."""
        return self.publisher._publisher_for(self.context)

    def depth(self, url: str | None = None) -> int:
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=url or self.queue_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])

    def dead_letters(self) -> list[dict]:
        """The dead-lettered deliveries (parsed bodies), left on the queue."""
        bodies, seen = [], set()
        while True:
            messages = self.sqs.receive_message(QueueUrl=self.dlq_url, MaxNumberOfMessages=10,
                                                VisibilityTimeout=0, WaitTimeSeconds=0).get("Messages", [])
            fresh = [m for m in messages if m["MessageId"] not in seen]
            if not fresh:
                return bodies
            for message in fresh:
                seen.add(message["MessageId"])
                bodies.append(json.loads(message["Body"]))

    def _receive(self, batch_size: int) -> list[dict]:
        messages: list[dict] = []
        while len(messages) < batch_size:
            got = self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=min(10, batch_size - len(messages)),
                                           AttributeNames=["All"], MessageAttributeNames=["All"],
                                           WaitTimeSeconds=0).get("Messages", [])
            if not got:
                break
            messages.extend(got)
        return messages

    def drain(self, *, batch_size: int = 500, max_invocations: int = 1000) -> Run:
        """Play Lambda's SQS event source until the queue is empty (or ``max_invocations``)."""
        run = Run()
        while run.invocations < max_invocations:
            messages = self._receive(batch_size)
            if not messages:
                return run
            event = {"Records": [_sqs_record(message) for message in messages]}
            run.invocations += 1
            try:
                response = self.publisher.handler(event, self.context)
                failed = {item["itemIdentifier"] for item in response.get("batchItemFailures", [])}
            except LambdaTimeout:
                run.failed_invocations += 1
                failed = {message["MessageId"] for message in messages}
                self._time_out_in_progress_records()
            except Exception:
                run.failed_invocations += 1
                failed = {message["MessageId"] for message in messages}
            for message in messages:
                if message["MessageId"] in failed:
                    run.returned += 1
                    self.sqs.change_message_visibility(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"],
                                                       VisibilityTimeout=0)
                else:
                    run.deleted += 1
                    self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
        return run


def _epoch_millis(dt=None) -> float:
    return dt.replace(tzinfo=timezone.utc).timestamp() * 1000.0 if dt is not None else time.time() * 1000.0


def _within_retention_period(backend, queue_name: str, message) -> bool:
    """moto's ``SQSBackend.is_message_valid_based_on_retention_period``, reading the one attribute it needs."""
    import moto.sqs.models

    retention_period = int(backend.get_queue(queue_name).message_retention_period)
    return retention_period + message.sent_timestamp / 1000 > moto.sqs.models.unix_time()


def _sqs_record(message: dict) -> dict:
    """A message as Lambda's SQS event source hands it to the function."""
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": message.get("Attributes", {}),
        "messageAttributes": {  # Lambda's shape of SQS message attributes (the findings' MAC travels in them)
            name: {"stringValue": value.get("StringValue"), "binaryValue": value.get("BinaryValue"),
                   "stringListValues": [], "binaryListValues": [], "dataType": value.get("DataType", "String")}
            for name, value in (message.get("MessageAttributes") or {}).items()},
        "md5OfBody": message["MD5OfBody"],
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:identity-auditor-findings",
        "awsRegion": "us-east-1",
    }
