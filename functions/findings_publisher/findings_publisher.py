"""FindingsPublisher: the findings queue -> Security Hub (up to 100 findings a call) -> SNS alerts.

A thin adapter over :mod:`identity_auditor.delivery.publisher`: decode the batch's messages, import every finding
in as few ``BatchImportFindings`` calls as the limits allow, then let the Powertools batch processor
send each imported finding's alert and report, as a partial-batch response, exactly the messages that
were not imported, could not be read or whose alert failed. Those return to the queue (visibility
timeout), and after ``maxReceiveCount`` receives land on the findings dead-letter queue, whole, for a
redrive.
"""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from identity_auditor.delivery.publisher import Publisher, PublishError
from identity_auditor.delivery.settings import Settings
from identity_auditor.sinks.queue import Delivery, DeliveryError

logger = Logger()
metrics = Metrics()
copy_config_to_registered_loggers(source_logger=logger, include={"identity_auditor"})

SETTINGS = Settings.from_env()
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


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def handler(event: dict, context) -> dict:
    publisher = _publisher_for(context)
    records = event.get("Records") if isinstance(event, dict) else None
    if not isinstance(records, list):
        raise ValueError("not an SQS event: no Records list")
    deliveries: dict[str, Delivery] = {}
    problems: dict[str, str] = {}
    for record in records:
        message_id = record.get("messageId", "?") if isinstance(record, dict) else "?"
        try:
            deliveries[message_id] = Delivery.from_json(record["body"])
        except (DeliveryError, KeyError, TypeError) as error:
            problems[message_id] = f"unreadable finding message {message_id}: {error}"
    outcome = publisher.import_findings(deliveries, time_left_ms=context.get_remaining_time_in_millis)
    problems.update(outcome.not_imported)
    metrics.add_metric(name="FindingsImported", unit=MetricUnit.Count, value=outcome.imported)
    if outcome.fallbacks:
        metrics.add_metric(name="MemberImportFallbacks", unit=MetricUnit.Count, value=outcome.fallbacks)
    if problems:
        metrics.add_metric(name="FindingsNotImported", unit=MetricUnit.Count, value=len(problems))
    sent = []

    def record_handler(record: SQSRecord) -> None:
        problem = problems.get(record.message_id)
        if problem:
            raise PublishError(problem)
        if publisher.alert(deliveries[record.message_id], context):
            sent.append(record.message_id)

    response = process_partial_response(event=event, record_handler=record_handler, processor=processor,
                                        context=context)
    metrics.add_metric(name="Alerts", unit=MetricUnit.Count, value=len(sent))
    failures = response.get("batchItemFailures", [])
    logger.info("published", extra={"messages": len(records), "imported": outcome.imported, "alerts": len(sent),
                                    "returned_to_queue": len(failures), "member_fallbacks": outcome.fallbacks})
    return response
