"""An IAM world for the Config evaluator's reliability tests: users with access keys old at the sweep."""

from __future__ import annotations

import boto3
from freezegun import freeze_time
from support import ROOT

PERIODIC_KEYS = ROOT / "events" / "config" / "iam_access_key_not_rotated_periodic__constructed.json"
SWEEP = "2026-06-01T06:00:00Z"


def users_with_old_keys(count: int) -> list[str]:
    """``count`` IAM users, each with an access key created 2026-01-05 (147 days old at :data:`SWEEP`)."""
    iam = boto3.client("iam", region_name="us-east-1")
    names = [f"user-{index:03d}" for index in range(count)]
    with freeze_time("2026-01-05T10:00:00Z", ignore=["aws_lambda_powertools"]):
        for name in names:
            iam.create_user(UserName=name)
            iam.create_access_key(UserName=name)
    return names
