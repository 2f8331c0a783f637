"""A forged direct invoke of the CloudTrail evaluator is refused before the evaluator runs (issue 16).

On the old main, any principal of the account whose IAM policy allowed ``lambda:InvokeFunction`` could hand the
evaluator a made-up ``"source": "aws.iam"`` event, which was evaluated, signed like a real finding, imported and
paged word for word (a phishing link went through), or an exact copy of the heartbeat, which kept the heartbeat
alarm quiet over a broken pipeline. The evaluator's function policy held only Allow statements, which keep out no
principal of the same account. The template now gives the function a resource policy with an explicit Deny
(``CloudTrailEvaluatorResourcePolicy``): only the stack's EventBridge rules (their ARN as ``aws:SourceArn``) and
the principals ``FindingsRedrivePrincipalArns`` names may invoke it.

moto does not evaluate Lambda resource policies, so this suite plays Lambda's authorisation in front of the real
handler: each invoke is decided from the deployed policy document (tests/invoke_policy.py) for the request as
Lambda sees it (who calls, and the rule's ARN when EventBridge delivers), assuming the attacker's own IAM policy
allows the call (the worst case); only what Lambda would run reaches the handler. The rest of the deployment is
emulated as in the other reliability suites (moto: KMS HMAC key, SQS and its dead-letter queue, Security Hub,
SNS, DynamoDB; tests/pipeline.py plays the publisher's event source).
"""

from __future__ import annotations

import copy

import pytest
from invoke_policy import ACCOUNT, decision, policy
from pipeline import record_ledger
from support import FakeLambdaContext, invictus_event, load_handler_module

STACK = "identity-auditor"
IAM_RULE = f"arn:aws:events:us-east-1:{ACCOUNT}:rule/{STACK}-signin-console"
HEARTBEAT_RULE = f"arn:aws:events:us-east-1:{ACCOUNT}:rule/{STACK}-heartbeat"
INTRUDER = f"arn:aws:iam::{ACCOUNT}:role/ci-deployer"  # allowed lambda:InvokeFunction on * by its IAM policy
LOGIN_WITHOUT_MFA = "70e5932e-9022-4b38-837e-ca10dad94eb7"  # a real console login without MFA: pages
PHISHING = "Reset your password now: https://evil.example/aws-login"


class AccessDenied(Exception):
    """What Lambda answers a caller its resource policy denies (403 AccessDeniedException): the function never runs."""


class Lambda:
    """Lambda's authorisation in front of the real handler, decided from the deployed resource policy."""

    def __init__(self, handler, redrivers: list[str] | None = None):
        self.handler, self.document = handler, policy(redrivers or [])
        self.refused = 0

    def from_rule(self, rule_arn: str, event: dict) -> dict:
        return self._invoke({"service": "events.amazonaws.com", "aws:SourceArn": rule_arn,
                             "aws:SourceAccount": ACCOUNT}, event)

    def by_principal(self, principal_arn: str, event: dict) -> dict:
        # the caller's own IAM policy allows the call: only the resource policy can still refuse it
        return self._invoke({"aws:PrincipalArn": principal_arn}, event, identity_allows=True)

    def _invoke(self, request: dict, event: dict, *, identity_allows: bool = False) -> dict:
        verdict = decision(self.document, request)
        if verdict == "Deny" or (verdict == "NotAllowedHere" and not identity_allows):
            self.refused += 1
            raise AccessDenied(f"{request} may not invoke the evaluator")
        return self.handler(copy.deepcopy(event), FakeLambdaContext())


@pytest.fixture
def evaluator(signed):
    return load_handler_module("cloudtrail_evaluator_forged_invoke")


def forged_login() -> dict:
    """A made-up console login without MFA whose user name carries a phishing text, as an intruder would write it."""
    event = invictus_event(LOGIN_WITHOUT_MFA)
    event["id"] = event["detail"]["eventID"] = "00000000-0000-4000-8000-00000000f0f0"
    event["detail"]["userIdentity"]["userName"] = PHISHING
    return event


def scheduled_heartbeat() -> dict:
    return {"version": "0", "id": "89d1a02d-5ec7-412e-82f5-13505f849b41", "detail-type": "Scheduled Event",
            "source": "aws.events", "account": ACCOUNT, "time": "2026-11-23T10:30:00Z", "region": "us-east-1",
            "resources": [HEARTBEAT_RULE], "detail": {}}


def in_security_hub(account) -> int:
    return sum(len(page["Findings"]) for page in account.securityhub.get_paginator("get_findings").paginate())


def test_forged_invokes_are_refused_before_the_evaluator_runs_and_the_rules_events_still_page(
        signed, evaluator, account):
    gate = Lambda(evaluator.handler)
    genuine = [invictus_event(LOGIN_WITHOUT_MFA) for _ in range(5)]
    for index, event in enumerate(genuine):  # five logins: five CloudTrail events
        event["id"] = event["detail"]["eventID"] = f"70e5932e-9022-4b38-837e-ca10dad9{index:04d}"
    for event in genuine:
        gate.from_rule(IAM_RULE, event)
    forged = [forged_login(), scheduled_heartbeat()]
    for event in forged:
        with pytest.raises(AccessDenied):
            gate.by_principal(INTRUDER, event)
    # an intruder's own EventBridge rule, even one that names the stack's rule in the event, is another source ARN
    with pytest.raises(AccessDenied):
        gate.from_rule(f"arn:aws:events:us-east-1:{ACCOUNT}:rule/intruder-replay", forged_login())
    signed.drain()

    alerts = account.alerts()
    assert gate.refused == 3
    assert len(alerts) == 5 and in_security_hub(account) == 5
    assert not any(PHISHING in alert["Message"] or PHISHING in alert.get("Subject", "") for alert in alerts)
    assert not any("heartbeat" in alert.get("MessageAttributes", {}) for alert in alerts), "a forged heartbeat"
    assert signed.depth() == 0 and signed.dead_letters() == []
    record_ledger("5 events from the stack's rule + 2 forged direct invokes (phishing login, heartbeat copy) + 1 from "
                  "an intruder's rule -> 3 refused by the resource policy, 5 in Security Hub, 5 alerts, 0 forged")


def test_the_stacks_heartbeat_rule_still_invokes_it(signed, evaluator, account):
    gate = Lambda(evaluator.handler)
    result = gate.from_rule(HEARTBEAT_RULE, scheduled_heartbeat())
    signed.drain()
    assert result["heartbeat"] is True
    sent = account.alerts()
    assert len(sent) == 1 and "heartbeat" in sent[0]["MessageAttributes"]
    record_ledger("1 heartbeat from the stack's heartbeat rule -> 1 heartbeat on the topic")


def test_a_named_redrive_principal_may_replay_an_event_and_no_one_else(signed, evaluator, account):
    oncall = f"arn:aws:iam::{ACCOUNT}:role/security-oncall"
    gate = Lambda(evaluator.handler, redrivers=[oncall])
    gate.by_principal(oncall, invictus_event(LOGIN_WITHOUT_MFA))  # `identity-auditor redrive --to-function`
    with pytest.raises(AccessDenied):
        gate.by_principal(INTRUDER, forged_login())
    signed.drain()
    assert len(account.alerts()) == 1 and in_security_hub(account) == 1
    record_ledger("1 redriven event (named principal) + 1 forged -> 1 refused, 1 in Security Hub, 1 alert")
