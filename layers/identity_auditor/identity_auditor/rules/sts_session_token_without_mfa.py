"""An IAM user got temporary credentials with sts:GetSessionToken without presenting an MFA code.

Decisions (spec/rules.md §A third wave; request fields as the STS API names them and CloudTrail renders
them, ``durationSeconds``, ``serialNumber``, ``tokenCode``; response ``credentials.accessKeyId``, like the
real ``AssumeRole`` records of the invictus archive; keys looked up case-insensitively):
- Success only, caller type ``IAMUser`` only. The STS API reference: GetSessionToken "must be called by
  using the long-term AWS security credentials of the AWS account root user or an IAM user"; a role or
  federated session is refused, so no successful record of one exists. Root calling it is root use, for
  ``root_account_used``; Identity Center's own calls are never findings.
- A finding when the request has no ``serialNumber`` (absent, ``null`` or empty): the session carries no
  MFA, so policies with ``aws:MultiFactorAuthPresent`` do not let it through, and a stolen key alone was
  enough to mint it. LOW: tools and SDK profiles without MFA call it routinely.
- The MFA-enforcing call (``serialNumber`` plus ``tokenCode``) is not a finding. Only ``serialNumber`` is
  read: whether CloudTrail logs ``tokenCode`` (or masks it) could not be confirmed from AWS documentation,
  and a wrong code makes the call fail, so a successful record with a serial number had a valid code.
- ``readOnly`` of GetSessionToken records could not be confirmed (the sibling ``AssumeRole`` is recorded
  ``readOnly: true``), so the trigger asks EventBridge for read-only management events too. STS answers
  on regional endpoints, so the route exists in every region.
- The finding names the new temporary key (``IssuedAccessKeyId``): calls made with it carry it as
  ``userIdentity.accessKeyId``.
"""

from __future__ import annotations

from identity_auditor.model.cloudtrail import CloudTrailRecord
from identity_auditor.model.contract import Context, RuleMeta, Severity, Trigger, Violation

META = RuleMeta(
    id="sts_session_token_without_mfa",
    title="STS session token issued without MFA",
    severity=Severity.LOW,
    trigger=Trigger("sts.amazonaws.com", ("GetSessionToken",), all_management_events=True),
    resource_type="AwsIamUser",
    finding_types=("Software and Configuration Checks/AWS Security Best Practices", "TTPs/Persistence"),
    why=(
        "GetSessionToken without an MFA code turns an access key alone into temporary credentials valid for "
        "up to 36 hours. Tools that enforce MFA pass the device serial number and a code; a stolen key does not."
    ),
    remediation=(
        "Confirm the user's tooling: profiles that need a session token should pass --serial-number and "
        "--token-code (aws sts get-session-token). Require MFA for sensitive actions with an "
        "aws:MultiFactorAuthPresent condition. If the call is not expected, deactivate the user's access key "
        "(aws iam update-access-key --status Inactive) and review what the new key did."
    ),
    remediation_url="https://docs.aws.amazon.com/IAM/latest/UserGuide/id_credentials_mfa_configure-api-require.html",
)


def evaluate(record: CloudTrailRecord, ctx: Context) -> Violation | None:
    identity = record.user_identity
    if not record.succeeded or identity.type != "IAMUser" or record.by_identity_center:
        return None
    if record.request("serialNumber") not in (None, ""):
        return None
    account = record.account_id
    credentials = record.response("credentials")
    issued_key = credentials.get("accessKeyId") if isinstance(credentials, dict) else None
    duration = record.request("durationSeconds")
    details = {
        "IssuedAccessKeyId": str(issued_key or ""),
        "DurationSeconds": str(duration or ""),
        "MFASerialNumber": "none in the request",
    }
    return Violation(
        description=(
            f"{identity.display_name} got temporary credentials (GetSessionToken) without MFA in account {account}: "
            "the access key alone was enough."
        ),
        resource_id=identity.arn or f"arn:{record.partition}:iam::{account}:user/{identity.user_name or 'unknown'}",
        details={key: value for key, value in details.items() if value},
    )
