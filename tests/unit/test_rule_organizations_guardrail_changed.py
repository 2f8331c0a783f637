"""organizations_guardrail_changed: SCP/RCP removal, leaving the organisation (attempts too), delegation and trusted
access changes, centralised root access turned off; non-guardrail policy types and failed calls stay quiet."""

from __future__ import annotations

from datetime import datetime, timezone
from types import MappingProxyType

import pytest
from asff_validator import assert_valid_asff
from identity_auditor.engine.events import Engine
from identity_auditor.engine.registry import Registry, Rule
from identity_auditor.model.cloudtrail import CloudTrailRecord
from identity_auditor.model.contract import Context
from identity_auditor.model.deployment import GUARDRAIL_POLICY_TYPES
from identity_auditor.model.policy import OrgPolicy
from identity_auditor.rules import organizations_guardrail_changed as rule
from identity_auditor.rules import root_account_used
from identity_auditor.sinks.asff import to_asff
from support import changed, corpus_record, load_sample

NOW = datetime(2026, 11, 22, tzinfo=timezone.utc)
PRODUCT_ARN = "arn:aws:securityhub:us-east-1:123456789012:product/123456789012/default"
MEMBER = "444455556666"
# The real invictus attempt (stratus-red-team organizations-leave), denied by IAM.
LEAVE = corpus_record("invictus", "LeaveOrganization", eventID="be7f89b5-d456-4423-b3e6-0fb0b19bad7c")
DETACH_DENIED = load_sample("organizations_detach_policy_denied__constructed")["detail"]
DETACH_BY_ROOT = load_sample("organizations_detach_policy_scp_by_root__constructed")["detail"]
DETACH_FULL = load_sample("organizations_detach_policy_full_aws_access__constructed")["detail"]
DISABLE_TYPE = load_sample("organizations_disable_policy_type_scp__constructed")["detail"]
UPDATE_SCP = load_sample("organizations_update_policy_scp__constructed")["detail"]
UPDATE_TAG = load_sample("organizations_update_policy_tag_policy__constructed")["detail"]
REGISTER = load_sample("organizations_register_delegated_administrator__constructed")["detail"]
ROOT_SESSIONS = load_sample("iam_disable_organizations_root_sessions__constructed")["detail"]
# An Identity Center administrator of the management account (the samples' caller), for the other names.
ADMIN = changed(DETACH_FULL, requestParameters=None)


def _ctx(policy_types: dict[str, str] | None = None, policy: OrgPolicy | None = None) -> Context:
    return Context(now=NOW, policy=policy or OrgPolicy(), policy_types=MappingProxyType(policy_types or {}))


def _run(raw: dict, policy_types: dict[str, str] | None = None):
    return rule.evaluate(CloudTrailRecord.model_validate(raw), _ctx(policy_types))


def _findings(raw: dict, policy_types: dict[str, str] | None = None, policy: OrgPolicy | None = None, *modules):
    registry = Registry([Rule(m.META, m.evaluate) for m in (rule, *modules)])
    result = Engine(registry).evaluate(CloudTrailRecord.model_validate(raw), _ctx(policy_types, policy))
    assert result.failures == []
    for finding in result.findings:
        assert_valid_asff(to_asff(finding, product_arn=PRODUCT_ARN, updated_at=NOW))
    return result.findings


# -- leaving the organisation ---------------------------------------------------------------------------------------

def test_the_real_failed_leave_attempt_is_high_and_names_the_error():
    assert LEAVE["errorCode"] == "AccessDenied"
    violation = _run(LEAVE)
    assert violation.severity is None  # the rule's HIGH
    assert violation.resource_id == "AWS::::Account:123837392027"
    assert violation.details == {"ErrorCode": "AccessDenied"}
    assert "tried to take account 123837392027 out of its organisation (failed: AccessDenied)" in violation.description
    [finding] = _findings(LEAVE)
    assert (finding.severity.value, finding.resource_type) == ("HIGH", "AwsAccount")


def test_a_successful_leave_is_critical():
    left = changed(LEAVE, errorCode=None, errorMessage=None)
    violation = _run(left)
    assert violation.severity.value == "CRITICAL"
    assert "took the account out of its organisation" in violation.description
    assert [f.severity.value for f in _findings(left)] == ["CRITICAL"]


