"""BackfillEvaluator: one CloudTrail log file in S3 (an item of the backfill Distributed Map) -> rules ->
Security Hub and SNS, published exactly as the live CloudTrailEvaluator publishes a delivered event.

Input, built by the map's ItemSelector (statemachine/backfill.asl.json):
    {"bucket": "<CloudTrail bucket>", "key": "AWSLogs/<account>/CloudTrail/<region>/.../x.json.gz", "size": 1234}
The raw ListObjectsV2 item ({"Key": ..., "Size": ..., ...}) with a "bucket" added is accepted too.

Output: a small summary per object (Step Functions payloads are at most 256 KB; the map's ResultWriter
collects them in SUCCEEDED_<n>.json): {"key", "records", "evaluated", "findings", "published",
"alreadyPublished", "ruleErrors", "skipped", "problems": [at most 20], "problemsTotal"}.

What fails the invocation and what does not:
- a file that cannot be read as a CloudTrail log (corrupt gzip, not JSON, records that are not CloudTrail)
  is reported in "problems" and the invocation succeeds: a retry cannot fix it and the map goes on;
- S3 refusing the object (access denied, KMS) raises: every object would fail the same way, and the map
  run stops at its ToleratedFailurePercentage instead of reporting thousands of problems;
- findings that could not be delivered, or an event that another invocation is publishing at this very
  moment, raise PublishIncomplete once every other event was tried: Step Functions retries the object with
  backoff, and the de-duplication table skips what was already published.
"""

from __future__ import annotations

from datetime import datetime, timezone

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.metrics import MetricUnit
from identity_auditor.delivery.context import ContextBuilder
from identity_auditor.archive.reader import Replayer, in_event_order
from identity_auditor.delivery.wiring import build_sequence_store
from identity_auditor.engine.sequences import SequenceEngine, SequenceStoreError
from identity_auditor.delivery.events import EventDelivery
from identity_auditor.delivery.settings import Settings
from identity_auditor.engine.events import Engine
from identity_auditor.engine.registry import REGISTRY
from identity_auditor.policy import current_policy
from identity_auditor.sinks import SinkError

MAX_PROBLEMS = 20  # problems listed in the summary (all of them are counted and logged)
MAX_PROBLEM_CHARS = 300
# CloudTrail writes digest files next to the logs (AWSLogs/<account>/CloudTrail-Digest/...): not logs.
NOT_LOGS = ("/CloudTrail-Digest/",)

logger = Logger()
metrics = Metrics()
copy_config_to_registered_loggers(source_logger=logger, include={"identity_auditor"})


class PublishIncomplete(RuntimeError):
    """Some events' findings were not delivered; Step Functions retries the object (Retry in the ASL)."""


SETTINGS = Settings.from_env()
ENGINE = Engine(REGISTRY)
CONTEXT = ContextBuilder.from_settings(SETTINGS)
SEQUENCES = SequenceEngine(build_sequence_store(SETTINGS))
# The live evaluator's delivery and de-duplication records: an event it paged is not paged again.
DELIVERY = EventDelivery(SETTINGS, on_retry=lambda sink, attempt, left: metrics.add_metric(
    name=f"{sink}Retries", unit=MetricUnit.Count, value=1))
_s3 = None


current_policy(SETTINGS)  # cold start: an unreadable or invalid policy fails here, naming the bad key


def _read_object(bucket: str, key: str) -> bytes:
    global _s3
    if _s3 is None:
        import boto3
        from botocore.config import Config

        _s3 = boto3.client("s3", config=Config(retries={"mode": "standard", "max_attempts": 5}))
    return _s3.get_object(Bucket=bucket, Key=key)["Body"].read()


