"""root_hardware_mfa_not_enabled (AWS Config state rule): root's MFA must not be a virtual device."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest
from asff_validator import assert_valid_asff
from identity_auditor.model.contract import Compliance, Context, Severity
from identity_auditor.model.findings import build_state_finding
from identity_auditor.model.snapshots import AccessKeyState, AccountSnapshot, CredentialReportRow
from identity_auditor.rules import root_hardware_mfa_not_enabled as rule
from identity_auditor.sinks.asff import to_asff

ACCOUNT = "123456789012"
REGION = "us-east-1"
NOW = datetime(2026, 11, 22, 6, 0, tzinfo=timezone.utc)
PRODUCT_ARN = f"arn:aws:securityhub:{REGION}:{ACCOUNT}:product/{ACCOUNT}/default"
NO_KEY = AccessKeyState(active=False, last_rotated=None, last_used=None)
SUMMARY = {"Users": 4, "MFADevices": 1, "MFADevicesInUse": 1, "AccountMFAEnabled": 1,
           "AccountAccessKeysPresent": 0, "AccountPasswordPresent": 1, "AccountSigningCertificatesPresent": 0}
ROOT = CredentialReportRow(
    user="<root_account>", arn=f"arn:aws:iam::{ACCOUNT}:root",
    user_creation_time=datetime(2019, 3, 4, 17, 1, 33, tzinfo=timezone.utc), password_enabled=None,
    password_last_used=datetime(2026, 10, 2, 8, 14, 51, tzinfo=timezone.utc), password_last_changed=None,
    mfa_active=True, access_keys=(NO_KEY, NO_KEY),
)
CENTRAL_ROOT = replace(ROOT, password_enabled=False, password_last_used=None, mfa_active=False)


def account(virtual: bool | None, *, root: CredentialReportRow | None = ROOT, account_id: str = ACCOUNT,
            **summary) -> AccountSnapshot:
    return AccountSnapshot(account_id=account_id, partition="aws", summary={**SUMMARY, **summary},
                           password_policy=None, root=root, root_mfa_virtual=virtual)


def evaluate(snapshot: AccountSnapshot):
    result = rule.evaluate_state(snapshot, Context(now=NOW))
    assert 0 < len(result.annotation) <= 256
    assert (result.violation is not None) == (result.compliance is Compliance.NON_COMPLIANT)
    return result


def finding(result, account_id: str = ACCOUNT, observed_at: datetime = NOW):
    return build_state_finding(rule.META, result.violation, account=account_id, region=REGION, partition="aws",
                               observed_at=observed_at)


def test_virtual_root_mfa_is_low():
    result = evaluate(account(True))
    assert result.compliance is Compliance.NON_COMPLIANT and "virtual" in result.annotation
    assert result.violation.resource_id == f"AWS::::Account:{ACCOUNT}"
    assert finding(result).severity is Severity.LOW


def test_hardware_or_security_key_is_compliant():
    result = evaluate(account(False))
    assert result.compliance is Compliance.COMPLIANT and "hardware" in result.annotation


def test_unknown_device_type_is_not_applicable_and_says_it_could_not_be_determined():
    result = evaluate(account(None))
    assert result.compliance is Compliance.NOT_APPLICABLE and "could not be determined" in result.annotation


def test_no_mfa_at_all_is_left_to_root_mfa_not_enabled():
    result = evaluate(account(None, root=replace(ROOT, mfa_active=False), AccountMFAEnabled=0))
    assert result.compliance is Compliance.NOT_APPLICABLE and "root_mfa_not_enabled" in result.annotation


def test_centrally_managed_root_is_compliant_not_not_applicable():
    result = evaluate(account(None, root=CENTRAL_ROOT, AccountMFAEnabled=0, AccountPasswordPresent=0))
    assert result.compliance is Compliance.COMPLIANT and "centrally managed" in result.annotation


def test_nothing_known_is_not_applicable():
    snapshot = AccountSnapshot(account_id=ACCOUNT, partition="aws", summary={}, password_policy=None)
    assert evaluate(snapshot).compliance is Compliance.NOT_APPLICABLE


def test_findings_are_valid_asff_with_a_stable_id_per_account():
    first = finding(evaluate(account(True)))
    again = finding(evaluate(account(True)), observed_at=NOW + timedelta(days=1))
    other = finding(evaluate(account(True, account_id="210987654321")), account_id="210987654321")
    assert first.event_id is None and first.finding_id == again.finding_id != other.finding_id
    for item in (first, other):
        assert_valid_asff(to_asff(item, product_arn=PRODUCT_ARN, updated_at=NOW))


@pytest.mark.parametrize("field, value", [("trigger", None), ("severity", Severity.LOW),
                                          ("resource_type", "AwsAccount"),
                                          ("compliance", ("CIS5 1.5", "CIS3 1.6", "FSBP IAM.6"))])
def test_meta(field, value):
    assert getattr(rule.META, field) == value
    assert rule.META.state.resource_type == "AWS::::Account" and rule.META.state.periodic
