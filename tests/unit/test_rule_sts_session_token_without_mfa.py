"""sts_session_token_without_mfa: GetSessionToken by an IAM user without an MFA serial number."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from asff_validator import assert_valid_asff
from identity_auditor.engine.events import Engine
from identity_auditor.engine.registry import Registry, Rule
from identity_auditor.model.cloudtrail import CloudTrailRecord
from identity_auditor.model.contract import Context
from identity_auditor.model.policy import OrgPolicy
from identity_auditor.rules import sts_session_token_without_mfa as rule
from identity_auditor.sinks.asff import to_asff
from support import changed, load_sample, run_rule

NOW = datetime(2026, 11, 22, tzinfo=timezone.utc)
PRODUCT_ARN = "arn:aws:securityhub:us-east-1:123456789012:product/123456789012/default"
WITHOUT_MFA = load_sample("sts_get_session_token_without_mfa__constructed")["detail"]
WITH_MFA = load_sample("sts_get_session_token_with_mfa__constructed")["detail"]


def _asff(raw: dict, policy: OrgPolicy | None = None) -> list:
    result = Engine(Registry([Rule(rule.META, rule.evaluate)])).evaluate(
        CloudTrailRecord.model_validate(raw), Context(now=NOW, policy=policy or OrgPolicy()))
    assert result.failures == []
    for finding in result.findings:
        assert_valid_asff(to_asff(finding, product_arn=PRODUCT_ARN, updated_at=NOW))
    return result.findings


def test_flags_a_session_token_without_mfa_and_names_the_new_key():
    violation = run_rule(rule, WITHOUT_MFA)
    assert violation.severity is None  # the rule's LOW
    assert violation.resource_id == "arn:aws:iam::123837392027:user/bert-jan"
    assert violation.details == {"IssuedAccessKeyId": "ASIATFQR7NSCSESSION3", "DurationSeconds": "129600",
                                 "MFASerialNumber": "none in the request"}
    assert violation.description.startswith("bert-jan got temporary credentials (GetSessionToken) without MFA")
    [finding] = _asff(WITHOUT_MFA)
    assert (finding.severity.value, finding.resource_type) == ("LOW", "AwsIamUser")


def test_mfa_enforcing_call_is_quiet():
    assert WITH_MFA["requestParameters"]["serialNumber"] == "arn:aws:iam::123837392027:mfa/bert-jan"
    assert run_rule(rule, WITH_MFA) is None
    with_code = changed(WITH_MFA, requestParameters={**WITH_MFA["requestParameters"], "tokenCode": "123456"})
    assert run_rule(rule, with_code) is None


@pytest.mark.parametrize("serial", [None, ""], ids=["null", "empty"])
def test_null_or_empty_serial_number_is_no_mfa(serial):
    record = changed(WITHOUT_MFA, requestParameters={"durationSeconds": 900, "serialNumber": serial})
    assert run_rule(rule, record) is not None


def test_request_parameters_null_is_no_mfa():
    record = changed(WITHOUT_MFA, requestParameters=None, responseElements=None)
    violation = run_rule(rule, record)
    assert violation.details == {"MFASerialNumber": "none in the request"}
    _asff(record)


def test_serial_number_key_is_matched_ignoring_case():
    record = changed(WITHOUT_MFA, requestParameters={"SerialNumber": "arn:aws:iam::123837392027:mfa/bert-jan"})
    assert run_rule(rule, record) is None


@pytest.mark.parametrize("identity_type", ["Root", "AssumedRole", "FederatedUser"])
def test_only_iam_users_are_findings(identity_type):
    # Root's call is root_account_used's; AWS refuses GetSessionToken to any temporary session.
    identity = {**WITHOUT_MFA["userIdentity"], "type": identity_type}
    assert run_rule(rule, changed(WITHOUT_MFA, userIdentity=identity)) is None


def test_ignores_failed_calls_and_identity_center():
    failed = changed(WITHOUT_MFA, errorCode="AccessDenied", errorMessage="denied", responseElements=None)
    assert run_rule(rule, failed) is None
    assert run_rule(rule, changed(WITHOUT_MFA, sourceIPAddress="sso.amazonaws.com")) is None


def test_allow_listed_caller_is_skipped():
    assert len(_asff(WITHOUT_MFA)) == 1
    assert _asff(WITHOUT_MFA, OrgPolicy(allow={rule.META.id: ("arn:aws:iam::*:user/bert-jan",)})) == []


def test_route_admits_read_only_events_in_every_region():
    [route] = Registry([Rule(rule.META, rule.evaluate)]).routes()
    assert route.all_management_events and route.scope == "regional"
    assert route.pattern["detail"] == {"eventSource": ["sts.amazonaws.com"], "eventName": ["GetSessionToken"]}
