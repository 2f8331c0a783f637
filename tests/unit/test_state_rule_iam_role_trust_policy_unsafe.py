"""iam_role_trust_policy_unsafe, state path (AWS Config, change-triggered on AWS::IAM::Role).

Roles are shaped as AWS Config's ``AWS::IAM::Role`` configuration item gives them: the trust policy is the
URL-encoded JSON string of ``configuration.assumeRolePolicyDocument``; the collector may also hand a dict.
The real trust policies come from the invictus corpus (the Stratus Red Team role before and after the
backdoor) and from what AWS writes for Identity Center reserved roles and service-linked roles.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from urllib.parse import quote

import pytest
from asff_validator import assert_valid_asff
from identity_auditor.model.cloudtrail import CloudTrailRecord
from identity_auditor.model.contract import Compliance, Context, Severity
from identity_auditor.model.deployment import Organization
from identity_auditor.model.findings import build_state_finding, short_hash
from identity_auditor.model.policy import OrgPolicy
from identity_auditor.model.snapshots import RoleSnapshot
from identity_auditor.rules import iam_role_trust_policy_unsafe as rule
from identity_auditor.sinks.asff import to_asff
from support import changed, corpus_record

ACCOUNT = "123837392027"  # the invictus account
REGION = "us-east-1"
NOW = datetime(2026, 11, 22, 6, 0, tzinfo=timezone.utc)
PRODUCT_ARN = f"arn:aws:securityhub:{REGION}:{ACCOUNT}:product/{ACCOUNT}/default"
TRUSTING = OrgPolicy(trusted_accounts=frozenset({"444455556666"}))
BACKDOOR = corpus_record("invictus", "UpdateAssumeRolePolicy", eventID="d96d75c7-e715-44ff-9735-9dc51afbd774")
CREATE = corpus_record("invictus", "CreateRole", eventID="57e170e5-78ba-4941-8508-353b2eb18c86")
ORIGINAL = CREATE["responseElements"]["role"]["assumeRolePolicyDocument"]  # URL-encoded, as in Config items
BACKDOORED = quote(json.dumps(json.loads(BACKDOOR["requestParameters"]["policyDocument"]), separators=(",", ":")),
                   safe="")
SSO_TRUST = {
    "Version": "2012-10-17",
    "Statement": [{
        "Effect": "Allow",
        "Principal": {"Federated": f"arn:aws:iam::{ACCOUNT}:saml-provider/AWSSSO_4b2fe36b4a9d1f5e_DO_NOT_DELETE"},
        "Action": ["sts:AssumeRoleWithSAML", "sts:TagSession"],
        "Condition": {"StringEquals": {"SAML:aud": "https://signin.aws.amazon.com/saml"}},
    }],
}
SLR_TRUST = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "sso.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
OPEN = {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}


def role(name: str, trust, *, path: str = "/", account: str = ACCOUNT) -> RoleSnapshot:
    return RoleSnapshot(name=name, arn=f"arn:aws:iam::{account}:role{path}{name}", path=path,
                        role_id=f"AROA{short_hash(name)[:16].upper()}X", trust_policy=trust, account_id=account)


STRATUS = role("stratus-red-team-backdoor-r-role", BACKDOORED)
SSO = role("AWSReservedSSO_AdministratorAccess_0f1e2d3c4b5a6978", SSO_TRUST,
           path="/aws-reserved/sso.amazonaws.com/eu-west-1/")
SLR = role("AWSServiceRoleForSSO", SLR_TRUST, path="/aws-service-role/sso.amazonaws.com/")


def evaluate(snapshot: RoleSnapshot, policy: OrgPolicy = TRUSTING):
    result = rule.evaluate_state(snapshot, Context(now=NOW, policy=policy))
    assert 0 < len(result.annotation) <= 256
    assert (result.violation is not None) == (result.compliance is Compliance.NON_COMPLIANT)
    return result


def finding(result, observed_at: datetime = NOW):
    return build_state_finding(rule.META, result.violation, account=ACCOUNT, region=REGION, partition="aws",
                               observed_at=observed_at)


def test_the_backdoored_role_is_high_when_trusted_accounts_are_set():
    result = evaluate(STRATUS)
    assert result.compliance is Compliance.NON_COMPLIANT
    violation = result.violation
    assert violation.severity is Severity.HIGH
    assert violation.resource_id == STRATUS.arn and violation.subject == STRATUS.name
    assert violation.details["Principals"] == "arn:aws:iam::193672423079:root"
    assert "193672423079" in result.annotation and result.annotation.startswith("HIGH: Statement[1]")
    assert STRATUS.name in violation.description and ACCOUNT in violation.description


def test_without_trusted_accounts_the_zone_is_the_role_account_and_the_organisation():
    result = evaluate(STRATUS, OrgPolicy())
    assert result.compliance is Compliance.NON_COMPLIANT
    assert result.violation.details["OutsideAccounts"] == "193672423079"
    organization = Organization(id="o-a1b2c3d4e5", accounts=frozenset({ACCOUNT, "193672423079"}))
    inside = rule.evaluate_state(STRATUS, Context(now=NOW, policy=OrgPolicy(), organization=organization))
    assert inside.compliance is Compliance.COMPLIANT and "zone of trust" in inside.annotation


def test_the_original_trust_policy_is_compliant():
    result = evaluate(role("stratus-red-team-backdoor-r-role", ORIGINAL))
    assert result.compliance is Compliance.COMPLIANT and "only accounts in the zone of trust" in result.annotation


def test_wildcard_principal_is_critical_and_a_dict_document_is_read():
    result = evaluate(role("open", {"Version": "2012-10-17", "Statement": [OPEN]}))
    assert result.violation.severity is Severity.CRITICAL and result.annotation.startswith("CRITICAL:")
    assert finding(result).severity is Severity.CRITICAL


def test_own_account_is_trusted():
    own = {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "sts:AssumeRole"}
    assert evaluate(role("own", {"Statement": [own]})).compliance is Compliance.COMPLIANT


@pytest.mark.parametrize("snapshot", [SSO, SLR], ids=["identity-center-reserved", "service-linked"])
def test_reserved_and_service_linked_roles_are_judged_like_any_other(snapshot):
    assert evaluate(snapshot).compliance is Compliance.COMPLIANT  # their AWS-written policies pass
    tampered = {**snapshot.trust_policy, "Statement": [*snapshot.trust_policy["Statement"], OPEN]}
    result = evaluate(role(snapshot.name, tampered, path=snapshot.path))
    assert result.compliance is Compliance.NON_COMPLIANT and result.violation.severity is Severity.CRITICAL


def test_sso_role_whose_saml_audience_was_removed_is_high():
    statement = {k: v for k, v in SSO_TRUST["Statement"][0].items() if k != "Condition"}
    result = evaluate(role(SSO.name, {"Statement": [statement]}, path=SSO.path))
    assert result.violation.severity is Severity.HIGH and "SAML:aud" in result.annotation


@pytest.mark.parametrize("trust, words", [(None, "No trust policy"), ("not json", "could not be read"),
                                          ({"Version": "2012-10-17"}, "could not be read")])
def test_missing_or_unreadable_trust_policy_is_not_applicable(trust, words):
    result = evaluate(role("x", trust))
    assert result.compliance is Compliance.NOT_APPLICABLE and words in result.annotation


def test_state_and_event_paths_share_the_analysis():
    record = CloudTrailRecord.model_validate(changed(BACKDOOR))
    event = rule.evaluate(record, Context(now=NOW, policy=TRUSTING))
    state = evaluate(STRATUS).violation
    assert (event.severity, event.details) == (state.severity, state.details)
    assert event.resource_id == state.resource_id


def test_findings_are_valid_asff_with_a_stable_id_per_role():
    first = finding(evaluate(STRATUS))
    again = finding(evaluate(STRATUS), NOW + timedelta(days=1))
    other = finding(evaluate(role("open", {"Statement": [OPEN]})))
    assert first.event_id is None and first.finding_id == again.finding_id != other.finding_id
    assert first.finding_id == f"{rule.META.id}/{ACCOUNT}/{REGION}/{short_hash(STRATUS.arn)}"
    for item in (first, other):
        document = to_asff(item, product_arn=PRODUCT_ARN, updated_at=NOW)
        assert_valid_asff(document)
        assert document["Resources"][0]["Type"] == "AwsIamRole"


def test_meta_keeps_the_event_trigger_and_adds_the_state_trigger():
    meta = rule.META
    assert meta.trigger.event_names == {"CreateRole", "UpdateAssumeRolePolicy"}
    # periodic too: an unchanged unsafe role is re-asserted in Security Hub (functional/test_findings_stay_current.py)
    assert (meta.state.resource_type, meta.state.periodic, meta.state.change_triggered) == (
        "AWS::IAM::Role", True, True)
    assert "CIS5 1.20" in meta.compliance and meta.parameters == ()
