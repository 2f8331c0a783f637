"""An IAM SAML identity provider was created, updated or deleted.

Decisions (spec/rules.md §A, design.md §3; request shapes from the IAM API reference as CloudTrail
renders them: ``CreateSAMLProvider`` ``name`` + ``sAMLMetadataDocument`` with ``sAMLProviderArn`` in
the response, ``UpdateSAMLProvider`` ``sAMLProviderArn`` + ``sAMLMetadataDocument``,
``DeleteSAMLProvider`` ``sAMLProviderArn``; keys are looked up case-insensitively):
- Success only (no ``errorCode``).
- Identity Center managing its own provider is not a finding, and only that: the provider is named
  ``AWSSSO_<id>_DO_NOT_DELETE`` **and** the call is Identity Center's (``invokedBy`` /
  ``sourceIPAddress`` ``sso.amazonaws.com`` or the ``AWSServiceRoleForSSO`` session). A person
  touching Identity Center's provider is a finding (it breaks or hijacks every Identity Center
  sign-in to the account), and so is Identity Center's caller on any other provider.
- A change made through CloudFormation is still a change; only callers the policy allow-lists for this
  rule are skipped.
- The finding names the provider (ARN and name), never the SAML metadata document (long, and not
  needed to triage: the provider can be read with ``aws iam get-saml-provider``).
- ``UpdateSAMLProvider`` also carries SAML assertion encryption (IAM API reference, UpdateSAMLProvider:
  ``AssertionEncryptionMode`` ``Required | Allowed``, ``AddPrivateKey``, ``RemovePrivateKey``, which
  CloudTrail writes lower-camel: ``assertionEncryptionMode``, ``addPrivateKey``, ``removePrivateKey``).
  The finding names a removed private key (``removePrivateKey`` present: its key id) and an
  ``assertionEncryptionMode`` of ``Allowed``, which makes IAM accept unencrypted assertions again. The
  record holds only the new mode, so ``Allowed`` is named whatever it was before; ``Required`` is
  kept in the details without comment. Both stay HIGH, the rule's one severity. A private key being
  added is never copied into the finding (it is a secret; CloudTrail may hide it anyway).
"""

from __future__ import annotations

from fnmatch import fnmatchcase

from identity_auditor.model.cloudtrail import as_name, CloudTrailRecord
from identity_auditor.model.contract import Context, RuleMeta, Severity, Trigger, Violation

_IDENTITY_CENTER_PROVIDER = "AWSSSO_*_DO_NOT_DELETE"
_VERBS = {"CreateSAMLProvider": "created", "UpdateSAMLProvider": "updated", "DeleteSAMLProvider": "deleted"}

META = RuleMeta(
    id="iam_saml_provider_changed",
    title="IAM SAML identity provider changed",
    severity=Severity.HIGH,
    trigger=Trigger("iam.amazonaws.com", tuple(_VERBS)),
    resource_type="Other",
    finding_types=(
        "TTPs/Persistence",
        "Software and Configuration Checks/Industry and Regulatory Standards/CIS AWS Foundations Benchmark",
    ),
    why=(
        "A SAML provider decides whose assertions AWS trusts for role sign-in. Adding or replacing one lets "
        "whoever controls that identity provider assume the roles that trust it, without any AWS password."
    ),
    remediation=(
        "Confirm the change with the owners of federation. If it is not expected, restore the previous "
        "metadata (aws iam update-saml-provider) or delete the provider, list the roles whose trust policy "
        "names it, and review AssumeRoleWithSAML calls since the change. Never edit the AWSSSO_*_DO_NOT_DELETE "
        "provider by hand."
    ),
    remediation_url="https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_providers_create_saml.html",
    compliance=("CIS5 1.20", "CIS3 1.21"),
)


def evaluate(record: CloudTrailRecord, ctx: Context) -> Violation | None:
    if not record.succeeded:
        return None
    arn = as_name(record.request("SAMLProviderArn")) or as_name(record.response("SAMLProviderArn"))
    name = as_name(record.request("name")) or (arn.rsplit("/", 1)[-1] if arn else None)
    if record.by_identity_center and name and fnmatchcase(name, _IDENTITY_CENTER_PROVIDER):
        return None
    account = record.account_id
    arn = arn or (f"arn:{record.partition}:iam::{account}:saml-provider/{name}" if name else None)
    managed = bool(name and fnmatchcase(name, _IDENTITY_CENTER_PROVIDER))
    whose = "IAM Identity Center's own SAML provider" if managed else "the SAML identity provider"
    details = {"ProviderName": str(name or ""), "ProviderArn": str(arn or ""), "IdentityCenterProvider": str(managed).lower()}
    weakened = _encryption_changes(record, details) if record.event_name == "UpdateSAMLProvider" else []
    return Violation(
        description=(
            f"{record.user_identity.display_name} {_VERBS.get(record.event_name, 'changed')} {whose} "
            f"{name or '(unknown)'} in account {account}{': ' + ' and '.join(weakened) if weakened else ''}."
        ),
        resource_id=str(arn or name or f"arn:{record.partition}:iam::{account}:saml-provider/unknown"),
        details=details,
    )


def _encryption_changes(record: CloudTrailRecord, details: dict[str, str]) -> list[str]:
    """What an UpdateSAMLProvider does to SAML assertion encryption, for the description; the facts go to
    ``details``. Only the key id of a removed key is read; the private key being added never is."""
    changes = []
    removed = record.request("removePrivateKey")
    if removed is not None and removed != "":
        details["RemovedPrivateKey"] = str(removed)
        changes.append(f"removed private key {removed}")
    mode = as_name(record.request("assertionEncryptionMode"))
    if mode:
        details["AssertionEncryptionMode"] = mode
        if mode.strip().lower() == "allowed":
            changes.append("set assertion encryption to Allowed (unencrypted SAML assertions are accepted)")
    return changes
