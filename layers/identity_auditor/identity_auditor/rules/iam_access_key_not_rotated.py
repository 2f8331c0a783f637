"""An IAM user has an active access key older than the organisation's maximum key age.

Decisions (spec/rules.md §B):
- Subject: one credential report row (``AWS::IAM::User``, periodic). A key's age is ``ctx.now`` minus
  ``access_key_<n>_last_rotated`` (the creation of the current key). NON_COMPLIANT (MEDIUM) when an
  *active* key is older than ``access_key_max_age_days`` (organisation policy, default 90; the Config rule
  parameter of the same name overrides it): a key exactly 90 days old is still compliant ("rotated every
  90 days or less", CIS). Inactive keys cannot sign requests and are not judged.
- An active key without a ``last_rotated`` date (the report always has one; a collector gap) cannot be
  aged: it is named in the annotation, never guessed into a finding.
- The root row is NOT_APPLICABLE: root should have no key at all (``root_access_key_present``).
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
    id="iam_access_key_not_rotated",
    title="IAM access key not rotated",
    severity=Severity.MEDIUM,
    trigger=None,
    state=StateTrigger("AWS::IAM::User", periodic=True),
    parameters=("access_key_max_age_days",),
    resource_type="AwsIamUser",
    finding_types=(
        "Software and Configuration Checks/Industry and Regulatory Standards/CIS AWS Foundations Benchmark",
        "Software and Configuration Checks/AWS Security Best Practices",
    ),
    why=(
        "The older an access key, the more places it has been copied to (laptops, CI variables, logs) and "
        "the longer a leaked copy keeps working."
    ),
    remediation=(
        "Rotate the key: create a second key, move every client to it, deactivate the old key, watch for "
        "errors, then delete it (aws iam create-access-key, update-access-key --status Inactive, "
        "delete-access-key). Better, replace the key with a role or IAM Identity Center credentials."
    ),
    remediation_url="https://docs.aws.amazon.com/IAM/latest/UserGuide/id_credentials_access-keys.html",
    compliance=("CIS5 1.13", "CIS3 1.14", "FSBP IAM.3"),
)


def evaluate_state(row: CredentialReportRow, ctx: Context) -> StateResult:
    if row.is_root:
        return StateResult(Compliance.NOT_APPLICABLE,
                           "The root user is judged by root_access_key_present, not by this IAM user rule.")
    user = clip(row.user, 64)
    limit = ctx.policy.access_key_max_age_days
    active = [(slot, key) for slot, key in enumerate(row.access_keys, 1) if key.active]
    if not active:
        return StateResult(Compliance.COMPLIANT, f"IAM user {user} has no active access key.")
    ages = {slot: _days(ctx.now, key.last_rotated) for slot, key in active if key.last_rotated}
    unknown = [slot for slot, key in active if not key.last_rotated]
    old = {slot: age for slot, age in ages.items() if age > timedelta(days=limit)}
    if not old:
        known = ", ".join(f"key {slot} {age.days} days" for slot, age in ages.items())
        gap = f"; age of key {', '.join(map(str, unknown))} unknown (no last_rotated)" if unknown else ""
        return StateResult(Compliance.COMPLIANT,
                           clip(f"Active access keys of IAM user {user} are at most {limit} days old "
                                f"({known or 'none dated'}){gap}.", 256))
    keys = ", ".join(f"key {slot} is {age.days} days old" for slot, age in old.items())
    account = row.account_id
    return StateResult(
        Compliance.NON_COMPLIANT,
        clip(f"IAM user {user}: active access {keys} (limit {limit} days).", 256),
        Violation(
            description=f"IAM user {row.user} in account {account} has an active access key older than "
                        f"{limit} days: {keys}.",
            resource_id=row.arn,
            details={
                "UserName": row.user,
                "MaxAgeDays": str(limit),
                **{f"AccessKey{slot}AgeDays": str(age.days) for slot, age in old.items()},
                **{f"AccessKey{slot}LastRotated": _date(row.access_keys[slot - 1].last_rotated)
                   for slot in old},
            },
            subject=row.user,
        ),
    )


def _days(now: datetime, moment: datetime) -> timedelta:
    return as_utc(now) - as_utc(moment)



def _date(moment: datetime | None) -> str:
    return moment.date().isoformat() if moment else "unknown"