def test_a_failed_detach_next_to_the_attempt_is_quiet():
    assert DETACH_DENIED["errorCode"] == "AccessDenied" and DETACH_DENIED["eventName"] == "DetachPolicy"
    assert _run(DETACH_DENIED) is None
    assert _run(DETACH_DENIED, {"p-FullAWSAccess": "SERVICE_CONTROL_POLICY"}) is None
    assert _findings(DETACH_DENIED) == []


# -- policies: detach, delete, update -------------------------------------------------------------------------------

def test_detach_of_a_policy_whose_type_could_not_be_looked_up_counts_and_says_so():
    violation = _run(DETACH_BY_ROOT)
    assert violation.severity is None
    assert violation.resource_id == f"AWS::::Account:{MEMBER}"
    assert violation.details["PolicyType"] == "unknown"
    assert violation.details["PolicyTypeChecked"].startswith("false")
    assert "type could not be checked" in violation.description


@pytest.mark.parametrize("policy_type", sorted(GUARDRAIL_POLICY_TYPES))
def test_detach_of_a_known_guardrail_is_high_without_the_caveat(policy_type):
    violation = _run(DETACH_BY_ROOT, {"p-bvdv3rx3": policy_type})
    assert violation.details["PolicyType"] == policy_type
    assert "PolicyTypeChecked" not in violation.details
    assert "could not be checked" not in violation.description
    assert "control policy p-bvdv3rx3 from 444455556666" in violation.description


@pytest.mark.parametrize("policy_type", ["TAG_POLICY", "BACKUP_POLICY", "AISERVICES_OPT_OUT_POLICY", "CHATBOT_POLICY",
                                         "DECLARATIVE_POLICY_EC2", "tag_policy"])
def test_detach_or_delete_of_a_known_non_guardrail_type_is_no_finding(policy_type):
    assert _run(DETACH_BY_ROOT, {"p-bvdv3rx3": policy_type}) is None
    deleted = changed(ADMIN, eventName="DeletePolicy", requestParameters={"policyId": "p-bvdv3rx3"})
    assert _run(deleted, {"p-bvdv3rx3": policy_type}) is None


def test_root_detaching_an_scp_is_also_root_use():
    findings = _findings(DETACH_BY_ROOT, None, None, root_account_used)
    assert sorted((f.rule_id, f.severity.value) for f in findings) == [
        ("organizations_guardrail_changed", "HIGH"), ("root_account_used", "HIGH")]


def test_detaching_full_aws_access_is_a_known_scp_and_explains_the_lock_out():
    violation = _run(DETACH_FULL)  # no lookup needed: the id is the same in every organisation
    assert violation.severity is None
    assert violation.details == {"PolicyId": "p-FullAWSAccess", "PolicyType": "SERVICE_CONTROL_POLICY",
                                 "TargetId": MEMBER, "FullAWSAccess": "true"}
    assert "FullAWSAccess SCP (p-FullAWSAccess) from 444455556666" in violation.description
    assert "lock-out" in violation.description
    assert [f.severity.value for f in _findings(DETACH_FULL)] == ["HIGH"]


def test_detach_from_an_ou_or_root_names_it_as_another_resource():
    for target in ("ou-bmrv-4r1pz0xk", "r-bmrv"):
        raw = changed(DETACH_BY_ROOT, requestParameters={"policyId": "p-bvdv3rx3", "targetId": target})
        [finding] = _findings(raw, {"p-bvdv3rx3": "SERVICE_CONTROL_POLICY"})
        assert (finding.resource_type, finding.resource_id) == ("Other", target)


def test_delete_policy_resolves_the_type_from_the_context():
    deleted = changed(ADMIN, eventName="DeletePolicy", requestParameters={"policyId": "p-bvdv3rx3"})
    violation = _run(deleted, {"p-bvdv3rx3": "RESOURCE_CONTROL_POLICY"})
    assert violation.resource_id == "p-bvdv3rx3"
    assert "deleted resource control policy p-bvdv3rx3" in violation.description
    unchecked = _run(deleted)
    assert unchecked.details["PolicyTypeChecked"].startswith("false")
    [finding] = _findings(deleted)
    assert (finding.resource_type, finding.severity.value) == ("Other", "HIGH")


def test_update_of_an_scp_reads_the_type_from_the_response():
    violation = _run(UPDATE_SCP, {"p-bvdv3rx3": "TAG_POLICY"})  # the record wins over the context
    assert violation.resource_id.endswith(":policy/o-pdbiiraurm/service_control_policy/p-bvdv3rx3")
    assert violation.details["PolicyType"] == "SERVICE_CONTROL_POLICY"
    assert "changed service control policy p-bvdv3rx3" in violation.description


