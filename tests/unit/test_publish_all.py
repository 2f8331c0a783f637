"""publish_all: every sink is tried even when an earlier one fails, and the raised SinkError names
each sink that failed (a Security Hub outage must not also silence the SNS alerts)."""

from __future__ import annotations

import copy
import functools
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, ReadTimeoutError

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/ holds the shared helpers
import support  # noqa: E402
from identity_auditor.archive.inputs import as_eventbridge  # noqa: E402
from identity_auditor.aws.retry import RetryPolicy  # noqa: E402
from identity_auditor.engine.events import Engine  # noqa: E402
from identity_auditor.model.cloudtrail import CloudTrailEvent  # noqa: E402
from identity_auditor.model.contract import Context  # noqa: E402
from identity_auditor.model.findings import Finding  # noqa: E402
from identity_auditor.sinks import SinkError, publish_all  # noqa: E402
from identity_auditor.sinks.securityhub import SecurityHubSink  # noqa: E402
from identity_auditor.sinks.sns import SnsSink  # noqa: E402

NOW = datetime(2023, 7, 10, 13, 0, tzinfo=timezone.utc)
EVENT_IDS = ("70e5932e-9022-4b38-837e-ca10dad94eb7", "64b7de64-bf53-47ae-b7e3-d30cb1b5136e")
PRODUCT_ARN = "arn:aws:securityhub:us-east-1:123456789012:product/123456789012/default"
TOPIC_ARN = "arn:aws:sns:us-east-1:123456789012:identity-auditor-findings"


@functools.cache
def _records_by_id() -> dict[str, dict]:
    return {record["eventID"]: record for record in support.corpus_records("invictus")}


def real_findings() -> list[Finding]:
    findings: list[Finding] = []
    for event_id in EVENT_IDS:
        event = CloudTrailEvent.model_validate(as_eventbridge(copy.deepcopy(_records_by_id()[event_id])))
        findings += Engine().evaluate(event.detail, Context(now=NOW), account=event.account,
                                      region=event.region).findings
    assert len(findings) == 2
    return findings


class RecordingSink:
    def __init__(self, name: str, error: Exception | None = None):
        self.name = name
        self.error = error
        self.received: list[list[Finding]] = []

    def publish(self, findings):
        self.received.append(list(findings))
        if self.error:
            raise self.error
        return len(findings)


def test_all_sinks_succeed():
    findings = real_findings()
    hub, sns = RecordingSink("securityhub"), RecordingSink("sns")

    assert publish_all([hub, sns], findings) == {"securityhub": 2, "sns": 2}
    assert hub.received == sns.received == [findings]


@pytest.mark.parametrize("failing", [0, 1])
def test_one_failing_sink_does_not_stop_the_other(failing):
    findings = real_findings()
    sinks = [RecordingSink("securityhub"), RecordingSink("sns")]
    sinks[failing].error = SinkError("Security Hub BatchImportFindings: AccessDeniedException: denied")

    with pytest.raises(SinkError) as raised:
        publish_all(sinks, findings)

    assert all(sink.received == [findings] for sink in sinks)  # both were called, with everything
    failed, worked = sinks[failing].name, sinks[1 - failing].name
    assert str(raised.value).startswith(f"{failed}: ")
    assert "AccessDeniedException" in str(raised.value)
    assert worked not in str(raised.value)


def test_every_failing_sink_is_named():
    sinks = [
        RecordingSink("securityhub", SinkError("hub down")),
        RecordingSink("sns", SinkError("topic gone")),
    ]

    with pytest.raises(SinkError) as raised:
        publish_all(sinks, real_findings())

    assert "securityhub: hub down" in str(raised.value)
    assert "sns: topic gone" in str(raised.value)


class Sleeps(list):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


class FakeSecurityHub:
    def __init__(self, error: Exception):
        self.error = error
        self.calls = 0

    def batch_import_findings(self, *, Findings):
        self.calls += 1
        raise self.error


class FakeSns:
    def __init__(self):
        self.entries: list[dict] = []

    def publish_batch(self, *, TopicArn, PublishBatchRequestEntries):
        self.entries += PublishBatchRequestEntries
        return {
            "Successful": [{"Id": e["Id"], "MessageId": "m"} for e in PublishBatchRequestEntries],
            "Failed": [],
        }


def real_sinks(hub_error: Exception) -> tuple[FakeSecurityHub, FakeSns, list]:
    hub_client, sns_client = FakeSecurityHub(hub_error), FakeSns()
    policy = RetryPolicy(max_attempts=3, sleep=Sleeps())
    sinks = [
        SecurityHubSink(
            hub_client, product_arn=lambda finding: PRODUCT_ARN, policy=policy, clock=lambda: NOW
        ),
        SnsSink(sns_client, topic_arn=TOPIC_ARN, policy=policy),
    ]
    return hub_client, sns_client, sinks


def test_security_hub_access_denied_still_sends_the_alerts():
    denied = ClientError(
        {"Error": {"Code": "AccessDeniedException", "Message": "not subscribed to AWS Security Hub"},
         "ResponseMetadata": {"HTTPStatusCode": 403}},
        "BatchImportFindings",
    )
    hub_client, sns_client, sinks = real_sinks(denied)

    with pytest.raises(SinkError) as raised:
        publish_all(sinks, real_findings())

    assert hub_client.calls == 1
    assert len(sns_client.entries) == 2
    assert str(raised.value).startswith("securityhub: ")
    assert "AccessDeniedException" in str(raised.value)


@pytest.mark.parametrize(
    "outage",
    [
        EndpointConnectionError(endpoint_url="https://securityhub.us-east-1.amazonaws.com/findings/import"),
        ReadTimeoutError(endpoint_url="https://securityhub.us-east-1.amazonaws.com/findings/import"),
    ],
    ids=["endpoint-unreachable", "read-timeout"],
)
def test_security_hub_unreachable_still_sends_the_alerts(outage):
    """A Security Hub outage seen as a network error (what botocore raises once its own retries are
    spent) must not silence the SNS alerts either, and must surface as a SinkError naming the sink."""
    hub_client, sns_client, sinks = real_sinks(outage)

    with pytest.raises(SinkError) as raised:
        publish_all(sinks, real_findings())

    assert hub_client.calls >= 1
    assert len(sns_client.entries) == 2
    assert "securityhub" in str(raised.value)
