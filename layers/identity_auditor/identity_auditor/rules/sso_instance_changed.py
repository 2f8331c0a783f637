"""An IAM Identity Center instance was created, deleted, re-keyed or replicated, or a trusted token issuer changed.

Decisions (spec/rules.md §A, third wave; no public CloudTrail record of these calls exists, so the shapes
are the sso-admin API reference's request and response members in the lower-camel form CloudTrail gives
every sso.amazonaws.com record (as in the real ``CreateAccountAssignment`` records: ``instanceArn``):
``CreateInstance`` ``name``, ``clientToken``, ``tags`` -> ``instanceArn``; ``DeleteInstance``
``instanceArn``; ``UpdateInstance`` ``instanceArn``, ``name``, ``encryptionConfiguration`` {``keyType``
``AWS_OWNED_KMS_KEY | CUSTOMER_MANAGED_KEY``, ``kmsKeyArn``}; ``AddRegion`` / ``RemoveRegion``
``instanceArn``, ``regionName``; ``CreateTrustedTokenIssuer`` ``instanceArn``, ``name``,
``trustedTokenIssuerType``, ``trustedTokenIssuerConfiguration.oidcJwtConfiguration`` {``issuerUrl``,
``claimAttributePath``, ``identityStoreAttributePath``, ``jwksRetrievalOption``} ->
``trustedTokenIssuerArn``; ``UpdateTrustedTokenIssuer`` / ``DeleteTrustedTokenIssuer``
``trustedTokenIssuerArn``; keys are looked up case-insensitively):
- The trigger is the event source ``sso.amazonaws.com`` and these names only: other services'
  ``CreateInstance`` (Amazon Connect, OpsWorks) and IAM's ``CreateInstanceProfile`` (the records the
  invictus archive holds) never reach the rule.
- Success only; Identity Center's own calls (``record.by_identity_center``) are not findings.
- CRITICAL: ``DeleteInstance`` (every permission set, assignment and, for an instance with its own
  identity store, every user and group is gone; a management-account instance takes the organisation's
  sign-in with it).
- HIGH: trusted token issuers, all three calls (each is a federation trust: tokens from that issuer are
  exchanged for Identity Center tokens, and ``claimAttributePath`` / ``identityStoreAttributePath``
  decide which user a token becomes); ``UpdateInstance`` with an ``encryptionConfiguration`` (a key the
  intruder controls, or a switch back to an AWS owned key, changes who can read or lock the instance's
  data); and ``CreateInstance`` in a member account (an account instance: a second identity source the
  organisation instance does not manage).
- Which ``CreateInstance`` is in a member account: the record carries no organisation facts, but AWS
  rejects ``CreateInstance`` in an organisation's management account (API reference, CreateInstance), so
  every successful one creates an *account instance*. It is HIGH when the account is one of
  ``ctx.organization.accounts``, and also when the deployment does not know its organisation's accounts
  (``ctx.organization`` missing or unreadable, or a masked account id): the auditor is deployed into an
  organisation, and guessing "standalone" would hide the case the row is about. It is MEDIUM only when
  the organisation's accounts are known and do not include this account (a standalone account, whose
  instance is its only identity source).
- MEDIUM: ``UpdateInstance`` without an encryption change (a rename), ``AddRegion``, ``RemoveRegion``.
- An Identity Center replicated to several Regions may record one change once per Region; this rule
  judges each record alone and cannot merge them (the finding Id carries the Region).
"""

from __future__ import annotations

import re

from identity_auditor.model.cloudtrail import as_text, lookup, CloudTrailRecord
from identity_auditor.model.contract import Context, RuleMeta, Severity, Trigger, Violation
from identity_auditor.rules._lib import identity_center

_VERBS = {
    "CreateInstance": "created an IAM Identity Center instance",
    "DeleteInstance": "deleted the IAM Identity Center instance",
    "UpdateInstance": "updated the IAM Identity Center instance",
    "AddRegion": "replicated the IAM Identity Center instance",
    "RemoveRegion": "removed a replica Region of the IAM Identity Center instance",
    "CreateTrustedTokenIssuer": "created a trusted token issuer",
    "UpdateTrustedTokenIssuer": "updated the trusted token issuer",
    "DeleteTrustedTokenIssuer": "deleted the trusted token issuer",
}
_TOKEN_ISSUER = ("CreateTrustedTokenIssuer", "UpdateTrustedTokenIssuer", "DeleteTrustedTokenIssuer")
_ACCOUNT_ID = re.compile(r"\d{12}", re.ASCII)

