"""An IAM user can sign in to the console with a password but has no MFA device.

Decisions (spec/rules.md §B):
- Subject: one credential report row (``AWS::IAM::User``; periodic sweeps and configuration changes).
- NON_COMPLIANT (MEDIUM) when ``password_enabled`` is true and ``mfa_active`` is false; a user without a
  console password is COMPLIANT whatever its MFA state (access keys are not protected by MFA anyway).
- The root row (``<root_account>``) is NOT_APPLICABLE: root has its own rules (``root_mfa_not_enabled``).
- Break-glass users are not exempt: they need MFA more than anyone; accepted exceptions are suppressions.
- The resource is the user's ARN; the finding's subject is the user name.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from identity_auditor.model.contract import (
    Compliance,
    Context,
    RuleMeta,
    Severity,
    StateResult,
    StateTrigger,
    Violation,
)
from identity_auditor.model.text import clip


if TYPE_CHECKING:  # annotations only: the snapshots are built by the collectors, on the Config path
    from identity_auditor.model.snapshots import CredentialReportRow

META = RuleMeta(
    id="iam_user_console_access_without_mfa",
    title="IAM user has console access without MFA",
    severity=Severity.MEDIUM,
    trigger=None,
    state=StateTrigger("AWS::IAM::User", periodic=True, change_triggered=True),
    resource_type="AwsIamUser",
    finding_types=(
        "Software and Configuration Checks/Industry and Regulatory Standards/CIS AWS Foundations Benchmark",
        "Software and Configuration Checks/AWS Security Best Practices",
    ),
    why=(
        "A console password alone is one phished or reused secret away from a takeover. MFA stops most "
        "password attacks against IAM users."
    ),
    remediation=(
        "Assign an MFA device to the user (a passkey or security key is best), or remove the console "
        "password if the user does not need the console (aws iam delete-login-profile). Enforce MFA with a "
        "policy that denies actions without aws:MultiFactorAuthPresent, and prefer IAM Identity Center."
    ),
    remediation_url="https://docs.aws.amazon.com/IAM/latest/UserGuide/id_credentials_mfa_enable.html",
    compliance=("CIS5 1.9", "CIS3 1.10", "FSBP IAM.5"),
)


def evaluate_state(row: CredentialReportRow, ctx: Context) -> StateResult:
    if row.is_root:
        return StateResult(Compliance.NOT_APPLICABLE,
                           "The root user is judged by the root_* account rules, not by this IAM user rule.")
    user = clip(row.user, 64)
    if not row.password_enabled:
        return StateResult(Compliance.COMPLIANT, f"IAM user {user} has no console password.")
    if row.mfa_active:
        return StateResult(Compliance.COMPLIANT, f"IAM user {user} has a console password and an MFA device.")
    account = row.account_id
    last_used = row.password_last_used.date().isoformat() if row.password_last_used else "never"
    return StateResult(
        Compliance.NON_COMPLIANT,
        f"IAM user {user} has a console password but no MFA device (password last used: {last_used}).",
        Violation(
            description=f"IAM user {row.user} in account {account} can sign in to the console with a "
                        f"password alone: it has no MFA device.",
            resource_id=row.arn,
            details={"UserName": row.user, "PasswordLastUsed": last_used},
            subject=row.user,
        ),
    )
