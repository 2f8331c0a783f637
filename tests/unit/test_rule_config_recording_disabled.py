"""config_recording_disabled: the AWS Config developer guide's StopConfigurationRecorder and
DeleteDeliveryChannel records (events/cloudtrail/), a deleted recorder, failures, CloudFormation."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from asff_validator import assert_valid_asff
from identity_auditor.model.cloudtrail import CloudTrailRecord
from identity_auditor.model.contract import Severity
from identity_auditor.model.findings import build_finding
from identity_auditor.rules import config_recording_disabled as rule
from identity_auditor.sinks.asff import to_asff
from support import changed, corpus_records, load_sample, run_rule

NOW = datetime(2026, 11, 22, tzinfo=timezone.utc)
PRODUCT_ARN = "arn:aws:securityhub:us-east-1:123456789012:product/123456789012/default"
STOPPED = load_sample("config_stop_configuration_recorder.json")["detail"]  # AWS docs, us-west-2
CHANNEL_DELETED = load_sample("config_delete_delivery_channel.json")["detail"]
CFN = {
    "type": "AssumedRole",
    "principalId": "AROAEXAMPLECFNEXEC01:AWSCloudFormation",
    "arn": "arn:aws:sts::222222222222:assumed-role/cfn-exec-baseline/AWSCloudFormation",
    "accountId": "222222222222",
    "invokedBy": "cloudformation.amazonaws.com",
}


def _asff(record: dict) -> dict:
    finding = build_finding(rule.META, run_rule(rule, record), CloudTrailRecord.model_validate(record))
    document = to_asff(finding, product_arn=PRODUCT_ARN, updated_at=NOW)
    assert_valid_asff(document)
    return document


def test_flags_stopped_recorder_as_high_in_its_region():
    violation = run_rule(rule, STOPPED)
    assert rule.META.severity is Severity.HIGH and violation.severity is None
    assert violation.resource_id == "configuration-recorder/default"
    assert violation.description == (
        "JohnDoe stopped the AWS Config configuration recorder default in account 222222222222 (us-west-2); "
        "configuration changes there are no longer recorded.")
    document = _asff(STOPPED)
    assert document["Resources"][0] == {"Type": "Other", "Id": "configuration-recorder/default",
                                        "Partition": "aws", "Region": "us-west-2"}
    assert document["Compliance"]["RelatedRequirements"] == ["CIS AWS Foundations Benchmark v5.0.0/4.9"]


def test_flags_deleted_delivery_channel():
    violation = run_rule(rule, CHANNEL_DELETED)
    assert violation.resource_id == "delivery-channel/default"
    assert "configuration history is no longer delivered" in violation.description
    _asff(CHANNEL_DELETED)


def test_flags_deleted_recorder():
    record = changed(STOPPED, eventName="DeleteConfigurationRecorder")
    violation = run_rule(rule, record)
    assert violation.description.startswith("JohnDoe deleted the AWS Config configuration recorder default")
    _asff(record)


def test_a_stack_deleting_the_recorder_still_stops_recording():
    record = changed(STOPPED, eventName="DeleteConfigurationRecorder", userIdentity=CFN,
                     sourceIPAddress="cloudformation.amazonaws.com", userAgent="cloudformation.amazonaws.com")
    violation = run_rule(rule, record)
    assert violation is not None and "(via cloudformation.amazonaws.com)" in violation.description


@pytest.mark.parametrize("record", [STOPPED, CHANNEL_DELETED], ids=["stop", "delete-channel"])
def test_ignores_failed_calls(record):
    failed = changed(record, errorCode="NoSuchConfigurationRecorderException",
                     errorMessage="Cannot find configuration recorder with the specified name 'default'.")
    assert run_rule(rule, failed) is None


def test_missing_request_parameters_still_yield_a_finding():
    violation = run_rule(rule, changed(STOPPED, requestParameters=None))
    assert violation.resource_id == "configuration-recorder/unknown"


def test_invictus_archive_has_no_config_tampering():
    assert not [r for r in corpus_records("invictus") if r["eventSource"] == "config.amazonaws.com"]


def test_metadata():
    assert rule.META.id == rule.__name__.rsplit(".", 1)[1]
    assert len(rule.META.remediation) <= 512
    assert rule.META.remediation_url.startswith("https://docs.aws.amazon.com/")
    assert rule.META.trigger.event_names == {
        "StopConfigurationRecorder", "DeleteConfigurationRecorder", "DeleteDeliveryChannel"}
