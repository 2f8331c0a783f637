"""IAM Roles Anywhere was set up or widened: a certificate authority now mints AWS credentials for IAM roles.

A trust anchor is a federation trust like a SAML or OIDC provider: whoever holds a certificate its CA issued
can call ``CreateSession`` and get the credentials of every role a profile lists. Intruders add their own
CA as a persistence backdoor that survives key rotation and password resets.

Decisions (spec/rules.md §A, third wave; request and response shapes from the real invictus records
``CreateTrustAnchor`` and ``CreateProfile`` (stratus-red-team's Roles Anywhere persistence technique) and,
for the other calls, the IAM Roles Anywhere API reference, whose JSON names CloudTrail keeps as they are:
``trustAnchorId``, ``profileId``, ``crlId``, ``certificateField``, ``mappingRules[].specifier``,
``specifiers``; responses carry ``trustAnchor``, ``profile`` or ``crl`` with their ARN):
- Success only (no ``errorCode``). Identity Center's own calls are skipped (spec convention; it does
  not use Roles Anywhere). Allow-listed automation is the engine's.
- HIGH for trust anchors (``CreateTrustAnchor``, ``UpdateTrustAnchor``, ``EnableTrustAnchor``): the CA
  itself. HIGH for ``DisableCrl`` and ``DeleteCrl`` too (beyond the row, which does not grade them): a
  revocation list turned off lets every certificate revoked under it mint credentials again.
- MEDIUM for profiles (``CreateProfile``, ``UpdateProfile``, ``EnableProfile``) and their attribute
  mappings (``PutAttributeMapping``, ``DeleteAttributeMapping``, which take a ``profileId``): they choose
  which roles, policies and session names a trusted certificate gets.
- "Now mints credentials": a trust anchor or profile that the record shows disabled after the call
  (``enabled: false`` in the response's ``trustAnchor`` / ``profile``, or in the request when there is
  no response) mints nothing yet and is not a finding; enabling it later (``EnableTrustAnchor``,
  ``EnableProfile``) is. A record that does not say is treated as enabled. CRL calls always fire.
  Removing trust (``DeleteTrustAnchor``, ``DisableTrustAnchor``, ``DeleteProfile``, ``DisableProfile``)
  is not in the trigger.
- The finding names the trust anchor (ARN from the response, else built from ``trustAnchorId``, the
  account and the Region: Roles Anywhere is regional), its source type (``AWS_ACM_PCA``,
  ``CERTIFICATE_BUNDLE``, ``SELF_SIGNED_REPOSITORY``), the Private CA ARN for ``AWS_ACM_PCA``, and the
  SHA-256 fingerprint of an uploaded CA certificate (the PEM itself is long and left out); for profiles
  the profile ARN, name, role ARNs, managed policy ARNs and session duration; for attribute mappings
  the certificate field and specifiers; for CRLs the CRL ARN, name and its trust anchor ARN (the CRL
  data itself is left out).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from typing import Any

from identity_auditor.model.cloudtrail import as_text, CloudTrailRecord
from identity_auditor.model.contract import Context, RuleMeta, Severity, Trigger, Violation

_TRUST_ANCHOR = {
    "CreateTrustAnchor": "created",
    "UpdateTrustAnchor": "updated",  # "changed the certificate authority of" when the request has a source
    "EnableTrustAnchor": "enabled",
}
_CRL = {"DisableCrl": "disabled", "DeleteCrl": "deleted"}
_PROFILE = {
    "CreateProfile": "created",
    "UpdateProfile": "updated",
    "EnableProfile": "enabled",
    "PutAttributeMapping": "changed an attribute mapping of",
    "DeleteAttributeMapping": "deleted an attribute mapping of",
}

META = RuleMeta(
    id="iam_roles_anywhere_trust_changed",
    title="IAM Roles Anywhere trust anchor or profile changed",
    severity=Severity.HIGH,
    trigger=Trigger("rolesanywhere.amazonaws.com", (*_TRUST_ANCHOR, *_PROFILE, *_CRL)),
    resource_type="Other",
    finding_types=(
        "TTPs/Persistence",
        "Software and Configuration Checks/Industry and Regulatory Standards/CIS AWS Foundations Benchmark",
    ),
    why=(
        "A Roles Anywhere trust anchor lets anyone holding a certificate from its certificate authority get "
        "AWS credentials for the roles its profiles list: a backdoor that survives key rotation and password "
        "resets, like a rogue SAML or OIDC provider."
    ),
    remediation=(
        "Confirm the change with the team that owns workload certificates. If it is not expected, disable the "
        "trust anchor or profile (aws rolesanywhere disable-trust-anchor --trust-anchor-id ID), re-enable any "
        "CRL that was turned off, check the trust policies of the roles that trust rolesanywhere.amazonaws.com "
        "and review CreateSession calls since the change."
    ),
    severity_note="MEDIUM for profiles and their attribute mappings; HIGH for trust anchors and CRLs",
    remediation_url="https://docs.aws.amazon.com/rolesanywhere/latest/APIReference/API_DisableTrustAnchor.html",
    compliance=("CIS5 1.20", "CIS3 1.21"),
)


def evaluate(record: CloudTrailRecord, ctx: Context) -> Violation | None:
    if not record.succeeded or record.by_identity_center:
        return None
    name = record.event_name
    if name in _TRUST_ANCHOR:
        return _trust_anchor(record, _TRUST_ANCHOR[name])
    if name in _PROFILE:
        return _profile(record, _PROFILE[name])
    if name in _CRL:
        return _crl(record, _CRL[name])
    return None


def _trust_anchor(record: CloudTrailRecord, verb: str) -> Violation | None:
    anchor = _block(record.response("trustAnchor"))
    if _disabled(record, anchor):
        return None
    source = _block(anchor.get("source")) or _block(record.request("source"))
    source_type = as_text(source.get("sourceType"))
    data = _block(source.get("sourceData"))
    arn = as_text(anchor.get("trustAnchorArn")) or _arn(record, "trust-anchor", record.request("trustAnchorId"))
    label = as_text(anchor.get("name")) or as_text(record.request("name")) or arn or "(unknown)"
    details = {
        "TrustAnchorArn": arn,
        "TrustAnchorName": as_text(anchor.get("name")) or as_text(record.request("name")),
        "SourceType": source_type,
        "AcmPcaArn": as_text(data.get("acmPcaArn")),
        "CertificateSha256": _fingerprint(data.get("x509CertificateData")),
    }
    kind = f" ({source_type})" if source_type else ""
    if record.event_name == "UpdateTrustAnchor" and _block(record.request("source")):
        verb = "changed the certificate authority of"
    return Violation(
        description=(
            f"{record.caller} {verb} IAM Roles Anywhere trust anchor {label}{kind} in account {record.account_id} "
            f"({record.aws_region or 'unknown Region'}): certificates its CA issues can get AWS credentials."
        ),
        resource_id=arn or details["TrustAnchorName"] or f"rolesanywhere/{record.account_id}/trust-anchor",
        details=_present(details),
    )


def _profile(record: CloudTrailRecord, verb: str) -> Violation | None:
    profile = _block(record.response("profile"))
    if _disabled(record, profile):
        return None
    arn = as_text(profile.get("profileArn")) or _arn(record, "profile", record.request("profileId"))
    profile_name = as_text(profile.get("name")) or as_text(record.request("name"))
    roles = _list(profile.get("roleArns") if "roleArns" in profile else record.request("roleArns"))
    policies = _list(profile.get("managedPolicyArns") if "managedPolicyArns" in profile
                     else record.request("managedPolicyArns"))
    rules = record.request("mappingRules")
    specifiers = [rule.get("specifier") for rule in rules if isinstance(rule, dict)] if isinstance(rules, list) \
        else record.request("specifiers")
    details = {
        "ProfileArn": arn,
        "ProfileName": profile_name,
        "RoleArns": roles,
        "ManagedPolicyArns": policies,
        "DurationSeconds": _scalar(profile.get("durationSeconds", record.request("durationSeconds"))),
        "CertificateField": as_text(record.request("certificateField")),
        "Specifiers": _list(specifiers),
    }
    label = profile_name or arn or "(unknown)"
    for_roles = f" for roles {roles}" if roles else ""
    return Violation(
        description=(
            f"{record.caller} {verb} IAM Roles Anywhere profile {label} in account {record.account_id} "
            f"({record.aws_region or 'unknown Region'}){for_roles}."
        ),
        resource_id=arn or profile_name or f"rolesanywhere/{record.account_id}/profile",
        severity=Severity.MEDIUM,
        details=_present(details),
    )


def _crl(record: CloudTrailRecord, verb: str) -> Violation:
    crl = _block(record.response("crl"))
    arn = as_text(crl.get("crlArn")) or _arn(record, "crl", record.request("crlId"))
    crl_name = as_text(crl.get("name"))
    anchor = as_text(crl.get("trustAnchorArn"))
    details = {"CrlArn": arn, "CrlName": crl_name, "TrustAnchorArn": anchor}
    of_anchor = f" of trust anchor {anchor}" if anchor else ""
    return Violation(
        description=(
            f"{record.caller} {verb} IAM Roles Anywhere certificate revocation list {crl_name or arn or '(unknown)'}"
            f"{of_anchor} in account {record.account_id} ({record.aws_region or 'unknown Region'}): certificates "
            "it revoked can get AWS credentials again."
        ),
        resource_id=arn or crl_name or f"rolesanywhere/{record.account_id}/crl",
        details=_present(details),
    )


def _disabled(record: CloudTrailRecord, resource: dict[str, Any]) -> bool:
    """The trust anchor or profile is disabled after the call: the response says so, or, without one, the request."""
    enabled = resource.get("enabled") if "enabled" in resource else record.request("enabled")
    return enabled is False or (isinstance(enabled, str) and enabled.strip().lower() == "false")


def _arn(record: CloudTrailRecord, kind: str, resource_id: Any) -> str:
    """``arn:<partition>:rolesanywhere:<region>:<account>:<kind>/<id>``, or "" without an id."""
    if not isinstance(resource_id, str) or not resource_id:
        return ""
    return f"arn:{record.partition}:rolesanywhere:{record.aws_region or ''}:{record.account_id}:{kind}/{resource_id}"


def _fingerprint(pem: Any) -> str:
    """SHA-256 of the first certificate of a PEM bundle (what ``openssl x509 -fingerprint -sha256`` prints,
    without colons), or "" when there is none or it does not decode."""
    if not isinstance(pem, str) or "BEGIN CERTIFICATE" not in pem:
        return ""
    body = pem.split("BEGIN CERTIFICATE-----", 1)[1].split("-----END", 1)[0]
    try:
        der = base64.b64decode("".join(body.split()), validate=True)
    except (binascii.Error, ValueError):
        return ""
    return hashlib.sha256(der).hexdigest() if der else ""


def _block(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _scalar(value: Any) -> str:
    return str(value) if isinstance(value, (str, int, float)) and not isinstance(value, bool) else ""


def _list(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(str(item) for item in value if isinstance(item, (str, int)))
    return as_text(value)


def _present(details: dict[str, str]) -> dict[str, str]:
    return {key: value for key, value in details.items() if value}
