"""root_access_key_present (AWS Config state rule) on real-shaped account snapshots.

The summary is a real ``GetAccountSummary`` SummaryMap; the root row is the credential report's
``<root_account>`` row (``password_enabled`` ``not_supported`` -> None while root has a password; FALSE
once AWS Organizations deleted the root credentials). moto's report has no root row: then only the
summary is known.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest
from asff_validator import assert_valid_asff
from identity_auditor.model.contract import Compliance, Context, Severity
from identity_auditor.model.findings import build_state_finding, short_hash
from identity_auditor.model.snapshots import (
    AccessKeyState,
    AccountSnapshot,
    CredentialReportRow,
    PasswordPolicy,
)
from identity_auditor.rules import root_access_key_present as rule
from identity_auditor.sinks.asff import to_asff

ACCOUNT = "123456789012"
REGION = "us-east-1"
NOW = datetime(2026, 11, 22, 6, 0, tzinfo=timezone.utc)
PRODUCT_ARN = f"arn:aws:securityhub:{REGION}:{ACCOUNT}:product/{ACCOUNT}/default"
NO_KEY = AccessKeyState(active=False, last_rotated=None, last_used=None)
ROOT_KEY = AccessKeyState(True, datetime(2021, 5, 4, 12, 0, tzinfo=timezone.utc),
                          datetime(2026, 11, 19, 3, 12, tzinfo=timezone.utc))
SUMMARY = {
    "GroupPolicySizeQuota": 5120, "InstanceProfilesQuota": 1000, "Policies": 6, "GroupsPerUserQuota": 10,
    "InstanceProfiles": 3, "AttachedPoliciesPerUserQuota": 10, "Users": 4, "PoliciesQuota": 1500,
    "Providers": 1, "AccountMFAEnabled": 1, "AccessKeysPerUserQuota": 2, "AssumeRolePolicySizeQuota": 2048,
    "PolicyVersionsInUseQuota": 10000, "GlobalEndpointTokenVersion": 1, "VersionsPerPolicyQuota": 5,
    "AttachedPoliciesPerGroupQuota": 10, "PolicySizeQuota": 6144, "Groups": 2, "AccountSigningCertificatesPresent": 0,
    "UsersQuota": 5000, "ServerCertificatesQuota": 20, "MFADevices": 2, "UserPolicySizeQuota": 2048,
    "PolicyVersionsInUse": 14, "ServerCertificates": 0, "Roles": 23, "RolesQuota": 1000,
    "SigningCertificatesPerUserQuota": 2, "MFADevicesInUse": 2, "RolePolicySizeQuota": 10240,
    "AttachedPoliciesPerRoleQuota": 10, "AccountAccessKeysPresent": 0, "AccountPasswordPresent": 1,
    "GroupsQuota": 300,
}
ROOT = CredentialReportRow(
    user="<root_account>", arn=f"arn:aws:iam::{ACCOUNT}:root",
    user_creation_time=datetime(2019, 3, 4, 17, 1, 33, tzinfo=timezone.utc), password_enabled=None,
    password_last_used=datetime(2026, 10, 2, 8, 14, 51, tzinfo=timezone.utc), password_last_changed=None,
    mfa_active=True, access_keys=(NO_KEY, NO_KEY),
)
CENTRAL_ROOT = replace(ROOT, password_enabled=False, password_last_used=None, mfa_active=False)
POLICY = PasswordPolicy(14, 24, {"MinimumPasswordLength": 14, "PasswordReusePrevention": 24})


def account(*, root: CredentialReportRow | None = ROOT, account_id: str = ACCOUNT, **summary) -> AccountSnapshot:
    return AccountSnapshot(account_id=account_id, partition="aws", summary={**SUMMARY, **summary},
                           password_policy=POLICY, root=root)


def evaluate(snapshot: AccountSnapshot):
    result = rule.evaluate_state(snapshot, Context(now=NOW))
    assert 0 < len(result.annotation) <= 256
    assert (result.violation is not None) == (result.compliance is Compliance.NON_COMPLIANT)
    return result


def finding(result, account_id: str = ACCOUNT, observed_at: datetime = NOW):
    return build_state_finding(rule.META, result.violation, account=account_id, region=REGION, partition="aws",
                               observed_at=observed_at)


def test_active_root_key_in_the_credential_report_is_critical():
    result = evaluate(account(root=replace(ROOT, access_keys=(NO_KEY, ROOT_KEY)), AccountAccessKeysPresent=1))
    assert result.compliance is Compliance.NON_COMPLIANT
    assert result.violation.resource_id == f"AWS::::Account:{ACCOUNT}" and result.violation.subject == ACCOUNT
    assert "active root key 2" in result.annotation
    assert finding(result).severity is Severity.CRITICAL


def test_without_a_root_row_the_summary_decides():  # moto, or a report without the root row
    flagged = evaluate(account(root=None, AccountAccessKeysPresent=1))
    assert flagged.compliance is Compliance.NON_COMPLIANT and "AccountAccessKeysPresent = 1" in flagged.annotation
    assert evaluate(account(root=None)).compliance is Compliance.COMPLIANT


def test_inactive_root_key_is_compliant_but_named():
    result = evaluate(account(root=replace(ROOT, access_keys=(replace(ROOT_KEY, active=False), NO_KEY)),
                              AccountAccessKeysPresent=1))
    assert result.compliance is Compliance.COMPLIANT and "inactive root key" in result.annotation


def test_a_live_summary_without_keys_wins_over_a_stale_report():
    result = evaluate(account(root=replace(ROOT, access_keys=(ROOT_KEY, NO_KEY)), AccountAccessKeysPresent=0))
    assert result.compliance is Compliance.COMPLIANT and "since the report" in result.annotation


def test_centrally_managed_root_is_compliant_not_not_applicable():
    result = evaluate(account(root=CENTRAL_ROOT, AccountMFAEnabled=0, AccountPasswordPresent=0))
    assert result.compliance is Compliance.COMPLIANT and "centrally managed" in result.annotation


def test_nothing_known_is_not_applicable_and_says_so():
    summary = {k: v for k, v in SUMMARY.items() if k != "AccountAccessKeysPresent"}
    snapshot = AccountSnapshot(account_id=ACCOUNT, partition="aws", summary=summary, password_policy=None)
    result = evaluate(snapshot)
    assert result.compliance is Compliance.NOT_APPLICABLE and "Could not be determined" in result.annotation


def test_findings_are_valid_asff_with_a_stable_id_per_account():
    bad = dict(root=replace(ROOT, access_keys=(ROOT_KEY, NO_KEY)), AccountAccessKeysPresent=1)
    first = finding(evaluate(account(**bad)))
    again = finding(evaluate(account(**bad)), observed_at=NOW + timedelta(days=1))
    other = finding(evaluate(account(account_id="210987654321", **bad)), account_id="210987654321")
    assert first.event_id is None and first.finding_id == again.finding_id != other.finding_id
    assert first.finding_id == f"{rule.META.id}/{ACCOUNT}/{REGION}/{short_hash(f'AWS::::Account:{ACCOUNT}')}"
    for item in (first, other):
        document = to_asff(item, product_arn=PRODUCT_ARN, updated_at=NOW)
        assert_valid_asff(document)
        assert document["Resources"][0] == {"Type": "AwsAccount", "Id": f"AWS::::Account:{item.account_id}",
                                            "Partition": "aws", "Region": REGION}


@pytest.mark.parametrize("field, value", [("trigger", None), ("severity", Severity.CRITICAL),
                                          ("resource_type", "AwsAccount"),
                                          ("compliance", ("CIS5 1.3", "CIS3 1.4", "FSBP IAM.4"))])
def test_meta(field, value):
    assert getattr(rule.META, field) == value
    assert rule.META.state.resource_type == "AWS::::Account" and rule.META.state.periodic
    assert not rule.META.state.change_triggered
