"""iam_mfa_device_removed: root's device (CRITICAL) vs users' devices, failures, CloudFormation, allow-list."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest
from identity_auditor.model.contract import Severity
from identity_auditor.model.policy import OrgPolicy
from identity_auditor.rules import iam_mfa_device_removed as rule
from support import CORPUS, changed, corpus_record, rule_findings, run_rule

NOW = datetime(2026, 11, 22, tzinfo=timezone.utc)
PRODUCT_ARN = "arn:aws:securityhub:us-east-1:123456789012:product/123456789012/default"
# AWS's real root EnableMFADevice record (userName "AWS ROOT USER", root's device serial number).
ROOT_ENABLE = json.loads(
    (CORPUS / "aws-docs/cloudtrail/cloudtrail-event-reference-aws-console-sign-in-events__09.json").read_text())
ROOT_DEACTIVATE = changed(ROOT_ENABLE, eventName="DeactivateMFADevice")
# A real IAM write by the IAM user bert-jan, re-shaped to the DeactivateMFADevice request.
BERT = corpus_record("invictus", "CreateLoginProfile", eventID="f0d7bb15-75c8-4770-a500-92d1f71b948c")
SERIAL = "arn:aws:iam::123837392027:mfa/stratus-red-team-login-profile-user"
FOR_OTHER = changed(BERT, eventName="DeactivateMFADevice", responseElements=None,
                    requestParameters={"userName": "stratus-red-team-login-profile-user", "serialNumber": SERIAL})
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


def test_root_deactivating_its_own_device_is_critical():
    violation = run_rule(rule, ROOT_DEACTIVATE)
    assert violation.severity is Severity.CRITICAL
    assert (violation.resource_type, violation.resource_id) == ("AwsAccount", "AWS::::Account:111122223333")
    assert violation.details == {"SerialNumber": "arn:aws:iam::111122223333:mfa/root-account-mfa-device",
                                 "DeviceOwner": "root"}
    assert "root user's MFA device" in violation.description
    [finding] = _asff(ROOT_DEACTIVATE)
    assert finding.severity is Severity.CRITICAL


@pytest.mark.parametrize("request_parameters, identity", [
    ({"serialNumber": "arn:aws:iam::123837392027:mfa/root-account-mfa-device"}, None),  # by serial number
    ({"userName": "AWS ROOT USER", "serialNumber": "arn:aws:iam::123837392027:mfa/my-yubikey"}, None),  # by name
    ({"serialNumber": "arn:aws:iam::123837392027:mfa/my-yubikey"}, ROOT),  # root caller, no userName
], ids=["serial", "user-name", "root-caller"])
def test_root_device_is_recognised_three_ways(request_parameters, identity):
    record = changed(FOR_OTHER, requestParameters=request_parameters, userIdentity=identity or BERT["userIdentity"])
    assert run_rule(rule, record).severity is Severity.CRITICAL


def test_deleting_roots_virtual_device_is_critical_but_root_deleting_any_device_is_not():
    by_serial = changed(ROOT_DEACTIVATE, eventName="DeleteVirtualMFADevice",
                        requestParameters={"serialNumber": "arn:aws:iam::111122223333:mfa/root-account-mfa-device"})
    assert run_rule(rule, by_serial).severity is Severity.CRITICAL
    some_device = changed(by_serial, requestParameters={"serialNumber": "arn:aws:iam::111122223333:mfa/bob"})
    violation = run_rule(rule, some_device)
    assert violation.severity is None and violation.resource_type == "Other"  # HIGH, owner unknown


def test_flags_device_of_another_user_as_high():
    violation = run_rule(rule, FOR_OTHER)
    assert violation.severity is None  # the rule's HIGH
    assert violation.resource_id == "arn:aws:iam::123837392027:user/stratus-red-team-login-profile-user"
    assert violation.details["DeviceOwner"] == "stratus-red-team-login-profile-user"
    assert "bert-jan deactivated" in violation.description
    [finding] = _asff(FOR_OTHER)
    assert (finding.severity, finding.resource_type) == (Severity.HIGH, "AwsIamUser")


def test_own_device_without_user_name_belongs_to_the_caller():
    violation = run_rule(rule, changed(FOR_OTHER, requestParameters={"serialNumber": SERIAL}))
    assert violation.severity is None
    assert violation.resource_id == "arn:aws:iam::123837392027:user/bert-jan"


def test_deleted_virtual_device_names_the_device():
    record = changed(FOR_OTHER, eventName="DeleteVirtualMFADevice", requestParameters={"serialNumber": SERIAL})
    violation = run_rule(rule, record)
    assert (violation.resource_type, violation.resource_id) == ("Other", SERIAL)
    _asff(record)


def test_ignores_failed_calls():
    failed = changed(FOR_OTHER, errorCode="NoSuchEntityException", errorMessage=f"MFA Device {SERIAL} not found.")
    assert run_rule(rule, failed) is None
    assert run_rule(rule, changed(ROOT_DEACTIVATE, errorCode="AccessDenied", errorMessage="denied")) is None


def test_cloudformation_invoked_removal_is_still_a_finding_unless_allow_listed():
    record = changed(FOR_OTHER, userIdentity=CFN, sourceIPAddress="cloudformation.amazonaws.com",
                     userAgent="cloudformation.amazonaws.com")
    assert len(_asff(record)) == 1
    for pattern in ("arn:aws:iam::*:role/cfn-deploy-role", "arn:aws:sts::*:assumed-role/cfn-deploy-role/*"):
        assert _asff(record, OrgPolicy(allow={rule.META.id: (pattern,)})) == []
    assert len(_asff(record, OrgPolicy(allow={"iam_user_created": ("arn:aws:iam::*:role/cfn-deploy-role",)}))) == 1
