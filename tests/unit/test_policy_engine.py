"""The engine applies the organisation policy: allow-lists, disabled rules, severity overrides,
suppressions, and expired suppressions reported as LOW findings (spec/rules.md §C)."""

from __future__ import annotations

import copy
import logging
from datetime import date, datetime, timezone

import pytest
from asff_validator import assert_valid_asff
from identity_auditor.engine.events import Engine
from identity_auditor.engine.policy import SUPPRESSION_EXPIRED
from identity_auditor.engine.registry import REGISTRY
from identity_auditor.model.cloudtrail import CloudTrailEvent
from identity_auditor.model.contract import Context, Severity
from identity_auditor.model.findings import Suppression
from identity_auditor.model.policy import DEFAULT_POLICY
from identity_auditor.policy.loader import load_policy_text
from identity_auditor.sinks.asff import to_asff
from support import EVENTS, PRODUCT_ARN, ROOT, corpus_record, findings_from, load_sample

NOW = datetime(2026, 11, 22, 9, 30, tzinfo=timezone.utc)
PIPELINE_ROLE = "arn:aws:iam::111122223333:role/identity-center-terraform-pipeline"
PERMISSION_SET = "arn:aws:sso:::permissionSet/ssoins-72233af8ea2d1f14/ps-5c3a9e1f0d2b4a67"
ATTACH_ADMIN = "sso_attach_managed_policy_to_permission_set_administrator_access__constructed.json"
CREATE_PERMISSION_SET = "sso_create_permission_set__constructed.json"
ASSIGN_TO_USER = "sso_create_account_assignment_user__constructed.json"


def by_pipeline(sample: dict) -> dict:
    """The same event, made by a session of the Terraform pipeline's role instead of a person."""
    event = copy.deepcopy(sample)
    identity = event["detail"]["userIdentity"]
    identity["principalId"] = "AROA3EXAMPLEPIPELINE1:terraform-run-8812"
    identity["arn"] = "arn:aws:sts::111122223333:assumed-role/identity-center-terraform-pipeline/terraform-run-8812"
    identity["sessionContext"]["sessionIssuer"].update(
        principalId="AROA3EXAMPLEPIPELINE1", arn=PIPELINE_ROLE, userName="identity-center-terraform-pipeline"
    )
    event["detail"]["userAgent"] = "APN/1.0 HashiCorp/1.0 Terraform/1.9.8 aws-sdk-go-v2/1.32.2"
    event["detail"]["sessionCredentialFromConsole"] = None
    return event


def evaluate(event: dict, policy=DEFAULT_POLICY, now: datetime = NOW):
    parsed = CloudTrailEvent.model_validate(event)
    result = Engine().evaluate(parsed.detail, Context(now=now, policy=policy), account=parsed.account,
                               region=parsed.region)
    assert not result.failures, result.failures
    for finding in result.findings:  # everything the engine produces passes the strict ASFF check
        assert_valid_asff(to_asff(finding, product_arn=PRODUCT_ARN, updated_at=now))
    return result


def policy(text: str):
    return load_policy_text(text, source="test policy")


def suppress_policy(expires: str, **pattern: str):
    fields = ", ".join(f"{key}: '{value}'" for key, value in pattern.items())
    return policy(f"""
rules:
  sso_permission_set_changed:
    suppress:
      - {{{fields}, reason: 'Quarterly access review in progress (CHG-2211)',
          owner: 'iam-team@example.com', expires: {expires}}}
""")


# -- done when: a pipeline role allow-listed, a person not -------------------------------------------------

EXAMPLE_POLICY = policy((ROOT / "examples" / "policy.example.yaml").read_text())


@pytest.mark.parametrize("sample", [ATTACH_ADMIN, CREATE_PERMISSION_SET])
def test_permission_set_change_by_the_allow_listed_pipeline_is_no_finding(sample):
    assert evaluate(by_pipeline(load_sample(sample)), EXAMPLE_POLICY).findings == []


@pytest.mark.parametrize(("sample", "severity"), [(ATTACH_ADMIN, Severity.HIGH), (CREATE_PERMISSION_SET, Severity.MEDIUM)])
def test_the_same_change_by_a_person_is_a_finding(sample, severity):
    (finding,) = evaluate(load_sample(sample), EXAMPLE_POLICY).findings
    assert finding.rule_id == "sso_permission_set_changed" and finding.severity is severity
    assert finding.actor.arn.endswith("/jane@example.com") and finding.suppression is None


