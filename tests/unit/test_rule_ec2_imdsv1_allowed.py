"""ec2_imdsv1_allowed: the real invictus RunInstances (two launches whose response records HttpTokens
optional, six failed launches) and documented-shape variants, plus ModifyInstanceMetadataOptions
(parameters nested under ModifyInstanceMetadataOptionsRequest, PascalCase)."""

from __future__ import annotations

import copy
from datetime import datetime, timezone

import pytest
from asff_validator import assert_valid_asff
from identity_auditor.model.cloudtrail import CloudTrailRecord
from identity_auditor.model.contract import Context, Severity
from identity_auditor.model.findings import build_finding
from identity_auditor.rules import ec2_imdsv1_allowed as rule
from identity_auditor.sinks.asff import to_asff
from support import changed, corpus_record, corpus_records, run_rule

NOW = datetime(2026, 11, 22, tzinfo=timezone.utc)
PRODUCT_ARN = "arn:aws:securityhub:us-east-1:123456789012:product/123456789012/default"
LAUNCHED = corpus_record("invictus", "RunInstances", eventID="86eac0ac-8521-4126-aa32-a22f2b74d02e")
FAILED_LAUNCH = corpus_record("invictus", "RunInstances", eventID="4a131b73-a4cd-44ce-8757-e3ad55c22e43")
ITEM = LAUNCHED["responseElements"]["instancesSet"]["items"][0]
ARN = "arn:aws:ec2:us-east-1:123837392027:instance/"


def _launch(items: list[dict] | None, request_options: dict | None = None) -> dict:
    request = copy.deepcopy(LAUNCHED["requestParameters"])
    if request_options is not None:
        request["metadataOptions"] = request_options
    response = None if items is None else dict(LAUNCHED["responseElements"], instancesSet={"items": items})
    return changed(LAUNCHED, requestParameters=request, responseElements=response)


def _item(instance_id: str, **options) -> dict:
    item = copy.deepcopy(ITEM)
    item["instanceId"] = instance_id
    if options.get("drop"):
        item.pop("metadataOptions")
    else:
        item["metadataOptions"].update(options)
    return item


def _modify(**request) -> dict:
    return changed(LAUNCHED, eventName="ModifyInstanceMetadataOptions", awsRegion="eu-west-1", responseElements=None,
                   requestParameters={"ModifyInstanceMetadataOptionsRequest": request})


def _asff(record: dict) -> dict:
    finding = build_finding(rule.META, run_rule(rule, record), CloudTrailRecord.model_validate(record))
    document = to_asff(finding, product_arn=PRODUCT_ARN, updated_at=NOW)
    assert_valid_asff(document)
    return document


def test_flags_the_real_launch_whose_response_says_tokens_optional():
    assert "metadataOptions" not in LAUNCHED["requestParameters"]
    violation = run_rule(rule, LAUNCHED)
    assert rule.META.severity is Severity.MEDIUM and violation.severity is None
    assert violation.resource_id == ARN + "i-0dbc91f429e48eeed"
    assert violation.resource_type is None  # AwsEc2Instance
    assert violation.details == {"InstanceIds": "i-0dbc91f429e48eeed", "InstanceCount": "1", "HttpTokens": "optional",
                                 "SettingFrom": "response", "ImageId": "ami-029eb80bc237bec6f"}
    assert "the launch response records HttpTokens optional" in violation.description
    document = _asff(LAUNCHED)
    assert document["Resources"][0]["Type"] == "AwsEc2Instance"
    assert document["Compliance"]["RelatedRequirements"] == ["CIS AWS Foundations Benchmark v5.0.0/5.7"]


def test_in_the_invictus_archive_only_the_two_successful_launches_fire():
    ctx = Context(now=NOW)
    launches = [r for r in corpus_records("invictus") if r["eventName"] == "RunInstances"]
    fired = sorted(r["eventID"] for r in launches if rule.evaluate(CloudTrailRecord.model_validate(r), ctx))
    assert len(launches) == 8
    assert fired == ["86eac0ac-8521-4126-aa32-a22f2b74d02e", "8c9d5d59-f65e-4d38-a71b-6d712487cd91"]
    assert run_rule(rule, FAILED_LAUNCH) is None


def test_ignores_launch_with_tokens_required():
    record = _launch([_item("i-0aaa", httpTokens="required")], {"httpTokens": "required", "httpEndpoint": "enabled"})
    assert run_rule(rule, record) is None


def test_the_effective_setting_wins_over_an_absent_request():
    # No metadataOptions in the request, but the AMI or account default made tokens required.
    assert run_rule(rule, _launch([_item("i-0aaa", httpTokens="required")])) is None


