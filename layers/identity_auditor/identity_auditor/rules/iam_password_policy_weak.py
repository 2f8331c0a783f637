"""The account's IAM password policy is missing or weaker than CIS requires.

Decisions (spec/rules.md §B):
- Subject: the account snapshot (``AWS::::Account``, periodic). Resource ``AWS::::Account:<id>``.
- NON_COMPLIANT (MEDIUM) when there is no password policy (IAM then accepts 8-character passwords and
  any reuse), when ``MinimumPasswordLength`` < 14, or when ``PasswordReusePrevention`` < 24 (absent counts
  as < 24). The annotation and the description name each weakness.
- These are the CIS thresholds (14 and 24), not organisation knobs. Other settings (character classes,
  expiry) are not judged: current guidance favours length and MFA over them. The thresholds and the words
  for each weakness live in ``rules/_lib/password_policy.py``, shared with the event rule
  ``iam_password_policy_weakened``.
- Judged in every account, also one without IAM users: a user created later gets the weak policy.
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
from identity_auditor.rules._lib.password_policy import MIN_LENGTH, MIN_REUSE_PREVENTION, NO_POLICY, weaknesses


if TYPE_CHECKING:  # annotations only: the snapshots are built by the collectors, on the Config path
    from identity_auditor.model.snapshots import AccountSnapshot

META = RuleMeta(
    id="iam_password_policy_weak",
    title="IAM password policy is weak",
    severity=Severity.MEDIUM,
    trigger=None,
    state=StateTrigger("AWS::::Account", periodic=True),
    resource_type="AwsAccount",
    finding_types=(
        "Software and Configuration Checks/Industry and Regulatory Standards/CIS AWS Foundations Benchmark",
        "Software and Configuration Checks/AWS Security Best Practices",
    ),
    why=(
        "Short or recycled passwords are the first thing attackers guess and spray. The password policy is "
        "what stops IAM users from choosing them."
    ),
    remediation=(
        "Set the account password policy to a minimum length of at least 14 and to prevent reuse of the last "
        "24 passwords: aws iam update-account-password-policy --minimum-password-length 14 "
        "--password-reuse-prevention 24 (keep the other settings you need). Better, replace IAM user "
        "passwords with IAM Identity Center."
    ),
    remediation_url=(
        "https://docs.aws.amazon.com/IAM/latest/UserGuide/id_credentials_passwords_account-policy.html"
    ),
    compliance=("CIS5 1.7", "CIS5 1.8", "CIS3 1.8", "CIS3 1.9", "FSBP IAM.7"),
)


def evaluate_state(account: AccountSnapshot, ctx: Context) -> StateResult:
    policy = account.password_policy
    if policy is None:
        weak = [NO_POLICY]
        details = {"PasswordPolicy": "none"}
    else:
        reuse = policy.password_reuse_prevention
        weak = weaknesses(policy.minimum_length, reuse)
        details = {"MinimumPasswordLength": str(policy.minimum_length),
                   "PasswordReusePrevention": "not set" if reuse is None else str(reuse)}
        if not weak:
            return StateResult(Compliance.COMPLIANT,
                               f"Password policy: minimum length {policy.minimum_length} (>= {MIN_LENGTH}), "
                               f"reuse prevention {reuse} (>= {MIN_REUSE_PREVENTION}).")
    text = "; ".join(weak)
    return StateResult(
        Compliance.NON_COMPLIANT,
        f"Weak password policy: {text}.",
        Violation(
            description=f"The IAM password policy of account {account.account_id} is weak: {text}.",
            resource_id=f"AWS::::Account:{account.account_id}",
            details=details,
            subject=account.account_id,
        ),
    )
