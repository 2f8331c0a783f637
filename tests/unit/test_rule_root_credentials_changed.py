"""root_credentials_changed: root password recovery/change, e-mail changes, root's own password re-created."""

from __future__ import annotations

import pytest
from identity_auditor.engine.registry import Registry, Rule
from identity_auditor.model.cloudtrail import CONSOLE_SIGN_IN
from identity_auditor.model.contract import Severity
from identity_auditor.model.policy import OrgPolicy
from identity_auditor.rules import iam_login_profile_changed, root_account_used
from identity_auditor.rules import root_credentials_changed as rule
from support import changed, corpus_record, load_sample, rule_findings, run_rule

# AWS's real root PasswordUpdated record (CloudTrail console sign-in event reference)
PASSWORD_UPDATED = corpus_record("aws-docs", "PasswordUpdated")
REQUESTED = load_sample("signin_password_recovery_requested_root__constructed")["detail"]
REQUESTED_FAILED = load_sample("signin_password_recovery_requested_root_failed__constructed")["detail"]
COMPLETED = load_sample("signin_password_recovery_completed_root__constructed")["detail"]
ROOT_PROFILE = load_sample("iam_create_login_profile_root_for_itself__constructed")["detail"]
FOR_OTHER = load_sample("iam_create_login_profile_for_other_user")["detail"]
START = load_sample("account_start_primary_email_update__constructed")["detail"]
ACCEPT = load_sample("account_accept_primary_email_update__constructed")["detail"]
EMAIL_UPDATED = changed(PASSWORD_UPDATED, eventName="EmailUpdated", responseElements={"EmailUpdated": "Success"})
IAM_USER = FOR_OTHER["userIdentity"]


def _ids(record: dict, *modules) -> dict[str, str]:
    findings = [f for module in (rule, *modules) for f in rule_findings(module, record)]
    return {f.rule_id: f.severity.value for f in findings}


@pytest.mark.parametrize("record, severity, words", [
    (REQUESTED, "HIGH", "A password recovery for the root user of account 111122223333 was requested from 192.0.2.0"),
    (COMPLETED, "HIGH", "The root password of account 111122223333 was reset through password recovery"),
    (PASSWORD_UPDATED, "HIGH", "The root user of account 111122223333 changed its password from 192.0.2.0."),
    (EMAIL_UPDATED, "CRITICAL", "The root user of account 111122223333 changed its e-mail address"),
], ids=["recovery-requested", "recovery-completed", "password-updated", "email-updated"])
def test_root_sign_in_events(record, severity, words):
    violation = run_rule(rule, record)
    assert words in violation.description
    assert violation.resource_id == "AWS::::Account:111122223333"
    assert violation.details["EventName"] == record["eventName"]
    [finding] = rule_findings(rule, record)
    assert (finding.severity.value, finding.resource_type) == (severity, "AwsAccount")
    # root_account_used reports the same root activity on its own terms (no de-duplication in the spec)
    assert _ids(record, root_account_used) == {"root_credentials_changed": severity, "root_account_used": "HIGH"}


def test_sign_in_events_use_the_console_sign_in_detail_type():
    assert rule.META.trigger.detail_types == (CONSOLE_SIGN_IN,)
    assert load_sample("signin_password_updated_root")["detail-type"] == CONSOLE_SIGN_IN == "AWS Console Sign In via CloudTrail"


@pytest.mark.parametrize("record", [
    REQUESTED_FAILED,
    changed(PASSWORD_UPDATED, responseElements={"PasswordUpdated": "Failure"}),
    changed(COMPLETED, responseElements={"PasswordRecoveryCompleted": "Failure"}, errorMessage="Invalid token"),
], ids=["recovery-request-failed", "password-update-failed", "recovery-failed"])
def test_failures_are_quiet(record):
    assert run_rule(rule, record) is None


def test_sign_in_events_of_other_identities_are_not_root_changes():
    assert run_rule(rule, changed(PASSWORD_UPDATED, userIdentity=IAM_USER)) is None
    assert run_rule(rule, changed(EMAIL_UPDATED, userIdentity=IAM_USER)) is None


@pytest.mark.parametrize("source", ["signin.amazonaws.com", "account.amazonaws.com", "console.amazonaws.com"])
def test_email_updated_is_matched_under_any_source(source):
    record = changed(EMAIL_UPDATED, eventSource=source)
    registry = Registry([Rule(rule.META, rule.evaluate)])
    assert registry.wants(source, "EmailUpdated", "Root")
    assert not registry.wants(source, "EmailUpdated", "IAMUser")
    assert run_rule(rule, record).severity is Severity.CRITICAL


