"""Alerts do not wait for Security Hub: with Security Hub disabled, refusing or down, a finding that pages
still reaches a human within minutes, and reaches Security Hub once it can, paging nobody a second time.

Each scenario queues findings with an evaluator's queue sink, injects the fault at the HTTP boundary of the
publisher's real boto3 Security Hub clients, plays the SQS event source (receive, invoke, delete or return
each message; the dead-letter queue after ``maxReceiveCount`` receives) and prints its ledger, findings in
-> out:

* Security Hub disabled in the auditor's own account (every ``BatchImportFindings`` call refused with
  ``InvalidAccessException``): no account is left to import into, so every alert goes out on the first
  receive, saying the finding is not in Security Hub and why; the messages stay queued, then on the
  findings dead-letter queue whole, and nothing pages twice.
* Security Hub disabled in a member account: AWS documents that the call then answers HTTP 200 with every
  finding in ``FailedFindings``, error code ``InvalidAccess``. The findings are imported into the auditor's
  account instead (the member account kept in ``ProductFields``) and paged once, as after an import.
* Security Hub down (503 on every call) for longer than the queue's whole redrive window: each alert goes
  out exactly once, on the second receive (about one visibility timeout after the first attempt), the
  messages end on the dead-letter queue whole, and once Security Hub is back a redrive imports them all
  and pages nobody again.

Default size 60 findings a scenario; ``pytest --full`` runs 500.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections import Counter
from datetime import date

import pytest
from botocore.awsrequest import AWSResponse
from fake_time import FakeClock, fake_botocore_time, fake_sqs_long_polling
from identity_auditor.aws.retry import RetryPolicy
from identity_auditor.cli.redrive import redrive, to_queue
from identity_auditor.delivery.settings import Settings
from identity_auditor.delivery.wiring import build_sinks
from identity_auditor.model.findings import Suppression
from identity_auditor.model.home import Home
from identity_auditor.sinks import publish_all
from pipeline import Pipeline, error_response, inject, record_ledger
from support import copies, findings_from, invictus_event

HOME = "123456789012"
MEMBER = "123837392027"  # the account of the Invictus sample's sign-in
MEMBER_ROLE = "identity-auditor-member"
LOGIN_WITHOUT_MFA = "70e5932e-9022-4b38-837e-ca10dad94eb7"
MAX_RECEIVE_COUNT = 10  # the findings queue's redrive policy (template.yaml)
_FINDING_LINE = re.compile(r"^Security Hub finding: (.+)$", re.MULTILINE)


@pytest.fixture
def size(full_size) -> int:
    return 500 if full_size else 60


@pytest.fixture
def clock(monkeypatch) -> FakeClock:
    """botocore's backoff and adaptive rate limiter, the publisher's backoff and the redrive's long polling
    wait virtual seconds (set before the publisher's clients are built)."""
    return fake_sqs_long_polling(monkeypatch, fake_botocore_time(monkeypatch, FakeClock()))


def _publisher_on(pipeline: Pipeline, clock: FakeClock):
    publisher = pipeline.publisher_clients()
    publisher.retry_policy = RetryPolicy(sleep=clock.sleep)
    return publisher


@pytest.fixture
def member_pipeline(account, monkeypatch, clock) -> Pipeline:
    """The pipeline of an organisation deployment: findings about member accounts go through the member role."""
    monkeypatch.setenv("MEMBER_ROLE_NAME", MEMBER_ROLE)
    pipeline = Pipeline(account, monkeypatch, max_receive_count=MAX_RECEIVE_COUNT)
    _publisher_on(pipeline, clock)
    return pipeline


@pytest.fixture
def home_pipeline(pipeline, clock) -> Pipeline:
    """The pipeline of a single-account deployment (no member role): every finding is imported at home."""
    _publisher_on(pipeline, clock)
    return pipeline


# -- the ledger ---------------------------------------------------------------------------------------------


def produce(count: int) -> list[str]:
    """``count`` findings (about account ``MEMBER``, all paging) queued at once by an evaluator; their ids."""
    [finding] = findings_from(invictus_event(LOGIN_WITHOUT_MFA)["detail"])
    findings = copies(finding, count)
    assert publish_all(build_sinks(Settings.from_env(), Home(HOME, "us-east-1", "aws")), findings) == {"queue": count}
    return [f.finding_id for f in findings]


def in_security_hub(client) -> list[dict]:
    return [finding for page in client.get_paginator("get_findings").paginate() for finding in page["Findings"]]


def alerts(account) -> list[dict]:
    """Every alert sent so far in the test (each SNS notification, kept: reading the subscribed queue empties it)."""
    ledger = account.__dict__.setdefault("alert_log", [])
    ledger.extend(account.alerts())
    return ledger


def alerted(account) -> Counter:
    return Counter(_FINDING_LINE.search(alert["Message"]).group(1) for alert in alerts(account))


def dead_lettered(pipeline: Pipeline) -> Counter:
    """The findings on the dead-letter queue, by id, each checked whole; the messages stay there (every one is
    read once, hidden meanwhile, then made visible again for the redrive)."""
    messages = []
    while batch := pipeline.sqs.receive_message(QueueUrl=pipeline.dlq_url, MaxNumberOfMessages=10,
                                                VisibilityTimeout=600, WaitTimeSeconds=0).get("Messages", []):
        messages += batch
    for message in messages:
        pipeline.sqs.change_message_visibility(QueueUrl=pipeline.dlq_url, ReceiptHandle=message["ReceiptHandle"],
                                               VisibilityTimeout=0)
    letters = [json.loads(message["Body"]) for message in messages]
    for letter in letters:  # whole: enough to import (and, when it pages, alert) it after a redrive
        assert letter["asff"]["Id"] == letter["finding_id"]
        assert letter["alert"] is None or (letter["alert"]["Message"] and letter["alert_key"])
    return Counter(letter["finding_id"] for letter in letters)


# -- faults -------------------------------------------------------------------------------------------------


def refuse_every_call(account_id: str):
    """Security Hub disabled where the client imports: the whole call refused, as AWS answers DescribeHub
    and the other operations of an account that is not subscribed."""
    state = {"on": True, "calls": 0}

    def fault(request):
        if not state["on"]:
            return None
        state["calls"] += 1
        return error_response(request, 401, "InvalidAccessException",
                              f"Account {account_id} is not subscribed to AWS Security Hub")

    fault.state = state
    return fault


def fail_every_finding(account_id: str, code: str = "InvalidAccess"):
    """Security Hub disabled (or the integration off) where the client imports, in the form AWS documents for
    BatchImportFindings: HTTP 200, every finding in FailedFindings with ``code``."""
    state = {"calls": 0}

    def fault(request):
        state["calls"] += 1
        ids = [finding["Id"] for finding in json.loads(request.body)["Findings"]]
        body = json.dumps({"FailedCount": len(ids), "SuccessCount": 0, "FailedFindings": [
            {"Id": finding_id, "ErrorCode": code,
             "ErrorMessage": f"Account {account_id} is not subscribed to AWS Security Hub"} for finding_id in ids]})
        return AWSResponse(request.url, 200, {"Content-Type": "application/json"}, _Raw(body.encode()))

    fault.state = state
    return fault


def unavailable():
    """Security Hub down: 503 on every call until ``state["on"]`` is cleared."""
    state = {"on": True}

    def fault(request):
        return error_response(request, 503, "ServiceUnavailableException", "Service Unavailable") \
            if state["on"] else None

    fault.state = state
    return fault


class _Raw:
    def __init__(self, body: bytes):
        self._body = body

    def stream(self, **kwargs):
        yield self._body


# -- Security Hub disabled in the auditor's own account ------------------------------------------------------


def test_security_hub_disabled_at_home_alerts_on_the_first_receive_and_keeps_the_findings(
        home_pipeline, account, size):
    produced = produce(size)
    fault = refuse_every_call(HOME)
    inject(home_pipeline.publisher_clients()._securityhub(HOME), "BatchImportFindings", fault)

    first = home_pipeline.drain(max_invocations=1)

    assert first.returned == size, "a message was deleted although its finding is not in Security Hub"
    assert alerted(account) == Counter(produced), "an alert missing, or sent twice, on the first receive"
    for alert in alerts(account):
        assert alert["Message"].startswith("NOT IN SECURITY HUB: Security Hub refused this finding")
        assert "Why: InvalidAccessException: Account 123456789012 is not subscribed to AWS Security Hub" \
            in alert["Message"]
    rest = home_pipeline.drain()  # every later receive is refused too, until the dead-letter queue

    assert first.invocations + rest.invocations == MAX_RECEIVE_COUNT
    assert in_security_hub(account.securityhub) == []
    assert alerted(account) == Counter(produced), "an alert was sent twice"
    assert dead_lettered(home_pipeline) == Counter(produced) and home_pipeline.depth() == 0
    record_ledger(f"{size} in -> {sum(alerted(account).values())} alerts on the 1st receive (once each, marked "
                  f"not in Security Hub), 0 in Security Hub, {size} kept: returned {MAX_RECEIVE_COUNT} times, then "
                  "on the findings DLQ whole")


# -- Security Hub disabled in a member account -------------------------------------------------------------


def test_security_hub_disabled_in_a_member_account_imports_here_and_pages_once(member_pipeline, account, size):
    produced = produce(size)
    publisher = member_pipeline.publisher_clients()
    member_hub = publisher._securityhub(MEMBER)  # through the member role
    assert member_hub is not publisher._securityhub(HOME)
    fault = fail_every_finding(MEMBER)
    inject(member_hub, "BatchImportFindings", fault)

    run = member_pipeline.drain()

    assert fault.state["calls"] >= 1 and run.returned == 0 and run.invocations == 1
    imported = in_security_hub(account.securityhub)
    assert Counter(finding["Id"] for finding in imported) == Counter(produced), "not imported once each here"
    assert {finding["AwsAccountId"] for finding in imported} == {HOME}
    assert {finding["ProductFields"]["identity-auditor/RecordedAccountId"] for finding in imported} == {MEMBER}
    assert alerted(account) == Counter(produced), "an alert missing or sent twice"
    assert not any("IN SECURITY HUB" in alert["Message"] for alert in alerts(account))  # imported: as today
    assert dead_lettered(member_pipeline) == Counter() and member_pipeline.depth() == 0
    record_ledger(f"{size} in (member account {MEMBER}, FailedFindings InvalidAccess) -> {len(imported)} in the "
                  f"auditor's Security Hub once each, member account recorded, {sum(alerted(account).values())} "
                  "alerts once each, 0 dead-lettered")


def test_a_member_account_that_refuses_each_finding_with_access_denied_falls_back_too(
        member_pipeline, account):
    produced = produce(3)
    inject(member_pipeline.publisher_clients()._securityhub(MEMBER), "BatchImportFindings",
           fail_every_finding(MEMBER, code="AccessDeniedException"))

    run = member_pipeline.drain()

    assert run.returned == 0
    assert Counter(finding["Id"] for finding in in_security_hub(account.securityhub)) == Counter(produced)
    assert alerted(account) == Counter(produced)
    record_ledger("3 in (member account, FailedFindings AccessDeniedException) -> 3 in the auditor's Security Hub "
                  "once each, 3 alerts once each, 0 dead-lettered")


# -- Security Hub down for longer than the queue's redrive window ------------------------------------------


def test_security_hub_down_past_the_redrive_window_alerts_once_on_the_second_receive_then_redrives_quietly(
        home_pipeline, account, size):
    produced = produce(size)
    outage = unavailable()
    inject(home_pipeline.publisher_clients()._securityhub(HOME), "BatchImportFindings", outage)

    first = home_pipeline.drain(max_invocations=1)
    assert first.returned == size and alerted(account) == Counter(), "paged before one visibility timeout"
    second = home_pipeline.drain(max_invocations=1)
    assert second.returned == size
    assert alerted(account) == Counter(produced), "not every alert sent exactly once on the second receive"
    for alert in alerts(account):
        assert alert["Message"].startswith("NOT YET IN SECURITY HUB: ")
        assert "Why: ServiceUnavailableException" in alert["Message"]
    rest = home_pipeline.drain()  # the outage outlasts every receive the redrive policy allows

    assert first.invocations + second.invocations + rest.invocations == MAX_RECEIVE_COUNT
    assert in_security_hub(account.securityhub) == [] and home_pipeline.depth() == 0
    assert dead_lettered(home_pipeline) == Counter(produced), "not every finding on the dead-letter queue whole"
    assert alerted(account) == Counter(produced), "an alert was sent twice during the outage"

    outage.state["on"] = False  # Security Hub is back: the operator redrives the dead-letter queue
    report = redrive(home_pipeline.sqs, home_pipeline.dlq_url, to_queue(home_pipeline.sqs, home_pipeline.queue_url))
    assert report.replayed == size and not report.left
    after = home_pipeline.drain()

    assert after.returned == 0
    assert Counter(finding["Id"] for finding in in_security_hub(account.securityhub)) == Counter(produced)
    assert alerted(account) == Counter(produced), "the redrive paged again"
    assert dead_lettered(home_pipeline) == Counter() and home_pipeline.depth() == 0
    record_ledger(f"{size} in, Security Hub down for {MAX_RECEIVE_COUNT} receives -> "
                  f"{sum(alerted(account).values())} alerts once each, on the 2nd receive; {size} on the findings DLQ "
                  f"whole; after the redrive {size} in Security Hub once each, 0 alerts more")


# -- what does not change ------------------------------------------------------------------------------------


def test_a_suppressed_finding_never_pages_even_when_security_hub_refuses_it(home_pipeline, account):
    [finding] = findings_from(invictus_event(LOGIN_WITHOUT_MFA)["detail"])
    suppressed = dataclasses.replace(finding, suppression=Suppression(
        reason="break-glass drill", owner="secops", expires=date(2099, 1, 1), pattern="arn:aws:iam::*:user/drill"))
    assert publish_all(build_sinks(Settings.from_env(), Home(HOME, "us-east-1", "aws")), [suppressed]) == {"queue": 1}
    inject(home_pipeline.publisher_clients()._securityhub(HOME), "BatchImportFindings", refuse_every_call(HOME))

    home_pipeline.drain()

    assert alerted(account) == Counter()
    assert dead_lettered(home_pipeline) == Counter([finding.finding_id])
    record_ledger("1 suppressed in, Security Hub disabled -> 0 alerts, 1 on the findings DLQ whole")
