"""Findings about member accounts are imported into the member account through its member role (the
AwsAccountId rule of BatchImportFindings), and into the auditor's account when the role is unusable."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta, timezone

import boto3
import pytest
from identity_auditor.aws.member_access import MemberAccess, MemberAccessError, member_role_arn
from identity_auditor.delivery.settings import Settings
from identity_auditor.delivery.wiring import build_publisher
from identity_auditor.model.home import Home
from identity_auditor.sinks.queue import delivery
from moto import mock_aws
from support import copies, findings_from, invictus_event

HOME = "123456789012"
MEMBER = "111122223333"
NOW = datetime(2026, 11, 23, 1, 0, tzinfo=timezone.utc)
PRODUCT = f"arn:aws:securityhub:us-east-1:{HOME}:product/{HOME}/default"


@pytest.fixture
def aws():
    with mock_aws():
        boto3.client("securityhub", region_name="us-east-1").enable_security_hub()
        yield


def deliveries_about(account: str, count: int) -> dict:
    [finding] = findings_from(invictus_event("70e5932e-9022-4b38-837e-ca10dad94eb7")["detail"])
    finding = dataclasses.replace(finding, account_id=account, finding_id=finding.finding_id.replace(
        "123837392027", account))
    return {f"m{index}": delivery(f, product_arn=PRODUCT, updated_at=NOW, page=False)
            for index, f in enumerate(copies(finding, count))}


def member_session():
    credentials = boto3.client("sts", region_name="us-east-1").assume_role(
        RoleArn=member_role_arn("aws", MEMBER, "identity-auditor-member"), RoleSessionName="test")["Credentials"]
    return boto3.Session(aws_access_key_id=credentials["AccessKeyId"],
                         aws_secret_access_key=credentials["SecretAccessKey"],
                         aws_session_token=credentials["SessionToken"])


def test_a_member_accounts_findings_are_imported_in_that_account(aws):
    member_hub = member_session().client("securityhub", region_name="us-east-1")
    member_hub.enable_security_hub()
    publisher = build_publisher(Settings(member_role_name="identity-auditor-member"), Home(HOME, "us-east-1", "aws"))

    outcome = publisher.import_findings(deliveries_about(MEMBER, 3))

    assert (outcome.imported, outcome.fallbacks, outcome.not_imported) == (3, 0, {})
    imported = member_hub.get_findings()["Findings"]
    assert len(imported) == 3
    assert {f["AwsAccountId"] for f in imported} == {MEMBER}
    assert {f["ProductArn"] for f in imported} == {f"arn:aws:securityhub:us-east-1:{MEMBER}:product/{MEMBER}/default"}
    assert boto3.client("securityhub", region_name="us-east-1").get_findings()["Findings"] == []
    assert publisher.member_access.assumed == 1  # one AssumeRole for the batch, cached for the next ones


def test_without_a_member_role_the_finding_is_imported_here_with_the_member_account_recorded(aws):
    publisher = build_publisher(Settings(), Home(HOME, "us-east-1", "aws"))

    outcome = publisher.import_findings(deliveries_about(MEMBER, 2))

    assert (outcome.imported, outcome.fallbacks) == (2, 0)
    imported = boto3.client("securityhub", region_name="us-east-1").get_findings()["Findings"]
    assert {f["AwsAccountId"] for f in imported} == {HOME}
    assert {f["ProductFields"]["identity-auditor/RecordedAccountId"] for f in imported} == {MEMBER}
    assert all(MEMBER in f["Id"] for f in imported)


def test_an_unusable_member_role_falls_back_to_the_auditors_account_and_is_counted(aws, caplog):
    publisher = build_publisher(Settings(member_role_name="identity-auditor-member"), Home(HOME, "us-east-1", "aws"))

    def refuse(account):
        if account == HOME:
            return None
        raise MemberAccessError(f"cannot assume {member_role_arn('aws', account, 'identity-auditor-member')}: "
                                "AccessDenied")

    publisher.member_access.session = refuse

    outcome = publisher.import_findings(deliveries_about(MEMBER, 2))

    assert (outcome.imported, outcome.fallbacks) == (2, 2)
    assert {f["AwsAccountId"] for f in boto3.client("securityhub", region_name="us-east-1").get_findings()["Findings"]} \
        == {HOME}
    assert "member role not usable" in caplog.text


def test_findings_about_the_auditors_own_account_never_assume_a_role(aws):
    publisher = build_publisher(Settings(member_role_name="identity-auditor-member"), Home(HOME, "us-east-1", "aws"))
    publisher.import_findings(deliveries_about(HOME, 2))
    assert publisher.member_access.assumed == 0


class FakeSts:
    def __init__(self):
        self.calls = 0

    def assume_role(self, RoleArn, RoleSessionName, DurationSeconds):  # noqa: N803
        self.calls += 1
        return {"Credentials": {"AccessKeyId": f"ASIA{self.calls}", "SecretAccessKey": "s", "SessionToken": "t",
                                "Expiration": NOW + timedelta(hours=1)}}


def test_member_credentials_are_cached_and_renewed_five_minutes_before_they_expire():
    sts, clock = FakeSts(), {"now": NOW}
    access = MemberAccess("identity-auditor-member", home_account=HOME, sts_client=lambda: sts,
                          clock=lambda: clock["now"])
    first = access.session(MEMBER)
    assert access.session(MEMBER) is first and sts.calls == 1
    clock["now"] = NOW + timedelta(minutes=54)
    assert access.session(MEMBER) is first
    clock["now"] = NOW + timedelta(minutes=56)
    assert access.session(MEMBER) is not first and sts.calls == 2
    assert access.session(HOME) is None and access.session("masked") is None and sts.calls == 2


def test_a_role_that_cannot_be_assumed_is_a_clear_error():
    class Denied:
        def assume_role(self, **kwargs):
            from botocore.exceptions import ClientError

            raise ClientError({"Error": {"Code": "AccessDenied", "Message": "not authorized"}}, "AssumeRole")

    access = MemberAccess("identity-auditor-member", home_account=HOME, sts_client=lambda: Denied())
    with pytest.raises(MemberAccessError, match=f"arn:aws:iam::{MEMBER}:role/identity-auditor-member"):
        access.session(MEMBER)
    with pytest.raises(ValueError, match="not an IAM role name"):
        MemberAccess("bad role!", home_account=HOME)


def test_a_member_account_without_security_hub_gets_its_findings_imported_here(aws, caplog):
    publisher = build_publisher(Settings(member_role_name="identity-auditor-member"), Home(HOME, "us-east-1", "aws"))
    member_hub = publisher._securityhub(MEMBER)

    def not_subscribed(request, **kwargs):
        from pipeline import error_response

        request.url = "https://fault-injected.invalid/"
        return error_response(request, 401, "InvalidAccessException",
                              f"Account {MEMBER} is not subscribed to AWS Security Hub")

    member_hub.meta.events.register_first("before-send.securityhub.BatchImportFindings", not_subscribed)

    outcome = publisher.import_findings(deliveries_about(MEMBER, 3))

    assert (outcome.imported, outcome.fallbacks, outcome.not_imported) == (3, 3, {})
    imported = boto3.client("securityhub", region_name="us-east-1").get_findings()["Findings"]
    assert {f["AwsAccountId"] for f in imported} == {HOME} and len(imported) == 3
    assert {f["ProductFields"]["identity-auditor/RecordedAccountId"] for f in imported} == {MEMBER}
    assert "member account refused the import" in caplog.text


def test_a_finding_security_hub_rejects_is_not_moved_to_another_account(aws):
    publisher = build_publisher(Settings(member_role_name="identity-auditor-member"), Home(HOME, "us-east-1", "aws"))
    member_session().client("securityhub", region_name="us-east-1").enable_security_hub()
    deliveries = deliveries_about(MEMBER, 1)
    broken = next(iter(deliveries.values()))
    broken.asff["Severity"] = {"Label": "NOT-A-SEVERITY"}

    class Rejecting:
        def batch_import_findings(self, Findings):  # noqa: N803
            return {"FailedCount": 1, "SuccessCount": 0, "FailedFindings": [
                {"Id": f["Id"], "ErrorCode": "InvalidInput", "ErrorMessage": "Severity.Label"} for f in Findings]}

    publisher._securityhub = lambda account: Rejecting()
    outcome = publisher.import_findings(deliveries)
    assert outcome.fallbacks == 0 and list(outcome.not_imported) == ["m0"]
    assert "InvalidInput" in outcome.not_imported["m0"]


class CountingSts:
    """STS that answers every AssumeRole with ``code`` and counts the calls."""

    def __init__(self, code: str, status: int = 403):
        self.code, self.status, self.calls = code, status, 0

    def assume_role(self, **kwargs):
        from botocore.exceptions import ClientError

        self.calls += 1
        raise ClientError({"Error": {"Code": self.code, "Message": "injected"},
                           "ResponseMetadata": {"HTTPStatusCode": self.status}}, "AssumeRole")


def publisher_with_sts(sts, **settings):
    publisher = build_publisher(Settings(member_role_name="identity-auditor-member", **settings),
                                Home(HOME, "us-east-1", "aws"))
    publisher.member_access._sts = sts
    return publisher


def test_a_refused_member_role_is_asked_once_not_once_per_finding(aws):
    sts = CountingSts("AccessDenied")
    publisher = publisher_with_sts(sts)

    first = publisher.import_findings(deliveries_about(MEMBER, 50))
    second = publisher.import_findings(deliveries_about(MEMBER, 50))

    assert (first.imported, first.fallbacks, second.imported, second.fallbacks) == (50, 50, 50, 50)
    assert sts.calls == 1  # refused: remembered for five minutes, not asked for each finding or batch


def test_a_throttled_sts_returns_the_findings_to_the_queue_instead_of_moving_them(aws):
    sts = CountingSts("Throttling", status=400)
    publisher = publisher_with_sts(sts)

    outcome = publisher.import_findings(deliveries_about(MEMBER, 5))

    assert (outcome.imported, outcome.fallbacks, len(outcome.not_imported)) == (0, 0, 5)
    assert "not available now" in next(iter(outcome.not_imported.values()))
    assert boto3.client("securityhub", region_name="us-east-1").get_findings()["Findings"] == []


def test_with_security_hub_off_no_member_role_is_assumed(aws):
    sts = CountingSts("AccessDenied")
    publisher = publisher_with_sts(sts, security_hub_enabled=False)
    outcome = publisher.import_findings(deliveries_about(MEMBER, 3))
    assert (outcome.imported, outcome.fallbacks, sts.calls) == (3, 0, 0)


def test_no_import_starts_when_the_invocation_is_about_to_time_out(aws):
    """Under sustained throttling the imports could outlast the function's timeout, and a timed-out
    batch comes back whole with nothing alerted. With 45 s left no call starts: what was imported is
    alerted and deleted, the rest returns to the queue."""
    publisher = build_publisher(Settings(), Home(HOME, "us-east-1", "aws"))
    left = iter([120_000, 30_000])  # time for the first call of 100, then too little

    outcome = publisher.import_findings(deliveries_about(HOME, 250), time_left_ms=lambda: next(left, 30_000))

    assert outcome.imported == 100 and len(outcome.not_imported) == 150
    assert {reason.split(": ", 1)[1] for reason in outcome.not_imported.values()} == {
        "not attempted: the invocation is about to time out"}
    pages = boto3.client("securityhub", region_name="us-east-1").get_paginator("get_findings").paginate()
    assert sum(len(page["Findings"]) for page in pages) == 100
