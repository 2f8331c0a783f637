"""The root user of an account has no MFA device.

Decisions (spec/rules.md §B):
- Subject: the account snapshot (``AWS::::Account``, periodic). Resource ``AWS::::Account:<id>``.
- COMPLIANT when root credentials are centrally managed by AWS Organizations (no root password, no root
  keys: nobody can sign in as root, so there is nothing for MFA to protect): compliant, not "not
  applicable" (spec).
- Otherwise NON_COMPLIANT (CRITICAL) when root has no MFA. ``GetAccountSummary`` ``AccountMFAEnabled`` is
  read live and wins; the credential report's root row (``mfa_active``, up to 4 hours old) is used only
  when the summary lacks the key. Neither source: NOT_APPLICABLE, with an annotation saying so.
- A virtual (non-hardware) device is a separate LOW finding: ``root_hardware_mfa_not_enabled``.
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
from identity_auditor.rules._lib.root import CENTRALLY_MANAGED, root_mfa


if TYPE_CHECKING:  # annotations only: the snapshots are built by the collectors, on the Config path
    from identity_auditor.model.snapshots import AccountSnapshot

META = RuleMeta(
    id="root_mfa_not_enabled",
    title="Root user has no MFA",
    severity=Severity.CRITICAL,
    trigger=None,
    state=StateTrigger("AWS::::Account", periodic=True),
    resource_type="AwsAccount",
    finding_types=(
        "Software and Configuration Checks/Industry and Regulatory Standards/CIS AWS Foundations Benchmark",
        "Software and Configuration Checks/AWS Security Best Practices",
    ),
    why=(
        "Root can do anything in the account, including closing it, and IAM policies do not limit it. "
        "Without MFA its password (or the mailbox that can reset it) is all an attacker needs."
    ),
    remediation=(
        "Sign in as root and assign an MFA device under Security credentials (a passkey or FIDO security key "
        "is best; register a second device as backup). In AWS Organizations, prefer centralized root access "
        "and delete member accounts' root credentials."
    ),
    remediation_url="https://docs.aws.amazon.com/IAM/latest/UserGuide/enable-mfa-for-root.html",
    compliance=("CIS5 1.4", "CIS3 1.5", "FSBP IAM.9"),
)


def evaluate_state(account: AccountSnapshot, ctx: Context) -> StateResult:
    if account.root_credentials_centrally_managed:
        return StateResult(Compliance.COMPLIANT, CENTRALLY_MANAGED)
    enabled, source = root_mfa(account)
    if enabled is None:
        return StateResult(Compliance.NOT_APPLICABLE, f"Could not be determined: {source}.")
    if enabled:
        return StateResult(Compliance.COMPLIANT, f"The root user has an MFA device ({source}).")
    return StateResult(
        Compliance.NON_COMPLIANT,
        f"The root user has no MFA device ({source}).",
        Violation(
            description=f"The root user of account {account.account_id} has no MFA device: its password "
                        f"alone signs in with full control of the account.",
            resource_id=f"AWS::::Account:{account.account_id}",
            details={"Source": source},
            subject=account.account_id,
        ),
    )
