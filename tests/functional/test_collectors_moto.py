"""Collectors against an emulated account (moto): users, keys, login profiles, MFA devices and roles
created with boto3; old keys backdated with freezegun.

moto facts these tests live with: its credential report has no ``<root_account>`` row, its
``GetCredentialReport`` always says ``GeneratedTime`` 2015-02-02T20:02:02Z (so "within 4 hours" is
tested by freezing the clock near that time), ``GenerateCredentialReport`` answers ``STARTED`` once
and ``COMPLETE`` after, ``ListUsers`` ignores ``MaxItems`` (one page whatever the size; paging is
checked with a stubbed client in the unit tests) and ``AccountMFAEnabled`` is always 0.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime, timezone

import boto3
import pytest
from freezegun import freeze_time as _freeze_time
from identity_auditor.aws.retry import RetryPolicy
from identity_auditor.collectors.account import collect_account
from identity_auditor.collectors.credential_report import CredentialReportCollector
from identity_auditor.collectors.roles import collect_role, collect_roles, role_from_configuration_item
from moto import mock_aws

ACCOUNT = "123456789012"


def freeze_time(moment: str):
    """freezegun, told to skip Powertools: scanning its modules triggers their lazy imports, which build
    pydantic models while ``datetime`` is freezegun's FakeDatetime (and fail)."""
    return _freeze_time(moment, ignore=["aws_lambda_powertools"])


MOTO_REPORT_TIME = datetime(2015, 2, 2, 20, 2, 2, tzinfo=timezone.utc)
NO_SLEEP = RetryPolicy(max_attempts=4, sleep=lambda seconds: None)
TRUST = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole",
     "Condition": {"StringEquals": {"sts:ExternalId": "shared-secret"}}}]}


@pytest.fixture
def iam():
    with mock_aws():
        client = boto3.client("iam", region_name="us-east-1")
        client.sent = Counter()  # every request that reaches the (emulated) wire
        client.meta.events.register("before-call.iam.*", lambda model, **_: client.sent.update([model.name]))
        yield client


def reports(iam) -> CredentialReportCollector:
    return CredentialReportCollector(iam, policy=NO_SLEEP)


def test_every_column_from_moto_users_keys_passwords_and_mfa(iam):
    with freeze_time("2026-08-01"):
        iam.create_user(UserName="alice", Path="/engineering/")
        old_key = iam.create_access_key(UserName="alice")["AccessKey"]["AccessKeyId"]
    with freeze_time("2026-11-01"):
        iam.create_access_key(UserName="alice")
    iam.update_access_key(UserName="alice", AccessKeyId=old_key, Status="Inactive")
    iam.create_login_profile(UserName="alice", Password="correct-horse-battery-staple-1A!")
    serial = iam.create_virtual_mfa_device(VirtualMFADeviceName="alice-phone")["VirtualMFADevice"]["SerialNumber"]
    iam.enable_mfa_device(UserName="alice", SerialNumber=serial, AuthenticationCode1="123456",
                          AuthenticationCode2="654321")
    iam.create_user(UserName="bob")
    iam.create_access_key(UserName="bob")

    rows = {row.user: row for row in reports(iam).rows()}

    alice, bob = rows["alice"], rows["bob"]
    assert set(rows) == {"alice", "bob"}  # moto writes no <root_account> row
    listed = {user["UserName"]: user for user in iam.list_users()["Users"]}
    assert alice.user_id == listed["alice"]["UserId"] and alice.path == "/engineering/"
    assert alice.arn == f"arn:aws:iam::{ACCOUNT}:user/engineering/alice"
    assert alice.user_creation_time == datetime(2026, 8, 1, tzinfo=timezone.utc)
    assert alice.password_enabled is True and alice.password_last_used is None  # no_information
    assert alice.password_last_changed is not None and alice.mfa_active is True
    assert [key.active for key in alice.access_keys] == [False, True]
    assert alice.access_keys[0].last_rotated == datetime(2026, 8, 1, tzinfo=timezone.utc)
    assert alice.access_keys[1].last_rotated == datetime(2026, 11, 1, tzinfo=timezone.utc)
    assert alice.access_keys[1].last_used is None and alice.certificates_active == (False, False)
    assert bob.password_enabled is False and bob.password_last_used is None and bob.mfa_active is False
    assert bob.path == "/" and bob.user_id == listed["bob"]["UserId"]
    assert [key.active for key in bob.active_keys] == [True]


def test_report_is_reused_within_four_hours_and_regenerated_after(iam):
    iam.create_user(UserName="alice")
    iam.sent.clear()
    with freeze_time("2015-02-02T21:00:00Z"):
        first = reports(iam)
        rows = first.rows()  # no report yet: generate (STARTED), poll (COMPLETE), download
        assert iam.sent == {"GetCredentialReport": 2, "GenerateCredentialReport": 2, "ListUsers": 1}
        assert first.rows() == rows and first.api_calls == 5  # in-memory: no further call
    iam.sent.clear()
    with freeze_time("2015-02-03T00:02:01Z"):  # a new Lambda container, the report is 3 h 59 min old
        again = reports(iam)
        assert again.rows() == rows
        assert iam.sent == {"GetCredentialReport": 1, "ListUsers": 1}  # no second generate
    iam.sent.clear()
    with freeze_time("2015-02-03T00:02:03Z"):  # now older than 4 hours
        assert reports(iam).rows() == rows
        assert iam.sent == {"GetCredentialReport": 2, "GenerateCredentialReport": 1, "ListUsers": 1}


