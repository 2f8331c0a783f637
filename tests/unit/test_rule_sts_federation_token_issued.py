"""sts_federation_token_issued: GetFederationToken by an IAM user or root; HIGH for an admin session policy."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest
from asff_validator import assert_valid_asff
from identity_auditor.engine.events import Engine
from identity_auditor.engine.registry import Registry, Rule
from identity_auditor.model.cloudtrail import CloudTrailRecord
from identity_auditor.model.contract import Context
from identity_auditor.model.policy import OrgPolicy
from identity_auditor.rules import root_account_used
from identity_auditor.rules import sts_federation_token_issued as rule
from identity_auditor.sinks.asff import to_asff
from support import changed, load_sample, run_rule

NOW = datetime(2026, 11, 22, tzinfo=timezone.utc)
PRODUCT_ARN = "arn:aws:securityhub:us-east-1:123456789012:product/123456789012/default"
ADMIN = load_sample("sts_get_federation_token_admin_session_policy__constructed")["detail"]
NARROW = load_sample("sts_get_federation_token_narrow_session_policy__constructed")["detail"]
FAILED = load_sample("sts_get_federation_token_failed__constructed")["detail"]
BERT_ARN = "arn:aws:iam::123837392027:user/bert-jan"
ROOT = {"type": "Root", "principalId": "123837392027", "arn": "arn:aws:iam::123837392027:root",
        "accountId": "123837392027", "accessKeyId": "AKIAIOSFODNN7EXAMPLE"}


def _with_request(**parameters) -> dict:
    return changed(NARROW, requestParameters={**NARROW["requestParameters"], **parameters})


def _asff(raw: dict, policy: OrgPolicy | None = None, *modules) -> list:
    ctx = Context(now=NOW, policy=policy or OrgPolicy())
    result = Engine(Registry([Rule(m.META, m.evaluate) for m in (rule, *modules)])).evaluate(
        CloudTrailRecord.model_validate(raw), ctx)
    assert result.failures == []
    for finding in result.findings:
        assert_valid_asff(to_asff(finding, product_arn=PRODUCT_ARN, updated_at=NOW))
    return result.findings


def test_admin_session_policy_is_high_and_names_the_federated_user_and_new_key():
    violation = run_rule(rule, ADMIN)
    assert violation.severity.value == "HIGH"
    assert violation.resource_id == BERT_ARN
    assert violation.details["FederatedUserArn"] == "arn:aws:sts::123837392027:federated-user/admin"
    assert violation.details["IssuedAccessKeyId"] == "ASIATFQR7NSCFEDADMN1"
    assert violation.details["SessionPolicy"] == "Statement[0] allows Action * on Resource *"
    assert violation.description.startswith("bert-jan minted a federation token for federated user admin")
    assert "allows Action * on Resource *" in violation.description
    [finding] = _asff(ADMIN)
    assert (finding.severity.value, finding.resource_type) == ("HIGH", "AwsIamUser")


def test_narrow_session_policy_is_the_base_medium():
    violation = run_rule(rule, NARROW)
    assert violation.severity is None  # the rule's MEDIUM
    assert violation.details["SessionPolicy"] == "grants no administrative power"
    assert [f.severity.value for f in _asff(NARROW)] == ["MEDIUM"]


@pytest.mark.parametrize("policy", [
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iam:*", "Resource": "*"}]},
    {"Version": "2012-10-17", "Statement": {"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}},
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["s3:*", "*:*"], "Resource": ["*"]}]},
], ids=["iam-star", "not-action", "star-colon-star"])
def test_every_admin_grant_admin_grant_knows_is_high(policy):
    assert run_rule(rule, _with_request(policy=json.dumps(policy))).severity.value == "HIGH"


def test_session_policy_given_as_an_object_is_read_too():
    # Datadog's write-up of an attack shows requestParameters.policy as an object, not a string.
    policy = {"Version": "2012-10-17", "Statement": [{"Sid": "Stmt1", "Effect": "Allow", "Action": "*", "Resource": "*"}]}
    violation = run_rule(rule, _with_request(policy=policy))
    assert violation.severity.value == "HIGH" and "Statement[0] (Sid Stmt1)" in violation.details["SessionPolicy"]


def test_deny_or_scoped_star_is_not_admin():
    scoped = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Deny", "Action": "*", "Resource": "*"},
        {"Effect": "Allow", "Action": "*", "Resource": "arn:aws:s3:::reports-123837392027/*"}]}
    assert run_rule(rule, _with_request(policy=json.dumps(scoped))).severity is None


def test_privileged_managed_policy_passed_is_high_and_listed():
    record = _with_request(policyArns=[{"arn": "arn:aws:iam::aws:policy/ReadOnlyAccess"},
                                       {"arn": "arn:aws:iam::aws:policy/AdministratorAccess"}])
    violation = run_rule(rule, record)
    assert violation.severity.value == "HIGH"
    assert "the privileged managed policy arn:aws:iam::aws:policy/AdministratorAccess" in violation.description
    assert violation.details["PolicyArns"] == ("arn:aws:iam::aws:policy/ReadOnlyAccess, "
                                               "arn:aws:iam::aws:policy/AdministratorAccess")
    _asff(record)


def test_privileged_policies_come_from_the_organisation_policy():
    record = _with_request(policyArns=[{"arn": "arn:aws:iam::123837392027:policy/break-glass"}])
    assert [f.severity.value for f in _asff(record)] == ["MEDIUM"]
    policy = OrgPolicy(privileged_policies=("arn:aws:iam::*:policy/break-glass",))
    assert [f.severity.value for f in _asff(record, policy)] == ["HIGH"]
    readonly = _with_request(policyArns=[{"arn": "arn:aws:iam::aws:policy/ReadOnlyAccess"}])
    assert run_rule(rule, readonly).severity is None


def test_no_session_policy_is_still_a_finding_that_says_so():
    record = changed(NARROW, requestParameters={"name": "bare"})
    violation = run_rule(rule, record)
    assert violation.severity is None
    assert violation.details["SessionPolicy"].startswith("none passed")


@pytest.mark.parametrize("policy", ["not json", "[1, 2]", '{"Version": "2012-10-17"}', 42, '{"Statement": ["x"]}'],
                         ids=["text", "array", "no-statement", "number", "unreadable-statement"])
def test_unreadable_session_policy_is_high_and_says_so(policy):
    violation = run_rule(rule, _with_request(policy=policy))
    assert violation.severity.value == "HIGH"
    assert "a session policy the auditor could not read" in violation.description
    assert violation.details["SessionPolicy"].startswith("could not be read (")
    assert "trust policy" not in violation.details["SessionPolicy"]


def test_missing_request_and_response_give_a_finding_without_crashing():
    record = changed(ADMIN, requestParameters=None, responseElements=None)
    violation = run_rule(rule, record)
    assert "(unnamed)" in violation.description and violation.severity is None
    assert "IssuedAccessKeyId" not in violation.details
    _asff(record)


def test_root_caller_gets_this_finding_and_root_use():
    record = changed(ADMIN, userIdentity=ROOT)
    violation = run_rule(rule, record)
    assert violation.resource_id == "AWS::::Account:123837392027" and violation.resource_type == "AwsAccount"
    assert violation.description.startswith("The root user of account 123837392027 minted")
    findings = _asff(record, None, root_account_used)
    assert {f.rule_id: f.severity.value for f in findings} == {
        "sts_federation_token_issued": "HIGH", "root_account_used": "HIGH"}


@pytest.mark.parametrize("identity_type", ["AssumedRole", "FederatedUser", "AWSService"])
def test_other_callers_are_not_findings(identity_type):
    # AWS refuses GetFederationToken to temporary credentials; a record saying otherwise is not this rule's.
    identity = {**ADMIN["userIdentity"], "type": identity_type}
    assert run_rule(rule, changed(ADMIN, userIdentity=identity)) is None


def test_ignores_failed_calls():
    assert FAILED["errorCode"] == "AccessDenied"
    assert run_rule(rule, FAILED) is None


def test_ignores_identity_center():
    assert run_rule(rule, changed(ADMIN, sourceIPAddress="sso.amazonaws.com")) is None


def test_allow_listed_caller_is_skipped():
    assert len(_asff(ADMIN)) == 1
    policy = OrgPolicy(allow={rule.META.id: ("arn:aws:iam::123837392027:user/bert-jan",)})
    assert _asff(ADMIN, policy) == []


def test_trigger_is_sts_get_federation_token_only():
    assert rule.META.trigger.event_source == "sts.amazonaws.com"
    assert rule.META.trigger.event_names == frozenset({"GetFederationToken"})
    assert not rule.META.trigger.all_management_events  # the real record is readOnly: false
    assert ADMIN["readOnly"] is False
