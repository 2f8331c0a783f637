"""iam_roles_anywhere_trust_changed: the real invictus trust anchor and profile, every event name, disabled
resources, failures, Identity Center and allow-listed callers."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest
from asff_validator import assert_valid_asff
from identity_auditor.engine.events import Engine
from identity_auditor.engine.registry import REGISTRY, Registry, Rule
from identity_auditor.model.cloudtrail import CloudTrailRecord
from identity_auditor.model.contract import Context, Severity
from identity_auditor.model.policy import OrgPolicy
from identity_auditor.rules import iam_roles_anywhere_trust_changed as rule
from identity_auditor.sinks.asff import to_asff
from support import changed, corpus_record, corpus_records, load_sample, run_rule

NOW = datetime(2026, 11, 22, tzinfo=timezone.utc)
PRODUCT_ARN = "arn:aws:securityhub:us-east-1:123456789012:product/123456789012/default"
ANCHOR = corpus_record("invictus", "CreateTrustAnchor")  # stratus-red-team's Roles Anywhere persistence
PROFILE = corpus_record("invictus", "CreateProfile")
ANCHOR_ID = "49e25ec3-bdfe-4150-8683-b4ea4ee85cfd"
ANCHOR_ARN = f"arn:aws:rolesanywhere:us-east-1:123837392027:trust-anchor/{ANCHOR_ID}"
PROFILE_ID = "ac4e09d1-a150-4924-bb76-23b00fa7c34a"
PROFILE_ARN = f"arn:aws:rolesanywhere:us-east-1:123837392027:profile/{PROFILE_ID}"
ROLE = "arn:aws:iam::123837392027:role/stratus-red-team-trust-anchor-role"
FINGERPRINT = "fed87f1d0e4d10c8366be0f5a64e38544370b21600832e2a1c644181f1d6f6d9"  # openssl x509 -fingerprint -sha256
PCA = "arn:aws:acm-pca:us-east-1:123837392027:certificate-authority/0d5b9c36-3f1e-4a8a-9a3b-6c2f1e0d4b7a"
CRL_ID = "3f6e2a1b-9c8d-4e7f-a6b5-c4d3e2f1a0b9"
DISABLED_ANCHOR = load_sample("rolesanywhere_create_trust_anchor_disabled__constructed")["detail"]
DISABLE_CRL = load_sample("rolesanywhere_disable_crl__constructed")["detail"]
SERVICE_ROLE = {
    "type": "AssumedRole", "accountId": "123837392027",
    "arn": "arn:aws:sts::123837392027:assumed-role/AWSServiceRoleForSSO/AWS-SSO",
    "sessionContext": {"sessionIssuer": {
        "type": "Role", "userName": "AWSServiceRoleForSSO",
        "arn": "arn:aws:iam::123837392027:role/aws-service-role/sso.amazonaws.com/AWSServiceRoleForSSO"}},
}


def _asff(raw: dict, policy: OrgPolicy | None = None) -> list[dict]:
    ctx = Context(now=NOW, policy=policy or OrgPolicy())
    result = Engine(Registry([Rule(rule.META, rule.evaluate)])).evaluate(CloudTrailRecord.model_validate(raw), ctx)
    assert result.failures == []
    documents = [to_asff(finding, product_arn=PRODUCT_ARN, updated_at=NOW) for finding in result.findings]
    for document in documents:
        assert_valid_asff(document)
    return documents


def _profile_response(**fields) -> dict:
    return {"profile": {**PROFILE["responseElements"]["profile"], **fields}}


def test_flags_the_real_trust_anchor_naming_its_ca_without_the_certificate():
    violation = run_rule(rule, ANCHOR)
    assert violation.severity is None and rule.META.severity is Severity.HIGH
    assert violation.resource_id == ANCHOR_ARN
    assert violation.details == {"TrustAnchorArn": ANCHOR_ARN, "TrustAnchorName": "malicious-rolesanywhere-trust-anchor",
                                 "SourceType": "CERTIFICATE_BUNDLE", "CertificateSha256": FINGERPRINT}
    assert violation.description == (
        "bert-jan created IAM Roles Anywhere trust anchor malicious-rolesanywhere-trust-anchor (CERTIFICATE_BUNDLE) "
        "in account 123837392027 (us-east-1): certificates its CA issues can get AWS credentials.")
    [document] = _asff(ANCHOR)
    assert (document["Severity"]["Label"], document["Resources"][0]["Type"]) == ("HIGH", "Other")
    assert "BEGIN CERTIFICATE" not in json.dumps(document) and "MIIE3zCC" not in json.dumps(document)
    assert "TTPs/Persistence" in document["Types"]


def test_flags_the_real_profile_as_medium_naming_its_roles():
    violation = run_rule(rule, PROFILE)
    assert violation.severity is Severity.MEDIUM
    assert violation.resource_id == PROFILE_ARN
    assert violation.details == {"ProfileArn": PROFILE_ARN, "ProfileName": "malicious-rolesanywhere-profile",
                                 "RoleArns": ROLE, "DurationSeconds": "3600"}
    assert violation.description.endswith(f"(us-east-1) for roles {ROLE}.")
    assert _asff(PROFILE)[0]["Severity"]["Label"] == "MEDIUM"


def test_a_private_ca_trust_anchor_names_the_ca():
    source = {"sourceType": "AWS_ACM_PCA", "sourceData": {"acmPcaArn": PCA}}
    record = changed(ANCHOR, eventName="UpdateTrustAnchor", requestParameters={"trustAnchorId": ANCHOR_ID, "source": source},
                     responseElements={"trustAnchor": {**ANCHOR["responseElements"]["trustAnchor"], "source": source}})
    violation = run_rule(rule, record)
    assert violation.details["SourceType"] == "AWS_ACM_PCA" and violation.details["AcmPcaArn"] == PCA
    assert "CertificateSha256" not in violation.details
    assert "bert-jan changed the certificate authority of IAM Roles Anywhere trust anchor" in violation.description
    _asff(record)


@pytest.mark.parametrize("event_name, request_parameters, response, severity, resource", [
    ("UpdateTrustAnchor", {"trustAnchorId": ANCHOR_ID, "name": "renamed"}, None, None, ANCHOR_ARN),
    ("EnableTrustAnchor", {"trustAnchorId": ANCHOR_ID}, None, None, ANCHOR_ARN),
    ("UpdateProfile", {"profileId": PROFILE_ID, "roleArns": [ROLE, "arn:aws:iam::123837392027:role/admin"]},
     None, Severity.MEDIUM, PROFILE_ARN),
    ("EnableProfile", {"profileId": PROFILE_ID}, None, Severity.MEDIUM, PROFILE_ARN),
    ("PutAttributeMapping", {"profileId": PROFILE_ID, "certificateField": "x509Subject",
                             "mappingRules": [{"specifier": "CN"}, {"specifier": "OU"}]}, None, Severity.MEDIUM, PROFILE_ARN),
    ("DeleteAttributeMapping", {"profileId": PROFILE_ID, "certificateField": "x509SAN", "specifiers": ["DNS"]},
     None, Severity.MEDIUM, PROFILE_ARN),
    ("DisableCrl", {"crlId": CRL_ID}, None, None, f"arn:aws:rolesanywhere:us-east-1:123837392027:crl/{CRL_ID}"),
    ("DeleteCrl", {"crlId": CRL_ID}, DISABLE_CRL["responseElements"], None, DISABLE_CRL["responseElements"]["crl"]["crlArn"]),
], ids=["update-anchor", "enable-anchor", "update-profile", "enable-profile", "put-mapping", "delete-mapping",
        "disable-crl", "delete-crl"])
def test_every_event_name_is_flagged_at_its_severity(event_name, request_parameters, response, severity, resource):
    record = changed(ANCHOR, eventName=event_name, requestParameters=request_parameters, responseElements=response)
    violation = run_rule(rule, record)  # without a response, ARNs are built from the id, account and Region
    assert violation.severity is severity
    assert violation.resource_id == resource
    [document] = _asff(record)
    assert document["Severity"]["Label"] == (severity or Severity.HIGH).value


def test_profile_updates_name_the_roles_and_mappings():
    updated = changed(PROFILE, eventName="UpdateProfile", requestParameters={"profileId": PROFILE_ID},
                      responseElements=_profile_response(roleArns=[ROLE, "arn:aws:iam::123837392027:role/admin"],
                                                         managedPolicyArns=["arn:aws:iam::aws:policy/ReadOnlyAccess"]))
    details = run_rule(rule, updated).details
    assert details["RoleArns"] == f"{ROLE}, arn:aws:iam::123837392027:role/admin"  # the response: the profile after the call
    assert details["ManagedPolicyArns"] == "arn:aws:iam::aws:policy/ReadOnlyAccess"
    mapping = changed(PROFILE, eventName="PutAttributeMapping", responseElements=_profile_response(),
                      requestParameters={"profileId": PROFILE_ID, "certificateField": "x509Subject",
                                         "mappingRules": [{"specifier": "CN"}, {"specifier": "OU"}]})
    violation = run_rule(rule, mapping)
    assert (violation.details["CertificateField"], violation.details["Specifiers"]) == ("x509Subject", "CN, OU")
    assert "bert-jan changed an attribute mapping of IAM Roles Anywhere profile malicious-rolesanywhere-profile" \
        in violation.description


def test_a_disabled_crl_names_its_trust_anchor():
    violation = run_rule(rule, DISABLE_CRL)
    crl = DISABLE_CRL["responseElements"]["crl"]
    assert violation.severity is None  # HIGH, like the trust anchor itself
    assert violation.details == {"CrlArn": crl["crlArn"], "CrlName": "workload-ca-crl", "TrustAnchorArn": crl["trustAnchorArn"]}
    assert "revoked can get AWS credentials again" in violation.description


@pytest.mark.parametrize("record", [
    DISABLED_ANCHOR,
    changed(DISABLED_ANCHOR, responseElements=None),  # the request says disabled
    changed(PROFILE, requestParameters={**PROFILE["requestParameters"], "enabled": "false"}, responseElements=None),
    changed(PROFILE, eventName="UpdateProfile", requestParameters={"profileId": PROFILE_ID, "roleArns": [ROLE]},
            responseElements=_profile_response(enabled=False)),
    changed(PROFILE, eventName="PutAttributeMapping", responseElements=_profile_response(enabled=False),
            requestParameters={"profileId": PROFILE_ID, "certificateField": "x509Subject", "mappingRules": []}),
], ids=["anchor-created-disabled", "anchor-request-disabled", "profile-request-disabled", "profile-updated-disabled",
        "mapping-on-disabled-profile"])
def test_a_trust_anchor_or_profile_that_stays_disabled_mints_nothing_yet(record):
    assert run_rule(rule, record) is None
    enabled = changed(DISABLED_ANCHOR, eventName="EnableTrustAnchor", requestParameters={"trustAnchorId": ANCHOR_ID},
                      responseElements={"trustAnchor": {**DISABLED_ANCHOR["responseElements"]["trustAnchor"], "enabled": True}})
    assert run_rule(rule, enabled) is not None  # enabling it later is the finding


def test_a_disabled_crl_fires_even_though_the_crl_says_enabled_false():
    assert DISABLE_CRL["responseElements"]["crl"]["enabled"] is False
    assert run_rule(rule, DISABLE_CRL) is not None


@pytest.mark.parametrize("record", [
    changed(ANCHOR, errorCode="AccessDeniedException", errorMessage="not authorized", responseElements=None),
    changed(PROFILE, errorCode="ValidationException", errorMessage="bad role", responseElements=None),
    changed(DISABLE_CRL, errorCode="ResourceNotFoundException", errorMessage="no such CRL", responseElements=None),
], ids=["anchor", "profile", "crl"])
def test_ignores_failed_calls(record):
    assert run_rule(rule, record) is None


def test_ignores_identity_center_and_allow_listed_automation():
    assert run_rule(rule, changed(ANCHOR, userIdentity=SERVICE_ROLE)) is None
    assert run_rule(rule, changed(ANCHOR, sourceIPAddress="sso.amazonaws.com")) is None
    assert len(_asff(ANCHOR)) == 1
    assert _asff(ANCHOR, OrgPolicy(allow={rule.META.id: ("arn:aws:iam::123837392027:user/bert-jan",)})) == []


@pytest.mark.parametrize("request_parameters, response", [
    (None, None),
    ({"source": "not-an-object", "name": 7}, {"trustAnchor": "odd"}),
    ({"source": {"sourceType": "CERTIFICATE_BUNDLE",
                 "sourceData": {"x509CertificateData": "-----BEGIN CERTIFICATE-----\n@@not base64@@\n-----END CERTIFICATE-----"}}},
     None),
    ({"source": {"sourceData": {"x509CertificateData": "HIDDEN_DUE_TO_SECURITY_REASONS"}}}, None),
], ids=["null", "wrong-types", "garbage-pem", "hidden-pem"])
def test_malformed_or_missing_parameters_still_give_a_finding(request_parameters, response):
    record = changed(ANCHOR, requestParameters=request_parameters, responseElements=response)
    if request_parameters is None:
        record["requestParameters"] = None
    violation = run_rule(rule, record)
    assert violation is not None and "CertificateSha256" not in violation.details
    assert "in account 123837392027" in violation.description
    assert violation.resource_id in (ANCHOR_ARN, "rolesanywhere/123837392027/trust-anchor")
    _asff(record)


def test_in_the_invictus_archive_it_flags_the_anchor_and_the_profile_only():
    ctx = Context(now=NOW)
    fired = []
    for record in corpus_records("invictus"):
        parsed = CloudTrailRecord.model_validate(record)
        routed = REGISTRY.rules_for(parsed.event_source, parsed.event_name, parsed.user_identity.type)
        if any(r.meta.id == rule.META.id for r in routed) and rule.evaluate(parsed, ctx) is not None:
            fired.append(record["eventName"])
    assert sorted(fired) == ["CreateProfile", "CreateTrustAnchor"]  # DeleteTrustAnchor / DeleteProfile remove trust


def test_metadata():
    assert rule.META.id == rule.__name__.rsplit(".", 1)[1]
    assert len(rule.META.remediation) <= 512
    assert rule.META.remediation_url.startswith("https://docs.aws.amazon.com/")
    assert rule.META.trigger.event_source == "rolesanywhere.amazonaws.com"
    assert rule.META.trigger.event_names == {
        "CreateTrustAnchor", "UpdateTrustAnchor", "EnableTrustAnchor", "CreateProfile", "UpdateProfile",
        "EnableProfile", "DisableCrl", "DeleteCrl", "PutAttributeMapping", "DeleteAttributeMapping"}
