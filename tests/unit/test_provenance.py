"""Only the auditor writes findings: the evaluators sign each findings-queue message with the stack's KMS HMAC
key and the publisher (and redrive) deliver only what verifies (delivery/provenance.py).

KMS ``GenerateMac`` and ``VerifyMac`` run in moto (5.2.5 implements both, with ``KMSInvalidMacException`` for a
MAC that does not verify); KMS failures are botocore ``ClientError``s as the service returns them.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json

import boto3
import pytest
from botocore.exceptions import ClientError
from fake_time import FakeClock, fake_sqs_long_polling
from identity_auditor.cli.main import main
from identity_auditor.cli.redrive import provenance_check, redrive, to_queue
from identity_auditor.delivery import provenance
from identity_auditor.delivery.provenance import (
    BODY_ALTERED,
    DIGEST_ATTRIBUTE,
    KEY_ATTRIBUTE,
    MAC_ATTRIBUTE,
    MAC_MISMATCH,
    MISSING_SIGNATURE,
    WRONG_KEY,
    Signer,
    TrustAll,
    Verifier,
    signer_for,
    verifier_for,
)
from identity_auditor.delivery.settings import Settings, SettingsError
from identity_auditor.sinks.queue import MAX_BYTES_PER_CALL, QueueingError, QueueSink, batches
from moto import mock_aws
from support import copies, findings_from, invictus_event

LOGIN_WITHOUT_MFA = "70e5932e-9022-4b38-837e-ca10dad94eb7"
BODY = json.dumps({"v": 1, "finding_id": "f1", "rule_id": "r", "account_id": "123456789012", "event_id": "e",
                   "asff": {"Id": "f1"}, "alert": None, "alert_key": None}, separators=(",", ":"))


class CountingKms:
    """A KMS client that counts the calls it passes on (and can fail them, as KMS does under load)."""

    def __init__(self, kms, fail_with: str | None = None):
        self.kms, self.fail_with = kms, fail_with
        self.calls: list[str] = []

    def _fail(self, operation: str):
        raise ClientError({"Error": {"Code": self.fail_with, "Message": "injected"},
                           "ResponseMetadata": {"HTTPStatusCode": 500}}, operation)

    def generate_mac(self, **kwargs):
        self.calls.append("GenerateMac")
        if self.fail_with:
            self._fail("GenerateMac")
        return self.kms.generate_mac(**kwargs)

    def verify_mac(self, **kwargs):
        self.calls.append("VerifyMac")
        if self.fail_with:
            self._fail("VerifyMac")
        return self.kms.verify_mac(**kwargs)


@pytest.fixture
def kms():
    with mock_aws():
        yield boto3.client("kms", region_name="us-east-1")


def hmac_key(kms) -> str:
    return kms.create_key(KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")["KeyMetadata"]["Arn"]


@pytest.fixture
def key(kms) -> str:
    return hmac_key(kms)


def lambda_shape(attributes: dict) -> dict:
    """Message attributes as Lambda's SQS event source hands them to the function."""
    return {name: {"stringValue": value["StringValue"], "stringListValues": [], "binaryListValues": [],
                   "dataType": value["DataType"]} for name, value in attributes.items()}


# -- signing ------------------------------------------------------------------------------------------


def test_a_signature_is_three_string_attributes_over_the_exact_body(kms, key):
    attributes = Signer(key, kms=kms)(BODY)

    assert set(attributes) == {MAC_ATTRIBUTE, KEY_ATTRIBUTE, DIGEST_ATTRIBUTE}
    assert all(value["DataType"] == "String" for value in attributes.values())
    assert attributes[KEY_ATTRIBUTE]["StringValue"] == key
    assert len(base64.b64decode(attributes[MAC_ATTRIBUTE]["StringValue"])) == 32  # HMAC-SHA-256
    assert base64.b64decode(attributes[DIGEST_ATTRIBUTE]["StringValue"]) == hashlib.sha256(BODY.encode()).digest()
    # what KMS signed fits GenerateMac's 4,096 bytes whatever the body's size
    assert len(provenance.signed_message(hashlib.sha256(b"x" * 300_000).digest())) < 4096


def test_the_publisher_trusts_what_an_evaluator_signed_in_either_attribute_shape(kms, key):
    attributes = Signer(key, kms=kms)(BODY)
    verifier = Verifier(key, kms=kms)

    assert verifier.check(BODY, attributes) is None  # the SQS API's ReceiveMessage shape (redrive)
    assert verifier.check(BODY, lambda_shape(attributes)) is None  # Lambda's SQS event (the publisher)


# -- the four refusals --------------------------------------------------------------------------------


