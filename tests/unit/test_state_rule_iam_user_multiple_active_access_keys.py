"""iam_user_multiple_active_access_keys (AWS Config state rule) on real-shaped credential report rows."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from asff_validator import assert_valid_asff
from identity_auditor.model.contract import Compliance, Context, Severity
from identity_auditor.model.findings import build_state_finding, short_hash
from identity_auditor.model.snapshots import AccessKeyState, CredentialReportRow
from identity_auditor.rules import iam_user_multiple_active_access_keys as rule
from identity_auditor.sinks.asff import to_asff

ACCOUNT = "123456789012"
REGION = "us-east-1"
NOW = datetime(2026, 11, 22, 6, 0, tzinfo=timezone.utc)
PRODUCT_ARN = f"arn:aws:securityhub:{REGION}:{ACCOUNT}:product/{ACCOUNT}/default"
NO_KEY = AccessKeyState(active=False, last_rotated=None, last_used=None)
USED = AccessKeyState(True, datetime(2026, 2, 3, 11, 0, tzinfo=timezone.utc), datetime(2026, 11, 21, 8, 0, tzinfo=timezone.utc))
UNUSED = AccessKeyState(True, datetime(2026, 6, 1, 12, 30, tzinfo=timezone.utc), None)
INACTIVE = AccessKeyState(False, datetime(2025, 6, 1, 12, 30, tzinfo=timezone.utc), datetime(2025, 9, 1, tzinfo=timezone.utc))


def user(name: str, key1: AccessKeyState, key2: AccessKeyState) -> CredentialReportRow:
    return CredentialReportRow(
        user=name, arn=f"arn:aws:iam::{ACCOUNT}:user/{name}",
        user_creation_time=datetime(2026, 1, 10, 9, 15, 2, tzinfo=timezone.utc), password_enabled=False,
        password_last_used=None, password_last_changed=None, mfa_active=False, access_keys=(key1, key2),
        user_id=f"AIDA{short_hash(name)[:16].upper()}X",
    )


def evaluate(row: CredentialReportRow):
    result = rule.evaluate_state(row, Context(now=NOW))
    assert 0 < len(result.annotation) <= 256
    assert (result.violation is not None) == (result.compliance is Compliance.NON_COMPLIANT)
    return result


def finding(result, observed_at: datetime = NOW):
    return build_state_finding(rule.META, result.violation, account=ACCOUNT, region=REGION, partition="aws",
                               observed_at=observed_at)


def test_two_active_keys_are_non_compliant_low():
    result = evaluate(user("ci", USED, UNUSED))
    assert result.compliance is Compliance.NON_COMPLIANT
    assert "key 1 2026-11-21" in result.annotation and "key 2 never" in result.annotation
    assert result.violation.details["ActiveAccessKeys"] == "2"
    assert finding(result).severity is Severity.LOW


@pytest.mark.parametrize("keys, words", [
    ((USED, INACTIVE), "one active access key"),  # mid-rotation done right: the old key was deactivated
    ((NO_KEY, UNUSED), "one active access key"),
    ((NO_KEY, NO_KEY), "no active access key"),
    ((INACTIVE, INACTIVE), "no active access key"),
])
def test_fewer_than_two_active_keys_are_compliant(keys, words):
    result = evaluate(user("ci", *keys))
    assert result.compliance is Compliance.COMPLIANT and words in result.annotation


def test_root_row_is_not_applicable():
    root = CredentialReportRow(
        user="<root_account>", arn=f"arn:aws:iam::{ACCOUNT}:root",
        user_creation_time=datetime(2019, 3, 4, 17, 1, 33, tzinfo=timezone.utc), password_enabled=None,
        password_last_used=None, password_last_changed=None, mfa_active=True, access_keys=(USED, UNUSED))
    assert evaluate(root).compliance is Compliance.NOT_APPLICABLE


def test_findings_are_valid_asff_with_a_stable_id_per_user():
    first = finding(evaluate(user("ci", USED, UNUSED)))
    again = finding(evaluate(user("ci", USED, UNUSED)), NOW + timedelta(hours=24))
    other = finding(evaluate(user("ci2", USED, UNUSED)))
    assert first.event_id is None and first.finding_id == again.finding_id != other.finding_id
    assert first.finding_id.endswith(short_hash(f"arn:aws:iam::{ACCOUNT}:user/ci"))
    for item in (first, other):
        assert_valid_asff(to_asff(item, product_arn=PRODUCT_ARN, updated_at=NOW))


def test_meta():
    meta = rule.META
    assert meta.id == rule.__name__.rsplit(".", 1)[-1] and meta.trigger is None
    assert meta.state.resource_type == "AWS::IAM::User" and meta.state.periodic
    assert meta.severity is Severity.LOW and meta.parameters == ()
    assert meta.compliance == ("CIS5 1.12", "CIS3 1.13")
