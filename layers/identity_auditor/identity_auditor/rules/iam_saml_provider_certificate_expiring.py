"""An IAM SAML provider's signing certificate has expired or expires soon, or the provider's ValidUntil has passed.

Decisions (spec/rules.md §B, IAM posture):
- Subject: the account's IAM posture (``ListSAMLProviders`` / ``GetSAMLProvider``, part ``saml_providers``: not
  run when it could not be read). One result per SAML provider: ``AWS::::Account`` (the convention for
  resources AWS Config is not told about one by one), filed under the provider's ARN, ASFF type ``Other``.
- The certificates judged are the signing certificates of the provider's metadata (``SamlProvider.certificates``,
  read by the collector). With ``now`` = ``ctx.now`` and ``days`` = the policy's ``saml_certificate_warning_days``
  (default 30), each problem found is named, the finding's severity is the highest:
  * HIGH: ``ValidUntil`` <= now; or every signing certificate has expired (``not_after`` <= now): no valid one is
    left to verify the IdP's assertions, federated sign-in through the provider breaks;
  * MEDIUM, rollover: one certificate has expired while another is still valid (an IdP rolling its key over
    publishes both). Sign-in still works, but the expired certificate is stale trust that should leave the
    metadata: reported, MEDIUM, naming the expired and the valid ones;
  * MEDIUM, expiring: a still valid certificate expires within ``days`` (``not_after`` <= now + days: exactly at
    the edge is within);
  * MEDIUM, unreadable: the metadata could not be read, or holds no signing certificate: whether federated
    sign-in works cannot be judged, and that is itself worth a look (never a silent pass). When only part of it
    could not be read (``SamlProvider.unreadable`` with certificates read), the certificates read are judged and
    the unread part is named too; all read certificates expired is then MEDIUM, not HIGH (the unread part may
    hold a valid one).
- COMPLIANT otherwise; the annotation names the earliest expiry. ``ValidUntil`` close to passing is not judged
  (the spec asks only whether it has passed); the annotation shows it.
- No SAML providers: one account-level NOT_APPLICABLE result (nothing federates through IAM SAML here).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from datetime import datetime, timedelta, timezone

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
    from identity_auditor.model.snapshots import IamPosture, SamlProvider, SigningCertificate

META = RuleMeta(
    id="iam_saml_provider_certificate_expiring",
    title="IAM SAML provider certificate expired or expiring",
    severity=Severity.HIGH,
    severity_note="MEDIUM when a certificate only expires soon, an expired one sits beside a valid one "
                  "(rollover), or the metadata could not be read",
    trigger=None,
    state=StateTrigger("AWS::::Account", periodic=True, subject="iam_posture", reads=("saml_providers",)),
    resource_type="Other",
    finding_types=("Software and Configuration Checks/AWS Security Best Practices",),
    why=(
        "When the identity provider's signing certificate in IAM expires, federated sign-in to the account "
        "breaks; an expired certificate left beside the new one is trust nobody needs any more."
    ),
    remediation=(
        "Download the identity provider's current SAML metadata (with its new signing certificate) and upload "
        "it: aws iam update-saml-provider --saml-provider-arn <arn> --saml-metadata-document file://metadata.xml. "
        "Once the IdP signs with the new certificate only, upload metadata without the old one. Check the "
        "provider with aws iam get-saml-provider --saml-provider-arn <arn>."
    ),
    remediation_url="https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_providers_create_saml.html",
)

def evaluate_state(posture: IamPosture, ctx: Context) -> StateResult | list[StateResult]:
    if not posture.saml_providers:
        return StateResult(Compliance.NOT_APPLICABLE, f"Account {posture.account_id} has no IAM SAML providers.")
    days = ctx.policy.saml_certificate_warning_days
    return [_judge(provider, posture.account_id, as_utc(ctx.now), days) for provider in posture.saml_providers]


def _judge(provider: SamlProvider, account_id: str, now: datetime, days: int) -> StateResult:
    resource = Resource("AWS::::Account", account_id, provider.name, provider.arn, "Other")
    certificates = sorted(provider.certificates, key=lambda c: as_utc(c.not_after))
    expired = [c for c in certificates if as_utc(c.not_after) <= now]
    valid = [c for c in certificates if as_utc(c.not_after) > now]
    expiring = [c for c in valid if as_utc(c.not_after) <= now + timedelta(days=days)]
    valid_until = as_utc(provider.valid_until) if provider.valid_until is not None else None

    problems: list[tuple[Severity, str]] = []
    if valid_until is not None and valid_until <= now:
        problems.append((Severity.HIGH, f"its ValidUntil {_when(valid_until)} has passed"))
    if not certificates:
        why = provider.unreadable or "the metadata holds no signing certificate"
        problems.append((Severity.MEDIUM, f"its signing certificates could not be read ({why}): whether federated "
                                          "sign-in works cannot be judged"))
    elif expired and not valid:
        every = "every signing certificate read" if provider.unreadable else "every signing certificate"
        problems.append((Severity.MEDIUM if provider.unreadable else Severity.HIGH,
                         f"{every} has expired ({_list(expired, 'expired')}): no valid one is left"))
    elif expired:
        problems.append((Severity.MEDIUM, f"{_named(expired, 'expired')} {_verb(expired, 'has', 'have')} expired "
                                          f"beside valid {_list(valid, 'valid until')} (rollover): stale trust in "
                                          "the metadata"))
    if expiring:
        problems.append((Severity.MEDIUM, f"{_named(expiring, 'expires')} {_verb(expiring, 'expires', 'expire')} "
                                          f"within {days} days"))
    if certificates and provider.unreadable:
        problems.append((Severity.MEDIUM, f"part of its metadata could not be read ({provider.unreadable})"))

    problems.sort(key=lambda problem: -problem[0].rank)  # the worst first: it survives the annotation's clipping
    details = {"ProviderName": provider.name, "Certificates": clip(_list(certificates, "not after") or "none", 1024),
               "ValidUntil": iso_utc(valid_until) if valid_until else "not set", "WarningDays": str(days)}
    name = clip(provider.name, 128)
    if not problems:
        earliest = f"earliest signing certificate valid until {_when(certificates[0].not_after)}"
        until = f"; ValidUntil {_when(valid_until)}" if valid_until else ""
        return StateResult(Compliance.COMPLIANT,
                           clip(f"SAML provider {name}: {earliest}, beyond {days} days{until}.", 256),
                           resource=resource)
    severity = max((severity for severity, _ in problems), key=lambda found: found.rank)
    text = "; ".join(problem for _, problem in problems)
    return StateResult(
        Compliance.NON_COMPLIANT,
        clip(f"SAML provider {name}: {text}.", 256),
        Violation(
            description=clip(f"IAM SAML provider {provider.name} in account {account_id}: {text}.", 1000),
            resource_id=provider.arn,
            resource_type="Other",
            severity=severity,
            details=details,
            subject=provider.name,
        ),
        resource=resource,
    )


def _list(certificates: list[SigningCertificate], verb: str) -> str:
    """``CN=idp (expired 2026-01-01 00:00 UTC), ...`` for a finding; subjects as the collector read them."""
    return ", ".join(f"{clip(c.subject, 120) or c.sha256[:16]} ({verb} {_when(c.not_after)})" for c in certificates)


def _when(moment: datetime) -> str:
    return as_utc(moment).astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def _named(certificates: list[SigningCertificate], verb: str) -> str:
    noun = "signing certificate" if len(certificates) == 1 else "signing certificates"
    return f"{noun} {_list(certificates, verb)}"


def _verb(certificates: list[SigningCertificate], one: str, many: str) -> str:
    return one if len(certificates) == 1 else many
