"""Reconciliation against the trail: which backfill executions a daily sweep starts, and what they cost.

EventBridge delivers CloudTrail events on a best-effort basis, so an event it dropped never reaches the live
evaluator. The trail's S3 log files hold every event, so once a day the reconciler (functions/reconciler) starts
the backfill state machine (statemachine/backfill.asl.json) over the previous UTC day's log files of every
(account, region) the trail bucket holds. The backfill publishes through the live evaluator's de-duplication
records, so events that were delivered live are not paged again.

This module is the pure part: it walks the bucket's folder layout through a :class:`Listing` (ListObjectsV2
with ``Delimiter="/"`` in the function, a fake in the unit tests) and returns the executions to start, each with
a deterministic name (a second run of the same day starts no duplicates). The layouts CloudTrail writes:

    [<key prefix>/]AWSLogs/<account id>/CloudTrail/<region>/YYYY/MM/DD/<file>.json.gz          (account trail)
    [<key prefix>/]AWSLogs/<o-organisation id>/<account id>/CloudTrail/<region>/YYYY/MM/DD/...   (organisation trail)

Only the ``CloudTrail/`` folder of each account is descended into: ``CloudTrail-Digest/``, ``CloudTrail-Insight/``
and the folders of other services that deliver to the same bucket are never listed. The folder date is the date
the log file was *delivered* (CloudTrail's file name format), so each file belongs to exactly one day's sweep.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Protocol

from identity_auditor.archive.cost import PRICE_S3_LIST, Backfill, Cost, backfill_cost

ACCOUNT = re.compile(r"\d{12}")
ORGANIZATION = re.compile(r"o-[a-z0-9]{10,32}")  # the Organizations id pattern (OrganizationId in the template)
REGION = re.compile(r"[a-z]{2}(-[a-z]+)+-\d{1,2}")  # us-east-1, us-gov-west-1, cn-north-1, eu-isoe-west-1
NAME_PREFIX = "reconcile"
MAX_NAME = 80  # StartExecution's name: 1 to 80 characters


class Listing(Protocol):
    """The two questions the planner asks of the trail bucket."""

    def common_prefixes(self, prefix: str) -> list[str]:
        """The "folders" directly under ``prefix`` (ListObjectsV2 Prefix=prefix, Delimiter="/", every page)."""

    def has_objects(self, prefix: str) -> bool:
        """Whether any object's key starts with ``prefix`` (ListObjectsV2 Prefix=prefix, MaxKeys=1)."""


@dataclass(frozen=True)
class Start:
    """One backfill execution: the log files of one account and region, delivered on one day."""

    account: str
    region: str
    day: date
    organization: str | None
    bucket: str
    prefix: str

    @property
    def name(self) -> str:
        """Deterministic: the same day, bucket and prefix give the same name, so a second run of the sweep gets
        the first execution back (same name and input while it runs) or ExecutionAlreadyExists (once closed),
        never a second execution. The hash tells apart an account present in both layouts."""
        digest = hashlib.sha256(f"{self.bucket}/{self.prefix}".encode()).hexdigest()[:8]
        name = f"{NAME_PREFIX}-{self.day:%Y%m%d}-{self.account}-{self.region}-{digest}"
        return name[:MAX_NAME]

    @property
    def input(self) -> str:
        """The backfill state machine's execution input, always the same text for the same start."""
        return json.dumps({"bucket": self.bucket, "prefix": self.prefix}, separators=(",", ":"))


@dataclass
class Plan:
    day: date
    root: str
    starts: list[Start] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # "<prefix>: why", folders that are not an account's logs
    empty: int = 0  # (account, region) folders with no log file delivered that day
    listings: int = 0  # ListObjectsV2 requests the planner asked for (pages of common prefixes count as one)


def day_to_reconcile(now: datetime) -> date:
    """The previous UTC day: every log file delivered that day is in S3 by midnight."""
    if now.tzinfo is None:
        raise ValueError("a time without a time zone cannot be placed in a UTC day")
    return (now.astimezone(timezone.utc) - timedelta(days=1)).date()


def logs_root(key_prefix: str) -> str:
    """``AWSLogs/`` under the trail's optional S3 key prefix (given with or without slashes)."""
    key_prefix = key_prefix.strip("/")
    return f"{key_prefix}/AWSLogs/" if key_prefix else "AWSLogs/"


