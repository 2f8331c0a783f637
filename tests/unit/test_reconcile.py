"""Planning the daily reconciliation against the trail (identity_auditor.archive.reconcile): which backfill
executions start, from the folders S3 lists, in both CloudTrail layouts, for the previous UTC day only, under
names that a second run of the same day reproduces exactly."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone

import pytest
from identity_auditor.archive.reconcile import (
    MAX_NAME,
    Start,
    cost_per_account_day,
    day_to_reconcile,
    logs_root,
    plan,
)

BUCKET = "org-trail-logs"
DAY = date(2026, 6, 14)
ORG = "o-a1b2c3d4e5"


class KeyListing:
    """S3's answers (Delimiter "/", MaxKeys=1) for a bucket holding ``keys``; records the requests."""

    def __init__(self, keys: list[str]):
        self.keys, self.requests = sorted(keys), []

    def common_prefixes(self, prefix: str) -> list[str]:
        self.requests.append(("list", prefix))
        found = []
        for key in self.keys:
            if key.startswith(prefix) and "/" in key[len(prefix):]:
                folder = prefix + key[len(prefix):].split("/", 1)[0] + "/"
                if folder not in found:
                    found.append(folder)
        return found

    def has_objects(self, prefix: str) -> bool:
        self.requests.append(("exists", prefix))
        return any(key.startswith(prefix) for key in self.keys)


def log_file(root: str, account: str, region: str, day: date, hhmm: str = "1205") -> str:
    """A key as CloudTrail writes it: <root><account>/CloudTrail/<region>/YYYY/MM/DD/<name>.json.gz."""
    name = f"{account}_CloudTrail_{region}_{day:%Y%m%d}T{hhmm}Z_Mu0KsOhtH1ar15ZZ.json.gz"
    return f"{root}{account}/CloudTrail/{region}/{day:%Y/%m/%d}/{name}"


def digest_file(root: str, account: str, region: str, day: date) -> str:
    name = f"{account}_CloudTrail-Digest_{region}_trail_{region}_{day:%Y%m%d}T012455Z.json.gz"
    return f"{root}{account}/CloudTrail-Digest/{region}/{day:%Y/%m/%d}/{name}"


def test_the_previous_utc_day_is_reconciled_whatever_the_time_zone_of_the_clock():
    assert day_to_reconcile(datetime(2026, 6, 15, 0, 45, tzinfo=timezone.utc)) == DAY
    assert day_to_reconcile(datetime(2026, 6, 15, 2, 45, tzinfo=timezone(timedelta(hours=2)))) == DAY
    assert day_to_reconcile(datetime(2026, 3, 1, 0, 45, tzinfo=timezone.utc)) == date(2026, 2, 28)
    with pytest.raises(ValueError):
        day_to_reconcile(datetime(2026, 6, 15, 0, 45))


def test_an_account_trail_gives_one_execution_per_region_of_that_day_only():
    root = "AWSLogs/"
    keys = [log_file(root, "111122223333", region, day, hhmm)
            for region in ("us-east-1", "eu-west-1") for day in (DAY - timedelta(days=1), DAY, DAY + timedelta(days=1))
            for hhmm in ("0005", "2355")]
    planned = plan(KeyListing(keys), BUCKET, "", DAY)
    assert [(s.account, s.region, s.organization, s.prefix) for s in planned.starts] == [
        ("111122223333", "eu-west-1", None, "AWSLogs/111122223333/CloudTrail/eu-west-1/2026/06/14/"),
        ("111122223333", "us-east-1", None, "AWSLogs/111122223333/CloudTrail/us-east-1/2026/06/14/"),
    ]
    assert [json.loads(s.input) for s in planned.starts] == [{"bucket": BUCKET, "prefix": s.prefix}
                                                             for s in planned.starts]


def test_an_organisation_trail_and_a_key_prefix_are_followed():
    root = f"security/trail/AWSLogs/{ORG}/"
    keys = [log_file(root, account, "us-east-1", DAY) for account in ("111122223333", "444455556666")]
    keys.append(log_file("security/trail/AWSLogs/", "777788889999", "ap-southeast-2", DAY))  # an account trail too
    planned = plan(KeyListing(keys), BUCKET, "/security/trail/", DAY)
    assert planned.root == "security/trail/AWSLogs/" == logs_root("security/trail")
    assert [(s.organization, s.account, s.region, s.prefix) for s in planned.starts] == [
        (ORG, "111122223333", "us-east-1", f"{root}111122223333/CloudTrail/us-east-1/2026/06/14/"),
        (ORG, "444455556666", "us-east-1", f"{root}444455556666/CloudTrail/us-east-1/2026/06/14/"),
        (None, "777788889999", "ap-southeast-2",
         "security/trail/AWSLogs/777788889999/CloudTrail/ap-southeast-2/2026/06/14/"),
    ]


