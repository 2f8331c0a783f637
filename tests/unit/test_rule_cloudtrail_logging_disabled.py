"""cloudtrail_logging_disabled: real invictus StopLogging / DeleteTrail / PutEventSelectors records (the
successes and the TrailNotFoundException failures), AWS's failed UpdateTrail sample, and variants."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from asff_validator import assert_valid_asff
from identity_auditor.model.cloudtrail import CloudTrailRecord
from identity_auditor.model.contract import Context, Severity
from identity_auditor.model.findings import build_finding
from identity_auditor.rules import cloudtrail_logging_disabled as rule
from identity_auditor.sinks.asff import to_asff
from support import changed, corpus_record, corpus_records, load_sample, run_rule

NOW = datetime(2026, 11, 22, tzinfo=timezone.utc)
PRODUCT_ARN = "arn:aws:securityhub:us-east-1:123456789012:product/123456789012/default"
DELETED = corpus_record("invictus", "DeleteTrail", eventID="fcec2e46-3cc3-4ac2-8144-3674f06990e4")
DELETE_FAILED = corpus_record("invictus", "DeleteTrail", errorCode="TrailNotFoundException")
STOP_FAILED = corpus_record("invictus", "StopLogging", errorCode="TrailNotFoundException")
DROP_MANAGEMENT = corpus_record("invictus", "PutEventSelectors", eventID="076e96d5-2983-473f-920a-2fc2d7e02777")
KEEP_MANAGEMENT = corpus_record("invictus", "PutEventSelectors", eventID="3d6df238-f83c-4a34-bea8-45cf80a2050b")
UPDATE_FAILED = corpus_record("aws-docs", "UpdateTrail")  # TrailNotFoundException, us-east-2
UPDATED = changed(UPDATE_FAILED, errorCode=None, errorMessage=None)
TRAIL = "stratus-red-team-ctes-trail-qyxyekjbtk"
CFN = {
    "type": "AssumedRole",
    "principalId": "AROAEXAMPLECFNEXEC01:AWSCloudFormation",
    "arn": "arn:aws:sts::123837392027:assumed-role/cfn-exec-baseline/AWSCloudFormation",
    "accountId": "123837392027",
    "sessionContext": {"sessionIssuer": {"type": "Role", "userName": "cfn-exec-baseline",
                                         "arn": "arn:aws:iam::123837392027:role/cfn-exec-baseline"}},
    "invokedBy": "cloudformation.amazonaws.com",
}


def _selectors(*selectors: dict, advanced: bool = False) -> dict:
    """A PutEventSelectors record whose request and response (the trail's new selectors) are ``selectors``."""
    key = "advancedEventSelectors" if advanced else "eventSelectors"
    return changed(DROP_MANAGEMENT, requestParameters={"trailName": TRAIL, key: list(selectors)},
                   responseElements={"trailARN": DROP_MANAGEMENT["responseElements"]["trailARN"],
                                     key: list(selectors)})


def _asff(record: dict) -> dict:
    finding = build_finding(rule.META, run_rule(rule, record), CloudTrailRecord.model_validate(record))
    document = to_asff(finding, product_arn=PRODUCT_ARN, updated_at=NOW)
    assert_valid_asff(document)
    return document


def test_flags_the_real_successful_delete_trail_as_critical():
    violation = run_rule(rule, DELETED)
    assert violation.severity is None and rule.META.severity is Severity.CRITICAL
    assert violation.resource_id == f"arn:aws:cloudtrail:us-east-1:123837392027:trail/{TRAIL}"
    assert violation.details == {"TrailName": TRAIL, "Change": "trail deleted"}
    assert violation.description.startswith(f"bert-jan deleted CloudTrail trail {TRAIL} in account 123837392027")
    document = _asff(DELETED)
    assert document["Resources"][0]["Type"] == "AwsCloudTrailTrail"
    assert document["Severity"]["Label"] == "CRITICAL"
    assert "TTPs/Defense Evasion" in document["Types"]
    assert document["Compliance"]["RelatedRequirements"] == [
        "CIS AWS Foundations Benchmark v5.0.0/4.5", "CIS AWS Foundations Benchmark v5.0.0/3.1"]


@pytest.mark.parametrize("record", [DELETE_FAILED, STOP_FAILED, UPDATE_FAILED], ids=["delete", "stop", "update"])
def test_ignores_calls_that_failed_with_trail_not_found(record):
    assert record["errorCode"] == "TrailNotFoundException"
    assert run_rule(rule, record) is None


def test_flags_successful_stop_logging_named_by_arn():
    arn = "arn:aws:cloudtrail:us-east-1:123837392027:trail/management-events"
    record = changed(STOP_FAILED, errorCode=None, errorMessage=None, requestParameters={"name": arn})
    violation = run_rule(rule, record)
    assert violation.resource_id == arn
    assert violation.details == {"TrailName": "management-events", "Change": "logging stopped"}
    assert "stopped logging on CloudTrail trail management-events" in violation.description
    _asff(record)


def test_a_stack_deleting_the_trail_still_leaves_you_blind():
    record = changed(DELETED, userIdentity=CFN, sourceIPAddress="cloudformation.amazonaws.com",
                     userAgent="cloudformation.amazonaws.com", awsRegion="ap-southeast-2")
    violation = run_rule(rule, record)
    assert violation is not None
    assert "via cloudformation.amazonaws.com" in violation.description
    assert violation.resource_id == f"arn:aws:cloudtrail:ap-southeast-2:123837392027:trail/{TRAIL}"
    document = _asff(record)
    assert document["ProductFields"]["identity-auditor/InvokedBy"] == "cloudformation.amazonaws.com"


def test_flags_the_real_put_event_selectors_that_drops_management_events():
    violation = run_rule(rule, DROP_MANAGEMENT)
    assert violation.details["Change"] == "now records no management events"
    assert violation.resource_id == f"arn:aws:cloudtrail:us-east-1:123837392027:trail/{TRAIL}"  # response trailARN
    _asff(DROP_MANAGEMENT)


def test_ignores_the_real_put_event_selectors_that_keeps_management_events():
    assert run_rule(rule, KEEP_MANAGEMENT) is None


def test_the_selectors_in_the_response_are_the_trails_new_configuration():
    request_only = changed(DROP_MANAGEMENT, responseElements=None)
    assert run_rule(rule, request_only).details["Change"] == "now records no management events"
    keeps = changed(DROP_MANAGEMENT, responseElements=KEEP_MANAGEMENT["responseElements"])
    assert run_rule(rule, keeps) is None


@pytest.mark.parametrize(
    "selectors, change",
    [
        ([{"readWriteType": "ReadOnly", "includeManagementEvents": True, "dataResources": []}],
         "now records only read-only management events"),
        ([{"readWriteType": "All", "includeManagementEvents": False, "dataResources": []},
          {"readWriteType": "ReadOnly", "includeManagementEvents": True, "dataResources": []}],
         "now records only read-only management events"),
        ([{"readWriteType": "All"}], None),
        ([], None),
        ([{"readWriteType": "WriteOnly", "includeManagementEvents": True}], None),
        ([{"readWriteType": "All", "includeManagementEvents": True,
           "excludeManagementEventSources": ["kms.amazonaws.com"]}], None),
        ([{"readWriteType": "All", "includeManagementEvents": False},
          {"readWriteType": "All", "includeManagementEvents": True}], None),
    ],
    ids=["read-only", "read-only-plus-data", "default-includes-management", "empty", "write-only", "kms-excluded",
         "second-selector-keeps"],
)
def test_basic_event_selectors(selectors, change):
    violation = run_rule(rule, _selectors(*selectors))
    assert (violation.details["Change"] if violation else None) == change


MANAGEMENT = {"field": "eventCategory", "equals": ["Management"]}
DATA_S3 = [{"field": "eventCategory", "equals": ["Data"]}, {"field": "resources.type", "equals": ["AWS::S3::Object"]}]


@pytest.mark.parametrize(
    "selectors, change",
    [
        ([{"name": "S3 data events", "fieldSelectors": DATA_S3}], "now records no management events"),
        ([{"name": "reads", "fieldSelectors": [MANAGEMENT, {"field": "readOnly", "equals": ["true"]}]}],
         "now records only read-only management events"),
        ([{"name": "Management events", "fieldSelectors": [MANAGEMENT]},
          {"name": "S3 data events", "fieldSelectors": DATA_S3}], None),
        ([{"name": "writes", "fieldSelectors": [MANAGEMENT, {"field": "readOnly", "equals": ["false"]}]}], None),
    ],
    ids=["data-only", "management-read-only", "management-and-data", "management-writes"],
)
def test_advanced_event_selectors(selectors, change):
    violation = run_rule(rule, _selectors(*selectors, advanced=True))
    assert (violation.details["Change"] if violation else None) == change


@pytest.mark.parametrize(
    "request_parameters, turned_off",
    [
        ({"enableLogFileValidation": False}, "log file validation"),
        ({"isMultiRegionTrail": False}, "multi-Region logging"),
        ({"includeGlobalServiceEvents": False, "isMultiRegionTrail": False},
         "multi-Region logging and global service events"),
    ],
)
def test_flags_update_trail_that_turns_protection_off(request_parameters, turned_off):
    record = changed(UPDATED, requestParameters={"name": "myTrail2", **request_parameters})
    violation = run_rule(rule, record)
    assert f"turned off {turned_off} on CloudTrail trail myTrail2" in violation.description
    assert violation.resource_id == "arn:aws:cloudtrail:us-east-2:123456789012:trail/myTrail2"
    _asff(record)


@pytest.mark.parametrize(
    "request_parameters",
    [
        {"isMultiRegionTrail": True, "enableLogFileValidation": True, "includeGlobalServiceEvents": True},
        {"s3KeyPrefix": "archive", "snsTopicName": "trail-deliveries"},
        {"s3BucketName": None, "kmsKeyId": None},
        {"s3BucketName": "", "kmsKeyId": 42},
        {},
    ],
    ids=["turning-things-on", "prefix-and-topic", "null-bucket-and-key", "empty-bucket-odd-key", "name-only"],
)
def test_ignores_update_trail_that_turns_nothing_off_and_keeps_bucket_and_key(request_parameters):
    assert run_rule(rule, changed(UPDATED, requestParameters={"name": "myTrail2", **request_parameters})) is None


BUCKET_SAMPLE = load_sample("cloudtrail_update_trail_s3_bucket__constructed")["detail"]
KEY_ARN = "arn:aws:kms:us-east-2:444455556666:key/1234abcd-12ab-34cd-56ef-1234567890ab"


def test_flags_the_sample_that_moves_the_trail_to_another_bucket_as_high():
    violation = run_rule(rule, BUCKET_SAMPLE)
    assert violation.severity is Severity.HIGH
    assert violation.resource_id == "arn:aws:cloudtrail:eu-west-1:123456789012:trail/management-events"
    assert violation.details == {
        "TrailName": "management-events",
        "Change": "log files now go to S3 bucket org-audit-logs-archive-123456789012",
        "S3BucketName": "org-audit-logs-archive-123456789012",
    }
    assert violation.description == (
        "Alice changed the S3 bucket of CloudTrail trail management-events in account 123456789012 (eu-west-1); "
        "log files now go to S3 bucket org-audit-logs-archive-123456789012.")
    document = _asff(BUCKET_SAMPLE)
    assert document["Severity"]["Label"] == "HIGH"


@pytest.mark.parametrize(
    "request_parameters, label, change, key_detail",
    [
        ({"kmsKeyId": KEY_ARN}, "KMS key", f"log files now encrypted with KMS key {KEY_ARN}", KEY_ARN),
        ({"kmsKeyId": ""}, "KMS key", "KMS encryption of log files removed", "(removed)"),
        ({"s3BucketName": "attacker-bucket", "kmsKeyId": KEY_ARN}, "S3 bucket and KMS key",
         f"log files now go to S3 bucket attacker-bucket; log files now encrypted with KMS key {KEY_ARN}", KEY_ARN),
    ],
    ids=["new-key", "key-removed", "bucket-and-key"],
)
def test_flags_update_trail_that_changes_the_kms_key_as_high(request_parameters, label, change, key_detail):
    record = changed(UPDATED, requestParameters={"name": "myTrail2", **request_parameters})
    violation = run_rule(rule, record)
    assert violation.severity is Severity.HIGH
    assert violation.details["Change"] == change and violation.details["KmsKeyId"] == key_detail
    assert f"Alice changed the {label} of CloudTrail trail myTrail2" in violation.description
    assert _asff(record)["Severity"]["Label"] == "HIGH"


def test_turning_validation_off_and_moving_the_bucket_is_critical_and_names_both():
    record = changed(UPDATED, requestParameters={"name": "myTrail2", "enableLogFileValidation": False,
                                                 "s3BucketName": "attacker-bucket"})
    violation = run_rule(rule, record)
    assert violation.severity is None  # the rule's CRITICAL
    assert violation.details["Change"] == "turned off log file validation; log files now go to S3 bucket attacker-bucket"
    assert violation.details["S3BucketName"] == "attacker-bucket"
    assert violation.description.endswith("(us-east-2); log files now go to S3 bucket attacker-bucket.")
    assert _asff(record)["Severity"]["Label"] == "CRITICAL"


def test_ignores_failed_update_trail_that_would_move_the_bucket():
    failed = changed(UPDATE_FAILED, requestParameters={"name": "myTrail2", "s3BucketName": "attacker-bucket"})
    assert run_rule(rule, failed) is None


def test_ignores_failed_update_trail_even_when_it_would_turn_validation_off():
    failed = changed(UPDATE_FAILED, requestParameters={"name": "myTrail2", "enableLogFileValidation": False})
    assert run_rule(rule, failed) is None


def test_in_the_invictus_archive_it_flags_the_two_deletions_and_the_selector_change_only():
    ctx = Context(now=NOW)
    fired = sorted(
        record["eventID"]
        for record in corpus_records("invictus")
        if rule.META.trigger.matches(record["eventSource"], record["eventName"], record["userIdentity"].get("type"))
        and rule.evaluate(CloudTrailRecord.model_validate(record), ctx) is not None
    )
    assert fired == sorted([
        "fcec2e46-3cc3-4ac2-8144-3674f06990e4",  # DeleteTrail stratus-red-team-ctes-trail-...
        "c0057a42-1625-4b1d-9db5-352f931f790a",  # DeleteTrail stratus-red-team-ctlr-trail-...
        "076e96d5-2983-473f-920a-2fc2d7e02777",  # PutEventSelectors: ReadOnly, no management events
    ])


def test_metadata():
    assert rule.META.id == rule.__name__.rsplit(".", 1)[1]
    assert len(rule.META.remediation) <= 512
    assert rule.META.remediation_url.startswith("https://docs.aws.amazon.com/")
    assert rule.META.trigger.event_names == {"StopLogging", "DeleteTrail", "UpdateTrail", "PutEventSelectors"}
