"""CredentialReportCollector: parsing every column, reuse, polling, refusals and retries.

The AWS side is a real boto3 IAM client answered by botocore's Stubber (request and response shapes
are checked against the IAM service model; no network, no botocore retries in between).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone

import boto3
import pytest
from botocore.stub import Stubber
from identity_auditor.aws.retry import RetryPolicy
from identity_auditor.collectors import CollectorError
from identity_auditor.collectors.credential_report import (
    COLUMNS,
    CredentialReportCollector,
    parse_credential_report,
    parse_report,
)
from identity_auditor.model.snapshots import ROOT_USER, AccessKeyState

UTC = timezone.utc
HEADER = ",".join(COLUMNS)
# Rows written in the documented report format (IAM User Guide, "Understanding the report format").
# The root row is what AWS writes for <root_account>: password columns not_supported, its own keys and MFA.
ROOT_ROW = ("<root_account>,arn:aws:iam::123456789012:root,2019-07-29T13:23:03+00:00,not_supported,"
            "2026-11-20T08:15:42+00:00,not_supported,not_supported,true,"
            "true,2021-03-04T10:11:12+00:00,2026-11-21T09:00:00+00:00,us-east-1,iam,"
            "false,N/A,N/A,N/A,N/A,false,N/A,false,N/A")
ALICE_ROW = ("alice,arn:aws:iam::123456789012:user/engineering/alice,2024-01-15T09:30:00+00:00,true,"
             "2026-11-21T17:45:10+00:00,2026-09-01T08:00:00+00:00,2026-11-30T08:00:00+00:00,true,"
             "true,2026-08-01T00:00:00+00:00,2026-11-22T06:00:00+00:00,eu-west-1,s3,"
             "false,2025-05-05T05:05:05+00:00,2025-06-06T06:06:06+00:00,N/A,sts,"
             "true,2024-02-02T02:02:02+00:00,false,N/A")
BOB_ROW = ("bob,arn:aws:iam::123456789012:user/bob,2025-03-03T03:03:03+00:00,false,N/A,N/A,N/A,false,"
           "true,2025-03-03T03:05:00+00:00,N/A,N/A,N/A,"
           "true,2026-01-01T00:00:00+00:00,N/A,N/A,N/A,false,N/A,false,N/A")
CAROL_ROW = ("carol,arn:aws:iam::123456789012:user/carol,2026-10-10T10:10:10+00:00,true,no_information,"
             "2026-10-10T10:10:10+00:00,N/A,false,false,N/A,N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A")
REPORT = "\n".join([HEADER, ROOT_ROW, ALICE_ROW, BOB_ROW, CAROL_ROW]) + "\n"
USERS = [("alice", "AIDAALICEEXAMPLE00001", "/engineering/"), ("bob", "AIDABOBEXAMPLE0000002", "/"),
         ("carol", "AIDACAROLEXAMPLE00003", "/")]
NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# -- parsing ---------------------------------------------------------------------------------------------


def test_every_column_is_parsed_with_its_type():
    root, alice, bob, carol = parse_report(REPORT)
    assert set(alice) == set(COLUMNS)
    assert alice == {
        "user": "alice", "arn": "arn:aws:iam::123456789012:user/engineering/alice",
        "user_creation_time": at("2024-01-15T09:30:00"), "password_enabled": True,
        "password_last_used": at("2026-11-21T17:45:10"), "password_last_changed": at("2026-09-01T08:00:00"),
        "password_next_rotation": at("2026-11-30T08:00:00"), "mfa_active": True,
        "access_key_1_active": True, "access_key_1_last_rotated": at("2026-08-01T00:00:00"),
        "access_key_1_last_used_date": at("2026-11-22T06:00:00"), "access_key_1_last_used_region": "eu-west-1",
        "access_key_1_last_used_service": "s3",
        "access_key_2_active": False, "access_key_2_last_rotated": at("2025-05-05T05:05:05"),
        "access_key_2_last_used_date": at("2025-06-06T06:06:06"), "access_key_2_last_used_region": None,
        "access_key_2_last_used_service": "sts",
        "cert_1_active": True, "cert_1_last_rotated": at("2024-02-02T02:02:02"),
        "cert_2_active": False, "cert_2_last_rotated": None,
    }
    assert root["password_enabled"] is None  # not_supported
    assert root["password_last_changed"] is None and root["password_next_rotation"] is None
    assert bob["password_last_used"] is None and bob["access_key_1_last_used_date"] is None  # N/A
    assert carol["password_last_used"] is None  # no_information: never signed in
    assert all(value.tzinfo is UTC for value in alice.values() if isinstance(value, datetime))


def test_rows_map_to_snapshots_with_the_root_row():
    identities = {name: (user_id, path) for name, user_id, path in USERS}
    root, alice, bob, carol = parse_credential_report(REPORT, identities)
    assert root.is_root and root.user == ROOT_USER and root.arn == "arn:aws:iam::123456789012:root"
    assert root.password_enabled is None and root.password_last_used == at("2026-11-20T08:15:42")
    assert root.mfa_active is True and root.user_id is None and root.path == "/"
    assert root.access_keys[0] == AccessKeyState(True, at("2021-03-04T10:11:12"), at("2026-11-21T09:00:00"))
    assert root.active_keys == (root.access_keys[0],)
    assert alice.user_id == "AIDAALICEEXAMPLE00001" and alice.path == "/engineering/"
    assert alice.password_enabled is True and alice.mfa_active is True
    assert alice.user_creation_time == at("2024-01-15T09:30:00")
    assert alice.password_last_changed == at("2026-09-01T08:00:00")
    assert alice.access_keys == (AccessKeyState(True, at("2026-08-01T00:00:00"), at("2026-11-22T06:00:00")),
                                 AccessKeyState(False, at("2025-05-05T05:05:05"), at("2025-06-06T06:06:06")))
    assert alice.certificates_active == (True, False)
    assert bob.password_enabled is False and bob.password_last_used is None and not bob.mfa_active
    assert [key.active for key in bob.access_keys] == [True, True] and bob.access_keys[0].last_used is None
    assert carol.password_enabled is True and carol.password_last_used is None and carol.active_keys == ()


def test_without_list_users_the_path_comes_from_the_arn():
    rows = parse_credential_report(REPORT)
    assert [(row.user, row.path, row.user_id) for row in rows] == [
        (ROOT_USER, "/", None), ("alice", "/engineering/", None), ("bob", "/", None), ("carol", "/", None)]


def test_upper_case_booleans_and_z_timestamps_are_read():
    line = BOB_ROW.replace("false", "FALSE").replace("true", "TRUE").replace("+00:00", "Z")
    (bob,) = parse_credential_report(HEADER + "\n" + line + "\n")
    assert bob.password_enabled is False and bob.access_keys[0].active is True
    assert bob.user_creation_time == at("2025-03-03T03:03:03")


def test_unreadable_report_fails_with_a_clear_error():
    with pytest.raises(CollectorError, match="lacks the columns mfa_active"):
        parse_report(HEADER.replace(",mfa_active", "") + "\n")
    with pytest.raises(CollectorError, match=r"'bob', column user_creation_time"):
        parse_report(HEADER + "\n" + BOB_ROW.replace("2025-03-03T03:03:03+00:00", "yesterday", 1))
    with pytest.raises(CollectorError, match="column mfa_active: expected true or false"):
        parse_report(HEADER + "\n" + BOB_ROW.replace(",false,true,", ",maybe,true,", 1))


# -- fetching (stubbed IAM) -----------------------------------------------------------------------------


class Clock:
    def __init__(self, now: datetime = NOW):
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def iam():
    client = boto3.client("iam", region_name="us-east-1")
    with Stubber(client) as stubber:
        client.stubber = stubber
        yield client
        stubber.assert_no_pending_responses()


@pytest.fixture
def sleeps():
    return []


def collector(iam, sleeps, clock=None, attempts=3):
    policy = RetryPolicy(max_attempts=attempts, base_delay=1.0, max_delay=4.0, sleep=sleeps.append)
    return CredentialReportCollector(iam, policy=policy, clock=clock or Clock())


def report(iam, generated: datetime, content: str = REPORT):
    iam.stubber.add_response("get_credential_report",
                             {"Content": content.encode(), "ReportFormat": "text/csv", "GeneratedTime": generated}, {})


def refuse(iam, method: str, code: str, status: int = 400):
    iam.stubber.add_client_error(method, service_error_code=code, service_message=f"{code} (stubbed)",
                                 http_status_code=status)


def generate(iam, *states: str):
    for state in states:
        iam.stubber.add_response("generate_credential_report", {"State": state}, {})


def users(iam, marker: str | None = None, next_marker: str | None = None, names=USERS):
    page = {"Users": [{"UserName": name, "UserId": user_id, "Path": path, "CreateDate": NOW,
                       "Arn": f"arn:aws:iam::123456789012:user{path}{name}"} for name, user_id, path in names],
            "IsTruncated": next_marker is not None}
    if next_marker:
        page["Marker"] = next_marker
    iam.stubber.add_response("list_users", page, {"MaxItems": 1000, **({"Marker": marker} if marker else {})})


def test_a_report_younger_than_four_hours_is_reused_without_generating(iam, sleeps):
    report(iam, NOW - timedelta(hours=3, minutes=59))
    users(iam)
    rows = collector(iam, sleeps).rows()
    assert [row.user for row in rows] == [ROOT_USER, "alice", "bob", "carol"]
    assert rows[1].user_id == "AIDAALICEEXAMPLE00001"
    assert sleeps == []


def test_an_old_report_is_regenerated_and_polled_until_complete(iam, sleeps):
    report(iam, NOW - timedelta(hours=4, minutes=1))
    generate(iam, "STARTED", "STARTED", "COMPLETE")
    report(iam, NOW)
    users(iam)
    reports = collector(iam, sleeps, attempts=4)
    assert len(reports.rows()) == 4
    assert len(sleeps) == 2 and all(0 <= delay <= 4.0 for delay in sleeps)
    assert reports.api_calls == 6 and reports.generated_at == NOW and not reports.served_stale
    assert reports.calls.by_operation == {"get_credential_report": 2, "generate_credential_report": 3,
                                          "list_users": 1}


@pytest.mark.parametrize("code", ["ReportNotPresent", "ReportExpired", "ReportInProgress"])
def test_a_missing_report_is_generated(iam, sleeps, code):
    refuse(iam, "get_credential_report", code, 410 if code != "ReportInProgress" else 404)
    generate(iam, "STARTED", "INPROGRESS", "COMPLETE")
    refuse(iam, "get_credential_report", "ReportInProgress", 404)  # not downloadable for a moment yet
    report(iam, NOW)
    users(iam)
    assert len(collector(iam, sleeps, attempts=4).rows()) == 4
    assert len(sleeps) == 3


def test_rows_are_cached_until_the_report_is_older_than_max_age(iam, sleeps):
    clock = Clock()
    reports = collector(iam, sleeps, clock)
    report(iam, NOW - timedelta(hours=1))
    users(iam)
    first = reports.rows()
    clock.now = NOW + timedelta(hours=2, minutes=59)
    assert reports.rows() == first and reports.api_calls == 2  # no call at all
    clock.now = NOW + timedelta(hours=3)  # the report is now 4 hours old
    report(iam, NOW - timedelta(hours=1))
    generate(iam, "COMPLETE")
    report(iam, clock.now)
    users(iam)
    assert reports.rows() == first and reports.generated_at == clock.now
    assert reports.api_calls == 6


def test_limit_exceeded_backs_off_then_reuses_the_last_report(iam, sleeps, caplog):
    stale = NOW - timedelta(hours=30)
    report(iam, stale)
    for _ in range(3):
        refuse(iam, "generate_credential_report", "LimitExceeded", 409)
    users(iam)
    reports = collector(iam, sleeps)
    with caplog.at_level(logging.WARNING):
        rows = reports.rows()
    assert [row.user for row in rows] == [ROOT_USER, "alice", "bob", "carol"]
    assert reports.served_stale and reports.generated_at == stale
    assert len(sleeps) == 2 and reports.calls.by_operation["generate_credential_report"] == 3
    assert "LimitExceeded" in caplog.text and "reusing the report" in caplog.text


def test_limit_exceeded_reuses_the_in_memory_report_of_an_earlier_call(iam, sleeps):
    clock = Clock()
    reports = collector(iam, sleeps, clock)
    report(iam, NOW - timedelta(minutes=10))
    users(iam)
    first = reports.rows()
    clock.now = NOW + timedelta(hours=5)
    refuse(iam, "get_credential_report", "ReportExpired", 410)
    for _ in range(3):
        refuse(iam, "generate_credential_report", "LimitExceeded", 409)
    assert reports.rows() == first and reports.served_stale
    assert reports.api_calls == 2 + 4  # no ListUsers: the in-memory rows already have the ids
    clock.now += timedelta(minutes=4)  # within the hold-off: no new attempt
    assert reports.rows() == first and reports.api_calls == 6
    clock.now += timedelta(minutes=2)  # after it: try again, and succeed
    refuse(iam, "get_credential_report", "ReportExpired", 410)
    generate(iam, "COMPLETE")
    report(iam, clock.now)
    users(iam)
    assert reports.rows() == first and not reports.served_stale and reports.generated_at == clock.now


def test_refused_without_any_report_raises_a_clear_error(iam, sleeps):
    refuse(iam, "get_credential_report", "ReportNotPresent", 410)
    for _ in range(3):
        refuse(iam, "generate_credential_report", "LimitExceeded", 409)
    with pytest.raises(CollectorError, match="no credential report available.*LimitExceeded"):
        collector(iam, sleeps).rows()


def test_a_generation_that_never_completes_reuses_the_old_report(iam, sleeps):
    report(iam, NOW - timedelta(days=2))
    generate(iam, "STARTED", "INPROGRESS", "INPROGRESS")
    users(iam)
    reports = collector(iam, sleeps)
    assert len(reports.rows()) == 4 and reports.served_stale and len(sleeps) == 2


def test_a_generation_that_never_completes_without_a_report_raises(iam, sleeps):
    refuse(iam, "get_credential_report", "ReportNotPresent", 410)
    generate(iam, "STARTED", "INPROGRESS", "INPROGRESS")
    with pytest.raises(CollectorError, match="still INPROGRESS after 3 polls"):
        collector(iam, sleeps).rows()


def test_throttling_is_retried_with_backoff(iam, sleeps):
    refuse(iam, "get_credential_report", "Throttling")
    refuse(iam, "get_credential_report", "Throttling")
    report(iam, NOW - timedelta(hours=1))
    refuse(iam, "list_users", "Throttling")
    users(iam)
    reports = collector(iam, sleeps)
    assert len(reports.rows()) == 4
    assert len(sleeps) == 3 and reports.api_calls == 5


def test_errors_that_retrying_cannot_fix_are_raised_at_once(iam, sleeps):
    refuse(iam, "get_credential_report", "AccessDenied", 403)
    with pytest.raises(CollectorError, match="AccessDenied"):
        collector(iam, sleeps).rows()
    assert sleeps == []


def test_list_users_is_paginated_a_thousand_at_a_time(iam, sleeps):
    report(iam, NOW)
    users(iam, next_marker="page-2", names=USERS[:1])
    users(iam, marker="page-2", names=USERS[1:])
    reports = collector(iam, sleeps)
    assert [row.user_id for row in reports.rows()] == [None, "AIDAALICEEXAMPLE00001", "AIDABOBEXAMPLE0000002",
                                                       "AIDACAROLEXAMPLE00003"]
    assert reports.calls.by_operation == {"get_credential_report": 1, "list_users": 2}


def test_a_user_created_after_the_report_does_not_break_it(iam, sleeps):
    report(iam, NOW, "\n".join([HEADER, BOB_ROW]) + "\n")
    users(iam, names=USERS[:1])  # bob was deleted in between, alice is not in the report yet
    (bob,) = collector(iam, sleeps).rows()
    assert bob.user == "bob" and bob.user_id is None and bob.path == "/"


def test_a_short_row_is_an_error_not_a_row_of_nones():
    with pytest.raises(CollectorError, match="'bob' has no value for cert_2_active, cert_2_last_rotated"):
        parse_report(HEADER + "\n" + BOB_ROW.rsplit(",", 2)[0] + "\n")
