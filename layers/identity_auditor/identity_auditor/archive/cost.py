"""What the backfill costs: the formula, once, for `scripts/bench_cost.py` (per million records, from the template's
settings and this machine's measure of the evaluation) and :func:`identity_auditor.archive.reconcile.cost_per_account_day`.

A backfill execution (statemachine/backfill.asl.json) lists the log files under a prefix, groups them in batches of
``files_per_batch`` (the map's ``ItemBatcher``) and runs one child execution, and one invocation of the backfill
function, per batch. For F files of R records each, B files per batch and M MB of function memory:

    batches      N = ceil(F / B)
    transitions  N x (1 + child states) + parent states + 1        Step Functions Standard, per transition
                 (the map is charged one transition per child execution it starts, then the child's own states:
                 EvaluateLogFile; retries add one each and are not counted)
    Lambda       N requests + N x M / 1024 GB x seconds billed, where a batch takes
                 B x (S3 wait + evaluation of one file at M MB's CPU share, M / 1,769 of a vCPU)
    S3           F GETs (the function) + ceil(F / 1,000) LISTs (the map's ItemReader) + 2 PUTs (ResultWriter)
    DynamoDB     the progress records of the de-duplication table (identity_auditor.delivery.backfill_progress),
                 on demand: F strongly consistent reads (one BatchGetItem per batch, one read request unit per
                 file's key, found or not: items are far below 4 KB). Writes only for a batch that is to run
                 again (retried or failed): one write request unit (items far below 1 KB) per file it completed,
                 and its retry reads its keys again; like the retries' transitions, not counted
    logs         N x the log bytes of one invocation (its summary line, metrics and Lambda's START/END/REPORT)

Prices: us-east-1 list prices from AWS's public pricing pages (the URLs below), as the project recorded them on
:data:`PRICES_AS_OF`; this machine has no web access to re-read them. Free tiers are left out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

PRICES_AS_OF = "2026-12-07"
# https://aws.amazon.com/step-functions/pricing/  Standard workflows: $0.025 per 1,000 state transitions; "Transitions
# in Distributed Map states" (developer guide): one transition per child workflow execution the map starts
PRICE_STATE_TRANSITION = 0.025 / 1000
# https://aws.amazon.com/lambda/pricing/  arm64: $0.20 per 1M requests, $0.0000133334 per GB-second (first tier)
PRICE_LAMBDA_REQUEST = 0.20 / 1_000_000
PRICE_LAMBDA_GB_SECOND_ARM64 = 0.0000133334
# https://aws.amazon.com/s3/pricing/  S3 Standard: GET $0.0004 per 1,000; PUT, COPY, POST, LIST $0.005 per 1,000
PRICE_S3_GET = 0.0004 / 1000
PRICE_S3_LIST = 0.005 / 1000
PRICE_S3_PUT = 0.005 / 1000
# https://aws.amazon.com/dynamodb/pricing/on-demand/  $0.125 per million read request units, $0.625 per million write
# request units (a strongly consistent read of up to 4 KB is one read unit; a write of up to 1 KB one write unit)
PRICE_DYNAMODB_READ_UNIT = 0.125 / 1_000_000
PRICE_DYNAMODB_WRITE_UNIT = 0.625 / 1_000_000
# https://aws.amazon.com/cloudwatch/pricing/  logs ingested (standard class): $0.50 per GB
PRICE_LOGS_GB = 0.50
# https://aws.amazon.com/kms/pricing/  $0.03 per 10,000 requests: a trail encrypted with SSE-KMS and no S3 Bucket
# Key costs one Decrypt per log file read (with a Bucket Key, about none): reported apart, not in the total
PRICE_KMS_REQUEST = 0.03 / 10_000

# Lambda allocates CPU in proportion to memory: 1,769 MB is one vCPU (Lambda developer guide, "memory and
# computing power").
MB_PER_VCPU = 1769
# Not measured on this machine (no AWS): the wait for one S3 GET of a log file in the same region, as README's
# earlier figure assumed.
S3_WAIT_SECONDS = 0.030
# One invocation's log lines: the "batch evaluated" summary (~0.8 KB), Powertools' metrics (~0.6 KB) and 0.4 KB for
# Lambda's START/END/REPORT, which template.yaml now turns off (SystemLogLevel WARN): kept as a margin; a finding or
# an unreadable input adds its own line.
LOG_BYTES_PER_INVOCATION = 1800


@dataclass(frozen=True)
class Backfill:
    """The settings a backfill's cost depends on (read from template.yaml and the state machine definition)."""

    files_per_batch: int
    memory_mb: int
    child_states: int = 1  # states a child execution enters (EvaluateLogFile)
    parent_states: int = 2  # ReadSettings and the map (plus the execution's end: +1)
    s3_wait_seconds: float = S3_WAIT_SECONDS
    log_bytes_per_invocation: int = LOG_BYTES_PER_INVOCATION


@dataclass(frozen=True)
class Cost:
    files: int
    records: int
    batches: int
    transitions: int
    lambda_seconds: float
    s3_gets: int
    s3_lists: int
    dollars: dict[str, float]
    kms_without_bucket_key: float  # SSE-KMS trail without an S3 Bucket Key: this much more (not in the total)

    @property
    def total(self) -> float:
        return sum(self.dollars.values())

    def per_million_records(self) -> float:
        return self.total * 1_000_000 / self.records if self.records else 0.0


def backfill_cost(settings: Backfill, *, files: int, records_per_file: float, cpu_seconds_per_file: float,
                  executions: int = 1) -> Cost:
    """The cost of ``executions`` backfill executions over ``files`` log files in all, each of ``records_per_file``
    records that take ``cpu_seconds_per_file`` to read and evaluate on one full vCPU."""
    batches = math.ceil(files / settings.files_per_batch)
    transitions = batches * (1 + settings.child_states) + executions * (settings.parent_states + 1)
    share = min(settings.memory_mb / MB_PER_VCPU, 1.0)
    seconds_per_file = settings.s3_wait_seconds + cpu_seconds_per_file / share
    lambda_seconds = files * seconds_per_file  # billed per ms: the rounding of N invocations is negligible
    lists = executions * max(1, math.ceil(files / executions / 1000))
    dollars = {
        "stepFunctions": transitions * PRICE_STATE_TRANSITION,
        "lambda": batches * PRICE_LAMBDA_REQUEST
        + lambda_seconds * settings.memory_mb / 1024 * PRICE_LAMBDA_GB_SECOND_ARM64,
        "s3": files * PRICE_S3_GET + lists * PRICE_S3_LIST + executions * 2 * PRICE_S3_PUT,
        "dynamodb": files * PRICE_DYNAMODB_READ_UNIT,
        "logs": batches * settings.log_bytes_per_invocation / 1e9 * PRICE_LOGS_GB,
    }
    return Cost(files=files, records=round(files * records_per_file), batches=batches, transitions=transitions,
                lambda_seconds=lambda_seconds, s3_gets=files, s3_lists=lists, dollars=dollars,
                kms_without_bucket_key=files * PRICE_KMS_REQUEST)


__all__ = ["Backfill", "Cost", "PRICES_AS_OF", "backfill_cost"]
