"""Amazon SNS sink: one alert message per finding, sent with ``PublishBatch`` (10 per call).

The message is rendered in the configured alert format (``email`` plain text or ``chat``, the AWS
Chatbot / Amazon Q Developer custom notification JSON); the message attributes are the same for both,
so subscription filter policies work either way. Findings that the organisation policy suppresses are
not sent (they go to Security Hub as SUPPRESSED): an alert nobody should act on is noise.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

from identity_auditor.aws.retry import Failure, Item, RetryPolicy, batched, deliver_all
from identity_auditor.model.findings import Finding
from identity_auditor.sinks import alerts

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
        alert_format: str = "email",
        home_region: str | None = None,
        home_partition: str | None = None,
    ):
        if alert_format not in alerts.ALERT_FORMATS:
            raise ValueError(f"alert_format {alert_format!r} is not one of {', '.join(alerts.ALERT_FORMATS)}")
        self.client = client
        self.topic_arn = topic_arn
        self.policy = policy or RetryPolicy()
        self.on_retry = on_retry
        self.alert_format = alert_format
        self.home_region = home_region  # where findings are imported: the Security Hub link points there
        self.home_partition = home_partition

    def publish(self, findings: Sequence[Finding]) -> int:
        """Send one alert per unsuppressed finding; returns how many were sent."""
        entries = [self.entry(index, finding) for index, finding in enumerate(alertable(findings))]
        deliver_all(batches(entries), self._send, what="SNS PublishBatch", policy=self.policy, on_retry=self.on_retry)
        return len(entries)

    def entry(self, index: int, finding: Finding) -> Item:
        return entry(index, finding, self.alert_format, home_region=self.home_region,
                     home_partition=self.home_partition)

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
    return batched(entries, size_of=lambda item: len(item.payload["Message"].encode()) + 512,
                   max_items=MAX_ENTRIES_PER_CALL, max_bytes=MAX_BYTES_PER_CALL)


def alertable(findings: Sequence[Finding]) -> list[Finding]:
    """The findings that page someone: every one the organisation policy does not suppress."""
    return [finding for finding in findings if finding.suppression is None]


def entry(
    index: int,
    finding: Finding,
    alert_format: str = "email",
    *,
    home_region: str | None = None,
    home_partition: str | None = None,
) -> Item:
    key = str(index)
    subject, message = alerts.render(
        finding, alert_format, home_region=home_region, home_partition=home_partition
    )
    return Item(
        key,
        {
            "Id": key,
            "Subject": subject,
            "Message": message,
            "MessageAttributes": alerts.attributes(finding),
        },
    )
