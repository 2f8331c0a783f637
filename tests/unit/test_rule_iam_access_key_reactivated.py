"""iam_access_key_reactivated: UpdateAccessKey to Active, never deactivations or failures."""

from __future__ import annotations

from datetime import datetime, timezone

from identity_auditor.model.policy import OrgPolicy
from identity_auditor.rules import iam_access_key_reactivated as rule
from support import changed, corpus_record, rule_findings, run_rule

NOW = datetime(2026, 11, 22, tzinfo=timezone.utc)
PRODUCT_ARN = "arn:aws:securityhub:us-east-1:123456789012:product/123456789012/default"
# The real CreateAccessKey for another user (invictus), re-shaped to the UpdateAccessKey request.
CREATED = corpus_record("invictus", "CreateAccessKey", eventID="64b7de64-bf53-47ae-b7e3-d30cb1b5136e")
KEY = CREATED["responseElements"]["accessKey"]["accessKeyId"]
OWNER = CREATED["requestParameters"]["userName"]
REACTIVATED = changed(CREATED, eventName="UpdateAccessKey", responseElements=None,
                      requestParameters={"userName": OWNER, "accessKeyId": KEY, "status": "Active"})
ROOT = {"type": "Root", "principalId": "123837392027", "arn": "arn:aws:iam::123837392027:root",
        "accountId": "123837392027"}
CFN = {"type": "AssumedRole", "principalId": "AROAEXAMPLE:AWSCloudFormation", "accountId": "123837392027",
       "arn": "arn:aws:sts::123837392027:assumed-role/cfn-deploy-role/AWSCloudFormation",
       "invokedBy": "cloudformation.amazonaws.com",
       "sessionContext": {"sessionIssuer": {"type": "Role", "userName": "cfn-deploy-role",
                                            "arn": "arn:aws:iam::123837392027:role/cfn-deploy-role"}}}


def _asff(raw: dict, policy: OrgPolicy | None = None) -> list:
    """This rule's findings through the engine, each checked as strict ASFF."""
    return rule_findings(rule, raw, policy)


def test_flags_key_reactivated_for_another_user_as_medium():
    violation = run_rule(rule, REACTIVATED)
    assert violation.severity is None  # the rule's MEDIUM, whoever owns the key
    assert violation.resource_id == KEY
    assert violation.details == {"AccessKeyId": KEY, "KeyOwner": OWNER, "ForAnotherUser": "true"}
    assert f"bert-jan reactivated IAM user {OWNER}'s access key {KEY}" in violation.description
    [finding] = _asff(REACTIVATED)
    assert (finding.severity.value, finding.resource_type) == ("MEDIUM", "AwsIamAccessKey")


def test_status_is_compared_without_case():
    assert run_rule(rule, changed(REACTIVATED, requestParameters={"accessKeyId": KEY, "status": "active"})) is not None


def test_ignores_deactivation_and_missing_status():
    assert run_rule(rule, changed(REACTIVATED, requestParameters={"userName": OWNER, "accessKeyId": KEY,
                                                                  "status": "Inactive"})) is None
    assert run_rule(rule, changed(REACTIVATED, requestParameters=None)) is None


def test_own_key_and_root_key():
    own = run_rule(rule, changed(REACTIVATED, requestParameters={"accessKeyId": KEY, "status": "Active"}))
    assert own.details["KeyOwner"] == "bert-jan" and "their own access key" in own.description
    root = run_rule(rule, changed(REACTIVATED, userIdentity=ROOT,
                                  requestParameters={"accessKeyId": "AKIAEXAMPLEROOTKEY01", "status": "Active"}))
    assert root.severity is None and root.details["KeyOwner"] == "root"  # MEDIUM; root_account_used adds HIGH


def test_ignores_failed_call():
    failed = changed(REACTIVATED, errorCode="NoSuchEntityException",
                     errorMessage=f"The Access Key with id {KEY} cannot be found.")
    assert run_rule(rule, failed) is None


def test_cloudformation_invoked_reactivation_is_still_a_finding_unless_allow_listed():
    record = changed(REACTIVATED, userIdentity=CFN, sourceIPAddress="cloudformation.amazonaws.com",
                     userAgent="cloudformation.amazonaws.com")
    [finding] = _asff(record)
    assert finding.details["ForAnotherUser"] == "false"  # role sessions are never "another user"
    assert _asff(record, OrgPolicy(allow={rule.META.id: ("arn:aws:iam::123837392027:role/cfn-deploy-role",)})) == []
