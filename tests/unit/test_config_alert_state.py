"""Paging once per violation (alert_state) against DynamoDB in moto: a repeated sweep pages nothing,
a new or changed violation pages, a resolved one clears its item so a recurrence pages again; Security
Hub receives every update; a failed page is released for the retry."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta, timezone

import boto3
import pytest
from identity_auditor.delivery.alert_state import PREFIX, AlertState, fingerprint, publish_state
from identity_auditor.engine.registry import Rule
from identity_auditor.engine.state import StateEngine, user_subject
from identity_auditor.model.contract import (
    Compliance,
    Context,
    RuleMeta,
    Severity,
    StateResult,
    StateTrigger,
    Violation,
)
from identity_auditor.model.findings import Suppression
from identity_auditor.model.home import Home
from identity_auditor.model.snapshots import AccessKeyState, CredentialReportRow
from identity_auditor.sinks import SinkError
from moto import mock_aws

TABLE = "identity-auditor-idempotency"
NOW = datetime(2026, 6, 1, 6, 0, tzinfo=timezone.utc)
NO_KEY = AccessKeyState(False, None, None)
META = RuleMeta(id="fake_key_age", title="Old key", severity=Severity.MEDIUM, trigger=None, resource_type="AwsIamUser",
                finding_types=("Software and Configuration Checks/AWS Security Best Practices",), why="w",
                remediation="r", remediation_url="https://docs.aws.amazon.com/", state=StateTrigger("AWS::IAM::User"))


def verdict(subject: CredentialReportRow, ctx: Context) -> StateResult:
    if subject.password_enabled:  # stands for "has an old key"; the age is in the description
        age = (ctx.now - subject.user_creation_time).days
        return StateResult(Compliance.NON_COMPLIANT, "old", Violation(
            f"IAM user {subject.user} has an access key {age} days old.", subject.arn,
            severity=Severity.HIGH if subject.mfa_active else None))
    return StateResult(Compliance.COMPLIANT, "fine")


def findings(users: dict[str, str], now: datetime = NOW):
    """One finding per user: ``failed``, ``high`` (failed, HIGH) or ``ok``."""
    rows = [CredentialReportRow(name, f"arn:aws:iam::123456789012:user/{name}", datetime(2026, 1, 1, tzinfo=timezone.utc),
                                state != "ok", None, None, state == "high", (NO_KEY, NO_KEY))
            for name, state in users.items()]
    evaluations = StateEngine().evaluate([Rule(META, None, verdict)], [user_subject(r) for r in rows],
                                         Context(now=now), Home("123456789012", "us-east-1", "aws"))
    return [evaluation.finding for evaluation in evaluations]


@pytest.fixture
def dynamodb():
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(TableName=TABLE, KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                            BillingMode="PAY_PER_REQUEST")
        yield client


def state(dynamodb, now: datetime = NOW) -> AlertState:
    return AlertState(dynamodb, TABLE, clock=lambda: now, sleep=lambda seconds: None)


def names(paged) -> list[str]:
    return sorted(finding.subject for finding in paged)


def test_a_repeated_sweep_pages_nothing_and_a_new_violation_pages(dynamodb):
    first = state(dynamodb).new_violations(findings({"alice": "failed", "bob": "failed", "carol": "ok"}))
    assert names(first) == ["alice", "bob"]
    second = state(dynamodb, NOW + timedelta(days=1))
    again = findings({"alice": "failed", "bob": "failed", "carol": "ok"}, NOW + timedelta(days=1))
    assert second.new_violations(again) == []
    assert second.calls == 1  # one BatchGetItem, no write
    third = findings({"alice": "failed", "bob": "failed", "carol": "failed"}, NOW + timedelta(days=2))
    assert names(state(dynamodb, NOW + timedelta(days=2)).new_violations(third)) == ["carol"]


def test_the_item_is_keyed_by_finding_id_with_a_ttl(dynamodb):
    [alice] = findings({"alice": "failed"})
    state(dynamodb).new_violations([alice])
    item = dynamodb.get_item(TableName=TABLE, Key={"id": {"S": PREFIX + alice.finding_id}})["Item"]
    assert item["fingerprint"]["S"] == fingerprint(alice) and item["rule_id"]["S"] == "fake_key_age"
    assert int(item["expiration"]["N"]) == int(NOW.timestamp()) + 30 * 24 * 3600


def test_numbers_in_the_description_do_not_make_a_new_violation_but_severity_and_words_do():
    [day1] = findings({"alice": "failed"})
    [day2] = findings({"alice": "failed"}, NOW + timedelta(days=1))
    [high] = findings({"alice": "high"})
    assert day1.description != day2.description and fingerprint(day1) == fingerprint(day2)
    assert fingerprint(high) != fingerprint(day1)
    assert fingerprint(replace(day1, description="IAM user alice has two active keys.")) != fingerprint(day1)


def test_a_severity_change_pages_again(dynamodb):
    state(dynamodb).new_violations(findings({"alice": "failed"}))
    assert names(state(dynamodb).new_violations(findings({"alice": "high"}))) == ["alice"]
    assert state(dynamodb).new_violations(findings({"alice": "high"})) == []


@pytest.mark.parametrize("closing", ["passed", "archived"])
def test_a_resolved_violation_clears_its_item_so_a_recurrence_pages(dynamodb, closing):
    [failed] = findings({"alice": "failed"})
    assert state(dynamodb).new_violations([failed]) == [failed]
    [passed] = findings({"alice": "ok"})
    resolved = passed if closing == "passed" else replace(passed, compliance_status="NOT_AVAILABLE",
                                                          record_state="ARCHIVED")
    assert passed.finding_id == failed.finding_id
    assert state(dynamodb).new_violations([resolved]) == []
    assert dynamodb.scan(TableName=TABLE)["Items"] == []
    assert state(dynamodb).new_violations([failed]) == [failed]


def test_compliant_resources_never_alerted_cost_no_write(dynamodb):
    alerts = state(dynamodb)
    assert alerts.new_violations(findings({f"user{n}": "ok" for n in range(250)})) == []
    assert alerts.calls == 3  # three BatchGetItem of at most 100 keys, nothing written or deleted


def test_reads_take_one_call_per_100_findings(dynamodb):
    sweep = findings({f"user{n:03d}": "failed" for n in range(250)})
    assert len(state(dynamodb).new_violations(sweep)) == 250
    alerts = state(dynamodb)
    assert alerts.new_violations(sweep) == [] and alerts.calls == 3


def test_an_old_alert_expires_and_pages_once_more_as_a_reminder(dynamodb):
    state(dynamodb).new_violations(findings({"alice": "failed"}))
    later = NOW + timedelta(days=31)
    assert names(state(dynamodb, later).new_violations(findings({"alice": "failed"}, later))) == ["alice"]
    assert state(dynamodb, later).new_violations(findings({"alice": "failed"}, later)) == []


def test_suppressed_violations_never_page_nor_are_stored(dynamodb):
    [alice] = findings({"alice": "failed"})
    suppressed = replace(alice, suppression=Suppression("known", "secops", date(2026, 12, 31), "*"))
    assert state(dynamodb).new_violations([suppressed]) == []
    assert dynamodb.scan(TableName=TABLE)["Items"] == []


def test_two_invocations_racing_page_once(dynamodb):
    first, second = state(dynamodb), state(dynamodb)
    second._read = lambda ids: {}  # it read before the first one wrote
    sweep = findings({"alice": "failed"})
    assert len(first.new_violations(sweep)) == 1
    assert second.new_violations(sweep) == []  # its conditional write lost


class FlakyDynamo:
    """Leaves every key unprocessed ``times`` times, then answers from the real (moto) table."""

    def __init__(self, real, times: int):
        self.real, self.times = real, times

    def batch_get_item(self, RequestItems):
        if self.times:
            self.times -= 1
            return {"Responses": {TABLE: []}, "UnprocessedKeys": RequestItems}
        return self.real.batch_get_item(RequestItems=RequestItems)

    def __getattr__(self, name):
        return getattr(self.real, name)


def test_unprocessed_keys_are_read_again(dynamodb):
    sweep = findings({"alice": "failed"})
    state(dynamodb).new_violations(sweep)
    assert AlertState(FlakyDynamo(dynamodb, 2), TABLE, clock=lambda: NOW, sleep=lambda s: None).new_violations(
        sweep) == []


def test_keys_never_read_count_as_never_alerted_but_the_conditional_write_still_guards(dynamodb, caplog):
    sweep = findings({"alice": "failed"})
    state(dynamodb).new_violations(sweep)
    flaky = AlertState(FlakyDynamo(dynamodb, 99), TABLE, clock=lambda: NOW, sleep=lambda s: None, max_attempts=3)
    assert flaky.new_violations(sweep) == []  # the unchanged item makes the claim fail: no duplicate
    assert "did not read 1 alert keys" in caplog.text


# -- publish_state ---------------------------------------------------------------------------------------


class FakeSink:
    def __init__(self, name: str, fail: bool = False):
        self.name, self.fail, self.published = name, fail, []

    def publish(self, batch):
        if self.fail:
            raise SinkError(f"{self.name} is down")
        self.published.append(list(batch))
        return len(batch)


def test_security_hub_gets_every_update_and_sns_only_new_violations(dynamodb):
    sweep = findings({"alice": "failed", "bob": "ok"})
    securityhub, sns = FakeSink("securityhub"), FakeSink("sns")
    assert publish_state([securityhub, sns], sweep, state(dynamodb)) == {"securityhub": 2, "sns": 1}
    assert names(sns.published[0]) == ["alice"]
    assert publish_state([securityhub, sns], sweep, state(dynamodb)) == {"securityhub": 2, "sns": 0}
    assert len(sns.published) == 1  # nothing to send: no call at all


def test_a_failed_page_is_released_so_the_retry_pages(dynamodb):
    sweep = findings({"alice": "failed"})
    securityhub = FakeSink("securityhub")
    with pytest.raises(SinkError, match="sns: sns is down"):
        publish_state([securityhub, FakeSink("sns", fail=True)], sweep, state(dynamodb))
    assert len(securityhub.published) == 1  # Security Hub still got it
    sns = FakeSink("sns")
    publish_state([securityhub, sns], sweep, state(dynamodb))
    assert names(sns.published[0]) == ["alice"]


def test_a_security_hub_outage_does_not_silence_the_page(dynamodb):
    sns = FakeSink("sns")
    with pytest.raises(SinkError, match="securityhub"):
        publish_state([FakeSink("securityhub", fail=True), sns], findings({"alice": "failed"}), state(dynamodb))
    assert names(sns.published[0]) == ["alice"]


def test_without_a_table_every_unsuppressed_violation_pages():
    sns = FakeSink("sns")
    publish_state([sns], findings({"alice": "failed", "bob": "ok"}), None)
    assert names(sns.published[0]) == ["alice"]


def test_an_unavailable_alert_state_still_updates_security_hub_and_fails_loudly():
    class Denied:
        def candidates(self, findings):
            raise RuntimeError("AccessDeniedException: dynamodb:BatchGetItem")

    securityhub, sns = FakeSink("securityhub"), FakeSink("sns")
    with pytest.raises(SinkError, match="alert state: RuntimeError: AccessDenied"):
        publish_state([securityhub, sns], findings({"alice": "failed"}), Denied())
    assert len(securityhub.published[0]) == 1 and sns.published == []


class FakeQueue:
    """The findings queue: every update, with the findings that page marked; ``fail`` names the findings
    it could not queue (all of them when True)."""

    name = "queue"
    carries_alerts = True

    def __init__(self, fail=False):
        self.fail, self.calls = fail, []

    def publish(self, findings, alerts=None):
        if self.fail:
            from identity_auditor.sinks.queue import QueueingError

            undelivered = [f.finding_id for f in findings if self.fail is True or f.subject in self.fail]
            raise QueueingError("SQS SendMessageBatch: not queued", undelivered=undelivered)
        self.calls.append(([f.subject for f in findings], names(alerts or [])))
        return len(findings)


def test_the_findings_queue_gets_every_update_with_only_the_new_violations_to_page(dynamodb):
    sweep = findings({"alice": "failed", "bob": "ok"})
    queue = FakeQueue()
    assert publish_state([queue], sweep, state(dynamodb)) == {"queue": 2}
    assert publish_state([queue], sweep, state(dynamodb)) == {"queue": 2}
    assert [paged for _, paged in queue.calls] == [["alice"], []]
    assert all(len(updates) == 2 for updates, _ in queue.calls)


def test_a_queue_that_refuses_releases_the_claims_so_the_retry_pages(dynamodb):
    sweep = findings({"alice": "failed"})
    with pytest.raises(SinkError, match="queue: SQS SendMessageBatch"):
        publish_state([FakeQueue(fail=True)], sweep, state(dynamodb))
    queue = FakeQueue()
    publish_state([queue], sweep, state(dynamodb))
    assert queue.calls[0][1] == ["alice"]


def test_a_partly_queued_sweep_releases_only_the_claims_of_what_was_not_queued(dynamodb):
    """15 new violations, one group of messages refused: the retry pages the refused ones, never the
    others a second time."""
    sweep = findings({f"user{n:02d}": "failed" for n in range(15)})
    refused = {f"user{n:02d}" for n in range(10, 15)}
    with pytest.raises(SinkError):
        publish_state([FakeQueue(fail=refused)], sweep, state(dynamodb))
    retry = FakeQueue()
    publish_state([retry], sweep, state(dynamodb))
    assert retry.calls[0][1] == sorted(refused)


def test_alerts_are_queued_before_they_are_remembered_so_a_timeout_in_between_pages_on_the_retry(dynamodb):
    """Issue 16, point 5: the claim used to be written before the queue took the alert; a timeout between the two
    lost the page for 30 days. Now the queue comes first: a state that cannot be written after the queue took the
    alert fails the invocation, and the retry queues the same alert again (the same alert key: the publisher
    pages it once)."""
    sweep = findings({"alice": "failed"})

    class Forgetful(AlertState):
        def remember(self, alerted, resolved=()):
            raise RuntimeError("Task timed out after 300.00 seconds")  # Lambda ended before the write

    first = FakeQueue()
    with pytest.raises(SinkError, match="alert state: RuntimeError: Task timed out"):
        publish_state([first], sweep, Forgetful(dynamodb, TABLE, clock=lambda: NOW, sleep=lambda seconds: None))
    retry = FakeQueue()
    publish_state([retry], sweep, state(dynamodb))
    assert first.calls[0][1] == retry.calls[0][1] == ["alice"]  # queued both times: the publisher's key decides
    later = FakeQueue()
    publish_state([later], sweep, state(dynamodb))
    assert later.calls[0][1] == []  # remembered once queued
