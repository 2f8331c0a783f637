"""access_analyzer_not_enabled (IAM posture state rule) on analyzers as Access Analyzer's ``ListAnalyzers`` returns
them per region (``analyzers[]``, ``AnalyzerSummary``: ``arn`` ``arn:aws:access-analyzer:<region>:<account>:
analyzer/<name>``, ``name``, ``type`` ACCOUNT | ORGANIZATION | ACCOUNT_UNUSED_ACCESS | ORGANIZATION_UNUSED_ACCESS |
ACCOUNT_INTERNAL_ACCESS | ORGANIZATION_INTERNAL_ACCESS, ``status`` ACTIVE | CREATING | DISABLED | FAILED; IAM Access
Analyzer API Reference). moto has no Access Analyzer; the rule reads only the snapshot, built here by hand."""

from __future__ import annotations

from datetime import datetime, timezone
from types import MappingProxyType

import pytest
from asff_validator import assert_valid_asff
from identity_auditor.engine.registry import Registry, Rule
from identity_auditor.engine.state import NotRun, StateEngine, account_key, posture_subject, state_finding_id
from identity_auditor.model.contract import Compliance, Context, Severity, StateResult
from identity_auditor.model.home import Home
from identity_auditor.model.policy import OrgPolicy
from identity_auditor.model.snapshots import Analyzer, IamPosture
from identity_auditor.rules import access_analyzer_not_enabled as rule
from identity_auditor.sinks.asff import to_asff

ACCOUNT = "123456789012"
MANAGEMENT = "111122223333"
REGION = "us-east-1"
NOW = datetime(2026, 11, 22, 6, 0, tzinfo=timezone.utc)
WHERE = Home(ACCOUNT, REGION, "aws")
PRODUCT_ARN = f"arn:aws:securityhub:{REGION}:{ACCOUNT}:product/{ACCOUNT}/default"
ORG_ANALYZER = f"arn:aws:access-analyzer:*:{MANAGEMENT}:analyzer/OrganizationAnalyzer"
RULE = Rule(rule.META, None, rule.evaluate_state)
ENGINE = StateEngine(Registry([RULE]))


def analyzer(region: str, kind: str = "ACCOUNT", status: str = "ACTIVE", name: str | None = None,
             account: str = ACCOUNT) -> Analyzer:
    name = name or f"ConsoleAnalyzer-{kind.lower()}"
    return Analyzer(arn=f"arn:aws:access-analyzer:{region}:{account}:analyzer/{name}", name=name, type=kind,
                    status=status, region=region)


def posture(regions: dict[str, tuple[Analyzer, ...]], **more) -> IamPosture:
    return IamPosture(account_id=ACCOUNT, partition="aws", analyzers=MappingProxyType(regions), **more)


def judge(regions: dict[str, tuple[Analyzer, ...]], patterns: tuple[str, ...] = ()) -> list[StateResult]:
    results = rule.evaluate_state(posture(regions), Context(now=NOW, policy=OrgPolicy(organization_analyzers=patterns)))
    assert isinstance(results, list)
    for result in results:
        assert 0 < len(result.annotation) <= 256 and result.resource is not None
        assert (result.violation is not None) == (result.compliance is Compliance.NON_COMPLIANT)
    return results


@pytest.mark.parametrize("kind", ["ACCOUNT", "ORGANIZATION"])
def test_an_active_external_access_analyzer_is_compliant(kind):
    [result] = judge({"us-east-1": (analyzer("us-east-1", "ACCOUNT_UNUSED_ACCESS"), analyzer("us-east-1", kind))})
    assert result.compliance is Compliance.COMPLIANT
    assert result.annotation == f"us-east-1: analyzer ConsoleAnalyzer-{kind.lower()} ({kind}) is ACTIVE."


