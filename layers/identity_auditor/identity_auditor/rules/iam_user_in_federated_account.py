"""An IAM user has a console password or an active access key in an account whose people must federate.

Decisions (spec/rules.md §B):
- Subject: one credential report row (``AWS::IAM::User``, periodic). The account is read from the row's
  ARN (``arn:<partition>:iam::<account>:user/<path><name>``).
- NOT_APPLICABLE unless the organisation policy lists the account in ``federated_accounts``; the root
  row is NOT_APPLICABLE too (root has its own rules).
- COMPLIANT for users the policy allow-lists as break-glass (``break_glass_users``: name or
  ``<path><name>`` patterns; the path comes from the row, else from the ARN), and for users with neither
  a console password nor an active access key (they cannot sign in; inactive keys cannot sign requests).
- NON_COMPLIANT (MEDIUM) otherwise. The federated and break-glass lists come from the organisation
  policy, not from Config rule parameters (one document for every account).
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
    id="iam_user_in_federated_account",
    title="IAM user with credentials in a federated account",
    severity=Severity.MEDIUM,
    trigger=None,
    state=StateTrigger("AWS::IAM::User", periodic=True),
    resource_type="AwsIamUser",
    finding_types=(
        "Software and Configuration Checks/Industry and Regulatory Standards/CIS AWS Foundations Benchmark",
        "Software and Configuration Checks/AWS Security Best Practices",
    ),
    why=(
        "In a federated account people sign in through the identity provider, where joiners and leavers, MFA "
        "and access reviews are managed. A local IAM user with credentials bypasses all of that."
    ),
    remediation=(
        "Move the person or workload to IAM Identity Center or a role, then delete the user's console "
        "password and access keys (aws iam delete-login-profile, delete-access-key) and the user. If it is "
        "an emergency user, add it to the organisation policy's break_glass_users."
    ),
    remediation_url="https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_providers.html",
    compliance=("CIS5 1.20", "CIS3 1.21"),
)


def evaluate_state(row: CredentialReportRow, ctx: Context) -> StateResult:
    if row.is_root:
        return StateResult(Compliance.NOT_APPLICABLE,
                           "The root user is judged by the root_* account rules, not by this IAM user rule.")
    account = row.account_id
    if account not in ctx.policy.federated_accounts:
        return StateResult(Compliance.NOT_APPLICABLE, f"Account {clip(account, 32)} is not a federated "
                                                      f"account in the organisation policy.")
    user = clip(row.user, 64)
    path = _path(row)
    if ctx.policy.is_break_glass(row.user, path):
        return StateResult(Compliance.COMPLIANT,
                           f"IAM user {user} is an allow-listed break-glass user (organisation policy).")
    credentials = (["a console password"] if row.password_enabled else []) + [
        f"active access key {slot}" for slot, key in enumerate(row.access_keys, 1) if key.active
    ]
    if not credentials:
        return StateResult(Compliance.COMPLIANT,
                           f"IAM user {user} has no console password and no active access key.")
    listed = " and ".join(credentials)
    return StateResult(
        Compliance.NON_COMPLIANT,
        clip(f"IAM user {user} has {listed} in federated account {account}.", 256),
        Violation(
            description=f"IAM user {row.user} has {listed} in account {account}, where people must sign in "
                        f"through federation.",
            resource_id=row.arn,
            details={"UserName": row.user, "UserPath": path, "Credentials": ", ".join(credentials)},
            subject=row.user,
        ),
    )



def _path(row: CredentialReportRow) -> str:
    """The user's path: the row's when a collector set one, else the part of the ARN before the name."""
    if row.path and row.path != "/":
        return row.path
    resource = row.arn.split(":", 5)[-1]  # user/<path><name>
    if resource.startswith("user/") and resource.count("/") > 1:
        return "/" + resource[len("user/"):].rsplit("/", 1)[0] + "/"
    return "/"
