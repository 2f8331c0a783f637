"""Fault injection: for each failure a deployment meets, count the findings in and out.

Every scenario produces findings, injects one fault at the HTTP boundary of the real boto3 clients (or
wraps a client where the fault is part of a successful answer, such as ``FailedFindings``), plays the
deployment's retries (Lambda's asynchronous retries for the evaluators, the SQS event source for the
publisher) and then checks the ledger: every finding is in Security Hub exactly once or on the findings
dead-letter queue whole (ASFF and alert, enough to replay it); every alert was sent exactly once for
each finding that pages, delivered or dead-lettered (alerts do not wait for Security Hub:
tests/reliability/test_independent_alerts.py).

Default size 60 findings a scenario; ``pytest --full`` runs 500.
"""

from __future__ import annotations

import json
import re
from collections import Counter

import pytest
from fake_time import FakeClock, fake_botocore_time, fake_sqs_long_polling
from identity_auditor.aws.retry import RetryPolicy
from identity_auditor.cli.redrive import redrive, to_queue
from identity_auditor.delivery.settings import Settings
from identity_auditor.delivery.wiring import build_sinks
from identity_auditor.model.home import Home
from identity_auditor.sinks import publish_all
from pipeline import ImportSpy, LambdaTimeout, error_response, inject, record_ledger
from support import FakeLambdaContext, copies, findings_from, invictus_event, load_handler_module

HOME = "123456789012"
LOGIN_WITHOUT_MFA = "70e5932e-9022-4b38-837e-ca10dad94eb7"
_FINDING_LINE = re.compile(r"^Security Hub finding: (.+)$", re.MULTILINE)


@pytest.fixture
def size(full_size) -> int:
    return 500 if full_size else 60


@pytest.fixture(autouse=True)
def clock(monkeypatch, pipeline) -> FakeClock:
    """Retries happen as configured, on a fake clock: botocore's backoff, its adaptive rate limiter (the
    Security Hub clients are built after this), the publisher's own backoff and the redrive's long polling
    of the dead-letter queue wait virtual seconds."""
    clock = fake_sqs_long_polling(monkeypatch, fake_botocore_time(monkeypatch, FakeClock()))
    publisher = pipeline.publisher_clients()
    publisher.retry_policy = RetryPolicy(sleep=clock.sleep)
    return clock


# -- the ledger ---------------------------------------------------------------------------------------


def produce(count: int) -> list[str]:
    """``count`` findings queued at once by an evaluator's queue sink; their ids."""
    [finding] = findings_from(invictus_event(LOGIN_WITHOUT_MFA)["detail"])
    findings = copies(finding, count)
    assert publish_all(build_sinks(Settings.from_env(), Home(HOME, "us-east-1", "aws")), findings) == {"queue": count}
    return [f.finding_id for f in findings]


def in_security_hub(account) -> Counter:
    return Counter(finding["Id"] for page in account.securityhub.get_paginator("get_findings").paginate()
                   for finding in page["Findings"])


def alerted(account) -> Counter:
    """Every alert sent so far in the test, by finding id (reading the subscribed queue empties it)."""
    ledger = account.__dict__.setdefault("alert_ledger", Counter())
    ledger.update(_FINDING_LINE.search(alert["Message"]).group(1) for alert in account.alerts())
    return ledger


def settle(pipeline, account, produced: list[str]) -> dict:
    """Assert the ledger balances; return the counts for the scenario's own assertions."""
    hub = in_security_hub(account)
    dead = pipeline.dead_letters()
    dead_ids = Counter(letter["finding_id"] for letter in dead)
    alerts = alerted(account)
    assert not [i for i, n in hub.items() if n > 1], "a finding is in Security Hub twice"
    assert set(hub) | set(dead_ids) == set(produced), "a finding was lost: neither delivered nor dead-lettered"
    assert not set(hub) & set(dead_ids), "a finding both delivered and dead-lettered"
    assert all(n == 1 for n in dead_ids.values()), "a finding dead-lettered twice"
    for letter in dead:  # enough context to replay: the whole delivery
        assert letter["asff"]["Id"] == letter["finding_id"] and letter["alert"]["Message"]
    paging_dead = {letter["finding_id"] for letter in dead if letter["alert"]}
    assert set(alerts) == set(hub) | paging_dead, "an alert missing for a finding that pages, or sent for one that " \
                                                  "does not"
    assert all(n == 1 for n in alerts.values()), "an alert was sent twice"
    assert pipeline.depth() == 0, "findings still waiting on the queue"
    counts = {"delivered": len(hub), "dead": len(dead_ids), "alerts": sum(alerts.values())}
    record_ledger(f"{len(produced)} in -> {counts['delivered']} in Security Hub once each, {counts['dead']} "
                  f"dead-lettered whole, {counts['alerts']} alerts once each")
    return counts


