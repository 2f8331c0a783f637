"""The account's IAM password policy was deleted or replaced by one weaker than CIS requires (the event
counterpart of the state rule ``iam_password_policy_weak``).

Decisions (spec/rules.md §A third wave; no public CloudTrail sample of these calls was found, so the request
shape comes from the IAM API reference as CloudTrail renders IAM parameters (lowerCamelCase:
``minimumPasswordLength``, ``requireSymbols``, ``requireNumbers``, ``requireUppercaseCharacters``,
``requireLowercaseCharacters``, ``allowUsersToChangePassword``, ``maxPasswordAge``,
``passwordReusePrevention``, ``hardExpiry``; ``DeleteAccountPasswordPolicy`` takes none); keys are looked up
case-insensitively):
- Success only (no ``errorCode``); Identity Center's own calls are never findings. MEDIUM, like the state rule.
- ``DeleteAccountPasswordPolicy`` is always a finding (IAM then accepts 8-character passwords and any reuse).
- ``UpdateAccountPasswordPolicy`` does not support partial updates: a parameter left out reverts to its
  default (IAM API reference: ``MinimumPasswordLength`` 6, ``PasswordReusePrevention`` 0, i.e. reuse
  allowed). The new policy is judged with the state rule's thresholds and words
  (``rules/_lib/password_policy.py``: minimum length >= 14, reuse prevention >= 24); the finding names each
  weakness. A request that meets both is quiet, whatever it does to character classes or expiry (the state
  rule does not judge those either). ``requestParameters`` ``null`` means every default: a finding.
- A value that is not a whole number (a corrupted or hand-made record; IAM refuses such a request) counts as
  not given, so the default applies and the finding shows the value as recorded.
- The policy that was replaced is not in the record, so "weakened" means "now below the thresholds": an
  update that keeps an already weak policy weak is reported too (the state rule reports it daily anyway).
- Changes through CloudFormation are changes; callers the policy allow-lists for this rule are skipped.
"""

from __future__ import annotations

from identity_auditor.model.cloudtrail import CloudTrailRecord
from identity_auditor.model.contract import Context, RuleMeta, Severity, Trigger, Violation
from identity_auditor.rules._lib.password_policy import MIN_LENGTH, MIN_REUSE_PREVENTION, NO_POLICY, weaknesses

DEFAULT_MINIMUM_LENGTH = 6  # UpdateAccountPasswordPolicy without MinimumPasswordLength (IAM API reference)
_OTHER_SETTINGS = ("requireSymbols", "requireNumbers", "requireUppercaseCharacters", "requireLowercaseCharacters",
                   "allowUsersToChangePassword", "maxPasswordAge", "hardExpiry")

META = RuleMeta(
    id="iam_password_policy_weakened",
    title="IAM password policy weakened",
    severity=Severity.MEDIUM,
    trigger=Trigger("iam.amazonaws.com", ("DeleteAccountPasswordPolicy", "UpdateAccountPasswordPolicy")),
    resource_type="AwsAccount",
    finding_types=(
        "TTPs/Defense Evasion",
        "Software and Configuration Checks/Industry and Regulatory Standards/CIS AWS Foundations Benchmark",
    ),
    why=(
        "The password policy is what stops IAM users from choosing short or recycled passwords. Deleting or "
        "weakening it opens the account to password guessing and spraying."
    ),
    remediation=(
        f"Confirm the change with whoever made it. Restore a policy that meets CIS: aws iam "
        f"update-account-password-policy --minimum-password-length {MIN_LENGTH} --password-reuse-prevention "
        f"{MIN_REUSE_PREVENTION} (plus the other settings you need; omitted settings revert to defaults). "
        "Better, replace IAM user passwords with IAM Identity Center."
    ),
    remediation_url="https://docs.aws.amazon.com/IAM/latest/UserGuide/id_credentials_passwords_account-policy.html",
    compliance=("CIS5 1.7", "CIS5 1.8", "CIS3 1.8", "CIS3 1.9", "FSBP IAM.7"),
)


def _whole_number(value) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def evaluate(record: CloudTrailRecord, ctx: Context) -> Violation | None:
    if not record.succeeded or record.by_identity_center:
        return None
    account = record.account_id
    caller = record.user_identity.display_name
    resource = f"AWS::::Account:{account}"
    if record.event_name == "DeleteAccountPasswordPolicy":
        return Violation(
            description=(f"{caller} deleted the IAM password policy of account {account}: {NO_POLICY}."),
            resource_id=resource,
            details={"EventName": record.event_name, "PasswordPolicy": "none"},
        )

    raw_length = record.request("minimumPasswordLength")
    length = _whole_number(raw_length)
    raw_reuse = record.request("passwordReusePrevention")
    reuse = _whole_number(raw_reuse) or None  # absent or 0: reuse allowed
    weak = weaknesses(DEFAULT_MINIMUM_LENGTH if length is None else length, reuse)
    if not weak:
        return None
    details = {"EventName": record.event_name,
               "MinimumPasswordLength": _shown(length, raw_length, str(DEFAULT_MINIMUM_LENGTH)),
               "PasswordReusePrevention": "0, reuse allowed" if _whole_number(raw_reuse) == 0
               else _shown(reuse, raw_reuse, "not set, reuse allowed")}
    for key in _OTHER_SETTINGS:
        value = record.request(key)
        if value is not None:
            details[key[0].upper() + key[1:]] = str(value).lower() if isinstance(value, bool) else str(value)
    text = "; ".join(weak)
    return Violation(
        description=f"{caller} set a weak IAM password policy in account {account}: {text}.",
        resource_id=resource,
        details=details,
    )


def _shown(value: int | None, recorded, default: str) -> str:
    """A setting of the new policy as the finding shows it: the number, or the default and why it applies."""
    if value is not None:
        return str(value)
    if recorded is None:
        return f"{default} (not in the request: IAM default)"
    return f"{default} (recorded value {str(recorded)[:40]!r} is not a whole number: IAM default)"
