"""collect_account: summary, password policy, root row and root's virtual MFA (stubbed IAM)."""

from __future__ import annotations

from datetime import datetime, timezone

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber
from identity_auditor.aws.retry import RetryPolicy
from identity_auditor.collectors import ApiCalls
from identity_auditor.collectors.account import collect_account, root_mfa_virtual
from identity_auditor.collectors.credential_report import parse_credential_report

ACCOUNT = "123456789012"
ROOT_ARN = f"arn:aws:iam::{ACCOUNT}:root"
CREATED = datetime(2019, 7, 29, 13, 23, 3, tzinfo=timezone.utc)
# As ListVirtualMFADevices describes root's authenticator app (User is root, UserId the account id).
ROOT_DEVICE = {"SerialNumber": f"arn:aws:iam::{ACCOUNT}:mfa/root-account-mfa-device",
               "User": {"Path": "/", "UserName": "", "UserId": ACCOUNT, "Arn": ROOT_ARN, "CreateDate": CREATED},
               "EnableDate": datetime(2023, 8, 23, 3, 50, 37, tzinfo=timezone.utc)}
USER_DEVICE = {"SerialNumber": f"arn:aws:iam::{ACCOUNT}:mfa/alice-phone",
               "User": {"Path": "/", "UserName": "alice", "UserId": "AIDAALICEEXAMPLE00001",
                        "Arn": f"arn:aws:iam::{ACCOUNT}:user/alice", "CreateDate": CREATED},
               "EnableDate": CREATED}
REPORT = """user,arn,user_creation_time,password_enabled,password_last_used,password_last_changed,password_next_rotation,mfa_active,access_key_1_active,access_key_1_last_rotated,access_key_1_last_used_date,access_key_1_last_used_region,access_key_1_last_used_service,access_key_2_active,access_key_2_last_rotated,access_key_2_last_used_date,access_key_2_last_used_region,access_key_2_last_used_service,cert_1_active,cert_1_last_rotated,cert_2_active,cert_2_last_rotated
<root_account>,arn:aws:iam::123456789012:root,2019-07-29T13:23:03+00:00,not_supported,2026-11-20T08:15:42+00:00,not_supported,not_supported,true,false,N/A,N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A
alice,arn:aws:iam::123456789012:user/alice,2024-01-15T09:30:00+00:00,true,2026-11-21T17:45:10+00:00,2026-09-01T08:00:00+00:00,N/A,true,false,N/A,N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A
"""


@pytest.mark.parametrize(
    ("mfa_enabled", "devices", "expected"),
    [
        (1, [ROOT_DEVICE], True),
        (1, [USER_DEVICE, {**ROOT_DEVICE, "SerialNumber": f"arn:aws:iam::{ACCOUNT}:mfa/my-root-app"}], True),
        (1, [{"SerialNumber": ROOT_DEVICE["SerialNumber"]}], True),  # assigned, User not described
        (1, [USER_DEVICE], False),  # root's MFA is hardware (or a passkey)
        (1, [], False),
        (1, [{**USER_DEVICE, "SerialNumber": f"arn:aws:iam::{ACCOUNT}:mfa/root-account-mfa-device"}], False),
        (0, [USER_DEVICE], None),  # root has no MFA
        (0, [], None),
    ],
)
def test_root_virtual_mfa(mfa_enabled, devices, expected):
    assert root_mfa_virtual({"AccountMFAEnabled": mfa_enabled}, devices, account_id=ACCOUNT) is expected


def test_root_device_in_another_partition():
    device = {**ROOT_DEVICE, "User": {**ROOT_DEVICE["User"], "Arn": f"arn:aws-us-gov:iam::{ACCOUNT}:root"}}
    assert root_mfa_virtual({"AccountMFAEnabled": 1}, [device], account_id=ACCOUNT) is True


@pytest.fixture
def iam():
    client = boto3.client("iam", region_name="us-east-1")
    with Stubber(client) as stubber:
        client.stubber = stubber
        yield client
        stubber.assert_no_pending_responses()


def summary(iam, **values):
    iam.stubber.add_response("get_account_summary", {"SummaryMap": {
        "AccountMFAEnabled": 1, "AccountAccessKeysPresent": 0, "Users": 1, "MFADevicesInUse": 2, **values}}, {})


def devices(iam, *pages):
    marker = None
    for index, page in enumerate(pages):
        last = index == len(pages) - 1
        response = {"VirtualMFADevices": page, "IsTruncated": not last, **({} if last else {"Marker": f"m{index}"})}
        iam.stubber.add_response("list_virtual_mfa_devices", response,
                                 {"AssignmentStatus": "Assigned", "MaxItems": 1000, **({"Marker": marker} if marker else {})})
        marker = f"m{index}"


