"""Provenance of findings-queue messages: only the auditor's evaluators write findings.

Whatever is on the findings queue is imported into Security Hub (in any account of the organisation) and
paged word for word. Anyone else who could put a message there could forge findings and pages, or resolve
real ones. Two defences, each enough on its own against a principal that has ``sqs:*``:

- the findings queue's policy denies ``sqs:SendMessage`` to every principal but the evaluators' roles (and
  the principals the operator names for redrives): template.yaml, ``FindingsQueuePolicy``;
- every message carries a MAC made by AWS KMS with the stack's HMAC key (``FindingsMacKey``: ``HMAC_256``,
  ``GENERATE_VERIFY_MAC``). The key policy denies ``kms:GenerateMac`` to every principal but the evaluators'
  roles, an explicit Deny that binds principals of this account too, whatever their IAM policies allow.
  The publisher (and ``identity-auditor redrive``) checks the MAC with :class:`Verifier` before a finding is
  imported or paged.

What is signed. ``GenerateMac`` takes at most 4,096 bytes and a delivery can be larger, so the MAC is over a
fixed label and the SHA-256 of the exact message body (UTF-8): the same body, byte for byte, or no match.
Three SQS message attributes carry it (they count towards the message size, about 200 bytes):

- ``auditor-mac``: the HMAC-SHA-256, base64;
- ``auditor-mac-key``: the ARN of the key that made it;
- ``auditor-body-sha256``: the SHA-256 of the body the evaluator signed, base64. It adds nothing to the
  proof; it lets the refusal say whether a genuine MAC was put on a changed body ("body altered") or the
  MAC itself is not the key's ("MAC mismatch").

A message is refused for one of four reasons: missing signature, wrong key (another key named: no KMS call),
MAC mismatch, body altered. A refused message is never imported nor paged: the publisher returns it to the
queue (a partial-batch failure), so after ``maxReceiveCount`` receives it is kept, whole, on the findings
dead-letter queue; each refusal is logged with the message id and counted (metric
:data:`FORGED_FINDINGS_METRIC`, alarm ``ForgedFindingsAlarm``). When KMS cannot answer (throttled beyond
botocore's retries, unavailable, access denied) the message is not refused but *unverified*: returned to
the queue and checked again on the next receive, never counted as a forgery.

Cost: one ``GenerateMac`` per queued finding and one ``VerifyMac`` per message received, in the function's
region (findings are rare: most events break no rule; a receive is repeated only for a message that is
returned to the queue). The calls of one batch run :data:`KMS_THREADS` at a time, so a sweep that queues
thousands of findings, or a 500-message batch of the publisher, waits for a few KMS round trips per
:data:`KMS_THREADS` messages, not one per message. A redelivered genuine message verifies again: the check
proves who wrote a body, not when; replays by a principal that may send to the queue are absorbed by the
publisher's page-once keys.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

logger = logging.getLogger(__name__)

MAC_ALGORITHM = "HMAC_SHA_256"
MAC_BYTES = 32  # HMAC-SHA-256
LABEL = b"identity-auditor findings-queue message v1\n"  # what the key signs: LABEL + SHA-256(body)
MAC_ATTRIBUTE = "auditor-mac"
KEY_ATTRIBUTE = "auditor-mac-key"
DIGEST_ATTRIBUTE = "auditor-body-sha256"
ATTRIBUTES = (MAC_ATTRIBUTE, KEY_ATTRIBUTE, DIGEST_ATTRIBUTE)
FORGED_FINDINGS_METRIC = "ForgedFindings"
KMS_THREADS = 8  # KMS calls of one batch in flight at once (boto3 clients are thread-safe)

MISSING_SIGNATURE = "missing signature"
WRONG_KEY = "wrong key"
MAC_MISMATCH = "MAC mismatch"
BODY_ALTERED = "body altered"
REASONS = (MISSING_SIGNATURE, WRONG_KEY, MAC_MISMATCH, BODY_ALTERED)


class ProvenanceError(RuntimeError):
    """KMS could not make or check a MAC now (throttled, unavailable, access denied): retry later."""


def body_digest(body: str) -> bytes:
    """SHA-256 of the message body as SQS carries it (UTF-8; a lone surrogate passes through unchanged)."""
    return hashlib.sha256(body.encode("utf-8", "surrogatepass")).digest()


def signed_message(digest: bytes) -> bytes:
    """What the key signs for a body with this digest: 75 bytes, whatever the body (GenerateMac takes 4,096)."""
    return LABEL + digest


_T = TypeVar("_T")
_R = TypeVar("_R")


def in_parallel(call: Callable[[_T], _R], values: Sequence[_T]) -> list[_R]:
    """``[call(value) for value in values]``, :data:`KMS_THREADS` at a time; the first exception is raised."""
    if len(values) <= 1:
        return [call(value) for value in values]
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=min(KMS_THREADS, len(values))) as pool:
        return list(pool.map(call, values))


def _kms_client(key_arn: str):
    import boto3
    from botocore.config import Config

    config = Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=5, read_timeout=10)
    return boto3.client("kms", region_name=key_arn.split(":")[3], config=config)


def _string(value: str) -> dict:
    return {"DataType": "String", "StringValue": value}


class Signer:
    """Signs findings-queue message bodies for :class:`~identity_auditor.sinks.queue.QueueSink` (one
    ``GenerateMac`` per message). Calling it gives the ``MessageAttributes`` for ``SendMessage(Batch)``."""

    def __init__(self, key_arn: str, kms=None):
        self.key_arn = key_arn
        self._kms = kms  # a boto3 KMS client; made on the first message when not given

    @property
    def kms(self):
        if self._kms is None:
            self._kms = _kms_client(self.key_arn)
        return self._kms

    def many(self, bodies: Sequence[str]) -> list[dict[str, dict]]:
        """The attributes of each body, signed :data:`KMS_THREADS` at a time."""
        return in_parallel(self, bodies)

    def __call__(self, body: str) -> dict[str, dict]:
        from botocore.exceptions import BotoCoreError, ClientError

        digest = body_digest(body)
        try:
            mac = self.kms.generate_mac(Message=signed_message(digest), KeyId=self.key_arn,
                                        MacAlgorithm=MAC_ALGORITHM)["Mac"]
        except (ClientError, BotoCoreError) as error:
            raise ProvenanceError(f"KMS GenerateMac with {self.key_arn} failed: {error}") from error
        return {
            MAC_ATTRIBUTE: _string(base64.b64encode(mac).decode()),
            KEY_ATTRIBUTE: _string(self.key_arn),
            DIGEST_ATTRIBUTE: _string(base64.b64encode(digest).decode()),
        }


@dataclass
class Checked:
    """A batch of SQS records split by provenance."""

    trusted: list[dict] = field(default_factory=list)  # signed by the evaluators, body unchanged: deliver
    refused: dict[str, str] = field(default_factory=dict)  # message id -> why (forged): kept, counted, never sent
    unverified: dict[str, str] = field(default_factory=dict)  # message id -> why KMS could not check it now

    @property
    def returned(self) -> dict[str, str]:
        """Every message that goes back to the queue (refused ones end on the dead-letter queue)."""
        return {**self.refused, **self.unverified}


def string_attributes(attributes: Mapping | None) -> dict[str, str]:
    """The String message attributes of a record, in either shape: Lambda's SQS event (``stringValue``) or
    the SQS API's ``ReceiveMessage`` (``StringValue``)."""
    found: dict[str, str] = {}
    for name, value in (attributes or {}).items() if isinstance(attributes, Mapping) else ():
        if isinstance(value, Mapping):
            text = value.get("stringValue", value.get("StringValue"))
            if isinstance(text, str):
                found[name] = text
    return found