def plan(listing: Listing, bucket: str, key_prefix: str, day: date,
         map_: Callable[..., Iterable] = map) -> Plan:
    """The executions that backfill ``day`` for every account and region under the bucket's ``AWSLogs/``.
    ``map_`` runs the listings (the function passes a thread pool's map; the order of results is kept)."""
    result = Plan(day=day, root=logs_root(key_prefix))
    owners: list[tuple[str | None, str, str]] = []  # (organization, account, "<...>/<account>/")
    organizations: list[str] = []
    result.listings += 1
    for child in listing.common_prefixes(result.root):
        name = child[len(result.root):].rstrip("/")
        if ACCOUNT.fullmatch(name):
            owners.append((None, name, child))
        elif ORGANIZATION.fullmatch(name):
            organizations.append(child)
        else:
            result.skipped.append(f"{child}: neither an account id nor an organisation id")
    result.listings += len(organizations)
    for org_prefix, children in zip(organizations, map_(listing.common_prefixes, organizations)):
        organization = org_prefix[len(result.root):].rstrip("/")
        for child in children:
            name = child[len(org_prefix):].rstrip("/")
            if ACCOUNT.fullmatch(name):
                owners.append((organization, name, child))
            else:
                result.skipped.append(f"{child}: not an account id")
    trails = [f"{prefix}CloudTrail/" for _, _, prefix in owners]
    result.listings += len(trails)
    candidates: list[Start] = []
    for (organization, account, _), trail, children in zip(owners, trails, map_(listing.common_prefixes, trails)):
        for child in children:
            region = child[len(trail):].rstrip("/")
            if not REGION.fullmatch(region):
                result.skipped.append(f"{child}: not a region")
                continue
            candidates.append(Start(account=account, region=region, day=day, organization=organization,
                                    bucket=bucket, prefix=f"{child}{day:%Y/%m/%d}/"))
    result.listings += len(candidates)
    for start, present in zip(candidates, map_(listing.has_objects, [c.prefix for c in candidates])):
        if present:
            result.starts.append(start)
        else:
            result.empty += 1
    result.starts.sort(key=lambda s: (s.account, s.region, s.organization or "", s.prefix))
    return result


# -- cost per account-day ------------------------------------------------------------------------------------
# The formula and the prices are :mod:`identity_auditor.archive.cost`'s (scripts/bench_cost.py prints the backfill's
# cost per million records from the same formula, the template's settings and a measure of the evaluation).
FILES_PER_REGION_DAY = 288  # CloudTrail delivers about one file every 5 minutes per region with activity
RECORDS_PER_FILE = 53  # the real corpus's delivery files (tests/corpus/invictus): a quiet account's
FILES_PER_BATCH = 50  # statemachine/backfill.asl.json's ItemBatcher.MaxItemsPerBatch (a contract test checks)
MEMORY_MB = 256  # template.yaml's FunctionMemorySize default (the backfill function's memory)
# README's earlier measure of one ~53-record file on one vCPU (0.034 ms per record + 0.2 ms per file)
CPU_SECONDS_PER_FILE = 0.002


def cost_per_account_day(regions: int, files_per_region: int = FILES_PER_REGION_DAY) -> Cost:
    """What reconciling one account-day costs, for ``regions`` regions with activity (each ``files_per_region``
    log files): one backfill execution per region (:func:`identity_auditor.archive.cost.backfill_cost`), plus the
    reconciler's own listing of the bucket (2 LISTs per region and 1 for the account)."""
    settings = Backfill(files_per_batch=FILES_PER_BATCH, memory_mb=MEMORY_MB)
    one = backfill_cost(settings, files=files_per_region, records_per_file=RECORDS_PER_FILE,
                        cpu_seconds_per_file=CPU_SECONDS_PER_FILE)
    reconciler_lists = 2 * regions + 1
    dollars = {name: value * regions for name, value in one.dollars.items()}
    dollars["s3"] += reconciler_lists * PRICE_S3_LIST
    return Cost(files=one.files * regions, records=one.records * regions, batches=one.batches * regions,
                transitions=one.transitions * regions, lambda_seconds=one.lambda_seconds * regions,
                s3_gets=one.s3_gets * regions, s3_lists=one.s3_lists * regions + reconciler_lists, dollars=dollars,
                kms_without_bucket_key=one.kms_without_bucket_key * regions)
