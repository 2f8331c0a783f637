"""iam_login_profile_changed: another user (HIGH) vs self/roles (MEDIUM), root, no passwords, CloudFormation."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest
from asff_validator import assert_valid_asff
from identity_auditor.engine.events import Engine
from identity_auditor.engine.registry import Registry, Rule
from identity_auditor.model.cloudtrail import CloudTrailRecord
from identity_auditor.model.contract import Context, Severity
from identity_auditor.model.policy import OrgPolicy
from identity_auditor.rules import iam_login_profile_changed as rule
from identity_auditor.sinks.asff import to_asff
from support import changed, corpus_record, run_rule

NOW = datetime(2026, 11, 22, tzinfo=timezone.utc)
PRODUCT_ARN = "arn:aws:securityhub:us-east-1:123456789012:product/123456789012/default"
FOR_OTHER = corpus_record("invictus", "CreateLoginProfile", eventID="f0d7bb15-75c8-4770-a500-92d1f71b948c")
TARGET = "stratus-red-team-login-profile-user"
SELF_UPDATE = changed(FOR_OTHER, eventName="UpdateLoginProfile", responseElements=None,
                      requestParameters={"userName": "bert-jan", "passwordResetRequired": False})
ROOT = {"type": "Root", "principalId": "123837392027", "arn": "arn:aws:iam::123837392027:root",
        "accountId": "123837392027"}
ROLE = {"type": "AssumedRole", "principalId": "AROAEXAMPLE:alice", "accountId": "123837392027",
        "arn": "arn:aws:sts::123837392027:assumed-role/IAM/alice",
        "sessionContext": {"sessionIssuer": {"type": "Role", "userName": "IAM",
                                             "arn": "arn:aws:iam::123837392027:role/IAM"}}}
CFN = {**ROLE, "arn": "arn:aws:sts::123837392027:assumed-role/cfn-deploy-role/AWSCloudFormation",
       "invokedBy": "cloudformation.amazonaws.com",
       "sessionContext": {"sessionIssuer": {"type": "Role", "userName": "cfn-deploy-role",
                                            "arn": "arn:aws:iam::123837392027:role/cfn-deploy-role"}}}
SECRET = "Sup3r-Secret-Passw0rd!"


def _asff(raw: dict, policy: OrgPolicy | None = None) -> list[dict]:
    ctx = Context(now=NOW, policy=policy or OrgPolicy())
    result = Engine(Registry([Rule(rule.META, rule.evaluate)])).evaluate(CloudTrailRecord.model_validate(raw), ctx)
    assert result.failures == []
    documents = [to_asff(finding, product_arn=PRODUCT_ARN, updated_at=NOW) for finding in result.findings]
    for document in documents:
        assert_valid_asff(document)
    return documents


def test_flags_real_login_profile_created_for_another_user_as_high():
    violation = run_rule(rule, FOR_OTHER)
    assert violation.severity is Severity.HIGH
    assert violation.resource_id == f"arn:aws:iam::123837392027:user/{TARGET}"
    assert violation.details == {"EventName": "CreateLoginProfile", "ResetRequiredAtNextSignIn": "false",
                                 "UserName": TARGET}
    assert f"bert-jan created the console password of another IAM user, {TARGET}" in violation.description
    [document] = _asff(FOR_OTHER)
    assert document["Severity"]["Label"] == "HIGH"


@pytest.mark.parametrize("record", [
    SELF_UPDATE,
    changed(SELF_UPDATE, requestParameters={"passwordResetRequired": True}),  # no userName: the caller
    changed(FOR_OTHER, userIdentity=ROLE),  # role sessions acting on users get the base severity
], ids=["self-named", "self-unnamed", "role-session"])
def test_self_and_role_sessions_are_medium(record):
    violation = run_rule(rule, record)
    assert violation.severity is None  # the rule's MEDIUM
    _asff(record)


def test_root_for_another_user_is_high_and_for_itself_medium():
    assert run_rule(rule, changed(FOR_OTHER, userIdentity=ROOT)).severity is Severity.HIGH
    own = changed(FOR_OTHER, userIdentity=ROOT, requestParameters=None)
    violation = run_rule(rule, own)
    assert violation.severity is None
    assert (violation.resource_type, violation.resource_id) == ("AwsAccount", "AWS::::Account:123837392027")
    _asff(own)


@pytest.mark.parametrize("event_name", ["CreateLoginProfile", "UpdateLoginProfile"])
def test_a_password_in_the_request_never_reaches_the_finding(event_name):
    record = changed(FOR_OTHER, eventName=event_name,
                     requestParameters={"userName": TARGET, "password": SECRET, "passwordResetRequired": True})
    violation = run_rule(rule, record)
    assert SECRET not in violation.description and SECRET not in json.dumps(violation.details)
    assert not [key for key in violation.details if "password" in key.lower()]
    [document] = _asff(record)
    assert SECRET not in json.dumps(document)


def test_ignores_failed_call():
    failed = changed(FOR_OTHER, errorCode="EntityAlreadyExistsException", responseElements=None,
                     errorMessage=f"Login Profile for user {TARGET} already exists.")
    assert run_rule(rule, failed) is None


def test_cloudformation_invoked_change_is_still_a_finding_unless_allow_listed():
    record = changed(FOR_OTHER, userIdentity=CFN, sourceIPAddress="cloudformation.amazonaws.com",
                     userAgent="cloudformation.amazonaws.com")
    [document] = _asff(record)
    assert document["Severity"]["Label"] == "MEDIUM"
    assert _asff(record, OrgPolicy(allow={rule.META.id: ("arn:aws:sts::*:assumed-role/cfn-deploy-role/*",)})) == []
