"""iam_password_policy_weak (AWS Config state rule) on real-shaped password policies.

``PasswordPolicy.raw`` is ``GetAccountPasswordPolicy``'s ``PasswordPolicy``; ``PasswordReusePrevention``
is absent from it when reuse prevention is off (-> None). No policy (``NoSuchEntity``) -> None.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from asff_validator import assert_valid_asff
from identity_auditor.model.contract import Compliance, Context, Severity
from identity_auditor.model.findings import build_state_finding
from identity_auditor.model.snapshots import AccountSnapshot, PasswordPolicy
from identity_auditor.rules import iam_password_policy_weak as rule
from identity_auditor.sinks.asff import to_asff

ACCOUNT = "123456789012"
REGION = "us-east-1"
NOW = datetime(2026, 11, 22, 6, 0, tzinfo=timezone.utc)
PRODUCT_ARN = f"arn:aws:securityhub:{REGION}:{ACCOUNT}:product/{ACCOUNT}/default"
SUMMARY = {"Users": 4, "AccountMFAEnabled": 1, "AccountAccessKeysPresent": 0}


def policy(length: int, reuse: int | None) -> PasswordPolicy:
    raw = {"MinimumPasswordLength": length, "RequireSymbols": True, "RequireNumbers": True,
           "RequireUppercaseCharacters": True, "RequireLowercaseCharacters": True,
           "AllowUsersToChangePassword": True, "ExpirePasswords": False, "HardExpiry": False}
    if reuse is not None:
        raw["PasswordReusePrevention"] = reuse
    return PasswordPolicy(minimum_length=length, password_reuse_prevention=reuse, raw=raw)


def account(password_policy: PasswordPolicy | None, account_id: str = ACCOUNT) -> AccountSnapshot:
    return AccountSnapshot(account_id=account_id, partition="aws", summary=SUMMARY, password_policy=password_policy)


def evaluate(snapshot: AccountSnapshot):
    result = rule.evaluate_state(snapshot, Context(now=NOW))
    assert 0 < len(result.annotation) <= 256
    assert (result.violation is not None) == (result.compliance is Compliance.NON_COMPLIANT)
    return result


def finding(result, account_id: str = ACCOUNT, observed_at: datetime = NOW):
    return build_state_finding(rule.META, result.violation, account=account_id, region=REGION, partition="aws",
                               observed_at=observed_at)


def test_no_policy_is_non_compliant():
    result = evaluate(account(None))
    assert result.compliance is Compliance.NON_COMPLIANT and "no password policy" in result.annotation
    assert result.violation.details == {"PasswordPolicy": "none"}
    assert finding(result).severity is Severity.MEDIUM


@pytest.mark.parametrize("length, reuse, named, not_named", [
    (8, 24, "minimum length 8 (< 14)", "reuse"),
    (14, 5, "reuse prevention 5 (< 24)", "minimum length"),
    (14, None, "no reuse prevention (< 24)", "minimum length"),
    (13, 23, "minimum length 13 (< 14); reuse prevention 23 (< 24)", "no password policy"),
])
def test_weak_settings_are_named(length, reuse, named, not_named):
    result = evaluate(account(policy(length, reuse)))
    assert result.compliance is Compliance.NON_COMPLIANT
    assert named in result.annotation and not_named not in result.annotation
    assert named in result.violation.description and ACCOUNT in result.violation.description
    assert result.violation.details["PasswordReusePrevention"] == ("not set" if reuse is None else str(reuse))


@pytest.mark.parametrize("length, reuse", [(14, 24), (32, 24)])
def test_cis_policy_is_compliant(length, reuse):
    result = evaluate(account(policy(length, reuse)))
    assert result.compliance is Compliance.COMPLIANT and f"minimum length {length}" in result.annotation


def test_findings_are_valid_asff_with_a_stable_id_per_account():
    first = finding(evaluate(account(policy(8, None))))
    # the same account with another weakness updates the same finding
    again = finding(evaluate(account(policy(14, 5))), observed_at=NOW + timedelta(days=1))
    other = finding(evaluate(account(None, "210987654321")), account_id="210987654321")
    assert first.event_id is None and first.finding_id == again.finding_id != other.finding_id
    for item in (first, again, other):
        assert_valid_asff(to_asff(item, product_arn=PRODUCT_ARN, updated_at=NOW))


def test_meta():
    meta = rule.META
    assert meta.id == rule.__name__.rsplit(".", 1)[-1] and meta.trigger is None
    assert meta.state.resource_type == "AWS::::Account" and meta.state.periodic
    assert meta.severity is Severity.MEDIUM and meta.resource_type == "AwsAccount"
    assert meta.compliance == ("CIS5 1.7", "CIS5 1.8", "CIS3 1.8", "CIS3 1.9", "FSBP IAM.7")