def test_update_of_a_tag_policy_is_quiet():
    assert UPDATE_TAG["responseElements"]["policy"]["policySummary"]["type"] == "TAG_POLICY"
    assert _run(UPDATE_TAG) is None


def test_update_without_a_type_falls_back_to_the_arn_then_the_context():
    no_type = changed(UPDATE_TAG)
    del no_type["responseElements"]["policy"]["policySummary"]["type"]
    assert _run(no_type) is None  # .../tag_policy/p-... in the ARN
    no_response = changed(UPDATE_TAG, responseElements=None)
    assert _run(no_response, {"p-95ouootbwa": "TAG_POLICY"}) is None
    assert _run(no_response).details["PolicyType"] == "unknown"


# -- policy types, membership, delegation, trusted access ------------------------------------------------------------

@pytest.mark.parametrize("policy_type", sorted(GUARDRAIL_POLICY_TYPES))
def test_disabling_a_guardrail_policy_type_is_critical(policy_type):
    raw = changed(DISABLE_TYPE, requestParameters={"rootId": "r-bmrv", "policyType": policy_type})
    violation = _run(raw)
    assert violation.severity.value == "CRITICAL"
    assert violation.resource_id == "arn:aws:organizations::111122223333:root/o-pdbiiraurm/r-bmrv"
    assert "control policies in root r-bmrv" in violation.description


def test_disable_policy_type_sample_fires_with_root_use():
    findings = _findings(DISABLE_TYPE, None, None, root_account_used)
    assert sorted((f.rule_id, f.severity.value) for f in findings) == [
        ("organizations_guardrail_changed", "CRITICAL"), ("root_account_used", "HIGH")]


def test_disabling_other_policy_types_is_quiet_and_a_missing_type_counts():
    assert _run(changed(DISABLE_TYPE, requestParameters={"rootId": "r-bmrv", "policyType": "TAG_POLICY"})) is None
    missing = _run(changed(DISABLE_TYPE, requestParameters={"rootId": "r-bmrv"}))
    assert (missing.severity.value, missing.details["PolicyType"]) == ("CRITICAL", "unknown")
    failed = changed(DISABLE_TYPE, errorCode="PolicyTypeNotEnabledException", responseElements=None)
    assert _run(failed) is None


@pytest.mark.parametrize("event_name, parameters, severity, resource", [
    ("RemoveAccountFromOrganization", {"accountId": MEMBER}, "HIGH", f"AWS::::Account:{MEMBER}"),
    ("RegisterDelegatedAdministrator", {"accountId": MEMBER, "servicePrincipal": "guardduty.amazonaws.com"},
     "MEDIUM", f"AWS::::Account:{MEMBER}"),
    ("DeregisterDelegatedAdministrator", {"accountId": MEMBER, "servicePrincipal": "securityhub.amazonaws.com"},
     "HIGH", f"AWS::::Account:{MEMBER}"),
    ("EnableAWSServiceAccess", {"servicePrincipal": "config.amazonaws.com"}, "MEDIUM", "config.amazonaws.com"),
    ("DisableAWSServiceAccess", {"servicePrincipal": "cloudtrail.amazonaws.com"}, "HIGH", "cloudtrail.amazonaws.com"),
])
def test_membership_delegation_and_trusted_access(event_name, parameters, severity, resource):
    raw = changed(ADMIN, eventName=event_name, requestParameters=parameters)
    [finding] = _findings(raw)
    assert (finding.severity.value, finding.resource_id) == (severity, resource)
    for value in parameters.values():
        assert value in finding.description


def test_register_sample_is_medium():
    violation = _run(REGISTER)
    assert violation.severity.value == "MEDIUM"
    assert violation.details == {"AccountId": MEMBER, "ServicePrincipal": "guardduty.amazonaws.com"}


def test_the_delegation_policy_is_named_by_its_arn():
    arn = "arn:aws:organizations::111122223333:resourcepolicy/o-pdbiiraurm/rp-vdj3leyl"
    raw = changed(ADMIN, eventName="PutResourcePolicy", requestParameters={"content": "HIDDEN_DUE_TO_SECURITY_REASONS"},
                  responseElements={"resourcePolicy": {"resourcePolicySummary": {"arn": arn, "id": "rp-vdj3leyl"},
                                                       "content": "HIDDEN_DUE_TO_SECURITY_REASONS"}})
    [finding] = _findings(raw)
    assert (finding.severity.value, finding.resource_id) == ("HIGH", arn)
    assert _run(changed(raw, responseElements=None)).resource_id == "organization-resource-policy/111122223333"


