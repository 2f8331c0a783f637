"""An IAM user has a console password or an active access key that has not been used for too long.

Decisions (spec/rules.md §B):
- Subject: one credential report row (``AWS::IAM::User``, periodic). Credentials judged: the console
  password when ``password_enabled``, and each *active* access key (inactive keys cannot sign requests).
- A credential is idle since the later of its last use and its creation, so that a password reset or a
  new key restarts the clock and never-used credentials count from their creation:
  password: ``password_last_used`` / ``password_last_changed`` (when the current password was set),
  else ``user_creation_time``; key: ``access_key_<n>_last_used_date`` / ``access_key_<n>_last_rotated``.
  The report's ``N/A`` and ``no_information`` (last use before IAM tracked it, 2014) both arrive as
  ``None``: such a credential counts from its creation, which is older still.
- NON_COMPLIANT (MEDIUM) when a credential has been idle for ``credentials_unused_days`` or more
  (organisation policy, default 45; the Config rule parameter of the same name overrides it): CIS says
  "unused for 45 days or more".
- Users without a password and without active keys are COMPLIANT (nothing to disable); the root row is
  NOT_APPLICABLE (root has its own rules).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from datetime import datetime, timedelta

from identity_auditor.model.contract import (
    Compliance,
    Context,
    RuleMeta,
    Severity,
    StateResult,
    StateTrigger,
    Violation,
)
from identity_auditor.model.text import as_utc, clip


if TYPE_CHECKING:  # annotations only: the snapshots are built by the collectors, on the Config path
    from identity_auditor.model.snapshots import CredentialReportRow

META = RuleMeta(
    id="iam_credentials_unused",
    title="IAM user credentials unused",
    severity=Severity.MEDIUM,
    trigger=None,
    state=StateTrigger("AWS::IAM::User", periodic=True),
    parameters=("credentials_unused_days",),
    resource_type="AwsIamUser",
    finding_types=(
        "Software and Configuration Checks/Industry and Regulatory Standards/CIS AWS Foundations Benchmark",
        "Software and Configuration Checks/AWS Security Best Practices",
    ),
    why=(
        "Credentials nobody uses still work for whoever finds them, and their misuse goes unnoticed because "
        "no owner expects any activity."
    ),
    remediation=(
        "Confirm with the owner that the credential is not needed, then remove it: delete the console "
        "password (aws iam delete-login-profile) and deactivate, then delete, unused access keys "
        "(aws iam update-access-key --status Inactive, delete-access-key). Delete users who need neither."
    ),
    remediation_url="https://docs.aws.amazon.com/IAM/latest/UserGuide/id_credentials_finding-unused.html",
    compliance=("CIS5 1.11", "CIS3 1.12", "FSBP IAM.22"),
)


def evaluate_state(row: CredentialReportRow, ctx: Context) -> StateResult:
    if row.is_root:
        return StateResult(Compliance.NOT_APPLICABLE,
                           "The root user is judged by the root_* account rules, not by this IAM user rule.")
    user = clip(row.user, 64)
    limit = ctx.policy.credentials_unused_days
    credentials: list[tuple[str, str, datetime | None, datetime | None]] = []  # key, name, last used, created
    if row.password_enabled:
        credentials.append(("Password", "password", row.password_last_used,
                            row.password_last_changed or row.user_creation_time))
    for slot, key in enumerate(row.access_keys, 1):
        if key.active:
            credentials.append((f"AccessKey{slot}", f"access key {slot}", key.last_used, key.last_rotated))
    if not credentials:
        return StateResult(Compliance.COMPLIANT,
                           f"IAM user {user} has no console password and no active access key.")

    idle: dict[str, str] = {}
    notes: list[str] = []
    for field, name, last_used, created in credentials:
        since = max((as_utc(moment) for moment in (last_used, created) if moment), default=None)
        if since is None:
            notes.append(f"{name}: no date to judge")
            continue
        days = (as_utc(ctx.now) - since).days
        used_later = last_used is not None and (created is None or as_utc(last_used) >= as_utc(created))
        text = (f"{name} last used {as_utc(last_used).date()} ({days} days ago)" if used_later
                else f"{name} never used since {'set' if name == 'password' else 'created'} {since.date()} "
                     f"({days} days ago)")
        if as_utc(ctx.now) - since >= timedelta(days=limit):
            idle[field] = text
        else:
            notes.append(text)

    if not idle:
        text = f"No credential of IAM user {user} has been idle for {limit} days: {'; '.join(notes)}."
        return StateResult(Compliance.COMPLIANT, clip(text, 256))
    account = row.account_id
    summary = "; ".join(idle.values())
    return StateResult(
        Compliance.NON_COMPLIANT,
        clip(f"IAM user {user} has credentials unused for {limit}+ days: {summary}.", 256),
        Violation(
            description=clip(f"IAM user {row.user} in account {account} has credentials unused for {limit} "
                             f"days or more: {summary}.", 900),
            resource_id=row.arn,
            details={"UserName": row.user, "UnusedDaysLimit": str(limit), **idle},
            subject=row.user,
        ),
    )