# -- Security Hub ---------------------------------------------------------------------------------------


def failing(times: int, status: int, code: str, *, json_protocol: bool = True):
    """A fault that answers the first ``times`` requests with an error, then lets them through."""
    state = {"left": times}

    def fault(request):
        if state["left"] <= 0:
            return None
        state["left"] -= 1
        return error_response(request, status, code, json_protocol=json_protocol)

    fault.state = state
    return fault


def test_security_hub_throttling_is_retried_in_the_invocation(pipeline, account, size, clock):
    produced = produce(size)
    securityhub = pipeline.publisher_clients()._securityhub(HOME)
    throttled = failing(3, 429, "TooManyRequestsException")
    inject(securityhub, "BatchImportFindings", throttled)
    spy = ImportSpy(securityhub)

    run = pipeline.drain()

    assert settle(pipeline, account, produced) == {"delivered": size, "dead": 0, "alerts": size}
    assert run.returned == 0 and set(spy.accepted.values()) == {1}
    assert throttled.state["left"] == 0 and clock.sleeps >= 3  # each throttled call waited before its retry


def test_a_security_hub_outage_returns_the_batch_to_the_queue_until_it_ends(pipeline, account, size):
    produced = produce(size)
    outage = failing(10**6, 503, "ServiceUnavailableException")
    inject(pipeline.publisher_clients()._securityhub(HOME), "BatchImportFindings", outage)

    first = pipeline.drain(max_invocations=1)  # the first receive fails: nothing imported, nothing paged yet
    assert first.returned == size and in_security_hub(account) == Counter() and alerted(account) == Counter()
    later = pipeline.drain(max_invocations=2)  # from the second receive on: paged once, before the import
    assert later.returned == later.invocations * size and in_security_hub(account) == Counter()
    assert alerted(account) == Counter(produced)
    outage.state["left"] = 0  # Security Hub is back
    pipeline.drain()

    assert settle(pipeline, account, produced) == {"delivered": size, "dead": 0, "alerts": size}


class FailedFindings:
    """Security Hub answers 200 and lists some findings in ``FailedFindings``: ``transient`` ids once,
    ``permanent`` ids every time (as for a finding it will never accept)."""

    def __init__(self, client, *, transient=(), permanent=()):
        self.client, self.transient, self.permanent = client, set(transient), set(permanent)

    def batch_import_findings(self, Findings):  # noqa: N803
        failed = [f for f in Findings if f["Id"] in self.transient | self.permanent]
        self.transient -= {f["Id"] for f in failed}
        accepted = [f for f in Findings if f not in failed]
        response = self.client.batch_import_findings(Findings=accepted) if accepted else {"FailedFindings": []}
        response["FailedFindings"] = list(response.get("FailedFindings") or []) + [
            {"Id": f["Id"], "ErrorCode": "InvalidInput" if f["Id"] in self.permanent else "InternalException",
             "ErrorMessage": "injected"} for f in failed]
        return response


def _wrap_security_hub(pipeline, monkeypatch, **faults) -> FailedFindings:
    publisher = pipeline.publisher_clients()
    wrapper = FailedFindings(publisher._securityhub(HOME), **faults)
    monkeypatch.setattr(publisher, "_securityhub", lambda account: wrapper)
    return wrapper


