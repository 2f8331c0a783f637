"""The strict ASFF validator accepts a realistic finding and rejects each kind of mistake."""

from __future__ import annotations

import copy
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/ holds the shared helper
from asff_validator import asff_problems, assert_valid_asff, assert_valid_batch, parse_timestamp  # noqa: E402

ACCOUNT = "123837392027"
EVENT_ID = "3f1c2b9e-5a7d-4e51-9a43-0f6f2c1d8e77"
KEY_ARN = f"arn:aws:iam::{ACCOUNT}:user/alice"


def valid_finding() -> dict:
    """A finding shaped like the auditor's "IAM access key created" finding."""
    return {
        "SchemaVersion": "2018-10-08",
        "Id": f"iam_access_key_created/{ACCOUNT}/us-east-1/5d41402abc4b2a76b9719d911017c592/{EVENT_ID}",
        "ProductArn": f"arn:aws:securityhub:us-east-1:{ACCOUNT}:product/{ACCOUNT}/default",
        "GeneratorId": "identity-auditor/iam_access_key_created",
        "AwsAccountId": ACCOUNT,
        "Types": [
            "TTPs/Persistence",
            "Software and Configuration Checks/Industry and Regulatory Standards/"
            "CIS AWS Foundations Benchmark",
        ],
        "CreatedAt": "2023-07-10T12:27:45Z",
        "UpdatedAt": "2023-07-10T12:27:45.123+00:00",
        "FirstObservedAt": "2023-07-10T12:27:45Z",
        "LastObservedAt": "2023-07-10T12:27:45Z",
        "Severity": {"Label": "MEDIUM", "Original": "MEDIUM"},
        "FindingProviderFields": {
            "Severity": {"Label": "MEDIUM", "Original": "MEDIUM"},
            "Types": ["TTPs/Persistence"],
        },
        "Title": "IAM access key created for user alice",
        "Description": "A new access key AKIAEXAMPLEKEY000001 was created for IAM user alice by admin.",
        "Remediation": {
            "Recommendation": {
                "Text": "Confirm the key is expected; otherwise deactivate and delete it.",
                "Url": "https://docs.aws.amazon.com/IAM/latest/UserGuide/id_credentials_access-keys.html",
            }
        },
        "ProductFields": {
            "identity-auditor/rule": "iam_access_key_created",
            "identity-auditor/eventId": EVENT_ID,
            "identity-auditor/eventName": "CreateAccessKey",
        },
        "Resources": [
            {
                "Type": "AwsIamAccessKey",
                "Id": f"arn:aws:iam::{ACCOUNT}:user/alice/accesskey/AKIAEXAMPLEKEY000001",
                "Partition": "aws",
                "Region": "us-east-1",
                "Details": {
                    "AwsIamAccessKey": {
                        "UserName": "alice",
                        "Status": "Active",
                        "CreatedAt": "2023-07-10T12:27:44Z",
                        "PrincipalName": "alice",
                        "PrincipalType": "IAMUser",
                        "AccountId": ACCOUNT,
                        "AccessKeyId": "AKIAEXAMPLEKEY000001",
                    }
                },
            }
        ],
        "Compliance": {"Status": "FAILED", "RelatedRequirements": ["CIS AWS Foundations 1.14"]},
        "Workflow": {"Status": "NEW"},
        "RecordState": "ACTIVE",
    }


def test_realistic_finding_is_valid():
    assert asff_problems(valid_finding()) == []
    assert_valid_asff(valid_finding())
    assert_valid_batch([valid_finding()])


def _set(path: str, value):
    """Mutation setting the dotted path (list indexes as numbers) to value."""
    def mutate(finding):
        *parents, last = [int(p) if p.isdigit() else p for p in path.split(".")]
        target = finding
        for part in parents:
            target = target[part]
        target[last] = value
    return mutate


def _delete(path: str):
    def mutate(finding):
        *parents, last = [int(p) if p.isdigit() else p for p in path.split(".")]
        target = finding
        for part in parents:
            target = target[part]
        del target[last]
    return mutate