@pytest.mark.parametrize("present", [
    (analyzer("eu-west-1", "ACCOUNT_UNUSED_ACCESS"),),
    (analyzer("eu-west-1", "ORGANIZATION_UNUSED_ACCESS"), analyzer("eu-west-1", "ACCOUNT_INTERNAL_ACCESS")),
    (analyzer("eu-west-1", "ACCOUNT", "CREATING"),),
    (analyzer("eu-west-1", "ACCOUNT", "DISABLED"), analyzer("eu-west-1", "ORGANIZATION", "FAILED")),
])
def test_unused_access_internal_access_and_inactive_analyzers_do_not_count(present):
    [result] = judge({"eu-west-1": present})
    assert result.compliance is Compliance.NON_COMPLIANT
    seen = ", ".join(f"{a.name} ({a.type}, {a.status})" for a in present)
    assert result.annotation == (f"eu-west-1: no ACTIVE external-access analyzer (ACCOUNT or ORGANIZATION); "
                                 f"only {seen}.")
    assert result.violation.details == {"Region": "eu-west-1", "Analyzers": seen, "OrganizationAnalyzers": "none"}


def test_a_region_without_analyzers_is_non_compliant():
    [result] = judge({"ap-southeast-2": ()})
    assert result.compliance is Compliance.NON_COMPLIANT
    assert result.annotation.endswith("; no analyzer.")
    resource = result.resource
    key = f"arn:aws:access-analyzer:ap-southeast-2:{ACCOUNT}:analyzer/*"
    assert (resource.config_type, resource.config_id, resource.name, resource.key, resource.asff_type) == (
        "AWS::::Account", ACCOUNT, "ap-southeast-2", key, None)
    violation = result.violation
    assert violation.description == (f"Account {ACCOUNT} has no active IAM Access Analyzer external-access analyzer "
                                      "in ap-southeast-2.")
    assert (violation.resource_id, violation.subject, violation.severity) == (key, "ap-southeast-2", None)
    assert rule.META.severity is Severity.MEDIUM


def test_one_result_per_region_in_region_order():
    results = judge({"us-west-2": (), "eu-west-1": (analyzer("eu-west-1"),), "us-east-1": ()})
    assert [(r.resource.name, r.compliance) for r in results] == [
        ("eu-west-1", Compliance.COMPLIANT), ("us-east-1", Compliance.NON_COMPLIANT),
        ("us-west-2", Compliance.NON_COMPLIANT)]


@pytest.mark.parametrize("pattern, covered", [
    (ORG_ANALYZER, {"us-east-1", "eu-west-1", "ap-southeast-2"}),
    (f"arn:aws:access-analyzer:us-east-1:{MANAGEMENT}:analyzer/OrganizationAnalyzer", {"us-east-1"}),
    (f"arn:aws:access-analyzer:eu-*:{MANAGEMENT}:analyzer/*", {"eu-west-1"}),
    (f"arn:aws:access-analyzer:[ue][su]-*:{MANAGEMENT}:analyzer/*", {"us-east-1", "eu-west-1"}),
    ("arn:aws:access-analyzer:*", {"us-east-1", "eu-west-1", "ap-southeast-2"}),
    ("arn:aws:access-analyzer:us-*", {"us-east-1"}),
    ("arn:*", {"us-east-1", "eu-west-1", "ap-southeast-2"}),
    ("*", {"us-east-1", "eu-west-1", "ap-southeast-2"}),
    (f"arn:*:access-analyzer:*:{MANAGEMENT}:analyzer/OrganizationAnalyzer", {"us-east-1", "eu-west-1",
                                                                              "ap-southeast-2"}),
    (f"arn:aws-cn:access-analyzer:*:{MANAGEMENT}:analyzer/OrganizationAnalyzer", set()),  # another partition
    (f"arn:aws:iam::{MANAGEMENT}:role/*", set()),  # another service
    ("arn:aws:access-analyzer:us-east-1", set()),  # can name no analyzer
    ("arn:aws:access-analyzer", set()),
])
def test_the_organisations_analyzer_named_in_the_policy_counts_where_its_region_matches(pattern, covered):
    regions = {"us-east-1": (), "eu-west-1": (analyzer("eu-west-1", "ACCOUNT_UNUSED_ACCESS"),), "ap-southeast-2": ()}
    results = judge(regions, (pattern,))
    assert {r.resource.name for r in results if r.compliance is Compliance.COMPLIANT} == covered
    for result in results:
        if result.compliance is Compliance.COMPLIANT:
            assert f"the organisation's analyzer {pattern} (policy organization_analyzers)" in result.annotation
        else:
            assert result.violation.details["OrganizationAnalyzers"] == pattern


