"""Wiring for deployed and local runs: builds the sinks from settings, creating boto3 clients lazily.

boto3 is imported here, on the first event that produced a finding, not when the handler module is
imported: events that break no rule (most of them) never pay for it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from identity_auditor.asff import default_product_arn
from identity_auditor.settings import Settings
from identity_auditor.sinks import Sink


@dataclass(frozen=True)
class Home:
    """Where the auditor itself runs: findings are imported into this account and region."""

    partition: str
    region: str
    account: str

    @classmethod
    def from_function_arn(cls, arn: str) -> Home:
        # arn:aws:lambda:us-east-1:123456789012:function:name[:alias]
        parts = arn.split(":")
        if len(parts) < 7 or parts[0] != "arn" or parts[2] != "lambda":
            raise ValueError(f"not a Lambda function ARN: {arn!r}")
        return cls(partition=parts[1], region=parts[3], account=parts[4])


def build_sinks(
    settings: Settings,
    home: Home,
    *,
    on_retry: Callable[[str, int, int], None] | None = None,
) -> list[Sink]:
    import boto3
    from botocore.config import Config

    from identity_auditor.sinks.securityhub import SecurityHubSink
    from identity_auditor.sinks.sns import SnsSink

    config = Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=5, read_timeout=20)
    sinks: list[Sink] = []
    if settings.security_hub_enabled:
        product = settings.security_hub_product_arn or default_product_arn(home.partition, home.region, home.account)
        sinks.append(
            SecurityHubSink(
                boto3.client("securityhub", region_name=home.region, config=config),
                product_arn=lambda finding: product,
                on_retry=(lambda attempt, left: on_retry("securityhub", attempt, left)) if on_retry else None,
            )
        )
    if settings.findings_topic_arn:
        topic_region = settings.findings_topic_arn.split(":")[3]
        sinks.append(
            SnsSink(
                boto3.client("sns", region_name=topic_region, config=config),
                topic_arn=settings.findings_topic_arn,
                on_retry=(lambda attempt, left: on_retry("sns", attempt, left)) if on_retry else None,
                alert_format=settings.alert_format,
                # Findings are imported in the home region: the alert's Security Hub link opens it there.
                home_region=home.region,
                home_partition=home.partition,
            )
        )
    return sinks