class Summary:
    def __init__(self, key: str):
        self.key, self.problems, self.problems_total = key, [], 0
        self.counts = dict.fromkeys(
            ("records", "evaluated", "findings", "published", "alreadyPublished", "ruleErrors", "skipped"), 0)

    def problem(self, origin: str, message: str) -> None:
        self.problems_total += 1
        logger.warning("unreadable input", extra={"origin": origin, "problem": message})
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(f"{origin}: {message}"[:MAX_PROBLEM_CHARS])

    def as_dict(self) -> dict:
        return {"key": self.key, **self.counts, "problems": self.problems, "problemsTotal": self.problems_total}


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def handler(event: dict, context) -> dict:
    bucket, key = event["bucket"], event.get("key") or event["Key"]
    logger.append_keys(s3_bucket=bucket, s3_key=key, s3_size=event.get("size", event.get("Size")))
    summary = Summary(key)
    metrics.add_metric(name="BackfillObjects", unit=MetricUnit.Count, value=1)
    if key.endswith("/") or any(marker in key for marker in NOT_LOGS):
        logger.info("not a CloudTrail log file: skipped")
        return summary.as_dict()
    try:
        data = _read_object(bucket, key)
    except Exception as error:  # botocore's ClientError, without importing botocore before it is needed
        if getattr(error, "response", {}).get("Error", {}).get("Code") == "NoSuchKey":
            summary.problem(key, "the object no longer exists")
            return summary.as_dict()
        raise
    undelivered: list[str] = []

    def deliver(origin: str, envelope: dict, findings: list) -> None:
        failure = _publish_event(envelope, findings, context, summary)
        if failure:
            undelivered.append(f"{origin}: {failure}")

    policy, now = current_policy(SETTINGS), datetime.now(timezone.utc)
    reader = Replayer(policy=policy, now=now, engine=ENGINE, deliver=deliver,
                      context=lambda record: CONTEXT.for_record(record, policy, now))
    result = reader.read(key, data)  # the CLI's reader: the same records, filter and validation as `evaluate`
    for problem in result.problems:
        summary.problem(problem.origin, problem.message)
    summary.counts.update(records=result.records, evaluated=result.evaluated, findings=len(result.findings),
                          ruleErrors=len(result.failures), skipped=result.not_cloudtrail)
    failure = _sequences(result.steps, policy, now, context, summary)  # adds its findings to the counts
    if failure:
        undelivered.append(f"{key}: {failure}")
    _count(summary)
    logger.info("object evaluated", extra={"summary": summary.as_dict()})
    if undelivered:
        raise PublishIncomplete(f"{len(undelivered)} event(s) of {key} not published (retried by Step Functions): "
                                + "; ".join(undelivered[:3])[:1000])
    return summary.as_dict()


def _publish_event(envelope: dict, findings: list, context, summary: Summary) -> str | None:
    """Publish one CloudTrail event's findings once, as the live evaluator does; the error, if any."""
    from aws_lambda_powertools.utilities.idempotency.exceptions import (
        IdempotencyAlreadyInProgressError,
        IdempotencyPersistenceLayerError,
    )

    try:
        delivered = DELIVERY.publish(envelope, findings, context)
    except SinkError as error:
        return f"not delivered: {error}"
    except IdempotencyAlreadyInProgressError:
        return "being published by another invocation"
    except IdempotencyPersistenceLayerError as error:
        return f"de-duplication table unavailable: {error}"
    summary.counts["published" if delivered.fresh else "alreadyPublished"] += len(findings)
    return None


def _sequences(steps: list, policy, now, context, summary: Summary) -> str | None:
    """The object's sequence steps (spec §E), in event-time order, judged against the live path's state (the same
    DynamoDB table, so steps that arrived live and steps found in the archive complete the same sequences);
    each completed sequence is published, then remembered as raised. The error, if any (retried by Step
    Functions: nothing is lost, nothing pages twice)."""
    try:
        for step in in_event_order(steps):
            ctx = CONTEXT.for_record(step.record, policy, now)
            evaluation = SEQUENCES.evaluate(step.record, step.fired, ctx, account=step.account, region=step.region)
            summary.counts["ruleErrors"] += len(evaluation.failures)
            if evaluation.findings:
                DELIVERY.publish_sequences(evaluation.findings, context)
            SEQUENCES.commit(evaluation)
            if evaluation.findings:
                summary.counts["findings"] += len(evaluation.findings)
                summary.counts["published"] += len(evaluation.findings)
    except (SequenceStoreError, SinkError) as error:
        metrics.add_metric(name="SequenceErrors", unit=MetricUnit.Count, value=1)
        return f"sequences not judged: {error}"
    return None


def _count(summary: Summary) -> None:
    for name, key in (("BackfillRecords", "records"), ("BackfillEventsEvaluated", "evaluated"),
                      ("BackfillFindings", "findings"), ("BackfillPublished", "published")):
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=summary.counts[key])
    if summary.problems_total:
        metrics.add_metric(name="BackfillProblems", unit=MetricUnit.Count, value=summary.problems_total)
    if summary.counts["ruleErrors"]:
        metrics.add_metric(name="RuleErrors", unit=MetricUnit.Count, value=summary.counts["ruleErrors"])
