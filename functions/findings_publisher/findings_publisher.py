"""FindingsPublisher: the findings queue -> Security Hub (up to 100 findings a call) -> SNS alerts.

A thin adapter over :mod:`identity_auditor.delivery.publisher`: decode the batch's messages, import every finding
in as few ``BatchImportFindings`` calls as the limits allow, then let the Powertools batch processor
send each imported finding's alert and report, as a partial-batch response, exactly the messages that
were not imported, could not be read or whose alert failed. Those return to the queue (visibility
timeout), and after ``maxReceiveCount`` receives land on the findings dead-letter queue, whole, for a
redrive.

Alerts do not wait for Security Hub. A finding that pages but could not be imported is alerted anyway,
with a note saying it is not in Security Hub (yet) and why: on this receive when every account it could
go to refused it (Security Hub disabled or its import not allowed: no retry soon will change that), and
otherwise from its :data:`ALERT_AFTER_RECEIVES`-th receive (SQS's ``ApproximateReceiveCount``), about one
visibility timeout after the first attempt, when Security Hub throttled, failed or rejected it all along.
The message still returns to the queue, so the import is retried (and the message dead-lettered after
``maxReceiveCount`` receives, as before); the alert key keeps the import that succeeds later, or a
redrive, from paging again. Suppressed findings carry no alert and never page. ``AlertsBeforeImport``
counts these alerts.

A heartbeat (:mod:`identity_auditor.delivery.heartbeat`) is recognised after its MAC was checked, never imported,
published to the findings topic with the ``heartbeat`` attribute the alert e-mail's filter policy excludes, and
counted (``HeartbeatsDelivered``) only once SNS accepted it; HeartbeatMissingAlarm watches that count.
"""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from identity_auditor.delivery.heartbeat import (
    HEARTBEATS_DELIVERED_METRIC,
    Heartbeat,
    HeartbeatError,
    is_heartbeat_message,
)
from identity_auditor.delivery.provenance import FORGED_FINDINGS_METRIC, verifier_for
from identity_auditor.delivery.publisher import Publisher, PublishError
from identity_auditor.delivery.settings import Settings
from identity_auditor.sinks.queue import Delivery, DeliveryError

logger = Logger()
metrics = Metrics()
copy_config_to_registered_loggers(source_logger=logger, include={"identity_auditor"})

SETTINGS = Settings.from_env()
# Only the auditor writes findings: each message's MAC (FINDINGS_MAC_KEY_ARN) is checked before it is read, imported
# or paged, one KMS VerifyMac per message; a refused message returns to the queue (then the DLQ) and is counted.
VERIFIER = verifier_for(SETTINGS)
# From this receive of its message on, a finding that pages is alerted without its import (the findings queue's
# visibility timeout, 730 s, after the first attempt); a refusal by every account pages on the first receive.
ALERT_AFTER_RECEIVES = 2
processor = BatchProcessor(event_type=EventType.SQS)
_publisher: Publisher | None = None


def _publisher_for(context) -> Publisher:
    """Clients and the member-account access, built once per execution environment."""
    global _publisher
    if _publisher is None:
        from identity_auditor.delivery.wiring import build_publisher
        from identity_auditor.model.home import Home

        _publisher = build_publisher(
            SETTINGS, Home.from_function_arn(context.invoked_function_arn),
            on_retry=lambda attempt, left: metrics.add_metric(name="securityhubRetries", unit=MetricUnit.Count,
                                                              value=1))
    return _publisher


