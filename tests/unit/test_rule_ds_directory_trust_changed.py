"""ds_directory_trust_changed: Create/Delete/UpdateTrust built on a real invictus record's frame with
the documented Directory Service request members (no public ds trust record exists)."""

from __future__ import annotations

import json
from datetime import datetime, timezone

from asff_validator import assert_valid_asff
from identity_auditor.model.cloudtrail import CloudTrailRecord
from identity_auditor.model.contract import Severity
from identity_auditor.model.findings import build_finding
from identity_auditor.rules import ds_directory_trust_changed as rule
from identity_auditor.sinks.asff import to_asff
from support import changed, corpus_record, run_rule

NOW = datetime(2026, 11, 22, tzinfo=timezone.utc)
PRODUCT_ARN = "arn:aws:securityhub:us-east-1:123456789012:product/123456789012/default"
FRAME = corpus_record("invictus", "CreateTrail", eventID="3a1acb39-c13b-4e73-a0e3-dcd8ce5c1a3a")
CREATE_REQUEST = {
    "directoryId": "d-9367a1b2c3",
    "remoteDomainName": "corp.example.com",
    "trustPassword": "HIDDEN_DUE_TO_SECURITY_REASONS",
    "trustDirection": "Two-Way",
    "trustType": "Forest",
    "conditionalForwarderIpAddrs": ["10.20.0.10"],
    "selectiveAuth": "Disabled",
}
CREATED = changed(FRAME, eventSource="ds.amazonaws.com", eventName="CreateTrust", awsRegion="eu-west-1",
                  requestParameters=CREATE_REQUEST, responseElements={"trustId": "t-9367d4e5f6"})
DELETED = changed(CREATED, eventName="DeleteTrust", awsRegion="us-east-1",
                  requestParameters={"trustId": "t-9067a7b8c9", "deleteAssociatedConditionalForwarder": True},
                  responseElements={"trustId": "t-9067a7b8c9"})
UPDATED = changed(CREATED, eventName="UpdateTrust",
                  requestParameters={"trustId": "t-9367d4e5f6", "selectiveAuth": "Enabled"},
                  responseElements={"requestId": "a1b2c3d4-0000-4000-8000-000000000001", "trustId": "t-9367d4e5f6"})


def _asff(record: dict) -> dict:
    finding = build_finding(rule.META, run_rule(rule, record), CloudTrailRecord.model_validate(record))
    document = to_asff(finding, product_arn=PRODUCT_ARN, updated_at=NOW)
    assert_valid_asff(document)
    return document


def test_flags_a_new_trust_with_its_direction_and_never_the_password():
    violation = run_rule(rule, CREATED)
    assert rule.META.severity is Severity.MEDIUM and violation.severity is None
    assert violation.resource_id == "t-9367d4e5f6"
    assert violation.description == (
        "bert-jan created a trust with corp.example.com (Two-Way) on directory d-9367a1b2c3 in account "
        "123837392027 (eu-west-1).")
    assert violation.details == {"DirectoryId": "d-9367a1b2c3", "RemoteDomainName": "corp.example.com",
                                 "TrustDirection": "Two-Way", "TrustType": "Forest", "SelectiveAuth": "Disabled",
                                 "TrustId": "t-9367d4e5f6"}
    document = _asff(CREATED)
    assert "HIDDEN_DUE_TO_SECURITY_REASONS" not in json.dumps(document)
    assert document["Resources"][0]["Type"] == "Other"


def test_flags_deleted_and_updated_trusts():
    deleted, updated = run_rule(rule, DELETED), run_rule(rule, UPDATED)
    assert deleted.description.startswith("bert-jan deleted trust t-9067a7b8c9 on an AWS Managed Microsoft AD")
    assert deleted.resource_id == "t-9067a7b8c9"
    assert updated.details == {"SelectiveAuth": "Enabled", "TrustId": "t-9367d4e5f6"}
    assert updated.resource_id == run_rule(rule, CREATED).resource_id  # same trust, same resource
    _asff(DELETED)
    _asff(UPDATED)


def test_without_a_trust_id_the_directory_is_the_resource():
    violation = run_rule(rule, changed(CREATED, responseElements=None))
    assert violation.resource_id == "arn:aws:ds:eu-west-1:123837392027:directory/d-9367a1b2c3"


def test_ignores_failed_calls():
    failed = changed(CREATED, errorCode="EntityAlreadyExistsException", responseElements=None,
                     errorMessage="A trust relationship with corp.example.com already exists.")
    assert run_rule(rule, failed) is None


def test_verify_trust_is_not_in_the_trigger():
    assert not rule.META.trigger.matches("ds.amazonaws.com", "VerifyTrust", "IAMUser")
    assert rule.META.trigger.matches("ds.amazonaws.com", "CreateTrust", "IAMUser")


def test_a_trust_made_by_cloudformation_is_still_reported():
    cfn = {"type": "AssumedRole", "arn": "arn:aws:sts::123837392027:assumed-role/cfn-exec/AWSCloudFormation",
           "accountId": "123837392027", "invokedBy": "cloudformation.amazonaws.com"}
    violation = run_rule(rule, changed(CREATED, userIdentity=cfn, sourceIPAddress="cloudformation.amazonaws.com"))
    assert violation is not None and "(via cloudformation.amazonaws.com)" in violation.description


def test_metadata():
    assert rule.META.id == rule.__name__.rsplit(".", 1)[1]
    assert len(rule.META.remediation) <= 512
    assert rule.META.remediation_url.startswith("https://docs.aws.amazon.com/")
    assert rule.META.compliance == ()
