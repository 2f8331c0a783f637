"""iam_saml_provider_changed: people and pipelines vs Identity Center managing its own provider."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest
from asff_validator import assert_valid_asff
from identity_auditor.engine.events import Engine
from identity_auditor.engine.registry import Registry, Rule
from identity_auditor.model.cloudtrail import CloudTrailRecord
from identity_auditor.model.contract import Context
from identity_auditor.model.policy import OrgPolicy
from identity_auditor.rules import iam_saml_provider_changed as rule
from identity_auditor.sinks.asff import to_asff
from support import changed, corpus_record, load_sample, run_rule

NOW = datetime(2026, 11, 22, tzinfo=timezone.utc)
PRODUCT_ARN = "arn:aws:securityhub:us-east-1:123456789012:product/123456789012/default"
METADATA = '<?xml version="1.0"?><md:EntityDescriptor entityID="https://www.okta.com/exk1a2b3c4">...</md:EntityDescriptor>'
OKTA_ARN = "arn:aws:iam::123837392027:saml-provider/okta"
# A real IAM write by bert-jan (invictus), re-shaped to the documented CreateSAMLProvider request.
BERT = corpus_record("invictus", "CreateLoginProfile", eventID="f0d7bb15-75c8-4770-a500-92d1f71b948c")
CREATE = changed(BERT, eventName="CreateSAMLProvider", requestParameters={"sAMLMetadataDocument": METADATA,
                 "name": "okta"}, responseElements={"sAMLProviderArn": OKTA_ARN})
SSO_PROVIDER = "AWSSSO_0123456789abcdef_DO_NOT_DELETE"
BY_IDENTITY_CENTER = load_sample("iam_create_saml_provider_by_identity_center__constructed")["detail"]
HUMAN_ON_SSO_PROVIDER = load_sample("iam_update_saml_provider_identity_center_by_human__constructed")["detail"]
SERVICE_ROLE = {
    "type": "AssumedRole", "accountId": "123837392027",
    "arn": "arn:aws:sts::123837392027:assumed-role/AWSServiceRoleForSSO/AWS-SSO",
    "sessionContext": {"sessionIssuer": {
        "type": "Role", "userName": "AWSServiceRoleForSSO",
        "arn": "arn:aws:iam::123837392027:role/aws-service-role/sso.amazonaws.com/AWSServiceRoleForSSO"}},
}
CFN = {"type": "AssumedRole", "principalId": "AROAEXAMPLE:AWSCloudFormation", "accountId": "123837392027",
       "arn": "arn:aws:sts::123837392027:assumed-role/cfn-deploy-role/AWSCloudFormation",
       "invokedBy": "cloudformation.amazonaws.com",
       "sessionContext": {"sessionIssuer": {"type": "Role", "userName": "cfn-deploy-role",
                                            "arn": "arn:aws:iam::123837392027:role/cfn-deploy-role"}}}


def _asff(raw: dict, policy: OrgPolicy | None = None) -> list[dict]:
    ctx = Context(now=NOW, policy=policy or OrgPolicy())
    result = Engine(Registry([Rule(rule.META, rule.evaluate)])).evaluate(CloudTrailRecord.model_validate(raw), ctx)
    assert result.failures == []
    documents = [to_asff(finding, product_arn=PRODUCT_ARN, updated_at=NOW) for finding in result.findings]
    for document in documents:
        assert_valid_asff(document)
    return documents


def test_flags_a_new_provider_and_names_it_without_the_metadata():
    violation = run_rule(rule, CREATE)
    assert violation.severity is None  # the rule's HIGH
    assert violation.resource_id == OKTA_ARN
    assert violation.details == {"ProviderName": "okta", "ProviderArn": OKTA_ARN, "IdentityCenterProvider": "false"}
    assert "bert-jan created the SAML identity provider okta" in violation.description
    [document] = _asff(CREATE)
    assert "EntityDescriptor" not in json.dumps(document)
    assert (document["Severity"]["Label"], document["Resources"][0]["Type"]) == ("HIGH", "Other")


@pytest.mark.parametrize("record", [
    BY_IDENTITY_CENTER,  # Root invokedBy sso.amazonaws.com in the management account
    changed(BY_IDENTITY_CENTER, userIdentity=SERVICE_ROLE, sourceIPAddress="203.0.113.99", userAgent="AWS Internal"),
    changed(BY_IDENTITY_CENTER, eventName="DeleteSAMLProvider", responseElements=None,
            requestParameters={"sAMLProviderArn": f"arn:aws:iam::111122223333:saml-provider/{SSO_PROVIDER}"}),
], ids=["root-invoked-by-sso", "service-linked-role", "delete-by-arn"])
def test_ignores_identity_center_managing_its_own_provider(record):
    assert run_rule(rule, record) is None


def test_flags_a_person_touching_identity_centers_provider():
    # An AWSReservedSSO_* console session: user agent "AWS Internal", but a person.
    violation = run_rule(rule, HUMAN_ON_SSO_PROVIDER)
    assert violation.details["IdentityCenterProvider"] == "true"
    assert "jane@example.com updated IAM Identity Center's own SAML provider" in violation.description
    assert "idp.attacker.example" not in json.dumps(_asff(HUMAN_ON_SSO_PROVIDER))


def test_flags_identity_center_caller_on_a_provider_that_is_not_its_own():
    record = changed(BY_IDENTITY_CENTER, requestParameters={"sAMLMetadataDocument": METADATA, "name": "okta"},
                     responseElements={"sAMLProviderArn": "arn:aws:iam::111122223333:saml-provider/okta"})
    assert run_rule(rule, record) is not None


def test_a_role_named_like_the_service_role_is_not_identity_center():
    impostor = {**SERVICE_ROLE, "sessionContext": {"sessionIssuer": {
        "type": "Role", "userName": "AWSServiceRoleForSSO", "arn": "arn:aws:iam::123837392027:role/AWSServiceRoleForSSO"}}}
    assert run_rule(rule, changed(BY_IDENTITY_CENTER, userIdentity=impostor, sourceIPAddress="203.0.113.99")) is not None


def test_update_and_delete_are_named_by_arn():
    deleted = changed(CREATE, eventName="DeleteSAMLProvider", requestParameters={"sAMLProviderArn": OKTA_ARN},
                      responseElements=None)
    violation = run_rule(rule, deleted)
    assert violation.details["ProviderName"] == "okta" and "deleted" in violation.description
    updated = changed(CREATE, eventName="UpdateSAMLProvider",
                      requestParameters={"sAMLMetadataDocument": METADATA, "sAMLProviderArn": OKTA_ARN})
    assert run_rule(rule, updated).resource_id == OKTA_ARN
    _asff(deleted)


def test_ignores_failed_calls():
    failed = changed(CREATE, errorCode="EntityAlreadyExistsException", responseElements=None,
                     errorMessage="SAMLProvider okta already exists.")
    assert run_rule(rule, failed) is None
    assert run_rule(rule, changed(HUMAN_ON_SSO_PROVIDER, errorCode="AccessDenied", errorMessage="denied")) is None


def test_cloudformation_invoked_change_is_still_a_finding_unless_allow_listed():
    record = changed(CREATE, userIdentity=CFN, sourceIPAddress="cloudformation.amazonaws.com",
                     userAgent="cloudformation.amazonaws.com")
    assert len(_asff(record)) == 1
    assert _asff(record, OrgPolicy(allow={rule.META.id: ("arn:aws:iam::*:role/cfn-deploy-role",)})) == []


ENCRYPTION_ALLOWED = load_sample("iam_update_saml_provider_encryption_allowed__constructed")["detail"]
PRIVATE_KEY = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7\n-----END PRIVATE KEY-----"


def test_names_a_removed_private_key_and_the_downgrade_to_allowed():
    violation = run_rule(rule, ENCRYPTION_ALLOWED)
    assert violation.severity is None  # still the rule's HIGH
    assert violation.details == {
        "ProviderName": "okta", "ProviderArn": "arn:aws:iam::111122223333:saml-provider/okta",
        "IdentityCenterProvider": "false", "RemovedPrivateKey": "E3VSZ5XFRN7JG2QYWKHCL4MDPA",
        "AssertionEncryptionMode": "Allowed"}
    assert violation.description == (
        "AWSReservedSSO_AdministratorAccess_0123456789abcdef/jane@example.com updated the SAML identity provider "
        "okta in account 111122223333: removed private key "
        "E3VSZ5XFRN7JG2QYWKHCL4MDPA and set assertion encryption to Allowed (unencrypted SAML assertions are "
        "accepted).")
    [document] = _asff(ENCRYPTION_ALLOWED)
    assert document["Severity"]["Label"] == "HIGH"


@pytest.mark.parametrize("request_parameters, named, details", [
    ({"assertionEncryptionMode": "Allowed"}, "set assertion encryption to Allowed",
     {"AssertionEncryptionMode": "Allowed"}),
    ({"assertionEncryptionMode": "Required"}, None, {"AssertionEncryptionMode": "Required"}),
    ({"removePrivateKey": "E3VSZ5XFRN7JG2QYWKHCL4MDPA"}, "removed private key E3VSZ5XFRN7JG2QYWKHCL4MDPA",
     {"RemovedPrivateKey": "E3VSZ5XFRN7JG2QYWKHCL4MDPA"}),
    ({"sAMLMetadataDocument": METADATA}, None, {}),
    ({"assertionEncryptionMode": {"odd": True}, "removePrivateKey": ""}, None, {}),
], ids=["allowed", "required", "key-removed", "metadata-only", "malformed"])
def test_update_names_only_encryption_downgrades(request_parameters, named, details):
    record = changed(CREATE, eventName="UpdateSAMLProvider", responseElements={"sAMLProviderArn": OKTA_ARN},
                     requestParameters={"sAMLProviderArn": OKTA_ARN, **request_parameters})
    violation = run_rule(rule, record)
    extra = {key: value for key, value in violation.details.items()
             if key not in ("ProviderName", "ProviderArn", "IdentityCenterProvider")}
    assert extra == details
    if named:
        assert violation.description.startswith("bert-jan updated the SAML identity provider okta in account "
                                                "123837392027: ") and named in violation.description
    else:
        assert violation.description == "bert-jan updated the SAML identity provider okta in account 123837392027."


def test_an_added_private_key_never_reaches_the_finding():
    record = changed(CREATE, eventName="UpdateSAMLProvider", responseElements={"sAMLProviderArn": OKTA_ARN},
                     requestParameters={"sAMLProviderArn": OKTA_ARN, "addPrivateKey": PRIVATE_KEY,
                                        "assertionEncryptionMode": "Required"})
    [document] = _asff(record)
    assert "PRIVATE KEY" not in json.dumps(document) and "MIIEvQ" not in json.dumps(document)


def test_encryption_fields_are_read_on_updates_only():
    created = changed(CREATE, requestParameters={**CREATE["requestParameters"], "assertionEncryptionMode": "Allowed"})
    violation = run_rule(rule, created)
    assert "AssertionEncryptionMode" not in violation.details and "Allowed" not in violation.description


def test_a_failed_downgrade_is_not_a_finding():
    failed = changed(ENCRYPTION_ALLOWED, errorCode="InvalidInput", errorMessage="Invalid private key id",
                     responseElements=None)
    assert run_rule(rule, failed) is None
