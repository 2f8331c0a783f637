"""to_asff: deterministic, strict-ASFF valid, provider fields set, hostile strings contained."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timezone

from asff_validator import assert_valid_asff
from support import corpus_record

from identity_auditor.asff import related_requirement, to_asff
from identity_auditor.contract import Context
from identity_auditor.engine import Engine
from identity_auditor.findings import Actor
from identity_auditor.models import CloudTrailRecord

PRODUCT = "arn:aws:securityhub:us-east-1:123837392027:product/123837392027/default"
LATER = datetime(2026, 11, 22, 8, 30, tzinfo=timezone.utc)


def _finding(**record_changes):
    raw = corpus_record("invictus", "CreateAccessKey", eventID="64b7de64-bf53-47ae-b7e3-d30cb1b5136e")
    raw.update(record_changes)
    return Engine().evaluate(CloudTrailRecord.model_validate(raw), Context(now=LATER)).findings[0]


def test_document_is_valid_and_deterministic():
    finding = _finding()
    document = to_asff(finding, product_arn=PRODUCT, updated_at=LATER)
    assert_valid_asff(document)
    assert document == to_asff(finding, product_arn=PRODUCT, updated_at=LATER)
    assert document["Id"] == finding.finding_id
    assert document["GeneratorId"] == "iam_access_key_created"
    assert document["Severity"] == document["FindingProviderFields"]["Severity"] == {"Label": "HIGH", "Original": "HIGH"}
    assert document["Types"] == document["FindingProviderFields"]["Types"]
    assert document["FirstObservedAt"] == document["CreatedAt"] == "2023-07-10T12:24:29.000Z"
    assert document["UpdatedAt"] == "2026-11-22T08:30:00.000Z"
    assert document["Compliance"] == {
        "Status": "FAILED",
        "RelatedRequirements": ["CIS AWS Foundations Benchmark v5.0.0/1.10", "CIS AWS Foundations Benchmark v3.0.0/1.11"],
    }
    assert document["ProductFields"]["identity-auditor/EventId"] == "64b7de64-bf53-47ae-b7e3-d30cb1b5136e"
    assert document["SourceUrl"].endswith("#/events/64b7de64-bf53-47ae-b7e3-d30cb1b5136e")
    assert "Workflow" not in document and "UserDefinedFields" not in document and "Note" not in document


def test_private_ip_caller_is_recorded_as_remote_ip_action():
    action = to_asff(_finding(), product_arn=PRODUCT, updated_at=LATER)["Action"]
    assert action["ActionType"] == "AWS_API_CALL"
    assert action["AwsApiCallAction"]["RemoteIpDetails"] == {"IpAddressV4": "192.168.10.20"}
    assert action["AwsApiCallAction"]["Api"] == "CreateAccessKey"


def test_service_caller_is_recorded_as_domain_and_odd_addresses_are_left_out():
    domain = to_asff(_finding(sourceIPAddress="sso.amazonaws.com"), product_arn=PRODUCT, updated_at=LATER)
    assert domain["Action"]["AwsApiCallAction"]["DomainDetails"] == {"Domain": "sso.amazonaws.com"}
    odd = to_asff(_finding(sourceIPAddress="AWS Internal"), product_arn=PRODUCT, updated_at=LATER)
    assert "Action" not in odd
    assert_valid_asff(odd)


def test_masked_account_imports_under_the_product_account_and_keeps_the_recorded_value():
    document = to_asff(_finding(recipientAccountId="***"), product_arn=PRODUCT, updated_at=LATER)
    assert document["AwsAccountId"] == "123837392027"
    assert document["ProductFields"]["identity-auditor/RecordedAccountId"] == "***"
    assert_valid_asff(document)


def test_hostile_strings_are_clipped_and_cleaned():
    hostile = "evil\r\n\x1b[31mname\x00" + "x" * 5000
    finding = dataclasses.replace(
        _finding(),
        description="d" * 3000,
        actor=Actor(type="IAMUser", name=hostile, arn=None, account_id="123837392027", source_ip=hostile,
                    user_agent=hostile),
        details={"KeyOwner": hostile},
    )
    document = to_asff(finding, product_arn=PRODUCT, updated_at=LATER)
    assert_valid_asff(document)
    assert len(document["Title"]) <= 256 and len(document["Description"]) <= 1024
    assert all("\x1b" not in v and "\x00" not in v and "\n" not in v for v in document["ProductFields"].values())


def test_related_requirement_names():
    assert related_requirement("FSBP IAM.5") == "AWS Foundational Security Best Practices/IAM.5"
    assert related_requirement("CIS3 4.2") == "CIS AWS Foundations Benchmark v3.0.0/4.2"
