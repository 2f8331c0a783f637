"""sso_identity_source_changed: CRITICAL for an identity source switch, HIGH for provisioning and settings."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from asff_validator import assert_valid_asff
from identity_auditor.model.cloudtrail import CloudTrailRecord
from identity_auditor.model.contract import Severity
from identity_auditor.model.findings import build_finding
from identity_auditor.rules import sso_identity_source_changed as rule
from identity_auditor.sinks.asff import to_asff
from support import changed, load_sample, run_rule

NOW = datetime(2025, 3, 5, 12, 0, tzinfo=timezone.utc)
PRODUCT_ARN = "arn:aws:securityhub:us-east-1:123456789012:product/123456789012/default"
ENABLE_IDP = load_sample("sso_directory_enable_external_idp_configuration__constructed")["detail"]
ABAC = load_sample("sso_create_instance_access_control_attribute_configuration__constructed")["detail"]
TOKEN_FAILED = load_sample("sso_directory_create_bearer_token_failed__constructed")["detail"]

SWITCH = {
    "sso.amazonaws.com": ["AssociateDirectory", "DisassociateDirectory"],
    "sso-directory.amazonaws.com": [
        "CreateExternalIdPConfigurationForDirectory",
        "EnableExternalIdPConfigurationForDirectory",
        "DisableExternalIdPConfigurationForDirectory",
        "UpdateExternalIdPConfigurationForDirectory",
        "DeleteExternalIdPConfigurationForDirectory",
        "ImportExternalIdPCertificate",
        "DeleteExternalIdPCertificate",
    ],
}
SETTINGS = {
    "sso.amazonaws.com": [
        "UpdateSSOConfiguration",
        "PutMfaDeviceManagementForDirectory",
        "CreateInstanceAccessControlAttributeConfiguration",
        "UpdateInstanceAccessControlAttributeConfiguration",
        "DeleteInstanceAccessControlAttributeConfiguration",
    ],
    "sso-directory.amazonaws.com": [
        "CreateProvisioningTenant",
        "DeleteProvisioningTenant",
        "CreateBearerToken",
        "DeleteBearerToken",
        "PutMfaDeviceManagementForDirectory",
    ],
}


def _cases(table):
    return [(source, name) for source, names in table.items() for name in names]


def _trigger_for(source: str):
    return rule.META.trigger if source == rule.META.trigger.event_source else rule.ALSO


def test_the_two_triggers_cover_exactly_the_catalogue_names():
    assert rule.META.trigger.event_source == "sso-directory.amazonaws.com"
    assert rule.ALSO.event_source == "sso.amazonaws.com"
    for trigger in (rule.META.trigger, rule.ALSO):
        expected = set(SWITCH.get(trigger.event_source, [])) | set(SETTINGS.get(trigger.event_source, []))
        assert trigger.event_names == expected


@pytest.mark.parametrize(("source", "name"), _cases(SWITCH))
def test_identity_source_switch_is_critical_from_either_source(source, name):
    assert _trigger_for(source).matches(source, name, "AssumedRole")
    violation = run_rule(rule, changed(ENABLE_IDP, eventSource=source, eventName=name))
    assert violation is not None and violation.severity is Severity.CRITICAL


@pytest.mark.parametrize(("source", "name"), _cases(SETTINGS))
def test_provisioning_sign_in_and_abac_settings_are_high(source, name):
    assert _trigger_for(source).matches(source, name, "AssumedRole")
    violation = run_rule(rule, changed(ABAC, eventSource=source, eventName=name))
    assert violation is not None and violation.severity is Severity.HIGH


def test_findings_name_the_caller_and_the_instance_and_are_valid_asff():
    for raw, resource in (
        (ENABLE_IDP, "IdentityCenter/111122223333"),
        (ABAC, "arn:aws:sso:::instance/ssoins-72233af8ea2d1f14"),
    ):
        violation = run_rule(rule, raw)
        assert violation.resource_id == resource
        assert "jane@example.com" in violation.description
        finding = build_finding(rule.META, violation, CloudTrailRecord.model_validate(raw))
        assert_valid_asff(to_asff(finding, product_arn=PRODUCT_ARN, updated_at=NOW))


def test_ignores_failed_calls():
    assert TOKEN_FAILED["errorCode"] == "AccessDeniedException"
    assert run_rule(rule, TOKEN_FAILED) is None


def test_ignores_other_names_if_ever_delivered():
    assert (
        run_rule(rule, changed(ABAC, eventName="DescribeInstanceAccessControlAttributeConfiguration")) is None
    )


# -- both record shapes (spec/rules.md §A, "Identity Center records changed shape in 2025") ------------------
ENABLE_IDP_BY_IC_USER = load_sample(
    "sso_directory_enable_external_idp_configuration_identity_center_user__constructed"
)["detail"]
ENABLE_IDP_BY_IC_USER_FAILED = load_sample(
    "sso_directory_enable_external_idp_configuration_identity_center_user_failed__constructed"
)["detail"]
USER_ID = "544894e8-80c1-707f-60e3-3ba6510dfac1"


def test_a_caller_in_the_identity_center_user_shape_is_named_by_user_id():
    assert ENABLE_IDP_BY_IC_USER["userIdentity"]["type"] == "IdentityCenterUser"
    violation = run_rule(rule, ENABLE_IDP_BY_IC_USER)
    assert violation is not None and violation.severity is Severity.CRITICAL
    assert violation.description.startswith(f"Identity Center user {USER_ID} enabled the external identity provider")
    assert violation.details["CallerUserId"] == USER_ID
    finding = build_finding(rule.META, violation, CloudTrailRecord.model_validate(ENABLE_IDP_BY_IC_USER))
    assert finding.actor.name == USER_ID and finding.actor.type == "IdentityCenterUser"
    assert_valid_asff(to_asff(finding, product_arn=PRODUCT_ARN, updated_at=NOW))


def test_the_role_session_shape_names_the_session():
    assert run_rule(rule, ENABLE_IDP).description.startswith(
        "AWSReservedSSO_AdministratorAccess_0123456789abcdef/jane@example.com enabled"
    )


def test_ignores_a_failed_change_in_the_identity_center_user_shape():
    assert ENABLE_IDP_BY_IC_USER_FAILED["errorCode"] == "AccessDeniedException"
    assert run_rule(rule, ENABLE_IDP_BY_IC_USER_FAILED) is None
