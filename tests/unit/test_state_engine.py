"""The state engine with fake state rules and snapshots: evaluations, the finding lifecycle (FAILED ->
PASSED -> ARCHIVED under one Id), the organisation policy, and one broken rule not ending a sweep."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import date, datetime, timezone
from types import MappingProxyType

import pytest
from asff_validator import assert_valid_asff
from identity_auditor.engine.registry import Registry, Rule
from identity_auditor.engine.state import (
    ACCOUNT,
    USER,
    StateEngine,
    account_subject,
    annotation,
    role_subject,
    user_subject,
)
from identity_auditor.model.contract import (
    Compliance,
    Context,
    RuleMeta,
    Severity,
    StateResult,
    StateTrigger,
    Violation,
)
from identity_auditor.model.home import Home
from identity_auditor.model.policy import OrgPolicy, SuppressEntry
from identity_auditor.model.snapshots import (
    AccessKeyState,
    AccountSnapshot,
    CredentialReportRow,
    RoleSnapshot,
)
from identity_auditor.sinks.asff import to_asff

NOW = datetime(2026, 6, 1, 6, 0, tzinfo=timezone.utc)
WHERE = Home("123456789012", "us-east-1", "aws")
PRODUCT = "arn:aws:securityhub:us-east-1:123456789012:product/123456789012/default"
NO_KEY = AccessKeyState(False, None, None)


def row(name: str, *, mfa: bool = False, password: bool = True, user_id: str | None = None) -> CredentialReportRow:
    return CredentialReportRow(
        user=name, arn=f"arn:aws:iam::123456789012:user/{name}", user_creation_time=NOW,
        password_enabled=password, password_last_used=None, password_last_changed=None, mfa_active=mfa,
        access_keys=(NO_KEY, NO_KEY), user_id=user_id)


def meta(rule_id: str, resource_type: str = USER, asff_type: str = "AwsIamUser", **extra) -> RuleMeta:
    return RuleMeta(
        id=rule_id, title=f"Fake {rule_id}", severity=Severity.MEDIUM, trigger=None, resource_type=asff_type,
        finding_types=("Software and Configuration Checks/AWS Security Best Practices",),
        why="Fake rules prove the engine.", remediation="Fix it.",
        remediation_url="https://docs.aws.amazon.com/IAM/latest/UserGuide/id_credentials_mfa.html",
        compliance=("CIS5 1.9",), state=StateTrigger(resource_type), **extra)


def mfa_verdict(subject: CredentialReportRow, ctx: Context) -> StateResult:
    if subject.is_root:
        return StateResult(Compliance.NOT_APPLICABLE, "root has its own rules")
    if subject.password_enabled and not subject.mfa_active:
        return StateResult(Compliance.NON_COMPLIANT, f"{subject.user} has a password and no MFA",
                           Violation(f"IAM user {subject.user} signs in without MFA.", subject.arn))
    return StateResult(Compliance.COMPLIANT, f"{subject.user} is fine")


MFA = Rule(meta("fake_user_mfa"), None, mfa_verdict)
ENGINE = StateEngine(Registry([MFA]))


def ctx(policy: OrgPolicy | None = None) -> Context:
    return Context(now=NOW, policy=policy or OrgPolicy())


def test_non_compliant_compliant_and_not_applicable_share_one_finding_id():
    failed, passed = ENGINE.evaluate([MFA], [user_subject(row("alice")), user_subject(row("bob", mfa=True))],
                                     ctx(), WHERE)
    archived = ENGINE.not_applicable(MFA, user_subject(row("alice")), "alice was deleted", ctx(), WHERE)
    assert [e.compliance for e in (failed, passed, archived)] == [
        Compliance.NON_COMPLIANT, Compliance.COMPLIANT, Compliance.NOT_APPLICABLE]
    assert (failed.finding.compliance_status, failed.finding.record_state, failed.finding.severity) == (
        "FAILED", "ACTIVE", Severity.MEDIUM)
    assert (passed.finding.compliance_status, passed.finding.record_state, passed.finding.severity) == (
        "PASSED", "ACTIVE", Severity.INFORMATIONAL)
    assert (archived.finding.compliance_status, archived.finding.record_state) == ("NOT_AVAILABLE", "ARCHIVED")
    assert archived.finding.finding_id == failed.finding.finding_id  # deleted alice closes alice's finding
    assert failed.finding.finding_id.startswith("fake_user_mfa/123456789012/us-east-1/")
    assert failed.finding.subject == "alice" and passed.finding.subject == "bob"
    for evaluation in (failed, passed, archived):
        assert_valid_asff(to_asff(evaluation.finding, product_arn=PRODUCT, updated_at=NOW))


def test_the_finding_id_is_the_engines_whatever_resource_id_the_rule_reports():
    def odd(subject, ctx):  # reports the user name, not the ARN
        return StateResult(Compliance.NON_COMPLIANT, "bad", Violation("bad", subject.user))

    rule = Rule(meta("fake_user_mfa"), None, odd)
    [failed] = ENGINE.evaluate([rule], [user_subject(row("alice"))], ctx(), WHERE)
    [passed] = ENGINE.evaluate([MFA], [user_subject(row("alice", mfa=True))], ctx(), WHERE)
    assert failed.finding.resource_id == "alice"
    assert failed.finding.finding_id == passed.finding.finding_id


def test_config_identity_of_users_roles_and_the_account():
    [user] = ENGINE.evaluate([MFA], [user_subject(row("alice", user_id="AIDAEXAMPLE"))], ctx(), WHERE)
    assert (user.resource_type, user.resource_id, user.resource_name) == (USER, "AIDAEXAMPLE", "alice")
    [by_name] = ENGINE.evaluate([MFA], [user_subject(row("carol"))], ctx(), WHERE)
    assert by_name.resource_id == "carol"  # no user id known: the name
    role = role_subject(RoleSnapshot("deploy", "arn:aws:iam::123456789012:role/deploy", "/", "AROAEXAMPLE", {}, "1"))
    assert (role.resource_id, role.key) == ("AROAEXAMPLE", "arn:aws:iam::123456789012:role/deploy")
    account = account_subject(AccountSnapshot("123456789012", "aws", {}, None))
    assert (account.resource_type, account.resource_id, account.key) == (
        ACCOUNT, "123456789012", "AWS::::Account:123456789012")
    evaluation = user.config_evaluation()
    assert evaluation == {"ComplianceResourceType": USER, "ComplianceResourceId": "AIDAEXAMPLE",
                          "ComplianceType": "NON_COMPLIANT", "Annotation": user.annotation,
                          "OrderingTimestamp": NOW}


def test_rules_only_judge_subjects_of_their_resource_type():
    account_rule = Rule(meta("fake_account", ACCOUNT, "AwsAccount"), None,
                        lambda subject, ctx: StateResult(Compliance.COMPLIANT, "fine"))
    subjects = [user_subject(row("alice")), account_subject(AccountSnapshot("123456789012", "aws", {}, None))]
    evaluations = ENGINE.evaluate([MFA, account_rule], subjects, ctx(), WHERE)
    assert [(e.rule_id, e.resource_type) for e in evaluations] == [("fake_user_mfa", USER), ("fake_account", ACCOUNT)]


def test_a_broken_rule_is_logged_and_counted_and_the_sweep_goes_on(caplog):
    def broken(subject, ctx):
        if subject.user == "bob":
            raise KeyError("password_last_used")
        return mfa_verdict(subject, ctx)

    rule = Rule(meta("fake_user_mfa"), None, broken)
    failures = []
    with caplog.at_level(logging.ERROR, logger="identity_auditor.engine.state"):
        evaluations = ENGINE.evaluate([rule], [user_subject(row(n)) for n in ("alice", "bob", "carol")], ctx(),
                                      WHERE, failures=failures)
    assert [e.resource_name for e in evaluations] == ["alice", "carol"]  # bob gets no evaluation
    assert [(f.rule_id, f.subject) for f in failures] == [("fake_user_mfa", "bob")]
    assert "KeyError" in failures[0].error
    [record] = caplog.records
    assert record.rule_id == "fake_user_mfa" and record.resource_name == "bob"
    assert "fake_user_mfa" in record.getMessage() and "bob" in record.getMessage()


def test_a_rule_returning_nonsense_is_a_failure_too():
    failures = []
    nonsense = Rule(meta("fake_user_mfa"), None, lambda subject, ctx: None)
    no_violation = Rule(meta("fake_user_mfa"), None, lambda s, c: StateResult(Compliance.NON_COMPLIANT, "x"))
    assert ENGINE.evaluate([nonsense, no_violation], [user_subject(row("alice"))], ctx(), WHERE,
                           failures=failures) == []
    assert len(failures) == 2


def test_annotations_fit_configs_256_characters_and_keep_the_note():
    long = Rule(meta("fake_user_mfa"), None, lambda s, c: StateResult(Compliance.COMPLIANT, "x" * 1000))
    [evaluation] = ENGINE.evaluate([long], [user_subject(row("alice"))], ctx(), WHERE,
                                   note="(ruleParameters: credentials_unused_days='x' invalid, used 45)")
    assert len(evaluation.annotation) <= 256
    assert evaluation.annotation.endswith("(ruleParameters: credentials_unused_days='x' invalid, used 45)")
    assert annotation("") == "-" and len(annotation("y" * 300)) == 256


def test_ordering_timestamp_defaults_to_now():
    [evaluation] = ENGINE.evaluate([MFA], [user_subject(row("alice"))], ctx(), WHERE)
    assert evaluation.ordering_timestamp == NOW
    given = datetime(2026, 5, 31, tzinfo=timezone.utc)
    [evaluation] = ENGINE.evaluate([MFA], [user_subject(row("alice"))], ctx(), WHERE, ordering_timestamp=given)
    assert evaluation.ordering_timestamp == given


def test_severity_override_and_suppression_from_the_organisation_policy():
    policy = OrgPolicy(
        severity=MappingProxyType({"fake_user_mfa": Severity.HIGH}),
        suppress=MappingProxyType({"fake_user_mfa": (
            SuppressEntry("break-glass", "secops", date(2026, 12, 31), resource="*:user/breakglass*"),
            SuppressEntry("old", "secops", date(2026, 1, 1), resource="*:user/alice"),
        )}),
    )
    subjects = [user_subject(row("alice")), user_subject(row("breakglass-1")), user_subject(row("bob", mfa=True))]
    alice, breakglass, bob = ENGINE.evaluate([MFA], subjects, ctx(policy), WHERE)
    assert alice.finding.severity is Severity.HIGH and "SeverityOverride" in alice.finding.details
    assert alice.finding.suppression is None  # its entry expired
    assert breakglass.finding.suppression.reason == "break-glass"
    assert bob.finding.severity is Severity.INFORMATIONAL  # a PASSED update is never overridden


def test_an_expired_suppression_is_reported_once_on_the_state_path_too():
    """Like the event path: an expired entry no longer applies and is one LOW policy_suppression_expired
    finding (Id without the resource), filed in the sweep's account and region, valid ASFF."""
    policy = OrgPolicy(suppress=MappingProxyType({"fake_user_mfa": (
        SuppressEntry("legacy users", "secops", date(2026, 1, 1), resource="*:user/legacy-*"),
    )}))
    subjects = [user_subject(row("legacy-1")), user_subject(row("legacy-2")), user_subject(row("carol"))]
    first, second, carol = ENGINE.evaluate([MFA], subjects, ctx(policy), WHERE)
    assert first.finding.suppression is None and second.finding.suppression is None
    assert [f.rule_id for f in first.expired] == ["policy_suppression_expired"]
    assert first.expired[0].finding_id == second.expired[0].finding_id  # one entry, one finding
    assert first.expired[0].severity is Severity.LOW
    assert (first.expired[0].account_id, first.expired[0].region) == ("123456789012", "us-east-1")
    assert first.expired[0].details["SuppressExpires"] == "2026-01-01"
    assert first.findings == (first.finding, first.expired[0])
    assert carol.expired == ()
    assert_valid_asff(to_asff(first.expired[0], product_arn=PRODUCT, updated_at=NOW))


