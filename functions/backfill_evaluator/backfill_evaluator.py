"""BackfillEvaluator: a batch of CloudTrail log files in S3 (one child execution of the backfill Distributed Map)
-> rules -> Security Hub and SNS, each event published exactly as the live CloudTrailEvaluator publishes it.

Input, built by the map's ItemSelector and ItemBatcher and the child's task (statemachine/backfill.asl.json):
    {"Items": [{"bucket": "<CloudTrail bucket>", "key": "AWSLogs/<account>/CloudTrail/<region>/.../x.json.gz",
                "size": 1234}, ...],
     "execution": "<the child execution's ARN, $$.Execution.Id>"}
(Step Functions applies ItemSelector to each item, then ItemBatcher puts the items in an "Items" array: developer
guide, "Map state input and output fields".) A single item ({"bucket", "key", "size"}, or a raw ListObjectsV2 item
with "bucket" added, as the definition before batching sent) is a batch of one, without an execution.

Output: a small summary per batch (Step Functions payloads are at most 256 KB; the map's ResultWriter collects
them in SUCCEEDED_<n>.json): the batch's totals {"files", "records", "evaluated", "findings", "published",
"alreadyPublished", "ruleErrors", "skipped", "problemsTotal"}, "completedEarlier" (files an earlier attempt of
the same execution completed: not read again, their counts are that attempt's), "problems" (at most 20 for the
whole batch, each naming its file), "failedFiles" ({"key", "error"} of each file S3 refused or that could not be
evaluated, within the tolerance below) and "objects": one entry per file with its own counts ("completedEarlier":
true on the files not read again).

The files of a batch are evaluated one after the other, each on its own: what fails for one file never keeps the
others from being evaluated and their findings published. Then:
- a file that cannot be read as a CloudTrail log (corrupt gzip, not JSON, records that are not CloudTrail) is
  reported in "problems" and the invocation succeeds: a retry cannot fix it and the map goes on;
- findings that could not be delivered, an event that another invocation is publishing at this very moment, or
  files left unread because the invocation's time ran out raise PublishIncomplete once every other file was
  done: Step Functions retries the batch with backoff. The files it evaluated to the end are then recorded for
  the execution (identity_auditor.delivery.backfill_progress; a batch that succeeds records nothing, it never
  runs again), so the retry skips the files earlier attempts completed and goes on with the others, and the
  de-duplication table skips every event published before (they count as "alreadyPublished"): a retry pages
  nobody twice and every attempt gets further (it reads at least one file);
- S3 refusing an object (access denied, KMS), or any unexpected error while evaluating a file, is not retried
  (every attempt would fail the same way) and is counted (metric BackfillFilesFailed, alarm
  BackfillFilesFailedAlarm). Step Functions counts every item of a failed batch as failed towards the map's
  ToleratedFailurePercentage, so the batch fails (FilesFailed) only when its failed files are more than that same
  percentage of its files (BACKFILL_TOLERATED_FAILURE_PERCENTAGE, set by the stack from the one value the map
  reads; unset: any failed file fails the batch); fewer are listed in the summary's "failedFiles" and the batch
  succeeds. Either way the batch's other files were evaluated and published, and the error or summary names each
  failed file and why. A failed file is not recorded as completed: each attempt of its batch reads it again
  (and counts it again).
"""

from __future__ import annotations

import os
from datetime import datetime, timezone

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.metrics import MetricUnit
from identity_auditor.delivery.context import ContextBuilder
from identity_auditor.archive.reader import Replayer, in_event_order
from identity_auditor.delivery.backfill_progress import item_id
from identity_auditor.delivery.wiring import build_backfill_progress, build_sequence_store
from identity_auditor.engine.sequences import SequenceEngine, SequenceStoreError
from identity_auditor.delivery.events import EventDelivery
from identity_auditor.delivery.settings import Settings
from identity_auditor.engine.events import Engine
from identity_auditor.engine.registry import REGISTRY
from identity_auditor.policy import current_policy
from identity_auditor.sinks import SinkError

