"""security_tooling_disabled: GuardDuty, Access Analyzer, Security Hub, Config rules and CloudTrail Lake switched off or
told to look away (archive filters, trusted lists, suppressing automation, suppressing the auditor's own findings);
benign variants of the same calls stay quiet."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from asff_validator import assert_valid_asff
from identity_auditor.engine.events import Engine
from identity_auditor.engine.registry import Registry, Rule
from identity_auditor.model.cloudtrail import CloudTrailRecord
from identity_auditor.model.contract import Context
from identity_auditor.model.findings import finding_id
from identity_auditor.model.policy import OrgPolicy
from identity_auditor.rules import cloudtrail_logging_disabled, config_recording_disabled
from identity_auditor.rules import security_tooling_disabled as rule
from identity_auditor.rules._lib.guardrails import is_auditor_finding
from identity_auditor.sinks.asff import to_asff
from support import changed, corpus_record, findings_from, load_sample, run_rule

NOW = datetime(2026, 11, 22, tzinfo=timezone.utc)
PRODUCT_ARN = "arn:aws:securityhub:us-east-1:123456789012:product/123456789012/default"
DETECTOR_ID = "6ec1aa76c9c3020a93af9e89a5a3a439"
DETECTOR_ARN = f"arn:aws:guardduty:us-east-1:123837392027:detector/{DETECTOR_ID}"
# Real invictus GuardDuty and Security Hub records of bert-jan (IAM user, console), re-shaped to the documented calls.
GET_DETECTOR = corpus_record("invictus", "GetDetector")
HUB = changed(corpus_record("invictus", "DescribeHub"), errorCode=None)
DISABLE_DETECTOR = load_sample("guardduty_update_detector_disabled__constructed")["detail"]
ENABLE_DETECTOR = load_sample("guardduty_update_detector_enabled__constructed")["detail"]
ARCHIVE_FILTER = load_sample("guardduty_create_filter_archive__constructed")["detail"]
NOOP_FILTER = load_sample("guardduty_create_filter_noop__constructed")["detail"]
IP_SET = load_sample("guardduty_create_ip_set_activated__constructed")["detail"]
SUPPRESS_OURS = load_sample("securityhub_batch_update_findings_auditor_suppressed__constructed")["detail"]
SUPPRESS_OTHERS = load_sample("securityhub_batch_update_findings_other_product__constructed")["detail"]
AUTOMATION = load_sample("securityhub_create_automation_rule_suppressed__constructed")["detail"]
DISABLE_HUB = load_sample("securityhub_disable_security_hub__constructed")["detail"]
DELETE_ANALYZER = load_sample("access_analyzer_delete_analyzer__constructed")["detail"]
DELETE_EDS = load_sample("cloudtrail_delete_event_data_store__constructed")["detail"]
DELETE_CONFIG_RULE = load_sample("config_delete_config_rule__constructed")["detail"]
OURS = SUPPRESS_OURS["requestParameters"]["FindingIdentifiers"][0]
THEIRS = SUPPRESS_OTHERS["requestParameters"]["FindingIdentifiers"][0]


def _on(base: dict, source: str, name: str, request, response=None) -> dict:
    return changed(base, eventSource=f"{source}.amazonaws.com", eventName=name, requestParameters=request,
                   responseElements=response, readOnly=False)


def _gd(name: str, request, response=None) -> dict:
    return _on(GET_DETECTOR, "guardduty", name, {"detectorId": DETECTOR_ID, **(request or {})}, response)


def _sh(name: str, request, response=None) -> dict:
    return _on(HUB, "securityhub", name, request, response)


def _findings(raw: dict, policy: OrgPolicy | None = None, *modules) -> list:
    registry = Registry([Rule(m.META, m.evaluate) for m in (rule, *modules)])
    result = Engine(registry).evaluate(CloudTrailRecord.model_validate(raw), Context(now=NOW, policy=policy or OrgPolicy()))
    assert result.failures == []
    for finding in result.findings:
        assert_valid_asff(to_asff(finding, product_arn=PRODUCT_ARN, updated_at=NOW))
    return result.findings


def _severity(raw: dict) -> str | None:
    found = _findings(raw)
    assert len(found) <= 1
    return found[0].severity.value if found else None


# -- every trigger fires, with its severity --------------------------------------------------------------------------

POSITIVES = {
    "guardduty DeleteDetector": (_gd("DeleteDetector", {}), "HIGH"),
    "guardduty UpdateDetector": (DISABLE_DETECTOR, "HIGH"),
    "guardduty DisassociateFromAdministratorAccount": (_gd("DisassociateFromAdministratorAccount", {}), "HIGH"),
    "guardduty DisassociateFromMasterAccount": (_gd("DisassociateFromMasterAccount", {}), "HIGH"),
    "guardduty DisassociateMembers": (_gd("DisassociateMembers", {"accountIds": ["444455556666"]}), "HIGH"),
    "guardduty DeleteMembers": (_gd("DeleteMembers", {"accountIds": ["444455556666"]}), "HIGH"),
    "guardduty StopMonitoringMembers": (_gd("StopMonitoringMembers", {"accountIds": ["444455556666"]}), "HIGH"),
    "guardduty CreateFilter": (ARCHIVE_FILTER, "HIGH"),
    "guardduty UpdateFilter": (_gd("UpdateFilter", {"filterName": "noise", "action": "ARCHIVE"}), "HIGH"),
    "guardduty CreateIPSet": (IP_SET, "HIGH"),
    "guardduty UpdateIPSet": (_gd("UpdateIPSet", {"ipSetId": "0cc4bd2b", "activate": True}), "HIGH"),
    "guardduty CreateTrustedEntitySet": (_gd("CreateTrustedEntitySet", {"name": "ok", "format": "TXT",
                                                                       "location": "s3://b/k", "activate": True},
                                             {"trustedEntitySetId": "4ab8"}), "HIGH"),
    "guardduty UpdateTrustedEntitySet": (_gd("UpdateTrustedEntitySet", {"trustedEntitySetId": "4ab8", "activate": True}),
                                         "HIGH"),
    "access-analyzer DeleteAnalyzer": (DELETE_ANALYZER, "CRITICAL"),
    "access-analyzer CreateArchiveRule": (_on(GET_DETECTOR, "access-analyzer", "CreateArchiveRule", {
        "analyzerName": "org", "ruleName": "all-public", "filter": {"isPublic": {"eq": ["true"]}}}), "HIGH"),
    "access-analyzer UpdateArchiveRule": (_on(GET_DETECTOR, "access-analyzer", "UpdateArchiveRule", {
        "analyzerName": "org", "ruleName": "all-public", "filter": {}}), "HIGH"),
    "securityhub DisableSecurityHub": (DISABLE_HUB, "CRITICAL"),
    "securityhub DisableImportFindingsForProduct": (_sh("DisableImportFindingsForProduct", {
        "ProductSubscriptionArn": "arn:aws:securityhub:us-east-1:123837392027:product-subscription/123837392027/default"}),
        "CRITICAL"),
    "securityhub BatchDisableStandards": (_sh("BatchDisableStandards", {"StandardsSubscriptionArns": [
        "arn:aws:securityhub:us-east-1:123837392027:subscription/cis-aws-foundations-benchmark/v/5.0.0"]}), "HIGH"),
    "securityhub CreateAutomationRule": (AUTOMATION, "HIGH"),
    "securityhub BatchUpdateAutomationRules": (_sh("BatchUpdateAutomationRules", {"UpdateAutomationRulesRequestItems": [
        {"RuleArn": "arn:aws:securityhub:us-east-1:123837392027:automation-rule/r1", "Actions": [
            {"Type": "FINDING_FIELDS_UPDATE", "FindingFieldsUpdate": {"Workflow": {"Status": "RESOLVED"}}}]}]}), "HIGH"),
    "securityhub CreateAutomationRuleV2": (_sh("CreateAutomationRuleV2", {"RuleName": "quiet", "Actions": [
        {"Type": "FINDING_FIELDS_UPDATE", "FindingFieldsUpdate": {"StatusId": 3}}]},
        {"RuleArn": "arn:aws:securityhub:us-east-1:123837392027:automation-rulev2/r2"}), "HIGH"),
    "securityhub UpdateAutomationRuleV2": (_sh("UpdateAutomationRuleV2", {"Identifier": "r2", "Actions": [
        {"Type": "FINDING_FIELDS_UPDATE", "FindingFieldsUpdate": {"StatusId": "4"}}]}), "HIGH"),
    "securityhub BatchUpdateFindings": (SUPPRESS_OURS, "HIGH"),
    "config DeleteConfigRule": (DELETE_CONFIG_RULE, "HIGH"),
    "config DeleteConformancePack": (_on(GET_DETECTOR, "config", "DeleteConformancePack",
                                         {"conformancePackName": "cis"}), "HIGH"),
    "cloudtrail StopEventDataStoreIngestion": (_on(GET_DETECTOR, "cloudtrail", "StopEventDataStoreIngestion",
                                                   {"eventDataStore": "EXAMPLE-f852"}), "HIGH"),
    "cloudtrail DeleteEventDataStore": (DELETE_EDS, "HIGH"),
}


def test_every_trigger_has_a_positive_case():
    triggered = {f"{t.event_source.split('.')[0]} {name}" for t in rule.META.triggers for name in t.event_names}
    assert triggered == set(POSITIVES)


@pytest.mark.parametrize("case", sorted(POSITIVES))
def test_each_call_fires_with_its_severity(case):
    raw, severity = POSITIVES[case]
    assert _severity(raw) == severity
    assert _findings(changed(raw, errorCode="AccessDeniedException", responseElements=None)) == []


def test_the_detector_is_the_resource_and_the_description_says_what_happened():
    [finding] = _findings(DISABLE_DETECTOR)
    assert (finding.resource_type, finding.resource_id) == ("AwsGuardDutyDetector", DETECTOR_ARN)
    assert finding.description.startswith("bert-jan suspended the GuardDuty detector (enable: false)")
    assert "account 123837392027, us-east-1" in finding.description


# -- conditions of the row -------------------------------------------------------------------------------------------

def test_update_detector_only_when_disabled():
    assert run_rule(rule, ENABLE_DETECTOR) is None
    assert run_rule(rule, _gd("UpdateDetector", {"findingPublishingFrequency": "SIX_HOURS"})) is None
    assert run_rule(rule, _gd("UpdateDetector", {"enable": "false"})) is not None
    assert run_rule(rule, _gd("UpdateDetector", {"enable": 0})) is None  # not a documented value


def test_filters_only_when_they_archive():
    assert run_rule(rule, NOOP_FILTER) is None
    assert run_rule(rule, _gd("UpdateFilter", {"filterName": "noise", "rank": 3})) is None  # action unchanged
    violation = run_rule(rule, _gd("UpdateFilter", {"filterName": "noise", "action": "archive"}))
    assert violation.details["FilterName"] == "noise"
    created = run_rule(rule, ARCHIVE_FILTER)
    assert created.details["FilterName"] == "access-key-noise"
    assert '"AccessKey"' in created.details["FindingCriteria"]


@pytest.mark.parametrize("name", ["CreateIPSet", "UpdateIPSet", "CreateTrustedEntitySet", "UpdateTrustedEntitySet"])
def test_trusted_lists_only_when_activated(name):
    assert run_rule(rule, _gd(name, {"name": "x", "activate": False})) is None
    assert run_rule(rule, _gd(name, {"name": "x"})) is None
    assert run_rule(rule, _gd(name, {"name": "x", "activate": "true"})) is not None


def test_activated_ip_set_names_the_list():
    violation = run_rule(rule, IP_SET)
    assert violation.details["ListId"] == "0cc4bd2b8e1a4c0e9d8f7a6b5c4d3e2f"
    assert violation.details["Location"].endswith("trusted-ips.txt")
    assert "trusted IP list partner-egress" in violation.description


def test_automation_rules_only_when_they_suppress_or_resolve():
    severity_only = changed(AUTOMATION, requestParameters=dict(AUTOMATION["requestParameters"], Actions=[
        {"Type": "FINDING_FIELDS_UPDATE", "FindingFieldsUpdate": {"Severity": {"Label": "LOW"}}}]))
    assert run_rule(rule, severity_only) is None
    notified = changed(AUTOMATION, requestParameters=dict(AUTOMATION["requestParameters"], Actions=[
        {"Type": "FINDING_FIELDS_UPDATE", "FindingFieldsUpdate": {"Workflow": {"Status": "NOTIFIED"}}}]))
    assert run_rule(rule, notified) is None
    violation = run_rule(rule, AUTOMATION)
    assert violation.resource_id.endswith(":automation-rule/a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d")
    assert violation.details["Status"] == "SUPPRESSED"
    assert "GeneratorId" in violation.details["Criteria"]


@pytest.mark.parametrize("status_id, fires", [(1, False), (2, False), (3, True), (4, True), ("3", True), (99, False),
                                              (None, False), ("x", False), ("²", False)])
def test_v2_automation_rules_by_status_id(status_id, fires):
    raw = _sh("CreateAutomationRuleV2", {"RuleName": "r", "Actions": [
        {"Type": "FINDING_FIELDS_UPDATE", "FindingFieldsUpdate": {"StatusId": status_id, "Comment": "c"}}]})
    assert (run_rule(rule, raw) is not None) is fires


def test_batch_update_automation_rules_names_only_the_hiding_rules():
    raw = _sh("BatchUpdateAutomationRules", {"UpdateAutomationRulesRequestItems": [
        {"RuleArn": "rule-a", "Actions": [{"FindingFieldsUpdate": {"Workflow": {"Status": "RESOLVED"}}}]},
        {"RuleArn": "rule-b", "Actions": [{"FindingFieldsUpdate": {"Workflow": {"Status": "NEW"}}}]},
        {"RuleArn": "rule-c", "RuleStatus": "DISABLED"}]})
    assert run_rule(rule, raw).details["AutomationRules"] == "rule-a"


# -- BatchUpdateFindings: only identity-auditor's findings ------------------------------------------------------------

def test_suppressing_the_auditor_s_finding_fires_and_names_its_rule():
    violation = run_rule(rule, SUPPRESS_OURS)
    assert violation.details["AuditorFindings"] == "1"
    assert violation.details["AuditorRules"] == "iam_access_key_created"
    assert violation.resource_id == OURS["Id"]


def test_another_product_s_findings_are_quiet():
    assert THEIRS["ProductArn"].endswith("product/aws/guardduty")
    assert run_rule(rule, SUPPRESS_OTHERS) is None


def test_only_suppress_and_resolve_count():
    for status in ("NEW", "NOTIFIED", None):
        request = dict(SUPPRESS_OURS["requestParameters"], Workflow={"Status": status} if status else None)
        assert run_rule(rule, changed(SUPPRESS_OURS, requestParameters=request)) is None
    resolved = dict(SUPPRESS_OURS["requestParameters"], Workflow={"Status": "RESOLVED"})
    assert run_rule(rule, changed(SUPPRESS_OURS, requestParameters=resolved)).details["Status"] == "RESOLVED"


def test_a_mixed_batch_counts_only_ours():
    second = {"Id": OURS["Id"].replace("iam_access_key_created", "root_account_used"), "ProductArn": OURS["ProductArn"]}
    request = dict(SUPPRESS_OURS["requestParameters"], FindingIdentifiers=[THEIRS, OURS, second])
    violation = run_rule(rule, changed(SUPPRESS_OURS, requestParameters=request))
    assert violation.details["AuditorFindings"] == "2"
    assert violation.details["AuditorRules"] == "iam_access_key_created, root_account_used"


def test_the_auditor_s_real_finding_ids_are_recognised():
    produced = findings_from(load_sample("iam_create_access_key_for_other_user")["detail"])
    assert produced and all(is_auditor_finding({"Id": f.finding_id, "ProductArn": PRODUCT_ARN}) for f in produced)
    for event_id in (None, "64b7de64-bf53-47ae-b7e3-d30cb1b5136e"):
        for account in ("123456789012", "***", "redacted"):
            made = finding_id("iam_user_created", account, "eu-west-1", "arn:aws:iam::1:user/x", event_id)
            assert is_auditor_finding({"Id": made, "ProductArn": "arn:aws:securityhub:eu-west-1:1:product/acme/auditor"})


@pytest.mark.parametrize("identifier", [
    {"Id": OURS["Id"], "ProductArn": "arn:aws:securityhub:us-east-1::product/aws/securityhub"},  # AWS integration
    {"Id": THEIRS["Id"], "ProductArn": OURS["ProductArn"]},  # an ARN, not our shape
    {"Id": "IAM_ACCESS_KEY_CREATED/1/r/8d904a23f44c6860", "ProductArn": OURS["ProductArn"]},
    {"Id": "single/123/us-east-1/8d904a23f44c6860", "ProductArn": OURS["ProductArn"]},  # no domain_subject
    {"Id": "iam_user_created/1/r/8d904a23f44c686", "ProductArn": OURS["ProductArn"]},  # 15 hex
    {"Id": 7}, "iam_user_created/1/r/8d904a23f44c6860", None, {},
])
def test_identifiers_that_are_not_ours(identifier):
    assert not is_auditor_finding(identifier)
    request = dict(SUPPRESS_OURS["requestParameters"], FindingIdentifiers=[identifier])
    assert run_rule(rule, changed(SUPPRESS_OURS, requestParameters=request)) is None


@pytest.mark.parametrize("identifiers", [None, "x", {}, [None, 1, "s"]])
def test_malformed_identifier_lists_are_quiet(identifiers):
    request = dict(SUPPRESS_OURS["requestParameters"], FindingIdentifiers=identifiers)
    assert run_rule(rule, changed(SUPPRESS_OURS, requestParameters=request)) is None


# -- product imports, names, malformed requests ------------------------------------------------------------------------

def test_disabling_the_default_product_import_says_it_may_be_ours():
    raw, _ = POSITIVES["securityhub DisableImportFindingsForProduct"]
    violation = run_rule(rule, raw)
    assert violation.severity.value == "CRITICAL"
    assert violation.details["AuditorDefaultProduct"] == "true"
    other = _sh("DisableImportFindingsForProduct", {
        "ProductSubscriptionArn": "arn:aws:securityhub:us-east-1:123837392027:product-subscription/aws/guardduty"})
    assert "AuditorDefaultProduct" not in run_rule(rule, other).details


def test_names_and_arns_of_the_other_resources():
    assert run_rule(rule, DELETE_ANALYZER).resource_id == \
        "arn:aws:access-analyzer:us-east-1:123837392027:analyzer/ConsoleAnalyzer-3b0a1c2d"
    assert run_rule(rule, DELETE_CONFIG_RULE).resource_id == "config-rule/access-keys-rotated"
    assert run_rule(rule, DISABLE_HUB).resource_id == "arn:aws:securityhub:us-east-1:123837392027:hub/default"
    archive_rule = run_rule(rule, POSITIVES["access-analyzer CreateArchiveRule"][0])
    assert archive_rule.resource_id.endswith(":analyzer/org/archive-rule/all-public")


@pytest.mark.parametrize("case", sorted(POSITIVES))
def test_missing_or_odd_request_parameters_never_raise(case):
    raw, _ = POSITIVES[case]
    for request in (None, {}, {"detectorId": 5, "Actions": "x", "FindingIdentifiers": 3, "analyzerName": ["a"]}):
        run_rule(rule, changed(raw, requestParameters=request, responseElements={"RuleArn": 1}))


def test_unconditional_calls_fire_even_without_parameters():
    assert run_rule(rule, changed(DISABLE_HUB, requestParameters=None)) is not None
    assert run_rule(rule, _gd("DeleteDetector", None)).resource_id == DETECTOR_ARN
    assert run_rule(rule, changed(DELETE_EDS, requestParameters=None)).details["EventDataStore"] == "unknown"


# -- who is never a finding; no overlap with the trail and recorder rules ------------------------------------------------

def test_identity_center_s_own_calls_are_never_findings():
    assert run_rule(rule, changed(DISABLE_DETECTOR, sourceIPAddress="sso.amazonaws.com")) is None


def test_allow_listed_automation_is_skipped_by_the_engine():
    policy = OrgPolicy(allow={rule.META.id: ("arn:aws:iam::123837392027:user/bert-jan",)})
    assert len(_findings(DISABLE_HUB)) == 1
    assert _findings(DISABLE_HUB, policy) == []


def test_no_overlap_with_the_trail_and_recorder_rules():
    modules = (cloudtrail_logging_disabled, config_recording_disabled)
    assert [f.rule_id for f in _findings(DELETE_EDS, None, *modules)] == [rule.META.id]
    assert [f.rule_id for f in _findings(DELETE_CONFIG_RULE, None, *modules)] == [rule.META.id]
    stop_logging = load_sample("cloudtrail_stop_logging__constructed")["detail"]
    assert [f.rule_id for f in _findings(stop_logging, None, *modules)] == ["cloudtrail_logging_disabled"]
    recorder = load_sample("config_stop_configuration_recorder")["detail"]
    assert [f.rule_id for f in _findings(recorder, None, *modules)] == ["config_recording_disabled"]