def test_the_same_collector_regenerates_once_its_report_is_four_hours_old(iam):
    iam.create_user(UserName="alice")
    with freeze_time("2015-02-02T21:00:00Z") as frozen:
        collector = reports(iam)
        collector.rows()
        iam.sent.clear()
        frozen.tick(3 * 3600)  # 3 h: still valid from GeneratedTime 20:02:02
        collector.rows()
        assert iam.sent == {}
        frozen.tick(3600)  # 4 h later: regenerate once; moto's report keeps its 2015 GeneratedTime,
        collector.rows()  # so validity now runs from the completed generation
        collector.rows()
        assert iam.sent == {"GetCredentialReport": 2, "GenerateCredentialReport": 1, "ListUsers": 1}


@pytest.mark.parametrize("count", [10, 200])
def test_api_calls_do_not_grow_with_the_number_of_users(iam, count):
    for index in range(count):
        iam.create_user(UserName=f"user-{index:04d}", Path="/team/" if index % 2 else "/")
        if index % 3 == 0:
            iam.create_access_key(UserName=f"user-{index:04d}")
    iam.sent.clear()
    collector = reports(iam)
    rows = collector.rows()
    assert len(rows) == count and all(row.user_id for row in rows)
    assert collector.api_calls == sum(iam.sent.values()) == 5
    assert collector.calls.by_operation == {"get_credential_report": 2, "generate_credential_report": 2,
                                            "list_users": 1}


def test_collect_account_with_a_password_policy(iam):
    iam.create_user(UserName="alice")
    iam.update_account_password_policy(MinimumPasswordLength=14, PasswordReusePrevention=24, RequireSymbols=True)
    collector = reports(iam)
    snapshot = collect_account(iam, account_id=ACCOUNT, partition="aws", report_rows=collector.rows(),
                               calls=collector.calls)
    assert snapshot.password_policy.minimum_length == 14
    assert snapshot.password_policy.password_reuse_prevention == 24
    assert snapshot.password_policy.raw["RequireSymbols"] is True
    assert snapshot.summary["Users"] == 1 and snapshot.summary["AccountAccessKeysPresent"] == 0
    assert snapshot.root is None  # moto's report has no root row: the rules read the summary instead
    assert snapshot.root_mfa_virtual is None  # moto: AccountMFAEnabled is 0, root has no device
    assert collector.api_calls == 5 + 3


def test_collect_account_without_a_password_policy(iam):
    iam.create_virtual_mfa_device(VirtualMFADeviceName="root-account-mfa-device")  # created, never assigned
    iam.sent.clear()
    snapshot = collect_account(iam, account_id=ACCOUNT, partition="aws", report_rows=[])
    assert snapshot.password_policy is None and snapshot.root_mfa_virtual is None
    assert iam.sent == {"GetAccountSummary": 1, "ListVirtualMFADevices": 1, "GetAccountPasswordPolicy": 1}


def test_roles_from_list_roles_get_role_and_a_config_item(iam):
    iam.create_role(RoleName="vendor-access", Path="/partners/", AssumeRolePolicyDocument=json.dumps(TRUST))
    iam.create_role(RoleName="lambda-exec", AssumeRolePolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                 "Principal": {"Service": "lambda.amazonaws.com"}}]}))
    iam.sent.clear()
    roles = {role.name: role for role in collect_roles(iam)}
    assert iam.sent == {"ListRoles": 1}  # no per-role calls
    vendor = roles["vendor-access"]
    assert vendor.trust_policy == TRUST and vendor.path == "/partners/" and vendor.account_id == ACCOUNT
    assert vendor.arn == f"arn:aws:iam::{ACCOUNT}:role/partners/vendor-access"
    assert vendor.role_id and vendor.role_id.startswith("AROA")
    assert collect_role(iam, "vendor-access") == vendor
    assert collect_role(iam, "deleted-role") is None

    config = boto3.client("config", region_name="us-east-1")
    (item,) = config.batch_get_resource_config(
        resourceKeys=[{"resourceType": "AWS::IAM::Role", "resourceId": vendor.role_id}])["baseConfigurationItems"]
    assert isinstance(item["configuration"], str) and "%7B" in item["configuration"]  # URL-encoded policy
    from_config = role_from_configuration_item(item)
    assert from_config.trust_policy == TRUST
    assert (from_config.name, from_config.role_id, from_config.account_id) == ("vendor-access", vendor.role_id,
                                                                               ACCOUNT)
