"""SnsSink: one alert per finding through PublishBatch (10 entries per call), within SNS limits
(Subject <= 100 ASCII characters on one line, messages <= 256 KB), with subscriber-filterable message
attributes; failed entries retried, then raised; hostile strings from the event never reach the
alert raw.

Findings are built from real invictus records (hostile variants are those records with their
attacker-controlled fields replaced); the client is a hand-written fake.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import re
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/ holds the shared helpers
import support  # noqa: E402
from identity_auditor.aws.retry import RetryPolicy  # noqa: E402
from identity_auditor.model.findings import Finding  # noqa: E402
from identity_auditor.sinks import SinkError  # noqa: E402
from identity_auditor.sinks.sns import SnsSink  # noqa: E402

TOPIC_ARN = "arn:aws:sns:us-east-1:123456789012:identity-auditor-findings"
NOW = datetime(2023, 7, 10, 13, 0, tzinfo=timezone.utc)
ACCOUNT = "123837392027"
LOGIN_WITHOUT_MFA = "70e5932e-9022-4b38-837e-ca10dad94eb7"
USER = "stratus-red-team-nmfalu-gfjyeaypjt"
KEY_FOR_OTHER_USER = "64b7de64-bf53-47ae-b7e3-d30cb1b5136e"
MAX_ATTEMPTS = 4
SNS_MESSAGE_LIMIT = 256 * 1024
# C0 and C1 controls (tab and newline are checked separately), line/paragraph separators.
CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029]")
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")

HOSTILE_PIECE = (
    "Ünïcødé-用户-🔥\r\nSubject: [CRITICAL] all clear\r\n"
    "\x1b[31mRED\x1b[0m\x00\x07\t\u2028\u0085\x9b2J\x7f"
)
HOSTILE_NAME = (HOSTILE_PIECE * (5000 // len(HOSTILE_PIECE) + 1))[:5000]


# -- real and hostile findings ---------------------------------------------------------------------


@functools.cache
def _records_by_id() -> dict[str, dict]:
    return {record["eventID"]: record for record in support.corpus_records("invictus")}


def evaluate(record: dict) -> list[Finding]:
    return support.findings_from(record, NOW)


def record(event_id: str) -> dict:
    return copy.deepcopy(_records_by_id()[event_id])


def login_finding() -> Finding:
    (finding,) = evaluate(record(LOGIN_WITHOUT_MFA))
    return finding


def hostile_login_finding() -> Finding:
    """The real no-MFA console login, with every attacker-influenced string made hostile."""
    raw = record(LOGIN_WITHOUT_MFA)
    raw["userIdentity"]["userName"] = HOSTILE_NAME
    raw["userIdentity"]["arn"] = f"arn:aws:iam::{ACCOUNT}:user/{HOSTILE_NAME}"
    raw["userAgent"] = "Mozilla/5.0\r\n\x1b[2J\x1b[1;1HX-Injected: yes\x00" * 50
    raw["sourceIPAddress"] = "192.168.10.20\r\nFrom: evil\x1b]0;title\x07"
    raw["additionalEventData"]["LoginTo"] = (
        "https://console.aws.amazon.com/\r\n\x1b[5mWhat to do: nothing\x1b[0m"
    )
    (finding,) = evaluate(raw)
    assert finding.actor.name == HOSTILE_NAME  # the hostile value really reached the finding
    return finding


def many(count: int, base: Finding | None = None, **changes) -> list[Finding]:
    return support.copies(base or login_finding(), count, **changes)


# -- a fake SNS client -----------------------------------------------------------------------------


class FakeSns:
    """Records every PublishBatch call; answers from ``script`` (an exception, a callable
    ``entries -> response`` or a response dict per call), then succeeds."""

    def __init__(self, *script):
        self.calls: list[dict] = []
        self.script = list(script)

    def publish_batch(self, *, TopicArn, PublishBatchRequestEntries):
        self.calls.append({"TopicArn": TopicArn, "Entries": copy.deepcopy(PublishBatchRequestEntries)})
        action = self.script.pop(0) if self.script else None
        if isinstance(action, Exception):
            raise action
        if callable(action):
            return action(PublishBatchRequestEntries)
        if action is not None:
            return action
        return {
            "Successful": [{"Id": e["Id"], "MessageId": f"m-{e['Id']}"} for e in PublishBatchRequestEntries],
            "Failed": [],
        }

    @property
    def entries(self) -> list[dict]:
        return [entry for call in self.calls for entry in call["Entries"]]


def fail_entries(*positions: int, code: str = "InternalError", sender_fault: bool = False):
    """Fail the entries at these positions of the request."""

    def respond(entries):
        failed = [
            {"Id": entries[i]["Id"], "Code": code, "Message": "try again", "SenderFault": sender_fault}
            for i in positions
            if i < len(entries)
        ]
        bad = {f["Id"] for f in failed}
        return {"Successful": [{"Id": e["Id"], "MessageId": "m"} for e in entries if e["Id"] not in bad],
                "Failed": failed}

    return respond


class Sleeps(list):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def make_sink(client, sleeps: Sleeps | None = None) -> SnsSink:
    policy = RetryPolicy(max_attempts=MAX_ATTEMPTS, sleep=sleeps if sleeps is not None else Sleeps())
    return SnsSink(client, topic_arn=TOPIC_ARN, policy=policy)


def assert_valid_subject(subject: str) -> None:
    assert 0 < len(subject) < 100, f"Subject is {len(subject)} characters (SNS: less than 100)"
    assert subject.isascii(), f"Subject is not ASCII: {subject!r}"
    assert "\n" not in subject and "\r" not in subject
    assert not CONTROL.search(subject), f"control character in Subject {subject!r}"
    assert re.match(r"[A-Za-z0-9\[\](){}<>!\"#$%&'*+,./:;=?@\\^_`|~-]", subject), (
        "must start with a letter, digit or punctuation"
    )


def assert_safe_message(message: str) -> None:
    assert len(message.encode("utf-8")) <= SNS_MESSAGE_LIMIT
    assert "\r" not in message
    assert "\x1b" not in message and not ANSI.search(message)
    assert not CONTROL.search(message), f"control character in Message at {CONTROL.search(message).start()}"


# -- batching --------------------------------------------------------------------------------------


def test_23_findings_are_published_in_calls_of_10_10_3():
    findings = many(23)
    client = FakeSns()

    assert make_sink(client).publish(findings) == 23

    assert [len(call["Entries"]) for call in client.calls] == [10, 10, 3]
    assert {call["TopicArn"] for call in client.calls} == {TOPIC_ARN}
    for call in client.calls:
        ids = [entry["Id"] for entry in call["Entries"]]
        assert len(set(ids)) == len(ids)
        assert all(re.fullmatch(r"[A-Za-z0-9_-]{1,80}", i) for i in ids)
    # one alert per finding, each naming its own finding
    assert len(client.entries) == 23
    for entry, finding in zip(client.entries, findings, strict=True):
        assert f"Security Hub finding: {finding.finding_id}\n" in entry["Message"]


def test_no_findings_makes_no_call():
    client = FakeSns()
    assert make_sink(client).publish([]) == 0
    assert client.calls == []


def test_large_alerts_keep_each_call_under_256_kb():
    fat = {f"Evidence{index:03d}": "x" * 400 for index in range(150)}  # ~65 KB per message
    client = FakeSns()

    assert make_sink(client).publish(many(12, details=fat)) == 12

    assert len(client.calls) > 2
    for call in client.calls:
        total = sum(
            len(e["Message"].encode()) + len(e["Subject"].encode())
            + sum(len(k) + len(v["DataType"]) + len(v["StringValue"])
                  for k, v in e["MessageAttributes"].items())
            for e in call["Entries"]
        )
        assert total <= SNS_MESSAGE_LIMIT, f"PublishBatch payload of {total} bytes"


# -- the alert -------------------------------------------------------------------------------------


def test_alert_for_real_login_without_mfa():
    client = FakeSns()
    make_sink(client).publish([login_finding()])

    (entry,) = client.entries
    assert entry["Subject"] == f"[HIGH] Console login without MFA: {USER} in {ACCOUNT}"
    assert_valid_subject(entry["Subject"])
    message = entry["Message"]
    assert_safe_message(message)
    lines = message.splitlines()
    assert lines[0] == "HIGH: Console login without MFA"
    expected_starts = {
        "What happened:": f"IAM user {USER} signed in to the console of account {ACCOUNT} without MFA.",
        "Who:": USER,
        "From:": "192.168.10.20",
        "Where:": f"account {ACCOUNT}, region us-east-1",
        "When:": "2023-07-10T12:23:15Z",
        "Why it matters:": "A password alone protects this console session.",
        "What to do:": "Enable MFA for the user",
    }
    for start, content in expected_starts.items():
        matching = [line for line in lines if line.startswith(start)]
        assert len(matching) == 1, f"expected one {start!r} line in:\n{message}"
        assert content in matching[0]
    assert LOGIN_WITHOUT_MFA in message
    assert "signin_console_login_without_mfa" in message


def test_message_attributes_for_subscription_filters():
    findings = [login_finding(), *evaluate(record(KEY_FOR_OTHER_USER))]
    client = FakeSns()
    make_sink(client).publish(findings)

    login, key = client.entries
    assert login["MessageAttributes"] == {
        "severity": {"DataType": "String", "StringValue": "HIGH"},
        "severity_rank": {"DataType": "Number", "StringValue": "3"},
        "rule_id": {"DataType": "String", "StringValue": "signin_console_login_without_mfa"},
        "account_id": {"DataType": "String", "StringValue": ACCOUNT},
    }
    assert key["MessageAttributes"]["rule_id"]["StringValue"] == "iam_access_key_created"
    for entry in client.entries:
        rank = entry["MessageAttributes"]["severity_rank"]
        assert rank["DataType"] == "Number" and float(rank["StringValue"]) == int(rank["StringValue"])


@pytest.mark.parametrize("severity", ["INFORMATIONAL", "LOW", "MEDIUM", "HIGH", "CRITICAL"])
def test_severity_rank_orders_the_labels(severity):
    from identity_auditor.model.contract import Severity

    client = FakeSns()
    make_sink(client).publish([dataclasses.replace(login_finding(), severity=Severity(severity))])

    (entry,) = client.entries
    assert entry["MessageAttributes"]["severity"]["StringValue"] == severity
    assert entry["MessageAttributes"]["severity_rank"]["StringValue"] == str(
        ["INFORMATIONAL", "LOW", "MEDIUM", "HIGH", "CRITICAL"].index(severity)
    )
    assert entry["Subject"].startswith(f"[{severity}] ")


def test_subject_is_short_single_line_ascii_for_hostile_actor():
    """A 5,000-character unicode user name with CR/LF and control characters: Subject still valid."""
    client = FakeSns()
    make_sink(client).publish([hostile_login_finding()])

    (entry,) = client.entries
    assert_valid_subject(entry["Subject"])
    assert entry["Subject"].startswith("[HIGH] Console login without MFA: ")


def test_subject_is_ascii_for_an_ordinary_long_alert__constructed():
    """No hostile input needed: a person in an Identity Center session (the shape design.md §3
    describes) attaching a policy to a reserved role. The real invictus AttachRolePolicy record, with
    the role name and caller replaced; the Subject is longer than 100 characters before clipping."""
    raw = next(copy.deepcopy(r) for r in _records_by_id().values() if r["eventName"] == "AttachRolePolicy")
    raw["requestParameters"]["roleName"] = "AWSReservedSSO_ReadOnlyAccess_89abcdef01234567"
    raw["userIdentity"] = {
        "type": "AssumedRole",
        "principalId": "AROATFQR7NSCEXAMPLE01:jane@example.com",
        "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/"
               "AWSReservedSSO_AdministratorAccess_0123456789abcdef/jane@example.com",
        "accountId": ACCOUNT,
        "sessionContext": {"sessionIssuer": {
            "type": "Role",
            "arn": f"arn:aws:iam::{ACCOUNT}:role/aws-reserved/sso.amazonaws.com/"
                   "AWSReservedSSO_AdministratorAccess_0123456789abcdef",
            "userName": "AWSReservedSSO_AdministratorAccess_0123456789abcdef"}},
    }
    (finding,) = evaluate(raw)
    assert finding.rule_id == "sso_reserved_role_modified"
    client = FakeSns()
    make_sink(client).publish([finding])

    (entry,) = client.entries
    assert entry["Subject"].startswith(
        "[CRITICAL] Identity Center reserved role changed outside Identity Center: "
    )
    assert_valid_subject(entry["Subject"])


def test_hostile_strings_never_appear_raw_in_the_alert():
    client = FakeSns()
    make_sink(client).publish([hostile_login_finding()])

    (entry,) = client.entries
    message = entry["Message"]
    assert_safe_message(message)
    lines = message.splitlines()
    # injected "headers" stay inside the value they came in; they never start a line
    for injected in ("Subject:", "X-Injected:", "From: evil", "What to do: nothing"):
        assert not any(line.startswith(injected) for line in lines), injected
    assert sum(line.startswith("What to do:") for line in lines) == 1
    assert sum(line.startswith("From:") for line in lines) == 1
    # the structure of the alert survives
    assert lines[0] == "HIGH: Console login without MFA"
    for start in ("What happened:", "Who:", "Where:", "When:", "Why it matters:"):
        assert sum(line.startswith(start) for line in lines) == 1, start
    assert entry["MessageAttributes"]["account_id"]["StringValue"] == ACCOUNT


def test_hostile_actor_in_every_finding_of_a_batch():
    client = FakeSns()
    make_sink(client).publish(many(11, hostile_login_finding()))

    assert [len(call["Entries"]) for call in client.calls] == [10, 1]
    for entry in client.entries:
        assert_valid_subject(entry["Subject"])
        assert_safe_message(entry["Message"])


# -- retries ---------------------------------------------------------------------------------------


def test_failed_entries_are_retried_alone_then_succeed():
    findings = many(5)
    client = FakeSns(fail_entries(1, 4))
    sleeps = Sleeps()

    assert make_sink(client, sleeps).publish(findings) == 5

    assert len(client.calls) == 2
    first, second = client.calls
    assert second["Entries"] == [first["Entries"][1], first["Entries"][4]]
    assert len(sleeps) == 1


def test_persistently_failed_entries_raise_sink_error():
    findings = many(3)
    client = FakeSns(*[fail_entries(0, code="KMSThrottlingException")] * MAX_ATTEMPTS)
    sleeps = Sleeps()

    with pytest.raises(SinkError) as raised:
        make_sink(client, sleeps).publish(findings)

    message = str(raised.value)
    assert "KMSThrottlingException" in message
    assert "1 of 3" in message
    assert len(client.calls) == MAX_ATTEMPTS
    assert all(len(call["Entries"]) == 1 for call in client.calls[1:])
    assert len(sleeps) == MAX_ATTEMPTS - 1


def test_sender_fault_entries_are_raised_without_retrying():
    client = FakeSns(fail_entries(2, code="InvalidParameter", sender_fault=True))
    sleeps = Sleeps()
    with pytest.raises(SinkError) as raised:
        make_sink(client, sleeps).publish(many(3))
    assert "InvalidParameter" in str(raised.value) and "1 of 3" in str(raised.value)
    assert len(client.calls) == 1 and len(sleeps) == 0


@pytest.mark.parametrize(("code", "status"), [("Throttling", 400), ("InternalError", 500)])
def test_throttled_calls_are_retried(code, status):
    error = ClientError(
        {"Error": {"Code": code, "Message": "slow down"}, "ResponseMetadata": {"HTTPStatusCode": status}},
        "PublishBatch",
    )
    client = FakeSns(error)
    sleeps = Sleeps()

    assert make_sink(client, sleeps).publish(many(3)) == 3

    assert len(client.calls) == 2
    assert client.calls[0] == client.calls[1]
    assert len(sleeps) == 1


def test_authorization_error_raises_at_once():
    error = ClientError(
        {"Error": {"Code": "AuthorizationError", "Message": "not authorized to perform SNS:Publish"},
         "ResponseMetadata": {"HTTPStatusCode": 403}},
        "PublishBatch",
    )
    client = FakeSns(error)
    sleeps = Sleeps()

    with pytest.raises(SinkError, match="AuthorizationError"):
        make_sink(client, sleeps).publish(many(3))

    assert len(client.calls) == 1
    assert sleeps == []


# -- suppressed findings, formats, wiring ----------------------------------------------------------


def suppressed(finding: Finding) -> Finding:
    from datetime import date

    from identity_auditor.model.findings import Suppression

    return dataclasses.replace(finding, suppression=Suppression(
        reason="red-team exercise", owner="secops@example.com", expires=date(2023, 8, 1),
        pattern="arn:aws:iam::*:user/stratus-red-team-*"))


def test_suppressed_findings_are_not_alerted_and_the_count_says_what_was_sent():
    findings = many(12)
    findings[0], findings[5], findings[11] = (suppressed(findings[i]) for i in (0, 5, 11))
    client = FakeSns()

    assert make_sink(client).publish(findings) == 9

    assert [len(call["Entries"]) for call in client.calls] == [9]
    sent = [f for f in findings if f.suppression is None]
    for entry, finding in zip(client.entries, sent, strict=True):
        assert f"Security Hub finding: {finding.finding_id}\n" in entry["Message"]
    assert [entry["Id"] for entry in client.entries] == [str(i) for i in range(9)]


def test_only_suppressed_findings_make_no_call():
    client = FakeSns()
    assert make_sink(client).publish([suppressed(f) for f in many(3)]) == 0
    assert client.calls == []


def test_email_alert_links_to_security_hub_in_the_home_region_and_to_the_console():
    client = FakeSns()
    sink = SnsSink(client, topic_arn=TOPIC_ARN, policy=RetryPolicy(sleep=Sleeps()), home_region="eu-west-1",
                   home_partition="aws")
    sink.publish([login_finding()])

    (entry,) = client.entries
    lines = entry["Message"].splitlines()
    (hub,) = [line for line in lines if line.startswith("Security Hub:")]
    (console,) = [line for line in lines if line.startswith("Console:")]
    assert "https://eu-west-1.console.aws.amazon.com/securityhub/home?region=eu-west-1#/findings?search=" in hub
    assert console.endswith(f"https://console.aws.amazon.com/iam/home#/users/details/{USER}")


def test_chat_format_sends_custom_notification_json():
    import json

    client = FakeSns()
    sink = SnsSink(client, topic_arn=TOPIC_ARN, policy=RetryPolicy(sleep=Sleeps()), alert_format="chat")
    assert sink.publish([login_finding(), hostile_login_finding()]) == 2

    for entry in client.entries:
        document = json.loads(entry["Message"])
        assert document["version"] == "1.0" and document["source"] == "custom"
        assert document["content"]["textType"] == "client-markdown"
        assert_valid_subject(entry["Subject"])
        assert_safe_message(entry["Message"])


def test_build_sinks_passes_the_alert_format_and_the_home_region():
    from identity_auditor.delivery.settings import Settings
    from identity_auditor.delivery.wiring import build_sinks
    from identity_auditor.model.home import Home

    settings = Settings(findings_topic_arn=TOPIC_ARN, security_hub_enabled=False, alert_format="chat")
    (sink,) = build_sinks(settings, Home(partition="aws", region="eu-west-1", account="123456789012"))

    assert isinstance(sink, SnsSink)
    assert (sink.alert_format, sink.home_region, sink.home_partition) == ("chat", "eu-west-1", "aws")
    assert sink.client.meta.region_name == "us-east-1"  # the topic's region
    (email,) = build_sinks(Settings(findings_topic_arn=TOPIC_ARN, security_hub_enabled=False),
                           Home(partition="aws", region="us-east-1", account="123456789012"))
    assert email.alert_format == "email"
