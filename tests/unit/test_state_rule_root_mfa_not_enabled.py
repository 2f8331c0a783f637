"""root_mfa_not_enabled (AWS Config state rule) on real-shaped account snapshots (see the
root_access_key_present tests for the shapes)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest
from asff_validator import assert_valid_asff
from identity_auditor.model.contract import Compliance, Context, Severity
from identity_auditor.model.findings import build_state_finding
from identity_auditor.model.snapshots import AccessKeyState, AccountSnapshot, CredentialReportRow
from identity_auditor.rules import root_mfa_not_enabled as rule
from identity_auditor.sinks.asff import to_asff

ACCOUNT = "123456789012"
REGION = "us-east-1"
NOW = datetime(2026, 11, 22, 6, 0, tzinfo=timezone.utc)
PRODUCT_ARN = f"arn:aws:securityhub:{REGION}:{ACCOUNT}:product/{ACCOUNT}/default"
NO_KEY = AccessKeyState(active=False, last_rotated=None, last_used=None)
SUMMARY = {"Users": 4, "Groups": 2, "Roles": 23, "Policies": 6, "MFADevices": 1, "MFADevicesInUse": 1,
           "AccountMFAEnabled": 1, "AccountAccessKeysPresent": 0, "AccountPasswordPresent": 1,
           "AccountSigningCertificatesPresent": 0, "AccessKeysPerUserQuota": 2, "UsersQuota": 5000}
ROOT = CredentialReportRow(
    user="<root_account>", arn=f"arn:aws:iam::{ACCOUNT}:root",
    user_creation_time=datetime(2019, 3, 4, 17, 1, 33, tzinfo=timezone.utc), password_enabled=None,
    password_last_used=datetime(2026, 10, 2, 8, 14, 51, tzinfo=timezone.utc), password_last_changed=None,
    mfa_active=True, access_keys=(NO_KEY, NO_KEY),
)
CENTRAL_ROOT = replace(ROOT, password_enabled=False, password_last_used=None, mfa_active=False)


def account(*, root: CredentialReportRow | None = ROOT, drop: tuple[str, ...] = (), account_id: str = ACCOUNT,
            **summary) -> AccountSnapshot:
    values = {k: v for k, v in {**SUMMARY, **summary}.items() if k not in drop}
    return AccountSnapshot(account_id=account_id, partition="aws", summary=values, password_policy=None, root=root)


def evaluate(snapshot: AccountSnapshot):
    result = rule.evaluate_state(snapshot, Context(now=NOW))
    assert 0 < len(result.annotation) <= 256
    assert (result.violation is not None) == (result.compliance is Compliance.NON_COMPLIANT)
    return result


def finding(result, account_id: str = ACCOUNT, observed_at: datetime = NOW):
    return build_state_finding(rule.META, result.violation, account=account_id, region=REGION, partition="aws",
                               observed_at=observed_at)


def test_root_without_mfa_is_critical():
    result = evaluate(account(root=replace(ROOT, mfa_active=False), AccountMFAEnabled=0))
    assert result.compliance is Compliance.NON_COMPLIANT
    assert "AccountMFAEnabled = 0" in result.annotation
    assert result.violation.resource_id == f"AWS::::Account:{ACCOUNT}" and ACCOUNT in result.violation.description
    assert finding(result).severity is Severity.CRITICAL


def test_root_with_mfa_is_compliant():
    result = evaluate(account())
    assert result.compliance is Compliance.COMPLIANT and "has an MFA device" in result.annotation


def test_the_live_summary_wins_over_a_stale_root_row():
    # MFA enabled after the report was generated, and removed after it was generated
    assert evaluate(account(root=replace(ROOT, mfa_active=False))).compliance is Compliance.COMPLIANT
    assert evaluate(account(AccountMFAEnabled=0)).compliance is Compliance.NON_COMPLIANT


def test_the_root_row_decides_when_the_summary_lacks_the_key():
    result = evaluate(account(root=replace(ROOT, mfa_active=False), drop=("AccountMFAEnabled",)))
    assert result.compliance is Compliance.NON_COMPLIANT and "credential report" in result.annotation


def test_without_a_root_row_the_summary_decides():  # moto
    assert evaluate(account(root=None, AccountMFAEnabled=0)).compliance is Compliance.NON_COMPLIANT
    assert evaluate(account(root=None)).compliance is Compliance.COMPLIANT


def test_centrally_managed_root_is_compliant_not_not_applicable():
    result = evaluate(account(root=CENTRAL_ROOT, AccountMFAEnabled=0, AccountPasswordPresent=0))
    assert result.compliance is Compliance.COMPLIANT and "centrally managed" in result.annotation


def test_nothing_known_is_not_applicable_and_says_so():
    result = evaluate(account(root=None, drop=("AccountMFAEnabled",)))
    assert result.compliance is Compliance.NOT_APPLICABLE and "Could not be determined" in result.annotation


def test_findings_are_valid_asff_with_a_stable_id_per_account():
    first = finding(evaluate(account(AccountMFAEnabled=0)))
    again = finding(evaluate(account(AccountMFAEnabled=0)), observed_at=NOW + timedelta(days=1))
    other = finding(evaluate(account(account_id="210987654321", AccountMFAEnabled=0)), account_id="210987654321")
    assert first.event_id is None and first.finding_id == again.finding_id != other.finding_id
    for item in (first, other):
        assert_valid_asff(to_asff(item, product_arn=PRODUCT_ARN, updated_at=NOW))


@pytest.mark.parametrize("field, value", [("trigger", None), ("severity", Severity.CRITICAL),
                                          ("resource_type", "AwsAccount"),
                                          ("compliance", ("CIS5 1.4", "CIS3 1.5", "FSBP IAM.9"))])
def test_meta(field, value):
    assert getattr(rule.META, field) == value
    assert rule.META.state.resource_type == "AWS::::Account" and rule.META.state.periodic
