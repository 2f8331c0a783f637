"""Wiring for deployed and local runs: builds the sinks from settings, creating boto3 clients lazily.

boto3 is imported here, on the first event that produced a finding, not when the handler module is
imported: events that break no rule (most of them) never pay for it.
"""

from __future__ import annotations

from collections.abc import Callable

from identity_auditor.delivery.settings import Settings
from identity_auditor.model.home import Home
from identity_auditor.sinks import Sink
from identity_auditor.sinks.asff import default_product_arn


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
    if settings.findings_queue_url:  # deployed: the publisher imports and alerts, within Security Hub's rate
        from identity_auditor.delivery.provenance import signer_for
        from identity_auditor.sinks.queue import QueueSink

        product = settings.security_hub_product_arn or default_product_arn(home.partition, home.region, home.account)
        return [QueueSink(  # the queue is in the function's own stack and region
            boto3.client("sqs", region_name=home.region, config=config),
            queue_url=settings.findings_queue_url,
            product_arn=lambda finding: product,
            alert_format=settings.alert_format,
            home_region=home.region,
            home_partition=home.partition,
            on_retry=(lambda attempt, left: on_retry("queue", attempt, left)) if on_retry else None,
            # each message signed with the stack's HMAC key (FINDINGS_MAC_KEY_ARN): the publisher delivers nothing else
            sign=signer_for(settings),
        )]
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


def build_publisher(settings: Settings, home: Home, *, on_retry: Callable[[int, int], None] | None = None):
    """The publisher function's wiring: Security Hub clients per account with botocore's adaptive retry
    mode (client-side rate limiting when Security Hub throttles), the SNS client, member access."""
    import boto3
    from botocore.config import Config

    from identity_auditor.aws.member_access import MemberAccess
    from identity_auditor.delivery.publisher import Publisher

    adaptive = Config(retries={"mode": "adaptive", "max_attempts": 8}, connect_timeout=5, read_timeout=20)
    standard = Config(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=5, read_timeout=20)
    access = MemberAccess(settings.member_role_name, home_account=home.account, partition=home.partition,
                          region=home.region)
    clients: dict[tuple, object] = {}

    def securityhub(account: str):
        session = access.session(account)  # None: the function's own credentials; renewed before expiry
        key = (account, id(session))
        if key not in clients:
            for stale in [known for known in clients if known[0] == account]:
                del clients[stale]
            clients[key] = (session or boto3).client("securityhub", region_name=home.region, config=adaptive)
        return clients[key]

    topic = settings.findings_topic_arn
    return Publisher(
        home,
        securityhub=(securityhub if settings.security_hub_enabled else _no_security_hub),
        sns=(lambda: boto3.client("sns", region_name=topic.split(":")[3], config=standard)) if topic else None,
        topic_arn=topic,
        member_access=access,
        product_arn=settings.security_hub_product_arn,
        dedup_table=settings.idempotency_table,
        imports=settings.security_hub_enabled,
        on_retry=on_retry,
    )


class _AcceptEverything:
    """Security Hub switched off (SecurityHubEnabled=false): imports succeed without a call."""

    def batch_import_findings(self, Findings):  # noqa: N803 (boto3's parameter name)
        return {"FailedCount": 0, "SuccessCount": len(Findings), "FailedFindings": []}


def _no_security_hub(account: str) -> _AcceptEverything:
    return _AcceptEverything()


def build_sequence_store(settings: Settings, home_region: str | None = None):
    """Where the sequence steps are kept: the de-duplication table when the settings name one (the deployment),
    else memory (a local run: state lives as long as the process)."""
    from identity_auditor.engine.sequences import MemoryStore

    if not settings.idempotency_table:
        return MemoryStore()
    from identity_auditor.delivery.sequence_store import DynamoDbSequenceStore

    return DynamoDbSequenceStore(settings.idempotency_table, _dynamodb(home_region))


def build_backfill_progress(settings: Settings, home_region: str | None = None):
    """Which log files each backfill execution completed (:mod:`identity_auditor.delivery.backfill_progress`), in
    the de-duplication table; ``None`` when the settings name no table (a local run: nothing to continue)."""
    if not settings.idempotency_table:
        return None
    from identity_auditor.delivery.backfill_progress import BackfillProgress

    return BackfillProgress(settings.idempotency_table, _dynamodb(home_region))


def _dynamodb(home_region: str | None) -> Callable[[], object]:
    """A DynamoDB client factory for the de-duplication table's users (boto3 imported on first use)."""

    def client():
        import boto3
        from botocore.config import Config

        config = Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=5, read_timeout=10)
        return boto3.client("dynamodb", region_name=home_region, config=config)

    return client