def test_transiently_failed_findings_are_retried_in_the_same_invocation(pipeline, account, size, monkeypatch):
    produced = produce(size)
    _wrap_security_hub(pipeline, monkeypatch, transient=produced[::3])

    run = pipeline.drain()

    assert settle(pipeline, account, produced) == {"delivered": size, "dead": 0, "alerts": size}
    assert run.returned == 0


def test_a_finding_security_hub_rejects_goes_to_the_dead_letter_queue_whole_and_redrives(
        pipeline, account, size, monkeypatch):
    produced = produce(size)
    rejected = produced[size // 2]
    wrapper = _wrap_security_hub(pipeline, monkeypatch, permanent=[rejected])

    run = pipeline.drain()

    # the rejected finding was alerted once, on its second receive, saying it is not in Security Hub
    assert settle(pipeline, account, produced) == {"delivered": size - 1, "dead": 1, "alerts": size}
    assert run.returned == 10  # received ten times (maxReceiveCount), then moved to the dead-letter queue
    [letter] = pipeline.dead_letters()
    assert letter["finding_id"] == rejected

    wrapper.permanent.clear()  # the cause is fixed: redrive, and the publisher delivers it once
    report = redrive(pipeline.sqs, pipeline.dlq_url, to_queue(pipeline.sqs, pipeline.queue_url))
    assert report.replayed == 1 and not report.left
    pipeline.drain()
    assert pipeline.dead_letters() == []
    assert settle(pipeline, account, produced) == {"delivered": size, "dead": 0, "alerts": size}


# -- SNS --------------------------------------------------------------------------------------------------


def test_alerts_that_sns_refuses_are_retried_and_sent_once(pipeline, account, size):
    produced = produce(size)
    publisher = pipeline.publisher_clients()
    publisher._publish({"Subject": "warm-up", "Message": "x"})  # builds the SNS client
    outage = failing(12, 500, "InternalError", json_protocol=False)  # beyond botocore's 5 attempts, twice
    inject(publisher._sns, "Publish", outage)
    account.alerts()  # drop the warm-up

    run = pipeline.drain()

    assert run.returned >= 2  # the alerts whose every attempt failed went back to the queue
    assert settle(pipeline, account, produced) == {"delivered": size, "dead": 0, "alerts": size}


# -- DynamoDB (the de-duplication table) -----------------------------------------------------------------


def test_publisher_without_its_deduplication_table_retries_and_pages_once(pipeline, account, size):
    produced = produce(size)
    publisher = pipeline.publisher_clients()
    publisher.alerts_once._build()
    outage = failing(30, 500, "InternalServerError")  # Powertools' PutItem fails: no alert is sent blind
    inject(publisher.alerts_once.store.client, "PutItem", outage)

    run = pipeline.drain()

    assert run.returned > 0
    assert settle(pipeline, account, produced) == {"delivered": size, "dead": 0, "alerts": size}


def test_evaluator_without_its_deduplication_table_fails_and_lambdas_retry_publishes_once(
        pipeline, account, monkeypatch):
    evaluator = load_handler_module()
    event = invictus_event(LOGIN_WITHOUT_MFA)
    evaluator.DELIVERY.dedup._build()
    inject(evaluator.DELIVERY.dedup.store.client, "PutItem", failing(10, 500, "InternalServerError"))

    attempts = lambda_async(evaluator, event)  # noqa: F841 - Lambda's two retries of an async invocation

    assert attempts["failed"] >= 1 and attempts["succeeded"] == 1
    pipeline.drain()
    [finding_id] = [f.finding_id for f in findings_from(event["detail"])]
    assert settle(pipeline, account, [finding_id]) == {"delivered": 1, "dead": 0, "alerts": 1}


def lambda_async(handler_module, event, *, retries: int = 2, context=None) -> dict:
    """Lambda's asynchronous invocation: the first attempt and up to ``retries`` retries; what happened."""
    outcome = {"failed": 0, "succeeded": 0, "errors": []}
    for _ in range(1 + retries):
        try:
            handler_module.handler(event, context or FakeLambdaContext())
        except Exception as error:  # noqa: BLE001 - Lambda records it and retries
            outcome["failed"] += 1
            outcome["errors"].append(f"{type(error).__name__}: {error}")
            continue
        outcome["succeeded"] += 1
        break
    return outcome


class ShortContext(FakeLambdaContext):
    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 1


def test_an_evaluator_timeout_after_queueing_is_retried_without_a_second_alert(pipeline, account):
    evaluator = load_handler_module()
    event = invictus_event(LOGIN_WITHOUT_MFA)
    evaluator.DELIVERY.dedup._build()
    state = {"left": 1}

    def timeout_on_save(request):  # the findings are queued; then Lambda's timeout strikes
        if state["left"]:
            state["left"] -= 1
            raise LambdaTimeout()
        return None

    inject(evaluator.DELIVERY.dedup.store.client, "UpdateItem", timeout_on_save)
    with pytest.raises(LambdaTimeout):
        evaluator.handler(event, ShortContext())
    evaluator.handler(event, ShortContext())  # Lambda's retry: the record left INPROGRESS has expired

    assert pipeline.depth() == 2  # queued by both attempts
    pipeline.drain()
    [finding_id] = [f.finding_id for f in findings_from(event["detail"])]
    assert settle(pipeline, account, [finding_id]) == {"delivered": 1, "dead": 0, "alerts": 1}


# -- a timeout in the middle of a publisher batch ----------------------------------------------------------


def test_a_publisher_timeout_mid_batch_redelivers_the_batch_without_a_second_alert(pipeline, account, size):
    produced = produce(size)
    publisher = pipeline.publisher_clients()
    publisher._publish({"Subject": "warm-up", "Message": "x"})
    account.alerts()
    state = {"sent": 0}

    def timeout_after_a_third(request):
        state["sent"] += 1
        if state["sent"] == size // 3:
            raise LambdaTimeout()
        return None

    inject(publisher._sns, "Publish", timeout_after_a_third)

    run = pipeline.drain()

    assert run.failed_invocations == 1 and run.returned == size  # the whole batch came back
    assert settle(pipeline, account, produced) == {"delivered": size, "dead": 0, "alerts": size}


# -- unreadable messages ------------------------------------------------------------------------------------


def test_an_unreadable_message_is_dead_lettered_and_the_rest_of_its_batch_delivered(pipeline, account, size):
    produced = produce(size)
    pipeline.sqs.send_message(QueueUrl=pipeline.queue_url, MessageBody='{"v": 1, "asff": {"Id": ')

    run = pipeline.drain()

    assert run.returned == 10
    assert settle_with_garbage(pipeline, account, produced) == {"delivered": size, "alerts": size}


def settle_with_garbage(pipeline, account, produced: list[str]) -> dict:
    bodies = []
    while True:
        messages = pipeline.sqs.receive_message(QueueUrl=pipeline.dlq_url, MaxNumberOfMessages=10).get("Messages", [])
        if not messages:
            break
        bodies += [m["Body"] for m in messages]
    assert bodies == ['{"v": 1, "asff": {"Id": ']  # kept byte for byte
    hub, alerts = in_security_hub(account), alerted(account)
    assert set(hub) == set(produced) and set(hub.values()) == {1}
    assert set(alerts) == set(produced) and set(alerts.values()) == {1}
    record_ledger(f"{len(produced)} in + 1 unreadable message -> {len(hub)} in Security Hub once each, "
                  f"{sum(alerts.values())} alerts once each, the unreadable one dead-lettered byte for byte")
    return {"delivered": len(hub), "alerts": sum(alerts.values())}


def test_every_dead_letter_names_its_finding_and_carries_its_alert(pipeline, account, monkeypatch):
    produced = produce(3)
    _wrap_security_hub(pipeline, monkeypatch, permanent=produced)
    pipeline.drain()
    letters = pipeline.dead_letters()
    assert sorted(letter["finding_id"] for letter in letters) == sorted(produced)
    for letter in letters:
        assert json.dumps(letter["asff"])  # the ASFF document, as it was to be imported
        assert letter["alert"]["Subject"] and letter["alert_key"] == letter["finding_id"]