def test_the_pipeline_is_allow_listed_only_for_the_rules_that_name_it():
    only_assignments = policy(f"rules: {{sso_account_assignment_changed: {{allow: ['{PIPELINE_ROLE}']}}}}")
    assert len(evaluate(by_pipeline(load_sample(ATTACH_ADMIN)), only_assignments).findings) == 1
    assert evaluate(by_pipeline(load_sample(ASSIGN_TO_USER)), only_assignments).findings == []


def test_without_a_policy_the_pipeline_change_is_a_finding():
    assert len(evaluate(by_pipeline(load_sample(ATTACH_ADMIN))).findings) == 1


# -- enabled / severity ---------------------------------------------------------------------------------

def test_a_disabled_rule_does_not_run():
    record = corpus_record("invictus", "CreateAccessKey", eventID="64b7de64-bf53-47ae-b7e3-d30cb1b5136e")
    assert [f.rule_id for f in findings_from(record)] == ["iam_access_key_created"]
    disabled = policy("rules: {iam_access_key_created: {enabled: false}}")
    parsed = CloudTrailEvent.model_validate(load_sample(ATTACH_ADMIN))
    result = Engine().evaluate(parsed.detail, Context(now=NOW, policy=disabled))
    assert result.rules_run == 1  # other rules still run
    from identity_auditor.archive.inputs import as_eventbridge

    event = CloudTrailEvent.model_validate(as_eventbridge(record))
    result = Engine().evaluate(event.detail, Context(now=NOW, policy=disabled))
    assert result.findings == [] and result.rules_run == 0


def test_severity_override_replaces_the_rules_severity_and_says_so():
    lowered = policy("rules: {sso_permission_set_changed: {severity: LOW}}")
    (finding,) = evaluate(load_sample(ATTACH_ADMIN), lowered).findings
    assert finding.severity is Severity.LOW
    assert finding.details["SeverityOverride"] == "HIGH -> LOW (organisation policy)"
    raised = policy("rules: {sso_permission_set_changed: {severity: CRITICAL}}")
    (finding,) = evaluate(load_sample(CREATE_PERMISSION_SET), raised).findings
    assert finding.severity is Severity.CRITICAL
    asff = to_asff(finding, product_arn=PRODUCT_ARN, updated_at=NOW)
    assert asff["Severity"]["Label"] == "CRITICAL" == asff["FindingProviderFields"]["Severity"]["Label"]


def test_severity_override_of_another_rule_changes_nothing():
    (finding,) = evaluate(load_sample(ATTACH_ADMIN), policy("rules: {iam_user_created: {severity: LOW}}")).findings
    assert finding.severity is Severity.HIGH and "SeverityOverride" not in finding.details


# -- suppressions -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("expires", ["2026-11-22", "2027-03-31"])  # the expiry day itself still applies
def test_an_unexpired_matching_suppression_marks_the_finding(expires):
    (finding,) = evaluate(load_sample(ATTACH_ADMIN), suppress_policy(expires, resource=PERMISSION_SET)).findings
    assert finding.rule_id == "sso_permission_set_changed" and finding.severity is Severity.HIGH
    assert finding.suppression == Suppression(
        reason="Quarterly access review in progress (CHG-2211)", owner="iam-team@example.com",
        expires=date.fromisoformat(expires), pattern=PERMISSION_SET,
    )
    assert finding.summary()["suppression"]["expires"] == expires


def test_principal_pattern_matches_the_issuing_role():
    suppressed = suppress_policy("2027-01-31", principal="arn:aws:iam::*:role/aws-reserved/sso.amazonaws.com/"
                                                          "AWSReservedSSO_AdministratorAccess_*")
    (finding,) = evaluate(load_sample(CREATE_PERMISSION_SET), suppressed).findings
    assert finding.suppression is not None and finding.suppression.pattern.startswith("arn:aws:iam::*:role/")


def test_resource_and_principal_must_both_match():
    both = suppress_policy("2027-01-31", resource=PERMISSION_SET, principal="arn:aws:iam::*:role/someone-else")
    (finding,) = evaluate(load_sample(ATTACH_ADMIN), both).findings
    assert finding.suppression is None
    both = suppress_policy("2027-01-31", resource=PERMISSION_SET, principal="arn:aws:sts::*:assumed-role/*/jane@*")
    (finding,) = evaluate(load_sample(ATTACH_ADMIN), both).findings
    assert finding.suppression is not None and finding.suppression.pattern == (
        f"{PERMISSION_SET} (principal arn:aws:sts::*:assumed-role/*/jane@*)")


def test_a_suppression_of_another_resource_does_not_apply():
    other = suppress_policy("2027-01-31", resource="arn:aws:sso:::permissionSet/ssoins-72233af8ea2d1f14/ps-other")
    (finding,) = evaluate(load_sample(ATTACH_ADMIN), other).findings
    assert finding.suppression is None