def test_a_message_without_a_signature_is_refused_without_asking_kms(kms, key):
    counting = CountingKms(kms)
    verifier = Verifier(key, kms=counting)
    attributes = Signer(key, kms=kms)(BODY)

    assert verifier.check(BODY, None).startswith(f"{MISSING_SIGNATURE}: no {MAC_ATTRIBUTE} and no {KEY_ATTRIBUTE}")
    assert verifier.check(BODY, {KEY_ATTRIBUTE: attributes[KEY_ATTRIBUTE]}).startswith(MISSING_SIGNATURE)
    assert verifier.check(BODY, {MAC_ATTRIBUTE: attributes[MAC_ATTRIBUTE]}).startswith(MISSING_SIGNATURE)
    assert counting.calls == []


def test_a_message_signed_with_another_key_is_refused_without_asking_kms(kms, key):
    """The attacker's own HMAC key makes a perfectly valid MAC; it is not the auditor's key."""
    own = hmac_key(kms)
    counting = CountingKms(kms)

    reason = Verifier(key, kms=counting).check(BODY, Signer(own, kms=kms)(BODY))

    assert reason.startswith(f"{WRONG_KEY}: signed with '{own}', not the auditor's key {key}")
    assert counting.calls == []


@pytest.mark.parametrize("mac", [
    "another key's MAC under the auditor's key id",
    base64.b64encode(b"\x00" * 32).decode(),
    base64.b64encode(b"\x01" * 16).decode(),
    "not base64 at all \x1b[31m",
])
def test_a_mac_the_auditors_key_did_not_make_is_refused(kms, key, mac):
    if mac.startswith("another"):
        mac = Signer(hmac_key(kms), kms=kms)(BODY)[MAC_ATTRIBUTE]["StringValue"]
    attributes = {**Signer(key, kms=kms)(BODY), MAC_ATTRIBUTE: {"DataType": "String", "StringValue": mac}}

    assert Verifier(key, kms=kms).check(BODY, attributes).startswith(MAC_MISMATCH)


def test_a_genuine_signature_on_a_changed_body_is_refused_as_altered(kms, key):
    attributes = Signer(key, kms=kms)(BODY)
    altered = BODY.replace('"account_id":"123456789012"', '"account_id":"210987654321"')

    assert Verifier(key, kms=kms).check(altered, attributes).startswith(BODY_ALTERED)
    # a forger who also replaces the digest attribute gets a MAC that does not match it
    forged_digest = {**attributes, DIGEST_ATTRIBUTE: {"DataType": "String", "StringValue": base64.b64encode(
        hashlib.sha256(altered.encode()).digest()).decode()}}
    assert Verifier(key, kms=kms).check(altered, forged_digest).startswith(MAC_MISMATCH)
    # without the digest attribute the MAC is checked against the body as received
    no_digest = {name: value for name, value in attributes.items() if name != DIGEST_ATTRIBUTE}
    assert Verifier(key, kms=kms).check(altered, no_digest).startswith(MAC_MISMATCH)
    assert Verifier(key, kms=kms).check(BODY, no_digest) is None


# -- a batch ----------------------------------------------------------------------------------------


def record(message_id: str, body: str, attributes: dict | None) -> dict:
    return {"messageId": message_id, "body": body, "messageAttributes": lambda_shape(attributes or {}),
            "eventSource": "aws:sqs"}


def test_a_batch_splits_into_trusted_and_refused_with_one_verify_mac_per_signed_message(kms, key):
    sign = Signer(key, kms=kms)
    counting = CountingKms(kms)
    records = [record(f"genuine-{i}", BODY.replace("f1", f"f{i}"), sign(BODY.replace("f1", f"f{i}")))
               for i in range(5)]
    records += [record("unsigned", BODY, None), record("altered", BODY + " ", sign(BODY)),
                record("other-key", BODY, Signer(hmac_key(kms), kms=kms)(BODY))]

    checked = Verifier(key, kms=counting).split(records)

    assert [r["messageId"] for r in checked.trusted] == [f"genuine-{i}" for i in range(5)]
    assert {message_id: reason.split(": ")[1] for message_id, reason in checked.refused.items()} == {
        "unsigned": MISSING_SIGNATURE, "altered": BODY_ALTERED, "other-key": WRONG_KEY}
    assert all("never imported nor paged" in reason for reason in checked.refused.values())
    assert checked.unverified == {} and checked.returned == checked.refused
    assert counting.calls == ["VerifyMac"] * 6  # 5 genuine + the altered one; no call for unsigned or other-key


def test_kms_not_answering_returns_messages_unverified_not_refused(kms, key):
    records = [record("m1", BODY, Signer(key, kms=kms)(BODY))]

    checked = Verifier(key, kms=CountingKms(kms, fail_with="KMSInternalException")).split(records)

    assert checked.trusted == [] and checked.refused == {}
    assert "not checked now, retried" in checked.unverified["m1"] and checked.returned == checked.unverified


def test_without_a_key_nothing_is_signed_or_checked():
    settings = Settings.from_env({})
    assert signer_for(settings) is None and isinstance(verifier_for(settings), TrustAll)
    records = [record("m1", BODY, None)]
    assert TrustAll().split(records).trusted == records


