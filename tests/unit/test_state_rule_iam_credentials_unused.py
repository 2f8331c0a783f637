"""iam_credentials_unused (AWS Config state rule): passwords and active keys idle for credentials_unused_days.

Rows are shaped as the credential report reports them: a user created 2026-01-10 whose login profile was
created at the same time has ``password_last_changed`` at that moment; ``password_last_used`` is None
(``N/A`` / ``no_information``) until the first sign-in; a never-used key has ``last_used_date`` ``N/A``.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from asff_validator import assert_valid_asff
from identity_auditor.model.contract import Compliance, Context, Severity
from identity_auditor.model.findings import build_state_finding, short_hash
from identity_auditor.model.policy import OrgPolicy
from identity_auditor.model.snapshots import AccessKeyState, CredentialReportRow
from identity_auditor.rules import iam_credentials_unused as rule
from identity_auditor.sinks.asff import to_asff

ACCOUNT = "123456789012"
REGION = "us-east-1"
NOW = datetime(2026, 11, 22, 6, 0, tzinfo=timezone.utc)
CREATED = datetime(2026, 1, 10, 9, 15, 2, tzinfo=timezone.utc)
PRODUCT_ARN = f"arn:aws:securityhub:{REGION}:{ACCOUNT}:product/{ACCOUNT}/default"
NO_KEY = AccessKeyState(active=False, last_rotated=None, last_used=None)


def ago(days: float) -> datetime:
    return NOW - timedelta(days=days)


def user(name: str, *, password: bool = False, last_login: datetime | None = None,
         password_set: datetime | None = CREATED, keys=(NO_KEY, NO_KEY), created: datetime = CREATED):
    return CredentialReportRow(
        user=name, arn=f"arn:aws:iam::{ACCOUNT}:user/{name}", user_creation_time=created,
        password_enabled=password, password_last_used=last_login if password else None,
        password_last_changed=password_set if password else None, mfa_active=password,
        access_keys=keys, user_id=f"AIDA{short_hash(name)[:16].upper()}X",
    )


def evaluate(row: CredentialReportRow, policy: OrgPolicy = OrgPolicy(), now: datetime = NOW):
    result = rule.evaluate_state(row, Context(now=now, policy=policy))
    assert 0 < len(result.annotation) <= 256
    assert (result.violation is not None) == (result.compliance is Compliance.NON_COMPLIANT)
    return result


def finding(result, observed_at: datetime = NOW):
    return build_state_finding(rule.META, result.violation, account=ACCOUNT, region=REGION, partition="aws",
                               observed_at=observed_at)


def test_password_last_used_46_days_ago_is_non_compliant_44_is_not():
    assert evaluate(user("alice", password=True, last_login=ago(44))).compliance is Compliance.COMPLIANT
    result = evaluate(user("alice", password=True, last_login=ago(46)))
    assert result.compliance is Compliance.NON_COMPLIANT
    assert "password last used" in result.annotation and "46 days" in result.annotation
    assert set(result.violation.details) == {"UserName", "UnusedDaysLimit", "Password"}
    assert result.violation.details["UnusedDaysLimit"] == "45"


def test_exactly_the_limit_counts_as_unused():  # CIS: "unused for 45 days or more"
    assert evaluate(user("edge", password=True, last_login=ago(45))).compliance is Compliance.NON_COMPLIANT


def test_never_used_password_counts_from_when_it_was_set():
    # created 2026-01-10, never signed in: 315 full days by 2026-11-22 06:00
    result = evaluate(user("bob", password=True, last_login=None))
    assert result.compliance is Compliance.NON_COMPLIANT
    assert "password never used since set 2026-01-10" in result.annotation
    # a login profile added 10 days ago to an old user is new: not yet unused
    recent = evaluate(user("bob", password=True, last_login=None, password_set=ago(10)))
    assert recent.compliance is Compliance.COMPLIANT
    # no password_last_changed: fall back to the user's creation
    fallback = evaluate(user("bob", password=True, last_login=None, password_set=None, created=ago(46)))
    assert fallback.compliance is Compliance.NON_COMPLIANT


def test_a_password_reset_after_the_last_sign_in_restarts_the_clock():
    result = evaluate(user("carol", password=True, last_login=ago(100), password_set=ago(20)))
    assert result.compliance is Compliance.COMPLIANT and "never used since set" in result.annotation


def test_active_keys_used_long_ago_or_never_used_are_flagged():
    used_46 = AccessKeyState(True, ago(200), ago(46))
    used_44 = AccessKeyState(True, ago(200), ago(44))
    never_46 = AccessKeyState(True, ago(46), None)
    never_44 = AccessKeyState(True, ago(44), None)
    assert evaluate(user("svc", keys=(used_44, never_44))).compliance is Compliance.COMPLIANT
    result = evaluate(user("svc", keys=(used_46, never_46)))
    assert result.compliance is Compliance.NON_COMPLIANT
    assert set(result.violation.details) == {"UserName", "UnusedDaysLimit", "AccessKey1", "AccessKey2"}
    assert "last used" in result.violation.details["AccessKey1"]
    assert "never used since created" in result.violation.details["AccessKey2"]


def test_inactive_keys_and_disabled_passwords_are_not_judged():
    old_inactive = AccessKeyState(False, ago(400), ago(300))
    result = evaluate(user("gone", keys=(old_inactive, NO_KEY)))
    assert result.compliance is Compliance.COMPLIANT and "no console password and no active access key" in result.annotation


def test_only_the_idle_credential_is_reported():
    result = evaluate(user("dana", password=True, last_login=ago(2), keys=(AccessKeyState(True, ago(300), None), NO_KEY)))
    assert result.compliance is Compliance.NON_COMPLIANT
    assert "AccessKey1" in result.violation.details and "Password" not in result.violation.details


def test_the_limit_comes_from_the_policy_the_config_adapter_prepared():
    row = user("erin", password=True, last_login=ago(20))
    assert evaluate(row).compliance is Compliance.COMPLIANT
    result = evaluate(row, OrgPolicy(credentials_unused_days=14))
    assert result.compliance is Compliance.NON_COMPLIANT and "14+ days" in result.annotation


def test_root_row_is_not_applicable():
    root = CredentialReportRow(
        user="<root_account>", arn=f"arn:aws:iam::{ACCOUNT}:root",
        user_creation_time=datetime(2019, 3, 4, 17, 1, 33, tzinfo=timezone.utc), password_enabled=None,
        password_last_used=datetime(2024, 2, 1, tzinfo=timezone.utc), password_last_changed=None,
        mfa_active=True, access_keys=(NO_KEY, NO_KEY))
    result = evaluate(root)
    assert result.compliance is Compliance.NOT_APPLICABLE and "root" in result.annotation


def test_long_user_names_keep_annotations_within_256_characters():
    name = "a" * 64
    result = evaluate(user(name, password=True, keys=(AccessKeyState(True, ago(300), None),
                                                        AccessKeyState(True, ago(300), ago(299)))))
    assert result.compliance is Compliance.NON_COMPLIANT  # length checked in evaluate()


@pytest.mark.parametrize("row", [
    user("bob", password=True, last_login=None),
    user("svc", keys=(AccessKeyState(True, ago(46), None), NO_KEY)),
], ids=["password", "key"])
def test_findings_are_valid_asff_with_a_stable_id_per_user(row):
    first = finding(evaluate(row))
    later = finding(evaluate(row, now=NOW + timedelta(days=3)), NOW + timedelta(days=3))
    assert first.event_id is None and first.finding_id == later.finding_id
    assert first.finding_id == f"{rule.META.id}/{ACCOUNT}/{REGION}/{short_hash(row.arn)}"
    assert first.severity is Severity.MEDIUM and first.subject == row.user
    assert_valid_asff(to_asff(first, product_arn=PRODUCT_ARN, updated_at=NOW))


def test_different_users_have_different_finding_ids():
    ids = {finding(evaluate(user(name, password=True))).finding_id for name in ("bob", "bobby")}
    assert len(ids) == 2


def test_meta():
    meta = rule.META
    assert meta.id == rule.__name__.rsplit(".", 1)[-1] and meta.trigger is None
    assert meta.state.resource_type == "AWS::IAM::User" and meta.state.periodic
    assert meta.parameters == ("credentials_unused_days",) and meta.severity is Severity.MEDIUM
    assert meta.compliance == ("CIS5 1.11", "CIS3 1.12", "FSBP IAM.22")
    assert meta.remediation_url.startswith("https://docs.aws.amazon.com/")