def _decoded(text: str | None) -> bytes | None:
    if text is None:
        return None
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None


def _clip(text: str, limit: int = 160) -> str:
    text = text.encode("unicode_escape").decode("ascii")  # never a control character in a log line
    return text if len(text) <= limit else text[: limit - 1] + "…"


class Verifier:
    """Checks that the evaluators signed a message body with the auditor's key (one ``VerifyMac`` each)."""

    def __init__(self, key_arn: str, kms=None):
        self.key_arn = key_arn
        self._kms = kms

    @property
    def kms(self):
        if self._kms is None:
            self._kms = _kms_client(self.key_arn)
        return self._kms

    def check(self, body: str, attributes: Mapping | None) -> str | None:
        """``None`` when the evaluators signed exactly this body; else why the message is refused (starting
        with one of :data:`REASONS`). Raises :class:`ProvenanceError` when KMS cannot answer now."""
        values = string_attributes(attributes)
        if MAC_ATTRIBUTE not in values or KEY_ATTRIBUTE not in values:
            absent = [name for name in (MAC_ATTRIBUTE, KEY_ATTRIBUTE) if name not in values]
            return f"{MISSING_SIGNATURE}: no {' and no '.join(absent)} message attribute"
        if values[KEY_ATTRIBUTE] != self.key_arn:
            return f"{WRONG_KEY}: signed with {_clip(values[KEY_ATTRIBUTE])!r}, not the auditor's key {self.key_arn}"
        mac = _decoded(values[MAC_ATTRIBUTE])
        if mac is None or len(mac) != MAC_BYTES:
            what = "not base64" if mac is None else f"{len(mac)} bytes, not {MAC_BYTES}"
            return f"{MAC_MISMATCH}: {MAC_ATTRIBUTE} is not an HMAC-SHA-256 ({what})"
        actual = body_digest(body)
        claimed = _decoded(values.get(DIGEST_ATTRIBUTE))
        signed = claimed if claimed is not None and len(claimed) == len(actual) else actual
        if not self._verify(signed, mac):
            return f"{MAC_MISMATCH}: the MAC was not made with the auditor's key for this message"
        if signed != actual:
            return f"{BODY_ALTERED}: the MAC is the auditor's, but the body is not the one the evaluator signed"
        return None

    def _verify(self, digest: bytes, mac: bytes) -> bool:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            response = self.kms.verify_mac(Message=signed_message(digest), KeyId=self.key_arn,
                                           MacAlgorithm=MAC_ALGORITHM, Mac=mac)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "KMSInvalidMacException":
                return False
            raise ProvenanceError(f"KMS VerifyMac with {self.key_arn} failed: {error}") from error
        except BotoCoreError as error:
            raise ProvenanceError(f"KMS VerifyMac with {self.key_arn} failed: {error}") from error
        return response.get("MacValid") is True

    def split(self, records: Iterable) -> Checked:
        """Split a batch of Lambda SQS records (``messageId``, ``body``, ``messageAttributes``) into the ones
        to deliver, the refused ones and the ones KMS could not check now; log every refusal."""
        checked = Checked()
        records = list(records)
        for record, reason in zip(records, in_parallel(self._verdict, records), strict=True):
            message_id = record.get("messageId", "?") if isinstance(record, Mapping) else "?"
            if isinstance(reason, ProvenanceError):
                checked.unverified[message_id] = f"findings message {message_id} not checked now, retried: {reason}"
                continue
            if reason is None:
                checked.trusted.append(record)
                continue
            checked.refused[message_id] = (f"findings message {message_id} refused: {reason} (not written by the "
                                           "auditor's evaluators; kept on the queue, never imported nor paged)")
            logger.warning("findings message refused: not written by the auditor's evaluators",
                           extra={"message_id": message_id, "reason": reason})
        if checked.unverified:
            logger.warning("findings messages not checked: KMS VerifyMac failed; they return to the queue",
                           extra={"messages": len(checked.unverified),
                                  "error": next(iter(checked.unverified.values()))})
        return checked

    def _verdict(self, record) -> str | ProvenanceError | None:
        body = record.get("body") if isinstance(record, Mapping) else None
        if not isinstance(body, str):
            return f"{MISSING_SIGNATURE}: no message body"
        try:
            return self.check(body, record.get("messageAttributes"))
        except ProvenanceError as error:
            return error


class TrustAll:
    """No MAC key configured (``FINDINGS_MAC_KEY_ARN`` empty: a local run): every message is delivered.
    The template always sets the key (tests/contract/test_provenance_template.py)."""

    key_arn = None

    def split(self, records: Iterable) -> Checked:
        return Checked(trusted=list(records))


def verifier_for(settings) -> Verifier | TrustAll:
    """The publisher's check, from its settings (the KMS client is made on the first batch)."""
    return Verifier(settings.findings_mac_key_arn) if settings.findings_mac_key_arn else TrustAll()


def signer_for(settings) -> Signer | None:
    """The evaluators' signer, from their settings; ``None`` without a key (messages go unsigned)."""
    return Signer(settings.findings_mac_key_arn) if settings.findings_mac_key_arn else None
