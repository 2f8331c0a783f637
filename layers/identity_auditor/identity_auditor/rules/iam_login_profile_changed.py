"""A console password (login profile) was created or changed for an IAM user.

Decisions (spec/rules.md §A; request shape from the IAM API reference and the real invictus
``CreateLoginProfile`` record: ``userName``, ``passwordResetRequired``, and ``password``, which
CloudTrail does not record):
- Success only (no ``errorCode``).
- HIGH "for another user": an IAM user or root sets the password of a *different* IAM user
  (``record.acts_on_other_user``), the classic way to take over or backdoor an account.
- MEDIUM otherwise: users setting their own password, role sessions acting on IAM users, and root
  without ``userName`` (root's own console password, e.g. recovered through a centralized-root
  ``AssumeRoot`` session; ``root_account_used`` reports that call as HIGH).
- Secrets never reach a finding: only the user name and ``passwordResetRequired`` are copied, never a
  request parameter named ``password`` (CloudTrail hides it, but the rule does not rely on that).
- A change made through CloudFormation (``AWS::IAM::User`` ``LoginProfile``) is still a change; only
  callers the policy allow-lists for this rule are skipped.
"""

from __future__ import annotations

from identity_auditor.model.cloudtrail import CloudTrailRecord
from identity_auditor.model.contract import Context, RuleMeta, Severity, Trigger, Violation

META = RuleMeta(
    id="iam_login_profile_changed",
    title="IAM user console password created or changed",
    severity=Severity.MEDIUM,
    trigger=Trigger("iam.amazonaws.com", ("CreateLoginProfile", "UpdateLoginProfile")),
    resource_type="AwsIamUser",
    finding_types=(
        "TTPs/Persistence",
        "Software and Configuration Checks/Industry and Regulatory Standards/CIS AWS Foundations Benchmark",
    ),
    why=(
        "A console password lets anyone who knows it sign in as that user. Setting another user's "
        "password is a common way to take over or backdoor an account, and new console users need MFA."
    ),
    remediation=(
        "Confirm the change with the user and whoever made it. If it is not expected, delete the login "
        "profile (aws iam delete-login-profile) or reset it with passwordResetRequired, check the user's "
        "MFA devices and recent sign-ins, and review the caller's activity. Prefer IAM Identity Center to "
        "console passwords for IAM users."
    ),
    severity_note="HIGH when done for another user",
    remediation_url="https://docs.aws.amazon.com/IAM/latest/UserGuide/id_credentials_passwords_admin-change-user.html",
    compliance=("CIS5 1.9", "CIS5 1.20", "CIS3 1.10", "CIS3 1.21"),
)


def evaluate(record: CloudTrailRecord, ctx: Context) -> Violation | None:
    if not record.succeeded:
        return None
    identity = record.user_identity
    target = record.request("userName")
    account = record.account_id
    caller = identity.display_name
    verb = "created" if record.event_name == "CreateLoginProfile" else "changed"
    details = {"EventName": record.event_name}
    reset = record.request("passwordResetRequired")
    if reset is not None:
        details["ResetRequiredAtNextSignIn"] = str(reset).lower()

    if identity.type == "Root" and not target:
        details["UserName"] = "root"
        return Violation(
            description=f"The root user's console password was {verb} in account {account}.",
            resource_id=f"AWS::::Account:{account}",
            resource_type="AwsAccount",
            details=details,
        )
    user = str(target or identity.user_name or caller)
    details["UserName"] = user
    if record.acts_on_other_user:
        return Violation(
            description=f"{caller} {verb} the console password of another IAM user, {user}, in account {account}.",
            resource_id=f"arn:{record.partition}:iam::{account}:user/{user}",
            severity=Severity.HIGH,
            details=details,
        )
    return Violation(
        description=f"{caller} {verb} the console password of IAM user {user} in account {account}.",
        resource_id=f"arn:{record.partition}:iam::{account}:user/{user}",
        details=details,
    )
