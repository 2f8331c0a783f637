"""Fault injection on the AWS Config path: PutEvaluations throttled, the credential report refused.

The Config evaluator queues its findings even when Config refuses the evaluations (the invocation then
fails and Lambda retries it); its alert state pages once per violation however often it runs. Counted
as in test_faults: every finding in Security Hub once, every violation paged once.
"""

from __future__ import annotations

import json
from collections import Counter

import pytest
from fake_time import FakeClock
from freezegun import freeze_time
from pipeline import LambdaTimeout, error_response, inject, record_ledger

from config_sweeps import PERIODIC_KEYS, SWEEP, users_with_old_keys  # noqa: E402


@pytest.fixture
def clock(config_clock) -> FakeClock:
    return config_clock


@pytest.fixture
def app(config_app):
    return config_app


def sweep(app, context):
    with freeze_time(SWEEP, ignore=["aws_lambda_powertools"]):
        return app.handler(json.loads(PERIODIC_KEYS.read_text()), context)


def lambda_async(app, context, retries: int = 2) -> dict:
    outcome = {"failed": 0, "succeeded": 0}
    for _ in range(1 + retries):
        try:
            sweep(app, context)
        except Exception:  # noqa: BLE001 - Lambda retries the invocation
            outcome["failed"] += 1
            continue
        outcome["succeeded"] += 1
        break
    return outcome


def ledger(pipeline, account) -> dict:
    # The sweep's clock for the queues too: messages sent at the sweep are past SQS's retention today.
    with freeze_time(SWEEP, tick=True, ignore=["aws_lambda_powertools"]):
        pipeline.drain()
        alerts = [alert["Subject"] for alert in account.alerts()]
    hub = Counter(f["Id"] for page in account.securityhub.get_paginator("get_findings").paginate()
                  for f in page["Findings"])
    assert set(hub.values()) == {1}, "a finding is in Security Hub twice"
    assert len(alerts) == len(set(alerts)), "a violation paged twice"
    assert pipeline.depth() == 0 and pipeline.depth(pipeline.dlq_url) == 0
    record_ledger(f"{len(hub)} state findings in Security Hub once each, {len(alerts)} violations paged once each")
    return {"findings": len(hub), "alerts": len(alerts)}


def test_put_evaluations_throttled_fails_the_invocation_after_queueing_and_the_retry_pages_nobody_twice(
        app, pipeline, account, lambda_context, full_size):
    users = users_with_old_keys(40 if full_size else 8)
    config = app._clients("us-east-1").config
    throttled = {"left": 6}  # more than botocore's 5 attempts: the first invocation fails

    def throttle(request):
        if throttled["left"] > 0:
            throttled["left"] -= 1
            return error_response(request, 400, "ThrottlingException", "Rate exceeded")
        return None

    inject(config, "PutEvaluations", throttle)

    outcome = lambda_async(app, lambda_context)

    assert outcome == {"failed": 1, "succeeded": 1}
    assert ledger(pipeline, account) == {"findings": len(users), "alerts": len(users)}


def test_credential_report_limit_exceeded_is_waited_out(app, pipeline, account, lambda_context, clock):
    users = users_with_old_keys(5)
    iam = app._clients("us-east-1").iam
    refused = {"left": 2}

    def limit_exceeded(request):
        if refused["left"] > 0:
            refused["left"] -= 1
            return error_response(request, 409, "LimitExceeded", "Report generation in progress", json_protocol=False)
        return None

    inject(iam, "GenerateCredentialReport", limit_exceeded)

    outcome = lambda_async(app, lambda_context)

    assert outcome["succeeded"] == 1 and refused["left"] == 0
    assert clock.sleeps >= 2  # each refusal was waited out (on the fake clock) before asking again
    assert ledger(pipeline, account) == {"findings": len(users), "alerts": len(users)}


def test_a_timeout_while_queueing_the_alerts_pages_them_on_the_retry(app, pipeline, account, lambda_context):
    """Issue 16, point 5: Lambda's timeout strikes while the sweep queues its findings. The alerts are remembered
    in the alert state only after they were queued, so the retry pages them. With the old order (claim, then
    queue) the claims were already written and the retry paged nobody for 30 days."""
    users = users_with_old_keys(5)
    app._wired(lambda_context, "us-east-1")
    queue = next(sink for sink in app._wiring["sinks"] if sink.name == "queue")
    striking = {"on": True}

    def timeout(request):
        if striking["on"]:
            striking["on"] = False
            raise LambdaTimeout("Task timed out after 300.00 seconds")
        return None

    inject(queue.client, "SendMessageBatch", timeout)
    with pytest.raises(LambdaTimeout):
        sweep(app, lambda_context)
    sweep(app, lambda_context)  # Lambda's retry of the same invocation

    assert ledger(pipeline, account) == {"findings": len(users), "alerts": len(users)}


def test_a_failure_after_queueing_before_remembering_pages_once_on_the_retry(app, pipeline, account, lambda_context):
    """The other side of the same window: the alerts were queued, the write that remembers them never happens
    (DynamoDB refuses in this invocation). The retry queues the same alerts again; their key names the Config
    invocation, so the publisher pages each once."""
    users = users_with_old_keys(5)
    app._wired(lambda_context, "us-east-1")
    refusing = {"on": True}

    def refuse_the_claims(request):
        if refusing["on"] and b'"alert#' in (request.body or b""):
            return error_response(request, 500, "InternalServerError", "injected: the write never happened")
        return None

    inject(app._clients("us-east-1").dynamodb, "PutItem", refuse_the_claims)
    with pytest.raises(Exception, match="alert state"):
        sweep(app, lambda_context)
    refusing["on"] = False
    sweep(app, lambda_context)  # Lambda's retry of the same invocation

    assert ledger(pipeline, account) == {"findings": len(users), "alerts": len(users)}
