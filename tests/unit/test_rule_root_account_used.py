"""root_account_used: any successful call or console sign-in by root, never AWS services acting for root."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest
from asff_validator import assert_valid_asff
from identity_auditor.engine.events import Engine
from identity_auditor.engine.registry import REGISTRY, Registry, Rule
from identity_auditor.model.cloudtrail import CloudTrailRecord
from identity_auditor.model.contract import Context
from identity_auditor.rules import root_account_used as rule
from identity_auditor.sinks.asff import to_asff
from support import CORPUS, changed, corpus_records, load_sample, run_rule

NOW = datetime(2026, 11, 22, tzinfo=timezone.utc)
PRODUCT_ARN = "arn:aws:securityhub:us-east-1:123456789012:product/123456789012/default"
DOCS = CORPUS / "aws-docs" / "cloudtrail"


def _docs(number: str) -> dict:
    return json.loads((DOCS / f"cloudtrail-event-reference-aws-console-sign-in-events__{number}.json").read_text())


CREATE_BUCKET = json.loads((CORPUS / "aws-docs/eventbridge/awsdocs-cwe__AWS_API_Call_via_CloudTrail.json").read_text())["detail"]
LOGIN_WITHOUT_MFA, LOGIN_WITH_MFA, LOGIN_FAILED = _docs("06"), _docs("07"), _docs("08")
ENABLE_MFA, PASSWORD_UPDATED = _docs("09"), _docs("10")
IDENTITY_CENTER_PROVISIONING = load_sample("iam_create_role_reserved_by_identity_center__constructed")["detail"]


def _engine(*rules) -> Engine:
    others = [known for known in rules if known.meta.id != rule.META.id]
    return Engine(Registry([*others, Rule(rule.META, rule.evaluate)]))


def _asff_findings(raw: dict, engine: Engine | None = None) -> list:
    result = (engine or _engine()).evaluate(CloudTrailRecord.model_validate(raw), Context(now=NOW))
    assert result.failures == []
    for finding in result.findings:
        assert_valid_asff(to_asff(finding, product_arn=PRODUCT_ARN, updated_at=NOW))
    return result.findings


def test_flags_root_api_call_from_the_real_eventbridge_sample():
    violation = run_rule(rule, CREATE_BUCKET)
    assert violation is not None and violation.severity is None  # the rule's HIGH
    assert violation.resource_id == "AWS::::Account:123456789012"
    assert "CreateBucket" in violation.description and "100.100.100.100" in violation.description
    assert violation.details["MFAUsed"] == "No"
    [finding] = _asff_findings(CREATE_BUCKET)
    assert (finding.severity.value, finding.resource_type) == ("HIGH", "AwsAccount")


@pytest.mark.parametrize("record", [LOGIN_WITHOUT_MFA, LOGIN_WITH_MFA], ids=["without-mfa", "with-mfa"])
def test_successful_root_console_login_is_root_use_with_or_without_mfa(record):
    violation = run_rule(rule, record)
    assert "signed in to the console" in violation.description
    assert violation.details["MFAUsed"] == record["additionalEventData"]["MFAUsed"]
    _asff_findings(record)


def test_root_login_without_mfa_also_gets_the_mfa_rule_finding():
    findings = _asff_findings(LOGIN_WITHOUT_MFA, _engine(*REGISTRY.rules))
    assert {f.rule_id: f.severity.value for f in findings} == {
        "signin_console_login_without_mfa": "CRITICAL", "root_account_used": "HIGH"}
    assert len({f.finding_id for f in findings}) == 2


def test_ignores_failed_root_login():
    assert run_rule(rule, LOGIN_FAILED) is None  # errorMessage + ConsoleLogin Failure, no errorCode


@pytest.mark.parametrize("record", [ENABLE_MFA, PASSWORD_UPDATED], ids=["EnableMFADevice", "PasswordUpdated"])
def test_flags_root_credential_work(record):
    violation = run_rule(rule, record)
    assert record["eventName"] in violation.description
    _asff_findings(record)


def test_read_only_calls_count():
    violation = run_rule(rule, changed(CREATE_BUCKET, eventName="ListBuckets", readOnly=True, requestParameters=None))
    assert violation is not None and violation.details["ReadOnly"] == "true"


def test_root_console_action_invoked_by_signin_is_a_person():
    identity = {**CREATE_BUCKET["userIdentity"], "invokedBy": "signin.amazonaws.com"}
    assert run_rule(rule, changed(CREATE_BUCKET, userIdentity=identity)) is not None


@pytest.mark.parametrize("service", ["sso.amazonaws.com", "cloudformation.amazonaws.com"])
def test_ignores_aws_services_acting_for_root(service):
    identity = {**CREATE_BUCKET["userIdentity"], "invokedBy": service}
    assert run_rule(rule, changed(CREATE_BUCKET, userIdentity=identity, sourceIPAddress=service)) is None


def test_invoked_by_aws_internal_is_no_service_acting_for_root():
    """Spec §A: ``invokedBy: "AWS Internal"`` is not a service acting for root; a root PutBucketPolicy from the
    console carrying it is root use (found missed by an adversarial review)."""
    identity = {**CREATE_BUCKET["userIdentity"], "invokedBy": "AWS Internal"}
    assert run_rule(rule, changed(CREATE_BUCKET, userIdentity=identity, eventName="PutBucketPolicy",
                                  sessionCredentialFromConsole="true")) is not None


def test_ignores_identity_center_provisioning_in_the_management_account():
    assert run_rule(rule, IDENTITY_CENTER_PROVISIONING) is None
    assert run_rule(rule, changed(CREATE_BUCKET, sourceIPAddress="sso.amazonaws.com")) is None


def test_ignores_service_events_and_failed_calls():
    assert run_rule(rule, changed(CREATE_BUCKET, eventType="AwsServiceEvent")) is None
    assert run_rule(rule, changed(CREATE_BUCKET, errorCode="AccessDenied", errorMessage="denied")) is None


def test_ignores_everyone_but_root():
    user = {"type": "IAMUser", "principalId": "AIDAEXAMPLE", "arn": "arn:aws:iam::123456789012:user/alice",
            "accountId": "123456789012", "userName": "alice"}
    record = changed(CREATE_BUCKET, userIdentity=user)
    assert run_rule(rule, record) is None
    parsed = CloudTrailRecord.model_validate(record)
    assert not _engine().registry.wants(parsed.event_source, parsed.event_name, parsed.user_identity.type)


def test_trigger_asks_for_every_root_management_event():
    [route] = Registry([Rule(rule.META, rule.evaluate)]).routes()
    assert route.all_management_events
    assert route.pattern == {
        "source": [{"prefix": "aws."}],
        "detail-type": ["AWS API Call via CloudTrail", "AWS Console Sign In via CloudTrail"],
        "detail": {"userIdentity": {"type": ["Root"]}},
    }


def test_nothing_fires_on_the_invictus_archive_which_has_no_root_activity():
    engine = _engine()
    assert [f for raw in corpus_records("invictus") for f in _asff_findings(raw, engine)] == []


# -- root sessions opened with sts:AssumeRoot (centralized root access) ----------------------------------------------

# AWS's member-account record of an AssumeRoot session's action (IAM User Guide, "Track privileged tasks in AWS
# CloudTrail"): type Root, the session's ASIA key, sessionContext.attributes only, no assumedRoot flag.
ROOT_SESSION_AS_DOCUMENTED = load_sample(
    "s3_delete_bucket_policy_root_session_without_assumed_root_flag__constructed")["detail"]
# The same record with sessionContext.assumedRoot "true", as the CloudTrail userIdentity reference describes it.
ROOT_SESSION_FLAGGED = load_sample("s3_delete_bucket_policy_root_assume_root_session__constructed")["detail"]


def test_assume_root_session_is_still_root_use_but_low():
    violation = run_rule(rule, ROOT_SESSION_FLAGGED)
    assert violation.severity.value == "LOW"
    assert violation.resource_id == "AWS::::Account:222222222222"
    assert violation.description == (
        "The root user of account 222222222222 called DeleteBucketPolicy (s3.amazonaws.com) from 192.0.2.1 in a "
        "privileged root session opened with sts:AssumeRoot from the management or delegated-admin account.")
    # The session's key id is how it is matched to the caller's AssumeRoot record (sts_root_session_assumed).
    assert violation.details["AccessKeyId"] == "ASIAIOSFODNN7EXAMPL3"
    assert violation.details["Session"] == "sts:AssumeRoot (centralized root access)"
    [finding] = _asff_findings(ROOT_SESSION_FLAGGED)
    assert (finding.severity.value, finding.resource_type) == ("LOW", "AwsAccount")


@pytest.mark.parametrize("flag", ["true", "TRUE"])
def test_assumed_root_flag_is_read_ignoring_case(flag):
    identity = ROOT_SESSION_FLAGGED["userIdentity"]
    record = changed(ROOT_SESSION_FLAGGED, userIdentity={
        **identity, "sessionContext": {**identity["sessionContext"], "assumedRoot": flag}})
    assert run_rule(rule, record).severity.value == "LOW"


@pytest.mark.parametrize("flag", ["false", "", None], ids=["false", "empty", "null"])
def test_root_session_without_a_true_flag_keeps_high(flag):
    identity = ROOT_SESSION_FLAGGED["userIdentity"]
    record = changed(ROOT_SESSION_FLAGGED, userIdentity={
        **identity, "sessionContext": {**identity["sessionContext"], "assumedRoot": flag}})
    assert run_rule(rule, record).severity is None


def test_the_member_record_aws_documents_has_no_flag_so_it_stays_high():
    # Only the flag is used: matching the ASIA key to an AssumeRoot the auditor saw needs state across events.
    assert "assumedRoot" not in ROOT_SESSION_AS_DOCUMENTED["userIdentity"]["sessionContext"]
    assert ROOT_SESSION_AS_DOCUMENTED["userIdentity"]["accessKeyId"].startswith("ASIA")
    violation = run_rule(rule, ROOT_SESSION_AS_DOCUMENTED)
    assert violation.severity is None and "Session" not in violation.details
    assert [f.severity.value for f in _asff_findings(ROOT_SESSION_AS_DOCUMENTED)] == ["HIGH"]


def test_assume_root_session_low_sits_next_to_a_console_root_call_high():
    engine = _engine(*REGISTRY.rules)
    assert {f.rule_id: f.severity.value for f in _asff_findings(ROOT_SESSION_FLAGGED, engine)} == {
        "root_account_used": "LOW"}
    assert {f.rule_id: f.severity.value for f in _asff_findings(CREATE_BUCKET, engine)} == {
        "root_account_used": "HIGH"}


def test_assume_root_session_is_still_skipped_when_a_service_acts_for_it_or_it_failed():
    identity = {**ROOT_SESSION_FLAGGED["userIdentity"], "invokedBy": "cloudformation.amazonaws.com"}
    assert run_rule(rule, changed(ROOT_SESSION_FLAGGED, userIdentity=identity)) is None
    assert run_rule(rule, changed(ROOT_SESSION_FLAGGED, errorCode="AccessDenied", errorMessage="denied")) is None