def test_digest_insight_and_other_folders_are_never_listed_nor_started():
    root = "AWSLogs/"
    keys = [
        log_file(root, "111122223333", "us-east-1", DAY),
        digest_file(root, "111122223333", "us-east-1", DAY),
        digest_file(root, "111122223333", "eu-west-1", DAY),  # a digest without a log file: no execution
        f"{root}111122223333/CloudTrail-Insight/us-east-1/2026/06/14/x.json.gz",
        f"{root}111122223333/Config/us-east-1/2026/6/14/ConfigHistory/x.json.gz",  # AWS Config, same bucket
        f"{root}111122223333/CloudTrail/us-east-1/",  # the folder marker a console "Create folder" leaves
        f"{root}111122223333/CloudTrail/not-a-region/2026/06/14/x.json.gz",
        f"{root}elasticloadbalancing/x.log",
        f"{root}{ORG}/not-an-account/CloudTrail/us-east-1/2026/06/14/x.json.gz",
        "other/AWSLogs/222233334444/CloudTrail/us-east-1/2026/06/14/x.json.gz",  # another prefix
    ]
    listing = KeyListing(keys)
    planned = plan(listing, BUCKET, "", DAY)
    assert [s.prefix for s in planned.starts] == ["AWSLogs/111122223333/CloudTrail/us-east-1/2026/06/14/"]
    assert not any("Digest" in prefix or "Insight" in prefix or "Config/" in prefix for _, prefix in listing.requests)
    assert sorted(planned.skipped) == sorted([
        "AWSLogs/111122223333/CloudTrail/not-a-region/: not a region",
        "AWSLogs/elasticloadbalancing/: neither an account id nor an organisation id",
        f"AWSLogs/{ORG}/not-an-account/: not an account id",
    ])
    assert planned.listings == len(listing.requests)


def test_a_region_without_a_log_file_that_day_starts_nothing():
    keys = [log_file("AWSLogs/", "111122223333", "us-east-1", DAY),
            log_file("AWSLogs/", "111122223333", "eu-west-1", DAY - timedelta(days=1))]
    planned = plan(KeyListing(keys), BUCKET, "", DAY)
    assert [s.region for s in planned.starts] == ["us-east-1"] and planned.empty == 1


def test_names_are_deterministic_valid_and_distinct_per_layout_bucket_and_day():
    keys = [log_file("AWSLogs/", "111122223333", "us-gov-west-1", DAY),
            log_file(f"AWSLogs/{ORG}/", "111122223333", "us-gov-west-1", DAY)]
    first = plan(KeyListing(keys), BUCKET, "", DAY).starts
    again = plan(KeyListing(list(reversed(keys))), BUCKET, "", DAY).starts
    assert [(s.name, s.input) for s in first] == [(s.name, s.input) for s in again]
    names = [s.name for s in first]
    assert len(set(names)) == 2 and all(n.startswith("reconcile-20260614-111122223333-us-gov-west-1-") for n in names)
    # StartExecution: 1-80 characters, none of whitespace, brackets, wildcards, quotes, #%\^|~`$&,;:/ or controls
    assert all(len(n) <= MAX_NAME and all(c.isalnum() or c in "-_" for c in n) for n in names)
    other_day = Start(**{**first[0].__dict__, "day": DAY + timedelta(days=1)})
    other_bucket = Start(**{**first[0].__dict__, "bucket": "another-trail-bucket"})
    assert len({first[0].name, other_day.name, other_bucket.name}) == 3


def test_the_listings_run_through_the_map_it_is_given():
    calls = []

    def counting_map(function, items):
        items = list(items)
        calls.append(len(items))
        return map(function, items)

    keys = [log_file("AWSLogs/", account, region, DAY)
            for account in ("111122223333", "444455556666", "777788889999") for region in ("us-east-1", "eu-west-1")]
    planned = plan(KeyListing(keys), BUCKET, "", DAY, map_=counting_map)
    assert len(planned.starts) == 6
    assert calls == [0, 3, 6]  # organisations, accounts' regions, days' existence
    assert planned.listings == 1 + 3 + 6


def test_the_cost_per_account_day_follows_its_formula():
    cost = cost_per_account_day(regions=1, files_per_region=288)
    # 6 batches of <= 50 files (the map's ItemBatcher): 6 x 2 transitions + 3 for the execution
    assert (cost.files, cost.batches, cost.transitions, cost.s3_gets, cost.s3_lists) == (288, 6, 15, 288, 4)
    assert cost.dollars["stepFunctions"] == pytest.approx(15 * 0.000025)
    # the progress records a retried batch continues from: a DynamoDB read unit per file
    assert cost.dollars["dynamodb"] == pytest.approx(288 * 0.125 / 1e6)
    assert cost.total == pytest.approx(0.0006, abs=0.00003)  # $0.0148 with a child execution per file
    assert cost_per_account_day(regions=17).total == pytest.approx(17 * cost.total, rel=0.01)