def _count_alert_subscriptions(publisher: Publisher) -> None:
    """At each heartbeat, the confirmed e-mail subscriptions of the findings topic (``AlertSubscriptions``): an
    unsubscribe link leaves no CloudTrail record; AlertSubscriptionMissingAlarm fires when the count drops to 0."""
    try:
        count = publisher.confirmed_email_subscriptions()
    except Exception:  # noqa: BLE001 - a count that cannot be made is reported as none: the alarm says so
        logger.exception("the alert subscriptions could not be counted")
        count = 0
    metrics.add_metric(name="AlertSubscriptions", unit=MetricUnit.Count, value=count)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def handler(event: dict, context) -> dict:
    publisher = _publisher_for(context)
    records = event.get("Records") if isinstance(event, dict) else None
    if not isinstance(records, list):
        raise ValueError("not an SQS event: no Records list")
    checked = VERIFIER.split(records)
    if checked.refused:
        metrics.add_metric(name=FORGED_FINDINGS_METRIC, unit=MetricUnit.Count, value=len(checked.refused))
    deliveries: dict[str, Delivery] = {}
    heartbeats: dict[str, Heartbeat] = {}  # verified like findings, never imported (delivery/heartbeat.py)
    problems: dict[str, str] = dict(checked.returned)  # refused or not checked now: back to the queue
    for record in checked.trusted:
        message_id = record.get("messageId", "?") if isinstance(record, dict) else "?"
        try:
            if is_heartbeat_message(record["body"]):
                heartbeats[message_id] = Heartbeat.from_json(record["body"])
            else:
                deliveries[message_id] = Delivery.from_json(record["body"])
        except (DeliveryError, HeartbeatError, KeyError, TypeError) as error:
            problems[message_id] = f"unreadable finding message {message_id}: {error}"
    outcome = publisher.import_findings(deliveries, time_left_ms=context.get_remaining_time_in_millis)
    problems.update(outcome.not_imported)
    metrics.add_metric(name="FindingsImported", unit=MetricUnit.Count, value=outcome.imported)
    if outcome.fallbacks:
        metrics.add_metric(name="MemberImportFallbacks", unit=MetricUnit.Count, value=outcome.fallbacks)
    if problems:
        metrics.add_metric(name="FindingsNotImported", unit=MetricUnit.Count, value=len(problems))
    sent, before_import, beats = [], [], []

    def record_handler(record: SQSRecord) -> None:
        if record.message_id in heartbeats:  # no import: published for whoever watches the pipeline, then counted
            if publisher.heartbeat(heartbeats[record.message_id]):
                beats.append(record.message_id)
            return
        problem = problems.get(record.message_id)
        if problem:
            delivery = deliveries.get(record.message_id)
            refused = record.message_id in outcome.refused
            if delivery is not None and delivery.alert is not None \
                    and (refused or receive_count(record) >= ALERT_AFTER_RECEIVES):
                try:
                    if publisher.alert_before_import(delivery, outcome.reasons.get(record.message_id, problem),
                                                     refused=refused, context=context):
                        before_import.append(record.message_id)
                except Exception as error:  # noqa: BLE001 - the message returns to the queue either way
                    raise PublishError(f"{problem}; its alert could not be sent either: {error}") from error
            raise PublishError(problem)
        if publisher.alert(deliveries[record.message_id], context):
            sent.append(record.message_id)

    try:
        response = process_partial_response(event=event, record_handler=record_handler, processor=processor,
                                            context=context)
    finally:  # also when every record failed (the processor raises): alerts sent without the import count most
        metrics.add_metric(name="Alerts", unit=MetricUnit.Count, value=len(sent))
        if beats:  # only what SNS accepted: HeartbeatMissingAlarm treats no data as a missing heartbeat
            metrics.add_metric(name=HEARTBEATS_DELIVERED_METRIC, unit=MetricUnit.Count, value=len(beats))
            _count_alert_subscriptions(publisher)
        if before_import:
            metrics.add_metric(name="AlertsBeforeImport", unit=MetricUnit.Count, value=len(before_import))
            logger.warning("alerts sent before their findings were imported",
                           extra={"alerts_before_import": len(before_import), "refused": len(outcome.refused)})
    failures = response.get("batchItemFailures", [])
    logger.info("published", extra={"messages": len(records), "imported": outcome.imported, "alerts": len(sent),
                                    "alerts_before_import": len(before_import), "returned_to_queue": len(failures),
                                    "member_fallbacks": outcome.fallbacks, "heartbeats": len(beats)})
    return response


def receive_count(record: SQSRecord) -> int:
    """How many times SQS has handed this message out, this receive included (1 when it does not say)."""
    try:
        return max(1, int(record.attributes.approximate_receive_count))
    except (KeyError, TypeError, ValueError):
        return 1