def test_a_visible_organisation_analyzer_that_is_not_active_wins_over_the_pattern():
    disabled = analyzer("us-east-1", "ORGANIZATION", "DISABLED", "OrganizationAnalyzer", MANAGEMENT)
    [result] = judge({"us-east-1": (disabled,)}, (ORG_ANALYZER,))
    assert result.compliance is Compliance.NON_COMPLIANT
    assert "only OrganizationAnalyzer (ORGANIZATION, DISABLED)" in result.annotation
    # another organisation analyzer that is not the named one does not hide the named one
    other = analyzer("us-east-1", "ORGANIZATION", "FAILED", "SandboxOrgAnalyzer", MANAGEMENT)
    [result] = judge({"us-east-1": (other,)}, (ORG_ANALYZER,))
    assert result.compliance is Compliance.COMPLIANT


def test_no_region_swept_is_one_not_applicable_account_result():
    result = rule.evaluate_state(posture({}), Context(now=NOW))
    assert isinstance(result, StateResult) and result.resource is None
    assert result.compliance is Compliance.NOT_APPLICABLE and "No region" in result.annotation


def test_end_to_end_through_the_state_engine():
    snapshot = posture({"us-east-1": (analyzer("us-east-1"),), "eu-west-1": ()})
    evaluations = ENGINE.evaluate([RULE], [posture_subject(snapshot, "iam_posture")], Context(now=NOW), WHERE)
    failed, passed, summary = evaluations
    for evaluation, region in ((failed, "eu-west-1"), (passed, "us-east-1")):
        key = f"arn:aws:access-analyzer:{region}:{ACCOUNT}:analyzer/*"
        assert evaluation.key == key and not evaluation.reported
        assert evaluation.finding.finding_id == state_finding_id(rule.META.id, WHERE, key)
        document = to_asff(evaluation.finding, product_arn=PRODUCT_ARN, updated_at=NOW)
        assert_valid_asff(document)
        assert document["Resources"][0]["Type"] == "AwsAccount" and document["Resources"][0]["Id"] == key
        # review: the analyzer's region, not the sweep's (where the finding is filed)
        assert document["Resources"][0]["Region"] == region and WHERE.region == "us-east-1"
    assert (failed.finding.compliance_status, failed.finding.severity) == ("FAILED", Severity.MEDIUM)
    assert failed.finding.subject == "eu-west-1"
    assert passed.finding.compliance_status == "PASSED"
    assert (summary.resource_type, summary.resource_id, summary.key, summary.compliance, summary.annotation) == (
        "AWS::::Account", ACCOUNT, account_key(ACCOUNT), Compliance.NON_COMPLIANT, "1 of 2 non-compliant: eu-west-1")


def test_not_run_when_any_region_could_not_be_read():
    snapshot = posture({"us-east-1": ()}, unavailable=MappingProxyType(
        {"analyzers:eu-west-1": "AccessDeniedException: access-analyzer:ListAnalyzers"}))
    not_run: list[NotRun] = []
    assert ENGINE.evaluate([RULE], [posture_subject(snapshot, "iam_posture")], Context(now=NOW), WHERE,
                           not_run=not_run) == []
    assert [n.reason for n in not_run] == ["analyzers:eu-west-1: AccessDeniedException: access-analyzer:ListAnalyzers"]


def test_meta():
    meta = rule.META
    assert meta.id == rule.__name__.rsplit(".", 1)[-1] and meta.trigger is None
    assert (meta.state.resource_type, meta.state.subject, meta.state.reads) == (
        "AWS::::Account", "iam_posture", ("analyzers:",))
    assert meta.severity is Severity.MEDIUM and meta.resource_type == "AwsAccount"
    assert meta.compliance == ("CIS5 1.19", "CIS3 1.20", "FSBP IAM.28")
    assert len(meta.remediation) <= 512 and "aws accessanalyzer create-analyzer" in meta.remediation