def test_an_expired_suppression_no_longer_applies_and_is_reported(caplog):
    expired_policy = suppress_policy("2026-11-21", resource="arn:aws:sso:::permissionSet/*")
    with caplog.at_level(logging.WARNING, logger="identity_auditor.engine.events"):
        findings = evaluate(load_sample(ATTACH_ADMIN), expired_policy).findings
    assert [f.rule_id for f in findings] == ["sso_permission_set_changed", "policy_suppression_expired"]
    original, expired = findings
    assert original.suppression is None and original.severity is Severity.HIGH

    assert expired.severity is Severity.LOW and expired.title == "Policy suppression expired"
    assert expired.resource_type == "Other"
    assert expired.resource_id == "policy/sso_permission_set_changed/suppress[0]"
    for fact in ("sso_permission_set_changed", "arn:aws:sso:::permissionSet/*", "iam-team@example.com",
                 "2026-11-21"):
        assert fact in expired.description
    assert "renew" in expired.remediation.lower() and "remove" in expired.remediation.lower()
    assert expired.finding_types == ("Software and Configuration Checks/AWS Security Best Practices",)
    assert expired.suppression is None
    assert (expired.account_id, expired.region) == ("111122223333", "us-east-1")
    assert expired.event_id not in expired.finding_id
    assert expired.finding_id.startswith("policy_suppression_expired/111122223333/us-east-1/")
    title = to_asff(expired, product_arn=PRODUCT_ARN, updated_at=NOW)["Title"]
    assert title == ("Policy suppression expired: rules.sso_permission_set_changed.suppress[0] "
                     "(owner iam-team@example.com)")

    (record,) = [r for r in caplog.records if getattr(r, "suppress_index", None) == 0]
    assert record.levelno == logging.WARNING
    assert (record.rule_id, record.suppression_owner, record.suppression_expires) == (
        "sso_permission_set_changed", "iam-team@example.com", "2026-11-21")
    assert "expired on 2026-11-21" in record.getMessage()


def test_the_expired_entry_is_one_finding_whichever_event_meets_it():
    expired_policy = suppress_policy("2026-06-30", resource="arn:aws:sso:::permissionSet/*")
    first = evaluate(load_sample(ATTACH_ADMIN), expired_policy).findings[-1]
    second = evaluate(load_sample(CREATE_PERMISSION_SET), expired_policy).findings[-1]
    later = evaluate(load_sample(ATTACH_ADMIN), expired_policy, now=datetime(2027, 1, 5, tzinfo=timezone.utc))
    assert first.rule_id == second.rule_id == "policy_suppression_expired"
    assert first.event_id != second.event_id
    assert first.finding_id == second.finding_id == later.findings[-1].finding_id
    renewed = suppress_policy("2026-12-31", resource="arn:aws:sso:::permissionSet/*")  # same index, new expiry
    assert [f.rule_id for f in evaluate(load_sample(ATTACH_ADMIN), renewed).findings] == ["sso_permission_set_changed"]


def test_an_unexpired_entry_still_suppresses_when_an_older_one_has_expired():
    mixed = policy(f"""
rules:
  sso_permission_set_changed:
    suppress:
      - {{resource: 'arn:aws:sso:::permissionSet/*', reason: old freeze, owner: secops, expires: 2025-12-31}}
      - {{resource: '{PERMISSION_SET}', reason: review, owner: iam-team, expires: 2027-01-31}}
""")
    original, expired = evaluate(load_sample(ATTACH_ADMIN), mixed).findings
    assert original.suppression is not None and original.suppression.owner == "iam-team"
    assert expired.resource_id == "policy/sso_permission_set_changed/suppress[0]"


def test_allow_list_wins_over_suppression_and_over_expired_entries():
    text = f"""
rules:
  sso_permission_set_changed:
    allow: ['{PIPELINE_ROLE}']
    suppress:
      - {{resource: 'arn:aws:sso:::permissionSet/*', reason: old freeze, owner: secops, expires: 2025-12-31}}
"""
    assert evaluate(by_pipeline(load_sample(ATTACH_ADMIN)), policy(text)).findings == []


def test_the_expired_finding_rule_is_not_in_the_registry():
    assert SUPPRESSION_EXPIRED.id not in {rule.meta.id for rule in REGISTRY.rules}
    assert SUPPRESSION_EXPIRED.severity is Severity.LOW
    assert not REGISTRY.wants(SUPPRESSION_EXPIRED.trigger.event_source, "SuppressionExpired")


def test_samples_used_here_exist():
    for name in (ATTACH_ADMIN, CREATE_PERMISSION_SET, ASSIGN_TO_USER):
        assert (EVENTS / name).is_file()