class RootDeviceIAM:
    """IAM answering as AWS does for an account whose root uses an authenticator app. AWS describes root
    in ``VirtualMFADevices[].User`` with the 12-digit account id as ``UserId`` and no ``UserName``, which
    the IAM service model's constraints (min lengths 16 and 1) reject, so botocore's Stubber cannot
    replay it."""

    POLICY = {"MinimumPasswordLength": 14, "RequireSymbols": True, "RequireNumbers": True,
              "RequireUppercaseCharacters": True, "RequireLowercaseCharacters": True,
              "AllowUsersToChangePassword": True, "ExpirePasswords": False, "PasswordReusePrevention": 24}

    def __init__(self, throttle_summary: int = 0):
        self.requests: list[tuple[str, dict]] = []
        self.throttle_summary = throttle_summary

    def get_account_summary(self, **params):
        self.requests.append(("get_account_summary", params))
        if self.throttle_summary:
            self.throttle_summary -= 1
            raise ClientError({"Error": {"Code": "Throttling", "Message": "Rate exceeded"},
                               "ResponseMetadata": {"HTTPStatusCode": 400}}, "GetAccountSummary")
        return {"SummaryMap": {"AccountMFAEnabled": 1, "AccountAccessKeysPresent": 0, "Users": 1,
                               "MFADevicesInUse": 2}}

    def list_virtual_mfa_devices(self, **params):
        self.requests.append(("list_virtual_mfa_devices", params))
        if "Marker" not in params:
            return {"VirtualMFADevices": [USER_DEVICE], "IsTruncated": True, "Marker": "m0"}
        return {"VirtualMFADevices": [ROOT_DEVICE], "IsTruncated": False}

    def get_account_password_policy(self, **params):
        self.requests.append(("get_account_password_policy", params))
        return {"PasswordPolicy": dict(self.POLICY)}


def test_collect_account_with_password_policy_and_root_row():
    iam = RootDeviceIAM()
    calls = ApiCalls()
    snapshot = collect_account(iam, account_id=ACCOUNT, partition="aws",
                               report_rows=parse_credential_report(REPORT), calls=calls)
    assert snapshot.account_id == ACCOUNT and snapshot.partition == "aws"
    assert snapshot.summary == {"AccountMFAEnabled": 1, "AccountAccessKeysPresent": 0, "Users": 1,
                                "MFADevicesInUse": 2}
    assert snapshot.password_policy.minimum_length == 14
    assert snapshot.password_policy.password_reuse_prevention == 24
    assert snapshot.password_policy.raw == RootDeviceIAM.POLICY
    assert snapshot.root is not None and snapshot.root.is_root and snapshot.root.mfa_active
    assert snapshot.root_mfa_virtual is True
    assert calls.total == 4  # summary, two device pages, password policy
    assert ("list_virtual_mfa_devices", {"AssignmentStatus": "Assigned", "MaxItems": 1000, "Marker": "m0"}) \
        in iam.requests


def test_collect_account_without_password_policy_or_root_row(iam):
    summary(iam, AccountMFAEnabled=0)
    devices(iam, [])
    iam.stubber.add_client_error("get_account_password_policy", service_error_code="NoSuchEntity",
                                 service_message="The Password Policy with domain name 123456789012 cannot be found.",
                                 http_status_code=404)
    rows = [row for row in parse_credential_report(REPORT) if not row.is_root]
    snapshot = collect_account(iam, account_id=ACCOUNT, partition="aws", report_rows=rows)
    assert snapshot.password_policy is None and snapshot.root is None and snapshot.root_mfa_virtual is None


def test_policy_without_reuse_prevention(iam):
    summary(iam)
    devices(iam, [])
    iam.stubber.add_response("get_account_password_policy",
                             {"PasswordPolicy": {"MinimumPasswordLength": 8, "ExpirePasswords": False}}, {})
    snapshot = collect_account(iam, account_id=ACCOUNT, partition="aws", report_rows=[])
    assert snapshot.password_policy.minimum_length == 8
    assert snapshot.password_policy.password_reuse_prevention is None
    assert snapshot.root_mfa_virtual is False


def test_throttled_summary_is_retried():
    iam = RootDeviceIAM(throttle_summary=1)
    sleeps: list[float] = []
    calls = ApiCalls(RetryPolicy(max_attempts=3, sleep=sleeps.append))
    snapshot = collect_account(iam, account_id=ACCOUNT, partition="aws", report_rows=[], calls=calls)
    assert snapshot.root_mfa_virtual is True and len(sleeps) == 1 and calls.total == 5
