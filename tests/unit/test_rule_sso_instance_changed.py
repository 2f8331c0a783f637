"""sso_instance_changed: instance deletion, re-keying, account instances in member accounts (and how the
organisation is known), trusted token issuers, Regions; failures, Identity Center itself, other services'
CreateInstance and allow-listed callers."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from asff_validator import assert_valid_asff
from identity_auditor.engine.events import Engine
from identity_auditor.engine.registry import REGISTRY, Registry, Rule
from identity_auditor.model.cloudtrail import CloudTrailRecord
from identity_auditor.model.contract import Context, Severity
from identity_auditor.model.deployment import Organization
from identity_auditor.model.policy import OrgPolicy
from identity_auditor.rules import sso_instance_changed as rule
from identity_auditor.sinks.asff import to_asff
from support import changed, corpus_records, load_sample, run_rule

NOW = datetime(2026, 11, 22, tzinfo=timezone.utc)
PRODUCT_ARN = "arn:aws:securityhub:us-east-1:123456789012:product/123456789012/default"
INSTANCE = "arn:aws:sso:::instance/ssoins-72233af8ea2d1f14"
MEMBER_INSTANCE = "arn:aws:sso:::instance/ssoins-6684a1c3e9b20d57"
ISSUER = "arn:aws:sso::111122223333:trustedTokenIssuer/ssoins-72233af8ea2d1f14/tti-5d3c1a9e-7b2f-4e6d-8a0c-1f3e5b7d9a2c"
KEY = "arn:aws:kms:us-east-1:111122223333:key/mrk-0c8e4f6a2b1d4e7f9a3c5b7d9e1f2a4c"
CREATE_MEMBER = load_sample("sso_create_instance_member_account__constructed")["detail"]
CREATE_FAILED = load_sample("sso_create_instance_failed__constructed")["detail"]
DELETE = load_sample("sso_delete_instance__constructed")["detail"]
REKEY = load_sample("sso_update_instance_encryption_key__constructed")["detail"]
ISSUER_CREATED = load_sample("sso_create_trusted_token_issuer__constructed")["detail"]
ORG = Organization(id="o-a1b2c3d4e5", accounts=frozenset({"111122223333", "444455556666"}))
SERVICE_ROLE = {
    "type": "AssumedRole", "accountId": "111122223333",
    "arn": "arn:aws:sts::111122223333:assumed-role/AWSServiceRoleForSSO/AWS-SSO",
    "sessionContext": {"sessionIssuer": {
        "type": "Role", "userName": "AWSServiceRoleForSSO",
        "arn": "arn:aws:iam::111122223333:role/aws-service-role/sso.amazonaws.com/AWSServiceRoleForSSO"}},
}
PIPELINE = {"type": "AssumedRole", "accountId": "111122223333",
            "arn": "arn:aws:sts::111122223333:assumed-role/identity-pipeline/deploy",
            "sessionContext": {"sessionIssuer": {"type": "Role", "userName": "identity-pipeline",
                                                 "arn": "arn:aws:iam::111122223333:role/identity-pipeline"}}}


def _evaluate(raw: dict, organization: Organization | None = None):
    return rule.evaluate(CloudTrailRecord.model_validate(raw), Context(now=NOW, organization=organization))


def _asff(raw: dict, policy: OrgPolicy | None = None, organization: Organization | None = None) -> list[dict]:
    ctx = Context(now=NOW, policy=policy or OrgPolicy(), organization=organization)
    result = Engine(Registry([Rule(rule.META, rule.evaluate)])).evaluate(CloudTrailRecord.model_validate(raw), ctx)
    assert result.failures == []
    documents = [to_asff(finding, product_arn=PRODUCT_ARN, updated_at=NOW) for finding in result.findings]
    for document in documents:
        assert_valid_asff(document)
    return documents


def test_deleting_the_instance_is_critical():
    violation = run_rule(rule, DELETE)
    assert violation.severity is Severity.CRITICAL
    assert violation.resource_id == INSTANCE
    assert violation.details == {"InstanceArn": INSTANCE}
    assert violation.description.startswith(
        "AWSReservedSSO_AdministratorAccess_0123456789abcdef/jane@example.com deleted the IAM Identity Center "
        f"instance {INSTANCE} in account 111122223333 (us-east-1)")
    [document] = _asff(DELETE)
    assert (document["Severity"]["Label"], document["Resources"][0]["Type"]) == ("CRITICAL", "Other")


def test_a_new_encryption_key_is_high_and_named():
    violation = run_rule(rule, REKEY)
    assert violation.severity is Severity.HIGH
    assert violation.details == {"InstanceArn": INSTANCE, "KeyType": "CUSTOMER_MANAGED_KEY", "KmsKeyArn": KEY}
    assert f"changed the encryption key of the IAM Identity Center instance {INSTANCE}" in violation.description
    assert violation.description.endswith(f": its data is now encrypted with {KEY}.")
    back = changed(REKEY, requestParameters={"instanceArn": INSTANCE,
                                             "encryptionConfiguration": {"keyType": "AWS_OWNED_KMS_KEY"}})
    violation = run_rule(rule, back)
    assert violation.severity is Severity.HIGH and "encrypted with an AWS owned key" in violation.description
    assert _asff(back)[0]["Severity"]["Label"] == "HIGH"


def test_renaming_the_instance_is_medium():
    renamed = changed(REKEY, requestParameters={"instanceArn": INSTANCE, "name": "workforce"})
    violation = run_rule(rule, renamed)
    assert violation.severity is None and rule.META.severity is Severity.MEDIUM
    assert violation.details == {"InstanceArn": INSTANCE, "InstanceName": "workforce"}
    assert f"renamed the IAM Identity Center instance {INSTANCE} in account 111122223333 (us-east-1) to workforce." \
        in violation.description
    assert _asff(renamed)[0]["Severity"]["Label"] == "MEDIUM"


def test_a_new_trusted_token_issuer_is_high_and_names_issuer_and_claim_mapping():
    violation = run_rule(rule, ISSUER_CREATED)
    assert violation.severity is Severity.HIGH
    assert violation.resource_id == ISSUER
    assert violation.details == {
        "InstanceArn": INSTANCE, "TrustedTokenIssuerArn": ISSUER, "TrustedTokenIssuerName": "partner-idp",
        "TrustedTokenIssuerType": "OIDC_JWT", "IssuerUrl": "https://idp.partner.example",
        "ClaimAttributePath": "email", "IdentityStoreAttributePath": "emails.value"}
    assert (f"created a trusted token issuer partner-idp (https://idp.partner.example) for IAM Identity Center "
            f"instance {INSTANCE} in account 111122223333") in violation.description


@pytest.mark.parametrize("event_name, request_parameters", [
    ("UpdateTrustedTokenIssuer", {"trustedTokenIssuerArn": ISSUER, "trustedTokenIssuerConfiguration": {
        "oidcJwtConfiguration": {"claimAttributePath": "sub", "identityStoreAttributePath": "userName"}}}),
    ("DeleteTrustedTokenIssuer", {"trustedTokenIssuerArn": ISSUER}),
])
def test_every_trusted_token_issuer_change_is_high(event_name, request_parameters):
    record = changed(ISSUER_CREATED, eventName=event_name, requestParameters=request_parameters, responseElements=None)
    violation = run_rule(rule, record)
    assert violation.severity is Severity.HIGH and violation.resource_id == ISSUER
    assert f"the trusted token issuer {ISSUER} in account 111122223333" in violation.description
    if event_name == "UpdateTrustedTokenIssuer":
        assert violation.details["ClaimAttributePath"] == "sub"
        assert violation.details["IdentityStoreAttributePath"] == "userName"
    _asff(record)


@pytest.mark.parametrize("event_name, change", [("AddRegion", "added"), ("RemoveRegion", "removed")])
def test_regions_are_medium_and_named(event_name, change):
    record = changed(DELETE, eventName=event_name, requestParameters={"instanceArn": INSTANCE, "regionName": "eu-west-1"},
                     responseElements={"status": "ADDING"} if event_name == "AddRegion" else None)
    violation = run_rule(rule, record)
    assert violation.severity is None  # MEDIUM
    assert violation.details == {"InstanceArn": INSTANCE, "RegionName": "eu-west-1"}
    assert violation.description.endswith(f"(us-east-1); Region {change}: eu-west-1.")
    assert _asff(record)[0]["Severity"]["Label"] == "MEDIUM"


@pytest.mark.parametrize("organization, severity, membership", [
    (None, Severity.HIGH, "unknown (the deployment did not pass its organisation)"),
    (ORG, Severity.HIGH, "member account of o-a1b2c3d4e5"),
    (Organization(id="o-a1b2c3d4e5", accounts=frozenset({"111122223333"})), None, "not an account of o-a1b2c3d4e5"),
    (Organization(problem="AccessDenied on ListAccounts"), Severity.HIGH,
     "unknown (the organisation's accounts could not be read: AccessDenied on ListAccounts)"),
], ids=["organisation-unknown", "member", "standalone", "organisation-unreadable"])
def test_an_account_instance_is_high_unless_the_account_is_known_to_be_outside_the_organisation(
        organization, severity, membership):
    violation = _evaluate(CREATE_MEMBER, organization)
    assert violation.severity is severity
    assert violation.resource_id == MEMBER_INSTANCE
    assert violation.details == {"InstanceArn": MEMBER_INSTANCE, "InstanceName": "team-sandbox",
                                 "OrganizationMembership": membership}
    assert "created an IAM Identity Center instance" in violation.description
    assert ("second identity source" in violation.description) is (severity is Severity.HIGH)
    [document] = _asff(CREATE_MEMBER, organization=organization)
    assert document["Severity"]["Label"] == (severity or Severity.MEDIUM).value


def test_a_masked_account_cannot_be_matched_and_counts_as_a_member():
    masked = changed(CREATE_MEMBER, recipientAccountId="***",
                     userIdentity={**CREATE_MEMBER["userIdentity"], "accountId": "***"})
    violation = _evaluate(masked, Organization(id="o-a1b2c3d4e5", accounts=frozenset({"111122223333"})))
    assert violation.severity is Severity.HIGH
    assert violation.details["OrganizationMembership"].startswith("unknown (account id '***'")


def test_ignores_failed_calls():
    assert CREATE_FAILED["errorCode"] == "ConflictException"
    assert run_rule(rule, CREATE_FAILED) is None
    assert run_rule(rule, changed(DELETE, errorCode="AccessDeniedException", errorMessage="denied")) is None


def test_ignores_identity_center_itself_and_allow_listed_automation():
    assert run_rule(rule, changed(REKEY, userIdentity=SERVICE_ROLE)) is None
    assert run_rule(rule, changed(REKEY, sourceIPAddress="sso.amazonaws.com")) is None
    pipeline = changed(ISSUER_CREATED, userIdentity=PIPELINE)
    assert len(_asff(pipeline)) == 1
    assert _asff(pipeline, OrgPolicy(allow={rule.META.id: ("arn:aws:iam::111122223333:role/identity-pipeline",)})) == []


def test_other_services_create_instance_never_reaches_the_rule():
    connect = changed(CREATE_MEMBER, eventSource="connect.amazonaws.com",
                      requestParameters={"identityManagementType": "CONNECT_MANAGED", "instanceAlias": "support",
                                         "inboundCallsEnabled": True, "outboundCallsEnabled": True},
                      responseElements={"id": "a1b2c3d4", "arn": "arn:aws:connect:us-east-1:444455556666:instance/a1b2c3d4"})
    routed = REGISTRY.rules_for("connect.amazonaws.com", "CreateInstance", "AssumedRole")
    assert rule.META.id not in [r.meta.id for r in routed]
    assert not rule.META.trigger.matches(connect["eventSource"], connect["eventName"], "AssumedRole")
    # invictus holds IAM CreateInstanceProfile records, not Identity Center instances: none is routed here.
    records = corpus_records("invictus")
    assert any(record["eventName"] == "CreateInstanceProfile" for record in records)
    assert not any(rule.META.trigger.matches(record["eventSource"], record["eventName"],
                                             (record.get("userIdentity") or {}).get("type")) for record in records)


@pytest.mark.parametrize("request_parameters", [
    None,
    {"instanceArn": 42, "encryptionConfiguration": "CUSTOMER_MANAGED_KEY"},
    {"instanceArn": INSTANCE, "encryptionConfiguration": {"KeyType": "CUSTOMER_MANAGED_KEY", "KmsKeyArn": KEY}},
    {"instanceArn": INSTANCE, "encryptionConfiguration": {}},
], ids=["null", "wrong-types", "upper-camel", "empty-encryption"])
def test_malformed_or_missing_parameters_still_give_a_finding(request_parameters):
    record = changed(REKEY, requestParameters=request_parameters or {})
    if request_parameters is None:
        record["requestParameters"] = None
    violation = run_rule(rule, record)
    assert violation is not None and "in account 111122223333" in violation.description
    if request_parameters and isinstance(request_parameters.get("encryptionConfiguration"), dict):
        assert violation.severity is Severity.HIGH
        if request_parameters["encryptionConfiguration"]:
            assert violation.details["KmsKeyArn"] == KEY
    else:
        assert violation.resource_id == "IdentityCenter/111122223333" and violation.severity is None
    _asff(record)
    weird_issuer = changed(ISSUER_CREATED, requestParameters={"trustedTokenIssuerConfiguration": ["odd"]})
    assert run_rule(rule, weird_issuer).severity is Severity.HIGH


def test_metadata():
    assert rule.META.id == rule.__name__.rsplit(".", 1)[1]
    assert len(rule.META.remediation) <= 512
    assert rule.META.remediation_url.startswith("https://docs.aws.amazon.com/")
    assert rule.META.trigger.event_source == "sso.amazonaws.com"
    assert rule.META.trigger.event_names == {
        "CreateInstance", "DeleteInstance", "UpdateInstance", "AddRegion", "RemoveRegion",
        "CreateTrustedTokenIssuer", "UpdateTrustedTokenIssuer", "DeleteTrustedTokenIssuer"}