META = RuleMeta(
    id="sso_instance_changed",
    title="IAM Identity Center instance or trusted token issuer changed",
    severity=Severity.MEDIUM,
    trigger=Trigger("sso.amazonaws.com", tuple(_VERBS)),
    resource_type="Other",
    finding_types=(
        "Software and Configuration Checks/Industry and Regulatory Standards/CIS AWS Foundations Benchmark",
        "TTPs/Persistence",
        "Effects/Denial of Service",
    ),
    why=(
        "The Identity Center instance is where workforce sign-in lives. Deleting it, re-keying it, adding a "
        "trusted token issuer or creating an account instance in a member account changes who can sign in "
        "and who controls that data, outside the organisation's reviewed identity source."
    ),
    remediation=(
        "Confirm the change with the Identity Center administrators. If it is not expected: delete an "
        "unapproved account instance (aws sso-admin delete-instance) or trusted token issuer, restore the "
        "approved KMS key, and review sign-ins and token exchanges since. Block sso:CreateInstance in member "
        "accounts with an SCP, and restrict sso:DeleteInstance, UpdateInstance and *TrustedTokenIssuer."
    ),
    severity_note=(
        "CRITICAL for DeleteInstance; HIGH for trusted token issuers, encryption key changes and an instance "
        "created in a member account"
    ),
    remediation_url="https://docs.aws.amazon.com/singlesignon/latest/APIReference/API_CreateInstance.html",
    compliance=("CIS5 1.20", "CIS3 1.21"),
    uses=("organization",),  # an account instance in a member account of the organisation is HIGH
)


def evaluate(record: CloudTrailRecord, ctx: Context) -> Violation | None:
    name = record.event_name
    if name not in _VERBS or not record.succeeded or record.by_identity_center:
        return None
    account = record.account_id
    instance = as_text(record.request("instanceArn")) or as_text(record.response("instanceArn"))
    issuer = as_text(record.request("trustedTokenIssuerArn")) or as_text(record.response("trustedTokenIssuerArn"))
    details = {"InstanceArn": instance}
    if name in ("CreateInstance", "UpdateInstance"):
        details["InstanceName"] = as_text(record.request("name"))
    severity, why, verb = Severity.MEDIUM, "", _VERBS[name]

    if name == "DeleteInstance":
        severity = Severity.CRITICAL
        why = ": every permission set and account assignment of it is gone"
    elif name in _TOKEN_ISSUER:
        severity = Severity.HIGH
        details.update(_token_issuer(record, issuer))
        why = ": tokens from that issuer are exchanged for Identity Center sign-ins"
    elif name == "UpdateInstance":
        encryption = record.request("encryptionConfiguration")
        if isinstance(encryption, dict):
            severity = Severity.HIGH
            key_type = as_text(lookup(encryption, "keyType"))
            key = as_text(lookup(encryption, "kmsKeyArn"))
            details.update({"KeyType": key_type, "KmsKeyArn": key})
            verb = "changed the encryption key of the IAM Identity Center instance"
            owned = "an AWS owned key" if key_type == "AWS_OWNED_KMS_KEY" else "a key the record does not name"
            why = f": its data is now encrypted with {key or owned}"
        elif details.get("InstanceName"):
            verb = "renamed the IAM Identity Center instance"
            why = f" to {details['InstanceName']}"
    elif name in ("AddRegion", "RemoveRegion"):
        region = as_text(record.request("regionName"))
        details["RegionName"] = region
        why = f"; Region {'added' if name == 'AddRegion' else 'removed'}: {region or '(unknown)'}"
    elif name == "CreateInstance":
        membership, member = _membership(account, ctx)
        details["OrganizationMembership"] = membership
        if member:
            severity = Severity.HIGH
            why = ": an account instance, a second identity source the organisation's instance does not manage"
        else:
            why = ": an account instance in an account outside the organisation"

    subject = issuer if name in _TOKEN_ISSUER else instance
    shown = f" {subject}" if subject else ""
    if name == "CreateTrustedTokenIssuer":
        url = f" ({details['IssuerUrl']})" if details.get("IssuerUrl") else ""
        label = details.get("TrustedTokenIssuerName") or issuer or "(unknown)"
        shown = f" {label}{url} for IAM Identity Center instance {instance or '(unknown)'}"
    return Violation(
        description=(
            f"{identity_center.caller(record)} {verb}{shown} in account {account} "
            f"({record.aws_region or 'unknown Region'}){why}."
        ),
        resource_id=subject or instance or f"IdentityCenter/{account}",
        severity=severity if severity is not META.severity else None,
        details={key: value for key, value in details.items() if value},
    )


def _token_issuer(record: CloudTrailRecord, issuer: str) -> dict[str, str]:
    configuration = lookup(record.request("trustedTokenIssuerConfiguration"), "oidcJwtConfiguration")
    return {
        "TrustedTokenIssuerArn": issuer,
        "TrustedTokenIssuerName": as_text(record.request("name")),
        "TrustedTokenIssuerType": as_text(record.request("trustedTokenIssuerType")),
        "IssuerUrl": as_text(lookup(configuration, "issuerUrl")),
        "ClaimAttributePath": as_text(lookup(configuration, "claimAttributePath")),
        "IdentityStoreAttributePath": as_text(lookup(configuration, "identityStoreAttributePath")),
    }


def _membership(account: str, ctx: Context) -> tuple[str, bool]:
    """Whether the account is a member of the deployment's organisation, as a sentence for the finding, and
    whether to treat it as one (see the module docstring: unknown counts as a member)."""
    organization = ctx.organization
    if organization is None:
        return "unknown (the deployment did not pass its organisation)", True
    if not organization.readable:
        return f"unknown (the organisation's accounts could not be read: {organization.problem})", True
    name = organization.id or "the organisation"
    if account in organization.accounts:
        return f"member account of {name}", True
    if not _ACCOUNT_ID.fullmatch(account):
        return f"unknown (account id {account!r} cannot be matched to {name})", True
    return f"not an account of {name}", False
