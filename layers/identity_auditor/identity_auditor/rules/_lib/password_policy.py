"""What makes an IAM account password policy weak: the CIS thresholds, shared by the state rule
``iam_password_policy_weak`` (the policy as it is) and the event rule ``iam_password_policy_weakened`` (the
policy a call sets or deletes), so that both judge a policy the same way and name its weaknesses alike.

Only the length and reuse prevention are judged (CIS5 1.7 / 1.8): current guidance favours length and MFA
over character classes and expiry.
"""

from __future__ import annotations

MIN_LENGTH = 14
MIN_REUSE_PREVENTION = 24
NO_POLICY = "no password policy (IAM default: 8 characters, reuse allowed)"


def weaknesses(minimum_length: int, reuse_prevention: int | None) -> list[str]:
    """Each way a policy with this minimum length and reuse prevention (``None``: not set, i.e. reuse
    allowed) falls below the thresholds, in words; empty when it meets them."""
    weak = []
    if minimum_length < MIN_LENGTH:
        weak.append(f"minimum length {minimum_length} (< {MIN_LENGTH})")
    if reuse_prevention is None:
        weak.append(f"no reuse prevention (< {MIN_REUSE_PREVENTION})")
    elif reuse_prevention < MIN_REUSE_PREVENTION:
        weak.append(f"reuse prevention {reuse_prevention} (< {MIN_REUSE_PREVENTION})")
    return weak
