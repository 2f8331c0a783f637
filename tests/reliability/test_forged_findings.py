"""Only the auditor writes findings: forged findings-queue messages are refused, kept and counted (issue 16).

Anyone who could put a message on the findings queue used to have it imported into Security Hub (in any
account) and paged word for word. The queue policy now denies ``sqs:SendMessage`` to all but the evaluators'
roles, and every message must carry a MAC of its exact body made with the stack's KMS HMAC key, which only the
evaluators' roles may use (delivery/provenance.py). These scenarios model a sender who got past the queue
policy (a principal the operator named for redrives, a policy loosened by mistake) but cannot make the
auditor's MACs: valid deliveries, each forged one way (no signature, the attacker's own key, a MAC of another
key under the auditor's key id, a genuine signature on a changed body), in the same batch as genuine findings.

The deployment is emulated as in the other reliability suites (moto: KMS with GenerateMac/VerifyMac, SQS with
the dead-letter redrive, Security Hub, SNS, DynamoDB; tests/pipeline.py plays Lambda's SQS event source),
with each message's attributes handed to the publisher as Lambda's event source does; the publisher handler
checks each message itself (``VERIFIER`` in functions/findings_publisher/findings_publisher.py).

Default size 60 genuine findings; ``pytest --full`` runs 500.
"""

from __future__ import annotations

import dataclasses
import io
import json
import re
from collections import Counter
from datetime import datetime, timezone

import boto3
import pytest
from fake_time import FakeClock, fake_botocore_time, fake_sqs_long_polling
from identity_auditor.cli.main import main
from identity_auditor.delivery.provenance import (
    BODY_ALTERED,
    FORGED_FINDINGS_METRIC,
    KEY_ATTRIBUTE,
    MAC_MISMATCH,
    MISSING_SIGNATURE,
    WRONG_KEY,
    Signer,
)
from identity_auditor.delivery.settings import Settings
from identity_auditor.delivery.wiring import build_sinks
from identity_auditor.model.home import Home
from identity_auditor.sinks import publish_all
from identity_auditor.sinks.queue import Delivery, delivery
from pipeline import Pipeline, record_ledger
from support import copies, findings_from, invictus_event

HOME = "123456789012"
MEMBER = "210987654321"
LOGIN_WITHOUT_MFA = "70e5932e-9022-4b38-837e-ca10dad94eb7"
PHISHING = "Reset your password now: https://evil.example/aws-login\r\n\x1b[31mAWS Security\x1b[0m"
_FINDING_LINE = re.compile(r"^Security Hub finding: (.+)$", re.MULTILINE)


@pytest.fixture
def size(full_size) -> int:
    return 500 if full_size else 60


