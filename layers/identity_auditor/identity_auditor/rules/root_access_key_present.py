"""The root user of an account has an active access key.

Decisions (spec/rules.md §B):
- Subject: the account snapshot (``AWS::::Account``, periodic). Resource ``AWS::::Account:<id>``.
- COMPLIANT when root credentials are centrally managed by AWS Organizations (no root password, no root
  keys): compliant, not "not applicable" (spec).
- With the credential report's root row: NON_COMPLIANT (CRITICAL) when one of root's keys is active. The
  report can be up to 4 hours old, so a live ``AccountAccessKeysPresent == 0`` (no key at all, active or
  not) wins over a row that still lists an active key. An inactive root key is compliant here but named
  in the annotation (delete it).
- Without the root row (moto, or a report without it): ``AccountAccessKeysPresent == 1`` is NON_COMPLIANT
  (the summary cannot tell active from inactive keys), ``0`` COMPLIANT; neither source: NOT_APPLICABLE
  with an annotation saying it could not be determined (never a false "compliant").
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


if TYPE_CHECKING:  # annotations only: the snapshots are built by the collectors, on the Config path
    from identity_auditor.model.snapshots import AccountSnapshot

SUMMARY_KEY = "AccountAccessKeysPresent"

META = RuleMeta(
    id="root_access_key_present",
    title="Root user has an active access key",
    severity=Severity.CRITICAL,
    trigger=None,
    state=StateTrigger("AWS::::Account", periodic=True),
    resource_type="AwsAccount",
    finding_types=(
        "Software and Configuration Checks/Industry and Regulatory Standards/CIS AWS Foundations Benchmark",
        "Software and Configuration Checks/AWS Security Best Practices",
    ),
    why=(
        "A root access key has full access to the account (IAM policies do not apply to root; only SCPs "
        "limit it, and not in the management account), works from anywhere and never asks for MFA."
    ),
    remediation=(
        "Sign in as root, make sure nothing uses the key (aws iam get-access-key-last-used), then deactivate "
        "and delete it under Security credentials. Use roles for automation. In AWS Organizations, enable "
        "centralized root access and delete member accounts' root credentials."
    ),
    remediation_url="https://docs.aws.amazon.com/IAM/latest/UserGuide/id_root-user_manage_delete-key.html",
    compliance=("CIS5 1.3", "CIS3 1.4", "FSBP IAM.4"),
)


def evaluate_state(account: AccountSnapshot, ctx: Context) -> StateResult:
    if account.root_credentials_centrally_managed:
        return _compliant("Root credentials are centrally managed by AWS Organizations: no root password and "
                          "no root access key.")
    present = account.summary.get(SUMMARY_KEY)
    if account.root is not None:
        active = [slot for slot, key in enumerate(account.root.access_keys, 1) if key.active]
        if active and present == 0:
            return _compliant(f"The credential report lists an active root access key, but "
                              f"GetAccountSummary (live) shows none ({SUMMARY_KEY} = 0): deleted since the "
                              f"report was generated.")
        if not active:
            inactive = " An inactive root key exists: delete it." if present else ""
            return _compliant(f"The root user has no active access key.{inactive}")
        source = "credential report: active root key " + " and ".join(map(str, active))
        return _violation(account, f"the root user has {len(active)} active access key(s)", source)
    if present is None:
        return StateResult(Compliance.NOT_APPLICABLE,
                           f"Could not be determined: no credential report root row and no {SUMMARY_KEY} in "
                           f"the account summary.")
    if present:
        source = f"GetAccountSummary {SUMMARY_KEY} = {present}"
        return _violation(account, "the root user has an access key", source)
    return _compliant(f"The root user has no access key ({SUMMARY_KEY} = 0).")


def _compliant(annotation: str) -> StateResult:
    return StateResult(Compliance.COMPLIANT, annotation)


def _violation(account: AccountSnapshot, what: str, source: str) -> StateResult:
    return StateResult(
        Compliance.NON_COMPLIANT,
        f"Non-compliant: {what} ({source}).",
        Violation(
            description=f"In account {account.account_id}, {what}: IAM policies do not limit root "
                        f"credentials.",
            resource_id=f"AWS::::Account:{account.account_id}",
            details={"Source": source},
            subject=account.account_id,
        ),
    )
