"""CloudTrailEvaluator: CloudTrail events (and the AWS Health events the rules listen to) from EventBridge ->
rules -> Security Hub and SNS.

A thin adapter: parse the envelope (malformed events fail the invocation and land on the DLQ with
the original payload; an AWS Health event is read as the record :mod:`identity_auditor.model.health`
makes of it), run the engine, publish the findings, count what happened.

The stack's heartbeat rule invokes it too (:mod:`identity_auditor.delivery.heartbeat`): that scheduled event, and
only that one (its rule's exact ARN, this account and region), becomes a heartbeat on the findings queue instead
of an evaluation; any imitation is an ordinary event, refused as not a CloudTrail event.
"""

from __future__ import annotations

import warnings
from collections import Counter
from datetime import datetime, timezone
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit
from aws_lambda_powertools.utilities.parser import parse
from identity_auditor.delivery.context import ContextBuilder
from identity_auditor.delivery.events import EventDelivery
from identity_auditor.delivery.heartbeat import (
    HEARTBEATS_QUEUED_METRIC,
    SCHEDULED_SOURCE,
    Heartbeat,
    heartbeat_rule_arn,
    is_heartbeat,
)
from identity_auditor.delivery.settings import Settings
from identity_auditor.delivery.wiring import build_sequence_store
from identity_auditor.engine.events import Engine
from identity_auditor.engine.sequences import SequenceEngine, SequenceStoreError
from identity_auditor.model.cloudtrail import CloudTrailEvent, invalid_event_message
from identity_auditor.model.health import health_envelope, is_health_event
from identity_auditor.model.home import Home
from identity_auditor.policy import current_policy

# A "finding" line per finding is most of what the evaluator writes: its lines carry what an operator reads (level,
# message, time, the event id as correlation_id, the request id, account, event name, the finding's fields), not
# what the log group already says (the function's name, ARN and memory, the service) nor the source line.
logger = Logger()
# (removed at each invocation, not by Logger(location=None): a Logger of the same service made earlier in the process
# would lend it its formatter, and the keys would be back)
_SAID_BY_THE_LOG_GROUP = ["location", "service", "cold_start", "function_name", "function_memory_size", "function_arn"]
metrics = Metrics()
copy_config_to_registered_loggers(source_logger=logger, include={"identity_auditor"})

SETTINGS = Settings.from_env()
ENGINE = Engine()
CONTEXT = ContextBuilder.from_settings(SETTINGS)
SEQUENCES = SequenceEngine(build_sequence_store(SETTINGS))
DELIVERY = EventDelivery(SETTINGS, on_retry=lambda sink, attempt, left: metrics.add_metric(
    name=f"{sink}Retries", unit=MetricUnit.Count, value=1))


# What an event costs is mostly what it writes to CloudWatch Logs: an event that breaks no rule writes nothing (no
# EMF document: Lambda's own Invocations metric counts events; no START/END/REPORT lines: template.yaml's
# SystemLogLevel). Powertools would warn once per process that such an invocation had no metric to publish.
warnings.filterwarnings("ignore", message="No application metrics to publish")

current_policy(SETTINGS)  # cold start: an unreadable or invalid policy fails here, naming the bad key


def _count(findings) -> None:
    """``Findings``, by ``service`` and by (``rule_id``, ``severity``, ``service``), in as few EMF documents as that
    takes: one when every finding of the event is of one rule and severity (nearly always: both dimension sets in
    the one document), else the total and one document per (rule id, severity). Their own documents, not the
    function's ``metrics``: the rule dimensions would be put on its other metrics too. Nothing for no finding."""
    if not findings:
        return
    groups = Counter((finding.rule_id, finding.severity.value) for finding in findings)
    total = EphemeralMetrics()
    total.add_metric(name="Findings", unit=MetricUnit.Count, value=len(findings))
    if len(groups) == 1:
        ((rule_id, severity),) = groups
        total.add_dimensions(rule_id=rule_id, severity=severity, service=total.service)
        total.flush_metrics()
        return
    total.flush_metrics()
    for (rule_id, severity), count in groups.items():
        by_rule = EphemeralMetrics()
        by_rule.add_dimension(name="rule_id", value=rule_id)
        by_rule.add_dimension(name="severity", value=severity)
        by_rule.add_metric(name="Findings", unit=MetricUnit.Count, value=count)
        by_rule.flush_metrics()


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def handler(event: dict, context) -> dict:
    logger.remove_keys(_SAID_BY_THE_LOG_GROUP)  # (inject_lambda_context has just put them back)
    logger.set_correlation_id(_event_id(event))
    if _from_heartbeat_rule(event, context):
        return _heartbeat(event, context)
    if is_health_event(event):
        event = health_envelope(event)
    cloudtrail_event = parse(event=event, model=CloudTrailEvent)
    record = cloudtrail_event.detail
    if not cloudtrail_event.source.startswith("aws."):
        # The rules' patterns admit only aws.* sources, which PutEvents refuses to anyone but AWS: an event
        # without one was forged or invoked by hand. Fail loudly (errors alarm, dead-letter queue).
        raise ValueError(f"refusing the event: its source {cloudtrail_event.source[:100]!r} is not an AWS service "
                         f"(only AWS can send aws.* events); {invalid_event_message(event).removesuffix(' is not valid')}")
    logger.append_keys(event_name=record.event_name, event_source=record.event_source, account=cloudtrail_event.account)

    ctx = CONTEXT.for_record(record, current_policy(SETTINGS), datetime.now(timezone.utc))
    result = ENGINE.evaluate(record, ctx, account=cloudtrail_event.account, region=cloudtrail_event.region)
    if result.failures:
        metrics.add_metric(name="RuleErrors", unit=MetricUnit.Count, value=len(result.failures))
    _count(result.findings)
    delivered = DELIVERY.publish(event, result.findings, context).counts
    sequences = _sequences(record, result, ctx, cloudtrail_event, context)
    return {
        "eventId": record.event_id,
        "findings": [finding.finding_id for finding in result.findings + sequences.findings],
        "ruleErrors": [failure.rule_id for failure in result.failures + sequences.failures],
        "delivered": delivered,
    }


