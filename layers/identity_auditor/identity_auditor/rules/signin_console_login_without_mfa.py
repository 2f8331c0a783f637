"""A person signed in to the AWS console as an IAM user or root without multi-factor authentication.

Decisions (spec/rules.md §A, checked against the real records in events/ and the corpus):
- Only successful logins: failed ones carry ``responseElements.ConsoleLogin == "Failure"`` and an
  ``errorMessage`` but no ``errorCode``, and can even say ``MFAUsed: "Yes"``.
- Federated logins are not findings: Identity Center sessions are ``AssumedRole`` on
  ``AWSReservedSSO_*`` roles and SAML logins carry ``additionalEventData.SamlProviderArn``; both say
  ``MFAUsed: "No"`` because MFA happens at the identity provider.
- ``MFAUsed`` is compared case-insensitively: AWS's own root sample records ``"YES"``.
- A session already marked ``mfaAuthenticated == "true"`` used MFA.
"""

from __future__ import annotations

from identity_auditor.model.cloudtrail import CONSOLE_SIGN_IN, CloudTrailRecord
from identity_auditor.model.contract import Context, RuleMeta, Severity, Trigger, Violation

META = RuleMeta(
    id="signin_console_login_without_mfa",
    title="Console login without MFA",
    severity=Severity.HIGH,
    trigger=Trigger("signin.amazonaws.com", ("ConsoleLogin",), CONSOLE_SIGN_IN),
    resource_type="AwsIamUser",
    finding_types=(
        "Software and Configuration Checks/Industry and Regulatory Standards/CIS AWS Foundations Benchmark",
        "TTPs/Initial Access",
    ),
    why=(
        "A password alone protects this console session. Stolen or guessed passwords are the most common "
        "way into AWS accounts, and console access usually carries broad permissions."
    ),
    remediation=(
        "Confirm with the person that the login was theirs. Enable MFA for the user (or root) and enforce it "
        "with an IAM policy that denies actions when aws:MultiFactorAuthPresent is false; better, move "
        "people to IAM Identity Center and remove the console password."
    ),
    severity_note="CRITICAL for root",
    remediation_url="https://docs.aws.amazon.com/IAM/latest/UserGuide/id_credentials_mfa_enable.html",
    compliance=("CIS5 4.2", "CIS3 4.2"),
)


def evaluate(record: CloudTrailRecord, ctx: Context) -> Violation | None:
    if (record.response_elements or {}).get("ConsoleLogin") != "Success" or not record.succeeded:
        return None
    identity = record.user_identity
    if identity.type not in ("IAMUser", "Root"):
        return None
    if str(record.extra("MFAUsed") or "").strip().lower() == "yes":
        return None
    if record.extra("SamlProviderArn") or identity.mfa_authenticated:
        return None

    account = record.account_id
    if identity.type == "Root":
        return Violation(
            description=f"The root user of account {account} signed in to the console without MFA.",
            resource_id=f"AWS::::Account:{account}",
            resource_type="AwsAccount",
            severity=Severity.CRITICAL,
            details={"LoginTo": str(record.extra("LoginTo") or "")},
        )
    name = identity.user_name or identity.display_name
    return Violation(
        description=f"IAM user {name} signed in to the console of account {account} without MFA.",
        resource_id=identity.arn or f"arn:{record.partition}:iam::{account}:user/{name}",
        details={"LoginTo": str(record.extra("LoginTo") or "")},
    )