MUTATIONS = {
    "missing Title": (_delete("Title"), "Title: required"),
    "missing resource Type": (_delete("Resources.0.Type"), "Resources[0].Type: required"),
    "unknown top-level key": (_set("Colour", "red"), "Colour: unknown key"),
    "unknown nested key": (_set("Severity.Level", "HIGH"), "Severity.Level: unknown key"),
    "bad severity label": (_set("Severity.Label", "SEVERE"), "Severity.Label: 'SEVERE' not one of"),
    "bad provider severity": (_set("FindingProviderFields.Severity.Label", "high"),
                              "FindingProviderFields.Severity.Label"),
    "bad compliance status": (_set("Compliance.Status", "FAIL"), "Compliance.Status"),
    "bad record state": (_set("RecordState", "OPEN"), "RecordState"),
    "bad workflow status": (_set("Workflow.Status", "ASSIGNED"), "Workflow.Status"),
    "bad access key status": (_set("Resources.0.Details.AwsIamAccessKey.Status", "ACTIVE"),
                              "Resources[0].Details.AwsIamAccessKey.Status"),
    "Title too long": (_set("Title", "x" * 257), "Title: 257 characters is above the maximum 256"),
    "Description too long": (_set("Description", "x" * 1025), "Description: 1025 characters"),
    "Id too long": (_set("Id", "x" * 513), "Id: 513 characters"),
    "Recommendation text too long": (_set("Remediation.Recommendation.Text", "x" * 513),
                                     "Remediation.Recommendation.Text"),
    "Recommendation url not https": (_set("Remediation.Recommendation.Url", "http://example.com/fix"),
                                     "Remediation.Recommendation.Url"),
    "empty Title": (_set("Title", " "), "Title: does not match pattern"),
    "bad Types namespace": (_set("Types", ["Tactics/Persistence"]), "Types[0]: namespace 'Tactics'"),
    "bad Types category": (_set("Types", ["TTPs/Exfiltration"]), "Types[0]: category 'Exfiltration'"),
    "missing Types category": (_set("Types", ["Effects"]), "Types[0]: category ''"),
    "bad standards classifier": (
        _set("Types", ["Software and Configuration Checks/Industry and Regulatory Standards/CIS"]),
        "Types[0]: classifier 'CIS'"),
    "bad provider Types": (_set("FindingProviderFields.Types", ["TTP/Persistence"]),
                           "FindingProviderFields.Types[0]: namespace"),
    "empty Types": (_set("Types", []), "Types: must contain 1 to 50 entries"),
    "missing Types": (_delete("Types"), "Types: must contain 1 to 50 entries"),
    "too many Types": (_set("Types", ["TTPs/Persistence"] * 51), "Types: 51 entries"),
    "Types not a list": (_set("Types", "TTPs/Persistence"), "Types: expected array, got str"),
    "timestamp without zone": (_set("CreatedAt", "2023-07-10T12:27:45"), "CreatedAt: '2023-07-10T12:27:45'"),
    "timestamp not RFC 3339": (_set("UpdatedAt", "10/07/2023 12:27"), "UpdatedAt: '10/07/2023 12:27' is not"),
    "nested timestamp": (_set("Resources.0.Details.AwsIamAccessKey.CreatedAt", "yesterday"),
                         "Resources[0].Details.AwsIamAccessKey.CreatedAt: 'yesterday' is not"),
    "UpdatedAt before CreatedAt": (_set("UpdatedAt", "2023-07-10T12:27:44Z"),
                                   "UpdatedAt: earlier than CreatedAt"),
    "LastObservedAt before FirstObservedAt": (_set("LastObservedAt", "2023-07-10T11:00:00+00:00"),
                                              "LastObservedAt: earlier than FirstObservedAt"),
    "empty Resources": (_set("Resources", []), "Resources: must contain at least 1"),
    "too many Resources": (lambda f: f.update(Resources=f["Resources"] * 33), "Resources: 33 entries"),
    "unknown resource type": (_set("Resources.0.Type", "IamAccessKey"), "Resources[0].Type: 'IamAccessKey'"),
    "bad partition": (_set("Resources.0.Partition", "aws-us-iso"), "Resources[0].Partition"),
    "ProductFields too many entries": (_set("ProductFields", {f"k{i}": "v" for i in range(51)}),
                                       "ProductFields: 51 entries"),
    "ProductFields value too long": (_set("ProductFields.identity-auditor/rule", "x" * 2049),
                                     "ProductFields['identity-auditor/rule']: 2049 characters"),
    "ProductFields value not string": (_set("ProductFields.identity-auditor/rule", 3),
                                       "ProductFields['identity-auditor/rule']: expected string"),
    "UserDefinedFields too many": (_set("UserDefinedFields", {f"k{i}": "v" for i in range(51)}),
                                   "UserDefinedFields: 51 entries"),
    "too many RelatedRequirements": (_set("Compliance.RelatedRequirements", ["CIS 1.14"] * 33),
                                     "Compliance.RelatedRequirements: 33 entries"),
    "bool where int expected": (_set("Confidence", True), "Confidence: expected integer, got bool"),
    "string where int expected": (_set("Criticality", "90"), "Criticality: expected integer, got str"),
    "int out of model range": (_set("FindingProviderFields.Confidence", 101),
                               "FindingProviderFields.Confidence: 101 is above the maximum 100"),
    "int where bool expected": (_set("Sample", 1), "Sample: expected boolean, got int"),
    "control character in Title": (_set("Title", "Access key\ncreated"),
                                   "Title: contains a control character"),
    "control character elsewhere": (_set("Description", "bell \x07"),
                                    "Description: contains a control character"),
    "control character in map key": (_set("ProductFields.bad\x01key", "v"),
                                      "ProductFields['bad\\x01key'] (key): contains a control character"),
    "bad ProductArn": (_set("ProductArn", f"arn:aws:securityhub:us-east-1:{ACCOUNT}:{ACCOUNT}/default"),
                       "ProductArn"),
    "bad SchemaVersion": (_set("SchemaVersion", "2018-10-09"), "SchemaVersion: must be '2018-10-08'"),
    "empty AwsAccountId": (_set("AwsAccountId", ""), "AwsAccountId: must not be empty"),
    "finding too large": (_set("UserDefinedFields", {f"k{i}": "x" * 5000 for i in range(50)}),
                          "finding: 25"),
}