def test_root_recreating_its_own_password_is_critical_beside_the_other_rules():
    violation = run_rule(rule, ROOT_PROFILE)
    assert violation.severity is Severity.CRITICAL
    assert violation.description == ("The root user re-created the root user's console password in account "
                                     "111122223333 from 203.0.113.10.")
    assert violation.details["ResetRequiredAtNextSignIn"] == "false"
    assert _ids(ROOT_PROFILE, root_account_used, iam_login_profile_changed) == {
        "root_credentials_changed": "CRITICAL", "root_account_used": "HIGH", "iam_login_profile_changed": "MEDIUM"}
    named = changed(ROOT_PROFILE, requestParameters={"userName": "AWS ROOT USER"})
    assert run_rule(rule, named).severity is Severity.CRITICAL
    updated = changed(ROOT_PROFILE, eventName="UpdateLoginProfile", responseElements=None)
    assert run_rule(rule, updated).severity is None  # HIGH: changed, not re-created
    assert "changed the root user's console password" in run_rule(rule, updated).description


def test_an_assume_root_session_is_named():
    identity = {**ROOT_PROFILE["userIdentity"],
                "sessionContext": {**ROOT_PROFILE["userIdentity"]["sessionContext"], "assumedRoot": "true"}}
    violation = run_rule(rule, changed(ROOT_PROFILE, userIdentity=identity))
    assert violation.description.startswith("A root session from sts:AssumeRoot re-created")
    assert violation.details["AssumedRoot"] == "true"


@pytest.mark.parametrize("record", [
    FOR_OTHER,  # an IAM user's login profile, created by another IAM user
    changed(FOR_OTHER, userIdentity=ROOT_PROFILE["userIdentity"]),  # root, for an IAM user
    changed(ROOT_PROFILE, userIdentity=IAM_USER, requestParameters=None),  # an IAM user for itself
    changed(ROOT_PROFILE, errorCode="EntityAlreadyExistsException", responseElements=None),
], ids=["iam-user-for-other", "root-for-iam-user", "iam-user-for-itself", "failed"])
def test_other_login_profiles_are_quiet(record):
    assert run_rule(rule, record) is None


def test_member_account_email_changes_name_the_member_account_and_the_new_address():
    started = run_rule(rule, START)
    assert started.severity is None  # HIGH
    assert started.resource_id == "AWS::::Account:111122223333"
    assert started.details == {"EventName": "StartPrimaryEmailUpdate", "EventSource": "account.amazonaws.com",
                               "TargetAccount": "111122223333", "NewPrimaryEmail": "it-ops@example.net",
                               "Status": "PENDING", "SourceIPAddress": "10.24.34.250"}
    assert started.description == (
        "ServiceTestRole/AccountAPITests started changing the root e-mail address of account 111122223333 to "
        "it-ops@example.net (from account 123456789012) from 10.24.34.250.")
    accepted = run_rule(rule, ACCEPT)
    assert accepted.severity is Severity.CRITICAL and accepted.details["Status"] == "ACCEPTED"
    assert [f.severity for f in rule_findings(rule, ACCEPT)] == [Severity.CRITICAL]


def test_email_change_without_an_account_id_falls_back_to_the_callers_account():
    violation = run_rule(rule, changed(ACCEPT, requestParameters={"otp": "123456"}))
    assert violation.resource_id == "AWS::::Account:123456789012"
    assert "otp" not in str(violation.details).lower() and "123456 " not in violation.description
    assert rule_findings(rule, changed(ACCEPT, requestParameters=None))


def test_failed_email_changes_and_identity_center_are_quiet():
    assert run_rule(rule, changed(ACCEPT, errorCode="ValidationException", responseElements=None)) is None
    by_sso = {**PASSWORD_UPDATED["userIdentity"], "invokedBy": "sso.amazonaws.com"}
    assert run_rule(rule, changed(PASSWORD_UPDATED, userIdentity=by_sso)) is None


def test_allow_listed_caller_is_skipped_by_the_engine():
    policy = OrgPolicy(allow={rule.META.id: ("arn:aws:iam::123456789012:role/ServiceTestRole",)})
    assert rule_findings(rule, START) and rule_findings(rule, START, policy) == []


def test_meta():
    meta = rule.META
    assert meta.id == rule.__name__.rsplit(".", 1)[-1] and meta.severity is Severity.HIGH
    names = {(t.event_source, name) for t in meta.triggers for name in t.event_names}
    assert names == {
        ("signin.amazonaws.com", "PasswordRecoveryRequested"), ("signin.amazonaws.com", "PasswordRecoveryCompleted"),
        ("signin.amazonaws.com", "PasswordUpdated"), ("*", "EmailUpdated"),
        ("iam.amazonaws.com", "CreateLoginProfile"), ("iam.amazonaws.com", "UpdateLoginProfile"),
        ("account.amazonaws.com", "StartPrimaryEmailUpdate"), ("account.amazonaws.com", "AcceptPrimaryEmailUpdate")}
