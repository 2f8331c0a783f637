"""iam_user_console_access_without_mfa (AWS Config state rule) on real-shaped credential report rows.

Rows are built as the credential report reports them: ``password_enabled`` true/false for IAM users and
``not_supported`` (None) for ``<root_account>``; ``N/A`` and ``no_information`` dates become None.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from asff_validator import assert_valid_asff
from identity_auditor.model.contract import Compliance, Context, Severity
from identity_auditor.model.findings import build_state_finding, short_hash
from identity_auditor.model.snapshots import AccessKeyState, CredentialReportRow
from identity_auditor.rules import iam_user_console_access_without_mfa as rule
from identity_auditor.sinks.asff import to_asff

ACCOUNT = "123456789012"
REGION = "us-east-1"
NOW = datetime(2026, 11, 22, 6, 0, tzinfo=timezone.utc)
PRODUCT_ARN = f"arn:aws:securityhub:{REGION}:{ACCOUNT}:product/{ACCOUNT}/default"
NO_KEY = AccessKeyState(active=False, last_rotated=None, last_used=None)


def ts(text: str) -> datetime:
    return datetime.fromisoformat(text)


def user(name: str, *, password: bool, mfa: bool, last_login: str | None = "2026-11-20T16:42:10+00:00",
         keys=(NO_KEY, NO_KEY), path: str = "/") -> CredentialReportRow:
    return CredentialReportRow(
        user=name,
        arn=f"arn:aws:iam::{ACCOUNT}:user{path}{name}",
        user_creation_time=ts("2026-01-10T09:15:02+00:00"),
        password_enabled=password,
        password_last_used=ts(last_login) if password and last_login else None,
        password_last_changed=ts("2026-01-10T09:16:40+00:00") if password else None,
        mfa_active=mfa,
        access_keys=keys,
        user_id=f"AIDA{short_hash(name)[:16].upper()}X",
        path=path,
    )


ALICE = user("alice", password=True, mfa=False)
BOB = user("bob", password=True, mfa=False, last_login=None, path="/contractors/")
CAROL = user("carol", password=True, mfa=True)
CI = user("ci-deployer", password=False, mfa=False, keys=(
    AccessKeyState(True, ts("2026-09-01T10:00:00+00:00"), ts("2026-11-21T23:59:00+00:00")), NO_KEY))
ROOT = CredentialReportRow(
    user="<root_account>", arn=f"arn:aws:iam::{ACCOUNT}:root", user_creation_time=ts("2019-03-04T17:01:33+00:00"),
    password_enabled=None, password_last_used=ts("2026-10-02T08:14:51+00:00"), password_last_changed=None,
    mfa_active=False, access_keys=(NO_KEY, NO_KEY),
)


def evaluate(row: CredentialReportRow, now: datetime = NOW):
    result = rule.evaluate_state(row, Context(now=now))
    assert 0 < len(result.annotation) <= 256
    assert (result.violation is not None) == (result.compliance is Compliance.NON_COMPLIANT)
    return result


def finding(result, observed_at: datetime = NOW):
    return build_state_finding(rule.META, result.violation, account=ACCOUNT, region=REGION, partition="aws",
                               observed_at=observed_at)


def test_flags_a_console_password_without_mfa():
    result = evaluate(ALICE)
    assert result.compliance is Compliance.NON_COMPLIANT
    violation = result.violation
    assert violation.resource_id == ALICE.arn and violation.subject == "alice"
    assert violation.severity is None  # MEDIUM from META
    assert "alice" in violation.description and ACCOUNT in violation.description and "MFA" in violation.description
    assert "no MFA" in result.annotation and "2026-11-20" in result.annotation
    assert finding(result).severity is Severity.MEDIUM


def test_flags_a_never_used_password_and_keeps_the_path_in_the_arn():
    result = evaluate(BOB)
    assert result.compliance is Compliance.NON_COMPLIANT
    assert result.violation.resource_id == f"arn:aws:iam::{ACCOUNT}:user/contractors/bob"
    assert "never" in result.annotation and result.violation.details["PasswordLastUsed"] == "never"


@pytest.mark.parametrize("row, words", [(CAROL, "an MFA device"), (CI, "no console password")],
                         ids=["password-with-mfa", "keys-only"])
def test_compliant_users(row, words):
    result = evaluate(row)
    assert result.compliance is Compliance.COMPLIANT and words in result.annotation


def test_root_row_is_not_applicable():
    result = evaluate(ROOT)
    assert result.compliance is Compliance.NOT_APPLICABLE and "root" in result.annotation


def test_findings_are_valid_asff_with_a_stable_id_per_user():
    first = finding(evaluate(ALICE))
    later = finding(evaluate(ALICE, NOW + timedelta(days=1)), NOW + timedelta(days=1))
    other = finding(evaluate(BOB))
    assert first.event_id is None
    assert first.finding_id == later.finding_id == f"{rule.META.id}/{ACCOUNT}/{REGION}/{short_hash(ALICE.arn)}"
    assert other.finding_id != first.finding_id
    for item in (first, other):
        document = to_asff(item, product_arn=PRODUCT_ARN, updated_at=NOW)
        assert_valid_asff(document)
        assert document["Resources"][0]["Type"] == "AwsIamUser"
        assert document["Compliance"]["Status"] == "FAILED"


def test_meta():
    meta = rule.META
    assert meta.id == rule.__name__.rsplit(".", 1)[-1]
    assert meta.trigger is None
    assert (meta.state.resource_type, meta.state.periodic, meta.state.change_triggered) == ("AWS::IAM::User", True, True)
    assert meta.severity is Severity.MEDIUM and meta.parameters == ()
    assert meta.compliance == ("CIS5 1.9", "CIS3 1.10", "FSBP IAM.5")
    assert len(meta.remediation) <= 512 and meta.remediation_url.startswith("https://docs.aws.amazon.com/")