def _event_id(event: Any) -> Any:
    """The log lines' correlation id: ``detail.eventID``, or ``None``: what ``correlation_id_path="detail.eventID"``
    read, without a JMESPath search on every event (about a seventh of a warm invocation's time)."""
    detail = event.get("detail") if isinstance(event, dict) else None
    return detail.get("eventID") if isinstance(detail, dict) else None


def _from_heartbeat_rule(event: dict, context) -> bool:
    """Whether this is the scheduled event of the stack's own heartbeat rule (exactly; see the module docstring)."""
    if not isinstance(event, dict) or event.get("source") != SCHEDULED_SOURCE:
        return False  # every CloudTrail and Health event: no further look
    home = Home.from_function_arn(context.invoked_function_arn)
    return is_heartbeat(event, heartbeat_rule_arn(SETTINGS.auditor_stack_name, home), home)


def _heartbeat(event: dict, context) -> dict:
    """The heartbeat rule's scheduled event: queue a heartbeat (signed) for the publisher; no rule runs. A queue
    that refuses fails the invocation (Lambda retries it, then the dead-letter queue; HeartbeatMissingAlarm)."""
    heartbeat = Heartbeat.from_event(event)
    _check_routing(context)
    queued = DELIVERY.heartbeat(heartbeat.to_json(), context)
    if queued:
        metrics.add_metric(name=HEARTBEATS_QUEUED_METRIC, unit=MetricUnit.Count, value=queued)
    logger.info("heartbeat queued" if queued else "heartbeat not queued: no findings queue",
                extra={"heartbeat_event_id": heartbeat.event_id, "rule": heartbeat.rule_arn})
    return {"eventId": heartbeat.event_id, "heartbeat": bool(queued), "findings": [], "ruleErrors": [],
            "delivered": {"queue": queued} if queued else {}}


def _check_routing(context) -> None:
    """At each heartbeat, the stack's routing rules (a disabled rule cannot report itself): ``RoutingRulesOff`` is
    their number disabled or missing (``RoutingRulesOffAlarm``); a check that cannot be made counts as one."""
    if not SETTINGS.auditor_stack_name:
        return
    import boto3
    from identity_auditor.delivery.heartbeat import ROUTING_RULES_OFF_METRIC, routing_rules_off
    from identity_auditor.engine.registry import REGISTRY

    region = context.invoked_function_arn.split(":")[3]
    try:
        off = routing_rules_off(boto3.client("events", region_name=region), SETTINGS.auditor_stack_name,
                                REGISTRY.routes(), organization=bool(SETTINGS.organization_id))
    except Exception as error:  # noqa: BLE001 - refused or unreachable: unknown is not fine
        off = [f"the routing rules could not be listed: {type(error).__name__}: {error}"]
    metrics.add_metric(name=ROUTING_RULES_OFF_METRIC, unit=MetricUnit.Count, value=len(off))
    if off:
        logger.error("routing rules off: events they route no longer reach the auditor", extra={"rules": off})


def _sequences(record, result, ctx, cloudtrail_event, context):
    """The sequences this record is a step of (spec §E), after the event's own findings were delivered: a failing
    sequence store fails the invocation (retried, then dead-lettered; SequenceErrors alarms), losing nothing."""
    try:
        evaluation = SEQUENCES.evaluate(record, result.fired, ctx, account=cloudtrail_event.account,
                                        region=cloudtrail_event.region)
        if evaluation.findings:
            DELIVERY.publish_sequences(evaluation.findings, context)
        SEQUENCES.commit(evaluation)  # once delivered; also how far a raised sequence now reaches
    except SequenceStoreError:
        metrics.add_metric(name="SequenceErrors", unit=MetricUnit.Count, value=1)
        logger.exception("the sequence state could not be read or written: the invocation fails and is retried")
        raise
    if evaluation.steps:
        metrics.add_metric(name="SequenceSteps", unit=MetricUnit.Count, value=evaluation.steps)
    _count(evaluation.findings)
    if evaluation.failures:
        metrics.add_metric(name="RuleErrors", unit=MetricUnit.Count, value=len(evaluation.failures))
    return evaluation
