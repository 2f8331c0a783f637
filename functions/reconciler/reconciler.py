"""TrailReconciler: once a day, start the backfill over the previous UTC day's CloudTrail log files of every
(account, region) in the trail bucket, so that an event EventBridge dropped (its delivery is best effort) is
still evaluated. The backfill publishes through the live evaluator's de-duplication records: what was already
paged live is not paged again.

Input: the scheduled event of the stack's ReconcileTrailSchedule rule (its "time" names the day: a delivery
EventBridge retried late still reconciles the right day), or {"day": "YYYY-MM-DD"} to reconcile a given day by
hand (`aws lambda invoke --payload '{"day":"2026-06-14"}'`).

Output: {"day", "started", "alreadyStarted", "empty", "skipped", "failed", "executions": [at most 50 names]}.
A start refused for another reason than ExecutionAlreadyExists fails the invocation once every other start was
tried: Lambda retries it (twice), and the retry starts only what is missing, then the dead-letter queue alarms.

The planning (bucket layout, names, the day) is identity_auditor.archive.reconcile; this is its S3 and Step
Functions side. Settings: CLOUDTRAIL_BUCKET, CLOUDTRAIL_KEY_PREFIX (optional), BACKFILL_STATE_MACHINE_ARN.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime, timezone

import boto3
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from identity_auditor.archive.reconcile import Plan, Start, day_to_reconcile, plan

WORKERS = 16  # concurrent ListObjectsV2 / StartExecution calls: an organisation has many (account, region) pairs
MAX_LISTED = 50

logger = Logger()
metrics = Metrics()
_CONFIG = Config(retries={"mode": "standard", "max_attempts": 8}, max_pool_connections=WORKERS)
_s3 = None
_sfn = None


class ReconciliationIncomplete(RuntimeError):
    """Some backfill executions could not be started; Lambda retries the invocation."""


class S3Listing:
    """identity_auditor.archive.reconcile.Listing over ListObjectsV2. A listing S3 refuses (or that cannot reach
    S3) is noted in ``failed`` and the rest of the plan goes on: one account's folder must not cost every other
    account its reconciliation; the invocation fails afterwards (retried) naming it."""

    def __init__(self, client, bucket: str):
        self.client, self.bucket = client, bucket
        self.failed: list[str] = []

    def common_prefixes(self, prefix: str) -> list[str]:
        try:
            pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix,
                                                                          Delimiter="/")
            return [p["Prefix"] for page in pages for p in page.get("CommonPrefixes", [])]
        except (ClientError, BotoCoreError) as error:
            self.failed.append(f"{prefix}: not listed: {error}"[:300])
            return []

    def has_objects(self, prefix: str) -> bool:
        try:
            return self.client.list_objects_v2(Bucket=self.bucket, Prefix=prefix, MaxKeys=1).get("KeyCount", 0) > 0
        except (ClientError, BotoCoreError) as error:
            self.failed.append(f"{prefix}: not listed: {error}"[:300])
            return False


def _clients():
    global _s3, _sfn
    if _s3 is None:
        _s3, _sfn = boto3.client("s3", config=_CONFIG), boto3.client("stepfunctions", config=_CONFIG)
    return _s3, _sfn


def _day(event: dict) -> date:
    if event.get("day"):
        return date.fromisoformat(event["day"])
    when = event.get("time")
    now = datetime.fromisoformat(when.replace("Z", "+00:00")) if when else datetime.now(timezone.utc)
    return day_to_reconcile(now)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def handler(event: dict, context) -> dict:
    bucket, key_prefix = os.environ["CLOUDTRAIL_BUCKET"], os.environ.get("CLOUDTRAIL_KEY_PREFIX", "")
    machine = os.environ["BACKFILL_STATE_MACHINE_ARN"]
    day = _day(event)
    s3, sfn = _clients()
    began = datetime.now(timezone.utc)
    listing = S3Listing(s3, bucket)
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        planned = plan(listing, bucket, key_prefix, day, map_=pool.map)
        outcomes = list(pool.map(lambda start: _start(sfn, machine, start, began), planned.starts))
    return _report(planned, outcomes, listing.failed)


def _start(sfn, machine: str, start: Start, began: datetime) -> str:
    """'started', 'alreadyStarted' or the reason it was not started. The same name and input as a running
    execution returns that execution (its earlier startDate); once it closed, ExecutionAlreadyExists."""
    try:
        response = sfn.start_execution(stateMachineArn=machine, name=start.name, input=start.input)
    except BotoCoreError as error:  # no answer from Step Functions: the retry starts it
        return f"{type(error).__name__}: {error}"[:300]
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code")
        if code == "ExecutionAlreadyExists":  # this day was reconciled (or is being): nothing to add
            return "alreadyStarted"
        return f"{code}: {error.response.get('Error', {}).get('Message', '')}"[:300]
    started = response.get("startDate")
    return "alreadyStarted" if started is not None and started < began else "started"


def _report(planned: Plan, outcomes: list[str], unlisted: list[str] = ()) -> dict:
    failed = [f"{start.name}: {outcome}" for start, outcome in zip(planned.starts, outcomes)
              if outcome not in ("started", "alreadyStarted")] + list(unlisted)
    summary = {
        "day": planned.day.isoformat(),
        "started": outcomes.count("started"),
        "alreadyStarted": outcomes.count("alreadyStarted"),
        "empty": planned.empty,
        "skipped": planned.skipped[:MAX_LISTED],
        "failed": failed[:MAX_LISTED],
        "executions": [start.name for start in planned.starts][:MAX_LISTED],
    }
    metrics.add_metric(name="ReconcileExecutionsStarted", unit=MetricUnit.Count, value=summary["started"])
    metrics.add_metric(name="ReconcileExecutionsFailed", unit=MetricUnit.Count, value=len(failed))
    logger.info("trail reconciled", extra={"summary": summary, "listings": planned.listings})
    if failed:
        raise ReconciliationIncomplete(
            f"{len(failed) - len(unlisted)} of {len(planned.starts)} backfill execution(s) for {summary['day']} not "
            f"started, {len(unlisted)} folder(s) not listed (the retry starts only what is missing): "
            + "; ".join(failed[:3]))
    return summary