@pytest.fixture
def mac_key(account, monkeypatch) -> str:
    """The stack's FindingsMacKey (HMAC_256, GENERATE_VERIFY_MAC), in the evaluators' and publisher's settings."""
    key = boto3.client("kms", region_name="us-east-1").create_key(
        KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC", Description="FindingsMacKey")["KeyMetadata"]["Arn"]
    monkeypatch.setenv("FINDINGS_MAC_KEY_ARN", key)
    return key


@pytest.fixture
def signed(account, mac_key, monkeypatch) -> Pipeline:
    """The delivery path with the stack's key: evaluators sign, the publisher checks."""
    pipe = Pipeline(account, monkeypatch)  # the publisher cold-starts with FINDINGS_MAC_KEY_ARN set
    fake_sqs_long_polling(monkeypatch, fake_botocore_time(monkeypatch, FakeClock()))
    assert pipe.publisher.VERIFIER is not None  # the handler checks each message's MAC itself
    return pipe


# -- what the evaluators queue, and what a forger queues ----------------------------------------------


def produce(count: int) -> list[str]:
    """``count`` genuine findings, queued (and signed) by an evaluator's queue sink; their ids."""
    [finding] = findings_from(invictus_event(LOGIN_WITHOUT_MFA)["detail"])
    findings = copies(finding, count)
    assert publish_all(build_sinks(Settings.from_env(), Home(HOME, "us-east-1", "aws")), findings) == {"queue": count}
    return [f.finding_id for f in findings]


def forged_delivery(name: str, message: str = PHISHING) -> str:
    """A valid delivery (the publisher would read it) about a member account, paging a phishing link."""
    [finding] = findings_from(invictus_event(LOGIN_WITHOUT_MFA)["detail"])
    genuine = delivery(finding, product_arn=f"arn:aws:securityhub:us-east-1:{HOME}:product/{HOME}/default",
                       updated_at=datetime(2026, 11, 23, tzinfo=timezone.utc), page=True)
    finding_id = f"forged/{name}"
    forged = dataclasses.replace(
        genuine, finding_id=finding_id, account_id=MEMBER, alert_key=finding_id,
        asff={**genuine.asff, "Id": finding_id, "AwsAccountId": MEMBER, "Title": "Password reset required"},
        alert={**genuine.alert, "Message": f"{message}\n\nSecurity Hub finding: {finding_id}"})
    body = forged.to_json()
    assert Delivery.from_json(body).finding_id == finding_id  # the publisher reads it like any other
    return body


def forge(sqs, queue_url: str, mac_key: str) -> dict[str, tuple[str, str, dict]]:
    """Four forged messages on the queue: message id -> (expected reason, body, attributes as sent)."""
    kms = boto3.client("kms", region_name="us-east-1")
    own_key = kms.create_key(KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")["KeyMetadata"]["Arn"]
    own = Signer(own_key, kms=kms)  # the forger's own HMAC key: valid MACs, not the auditor's
    unsigned, other_key, other_mac, altered = (forged_delivery(n) for n in ("unsigned", "own-key", "own-mac",
                                                                            "altered"))
    genuine_body = forged_delivery("altered", "Sign in to the console to review the finding.")
    assert genuine_body != altered
    cases = [
        (MISSING_SIGNATURE, unsigned, {}),
        (WRONG_KEY, other_key, own(other_key)),
        (MAC_MISMATCH, other_mac, {**own(other_mac), KEY_ATTRIBUTE: {"DataType": "String", "StringValue": mac_key}}),
        # a genuine signature (what an evaluator sent for a harmless body) copied onto a changed body
        (BODY_ALTERED, altered, Signer(mac_key, kms=kms)(genuine_body)),
    ]
    sent = {}
    for reason, body, attributes in cases:
        arguments = {"MessageAttributes": attributes} if attributes else {}
        message_id = sqs.send_message(QueueUrl=queue_url, MessageBody=body, **arguments)["MessageId"]
        sent[message_id] = (reason, body, attributes)
    return sent


# -- the ledger ---------------------------------------------------------------------------------------


def in_security_hub(account) -> Counter:
    return Counter(finding["Id"] for page in account.securityhub.get_paginator("get_findings").paginate()
                   for finding in page["Findings"])


def alerts(account) -> list[str]:
    return [alert["Message"] for alert in account.alerts()]


def forged_findings_counted(out: str) -> int:
    """The ForgedFindings metric the publisher emitted (CloudWatch embedded metric format on stdout)."""
    total = 0
    for line in out.splitlines():
        if line.startswith("{") and '"_aws"' in line:
            value = json.loads(line).get(FORGED_FINDINGS_METRIC, 0)
            total += sum(value) if isinstance(value, list) else value
    return total


def dead_letters(pipe: Pipeline) -> dict[str, dict]:
    """The findings dead-letter queue's messages by body, with their attributes (left on the queue)."""
    found, seen = {}, set()
    while True:
        messages = pipe.sqs.receive_message(QueueUrl=pipe.dlq_url, MaxNumberOfMessages=10, VisibilityTimeout=0,
                                            MessageAttributeNames=["All"], WaitTimeSeconds=0).get("Messages", [])
        fresh = [message for message in messages if message["MessageId"] not in seen]
        if not fresh:
            return found
        for message in fresh:
            seen.add(message["MessageId"])
            found[message["Body"]] = message.get("MessageAttributes") or {}


# -- the scenarios ------------------------------------------------------------------------------------


def test_forged_queue_messages_are_refused_kept_and_counted_while_the_genuine_ones_are_delivered(
        signed, account, mac_key, size, capsys):
    genuine = produce(size)
    forged = forge(signed.sqs, signed.queue_url, mac_key)

    run = signed.drain()

    hub = in_security_hub(account)
    sent = alerts(account)
    paged = Counter(_FINDING_LINE.search(message).group(1) for message in sent)
    assert hub == Counter(genuine), "a genuine finding missing, doubled, or a forged one imported"
    assert paged == Counter(genuine), "a genuine alert missing or doubled, or a forged one paged"
    assert not any("evil.example" in message for message in sent)
    kept = dead_letters(signed)
    assert set(kept) == {body for _, body, _ in forged.values()}, "a forged message not kept on the DLQ whole"
    for _, body, attributes in forged.values():
        assert {name: value["StringValue"] for name, value in kept[body].items()} == \
            {name: value["StringValue"] for name, value in attributes.items()}
    assert run.returned == 10 * len(forged)  # refused on each of maxReceiveCount receives, then dead-lettered
    counted = int(forged_findings_counted(capsys.readouterr().out))
    assert counted == run.returned, "every refusal counted in ForgedFindings"
    assert signed.depth() == 0
    reasons = Counter(reason for reason, _, _ in forged.values())
    assert set(reasons) == {MISSING_SIGNATURE, WRONG_KEY, MAC_MISMATCH, BODY_ALTERED}
    record_ledger(
        f"{size} genuine + {len(forged)} forged in -> {sum(hub.values())} in Security Hub once each, "
        f"{sum(paged.values())} alerts once each; {len(forged)} refused ("
        + ", ".join(f"{reason} {n}" for reason, n in sorted(reasons.items()))
        + f"), 0 imported, 0 paged, {len(kept)} kept whole on the findings DLQ, ForgedFindings {counted} "
        f"({run.returned // len(forged)} receives each)")


def test_forged_messages_on_the_dead_letter_queue_are_refused_by_redrive(signed, account, mac_key, capsys):
    """A forger who can write to the findings dead-letter queue waits for the operator's redrive: it replays
    the genuine dead-lettered finding (with its signature) and names and leaves every forged one."""
    [finding] = findings_from(invictus_event(LOGIN_WITHOUT_MFA)["detail"])
    dead_lettered = dataclasses.replace(finding, finding_id=f"{finding.finding_id}/dead-lettered")
    settings = dataclasses.replace(Settings.from_env(), findings_queue_url=signed.dlq_url)
    publish_all(build_sinks(settings, Home(HOME, "us-east-1", "aws")), [dead_lettered])  # as the DLQ keeps it
    forged = forge(signed.sqs, signed.dlq_url, mac_key)
    out, err = io.StringIO(), io.StringIO()

    code = main(["redrive", signed.dlq_url, "--to-queue", signed.queue_url, "--mac-key", mac_key],
                stdout=out, stderr=err)

    lines = out.getvalue().splitlines()
    assert code == 3 and err.getvalue() == ""  # the CLI's exit code for messages it could not replay
    assert lines[0] == "replayed 1 message(s)"
    named = {line.split(": ", 2)[1]: line.split(": ", 2)[2] for line in lines[1:]}
    assert set(named) == set(forged), "each forged message named"
    for message_id, (reason, _, _) in forged.items():
        assert named[message_id].startswith(reason)
    assert set(dead_letters(signed)) == {body for _, body, _ in forged.values()}, "forged messages left on the DLQ"

    signed.drain()  # the replayed finding carries its signature: the publisher delivers it once

    assert in_security_hub(account) == Counter([dead_lettered.finding_id])
    sent = alerts(account)
    assert [_FINDING_LINE.search(message).group(1) for message in sent] == [dead_lettered.finding_id]
    assert forged_findings_counted(capsys.readouterr().out) == 0  # nothing forged reached the findings queue
    record_ledger(f"1 genuine + {len(forged)} forged on the findings DLQ -> redrive replays 1, refuses "
                  f"{len(forged)} (named, left on the DLQ, exit 3); then 1 in Security Hub, 1 alert, 0 forged")