@pytest.mark.parametrize("mutate, expected", MUTATIONS.values(), ids=MUTATIONS.keys())
def test_mutation_is_rejected(mutate, expected):
    finding = copy.deepcopy(valid_finding())
    mutate(finding)
    problems = asff_problems(finding)
    assert any(expected in p for p in problems), problems
    with pytest.raises(AssertionError, match="invalid ASFF finding"):
        assert_valid_asff(finding)


def test_tab_and_newline_are_allowed_outside_title():
    finding = valid_finding()
    finding["Description"] = "Access key created.\n\tUser: alice"
    assert asff_problems(finding) == []


def test_every_problem_is_reported_at_once():
    finding = valid_finding()
    del finding["Title"]
    finding["RecordState"] = "OPEN"
    finding["Resources"][0]["Colour"] = "red"
    with pytest.raises(AssertionError) as excinfo:
        assert_valid_asff(finding)
    for expected in ("Title: required", "RecordState", "Resources[0].Colour: unknown key"):
        assert expected in str(excinfo.value)


@pytest.mark.parametrize("value", ["2023-07-10T12:27:45Z", "2023-07-10T12:27:45.123+00:00",
                                   "2023-07-10T12:27:45.123456789Z", "2024-01-04T15:25:10-1759",
                                   "2024-01-04T15:25:10+05"])
def test_documented_timestamp_formats_parse(value):
    assert parse_timestamp(value) is not None


@pytest.mark.parametrize("value", ["2023-07-10", "2023-07-10 12:27:45Z", "2023-07-10T12:27:45",
                                   "2023-13-10T12:27:45Z", "2023-07-10T12:27:45+19:00", 1688992065])
def test_bad_timestamps_do_not_parse(value):
    assert parse_timestamp(value) is None


def _batch(count: int) -> list[dict]:
    findings = []
    for i in range(count):
        finding = valid_finding()
        finding["Id"] += f"-{i}"
        findings.append(finding)
    return findings


def test_batch_of_100_is_valid():
    assert_valid_batch(_batch(100))


@pytest.mark.parametrize("findings, expected", [
    (_batch(101), "batch: 101 findings is above the maximum 100"),
    ([valid_finding(), valid_finding()], "batch: duplicate Id"),
    ([valid_finding(), {**valid_finding(), "Id": "other", "Title": ""}], "[1].Title"),
], ids=["over 100 findings", "duplicate Ids", "invalid member"])
def test_bad_batch_is_rejected(findings, expected):
    with pytest.raises(AssertionError, match="invalid ASFF batch") as excinfo:
        assert_valid_batch(findings)
    assert expected in str(excinfo.value)


def test_batch_over_6_mb_is_rejected():
    findings = _batch(35)
    for finding in findings:  # each finding is under 240 KB, the batch is not
        finding["UserDefinedFields"] = {f"k{i}": "x" * 4000 for i in range(50)}
    with pytest.raises(AssertionError, match=r"batch: \d+ bytes serialized is above the maximum 6291456"):
        assert_valid_batch(findings)
