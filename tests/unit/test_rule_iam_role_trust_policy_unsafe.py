"""iam_role_trust_policy_unsafe: real invictus CreateRole / UpdateAssumeRolePolicy records and mutations.

What the real records allow: the invictus CreateRole records trust the role's own account
(123837392027, with sts:SetSourceIdentity) or a service (ec2, lambda, vpc-flow-logs, rolesanywhere):
no finding. The UpdateAssumeRolePolicy at 12:24:11 is Stratus Red Team's "backdoor an IAM role": it adds
``arn:aws:iam::193672423079:root``, a foreign account. That is a finding only when the organisation
policy lists trusted accounts (spec: "when that list is set"); the 12:28:24 one restores the EC2-only policy.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from types import MappingProxyType
from urllib.parse import quote

import pytest
from asff_validator import assert_valid_asff
from identity_auditor.engine.events import Engine
from identity_auditor.engine.registry import REGISTRY
from identity_auditor.model.cloudtrail import CloudTrailEvent, CloudTrailRecord
from identity_auditor.model.contract import Context, Severity
from identity_auditor.model.deployment import Organization
from identity_auditor.model.policy import OrgPolicy
from identity_auditor.rules import iam_role_trust_policy_unsafe as rule
from identity_auditor.sinks.asff import to_asff
from support import changed, corpus_record, corpus_records, load_sample, run_rule

ACCOUNT = "123837392027"
CREATE = corpus_record("invictus", "CreateRole", eventID="57e170e5-78ba-4941-8508-353b2eb18c86")
BACKDOOR = corpus_record("invictus", "UpdateAssumeRolePolicy", eventID="d96d75c7-e715-44ff-9735-9dc51afbd774")
RESTORE = corpus_record("invictus", "UpdateAssumeRolePolicy", eventID="059cf0ed-af91-40a6-9c89-a8a4fb81dc65")
TRUSTING = OrgPolicy(trusted_accounts=frozenset({"444455556666"}))
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/stratus-red-team-backdoor-r-role"
NOW = datetime(2026, 11, 22, tzinfo=timezone.utc)
PRODUCT_ARN = "arn:aws:securityhub:us-east-1:123456789012:product/123456789012/default"
REAL = [r for r in corpus_records("invictus") if r["eventName"] in rule.META.trigger.event_names]


def run(record: dict, policy: OrgPolicy = TRUSTING):
    return rule.evaluate(CloudTrailRecord.model_validate(record), Context(now=NOW, policy=policy))


def document(*statements) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def create_with(trust: str, **fields) -> dict:
    return changed(CREATE, requestParameters={**CREATE["requestParameters"], "assumeRolePolicyDocument": trust},
                   **fields)


OPEN = {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}
FOREIGN = {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::193672423079:root"}, "Action": "sts:AssumeRole"}


def test_the_real_records_are_the_ones_described():
    assert len(REAL) == 15 and {r["eventName"] for r in REAL} == {"CreateRole", "UpdateAssumeRolePolicy"}
    # Request documents are plain JSON; the copies in responseElements are URL-encoded.
    assert all(r["requestParameters"].get("assumeRolePolicyDocument", "{").lstrip().startswith("{") for r in REAL)
    created = [r for r in REAL if r["eventName"] == "CreateRole"]
    assert all(r["responseElements"]["role"]["assumeRolePolicyDocument"].startswith("%7B") for r in created)


@pytest.mark.parametrize("record", [r for r in REAL if r["eventID"] != BACKDOOR["eventID"]],
                         ids=lambda r: f"{r['eventName']}-{r['eventID'][:8]}")
def test_real_records_other_than_the_backdoor_are_quiet_with_the_default_policy(record):
    assert run_rule(rule, record) is None


def test_the_real_backdoor_is_flagged_with_the_default_policy_and_says_how_to_widen_the_zone():
    """The zone of trust is always checked (spec §A): without trusted_accounts and without a known organisation
    it is the role's own account, so the invictus backdoor to 193672423079 is HIGH out of the box."""
    violation = run_rule(rule, BACKDOOR)
    assert violation.severity is Severity.HIGH
    assert violation.details["OutsideAccounts"] == "193672423079"
    assert "organisation's accounts are not known" in violation.details["ZoneOfTrust"]
    assert "trusted_accounts" in violation.details["ZoneOfTrust"]


