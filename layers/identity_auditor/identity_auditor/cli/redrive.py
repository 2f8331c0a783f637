"""``identity-auditor redrive``: replay what a dead-letter queue holds, once the cause is fixed.

The deployment has two dead-letter queues, and each message on them carries everything needed to
replay it:

- the **findings dead-letter queue** holds findings the publisher could not deliver (the whole queued
  delivery: ASFF document and alert). Redriving sends each message back to the findings queue, where the
  publisher imports it and alerts once (the alert is de-duplicated on its key). ``aws sqs
  start-message-move-task`` does the same inside SQS (stack output ``FindingsRedriveCommand``);
- the **events dead-letter queue** holds CloudTrail events the evaluator could not handle: EventBridge
  delivery failures (the message body is the event) and failed invocations (Lambda's OnFailure record;
  the event is its ``requestPayload``). Redriving invokes the evaluator asynchronously with each original
  event; events already published are skipped by the de-duplication table.

A message is deleted only after its replay was accepted; ``--dry-run`` reports without changing
anything. Messages that are neither (not JSON, no event inside) are left on the queue and named.

Only the auditor writes findings: a findings message is replayed only when its MAC (message attributes made
by an evaluator with the stack's KMS HMAC key, :mod:`identity_auditor.delivery.provenance`) verifies, with
``--mac-key`` (stack output ``FindingsMacKeyArn``); one that does not is named and left on the dead-letter
queue (exit code 3), and the replay carries the attributes along. The caller needs, besides reading the
dead-letter queue (``sqs:ReceiveMessage``, ``sqs:DeleteMessage``, ``sqs:ChangeMessageVisibility``, and
``kms:Decrypt`` on the auditor's key), ``kms:VerifyMac`` on the HMAC key and ``sqs:SendMessage`` on the
findings queue (with ``kms:GenerateDataKey`` on the auditor's key): the key policy and the queue policy deny
both to every principal the stack parameter ``FindingsRedrivePrincipalArns`` does not name.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from identity_auditor.cli.output import EXIT_BAD_INPUT, EXIT_OK, EXIT_RULE_ERROR

# Each command imports what it runs inside its function: `identity-auditor --version`, `rules` or a usage error
# never pay for boto3, pydantic models or the engine.


_KEY_ARN = re.compile(r"arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key/[A-Za-z0-9-]{1,64}")


class RedriveError(ValueError):
    """A message that cannot be replayed; the message says why."""


def original_event(body: str) -> dict:
    """The CloudTrail event inside an events-DLQ message: the body itself (EventBridge's DLQ) or the
    ``requestPayload`` of a Lambda OnFailure destination record."""
    try:
        message = json.loads(body)
    except (TypeError, ValueError) as error:
        raise RedriveError(f"not JSON: {error}") from None
    if not isinstance(message, dict):
        raise RedriveError("not a JSON object")
    if isinstance(message.get("requestPayload"), dict):
        message = message["requestPayload"]
    if not isinstance(message.get("detail"), dict) or "detail-type" not in message:
        raise RedriveError("no EventBridge event in the message (neither the body nor its requestPayload)")
    return message


class Refused(RedriveError):  # noqa: N818 (a verdict on a message, named as the report names it)
    """A findings message that the auditor's evaluators did not write (no valid MAC): never replayed."""


@dataclass
class Report:
    replayed: int = 0
    left: dict[str, str] = field(default_factory=dict)  # message id -> why it stays on the queue
    hidden: dict[str, str] = field(default_factory=dict)  # message id -> why it could not be made visible again
    refused: dict[str, str] = field(default_factory=dict)  # message id -> why it is not the auditor's (also in left)

    def text(self, dry_run: bool) -> str:
        verb = "would replay" if dry_run else "replayed"
        lines = [f"{verb} {self.replayed} message(s)"]
        lines += [f"refused, left on the queue (not written by the auditor's evaluators): {message_id}: {reason}"
                  for message_id, reason in self.refused.items()]
        lines += [f"left on the queue: {message_id}: {reason}" for message_id, reason in self.left.items()
                  if message_id not in self.refused]
        lines += [f"invisible for up to 5 minutes: {message_id}: {reason}" for message_id, reason in self.hidden.items()]
        return "\n".join(lines)


def redrive(
    sqs,
    dead_letter_queue_url: str,
    replay: Callable[[str], None],
    *,
    extract: Callable[[str], str] = lambda body: body,
    check: Callable[[dict], str | None] | None = None,
    max_messages: int | None = None,
    dry_run: bool = False,
) -> Report:
    """Receive every message of the dead-letter queue once, ``replay(extract(body))`` it and delete it.

    ``check(message)`` (the received message, with its ``MessageAttributes``) names why a message must not be
    replayed (``None``: replay it): the findings' provenance check (:func:`provenance_check`). A replay that
    ``carries_attributes`` (:func:`to_queue`) gets the message attributes as well.

    Messages stay invisible while the run lasts (5 minutes at most), so each is seen once per run. What a
    run did not delete (everything, with ``dry_run``; what could not be replayed) is made visible again
    when it ends, so the next run finds it at once."""
    report = Report()
    kept: list[dict] = []  # received and not deleted: released at the end
    try:
        _receive_all(sqs, dead_letter_queue_url, replay, extract, check, max_messages, dry_run, report, kept)
    finally:
        _release(sqs, dead_letter_queue_url, kept, report)
    return report


def _receive_all(sqs, dead_letter_queue_url: str, replay, extract, check, max_messages: int | None, dry_run: bool,
                 report: Report, kept: list[dict]) -> None:
    seen: set[str] = set()
    carries_attributes = getattr(replay, "carries_attributes", False)
    while max_messages is None or len(seen) < max_messages:
        messages = sqs.receive_message(QueueUrl=dead_letter_queue_url, MaxNumberOfMessages=10,
                                       VisibilityTimeout=300, WaitTimeSeconds=1,
                                       MessageAttributeNames=["All"]).get("Messages", [])
        if not any(message["MessageId"] not in seen for message in messages):
            kept.extend(messages)  # seen already (received again): given back at the end
            break
        for message in messages:
            if message["MessageId"] in seen or (max_messages is not None and len(seen) >= max_messages):
                kept.append(message)  # not this run's to handle: given back at the end
                continue
            seen.add(message["MessageId"])
            try:
                refusal = check(message) if check is not None else None
                if refusal is not None:
                    raise Refused(refusal)
                payload = extract(message["Body"])
                if dry_run:
                    kept.append(message)
                elif carries_attributes:
                    replay(payload, message.get("MessageAttributes") or {})
                    sqs.delete_message(QueueUrl=dead_letter_queue_url, ReceiptHandle=message["ReceiptHandle"])
                else:
                    replay(payload)
                    sqs.delete_message(QueueUrl=dead_letter_queue_url, ReceiptHandle=message["ReceiptHandle"])
                report.replayed += 1
            except Exception as error:  # noqa: BLE001 - named in the report, the message stays
                kept.append(message)
                report.left[message["MessageId"]] = f"{type(error).__name__}: {error}"
                if isinstance(error, Refused):
                    report.refused[message["MessageId"]] = str(error)


def _release(sqs, dead_letter_queue_url: str, messages: list[dict], report: Report) -> None:
    """Make received messages visible again now (visibility timeout 0), ten per call. What SQS refuses
    becomes visible by itself within five minutes: it is named in the report, and the run goes on."""
    for start in range(0, len(messages), 10):
        batch = messages[start:start + 10]
        entries = [{"Id": str(index), "ReceiptHandle": message["ReceiptHandle"], "VisibilityTimeout": 0}
                   for index, message in enumerate(batch)]
        try:
            failed = sqs.change_message_visibility_batch(QueueUrl=dead_letter_queue_url, Entries=entries)\
                .get("Failed", [])
        except Exception as error:  # noqa: BLE001 - botocore's errors; never hide why the run ended
            failed = [{"Id": entry["Id"], "Code": type(error).__name__, "Message": str(error)} for entry in entries]
        for failure in failed:
            message = batch[int(failure["Id"])]
            report.hidden[message["MessageId"]] = f"{failure.get('Code', 'Error')}: {failure.get('Message', '')}"


class to_queue:  # noqa: N801 (used like the function to_function)
    """Replay a findings-DLQ message: back onto the findings queue, unchanged, with its message attributes
    (the evaluator's MAC, which the publisher checks again)."""

    carries_attributes = True

    def __init__(self, sqs, queue_url: str):
        self.sqs, self.queue_url = sqs, queue_url

    def __call__(self, body: str, attributes: dict | None = None) -> None:
        carried = {name: {key: value[key] for key in ("DataType", "StringValue", "BinaryValue") if key in value}
                   for name, value in (attributes or {}).items()}
        if carried:
            self.sqs.send_message(QueueUrl=self.queue_url, MessageBody=body, MessageAttributes=carried)
        else:
            self.sqs.send_message(QueueUrl=self.queue_url, MessageBody=body)


def provenance_check(verifier) -> Callable[[dict], str | None]:
    """``redrive``'s ``check`` for findings messages: why a received message was not written by the auditor's
    evaluators (``None``: it was). KMS not answering leaves the message for the next run, not refused."""
    from identity_auditor.delivery.provenance import ProvenanceError

    def check(message: dict) -> str | None:
        try:
            return verifier.check(message.get("Body"), message.get("MessageAttributes"))
        except ProvenanceError as error:
            raise RedriveError(f"provenance not checked now, left for the next run: {error}") from None

    return check


def to_function(lambda_client, function_name: str) -> Callable[[str], None]:
    """Replay an events-DLQ message: invoke the evaluator asynchronously with the original event."""

    def invoke(event_json: str) -> None:
        response = lambda_client.invoke(FunctionName=function_name, InvocationType="Event",
                                        Payload=event_json.encode())
        if response.get("StatusCode") != 202:
            raise RedriveError(f"Lambda did not accept the event (status {response.get('StatusCode')})")

    return invoke


def add_parser(commands) -> None:
    command = commands.add_parser(
        "redrive",
        help="replay a dead-letter queue: findings back to the findings queue, events to the evaluator",
        description="Replay what a dead-letter queue holds once the cause is fixed (stack outputs name the "
        "queues). Each message is deleted only after its replay was accepted.",
    )
    command.add_argument("dead_letter_queue_url", metavar="DLQ_URL")
    target = command.add_mutually_exclusive_group(required=True)
    target.add_argument("--to-queue", metavar="QUEUE_URL",
                        help="findings dead-letter queue: send each message back to this findings queue")
    target.add_argument("--to-function", metavar="NAME",
                        help="events dead-letter queue: invoke this evaluator with each original event")
    command.add_argument("--mac-key", metavar="KEY_ARN",
                         help="with --to-queue (required): the stack's HMAC key (output FindingsMacKeyArn); a "
                         "finding whose signature it does not verify is refused and left on the queue")
    command.add_argument("--max", type=int, default=None, metavar="N", help="replay at most N messages")
    command.add_argument("--dry-run", action="store_true", help="report what would be replayed; change nothing")
    command.add_argument("--region", default=None, help="AWS region (default: from the queue URL)")
    command.set_defaults(run=run)


def run(args, out, err) -> int:
    import boto3

    region = args.region or _region_of(args.dead_letter_queue_url)
    if not region:
        err.write("identity-auditor: give --region (the queue URL does not name one)\n")
        return EXIT_BAD_INPUT
    if args.to_queue and not args.mac_key:
        err.write("identity-auditor: --to-queue needs --mac-key KEY_ARN (stack output FindingsMacKeyArn): each "
                  "finding's signature is checked before it is replayed\n")
        return EXIT_BAD_INPUT
    if args.to_queue and not _KEY_ARN.fullmatch(args.mac_key):
        err.write(f"identity-auditor: --mac-key {args.mac_key!r} is not a KMS key ARN "
                  "(arn:aws:kms:<region>:<account>:key/<key id>; stack output FindingsMacKeyArn)\n")
        return EXIT_BAD_INPUT
    sqs = boto3.client("sqs", region_name=region)
    check = None
    if args.to_queue:
        from identity_auditor.delivery.provenance import Verifier

        replay, extract = to_queue(sqs, args.to_queue), (lambda body: body)
        kms = boto3.client("kms", region_name=args.mac_key.split(":")[3])
        check = provenance_check(Verifier(args.mac_key, kms=kms))
    else:
        replay = to_function(boto3.client("lambda", region_name=region), args.to_function)
        extract = lambda body: json.dumps(original_event(body))  # noqa: E731
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        report = redrive(sqs, args.dead_letter_queue_url, replay, extract=extract, check=check,
                         max_messages=args.max, dry_run=args.dry_run)
    except (ClientError, BotoCoreError) as error:  # the queue itself: wrong URL, no access, no credentials
        err.write(f"identity-auditor: cannot read {args.dead_letter_queue_url}: {error}\n")
        return EXIT_BAD_INPUT
    out.write(report.text(args.dry_run) + "\n")
    return EXIT_RULE_ERROR if report.left else EXIT_OK


def _region_of(queue_url: str) -> str | None:
    # https://sqs.<region>.amazonaws.com/<account>/<name>
    host = queue_url.split("/")[2] if queue_url.count("/") >= 3 else ""
    parts = host.split(".")
    return parts[1] if len(parts) > 3 and parts[0] == "sqs" else None