def test_a_principal_suppression_matches_the_user_a_state_finding_is_about():
    """``principal`` patterns match the caller of an event; a state finding's principal is the user or
    role it judges, so one entry can cover a break-glass user's events and state alike."""
    policy = OrgPolicy(suppress=MappingProxyType({"fake_user_mfa": (
        SuppressEntry("break-glass", "secops", date(2026, 12, 31), principal="arn:aws:iam::*:user/breakglass*"),
    )}))
    subjects = [user_subject(row("breakglass-1")), user_subject(row("alice"))]
    breakglass, alice = ENGINE.evaluate([MFA], subjects, ctx(policy), WHERE)
    assert breakglass.finding.suppression.reason == "break-glass"
    assert alice.finding.suppression is None


def test_disabled_rules_do_not_run_and_unknown_or_event_rules_are_refused():
    policy = OrgPolicy(disabled=frozenset({"fake_user_mfa"}))
    assert ENGINE.rules(None, ctx(policy)) == []
    assert ENGINE.rules(["fake_user_mfa"], ctx()) == [MFA]
    with pytest.raises(KeyError):
        ENGINE.rules(["no_such_rule"], ctx())
    event_rule = Rule(replace(MFA.meta, state=None), lambda record, ctx: None)
    with pytest.raises(ValueError, match="not a state rule"):
        ENGINE.rules([event_rule], ctx())