MAX_PROBLEMS = 20  # problems listed in a batch's summary (all of them are counted and logged)
MAX_PROBLEM_CHARS = 300
MAX_ERROR_FILES = 10  # files named in a batch's error (Step Functions keeps at most 32,768 characters of it)
# No file is started with less than this left of the invocation (the function's Timeout is 300 s): the files
# left are retried with the batch rather than the whole invocation timing out.
TIME_RESERVE_MS = 45_000
# CloudTrail writes digest files next to the logs (AWSLogs/<account>/CloudTrail-Digest/...): not logs.
NOT_LOGS = ("/CloudTrail-Digest/",)
COUNTS = ("records", "evaluated", "findings", "published", "alreadyPublished", "ruleErrors", "skipped")

logger = Logger()
metrics = Metrics()
copy_config_to_registered_loggers(source_logger=logger, include={"identity_auditor"})


class PublishIncomplete(RuntimeError):
    """Some files' findings were not delivered (or some files not read in time); Step Functions retries the
    batch (Retry in the ASL) and the de-duplication table skips what the first attempt published."""


class FilesFailed(RuntimeError):
    """S3 refused more of the batch's objects than the map tolerates (access denied, KMS, no such bucket), or
    evaluating them failed: not retried; the batch fails and is listed in the map run's FAILED results. Its other
    files were evaluated."""


def tolerated_failure_percentage() -> float:
    """The map's ToleratedFailurePercentage, which the stack gives the function too (template.yaml, mapping
    Backfill): the share of a batch's files that may fail without failing the batch. Unset (the function invoked
    on its own): 0, any failed file fails the batch."""
    value = float(os.environ.get("BACKFILL_TOLERATED_FAILURE_PERCENTAGE", "0") or 0)
    if not 0 <= value <= 100:
        raise ValueError(f"BACKFILL_TOLERATED_FAILURE_PERCENTAGE must be between 0 and 100, not {value}")
    return value


def batch_fails(failed: int, files: int, percentage: float) -> bool:
    """Whether ``failed`` of a batch's ``files`` are more than ``percentage`` of them (Step Functions' rule for the
    whole map: it fails when the failed items exceed the percentage)."""
    return failed * 100 > percentage * files


SETTINGS = Settings.from_env()
ENGINE = Engine(REGISTRY)
CONTEXT = ContextBuilder.from_settings(SETTINGS)
SEQUENCES = SequenceEngine(build_sequence_store(SETTINGS))
# The live evaluator's delivery and de-duplication records: an event it paged is not paged again.
DELIVERY = EventDelivery(SETTINGS, on_retry=lambda sink, attempt, left: metrics.add_metric(
    name=f"{sink}Retries", unit=MetricUnit.Count, value=1))
# Which files each execution completed: a retried batch goes on where its earlier attempts stopped.
PROGRESS = build_backfill_progress(SETTINGS)
TOLERATED_FAILURE_PERCENTAGE = tolerated_failure_percentage()
_s3 = None


current_policy(SETTINGS)  # cold start: an unreadable or invalid policy fails here, naming the bad key


def _read_object(bucket: str, key: str) -> bytes:
    """The object's bytes, with the archive reader's S3 client (its retries and timeouts: one hung GET must not
    use up the invocation)."""
    global _s3
    if _s3 is None:
        from identity_auditor.archive.reader import s3_client

        _s3 = s3_client()
    return _s3.get_object(Bucket=bucket, Key=key)["Body"].read()


class Batch:
    """The summary of one invocation's files, and what is left to retry or failed."""

    def __init__(self):
        self.objects: list[dict] = []
        self.problems: list[str] = []
        self.problems_total = 0
        self.retry: list[str] = []  # "<key>: why" of files to evaluate again (PublishIncomplete)
        self.failed: list[dict] = []  # {"key", "error"} of files S3 refused or that could not be evaluated
        self.completed_earlier = 0

    def problem(self, origin: str, message: str) -> None:
        self.problems_total += 1
        logger.warning("unreadable input", extra={"origin": origin, "problem": message})
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(f"{origin}: {message}"[:MAX_PROBLEM_CHARS])

    def totals(self, *, fresh_only: bool = False) -> dict:
        entries = [e for e in self.objects if not (fresh_only and e.get("completedEarlier"))]
        return {name: sum(entry[name] for entry in entries) for name in COUNTS}

    def as_dict(self) -> dict:
        return {"files": len(self.objects), **self.totals(), "completedEarlier": self.completed_earlier,
                "problems": self.problems, "problemsTotal": self.problems_total,
                "failedFiles": self.failed, "objects": self.objects}


