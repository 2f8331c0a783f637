"""The root user's MFA is a virtual device rather than a hardware device or security key.

Decisions (spec/rules.md §B; CIS "hardware MFA for root"):
- Subject: the account snapshot (``AWS::::Account``, periodic). Resource ``AWS::::Account:<id>``.
- COMPLIANT when root credentials are centrally managed by AWS Organizations (spec), and when root's MFA
  is not virtual (``root_mfa_virtual`` False: a hardware TOTP token or a FIDO security key / passkey).
- NON_COMPLIANT (LOW) when root has MFA and it is virtual (``root_mfa_virtual`` True).
- Root without any MFA is NOT_APPLICABLE here: that is ``root_mfa_not_enabled``'s CRITICAL finding, and
  one missing control should not page twice. The annotation points there.
- Unknown device type (``root_mfa_virtual`` None although MFA is on, i.e. the collector could not list
  virtual MFA devices) is NOT_APPLICABLE with an annotation saying it could not be determined. Not
  COMPLIANT: that would claim a check that was not made and resolve (PASSED) an open finding on a
  transient collector failure; not NON_COMPLIANT: that would raise a finding on missing data.
- Whether root has MFA at all is read as in ``root_mfa_not_enabled`` (live summary first).
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
    id="root_hardware_mfa_not_enabled",
    title="Root user MFA is not a hardware device",
    severity=Severity.LOW,
    trigger=None,
    state=StateTrigger("AWS::::Account", periodic=True),
    resource_type="AwsAccount",
    finding_types=(
        "Software and Configuration Checks/Industry and Regulatory Standards/CIS AWS Foundations Benchmark",
        "Software and Configuration Checks/AWS Security Best Practices",
    ),
    why=(
        "A virtual MFA app lives on a phone that is also used for everything else and its codes can be "
        "phished; a hardware token or FIDO security key kept in a safe protects root better."
    ),
    remediation=(
        "Sign in as root and, under Security credentials, assign a FIDO security key or hardware TOTP token "
        "(register two and store them apart), then remove the virtual device. In AWS Organizations, prefer "
        "centralized root access and delete member accounts' root credentials."
    ),
    remediation_url="https://docs.aws.amazon.com/IAM/latest/UserGuide/enable-mfa-for-root.html",
    compliance=("CIS5 1.5", "CIS3 1.6", "FSBP IAM.6"),
)


def evaluate_state(account: AccountSnapshot, ctx: Context) -> StateResult:
    if account.root_credentials_centrally_managed:
        return StateResult(Compliance.COMPLIANT, CENTRALLY_MANAGED)
    enabled, source = root_mfa(account)
    if enabled is None:
        return StateResult(Compliance.NOT_APPLICABLE,
                           f"Could not be determined whether root has MFA: {source}.")
    if not enabled:
        return StateResult(Compliance.NOT_APPLICABLE, f"The root user has no MFA at all ({source}): reported "
                                                      "by root_mfa_not_enabled, not judged here.")
    if account.root_mfa_virtual is None:
        return StateResult(Compliance.NOT_APPLICABLE,
                           "The root user has MFA, but whether it is a virtual or a hardware device "
                           "could not be determined.")
    if not account.root_mfa_virtual:
        return StateResult(Compliance.COMPLIANT, "The root user's MFA is a hardware device or security key.")
    return StateResult(
        Compliance.NON_COMPLIANT,
        "The root user's MFA is a virtual device (an authenticator app), not a hardware device or a "
        "security key.",
        Violation(
            description=f"The root user of account {account.account_id} uses a virtual MFA device instead of "
                        f"a hardware token or security key.",
            resource_id=f"AWS::::Account:{account.account_id}",
            details={"MfaDevice": "virtual"},
            subject=account.account_id,
        ),
    )
