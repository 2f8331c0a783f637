"""iam_mfa_device_enabled_outside_console: MFA devices created or enabled with keys, never in the console."""

from __future__ import annotations

import pytest
from identity_auditor.model.contract import Severity
from identity_auditor.model.policy import OrgPolicy
from identity_auditor.rules import iam_mfa_device_enabled_outside_console as rule
from identity_auditor.rules import root_account_used
from support import changed, corpus_record, load_sample, rule_findings, run_rule

ENABLE = load_sample("iam_enable_mfa_device_with_access_key__constructed")["detail"]
CREATE = load_sample("iam_create_virtual_mfa_device_with_access_key__constructed")["detail"]
CONSOLE_CREATE = load_sample("iam_create_virtual_mfa_device_console__constructed")["detail"]
# AWS's real console EnableMFADevice (root, Coral/Netty4, no sessionCredentialFromConsole: a 2022 record)
DOCS_CONSOLE = corpus_record("aws-docs", "EnableMFADevice")
SERIAL = "arn:aws:iam::123837392027:mfa/bert-jan-backup"
ROOT_KEYS = {"type": "Root", "principalId": "123837392027", "arn": "arn:aws:iam::123837392027:root",
             "accountId": "123837392027", "accessKeyId": "AKIAIOSFODNN7EXAMPLE"}


def test_enabling_a_device_with_an_access_key_is_flagged_for_the_user():
    violation = run_rule(rule, ENABLE)
    assert violation.severity is None  # the rule's MEDIUM
    assert violation.resource_id == "arn:aws:iam::123837392027:user/bert-jan"
    assert violation.details == {"EventName": "EnableMFADevice", "SerialNumber": SERIAL,
                                 "AccessKeyId": "AKIATFQR7NSC8Q4X20BJ", "DeviceOwner": "bert-jan",
                                 "UserAgent": ENABLE["userAgent"]}
    assert violation.description.startswith(
        f"bert-jan enabled MFA device {SERIAL} for IAM user bert-jan with access key AKIATFQR7NSC8Q4X20BJ")
    [finding] = rule_findings(rule, ENABLE)
    assert (finding.severity, finding.resource_type) == (Severity.MEDIUM, "AwsIamUser")


def test_creating_a_virtual_device_names_the_serial_from_the_response_or_the_request():
    violation = run_rule(rule, CREATE)
    assert (violation.resource_id, violation.resource_type) == (SERIAL, "Other")
    assert "created the virtual MFA device" in violation.description
    built = changed(CREATE, responseElements=None,
                    requestParameters={"virtualMFADeviceName": "backup", "path": "/ops"})
    assert run_rule(rule, built).resource_id == "arn:aws:iam::123837392027:mfa/ops/backup"
    assert rule_findings(rule, built)


@pytest.mark.parametrize("record", [
    DOCS_CONSOLE,  # user agent Coral/Netty4 (AWS's own console record)
    CONSOLE_CREATE,  # sessionCredentialFromConsole "true", user agent AWS Internal (invictus console session)
    changed(CONSOLE_CREATE, userAgent="Mozilla/5.0"),  # the flag alone
    changed(CONSOLE_CREATE, sessionCredentialFromConsole=None),  # the user agent alone
    changed(ENABLE, userIdentity={**ENABLE["userIdentity"], "accessKeyId": "ASIATFQR7NSCXRLH2ACF",
                                  "invokedBy": "signin.amazonaws.com"},
            userAgent="signin.amazonaws.com"),  # console records before 2021
], ids=["docs-coral-netty4", "console-session", "flag-only", "user-agent-only", "invoked-by-signin"])
def test_console_enrolment_is_quiet(record):
    assert run_rule(rule, record) is None


@pytest.mark.parametrize("agent", ["Coral/Netty4", "AWS Internal"])
def test_long_term_keys_are_never_the_console_whatever_the_user_agent(agent):
    spoofed = changed(ENABLE, userAgent=agent)
    assert ENABLE["userIdentity"]["accessKeyId"].startswith("AKIA")
    assert run_rule(rule, spoofed).details["UserAgent"] == agent
    assert run_rule(rule, changed(spoofed, sessionCredentialFromConsole="true")) is not None


def test_root_enabling_its_own_device_with_keys_names_the_account_and_is_root_use_too():
    record = changed(ENABLE, userIdentity=ROOT_KEYS, requestParameters={
        "userName": "AWS ROOT USER", "serialNumber": "arn:aws:iam::123837392027:mfa/root-account-mfa-device"})
    violation = run_rule(rule, record)
    assert (violation.resource_type, violation.resource_id) == ("AwsAccount", "AWS::::Account:123837392027")
    assert violation.details["DeviceOwner"] == "root"
    assert "for the root user" in violation.description
    unnamed = run_rule(rule, changed(record, requestParameters={"serialNumber": "arn:aws:iam::123837392027:mfa/x"}))
    assert unnamed.details["DeviceOwner"] == "root"
    findings = rule_findings(rule, record) + rule_findings(root_account_used, record)
    assert sorted(f.rule_id for f in findings) == ["iam_mfa_device_enabled_outside_console", "root_account_used"]


def test_failed_calls_and_identity_center_are_not_findings():
    assert run_rule(rule, changed(ENABLE, errorCode="InvalidAuthenticationCodeException",
                                  errorMessage="Authentication code for device is not valid.")) is None
    by_sso = changed(ENABLE, userIdentity={**ENABLE["userIdentity"], "invokedBy": "sso.amazonaws.com"})
    assert run_rule(rule, by_sso) is None


def test_allow_listed_caller_is_skipped_by_the_engine():
    assert rule_findings(rule, ENABLE)
    policy = OrgPolicy(allow={rule.META.id: ("arn:aws:iam::123837392027:user/bert-jan",)})
    assert rule_findings(rule, ENABLE, policy) == []


@pytest.mark.parametrize("record", [
    changed(ENABLE, requestParameters=None),
    changed(CREATE, requestParameters=None, responseElements={"virtualMFADevice": "not-an-object"}),
    changed(CREATE, requestParameters={"virtualMFADeviceName": 7}, responseElements=None),
], ids=["enable-without-parameters", "odd-response", "odd-name"])
def test_malformed_records_still_give_a_finding(record):
    violation = run_rule(rule, record)
    assert violation is not None and violation.resource_id
    assert rule_findings(rule, record)


def test_meta():
    meta = rule.META
    assert meta.id == rule.__name__.rsplit(".", 1)[-1] and meta.severity is Severity.MEDIUM
    assert meta.trigger.event_source == "iam.amazonaws.com"
    assert meta.trigger.event_names == {"CreateVirtualMFADevice", "EnableMFADevice"}
