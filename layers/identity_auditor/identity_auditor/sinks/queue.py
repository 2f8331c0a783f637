"""The findings queue between the evaluators and the publisher.

Security Hub's ``BatchImportFindings`` allows 10 requests a second (bursts of 30) per account and
region, so an evaluator that imported each event's findings itself would be throttled, and would lose
findings, exactly when an incident produces a burst. Instead every evaluator puts each finding on an
encrypted SQS queue as one message (:class:`QueueSink`); the publisher function reads the queue in
large batches, imports up to 100 findings per call and sends the alert of a finding only after its
import succeeded (:mod:`identity_auditor.delivery.publisher`).

A message is a :class:`Delivery`: the finding already rendered as ASFF (the evaluator owns the rules
and the policy, the publisher only addresses and sends) and, when the finding pages someone, the
rendered SNS alert with its de-duplication key. Messages are JSON, at most a few kilobytes: ASFF fields
are clipped to Security Hub's limits and alert bodies to SNS's.

Deployed, every message is signed: ``sign`` (a :class:`~identity_auditor.delivery.provenance.Signer`) gives the
message attributes that carry a MAC of the exact body made with the stack's KMS HMAC key, which only the
evaluators may use; the publisher refuses a message without a valid one (only the auditor writes findings).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from identity_auditor.sinks import SinkError
from identity_auditor.sinks.asff import to_asff

# The publisher reads deliveries without the evaluators' machinery (findings, alert rendering, retries): what
# only the sending side needs is imported inside its functions, for the publisher's cold start.
if TYPE_CHECKING:
    from identity_auditor.aws.retry import Failure, Item, RetryPolicy
    from identity_auditor.model.findings import Finding

VERSION = 1
MAX_ENTRIES_PER_CALL = 10  # SendMessageBatch
MAX_BYTES_PER_CALL = 256 * 1024 - 8 * 1024  # a batch's bodies share 256 KB (the classic limit; 1 MiB today)


class QueueingError(SinkError):
    """Some findings were not queued; ``undelivered`` names them (the others were), so the caller
    releases only their alert claims and a retry pages nobody twice."""

    def __init__(self, message: str, *, undelivered: list[str]):
        super().__init__(message)
        self.undelivered = undelivered


class DeliveryError(ValueError):
    """A queue message that is not a delivery this publisher understands; the message says why."""


@dataclass(frozen=True)
class Delivery:
    """One finding on its way to Security Hub (and, when ``alert`` is set, to SNS)."""

    finding_id: str
    rule_id: str
    account_id: str
    event_id: str | None
    asff: dict
    alert: dict | None = None  # SNS Publish arguments: Subject, Message, MessageAttributes
    alert_key: str | None = None  # one alert per key, however often the message is delivered

    def to_json(self) -> str:
        return json.dumps(
            {"v": VERSION, "finding_id": self.finding_id, "rule_id": self.rule_id, "account_id": self.account_id,
             "event_id": self.event_id, "asff": self.asff, "alert": self.alert, "alert_key": self.alert_key},
            separators=(",", ":"), ensure_ascii=False,
        )

    @classmethod
    def from_json(cls, body: str) -> Delivery:
        try:
            data = json.loads(body)
        except (TypeError, ValueError) as error:
            raise DeliveryError(f"not JSON: {error}") from None
        if not isinstance(data, dict):
            raise DeliveryError(f"expected a JSON object, got {type(data).__name__}")
        if data.get("v") != VERSION:
            raise DeliveryError(f"unknown delivery version {data.get('v')!r} (this publisher reads {VERSION})")
        asff = data.get("asff")
        if not isinstance(asff, dict) or not isinstance(asff.get("Id"), str) or not asff.get("Id"):
            raise DeliveryError("asff is missing or has no Id")
        for name in ("finding_id", "rule_id", "account_id"):
            if not isinstance(data.get(name), str) or not data[name]:
                raise DeliveryError(f"{name} is missing or not a string")
        alert = data.get("alert")
        if alert is not None:
            if not isinstance(alert, dict) or not all(isinstance(alert.get(k), str) for k in ("Subject", "Message")):
                raise DeliveryError("alert must carry Subject and Message strings")
            if not isinstance(data.get("alert_key"), str) or not data["alert_key"]:
                raise DeliveryError("an alert needs an alert_key")
        return cls(finding_id=data["finding_id"], rule_id=data["rule_id"], account_id=data["account_id"],
                   event_id=data.get("event_id") if isinstance(data.get("event_id"), str) else None,
                   asff=asff, alert=alert, alert_key=data.get("alert_key"))


def alert_key(finding: Finding, updated_at: str) -> str:
    """An event's finding pages once ever (its id names the event); a sequence's once per severity (a brute
    force pages when it is found, and again when a success follows it); a state finding once per evaluation
    (the same violation found again tomorrow is a reminder the alert state decided to send)."""
    if finding.sequence_steps:
        return f"{finding.finding_id}#{finding.severity.value}"
    if finding.event_id:
        return finding.finding_id
    # a state finding: once per evaluation, named by its time (the Config invocation's, the same on every retry
    # of it: a retry that queues the alert again pages once)
    when = finding.event_time.isoformat() if finding.event_time else updated_at
    return f"{finding.finding_id}@{when}"


def delivery(
    finding: Finding,
    *,
    product_arn: str,
    updated_at: datetime,
    page: bool,
    alert_format: str = "email",
    home_region: str | None = None,
    home_partition: str | None = None,
) -> Delivery:
    from identity_auditor.sinks.sns import entry as alert_entry

    document = to_asff(finding, product_arn=product_arn, updated_at=updated_at)
    alert = None
    if page:
        payload = alert_entry(0, finding, alert_format, home_region=home_region, home_partition=home_partition).payload
        alert = {key: payload[key] for key in ("Subject", "Message", "MessageAttributes")}
    return Delivery(
        finding_id=finding.finding_id, rule_id=finding.rule_id, account_id=finding.account_id,
        event_id=finding.event_id, asff=document, alert=alert,
        alert_key=alert_key(finding, document["UpdatedAt"]) if page else None,
    )


class QueueSink:
    """Puts findings on the findings queue (``SendMessageBatch``, 10 a call), with retries; raises
    :class:`~identity_auditor.sinks.SinkError` naming what could not be queued, so the invocation fails
    and is retried (the de-duplication table keeps an event from being queued twice once it succeeded).

    ``carries_alerts``: the queue is also the way to SNS, so :func:`~identity_auditor.delivery.alert_state.publish_state`
    passes the findings that should page as ``alerts``; without it every unsuppressed finding pages.
    """

    name = "queue"
    carries_alerts = True

    def __init__(
        self,
        client,
        *,
        queue_url: str,
        product_arn: Callable[[Finding], str],
        alert_format: str = "email",
        home_region: str | None = None,
        home_partition: str | None = None,
        policy: RetryPolicy | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
        on_retry: Callable[[int, int], None] | None = None,
        sign: Callable[[str], dict] | None = None,
    ):
        """``sign(body)``: the SQS message attributes that prove the body was written by an evaluator (one KMS
        ``GenerateMac``); ``None`` (a local run without the stack's key): messages go unsigned."""
        from identity_auditor.aws.retry import RetryPolicy

        self.client = client
        self.queue_url = queue_url
        self.product_arn = product_arn
        self.alert_format = alert_format
        self.home_region = home_region
        self.home_partition = home_partition
        self.policy = policy or RetryPolicy()
        self.clock = clock
        self.on_retry = on_retry
        self.sign = sign

    def publish(self, findings: Sequence[Finding], alerts: Sequence[Finding] | None = None) -> int:
        from identity_auditor.aws.retry import Item, attempt
        from identity_auditor.sinks.sns import alertable

        paging = {f.finding_id for f in (alertable(findings) if alerts is None else alerts)}
        now = self.clock()
        items = [
            Item(str(index), {
                "Id": str(index),
                "MessageBody": delivery(
                    finding, product_arn=self.product_arn(finding), updated_at=now,
                    page=finding.finding_id in paging, alert_format=self.alert_format,
                    home_region=self.home_region, home_partition=self.home_partition,
                ).to_json(),
            })
            for index, finding in enumerate(findings)
        ]
        self._sign(items, what="findings", names=[f.finding_id for f in findings])
        failed: dict[str, Failure] = {}
        for batch in batches(items):
            failed.update(attempt(self._send, batch, what="SQS SendMessageBatch", policy=self.policy,
                                  on_retry=self.on_retry))
        if failed:
            reasons = "; ".join(f"{findings[int(key)].finding_id}: {f.reason}" for key, f in list(failed.items())[:5])
            raise QueueingError(
                f"SQS SendMessageBatch: {len(failed)} of {len(items)} findings not queued: {reasons}",
                undelivered=[findings[int(key)].finding_id for key in failed],
            )
        return len(items)

    def send_heartbeat(self, body: str) -> int:
        """Queue one heartbeat message (:mod:`identity_auditor.delivery.heartbeat`), signed like every findings
        message: the publisher verifies it before it publishes anything. Raises :class:`QueueingError` when it was
        not queued (the invocation fails; HeartbeatMissingAlarm notices when that goes on)."""
        from identity_auditor.aws.retry import Item, attempt

        items = [Item("0", {"Id": "0", "MessageBody": body})]
        self._sign(items, what="heartbeat", names=["heartbeat"])
        failed = attempt(self._send, items, what="SQS SendMessageBatch", policy=self.policy, on_retry=self.on_retry)
        if failed:
            raise QueueingError(f"SQS SendMessageBatch: the heartbeat was not queued: {failed['0'].reason}",
                                undelivered=["heartbeat"])
        return 1

    def _sign(self, items: list[Item], *, what: str, names: list[str]) -> None:
        """Put each message's MAC attributes on it, every message before any is sent: a failure queues none."""
        if self.sign is None:
            return
        bodies = [item.payload["MessageBody"] for item in items]
        try:  # a Signer signs a batch several at a time (``many``); a plain function one by one
            signatures = self.sign.many(bodies) if hasattr(self.sign, "many") else [self.sign(b) for b in bodies]
            for item, attributes in zip(items, signatures, strict=True):
                item.payload["MessageAttributes"] = attributes
        except Exception as error:  # noqa: BLE001 - KMS refused or unreachable: the invocation is retried
            raise QueueingError(f"{what} not signed, none queued: {error}", undelivered=names) from error

    def _send(self, pending: list[Item]) -> dict[str, Failure]:
        from identity_auditor.aws.retry import Failure

        response = self.client.send_message_batch(QueueUrl=self.queue_url, Entries=[item.payload for item in pending])
        return {
            failure.get("Id", "?"): Failure(
                f"{failure.get('Code', 'Error')}: {failure.get('Message', '')}",
                retryable=not failure.get("SenderFault", False),
            )
            for failure in response.get("Failed") or []
        }


def batches(items: list[Item]) -> Iterator[list[Item]]:
    """Group messages into SendMessageBatch calls of at most 10 entries and 256 KB."""
    from identity_auditor.aws.retry import batched

    return batched(items, size_of=message_size, max_items=MAX_ENTRIES_PER_CALL, max_bytes=MAX_BYTES_PER_CALL)


def message_size(item: Item) -> int:
    """What SQS counts towards a message's size: the body, and each attribute's name, type and value."""
    attributes = item.payload.get("MessageAttributes") or {}
    return len(item.payload["MessageBody"].encode("utf-8", "surrogatepass")) + sum(
        len(name.encode()) + len(value.get("DataType", "").encode()) + len(str(value.get("StringValue", "")).encode())
        for name, value in attributes.items())
