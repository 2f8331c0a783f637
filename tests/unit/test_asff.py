"""to_asff: deterministic, strict-ASFF valid, provider fields set, hostile strings contained."""

from __future__ import annotations

import dataclasses
import re
from datetime import date, datetime, timezone

from asff_validator import assert_valid_asff
from identity_auditor.engine.events import Engine
from identity_auditor.model.cloudtrail import CloudTrailRecord
from identity_auditor.model.contract import Context
from identity_auditor.model.findings import Actor, Suppression
from identity_auditor.sinks.asff import related_requirement, securityhub_finding_url, to_asff
from support import corpus_record

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
    # a custom integration names itself (issue 17 item 3): Security Hub would show "Default" by "Personal"
    assert (document["ProductName"], document["CompanyName"]) == ("identity-auditor", "identity-auditor")
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


# -- suppressed findings and the console link ------------------------------------------------------

SUPPRESSION = Suppression(
    reason="CI deploy user; keys rotated by the pipeline",
    owner="platform-team@example.com",
    expires=date(2026, 12, 31),
    pattern="arn:aws:iam::*:user/stratus-red-team-*",
)


def test_suppressed_finding_is_created_suppressed_with_a_note_of_reason_owner_and_expiry():
    finding = dataclasses.replace(_finding(), suppression=SUPPRESSION)
    document = to_asff(finding, product_arn=PRODUCT, updated_at=LATER)

    assert_valid_asff(document)
    assert document["Workflow"] == {"Status": "SUPPRESSED"}
    assert document["Note"] == {
        "Text": "Suppressed by organisation policy: CI deploy user; keys rotated by the pipeline"
        " (owner platform-team@example.com, expires 2026-12-31, matched arn:aws:iam::*:user/stratus-red-team-*)",
        "UpdatedBy": "identity-auditor",
        "UpdatedAt": "2026-11-22T08:30:00.000Z",
    }
    # everything else is the unsuppressed document: still a FAILED, ACTIVE finding
    plain = to_asff(_finding(), product_arn=PRODUCT, updated_at=LATER)
    assert {k: v for k, v in document.items() if k not in ("Workflow", "Note")} == plain
    assert "Workflow" not in plain and "Note" not in plain


def test_hostile_suppression_note_is_cleaned_and_clipped_keeping_owner_and_expiry():
    hostile = "why\r\n\x1b[31mnot\x00 " + "r" * 5000
    suppression = Suppression(reason=hostile, owner="o\nwner", expires=date(2027, 1, 31), pattern="p\x07" * 400)
    document = to_asff(dataclasses.replace(_finding(), suppression=suppression), product_arn=PRODUCT,
                       updated_at=LATER)

    assert_valid_asff(document)
    note = document["Note"]
    assert len(note["Text"]) <= 512 and len(note["UpdatedBy"]) <= 512
    assert not re.search(r"[\x00-\x1f\x7f]", note["Text"])
    assert note["Text"].startswith("Suppressed by organisation policy: why   [31mnot  rrr")
    assert "owner o wner, expires 2027-01-31, matched p p " in note["Text"]
    assert note["Text"].endswith("…)")


def test_unsuppressed_findings_leave_workflow_and_note_to_the_customer():
    for record in ("CreateAccessKey", "ConsoleLogin"):
        raw = corpus_record("invictus", record)
        for finding in Engine().evaluate(CloudTrailRecord.model_validate(raw), Context(now=LATER)).findings:
            document = to_asff(finding, product_arn=PRODUCT, updated_at=LATER)
            assert "Workflow" not in document and "Note" not in document and "UserDefinedFields" not in document


def test_securityhub_finding_url_filters_the_findings_page_on_the_id():
    url = securityhub_finding_url("rule/123837392027/us-east-1/c12613ae38ec8130/ev-1", "eu-west-1", "aws")
    assert url == (
        "https://eu-west-1.console.aws.amazon.com/securityhub/home?region=eu-west-1"
        "#/findings?search=Id%3D%255Coperator%255C%253AEQUALS%255C%253A"
        "rule%252F123837392027%252Fus-east-1%252Fc12613ae38ec8130%252Fev-1"
    )


def test_the_resource_region_is_the_findings_unless_a_state_rule_names_another():
    """Resources[0].Region: the finding's region, or the region a state rule gives its resource (an Access Analyzer
    analyzer of another region than the sweep's)."""
    import dataclasses

    base = _finding()
    assert to_asff(base, product_arn=PRODUCT, updated_at=LATER)["Resources"][0]["Region"] == base.region
    other = dataclasses.replace(base, resource_region="eu-west-1")
    document = to_asff(other, product_arn=PRODUCT, updated_at=LATER)
    assert document["Resources"][0]["Region"] == "eu-west-1"
    assert_valid_asff(document)
