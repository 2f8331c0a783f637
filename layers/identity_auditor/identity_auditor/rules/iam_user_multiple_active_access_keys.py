"""An IAM user has two active access keys.

Decisions (spec/rules.md §B):
- Subject: one credential report row (``AWS::IAM::User``, periodic). NON_COMPLIANT (LOW) when both of the
  user's access keys are active; inactive keys do not count (they cannot sign requests).
- Two active keys are normal for the few minutes of a rotation; a periodic rule that still sees them
  means the old key was never retired, which doubles what can leak.
- The root row is NOT_APPLICABLE (``root_access_key_present`` judges root keys).
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
    id="iam_user_multiple_active_access_keys",
    title="IAM user has more than one active access key",
    severity=Severity.LOW,
    trigger=None,
    state=StateTrigger("AWS::IAM::User", periodic=True),
    resource_type="AwsIamUser",
    finding_types=(
        "Software and Configuration Checks/Industry and Regulatory Standards/CIS AWS Foundations Benchmark",
        "Software and Configuration Checks/AWS Security Best Practices",
    ),
    why=(
        "Each active key is a long-lived credential that works from anywhere. Two active keys usually mean a "
        "rotation that never retired the old key, doubling what can leak."
    ),
    remediation=(
        "Find which key is still in use (aws iam get-access-key-last-used), move every client to it, then "
        "deactivate and delete the other (aws iam update-access-key --status Inactive, delete-access-key). "
        "Prefer roles and IAM Identity Center over access keys."
    ),
    remediation_url="https://docs.aws.amazon.com/IAM/latest/UserGuide/id_credentials_access-keys.html",
    compliance=("CIS5 1.12", "CIS3 1.13"),
)


def evaluate_state(row: CredentialReportRow, ctx: Context) -> StateResult:
    if row.is_root:
        return StateResult(Compliance.NOT_APPLICABLE,
                           "The root user is judged by root_access_key_present, not by this IAM user rule.")
    user = clip(row.user, 64)
    active = len(row.active_keys)
    if active < 2:
        count = "no active access key" if active == 0 else "one active access key"
        return StateResult(Compliance.COMPLIANT, f"IAM user {user} has {count}.")
    last_used = [key.last_used.date().isoformat() if key.last_used else "never" for key in row.access_keys]
    account = row.account_id
    return StateResult(
        Compliance.NON_COMPLIANT,
        f"IAM user {user} has two active access keys (last used: key 1 {last_used[0]}, "
        f"key 2 {last_used[1]}).",
        Violation(
            description=f"IAM user {row.user} in account {account} has two active access keys.",
            resource_id=row.arn,
            details={"UserName": row.user, "ActiveAccessKeys": str(active),
                     "AccessKey1LastUsed": last_used[0], "AccessKey2LastUsed": last_used[1]},
            subject=row.user,
        ),
    )
