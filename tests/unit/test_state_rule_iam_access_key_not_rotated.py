"""iam_access_key_not_rotated (AWS Config state rule): active key age against access_key_max_age_days.

Rows are shaped as the credential report reports them: a key's ``last_rotated`` is its creation,
``last_used`` is None (``N/A``) for a key never used; a slot without a key is inactive with ``N/A`` dates.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest
from asff_validator import assert_valid_asff
from identity_auditor.model.contract import Compliance, Context, Severity
from identity_auditor.model.findings import build_state_finding, short_hash
from identity_auditor.model.policy import OrgPolicy
from identity_auditor.model.snapshots import AccessKeyState, CredentialReportRow
from identity_auditor.rules import iam_access_key_not_rotated as rule
from identity_auditor.sinks.asff import to_asff

ACCOUNT = "123456789012"
REGION = "us-east-1"
NOW = datetime(2026, 11, 22, 6, 0, tzinfo=timezone.utc)
PRODUCT_ARN = f"arn:aws:securityhub:{REGION}:{ACCOUNT}:product/{ACCOUNT}/default"
NO_KEY = AccessKeyState(active=False, last_rotated=None, last_used=None)


def key(age_days: float, *, active: bool = True, used: bool = True) -> AccessKeyState:
    created = NOW - timedelta(days=age_days)
    return AccessKeyState(active=active, last_rotated=created, last_used=NOW - timedelta(hours=3) if used else None)


def user(name: str, *keys: AccessKeyState) -> CredentialReportRow:
    slots = (list(keys) + [NO_KEY, NO_KEY])[:2]
    return CredentialReportRow(
        user=name, arn=f"arn:aws:iam::{ACCOUNT}:user/{name}",
        user_creation_time=datetime(2026, 1, 10, 9, 15, 2, tzinfo=timezone.utc),
        password_enabled=False, password_last_used=None, password_last_changed=None, mfa_active=False,
        access_keys=(slots[0], slots[1]), user_id=f"AIDA{short_hash(name)[:16].upper()}X",
    )


ROOT = CredentialReportRow(
    user="<root_account>", arn=f"arn:aws:iam::{ACCOUNT}:root",
    user_creation_time=datetime(2019, 3, 4, 17, 1, 33, tzinfo=timezone.utc), password_enabled=None,
    password_last_used=None, password_last_changed=None, mfa_active=True, access_keys=(key(400), NO_KEY),
)


def evaluate(row: CredentialReportRow, policy: OrgPolicy = OrgPolicy(), now: datetime = NOW):
    result = rule.evaluate_state(row, Context(now=now, policy=policy))
    assert 0 < len(result.annotation) <= 256
    assert (result.violation is not None) == (result.compliance is Compliance.NON_COMPLIANT)
    return result


def finding(result, observed_at: datetime = NOW):
    return build_state_finding(rule.META, result.violation, account=ACCOUNT, region=REGION, partition="aws",
                               observed_at=observed_at)


def test_91_day_old_active_key_is_non_compliant_89_is_not():
    assert evaluate(user("old", key(89))).compliance is Compliance.COMPLIANT
    result = evaluate(user("old", key(91)))
    assert result.compliance is Compliance.NON_COMPLIANT
    assert result.violation.details == {"UserName": "old", "MaxAgeDays": "90", "AccessKey1AgeDays": "91",
                                        "AccessKey1LastRotated": (NOW - timedelta(days=91)).date().isoformat()}
    assert "key 1 is 91 days old" in result.annotation and "limit 90" in result.annotation
    assert "91 days" in result.violation.description and ACCOUNT in result.violation.description


def test_boundary_exactly_the_maximum_age_is_still_compliant():
    assert evaluate(user("edge", key(90))).compliance is Compliance.COMPLIANT
    assert evaluate(user("edge", key(90 + 1 / 24))).compliance is Compliance.NON_COMPLIANT


def test_never_used_old_key_is_judged_by_its_age_and_the_second_slot_is_named():
    result = evaluate(user("svc", key(10), key(200, used=False)))
    assert result.compliance is Compliance.NON_COMPLIANT
    assert set(result.violation.details) >= {"AccessKey2AgeDays"} and "AccessKey1AgeDays" not in result.violation.details


def test_inactive_old_keys_and_users_without_keys_are_compliant():
    result = evaluate(user("retired", key(500, active=False)))
    assert result.compliance is Compliance.COMPLIANT and "no active access key" in result.annotation
    result = evaluate(user("fresh", key(5), key(500, active=False)))
    assert result.compliance is Compliance.COMPLIANT and "key 1 5 days" in result.annotation


def test_the_maximum_age_comes_from_the_policy_the_config_adapter_prepared():
    row = user("strict", key(45))
    assert evaluate(row).compliance is Compliance.COMPLIANT
    result = evaluate(row, OrgPolicy(access_key_max_age_days=30))
    assert result.compliance is Compliance.NON_COMPLIANT and "limit 30" in result.annotation


def test_active_key_without_a_rotation_date_is_named_not_guessed():
    row = user("gap", AccessKeyState(active=True, last_rotated=None, last_used=None))
    result = evaluate(row)
    assert result.compliance is Compliance.COMPLIANT and "unknown" in result.annotation


def test_naive_timestamps_are_read_as_utc():
    naive = replace(key(91), last_rotated=(NOW - timedelta(days=91)).replace(tzinfo=None))
    assert evaluate(user("naive", naive)).compliance is Compliance.NON_COMPLIANT


def test_root_row_is_not_applicable():
    result = evaluate(ROOT)
    assert result.compliance is Compliance.NOT_APPLICABLE and "root_access_key_present" in result.annotation


def test_findings_are_valid_asff_with_a_stable_id_per_user():
    first = finding(evaluate(user("old", key(91))))
    # a day later the key is 92 days old: same resource, same finding (updated, not duplicated)
    later = finding(evaluate(user("old", key(91)), now=NOW + timedelta(days=1)), NOW + timedelta(days=1))
    other = finding(evaluate(user("svc", key(10), key(200, used=False))))
    assert first.event_id is None and first.finding_id == later.finding_id != other.finding_id
    assert first.finding_id == f"{rule.META.id}/{ACCOUNT}/{REGION}/{short_hash(f'arn:aws:iam::{ACCOUNT}:user/old')}"
    for item in (first, other):
        assert item.severity is Severity.MEDIUM
        assert_valid_asff(to_asff(item, product_arn=PRODUCT_ARN, updated_at=NOW))


@pytest.mark.parametrize("field, value", [("trigger", None), ("severity", Severity.MEDIUM),
                                          ("parameters", ("access_key_max_age_days",)),
                                          ("compliance", ("CIS5 1.13", "CIS3 1.14", "FSBP IAM.3"))])
def test_meta(field, value):
    assert getattr(rule.META, field) == value
    assert rule.META.id == rule.__name__.rsplit(".", 1)[-1]
    assert rule.META.state.resource_type == "AWS::IAM::User" and rule.META.state.periodic
    assert rule.META.remediation_url.startswith("https://docs.aws.amazon.com/")
