"""cognito_identity_pool_guest_access_enabled: AWS's published CreateIdentityPool record
(events/cloudtrail/cognito_create_identity_pool_guest_access.json) and UpdateIdentityPool variants.

CloudTrail records ``allowUnauthenticatedIdentities`` (lowerCamel, JSON boolean), not the API member
name ``AllowUnauthenticatedIdentities`` that spec/rules.md writes."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from asff_validator import assert_valid_asff
from identity_auditor.model.cloudtrail import CloudTrailRecord
from identity_auditor.model.contract import Severity
from identity_auditor.model.findings import build_finding
from identity_auditor.rules import cognito_identity_pool_guest_access_enabled as rule
from identity_auditor.sinks.asff import to_asff
from support import changed, corpus_records, load_sample, run_rule

NOW = datetime(2026, 11, 22, tzinfo=timezone.utc)
PRODUCT_ARN = "arn:aws:securityhub:us-east-1:123456789012:product/123456789012/default"
CREATED = load_sample("cognito_create_identity_pool_guest_access.json")["detail"]
POOL = "eu-central-1:6b2c5f4e-1d3a-4c8e-9f70-2a1b3c4dEXAMPLE"
UPDATE_REQUEST = {"identityPoolId": POOL, "identityPoolName": "StorefrontPool",
                  "allowUnauthenticatedIdentities": True, "allowClassicFlow": True}
UPDATED = changed(CREATED, eventName="UpdateIdentityPool", awsRegion="eu-central-1",
                  requestParameters=UPDATE_REQUEST, responseElements=dict(UPDATE_REQUEST))


def _asff(record: dict) -> dict:
    finding = build_finding(rule.META, run_rule(rule, record), CloudTrailRecord.model_validate(record))
    document = to_asff(finding, product_arn=PRODUCT_ARN, updated_at=NOW)
    assert_valid_asff(document)
    return document


def test_flags_the_documented_create_identity_pool_with_guest_access():
    assert CREATED["requestParameters"]["allowUnauthenticatedIdentities"] is True  # the recorded case
    violation = run_rule(rule, CREATED)
    assert rule.META.severity is Severity.MEDIUM and violation.severity is None
    pool = "us-east-1:1cf667a2-49a6-454b-9e45-23199EXAMPLE"
    assert violation.resource_id == f"arn:aws:cognito-identity:us-east-1:123456789012:identitypool/{pool}"
    assert violation.details == {"IdentityPoolId": pool, "IdentityPoolName": "TestPool"}
    assert violation.description.startswith("Alice created Cognito identity pool TestPool in account 123456789012")
    assert _asff(CREATED)["Resources"][0]["Type"] == "Other"


def test_flags_update_that_keeps_guest_access_and_reports_the_classic_flow():
    violation = run_rule(rule, UPDATED)
    assert violation.description.startswith("Alice updated Cognito identity pool StorefrontPool")
    assert violation.details["AllowClassicFlow"] == "true"
    assert violation.resource_id.endswith(f":identitypool/{POOL}")
    _asff(UPDATED)


@pytest.mark.parametrize("record", [
    changed(CREATED, requestParameters={**CREATED["requestParameters"], "allowUnauthenticatedIdentities": False},
            responseElements={**CREATED["responseElements"], "allowUnauthenticatedIdentities": False}),
    changed(UPDATED, requestParameters={**UPDATE_REQUEST, "allowUnauthenticatedIdentities": False},
            responseElements={**UPDATE_REQUEST, "allowUnauthenticatedIdentities": False}),
], ids=["create", "update"])
def test_ignores_pools_without_guest_access(record):
    assert run_rule(rule, record) is None


def test_ignores_failed_calls():
    failed = changed(CREATED, errorCode="LimitExceededException", errorMessage="Too many identity pools",
                     responseElements=None)
    assert run_rule(rule, failed) is None


def test_reads_the_response_when_the_request_lacks_the_flag_and_accepts_a_string():
    no_request_flag = changed(CREATED, requestParameters={"identityPoolName": "TestPool"})
    as_string = changed(UPDATED, requestParameters={**UPDATE_REQUEST, "allowUnauthenticatedIdentities": "true"})
    assert run_rule(rule, no_request_flag) is not None
    assert run_rule(rule, as_string) is not None


def test_a_pool_created_by_cloudformation_is_still_reported():
    cfn = {"type": "AssumedRole", "arn": "arn:aws:sts::123456789012:assumed-role/cfn-exec/AWSCloudFormation",
           "accountId": "123456789012", "invokedBy": "cloudformation.amazonaws.com"}
    violation = run_rule(rule, changed(CREATED, userIdentity=cfn))
    assert violation is not None and "(via cloudformation.amazonaws.com)" in violation.description


def test_invictus_archive_has_no_identity_pool_changes():
    assert not [r for r in corpus_records("invictus") if r["eventSource"] == "cognito-identity.amazonaws.com"]


def test_metadata():
    assert rule.META.id == rule.__name__.rsplit(".", 1)[1]
    assert len(rule.META.remediation) <= 512
    assert rule.META.remediation_url.startswith("https://docs.aws.amazon.com/")