class FileSummary:
    def __init__(self, key: str, batch: Batch):
        self.key, self.batch, self.problems_total = key, batch, 0
        self.counts = dict.fromkeys(COUNTS, 0)

    def problem(self, origin: str, message: str) -> None:
        self.problems_total += 1
        self.batch.problem(origin, message)

    def as_dict(self) -> dict:
        return {"key": self.key, **self.counts, "problemsTotal": self.problems_total}


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def handler(event: dict, context) -> dict:
    items = event["Items"] if isinstance(event.get("Items"), list) else [event]
    batch = Batch()
    metrics.add_metric(name="BackfillObjects", unit=MetricUnit.Count, value=len(items))
    policy, now = current_policy(SETTINGS), datetime.now(timezone.utc)
    markers = _markers(event.get("execution"), items)
    done = _completed(markers)
    read, completed = 0, []  # (marker, counts) of the files this invocation evaluated to the end
    for item, marker in zip(items, markers):
        key = item.get("key") or item["Key"]
        if marker in done:  # an earlier attempt of this execution evaluated it to the end
            batch.completed_earlier += 1
            counts = {name: done[marker].get(name, 0) for name in COUNTS}
            batch.problems_total += done[marker].get("problemsTotal", 0)
            batch.objects.append({"key": key, **counts, "problemsTotal": done[marker].get("problemsTotal", 0),
                                  "completedEarlier": True})
            continue
        if read and context.get_remaining_time_in_millis() < TIME_RESERVE_MS:
            batch.retry.append(f"{key}: not read, the invocation's time ran out (the batch's retry reads it)")
            continue
        read += 1
        logger.append_keys(s3_bucket=item["bucket"], s3_key=key, s3_size=item.get("size", item.get("Size")))
        summary, retries = FileSummary(key, batch), len(batch.retry)
        try:
            _evaluate(item["bucket"], key, summary, policy, now, context)
        except Exception as error:  # S3's ClientError (botocore is imported on first use), or a defect
            logger.exception("log file not evaluated")
            batch.failed.append({"key": key, "error": f"{type(error).__name__}: {error}"[:MAX_PROBLEM_CHARS]})
        else:
            if marker and len(batch.retry) == retries:  # nothing of it left to publish: done for this execution
                completed.append((marker, {**summary.counts, "problemsTotal": summary.problems_total}))
        batch.objects.append(summary.as_dict())
    logger.remove_keys(["s3_bucket", "s3_key", "s3_size"])
    result = batch.as_dict()
    _count(batch)
    logger.info("batch evaluated", extra={"summary": {k: v for k, v in result.items() if k != "objects"}})
    failed = [f"{entry['key']}: {entry['error']}" for entry in batch.failed]
    fails = batch_fails(len(batch.failed), len(items), TOLERATED_FAILURE_PERCENTAGE)
    if batch.retry or fails:  # the batch runs again (Retry, or a redrive of the execution): record what is done
        _mark(completed)
    if batch.retry:
        raise PublishIncomplete(_failure(f"{len(batch.retry)} of {len(items)} file(s) not fully published "
                                         "(Step Functions retries the batch)", batch.retry + failed, result))
    if fails:
        raise FilesFailed(_failure(f"{len(batch.failed)} of {len(items)} file(s) failed, more than the "
                                   f"{TOLERATED_FAILURE_PERCENTAGE:g} % tolerated", failed, result))
    if batch.failed:
        logger.warning("files failed, within the tolerated share of the batch", extra={"failedFiles": batch.failed})
    return result


