"""SecurityHubSink: BatchImportFindings in batches of <= 100 findings and <= 6 MB, every document valid
ASFF, FailedFindings and throttling retried (only what failed), errors that retrying cannot fix raised.

Findings are built from real records of the invictus CloudTrail archive; the boto3 client is a small
hand-written fake that records every call and answers from a script, and the retry policy's sleep is
a recorder (nothing here really sleeps).
"""

from __future__ import annotations

import copy
import functools
import json
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/ holds the shared helpers
import support  # noqa: E402
from asff_validator import assert_valid_asff, assert_valid_batch  # noqa: E402
from identity_auditor.aws.retry import RetryPolicy  # noqa: E402
from identity_auditor.model.findings import Finding  # noqa: E402
from identity_auditor.sinks import SinkError  # noqa: E402
from identity_auditor.sinks.securityhub import SecurityHubSink  # noqa: E402

HOME_ACCOUNT = "123456789012"
PRODUCT_ARN = f"arn:aws:securityhub:us-east-1:{HOME_ACCOUNT}:product/{HOME_ACCOUNT}/default"
NOW = datetime(2023, 7, 10, 13, 0, tzinfo=timezone.utc)
LOGIN_WITHOUT_MFA = "70e5932e-9022-4b38-837e-ca10dad94eb7"  # stratus-red-team user, MFAUsed: No
KEY_FOR_OTHER_USER = "64b7de64-bf53-47ae-b7e3-d30cb1b5136e"  # bert-jan -> stratus-red-team-backdoor-u-user
MAX_ATTEMPTS = 4


# -- real findings ---------------------------------------------------------------------------------


@functools.cache
def _records_by_id() -> dict[str, dict]:
    return {record["eventID"]: record for record in support.corpus_records("invictus")}


def findings_for(event_id: str, now: datetime = NOW) -> list[Finding]:
    return support.findings_from(_records_by_id()[event_id], now)


def login_finding() -> Finding:
    (finding,) = findings_for(LOGIN_WITHOUT_MFA)
    return finding


def many(count: int, base: Finding | None = None, **changes) -> list[Finding]:
    return support.copies(base or login_finding(), count, **changes)


# -- a fake Security Hub client --------------------------------------------------------------------


def client_error(code: str, status: int, message: str = "boom") -> ClientError:
    return ClientError(
        {"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": status}},
        "BatchImportFindings",
    )


class FakeSecurityHub:
    """Records every BatchImportFindings call; answers from ``script`` (one entry per call: an
    exception to raise, a callable ``findings -> response``, or a response dict), then succeeds."""

    def __init__(self, *script):
        self.calls: list[list[dict]] = []
        self.script = list(script)

    def batch_import_findings(self, *, Findings):
        self.calls.append(copy.deepcopy(Findings))
        action = self.script.pop(0) if self.script else None
        if isinstance(action, Exception):
            raise action
        if callable(action):
            return action(Findings)
        if action is not None:
            return action
        return {"FailedCount": 0, "SuccessCount": len(Findings), "FailedFindings": []}

    def ids(self, call: int) -> list[str]:
        return [document["Id"] for document in self.calls[call]]


def fail_ids(*ids: str, code: str = "InternalException", message: str = "try again"):
    def respond(findings):
        failed = [
            {"Id": f["Id"], "ErrorCode": code, "ErrorMessage": message} for f in findings if f["Id"] in ids
        ]
        return {
            "FailedCount": len(failed),
            "SuccessCount": len(findings) - len(failed),
            "FailedFindings": failed,
        }

    return respond


class Sleeps(list):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def make_sink(client, sleeps: Sleeps | None = None, **kwargs) -> SecurityHubSink:
    policy = RetryPolicy(max_attempts=MAX_ATTEMPTS, sleep=sleeps if sleeps is not None else Sleeps())
    return SecurityHubSink(
        client, product_arn=lambda finding: PRODUCT_ARN, policy=policy, clock=lambda: NOW, **kwargs
    )


def serialized_size(documents) -> int:
    return len(json.dumps(documents, separators=(",", ":")).encode())


# -- batching --------------------------------------------------------------------------------------


def test_real_findings_import_as_valid_asff():
    findings = findings_for(LOGIN_WITHOUT_MFA) + findings_for(KEY_FOR_OTHER_USER)
    client = FakeSecurityHub()

    assert make_sink(client).publish(findings) == 2

    assert len(client.calls) == 1
    assert_valid_batch(client.calls[0])
    assert client.ids(0) == [f.finding_id for f in findings]
    for document in client.calls[0]:
        assert document["ProductArn"] == PRODUCT_ARN
        assert document["UpdatedAt"] == "2023-07-10T13:00:00.000Z"