def test_absent_everywhere_means_the_defaults_which_allow_imdsv1():
    violation = run_rule(rule, _launch([_item("i-0aaa", drop=True)]))
    assert violation.details["SettingFrom"] == "default" and violation.details["HttpTokens"] == "not set"
    assert "did not set HttpTokens" in violation.description
    assert "unless the AMI is IMDSv2-only or the account default requires tokens" in violation.description


def test_request_setting_is_used_when_the_response_has_none():
    optional = run_rule(rule, _launch([_item("i-0aaa", drop=True)], {"httpTokens": "optional"}))
    assert "the request set HttpTokens to optional" in optional.description
    assert run_rule(rule, _launch([_item("i-0aaa", drop=True)], {"httpTokens": "required"})) is None


def test_ignores_instances_with_the_metadata_endpoint_disabled():
    assert run_rule(rule, _launch([_item("i-0aaa", httpEndpoint="disabled")])) is None


def test_many_instances_give_one_finding_listing_ten():
    ids = [f"i-0{n:016x}" for n in range(12)]
    record = _launch([_item(instance) for instance in ids])
    violation = run_rule(rule, record)
    assert violation.resource_id == ARN + ids[0]
    assert violation.details["InstanceCount"] == "12"
    assert violation.details["InstanceIds"] == ", ".join(ids[:10]) + " (+2 more)"
    assert "launched 12 EC2 instances" in violation.description and "that accept IMDSv1" in violation.description
    _asff(record)


def test_only_the_exposed_instances_are_named():
    record = _launch([_item("i-0aaa", httpTokens="required"), _item("i-0bbb")])
    violation = run_rule(rule, record)
    assert violation.details["InstanceIds"] == "i-0bbb" and violation.resource_id == ARN + "i-0bbb"


def test_a_launch_without_a_recorded_response_points_at_the_image():
    record = _launch(None)
    violation = run_rule(rule, record)
    assert violation.resource_type == "Other"
    assert violation.resource_id == "image/ami-029eb80bc237bec6f"
    assert _asff(record)["Resources"][0]["Type"] == "Other"


def test_auto_scaling_launches_are_still_reported():
    autoscaling = {
        "type": "AssumedRole",
        "arn": "arn:aws:sts::123837392027:assumed-role/AWSServiceRoleForAutoScaling/AutoScaling",
        "accountId": "123837392027",
        "invokedBy": "autoscaling.amazonaws.com",
    }
    violation = run_rule(rule, changed(LAUNCHED, userIdentity=autoscaling, sourceIPAddress="autoscaling.amazonaws.com"))
    assert violation is not None and "(via autoscaling.amazonaws.com)" in violation.description


def test_flags_modify_instance_metadata_options_to_optional():
    record = _modify(InstanceId="i-0f1e2d3c4b5a69788", HttpTokens="optional", HttpEndpoint="enabled")
    violation = run_rule(rule, record)
    assert violation.resource_id == "arn:aws:ec2:eu-west-1:123837392027:instance/i-0f1e2d3c4b5a69788"
    assert violation.description == (
        "bert-jan set HttpTokens to optional on EC2 instance i-0f1e2d3c4b5a69788 in account 123837392027 "
        "(eu-west-1), allowing IMDSv1 again.")
    _asff(record)


@pytest.mark.parametrize(
    "request_parameters",
    [
        {"InstanceId": "i-0f1e2d3c4b5a69788", "HttpTokens": "required", "HttpEndpoint": "enabled"},
        {"InstanceId": "i-0f1e2d3c4b5a69788", "HttpPutResponseHopLimit": 2},
        {"InstanceId": "i-0f1e2d3c4b5a69788", "HttpTokens": "optional", "HttpEndpoint": "disabled"},
    ],
    ids=["required", "tokens-not-in-request", "endpoint-disabled"],
)
def test_ignores_modify_that_does_not_open_imdsv1(request_parameters):
    assert run_rule(rule, _modify(**request_parameters)) is None


def test_ignores_failed_modify():
    failed = changed(_modify(InstanceId="i-0abcd", HttpTokens="optional"), errorCode="Client.InvalidParameterValue",
                     errorMessage="The HttpEndpoint is not set to 'enabled' in this request.")
    assert run_rule(rule, failed) is None


def test_metadata():
    assert rule.META.id == rule.__name__.rsplit(".", 1)[1]
    assert len(rule.META.remediation) <= 512
    assert rule.META.remediation_url.startswith("https://docs.aws.amazon.com/")
    assert rule.META.compliance == ("CIS5 5.7",)