def _markers(execution: str | None, items: list[dict]) -> list[str | None]:
    """Each item's progress record in this execution (None: no execution given, or no table)."""
    if not execution or PROGRESS is None:
        return [None] * len(items)
    return [item_id(execution, item["bucket"], item.get("key") or item["Key"], item.get("size", item.get("Size")))
            for item in items]


def _completed(markers: list[str | None]) -> dict[str, dict[str, int]]:
    wanted = [marker for marker in markers if marker]
    if not wanted:
        return {}
    try:
        return PROGRESS.completed(wanted)
    except Exception:  # botocore's ClientError or a connection error: read every file (nothing pages twice)
        logger.exception("progress of the execution not read: every file of the batch is evaluated")
        return {}


def _mark(completed: list[tuple[str, dict[str, int]]]) -> None:
    """Record the files completed, when the batch is to run again: a batch that succeeds is never run again in
    its execution, so its files cost no write."""
    for marker, counts in completed:
        try:
            PROGRESS.mark(marker, counts)
        except Exception:  # a retry reads the file again (nothing pages twice)
            logger.exception("progress not recorded: a retry of the batch reads the file again")
            return


def _failure(what: str, files: list[str], result: dict) -> str:
    """The error Step Functions records for the batch: the files and why, and what the others did."""
    named = "; ".join(files[:MAX_ERROR_FILES]) + (f"; and {len(files) - MAX_ERROR_FILES} more"
                                                  if len(files) > MAX_ERROR_FILES else "")
    return (f"{what}: {named}"[:6000] + f" | the batch's {result['files']} file(s) read: {result['records']} records, "
            f"{result['findings']} findings, {result['published']} published, {result['alreadyPublished']} already "
            "published")


def _evaluate(bucket: str, key: str, summary: FileSummary, policy, now, context) -> None:
    """One log file: read, evaluate, publish each event's findings and the sequences it completes. Undelivered
    findings go to ``summary.batch.retry``; an S3 refusal raises (botocore's ClientError)."""
    if key.endswith("/") or any(marker in key for marker in NOT_LOGS):
        logger.debug("not a CloudTrail log file: skipped")
        return
    try:
        data = _read_object(bucket, key)
    except Exception as error:
        if getattr(error, "response", {}).get("Error", {}).get("Code") == "NoSuchKey":
            summary.problem(key, "the object no longer exists")
            return
        raise
    undelivered: list[str] = []

    def deliver(origin: str, envelope: dict, findings: list) -> None:
        failure = _publish_event(envelope, findings, context, summary)
        if failure:
            undelivered.append(f"{origin}: {failure}")

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
    logger.debug("object evaluated", extra={"summary": summary.as_dict()})
    if undelivered:
        summary.batch.retry.append(f"{key}: {len(undelivered)} event(s) not published: "
                                   + "; ".join(undelivered[:3])[:1000])


def _publish_event(envelope: dict, findings: list, context, summary: FileSummary) -> str | None:
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
    except Exception as error:  # noqa: BLE001 - any other delivery failure: retried, the file's other events go on
        return f"not delivered: {type(error).__name__}: {error}"
    summary.counts["published" if delivered.fresh else "alreadyPublished"] += len(findings)
    return None


def _sequences(steps: list, policy, now, context, summary: FileSummary) -> str | None:
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


def _count(batch: Batch) -> None:
    """What this invocation did (files an earlier attempt completed were counted by it)."""
    result = batch.totals(fresh_only=True)
    for name, key in (("BackfillRecords", "records"), ("BackfillEventsEvaluated", "evaluated"),
                      ("BackfillFindings", "findings"), ("BackfillPublished", "published")):
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=result[key])
    problems = sum(e["problemsTotal"] for e in batch.objects if not e.get("completedEarlier"))
    if problems:
        metrics.add_metric(name="BackfillProblems", unit=MetricUnit.Count, value=problems)
    if result["ruleErrors"]:
        metrics.add_metric(name="RuleErrors", unit=MetricUnit.Count, value=result["ruleErrors"])
    if batch.failed:  # BackfillFilesFailedAlarm: whether or not the batch failed with them
        metrics.add_metric(name="BackfillFilesFailed", unit=MetricUnit.Count, value=len(batch.failed))