def test_250_findings_are_imported_in_calls_of_100_100_50():
    findings = many(250)
    client = FakeSecurityHub()

    assert make_sink(client).publish(findings) == 250

    assert [len(call) for call in client.calls] == [100, 100, 50]
    for call in client.calls:
        assert_valid_batch(call)
    delivered = [document["Id"] for call in client.calls for document in call]
    assert delivered == [f.finding_id for f in findings]  # each once, in order


def test_batches_are_split_to_stay_under_6_mb():
    base = login_finding()
    fat_details = {f"Evidence{index:02d}": chr(ord("a") + index % 26) * 2000 for index in range(36)}
    findings = many(100, base, details=fat_details)
    client = FakeSecurityHub()

    assert make_sink(client).publish(findings) == 100

    one = serialized_size(client.calls[0][0])
    assert 70_000 < one <= 240 * 1024  # fat, yet a valid single finding
    everything = [document for call in client.calls for document in call]
    assert serialized_size(everything) > 6 * 1024 * 1024  # would not fit in one call
    assert len(client.calls) >= 2
    for call in client.calls:
        assert len(call) <= 100
        assert serialized_size(call) <= 6 * 1024 * 1024
        assert_valid_batch(call)
    delivered = [document["Id"] for call in client.calls for document in call]
    assert delivered == [f.finding_id for f in findings]


def test_no_findings_makes_no_call():
    client = FakeSecurityHub()
    assert make_sink(client).publish([]) == 0
    assert client.calls == []


# -- retries ---------------------------------------------------------------------------------------


def test_failed_findings_are_retried_alone_then_succeed():
    findings = many(5)
    ids = [f.finding_id for f in findings]
    client = FakeSecurityHub(fail_ids(ids[1], ids[3]))
    sleeps = Sleeps()
    retries: list[tuple[int, int]] = []

    assert make_sink(client, sleeps, on_retry=lambda attempt, left: retries.append((attempt, left))).publish(
        findings
    ) == 5

    assert client.ids(0) == ids
    assert client.ids(1) == [ids[1], ids[3]]  # only the failed ones are sent again
    assert len(client.calls) == 2
    assert_valid_batch(client.calls[1])
    assert client.calls[1] == [client.calls[0][1], client.calls[0][3]]  # the same documents
    assert len(sleeps) == 1 and 0 <= sleeps[0] <= RetryPolicy().max_delay
    assert retries == [(1, 2)]


def test_persistent_failed_findings_raise_naming_ids_and_error_code():
    findings = many(3)
    ids = [f.finding_id for f in findings]
    always = fail_ids(ids[2], code="LimitExceeded", message="Rate exceeded")
    client = FakeSecurityHub(*[always] * MAX_ATTEMPTS)
    sleeps = Sleeps()

    with pytest.raises(SinkError) as raised:
        make_sink(client, sleeps).publish(findings)

    message = str(raised.value)
    assert ids[2] in message
    assert "LimitExceeded" in message
    assert ids[0] not in message and ids[1] not in message
    assert len(client.calls) == MAX_ATTEMPTS
    assert all(client.ids(call) == [ids[2]] for call in range(1, MAX_ATTEMPTS))
    assert len(sleeps) == MAX_ATTEMPTS - 1  # backed off between attempts, not after the last
    assert all(0 <= seconds <= RetryPolicy().max_delay for seconds in sleeps)


def test_failed_findings_that_retrying_cannot_fix_are_raised_without_retrying():
    findings = many(3)
    ids = [f.finding_id for f in findings]
    client = FakeSecurityHub(fail_ids(ids[1], code="InvalidInput", message="Finding is malformed"))
    sleeps = Sleeps()

    with pytest.raises(SinkError) as raised:
        make_sink(client, sleeps).publish(findings)

    assert ids[1] in str(raised.value) and "InvalidInput: Finding is malformed" in str(raised.value)
    assert len(client.calls) == 1 and len(sleeps) == 0


def test_a_failing_batch_does_not_stop_the_later_batches():
    findings = many(250)
    ids = [f.finding_id for f in findings]
    client = FakeSecurityHub(fail_ids(*ids[:100], code="InvalidInput", message="bad"), *[None] * 2)
    with pytest.raises(SinkError) as raised:
        make_sink(client, Sleeps()).publish(findings)
    assert [len(call) for call in client.calls] == [100, 100, 50]
    assert "100 of 100 not delivered" in str(raised.value)


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("ThrottlingException", 400),
        ("TooManyRequestsException", 429),
        ("LimitExceededException", 429),
        ("InternalServerError", 500),  # not a listed code: retried because of the status
        ("ServiceUnavailable", 503),
    ],
)
def test_throttling_and_server_errors_are_retried_then_succeed(code, status):
    findings = findings_for(LOGIN_WITHOUT_MFA) + findings_for(KEY_FOR_OTHER_USER)
    client = FakeSecurityHub(client_error(code, status), client_error(code, status))
    sleeps = Sleeps()

    assert make_sink(client, sleeps).publish(findings) == 2

    assert len(client.calls) == 3
    assert client.calls[0] == client.calls[1] == client.calls[2]
    assert len(sleeps) == 2


