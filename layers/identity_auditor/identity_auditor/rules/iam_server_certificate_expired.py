"""An IAM server certificate has expired and is still stored in IAM.

Decisions (spec/rules.md §B, IAM posture):
- Subject: the account's IAM posture (``ListServerCertificates``, part ``server_certificates``: not run when it
  could not be read). One result per server certificate: ``AWS::::Account`` (the convention for resources AWS
  Config is not told about one by one), filed under the certificate's ARN, ASFF type ``Other``.
- NON_COMPLIANT (LOW) when ``Expiration`` <= ``ctx.now`` (a certificate expiring this very second is expired);
  COMPLIANT while it is in the future (the annotation says when it expires). An expired certificate is dead
  weight that can be deployed by mistake to an ELB or CloudFront; deleting it is the fix (CIS 1.18, IAM.26).
- A certificate whose expiration is unknown is NOT_APPLICABLE with that reason (IAM always returns one; this
  only guards a collector that could not read it).
- No server certificates: one account-level COMPLIANT result.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from datetime import datetime

from identity_auditor.model.contract import (
    Compliance,
    Context,
    Resource,
    RuleMeta,
    Severity,
    StateResult,
    StateTrigger,
    Violation,
)
from identity_auditor.model.text import as_utc, clip, iso_utc


if TYPE_CHECKING:  # annotations only: the snapshots are built by the collectors, on the Config path
    from identity_auditor.model.snapshots import IamPosture, ServerCertificate

META = RuleMeta(
    id="iam_server_certificate_expired",
    title="Expired IAM server certificate is still stored",
    severity=Severity.LOW,
    trigger=None,
    state=StateTrigger("AWS::::Account", periodic=True, subject="iam_posture", reads=("server_certificates",)),
    resource_type="Other",
    finding_types=(
        "Software and Configuration Checks/Industry and Regulatory Standards/CIS AWS Foundations Benchmark",
        "Software and Configuration Checks/AWS Security Best Practices",
    ),
    why=(
        "An expired certificate left in IAM can be deployed by mistake to a load balancer or CloudFront "
        "distribution, breaking TLS for its clients and undermining trust in the service."
    ),
    remediation=(
        "Make sure no load balancer or distribution still uses it, then delete it: aws iam "
        "delete-server-certificate --server-certificate-name <name> (list them with aws iam "
        "list-server-certificates). Prefer AWS Certificate Manager, which renews certificates itself."
    ),
    remediation_url="https://docs.aws.amazon.com/IAM/latest/UserGuide/id_credentials_server-certs.html",
    compliance=("CIS5 1.18", "CIS3 1.19", "FSBP IAM.26"),
)


def evaluate_state(posture: IamPosture, ctx: Context) -> StateResult | list[StateResult]:
    if not posture.server_certificates:
        return StateResult(Compliance.COMPLIANT,
                           f"Account {posture.account_id} stores no IAM server certificates: none has expired.")
    return [_judge(certificate, posture.account_id, ctx.now) for certificate in posture.server_certificates]


def _judge(certificate: ServerCertificate, account_id: str, now: datetime) -> StateResult:
    resource = Resource("AWS::::Account", account_id, certificate.name, certificate.arn, "Other")
    name = clip(certificate.name, 128)
    if certificate.expiration is None:
        return StateResult(Compliance.NOT_APPLICABLE,
                           f"The expiration of server certificate {name} could not be read.", resource=resource)
    expiration = as_utc(certificate.expiration)
    expires = iso_utc(expiration)
    if expiration > as_utc(now):
        return StateResult(Compliance.COMPLIANT, f"Server certificate {name} expires at {expires}.",
                           resource=resource)
    days = (as_utc(now) - expiration).days
    ago = f"{days} day{'s' if days != 1 else ''} ago" if days else "today"
    details = {"ServerCertificateName": certificate.name, "Expiration": expires, "Path": certificate.path}
    if certificate.certificate_id:
        details["ServerCertificateId"] = certificate.certificate_id
    return StateResult(
        Compliance.NON_COMPLIANT,
        f"Server certificate {name} expired at {expires} ({ago}).",
        Violation(
            description=f"IAM server certificate {certificate.name} in account {account_id} expired at {expires} "
                        f"({ago}) and is still stored.",
            resource_id=certificate.arn,
            resource_type="Other",
            details=details,
            subject=certificate.name,
        ),
        resource=resource,
    )
