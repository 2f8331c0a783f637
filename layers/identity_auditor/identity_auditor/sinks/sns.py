"""Amazon SNS sink: one alert message per finding, sent with ``PublishBatch`` (10 per call)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

from identity_auditor import alerts
from identity_auditor.findings import Finding
from identity_auditor.sinks.retry import Failure, Item, RetryPolicy, deliver_all

MAX_ENTRIES_PER_CALL = 10
MAX_BYTES_PER_CALL = 256 * 1024 - 8 * 1024  # message bodies and attributes share the 256 KB


class SnsSink:
    name = "sns"

    def __init__(
        self,
        client,
        *,
        topic_arn: str,
        policy: RetryPolicy | None = None,
        on_retry: Callable[[int, int], None] | None = None,
    ):
        self.client = client
        self.topic_arn = topic_arn
        self.policy = policy or RetryPolicy()
        self.on_retry = on_retry

    def publish(self, findings: Sequence[Finding]) -> int:
        entries = [entry(index, finding) for index, finding in enumerate(findings)]
        deliver_all(batches(entries), self._send, what="SNS PublishBatch", policy=self.policy, on_retry=self.on_retry)
        return len(entries)

    def _send(self, pending: list[Item]) -> dict[str, Failure]:
        response = self.client.publish_batch(
            TopicArn=self.topic_arn, PublishBatchRequestEntries=[item.payload for item in pending]
        )
        return {
            failure.get("Id", "?"): Failure(
                f"{failure.get('Code', 'Error')}: {failure.get('Message', '')}",
                retryable=not failure.get("SenderFault", False),
            )
            for failure in response.get("Failed") or []
        }


def batches(entries: list[Item]) -> Iterator[list[Item]]:
    """Group entries into PublishBatch calls of at most 10 entries and 256 KB."""
    batch: list[Item] = []
    size = 0
    for item in entries:
        length = len(item.payload["Message"].encode()) + 512
        if batch and (len(batch) == MAX_ENTRIES_PER_CALL or size + length > MAX_BYTES_PER_CALL):
            yield batch
            batch, size = [], 0
        batch.append(item)
        size += length
    if batch:
        yield batch


def entry(index: int, finding: Finding) -> Item:
    key = str(index)
    return Item(
        key,
        {
            "Id": key,
            "Subject": alerts.subject(finding),
            "Message": alerts.body(finding),
            "MessageAttributes": alerts.attributes(finding),
        },
    )
