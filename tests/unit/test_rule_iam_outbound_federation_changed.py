"""iam_outbound_federation_changed: outbound identity federation enabled or disabled, never failures."""

from __future__ import annotations

import pytest
from identity_auditor.model.contract import Severity
from identity_auditor.model.policy import OrgPolicy
from identity_auditor.rules import iam_outbound_federation_changed as rule
from support import changed, load_sample, rule_findings, run_rule

ENABLE = load_sample("iam_enable_outbound_web_identity_federation__constructed")["detail"]
ALREADY = load_sample("iam_enable_outbound_web_identity_federation_already_enabled__constructed")["detail"]
DISABLE = changed(ENABLE, eventName="DisableOutboundWebIdentityFederation", responseElements=None)
ISSUER = "https://a1d2b0fd-1177-4468-9351-2fEXAMPLE723.tokens.sts.global.api.aws"


def test_enabling_names_the_issuer():
    violation = run_rule(rule, ENABLE)
    assert violation.severity is None  # the rule's MEDIUM
    assert violation.resource_id == "AWS::::Account:123837392027"
    assert violation.details == {"EventName": "EnableOutboundWebIdentityFederation", "IssuerIdentifier": ISSUER}
    assert violation.description.startswith(
        f"bert-jan enabled outbound identity federation in account 123837392027 (issuer {ISSUER})")
    [finding] = rule_findings(rule, ENABLE)
    assert (finding.severity, finding.resource_type) == (Severity.MEDIUM, "AwsAccount")


def test_disabling_is_a_change_too():
    violation = run_rule(rule, DISABLE)
    assert violation.details == {"EventName": "DisableOutboundWebIdentityFederation"}
    assert "disabled outbound identity federation" in violation.description
    assert rule_findings(rule, DISABLE)


@pytest.mark.parametrize("record", [
    ALREADY,
    changed(DISABLE, errorCode="FeatureDisabledException", errorMessage="Outbound identity federation is disabled."),
    changed(ENABLE, errorCode="AccessDenied", responseElements=None),
], ids=["already-enabled", "already-disabled", "access-denied"])
def test_failed_calls_are_quiet(record):
    assert run_rule(rule, record) is None


def test_identity_center_is_never_a_finding():
    by_sso = changed(ENABLE, sourceIPAddress="sso.amazonaws.com")
    assert run_rule(rule, by_sso) is None


@pytest.mark.parametrize("response", [None, {}, {"IssuerIdentifier": ISSUER}, {"issuerIdentifier": ["odd"]}])
def test_response_shapes(response):
    violation = run_rule(rule, changed(ENABLE, responseElements=response))
    assert violation is not None
    assert ("IssuerIdentifier" in violation.details) == bool(response)
    assert rule_findings(rule, changed(ENABLE, responseElements=response))


def test_allow_listed_caller_is_skipped_by_the_engine():
    policy = OrgPolicy(allow={rule.META.id: ("arn:aws:iam::123837392027:user/bert-jan",)})
    assert rule_findings(rule, ENABLE) and rule_findings(rule, ENABLE, policy) == []


def test_meta():
    meta = rule.META
    assert meta.id == rule.__name__.rsplit(".", 1)[-1] and meta.severity is Severity.MEDIUM
    assert meta.trigger.event_names == {"EnableOutboundWebIdentityFederation", "DisableOutboundWebIdentityFederation"}