@pytest.mark.parametrize("event_name", ["DisableOrganizationsRootSessions", "DisableOrganizationsRootCredentialsManagement"])
def test_turning_off_centralised_root_access_is_high(event_name):
    raw = changed(ROOT_SESSIONS, eventName=event_name)
    violation = _run(raw)
    assert violation.severity is None
    assert (violation.resource_id, violation.details) == ("o-pdbiiraurm", {"EnabledFeatures": "RootCredentialsManagement"})
    assert [f.rule_id for f in _findings(raw)] == ["organizations_guardrail_changed"]
    assert any(t.event_source == "iam.amazonaws.com" and event_name in t.event_names for t in rule.META.triggers)


# -- who and what is never a finding ---------------------------------------------------------------------------------

@pytest.mark.parametrize("raw", [DETACH_FULL, UPDATE_SCP, REGISTER, ROOT_SESSIONS], ids=lambda r: r["eventName"])
def test_failed_calls_other_than_leaving_are_quiet(raw):
    assert _run(changed(raw, errorCode="AccessDeniedException", responseElements=None)) is None


@pytest.mark.parametrize("raw", [LEAVE, DETACH_FULL, DISABLE_TYPE], ids=lambda r: r["eventName"])
def test_identity_center_s_own_calls_are_never_findings(raw):
    assert _run(changed(raw, sourceIPAddress="sso.amazonaws.com")) is None
    identity = dict(raw["userIdentity"], invokedBy="sso.amazonaws.com")
    assert _run(changed(raw, userIdentity=identity)) is None


def test_allow_listed_automation_is_skipped_by_the_engine():
    policy = OrgPolicy(allow={rule.META.id: ("arn:aws:iam::111122223333:role/aws-reserved/sso.amazonaws.com/"
                                             "AWSReservedSSO_AdministratorAccess_*",)})
    assert len(_findings(DETACH_FULL)) == 1
    assert _findings(DETACH_FULL, None, policy) == []


@pytest.mark.parametrize("parameters", [None, {}, {"policyId": 7, "targetId": ["x"]}, {"policyId": "", "targetId": ""}])
def test_malformed_detach_requests_still_fire_without_an_exception(parameters):
    violation = _run(changed(DETACH_FULL, requestParameters=parameters))
    assert violation is not None and violation.details["PolicyType"] == "unknown"
    _findings(changed(DETACH_FULL, requestParameters=parameters))


def test_malformed_responses_do_not_raise():
    assert _run(changed(UPDATE_SCP, responseElements={"policy": "text"})).details["PolicyType"] == "unknown"
    assert _run(changed(ROOT_SESSIONS, responseElements={"enabledFeatures": "x"})).details == {"EnabledFeatures": "unknown"}
    assert _run(changed(DISABLE_TYPE, requestParameters={"policyType": 3})).severity.value == "CRITICAL"


def test_other_events_are_ignored():
    assert _run(changed(ADMIN, eventName="AttachPolicy", requestParameters={"policyId": "p-1", "targetId": MEMBER})) is None


class _Reader:
    """An OrganizationReader stand-in: DescribePolicy answers for the ids it knows, fails (leaves out) the rest."""

    def __init__(self, types: dict[str, str]):
        self.types, self.asked = types, []

    def policy_types(self, policy_ids):
        self.asked.extend(policy_ids)
        return {policy_id: self.types[policy_id] for policy_id in policy_ids if policy_id in self.types}

    def organization(self):
        return None


def test_the_deployment_looks_up_the_detached_policy_before_the_rule_runs():
    from identity_auditor.delivery.context import ContextBuilder

    assert "policy_types" in rule.META.uses
    reader = _Reader({"p-bvdv3rx3": "TAG_POLICY"})
    record = CloudTrailRecord.model_validate(DETACH_BY_ROOT)
    ctx = ContextBuilder(reader=reader).for_record(record, OrgPolicy(), NOW)
    assert reader.asked == ["p-bvdv3rx3"]
    assert rule.evaluate(record, ctx) is None  # a tag policy: no guardrail
    failed_lookup = ContextBuilder(reader=_Reader({})).for_record(record, OrgPolicy(), NOW)
    assert rule.evaluate(record, failed_lookup).details["PolicyTypeChecked"].startswith("false")