def _with(organization: Organization, record: dict = BACKDOOR):
    return rule.evaluate(CloudTrailRecord.model_validate(record), Context(now=NOW, organization=organization))


def test_an_account_of_the_known_organisation_is_inside_the_zone():
    organization = Organization(id="o-a1b2c3d4e5", accounts=frozenset({ACCOUNT, "193672423079"}))
    assert _with(organization) is None
    outside = Organization(id="o-a1b2c3d4e5", accounts=frozenset({ACCOUNT, "444455556666"}))
    violation = _with(outside)
    assert violation.severity is Severity.HIGH
    assert violation.details["ZoneOfTrust"] == (
        "the role's account, trusted_accounts and the 2 accounts of o-a1b2c3d4e5")


def test_when_the_organisation_cannot_be_read_the_finding_says_why():
    unread = Organization(id="o-a1b2c3d4e5", problem="AccessDeniedException: organizations:ListAccounts")
    violation = _with(unread)
    assert violation.severity is Severity.HIGH
    assert "could not be read: AccessDeniedException: organizations:ListAccounts" in violation.details["ZoneOfTrust"]


def test_a_vendor_trust_with_an_external_id_is_medium_and_names_the_account():
    vendor = {**FOREIGN, "Condition": {"StringEquals": {"sts:ExternalId": "3f9a1c7e-datadog"}}}
    violation = run_rule(rule, create_with(document(vendor)))
    assert violation.severity is Severity.MEDIUM
    assert violation.details["OutsideAccounts"] == "193672423079"
    assert "sts:ExternalId" in violation.description


def test_a_principal_pinned_to_the_organisation_is_inside_only_for_the_organisation_id():
    organization = Organization(id="o-a1b2c3d4e5", accounts=frozenset({ACCOUNT}))
    ours = {**FOREIGN, "Condition": {"StringEquals": {"aws:PrincipalOrgID": "o-a1b2c3d4e5"}}}
    theirs = {**FOREIGN, "Condition": {"StringEquals": {"aws:PrincipalOrgID": "o-attacker999"}}}
    assert _with(organization, create_with(document(ours))) is None
    assert _with(organization, create_with(document(theirs))).severity is Severity.HIGH