def test_the_key_setting_must_be_a_kms_key_arn():
    arn = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    settings = Settings.from_env({"FINDINGS_MAC_KEY_ARN": arn})
    assert settings.findings_mac_key_arn == arn
    assert isinstance(signer_for(settings), Signer) and isinstance(verifier_for(settings), Verifier)
    for bad in ("alias/identity-auditor", "1234abcd-12ab-34cd-56ef-1234567890ab", "arn:aws:sqs:us-east-1:1:q"):
        with pytest.raises(SettingsError, match="FINDINGS_MAC_KEY_ARN"):
            Settings.from_env({"FINDINGS_MAC_KEY_ARN": bad})


# -- the queue sink ---------------------------------------------------------------------------------


@pytest.fixture
def queue(kms):
    sqs = boto3.client("sqs", region_name="us-east-1")
    return sqs, sqs.create_queue(QueueName="findings")["QueueUrl"]


def received(sqs, url: str) -> list[dict]:
    found = []
    while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=60,
                                          MessageAttributeNames=["All"]).get("Messages", []):
        found += messages
    return found


def test_the_queue_sink_signs_every_message_it_queues_with_one_generate_mac_each(kms, key, queue):
    sqs, url = queue
    [finding] = findings_from(invictus_event(LOGIN_WITHOUT_MFA)["detail"])
    findings = copies(finding, 25)
    counting = CountingKms(kms)
    sink = QueueSink(sqs, queue_url=url, product_arn=lambda f: "arn:aws:securityhub:us-east-1:123456789012:"
                     "product/123456789012/default", sign=Signer(key, kms=counting))

    assert sink.publish(findings) == 25

    messages = received(sqs, url)
    assert sorted(json.loads(m["Body"])["finding_id"] for m in messages) == sorted(f.finding_id for f in findings)
    assert all(Verifier(key, kms=kms).check(m["Body"], m["MessageAttributes"]) is None for m in messages)
    assert counting.calls == ["GenerateMac"] * 25


def test_a_finding_that_cannot_be_signed_is_not_queued(kms, key, queue):
    sqs, url = queue
    [finding] = findings_from(invictus_event(LOGIN_WITHOUT_MFA)["detail"])
    sink = QueueSink(sqs, queue_url=url, product_arn=lambda f: "arn:aws:securityhub:us-east-1:123456789012:"
                     "product/123456789012/default", sign=Signer(key, kms=CountingKms(kms, "ThrottlingException")))

    with pytest.raises(QueueingError, match="findings not signed, none queued") as raised:
        sink.publish([finding])

    assert raised.value.undelivered == [finding.finding_id] and received(sqs, url) == []


def test_a_send_batch_counts_the_signature_attributes_towards_its_size(kms, key):
    from identity_auditor.aws.retry import Item

    sign = Signer(key, kms=kms)
    body = "x" * (MAX_BYTES_PER_CALL // 4)  # four bodies fill a call exactly; their signatures no longer fit
    items = [Item(str(i), {"Id": str(i), "MessageBody": body, "MessageAttributes": sign(body)}) for i in range(4)]
    assert [len(batch) for batch in batches(items)] == [3, 1]


# -- redrive ------------------------------------------------------------------------------------------


def test_redrive_replays_signed_findings_with_their_signature_and_refuses_the_rest(kms, key, monkeypatch):
    fake_sqs_long_polling(monkeypatch, FakeClock())
    sqs = boto3.client("sqs", region_name="us-east-1")
    dlq, findings = (sqs.create_queue(QueueName=name)["QueueUrl"] for name in ("findings-dlq", "findings"))
    sqs.send_message(QueueUrl=dlq, MessageBody=BODY, MessageAttributes=Signer(key, kms=kms)(BODY))
    forged = sqs.send_message(QueueUrl=dlq, MessageBody=BODY)["MessageId"]

    report = redrive(sqs, dlq, to_queue(sqs, findings), check=provenance_check(Verifier(key, kms=kms)))

    assert report.replayed == 1 and set(report.left) == set(report.refused) == {forged}
    assert report.refused[forged].startswith(MISSING_SIGNATURE)
    assert f"refused, left on the queue (not written by the auditor's evaluators): {forged}: " in report.text(False)
    [replayed] = received(sqs, findings)
    assert Verifier(key, kms=kms).check(replayed["Body"], replayed["MessageAttributes"]) is None
    assert [m["MessageId"] for m in received(sqs, dlq)] == [forged]


def test_redrive_to_the_findings_queue_needs_the_key(kms, monkeypatch):
    fake_sqs_long_polling(monkeypatch, FakeClock())
    dlq = "https://sqs.us-east-1.amazonaws.com/123456789012/findings-dlq"
    for extra, message in (([], "--to-queue needs --mac-key KEY_ARN"),
                           (["--mac-key", "alias/identity-auditor"], "is not a KMS key ARN")):
        out, err = io.StringIO(), io.StringIO()
        assert main(["redrive", dlq, "--to-queue", dlq.replace("-dlq", ""), *extra], stdout=out, stderr=err) == 2
        assert message in err.getvalue() and out.getvalue() == ""
