"""iam_user_in_federated_account (AWS Config state rule): IAM users with credentials where people federate."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from asff_validator import assert_valid_asff
from identity_auditor.model.contract import Compliance, Context, Severity
from identity_auditor.model.findings import build_state_finding, short_hash
from identity_auditor.model.policy import OrgPolicy
from identity_auditor.model.snapshots import AccessKeyState, CredentialReportRow
from identity_auditor.rules import iam_user_in_federated_account as rule
from identity_auditor.sinks.asff import to_asff

FEDERATED = "111122223333"
OTHER = "444455556666"
REGION = "us-east-1"
NOW = datetime(2026, 11, 22, 6, 0, tzinfo=timezone.utc)
PRODUCT_ARN = f"arn:aws:securityhub:{REGION}:{FEDERATED}:product/{FEDERATED}/default"
NO_KEY = AccessKeyState(active=False, last_rotated=None, last_used=None)
ACTIVE = AccessKeyState(True, datetime(2026, 3, 2, 10, 0, tzinfo=timezone.utc), datetime(2026, 11, 21, tzinfo=timezone.utc))
INACTIVE = AccessKeyState(False, datetime(2025, 3, 2, 10, 0, tzinfo=timezone.utc), None)
POLICY = OrgPolicy(federated_accounts=frozenset({FEDERATED}), break_glass_users=("breakglass-*", "/emergency/*"))


def user(name: str, *, account: str = FEDERATED, password: bool = False, keys=(NO_KEY, NO_KEY),
         path: str = "/", collector_path: str = "/") -> CredentialReportRow:
    created = datetime(2026, 1, 10, 9, 15, 2, tzinfo=timezone.utc)
    return CredentialReportRow(
        user=name, arn=f"arn:aws:iam::{account}:user{path}{name}", user_creation_time=created,
        password_enabled=password, password_last_used=None, password_last_changed=created if password else None,
        mfa_active=password, access_keys=keys, user_id=f"AIDA{short_hash(name)[:16].upper()}X", path=collector_path,
    )


def evaluate(row: CredentialReportRow, policy: OrgPolicy = POLICY):
    result = rule.evaluate_state(row, Context(now=NOW, policy=policy))
    assert 0 < len(result.annotation) <= 256
    assert (result.violation is not None) == (result.compliance is Compliance.NON_COMPLIANT)
    return result


def finding(result, observed_at: datetime = NOW):
    return build_state_finding(rule.META, result.violation, account=FEDERATED, region=REGION, partition="aws",
                               observed_at=observed_at)


@pytest.mark.parametrize("row, words", [
    (user("alice", password=True), "a console password"),
    (user("deploy", keys=(NO_KEY, ACTIVE)), "active access key 2"),
    (user("both", password=True, keys=(ACTIVE, NO_KEY)), "a console password and active access key 1"),
], ids=["password", "key", "both"])
def test_users_with_credentials_in_a_federated_account_are_non_compliant(row, words):
    result = evaluate(row)
    assert result.compliance is Compliance.NON_COMPLIANT
    assert words in result.annotation and FEDERATED in result.annotation
    assert result.violation.resource_id == row.arn and result.violation.subject == row.user
    assert finding(result).severity is Severity.MEDIUM


def test_account_not_federated_is_not_applicable():
    result = evaluate(user("alice", account=OTHER, password=True))
    assert result.compliance is Compliance.NOT_APPLICABLE and OTHER in result.annotation
    assert evaluate(user("alice", password=True), OrgPolicy()).compliance is Compliance.NOT_APPLICABLE


@pytest.mark.parametrize("row", [
    user("breakglass-1", password=True),
    user("admin", password=True, path="/emergency/"),  # path read from the ARN
    user("admin", password=True, collector_path="/emergency/"),  # path given by the collector
], ids=["by-name", "path-from-arn", "path-from-collector"])
def test_break_glass_users_are_compliant(row):
    result = evaluate(row)
    assert result.compliance is Compliance.COMPLIANT and "break-glass" in result.annotation


def test_users_without_usable_credentials_are_compliant():
    result = evaluate(user("parked", keys=(INACTIVE, NO_KEY)))
    assert result.compliance is Compliance.COMPLIANT and "no console password" in result.annotation


def test_root_row_is_not_applicable():
    root = CredentialReportRow(
        user="<root_account>", arn=f"arn:aws:iam::{FEDERATED}:root",
        user_creation_time=datetime(2019, 3, 4, 17, 1, 33, tzinfo=timezone.utc), password_enabled=None,
        password_last_used=None, password_last_changed=None, mfa_active=True, access_keys=(NO_KEY, NO_KEY))
    assert evaluate(root).compliance is Compliance.NOT_APPLICABLE


def test_findings_are_valid_asff_with_a_stable_id_per_user():
    row = user("alice", password=True, path="/staff/")
    first = finding(evaluate(row))
    again = finding(evaluate(row), NOW + timedelta(days=1))
    other = finding(evaluate(user("bob", password=True)))
    assert first.event_id is None and first.finding_id == again.finding_id != other.finding_id
    assert first.details["UserPath"] == "/staff/"
    for item in (first, other):
        assert_valid_asff(to_asff(item, product_arn=PRODUCT_ARN, updated_at=NOW))


def test_meta():
    meta = rule.META
    assert meta.id == rule.__name__.rsplit(".", 1)[-1] and meta.trigger is None
    assert meta.state.resource_type == "AWS::IAM::User" and meta.state.periodic
    assert meta.severity is Severity.MEDIUM
    assert meta.compliance == ("CIS5 1.20", "CIS3 1.21")
