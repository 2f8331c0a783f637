"""iam_server_certificate_expired (IAM posture state rule) on certificates as ``ListServerCertificates`` returns
them (``ServerCertificateMetadataList[]``: ``ServerCertificateName``, ``ServerCertificateId`` ASCA..., ``Arn``
``arn:aws:iam::<account>:server-certificate<path><name>``, ``Path``, ``UploadDate``, ``Expiration``), built by
hand as ``ServerCertificate``."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from types import MappingProxyType

import pytest
from asff_validator import assert_valid_asff
from identity_auditor.engine.registry import Registry, Rule
from identity_auditor.engine.state import NotRun, StateEngine, account_key, posture_subject, state_finding_id
from identity_auditor.model.contract import Compliance, Context, Severity, StateResult
from identity_auditor.model.home import Home
from identity_auditor.model.snapshots import IamPosture, ServerCertificate
from identity_auditor.rules import iam_server_certificate_expired as rule
from identity_auditor.sinks.asff import to_asff

ACCOUNT = "123456789012"
REGION = "us-east-1"
NOW = datetime(2026, 11, 22, 6, 0, tzinfo=timezone.utc)
WHERE = Home(ACCOUNT, REGION, "aws")
PRODUCT_ARN = f"arn:aws:securityhub:{REGION}:{ACCOUNT}:product/{ACCOUNT}/default"
RULE = Rule(rule.META, None, rule.evaluate_state)
ENGINE = StateEngine(Registry([RULE]))


def certificate(name: str, expiration: datetime | None, path: str = "/cloudfront/") -> ServerCertificate:
    return ServerCertificate(name=name, arn=f"arn:aws:iam::{ACCOUNT}:server-certificate{path}{name}",
                             certificate_id="ASCACKCEVSQ6C2EXAMPLE", path=path, expiration=expiration,
                             uploaded=datetime(2024, 1, 10, 9, 30, tzinfo=timezone.utc))


def posture(*certificates: ServerCertificate, **more) -> IamPosture:
    return IamPosture(account_id=ACCOUNT, partition="aws", server_certificates=certificates, **more)


def judge(*certificates: ServerCertificate) -> list[StateResult]:
    results = rule.evaluate_state(posture(*certificates), Context(now=NOW))
    assert isinstance(results, list)
    for result in results:
        assert 0 < len(result.annotation) <= 256 and result.resource is not None
        assert (result.violation is not None) == (result.compliance is Compliance.NON_COMPLIANT)
    return results


def test_an_expired_certificate_is_non_compliant():
    expired = certificate("www-2025", datetime(2026, 10, 1, 23, 59, 59, tzinfo=timezone.utc))
    [result] = judge(expired)
    assert result.compliance is Compliance.NON_COMPLIANT
    assert result.annotation == "Server certificate www-2025 expired at 2026-10-01T23:59:59.000Z (51 days ago)."
    resource = result.resource
    assert (resource.config_type, resource.config_id, resource.name, resource.key, resource.asff_type) == (
        "AWS::::Account", ACCOUNT, "www-2025", expired.arn, "Other")
    violation = result.violation
    assert violation.description == (f"IAM server certificate www-2025 in account {ACCOUNT} expired at "
                                     "2026-10-01T23:59:59.000Z (51 days ago) and is still stored.")
    assert (violation.resource_id, violation.resource_type, violation.subject) == (expired.arn, "Other", "www-2025")
    assert violation.details == {"ServerCertificateName": "www-2025", "Expiration": "2026-10-01T23:59:59.000Z",
                                 "Path": "/cloudfront/", "ServerCertificateId": "ASCACKCEVSQ6C2EXAMPLE"}
    assert violation.severity is None and rule.META.severity is Severity.LOW


@pytest.mark.parametrize("expiration, compliance, words", [
    (NOW, Compliance.NON_COMPLIANT, "(today)"),  # expiring this very second is expired
    (NOW - timedelta(days=1), Compliance.NON_COMPLIANT, "(1 day ago)"),
    (NOW - timedelta(hours=23), Compliance.NON_COMPLIANT, "(today)"),
    (NOW + timedelta(seconds=1), Compliance.COMPLIANT, "expires at 2026-11-22T06:00:01.000Z"),
    (NOW + timedelta(days=400), Compliance.COMPLIANT, "expires at 2027-12-27T06:00:00.000Z"),
])
def test_the_edge_is_expired(expiration, compliance, words):
    [result] = judge(certificate("edge", expiration))
    assert result.compliance is compliance and words in result.annotation


def test_a_naive_expiration_is_taken_as_utc():
    [result] = judge(certificate("naive", datetime(2026, 11, 22, 5, 59)))
    assert result.compliance is Compliance.NON_COMPLIANT


def test_every_certificate_gets_its_own_result():
    results = judge(certificate("old", NOW - timedelta(days=3)), certificate("new", NOW + timedelta(days=90)))
    assert [(r.resource.name, r.compliance) for r in results] == [
        ("old", Compliance.NON_COMPLIANT), ("new", Compliance.COMPLIANT)]


def test_an_unknown_expiration_is_not_applicable():
    [result] = judge(certificate("mystery", None))
    assert result.compliance is Compliance.NOT_APPLICABLE and "could not be read" in result.annotation


def test_no_certificates_is_one_compliant_account_result():
    result = rule.evaluate_state(posture(), Context(now=NOW))
    assert isinstance(result, StateResult) and result.resource is None
    assert result.compliance is Compliance.COMPLIANT and "stores no IAM server certificates" in result.annotation


def test_end_to_end_through_the_state_engine():
    old, new = certificate("old", NOW - timedelta(days=3)), certificate("new", NOW + timedelta(days=90))
    evaluations = ENGINE.evaluate([RULE], [posture_subject(posture(old, new), "iam_posture")], Context(now=NOW),
                                  WHERE)
    failed, passed, summary = evaluations
    assert failed.finding.finding_id == state_finding_id(rule.META.id, WHERE, old.arn)
    assert passed.finding.finding_id == state_finding_id(rule.META.id, WHERE, new.arn)
    assert (failed.finding.compliance_status, failed.finding.severity) == ("FAILED", Severity.LOW)
    assert passed.finding.compliance_status == "PASSED"
    for evaluation in (failed, passed):
        document = to_asff(evaluation.finding, product_arn=PRODUCT_ARN, updated_at=NOW)
        assert_valid_asff(document)
        assert document["Resources"][0]["Type"] == "Other" and document["Resources"][0]["Id"] == evaluation.key
    # certificates are told to AWS Config through the account's one evaluation
    assert not failed.reported and not passed.reported
    assert (summary.resource_type, summary.resource_id, summary.compliance, summary.key) == (
        "AWS::::Account", ACCOUNT, Compliance.NON_COMPLIANT, account_key(ACCOUNT))
    assert summary.annotation == "1 of 2 non-compliant: old"


def test_not_run_when_the_certificates_could_not_be_read():
    snapshot = posture(certificate("old", NOW - timedelta(days=3)),
                       unavailable=MappingProxyType({"server_certificates": "AccessDenied"}))
    not_run: list[NotRun] = []
    assert ENGINE.evaluate([RULE], [posture_subject(snapshot, "iam_posture")], Context(now=NOW), WHERE,
                           not_run=not_run) == []
    assert [n.reason for n in not_run] == ["server_certificates: AccessDenied"]


def test_meta():
    meta = rule.META
    assert meta.id == rule.__name__.rsplit(".", 1)[-1] and meta.trigger is None
    assert (meta.state.resource_type, meta.state.subject, meta.state.reads) == (
        "AWS::::Account", "iam_posture", ("server_certificates",))
    assert meta.severity is Severity.LOW and meta.resource_type == "Other"
    assert meta.compliance == ("CIS5 1.18", "CIS3 1.19", "FSBP IAM.26")
    assert len(meta.remediation) <= 512 and "aws iam delete-server-certificate" in meta.remediation
