"""What the CloudTrail evaluator and the backfill do with one event's findings, the same way: log each,
then publish them once per CloudTrail event (the de-duplication table: a redelivered event, or the same
record from a backfill, never pages twice) to the sinks the settings name.

The sinks are built on the first event that has findings, so boto3 is imported only then: events that
break no rule (most of them) never pay for it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from identity_auditor.delivery.dedup import Deduplicator
from identity_auditor.delivery.settings import Settings
from identity_auditor.model.findings import Finding
from identity_auditor.sinks import Sink, publish_all

logger = logging.getLogger(__name__)


class EventDelivery:
    def __init__(self, settings: Settings, *, on_retry: Callable[[str, int, int], None] | None = None):
        self.settings = settings
        self.dedup = Deduplicator(settings.idempotency_table)
        self._on_retry = on_retry
        self._sinks: list[Sink] | None = None

    @property
    def sinks_built(self) -> bool:
        return self._sinks is not None

    def sinks(self, lambda_context) -> list[Sink]:
        """The sinks, filed under the function's own account, region and partition (from its ARN)."""
        if self._sinks is None:
            from identity_auditor.delivery.wiring import build_sinks
            from identity_auditor.model.home import Home

            self._sinks = build_sinks(self.settings, Home.from_function_arn(lambda_context.invoked_function_arn),
                                      on_retry=self._on_retry)
        return self._sinks

    def publish(self, envelope: dict, findings: Sequence[Finding], lambda_context) -> Delivered:
        """Log the event's findings and publish them, unless this event's were published already.
        Raises :class:`~identity_auditor.sinks.SinkError` (and the de-duplication table's errors): the
        caller's retry publishes what is missing, and pages no one twice."""
        for finding in findings:
            logger.info("finding", extra=_logged(finding))
        if not findings:
            return Delivered({}, fresh=False)
        fresh = []

        def publish() -> dict[str, int]:
            counts = publish_all(self.sinks(lambda_context), list(findings))
            fresh.append(True)
            return counts

        counts = self.dedup.publish_once(envelope, lambda_context, publish)
        return Delivered(counts, fresh=bool(fresh))

    def heartbeat(self, body: str, lambda_context) -> int:
        """Queue the heartbeat (:mod:`identity_auditor.delivery.heartbeat`) on the findings queue, signed; 1 when
        queued, 0 when there is no findings queue (a local run: nothing to prove). Never de-duplicated: each
        scheduled event is one heartbeat. Raises :class:`~identity_auditor.sinks.SinkError` when it was not queued."""
        for sink in self.sinks(lambda_context):
            send = getattr(sink, "send_heartbeat", None)
            if send is not None:
                return send(body)
        logger.warning("heartbeat not queued: no findings queue is configured (FINDINGS_QUEUE_URL)")
        return 0

    def publish_sequences(self, findings: Sequence[Finding], lambda_context) -> dict[str, int]:
        """Log and publish the findings of completed sequences (spec §E). They are no one event's, so the per-event
        de-duplication does not apply: the sequence store raises each once and the publisher pages once per alert
        key. Raises :class:`~identity_auditor.sinks.SinkError` like :meth:`publish`."""
        for finding in findings:
            logger.info("finding", extra=_logged(finding, sequence_steps=len(finding.sequence_steps)))
        return publish_all(self.sinks(lambda_context), list(findings)) if findings else {}


def _logged(finding: Finding, **more: object) -> dict:
    """What a finding's log line says of it: rule id, severity, finding id, and ``suppressed`` when it is."""
    fields = {"rule_id": finding.rule_id, "severity": finding.severity.value, "finding_id": finding.finding_id, **more}
    if finding.suppression is not None:
        fields["suppressed"] = True
    return fields


@dataclass(frozen=True)
class Delivered:
    """What each sink took of one event's findings (as first published), and whether this call published
    them (``False``: an earlier delivery of the same event had)."""

    counts: dict[str, int]
    fresh: bool
