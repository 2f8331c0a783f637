"""An IAM Identity Center user completed a sign-in with a single factor (e.g. a password alone).

Decisions (spec/rules.md §A, checked against AWS's sign-in samples in corpus/aws-docs/identity-center-2023
and the IAM Identity Center user guide, "Understanding IAM Identity Center sign-in events"):
- Trigger: ``UserAuthentication`` only (detail-type ``AWS Service Event via CloudTrail``). It is the one
  event that completes a sign-in, and its ``CredentialType`` lists every factor verified during the
  sequence. ``CredentialChallenge`` / ``CredentialVerification`` check one factor each (the password step
  of every MFA sign-in says ``PASSWORD``), so they are not findings and not in the trigger.
- Success: ``serviceEventDetails.UserAuthentication == "Success"`` and no ``errorCode`` / ``Failure``
  value. (A failed sign-in logs no ``UserAuthentication`` at all; AWS's failed sample is a
  ``CredentialVerification`` with ``"Failure"``.)
- ``additionalEventData.CredentialType`` is a comma-separated list (``PASSWORD``, ``PASSWORD,TOTP``),
  compared case-insensitively after trimming. Documented values: PASSWORD, TOTP, WEBAUTHN, EXTERNAL_IDP,
  RESYNC_TOTP (Identity Center user guide) and SMARTCARD (the same sign-in events for WorkSpaces
  smart-card users). Second factors: TOTP and RESYNC_TOTP (authenticator app), WEBAUTHN (security key
  or built-in authenticator), SMARTCARD (certificate plus PIN).
- ``EXTERNAL_IDP``: the user authenticated at the external identity provider; MFA is its job, not a
  finding. ``DeviceEnrollmentRequired == "true"``: the user had to register an MFA device during this
  sign-in, i.e. MFA is being enforced; not a finding.
- A value outside the lists above is not taken as a second factor: the sign-in is reported and the
  unrecognised value named, so that the list is extended deliberately (fail closed). A record without
  any ``CredentialType`` says nothing about the factors used and is not judged.
- Both record shapes (AWS Security Blog, "Important changes to CloudTrail events for AWS IAM Identity
  Center", 2024-11-19, updated 2025-11-26; samples ``signin_identity_center_*_2025__constructed``): the
  identity type (``IdentityCenterUser`` since July 2025; ``Unknown`` before, and still for
  unauthenticated steps) is not used to decide. The user is named by ``userIdentity.userName`` (older
  records), else by the name typed at sign-in (``additionalEventData.UserName``, unless it is the
  placeholder ``HIDDEN_DUE_TO_SECURITY_REASONS``), else by ``onBehalfOf.userId``. The resource is the
  Identity Store user (``arn:<partition>:identitystore:::user/<userId>``) when the record carries the user
  id (from October 2024 on), since the typed name varies (``anyuser``, ``anyuser@company.com``,
  ``company.com\\anyuser`` for the same directory user); otherwise the user name.
- ``LoginTo`` is never copied into the finding: its query string carries an authorisation code and a
  CSRF token; only its scheme and host are kept.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from identity_auditor.model.cloudtrail import SERVICE_EVENT, CloudTrailRecord
from identity_auditor.model.contract import Context, RuleMeta, Severity, Trigger, Violation
from identity_auditor.rules._lib import identity_center

SECOND_FACTORS = frozenset({"TOTP", "RESYNC_TOTP", "WEBAUTHN", "SMARTCARD"})
FIRST_FACTORS = frozenset({"PASSWORD"})
EXTERNAL_IDP = "EXTERNAL_IDP"

META = RuleMeta(
    id="signin_identity_center_login_without_mfa",
    title="Identity Center sign-in without MFA",
    severity=Severity.MEDIUM,
    trigger=Trigger("signin.amazonaws.com", ("UserAuthentication",), SERVICE_EVENT),
    resource_type="Other",
    finding_types=(
        "Software and Configuration Checks/Industry and Regulatory Standards/CIS AWS Foundations Benchmark",
        "TTPs/Initial Access",
    ),
    why=(
        "An Identity Center user reached the AWS access portal, and every account and role assigned to "
        "them, with a password alone. A phished or reused password is then enough to get in."
    ),
    remediation=(
        "Confirm with the user that the sign-in was theirs. In IAM Identity Center settings, require MFA "
        "for every sign-in (or at least when the sign-in context changes), and if users have no device "
        "registered, require them to register one at sign-in instead of allowing access without MFA."
    ),
    remediation_url="https://docs.aws.amazon.com/singlesignon/latest/userguide/enable-mfa.html",
    compliance=("CIS5 1.20", "CIS3 1.21", "CIS5 4.2", "CIS3 4.2"),
)


def evaluate(record: CloudTrailRecord, ctx: Context) -> Violation | None:
    if (record.service_event_details or {}).get("UserAuthentication") != "Success" or not record.succeeded:
        return None
    raw = record.extra("CredentialType")
    factors = [part.strip().upper() for part in str(raw or "").split(",") if part.strip()]
    if not factors or EXTERNAL_IDP in factors or SECOND_FACTORS.intersection(factors):
        return None
    if str(record.extra("DeviceEnrollmentRequired") or "").strip().lower() == "true":
        return None

    name = identity_center.user_name(record)
    user_id = identity_center.user_id(record)
    label = identity_center.user_label(record) or "(not named in the record)"
    unknown = [factor for factor in factors if factor not in FIRST_FACTORS]
    used = ",".join(factors)
    text = f"Identity Center user {label} signed in to account {record.account_id} with {used} only"
    if unknown:
        text += f" (unrecognised credential type {', '.join(unknown)}; none is a known second factor)."
    else:
        text += ", without a second factor."
    details = {"CredentialType": str(raw), "AuthWorkflowID": str(record.extra("AuthWorkflowID") or "")}
    if name:
        details["UserName"] = name
    if user_id:
        details["UserId"] = user_id
    store = identity_center.identity_store_id(record)
    if store:
        details["IdentityStoreId"] = store
    portal = _origin(record.extra("LoginTo"))
    if portal:
        details["LoginTo"] = portal
    resource = identity_center.user_arn(record.partition, user_id) if user_id else name or "unknown user"
    return Violation(description=text, resource_id=resource, details=details)


def _origin(url) -> str:
    """Scheme and host of a URL (never its query string, which carries one-time codes)."""
    if not isinstance(url, str):
        return ""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""
