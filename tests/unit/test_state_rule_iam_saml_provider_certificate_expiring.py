"""iam_saml_provider_certificate_expiring (IAM posture state rule) on SAML providers as IAM returns them
(``ListSAMLProviders``: ``SAMLProviderList[]`` with ``Arn`` ``arn:aws:iam::<account>:saml-provider/<name>``,
``ValidUntil``, ``CreateDate``; ``GetSAMLProvider``: ``SAMLMetadataDocument``, whose ``KeyDescriptor
use="signing"`` X.509 certificates the collector reads into ``SigningCertificate``: subject, ``notAfter``, SHA-256
fingerprint), built by hand."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta, timezone
from types import MappingProxyType

import pytest
from asff_validator import assert_valid_asff
from identity_auditor.engine.registry import Registry, Rule
from identity_auditor.engine.state import NotRun, StateEngine, account_key, posture_subject, state_finding_id
from identity_auditor.model.contract import Compliance, Context, Severity, StateResult
from identity_auditor.model.home import Home
from identity_auditor.model.policy import OrgPolicy
from identity_auditor.model.snapshots import IamPosture, SamlProvider, SigningCertificate
from identity_auditor.rules import iam_saml_provider_certificate_expiring as rule
from identity_auditor.sinks.asff import to_asff

ACCOUNT = "123456789012"
REGION = "us-east-1"
NOW = datetime(2026, 11, 22, 6, 0, tzinfo=timezone.utc)
WHERE = Home(ACCOUNT, REGION, "aws")
PRODUCT_ARN = f"arn:aws:securityhub:{REGION}:{ACCOUNT}:product/{ACCOUNT}/default"
FAR = NOW + timedelta(days=365)
RULE = Rule(rule.META, None, rule.evaluate_state)
ENGINE = StateEngine(Registry([RULE]))


def cert(subject: str, not_after: datetime) -> SigningCertificate:
    return SigningCertificate(subject=subject, not_after=not_after,
                              sha256=hashlib.sha256(f"{subject} {not_after}".encode()).hexdigest())


OLD = cert("CN=ADFS Signing - sts.example.com", NOW - timedelta(days=10))
NEW = cert("CN=ADFS Signing - sts.example.com (2027)", FAR)


def provider(name: str = "ExampleADFS", *certificates: SigningCertificate, valid_until: datetime | None = None,
             unreadable: str = "") -> SamlProvider:
    return SamlProvider(arn=f"arn:aws:iam::{ACCOUNT}:saml-provider/{name}", name=name,
                        valid_until=valid_until if valid_until is not None else NOW + timedelta(days=36500),
                        certificates=certificates, unreadable=unreadable)


def posture(*providers: SamlProvider, **more) -> IamPosture:
    return IamPosture(account_id=ACCOUNT, partition="aws", saml_providers=providers, **more)


def judge(*providers: SamlProvider, days: int = 30) -> list[StateResult]:
    results = rule.evaluate_state(posture(*providers),
                                  Context(now=NOW, policy=OrgPolicy(saml_certificate_warning_days=days)))
    assert isinstance(results, list)
    for result in results:
        assert 0 < len(result.annotation) <= 256 and result.resource is not None
        assert (result.violation is not None) == (result.compliance is Compliance.NON_COMPLIANT)
    return results


def test_valid_certificates_beyond_the_warning_are_compliant():
    [result] = judge(provider("ExampleADFS", NEW, cert("CN=idp", NOW + timedelta(days=200))))
    assert result.compliance is Compliance.COMPLIANT
    assert result.annotation == ("SAML provider ExampleADFS: earliest signing certificate valid until "
                                 "2027-06-10 06:00 UTC, beyond 30 days; ValidUntil 2126-10-29 06:00 UTC.")
    resource = result.resource
    assert (resource.config_type, resource.config_id, resource.name, resource.key, resource.asff_type) == (
        "AWS::::Account", ACCOUNT, "ExampleADFS", f"arn:aws:iam::{ACCOUNT}:saml-provider/ExampleADFS", "Other")


def test_an_expired_only_certificate_is_high():
    [result] = judge(provider("ExampleADFS", OLD))
    assert result.compliance is Compliance.NON_COMPLIANT
    violation = result.violation
    assert violation.severity is Severity.HIGH
    assert result.annotation == ("SAML provider ExampleADFS: every signing certificate has expired (CN=ADFS Signing - "
                                 "sts.example.com (expired 2026-11-12 06:00 UTC)): no valid one is left.")
    assert violation.description == (f"IAM SAML provider ExampleADFS in account {ACCOUNT}: every signing certificate "
                                     "has expired (CN=ADFS Signing - sts.example.com (expired 2026-11-12 06:00 UTC)): "
                                     "no valid one is left.")
    assert (violation.resource_id, violation.resource_type, violation.subject) == (
        f"arn:aws:iam::{ACCOUNT}:saml-provider/ExampleADFS", "Other", "ExampleADFS")
    assert violation.details == {
        "ProviderName": "ExampleADFS", "ValidUntil": "2126-10-29T06:00:00.000Z", "WarningDays": "30",
        "Certificates": "CN=ADFS Signing - sts.example.com (not after 2026-11-12 06:00 UTC)"}


@pytest.mark.parametrize("not_after, compliance, severity", [
    (NOW, Compliance.NON_COMPLIANT, Severity.HIGH),  # not_after == now: expired
    (NOW + timedelta(seconds=1), Compliance.NON_COMPLIANT, Severity.MEDIUM),  # valid, expiring
    (NOW + timedelta(days=30), Compliance.NON_COMPLIANT, Severity.MEDIUM),  # exactly at the edge: within
    (NOW + timedelta(days=30, seconds=1), Compliance.COMPLIANT, None),
])
def test_the_edges(not_after, compliance, severity):
    [result] = judge(provider("Edge", cert("CN=idp", not_after)))
    assert result.compliance is compliance
    assert (result.violation.severity if result.violation else None) is severity


def test_an_expiring_certificate_is_medium_and_says_within_how_many_days():
    [result] = judge(provider("Okta", cert("CN=okta", NOW + timedelta(days=12))))
    assert result.violation.severity is Severity.MEDIUM
    assert result.annotation == ("SAML provider Okta: signing certificate CN=okta (expires 2026-12-04 06:00 UTC) "
                                 "expires within 30 days.")


def test_the_warning_follows_the_policy():
    expiring = provider("Okta", cert("CN=okta", NOW + timedelta(days=45)))
    assert judge(expiring)[0].compliance is Compliance.COMPLIANT
    [result] = judge(expiring, days=60)
    assert result.violation.severity is Severity.MEDIUM and "within 60 days" in result.annotation
    assert result.violation.details["WarningDays"] == "60"


def test_a_rollover_with_an_expired_and_a_valid_certificate_is_medium_naming_both():
    [result] = judge(provider("ExampleADFS", NEW, OLD))
    assert result.violation.severity is Severity.MEDIUM
    assert result.violation.description == (
        f"IAM SAML provider ExampleADFS in account {ACCOUNT}: signing certificate CN=ADFS Signing - sts.example.com "
        "(expired 2026-11-12 06:00 UTC) has expired beside valid CN=ADFS Signing - sts.example.com (2027) (valid "
        "until 2027-11-22 06:00 UTC) (rollover): stale trust in the metadata.")


def test_a_rollover_whose_valid_certificates_expire_soon_names_both_problems():
    soon = cert("CN=new", NOW + timedelta(days=5))
    [result] = judge(provider("ExampleADFS", OLD, cert("CN=older", NOW - timedelta(days=400)), soon))
    assert result.violation.severity is Severity.MEDIUM
    text = result.violation.description
    assert "signing certificates CN=older (expired 2025-10-18 06:00 UTC), CN=ADFS Signing" in text
    assert "have expired beside valid CN=new" in text
    assert "; signing certificate CN=new (expires 2026-11-27 06:00 UTC) expires within 30 days." in text


def test_a_passed_valid_until_is_high_even_with_valid_certificates():
    [result] = judge(provider("Legacy", NEW, valid_until=NOW - timedelta(days=1)))
    assert result.violation.severity is Severity.HIGH
    assert result.annotation == "SAML provider Legacy: its ValidUntil 2026-11-21 06:00 UTC has passed."
    [edge] = judge(provider("Legacy", NEW, valid_until=NOW))
    assert edge.violation.severity is Severity.HIGH


def test_the_worst_problem_comes_first():
    [result] = judge(provider("Legacy", cert("CN=soon", NOW + timedelta(days=3)), valid_until=NOW))
    assert result.violation.severity is Severity.HIGH
    assert result.annotation.startswith("SAML provider Legacy: its ValidUntil 2026-11-22 06:00 UTC has passed; "
                                        "signing certificate CN=soon")


@pytest.mark.parametrize("unreadable, why", [
    ("", "the metadata holds no signing certificate"),
    ("SAMLMetadataDocument is not XML: mismatched tag at line 3", "SAMLMetadataDocument is not XML"),
])
def test_no_certificate_read_is_medium_and_says_sign_in_cannot_be_judged(unreadable, why):
    [result] = judge(provider("Broken", unreadable=unreadable))
    assert result.compliance is Compliance.NON_COMPLIANT and result.violation.severity is Severity.MEDIUM
    assert f"its signing certificates could not be read ({why}" in result.annotation
    assert "whether federated sign-in works cannot be judged" in result.violation.description
    assert result.violation.details["Certificates"] == "none"


def test_partly_unreadable_metadata_is_reported_and_all_read_expired_is_only_medium():
    partly = "KeyDescriptor 2: X509Certificate is not base64"
    [valid] = judge(provider("Partial", NEW, unreadable=partly))
    assert valid.violation.severity is Severity.MEDIUM
    assert valid.annotation == f"SAML provider Partial: part of its metadata could not be read ({partly})."
    [expired] = judge(provider("Partial", OLD, unreadable=partly))
    assert expired.violation.severity is Severity.MEDIUM
    assert "every signing certificate read has expired" in expired.annotation


def test_naive_datetimes_are_taken_as_utc():
    [result] = judge(provider("Naive", cert("CN=idp", datetime(2026, 11, 22, 5, 59)),
                              valid_until=datetime(2100, 1, 1)))
    assert result.violation.severity is Severity.HIGH


def test_every_provider_gets_its_own_result():
    results = judge(provider("Okta", NEW), provider("ExampleADFS", OLD))
    assert [(r.resource.name, r.compliance) for r in results] == [
        ("Okta", Compliance.COMPLIANT), ("ExampleADFS", Compliance.NON_COMPLIANT)]


def test_no_providers_is_one_not_applicable_account_result():
    result = rule.evaluate_state(posture(), Context(now=NOW))
    assert isinstance(result, StateResult) and result.resource is None
    assert result.compliance is Compliance.NOT_APPLICABLE and "no IAM SAML providers" in result.annotation


def test_end_to_end_through_the_state_engine():
    snapshot = posture(provider("Okta", NEW), provider("ExampleADFS", OLD), provider("Entra", NEW, OLD))
    evaluations = ENGINE.evaluate([RULE], [posture_subject(snapshot, "iam_posture")], Context(now=NOW), WHERE)
    okta, adfs, entra, summary = evaluations
    for evaluation, name in ((okta, "Okta"), (adfs, "ExampleADFS"), (entra, "Entra")):
        arn = f"arn:aws:iam::{ACCOUNT}:saml-provider/{name}"
        assert evaluation.finding.finding_id == state_finding_id(rule.META.id, WHERE, arn)
        assert not evaluation.reported
        document = to_asff(evaluation.finding, product_arn=PRODUCT_ARN, updated_at=NOW)
        assert_valid_asff(document)
        assert document["Resources"][0] == {"Type": "Other", "Id": arn, "Partition": "aws", "Region": REGION}
    assert (okta.finding.compliance_status, okta.finding.severity) == ("PASSED", Severity.INFORMATIONAL)
    assert (adfs.finding.compliance_status, adfs.finding.severity) == ("FAILED", Severity.HIGH)
    assert (entra.finding.compliance_status, entra.finding.severity) == ("FAILED", Severity.MEDIUM)
    assert to_asff(adfs.finding, product_arn=PRODUCT_ARN, updated_at=NOW)["Compliance"]["RelatedRequirements"] == []
    assert (summary.resource_type, summary.key, summary.compliance, summary.annotation) == (
        "AWS::::Account", account_key(ACCOUNT), Compliance.NON_COMPLIANT, "2 of 3 non-compliant: ExampleADFS, Entra")


def test_not_run_when_the_providers_could_not_be_read():
    snapshot = posture(provider("Okta", OLD), unavailable=MappingProxyType({"saml_providers": "AccessDenied"}))
    not_run: list[NotRun] = []
    assert ENGINE.evaluate([RULE], [posture_subject(snapshot, "iam_posture")], Context(now=NOW), WHERE,
                           not_run=not_run) == []
    assert [n.reason for n in not_run] == ["saml_providers: AccessDenied"]


def test_meta():
    meta = rule.META
    assert meta.id == rule.__name__.rsplit(".", 1)[-1] and meta.trigger is None
    assert (meta.state.resource_type, meta.state.subject, meta.state.reads) == (
        "AWS::::Account", "iam_posture", ("saml_providers",))
    assert meta.severity is Severity.HIGH and meta.severity_note and meta.resource_type == "Other"
    assert meta.compliance == () and meta.parameters == ()  # the organisation policy sets it, never a member account's Config rule
    assert len(meta.remediation) <= 512 and "aws iam update-saml-provider" in meta.remediation