def test_several_outside_accounts_are_all_named():
    second = {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::999988887777:role/x"}, "Action": "sts:AssumeRole"}
    violation = run_rule(rule, create_with(document(FOREIGN, second)))
    assert violation.details["OutsideAccounts"] == "193672423079, 999988887777"
    assert "outside accounts 193672423079, 999988887777" in violation.description


@pytest.mark.parametrize("record", [r for r in REAL if r["eventID"] != BACKDOOR["eventID"]],
                         ids=lambda r: f"{r['eventName']}-{r['eventID'][:8]}")
def test_real_records_other_than_the_backdoor_are_quiet_even_with_trusted_accounts(record):
    assert run(record) is None  # own account and service principals only


def test_flags_the_real_backdoor_when_trusted_accounts_are_set():
    violation = run(BACKDOOR)
    assert violation.severity is Severity.HIGH
    assert violation.resource_id == ROLE_ARN  # built: UpdateAssumeRolePolicy has no responseElements
    assert violation.details["Principals"] == "arn:aws:iam::193672423079:root"
    assert violation.details["Problems"] == "1"
    assert violation.details["Reason1"].startswith("HIGH Statement[1] arn:aws:iam::193672423079:root")
    text = violation.description
    assert "bert-jan" in text and "stratus-red-team-backdoor-r-role" in text and "193672423079" in text
    assert "\n" not in text
    assert run(RESTORE) is None


def test_wildcard_principal_in_create_role_is_critical_and_uses_the_response_arn():
    record = create_with(document(OPEN))
    violation = run_rule(rule, record)
    assert violation.severity is Severity.CRITICAL
    assert violation.resource_id == CREATE["responseElements"]["role"]["arn"]
    assert violation.details["Principals"] == "*"


def test_critical_wins_over_high_and_details_keep_three_reasons():
    saml = {"Effect": "Allow", "Principal": {"Federated": f"arn:aws:iam::{ACCOUNT}:saml-provider/okta"},
            "Action": "sts:AssumeRoleWithSAML"}
    github = {"Effect": "Allow", "Action": "sts:AssumeRoleWithWebIdentity",
              "Principal": {"Federated": f"arn:aws:iam::{ACCOUNT}:oidc-provider/token.actions.githubusercontent.com"}}
    violation = run(create_with(document(FOREIGN, saml, github, OPEN)))
    assert violation.severity is Severity.CRITICAL
    assert violation.details["Problems"] == "5"
    assert sorted(k for k in violation.details if k.startswith("Reason")) == ["Reason1", "Reason2", "Reason3"]
    assert "(+4 more)" in violation.description
    assert violation.details["Principals"].split(", ")[-1] == "*"
    assert run(create_with(document(FOREIGN, saml))).severity is Severity.HIGH


def test_update_assume_role_policy_with_unscoped_github_oidc_is_high():
    github = {"Effect": "Allow", "Action": "sts:AssumeRoleWithWebIdentity",
              "Principal": {"Federated": f"arn:aws:iam::{ACCOUNT}:oidc-provider/token.actions.githubusercontent.com"},
              "Condition": {"StringEquals": {"token.actions.githubusercontent.com:aud": "sts.amazonaws.com"}}}
    record = changed(BACKDOOR, requestParameters={"roleName": "deploy", "policyDocument": document(github)})
    violation = run_rule(rule, record)
    assert violation.severity is Severity.HIGH
    assert "token.actions.githubusercontent.com:sub" in violation.description
    assert violation.resource_id == f"arn:aws:iam::{ACCOUNT}:role/deploy"


def test_url_encoded_request_document_is_read():
    record = changed(BACKDOOR, requestParameters={"roleName": "r", "policyDocument": quote(document(OPEN), safe="")})
    assert run_rule(rule, record).severity is Severity.CRITICAL


def test_falls_back_to_the_response_document_when_the_request_lacks_it():
    role = {**CREATE["responseElements"]["role"], "assumeRolePolicyDocument": quote(document(OPEN), safe="")}
    record = changed(CREATE, requestParameters={"roleName": role["roleName"]}, responseElements={"role": role})
    assert run_rule(rule, record).severity is Severity.CRITICAL


def test_built_arn_keeps_the_create_role_path_and_partition():
    identity = {**CREATE["userIdentity"], "arn": f"arn:aws-cn:iam::{ACCOUNT}:user/bert-jan"}
    request = {**CREATE["requestParameters"], "path": "/ci/", "assumeRolePolicyDocument": document(OPEN)}
    record = changed(CREATE, requestParameters=request, responseElements=None, userIdentity=identity)
    assert run_rule(rule, record).resource_id == f"arn:aws-cn:iam::{ACCOUNT}:role/ci/stratus-red-team-backdoor-r-role"


@pytest.mark.parametrize("error", [
    {"errorCode": "AccessDenied", "errorMessage": "User is not authorized to perform: iam:CreateRole"},
    {"errorCode": "MalformedPolicyDocumentException", "errorMessage": "Invalid principal in policy: \"AWS\":\"x\""},
])
def test_ignores_failed_calls(error):
    assert run(create_with(document(OPEN), responseElements=None, **error)) is None
    assert run(changed(BACKDOOR, **error)) is None


@pytest.mark.parametrize("trust", ["not json", '{"Version": "2012-10-17"}', None])
def test_unreadable_or_missing_document_yields_no_finding(trust):
    record = changed(CREATE, requestParameters={"roleName": "x", "assumeRolePolicyDocument": trust},
                     responseElements=None)
    assert run(record) is None


def test_cloudformation_writes_are_flagged_and_only_an_explicit_allow_list_entry_skips_a_caller():
    cfn = {**CREATE["userIdentity"], "invokedBy": "cloudformation.amazonaws.com"}
    record = create_with(document(OPEN), userIdentity=cfn, sourceIPAddress="cloudformation.amazonaws.com")
    assert run_rule(rule, record).severity is Severity.CRITICAL
    parsed = CloudTrailRecord.model_validate(create_with(document(OPEN)))
    other_rule = OrgPolicy(allow=MappingProxyType({"iam_user_created": (f"arn:aws:iam::{ACCOUNT}:user/*",)}))
    assert ENGINE.evaluate(parsed, Context(now=NOW, policy=other_rule)).findings
    this_rule = OrgPolicy(allow=MappingProxyType({rule.META.id: (f"arn:aws:iam::{ACCOUNT}:user/*",)}))
    assert not ENGINE.evaluate(parsed, Context(now=NOW, policy=this_rule)).findings


def test_own_account_counts_as_trusted():
    own = {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "sts:AssumeRole"}
    assert run(create_with(document(own))) is None


def test_meta():
    assert rule.META.id == rule.__name__.rsplit(".", 1)[-1]
    assert rule.META.trigger.event_names == {"CreateRole", "UpdateAssumeRolePolicy"}
    assert rule.META.severity is Severity.HIGH
    assert rule.META.compliance == ("CIS5 4.4", "CIS5 1.20")
    assert rule.META.remediation_url.startswith("https://docs.aws.amazon.com/")


# -- through the engine (with this rule registered locally) and the strict ASFF check -----------------

ENGINE = Engine(REGISTRY)
SAMPLES = {
    "iam_create_role_trust_any_principal__constructed.json": {rule.META.id: "CRITICAL"},
    "iam_update_assume_role_policy_github_oidc_without_sub__constructed.json": {rule.META.id: "HIGH"},
    "iam_create_role_github_oidc_scoped__constructed.json": {},
    "iam_update_assume_role_policy_foreign_account.json": {rule.META.id: "HIGH"},
    "iam_create_role_ordinary.json": {},
    "iam_create_role_reserved_by_identity_center__constructed.json": {},
}


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_samples_produce_the_expected_findings_as_valid_asff(name):
    event = CloudTrailEvent.model_validate(load_sample(name))
    result = ENGINE.evaluate(event.detail, Context(now=NOW), account=event.account, region=event.region)
    assert result.failures == []
    assert {f.rule_id: f.severity.value for f in result.findings} == SAMPLES[name]
    for finding in result.findings:
        assert_valid_asff(to_asff(finding, product_arn=PRODUCT_ARN, updated_at=NOW))


@pytest.mark.parametrize("record", [BACKDOOR, create_with(document(FOREIGN, OPEN))], ids=["backdoor", "critical"])
def test_findings_from_real_records_are_valid_asff(record):
    engine_ctx = Context(now=NOW, policy=TRUSTING)
    result = ENGINE.evaluate(CloudTrailRecord.model_validate(record), engine_ctx)
    findings = [f for f in result.findings if f.rule_id == rule.META.id]
    assert len(findings) == 1 and result.failures == []
    document_ = to_asff(findings[0], product_arn=PRODUCT_ARN, updated_at=NOW)
    assert_valid_asff(document_)
    assert document_["Resources"][0]["Type"] == "AwsIamRole"
