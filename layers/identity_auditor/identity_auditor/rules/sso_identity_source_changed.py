"""IAM Identity Center's identity source, provisioning, sign-in/MFA or ABAC settings were changed.

Whoever controls the identity source controls who can sign in as any Identity Center user: switching the
directory or the external IdP (or its signing certificate) hands every assigned account to that IdP.

Decisions (spec/rules.md §A; event names and sources from the IAM Identity Center user guide,
"IAM Identity Center information in CloudTrail", and the Service Authorization Reference for ``sso``
and ``sso-directory``):
- Two event sources. ``META.trigger`` covers sso-directory.amazonaws.com; :data:`ALSO` lists the
  sso.amazonaws.com names (``META.also``). ``evaluate`` decides
  on the event name alone, whichever source delivered it.
- ``PutMfaDeviceManagementForDirectory`` (who may manage MFA devices) is an ``sso:`` IAM action, but
  the user guide also lists it among the identity store (sso-directory) CloudTrail operations: it is
  in both triggers. No other sso-directory call that changes instance MFA settings is documented (the
  other sso-directory MFA calls register, rename or delete one user's device; device removal is
  ``sso_user_mfa_device_removed``).
- CRITICAL: the identity source switch: ``AssociateDirectory``, ``DisassociateDirectory``, any external
  IdP configuration call (create/enable/disable/update/delete) and IdP certificate import/deletion.
- HIGH: SCIM provisioning tenants and bearer tokens (a token lets its holder create and change users),
  sign-in and MFA configuration (``UpdateSSOConfiguration``, ``PutMfaDeviceManagementForDirectory``)
  and attribute-based access control (``…InstanceAccessControlAttributeConfiguration``).
- Success only. No exception for Identity Center itself: these changes are rare and always worth a
  look; a planned change is closed by triage or a dated suppression (the engine skips only callers
  the organisation policy explicitly allow-lists for this rule, as for every rule).
- The console-only sso-directory calls have no published request shape; only documented fields
  (``instanceArn``, ``identityStoreId``) are read, when present, to name the resource.
- Both record shapes: a caller of type ``IdentityCenterUser`` (no ARN, no ``userName``) is named by its
  ``onBehalfOf.userId`` (:mod:`identity_auditor.rules._lib.identity_center`), never "unknown"; having no
  ARN, it is never allow-listed automation.
"""

from __future__ import annotations

from identity_auditor.model.cloudtrail import CloudTrailRecord
from identity_auditor.model.contract import Context, RuleMeta, Severity, Trigger, Violation
from identity_auditor.rules._lib import identity_center

_SWITCH = {  # CRITICAL
    "AssociateDirectory": "associated a directory with",
    "DisassociateDirectory": "disassociated the directory from",
    "CreateExternalIdPConfigurationForDirectory": "created an external identity provider configuration for",
    "EnableExternalIdPConfigurationForDirectory": "enabled the external identity provider of",
    "DisableExternalIdPConfigurationForDirectory": "disabled the external identity provider of",
    "UpdateExternalIdPConfigurationForDirectory": "updated the external identity provider of",
    "DeleteExternalIdPConfigurationForDirectory": "deleted the external identity provider of",
    "ImportExternalIdPCertificate": "imported an external identity provider certificate into",
    "DeleteExternalIdPCertificate": "deleted an external identity provider certificate of",
}
_SETTINGS = {  # HIGH
    "CreateProvisioningTenant": "enabled SCIM provisioning (created a provisioning tenant) for",
    "DeleteProvisioningTenant": "disabled SCIM provisioning (deleted the provisioning tenant) of",
    "CreateBearerToken": "created a SCIM access token for",
    "DeleteBearerToken": "deleted a SCIM access token of",
    "PutMfaDeviceManagementForDirectory": "changed who may manage MFA devices in",
    "UpdateSSOConfiguration": "changed the sign-in configuration of",
    "CreateInstanceAccessControlAttributeConfiguration": "enabled attributes for access control in",
    "UpdateInstanceAccessControlAttributeConfiguration": "changed the attributes for access control of",
    "DeleteInstanceAccessControlAttributeConfiguration": "disabled attributes for access control in",
}
_SSO_NAMES = (
    "AssociateDirectory",
    "DisassociateDirectory",
    "UpdateSSOConfiguration",
    "PutMfaDeviceManagementForDirectory",
    "CreateInstanceAccessControlAttributeConfiguration",
    "UpdateInstanceAccessControlAttributeConfiguration",
    "DeleteInstanceAccessControlAttributeConfiguration",
)
_DIRECTORY_NAMES = (
    *(name for name in (*_SWITCH, *_SETTINGS) if name not in _SSO_NAMES),
    "PutMfaDeviceManagementForDirectory",
)

ALSO = Trigger("sso.amazonaws.com", _SSO_NAMES)

META = RuleMeta(
    id="sso_identity_source_changed",
    title="Identity Center identity source or sign-in settings changed",
    severity=Severity.HIGH,
    trigger=Trigger("sso-directory.amazonaws.com", _DIRECTORY_NAMES),
    also=(ALSO,),
    resource_type="Other",
    finding_types=(
        "Software and Configuration Checks/Industry and Regulatory Standards/CIS AWS Foundations Benchmark",
        "TTPs/Persistence",
        "TTPs/Credential Access",
    ),
    why=(
        "The identity source decides who can sign in as any Identity Center user. A new IdP, certificate "
        "or SCIM token, or weaker sign-in and MFA settings, can give an intruder lasting access to every "
        "assigned account."
    ),
    remediation=(
        "Confirm the change with the Identity Center administrators and the change ticket. If it was not "
        "planned, restore the previous identity source, IdP metadata and certificate, revoke new SCIM "
        "tokens, re-check MFA settings, and review sign-ins since the change. Restrict sso and "
        "sso-directory write actions to a break-glass role with an SCP."
    ),
    severity_note="CRITICAL for the identity source switch (directory, external IdP, certificates)",
    remediation_url=(
        "https://docs.aws.amazon.com/singlesignon/latest/userguide/manage-your-identity-source-change.html"
    ),
    compliance=("CIS5 1.20", "CIS3 1.21"),
)

# The sso.amazonaws.com half of the trigger (a Trigger has one event source).

_NAMING_KEYS = ("instanceArn", "identityStoreId")  # documented fields that name the instance


def evaluate(record: CloudTrailRecord, ctx: Context) -> Violation | None:
    if not record.succeeded:
        return None
    name = record.event_name
    if name in _SWITCH:
        severity, action = Severity.CRITICAL, _SWITCH[name]
    elif name in _SETTINGS:
        severity, action = Severity.HIGH, _SETTINGS[name]
    else:
        return None
    details = {key: str(record.request(key)) for key in _NAMING_KEYS if record.request(key)}
    subject = details.get("instanceArn") or details.get("identityStoreId")
    details.update(identity_center.caller_details(record))
    text = (
        f"{identity_center.caller(record)} {action} IAM Identity Center{' ' + subject if subject else ''} "
        f"in account {record.account_id} ({name} via {record.event_source})."
    )
    return Violation(
        description=text,
        resource_id=subject or f"IdentityCenter/{record.account_id}",
        severity=severity,
        details=details,
    )
