"""An IAM user was created.

Decisions (spec/rules.md §A and §C):
- Success only (no ``errorCode``).
- Users the organisation policy allows to exist are not findings: ``break_glass_users`` patterns are
  matched against the new user's name and against ``<path><name>`` (``requestParameters.path``, which
  defaults to ``/``; the response's ``user.path`` is used when the request has none).
- Callers the policy allow-lists for this rule (e.g. the pipeline that owns a few service users) are
  skipped too. Anything else, including a user created through CloudFormation
  (``invokedBy: cloudformation.amazonaws.com``) is a finding: a CloudFormation stack is just another
  way to create a long-lived identity outside central identity management.
- MEDIUM for every caller (root creating a user also yields a ``root_account_used`` finding).
"""

from __future__ import annotations

from identity_auditor.model.cloudtrail import CloudTrailRecord
from identity_auditor.model.contract import Context, RuleMeta, Severity, Trigger, Violation

META = RuleMeta(
    id="iam_user_created",
    title="IAM user created",
    severity=Severity.MEDIUM,
    trigger=Trigger("iam.amazonaws.com", ("CreateUser",)),
    resource_type="AwsIamUser",
    finding_types=(
        "TTPs/Persistence",
        "Software and Configuration Checks/Industry and Regulatory Standards/CIS AWS Foundations Benchmark",
    ),
    why=(
        "IAM users carry long-lived passwords and keys that live outside the organisation's identity "
        "provider, so leavers and stolen credentials are not cut off centrally. A new user is also a "
        "classic way to keep access after a compromise."
    ),
    remediation=(
        "Confirm who needs this user and why. Give people access through IAM Identity Center or a "
        "federated role instead and delete the user (remove its keys, password, MFA devices, policies and "
        "group memberships first). If it is a sanctioned break-glass or service user, add it to the "
        "organisation policy's break_glass_users."
    ),
    remediation_url="https://docs.aws.amazon.com/IAM/latest/UserGuide/id_users_manage.html",
    compliance=("CIS5 1.20", "CIS3 1.21"),
)


def evaluate(record: CloudTrailRecord, ctx: Context) -> Violation | None:
    if not record.succeeded:
        return None
    created = (record.response_elements or {}).get("user")
    created = created if isinstance(created, dict) else {}
    name = record.request("userName") or created.get("userName")
    path = record.request("path") or created.get("path") or "/"
    if ctx.policy.is_break_glass(name, path):
        return None
    account = record.account_id
    user_arn = created.get("arn") or f"arn:{record.partition}:iam::{account}:user{path}{name or 'unknown'}"
    return Violation(
        description=(
            f"{record.user_identity.display_name} created IAM user {name or '(unknown)'} in account {account}."
        ),
        resource_id=str(user_arn),
        details={"UserName": str(name or ""), "Path": str(path)},
    )