def test_persistent_throttling_raises_after_max_attempts():
    client = FakeSecurityHub(*[client_error("ThrottlingException", 400, "Rate exceeded")] * MAX_ATTEMPTS)
    sleeps = Sleeps()
    finding = login_finding()

    with pytest.raises(SinkError) as raised:
        make_sink(client, sleeps).publish([finding])

    assert "ThrottlingException" in str(raised.value)
    assert finding.finding_id in str(raised.value)
    assert len(client.calls) == MAX_ATTEMPTS
    assert len(sleeps) == MAX_ATTEMPTS - 1


@pytest.mark.parametrize(
    ("code", "status"),
    [("AccessDeniedException", 403), ("InvalidAccessException", 401), ("InvalidInputException", 400)],
)
def test_errors_retrying_cannot_fix_raise_at_once(code, status):
    client = FakeSecurityHub(client_error(code, status, "not subscribed to AWS Security Hub"))
    sleeps = Sleeps()

    with pytest.raises(SinkError) as raised:
        make_sink(client, sleeps).publish([login_finding()])

    assert code in str(raised.value)
    assert isinstance(raised.value.__cause__, ClientError)
    assert len(client.calls) == 1
    assert sleeps == []


# -- identity of findings --------------------------------------------------------------------------


def test_redelivered_event_keeps_the_same_id():
    """EventBridge may deliver an event twice: both imports must update one finding, not create two."""
    first = login_finding()
    again = findings_for(LOGIN_WITHOUT_MFA, now=NOW + timedelta(hours=3))[0]  # re-evaluated later
    client = FakeSecurityHub()
    sink = make_sink(client)

    sink.publish([first])
    sink.publish([again])

    assert len(client.calls) == 2
    (one,), (two,) = client.calls
    assert one["Id"] == two["Id"] == first.finding_id
    assert one["Id"] == (
        "signin_console_login_without_mfa/123837392027/us-east-1/c12613ae38ec8130/" + LOGIN_WITHOUT_MFA
    )
    assert_valid_asff(one)
    assert_valid_asff(two)


def test_different_events_get_different_ids():
    findings = findings_for(LOGIN_WITHOUT_MFA) + findings_for(KEY_FOR_OTHER_USER)
    client = FakeSecurityHub()
    make_sink(client).publish(findings)
    assert len(set(client.ids(0))) == 2


def test_product_arn_is_asked_per_finding():
    findings = findings_for(LOGIN_WITHOUT_MFA) + findings_for(KEY_FOR_OTHER_USER)
    seen: list[str] = []
    client = FakeSecurityHub()

    def product(finding: Finding) -> str:
        seen.append(finding.finding_id)
        return PRODUCT_ARN

    sink = SecurityHubSink(client, product_arn=product, policy=RetryPolicy(sleep=Sleeps()), clock=lambda: NOW)
    sink.publish(findings)

    assert seen == [f.finding_id for f in findings]
    assert {d["ProductArn"] for d in client.calls[0]} == {PRODUCT_ARN}


# -- suppressed findings ---------------------------------------------------------------------------


def test_suppressed_findings_are_imported_as_suppressed_with_their_note():
    import dataclasses
    from datetime import date

    from identity_auditor.model.findings import Suppression

    login, key = findings_for(LOGIN_WITHOUT_MFA) + findings_for(KEY_FOR_OTHER_USER)
    suppressed = dataclasses.replace(login, suppression=Suppression(
        reason="red-team exercise account", owner="secops@example.com", expires=date(2023, 8, 1),
        pattern="arn:aws:iam::123837392027:user/stratus-red-team-*"))
    client = FakeSecurityHub()

    assert make_sink(client).publish([suppressed, key]) == 2  # Security Hub gets every finding

    (batch,) = client.calls
    assert_valid_batch(batch)
    first, second = batch
    assert first["Id"] == login.finding_id and first["Workflow"] == {"Status": "SUPPRESSED"}
    assert first["Note"]["Text"] == (
        "Suppressed by organisation policy: red-team exercise account (owner secops@example.com,"
        " expires 2023-08-01, matched arn:aws:iam::123837392027:user/stratus-red-team-*)")
    assert first["Note"]["UpdatedAt"] == first["UpdatedAt"] == "2023-07-10T13:00:00.000Z"
    assert "Workflow" not in second and "Note" not in second
