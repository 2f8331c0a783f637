"""A long-lived IAM access key was created.

Decisions (spec/rules.md §A):
- MEDIUM for users creating their own key and for role sessions acting on IAM users.
- HIGH when an IAM user or root creates a key for a *different* IAM user (``requestParameters.userName``
  names someone else): the classic backdoor after a compromise.
- CRITICAL when root creates a key for itself (no ``userName``; ``requestParameters`` may be ``null``).
- The finding names the new key id (never a secret: CloudTrail does not record secret access keys).
"""

from __future__ import annotations

from identity_auditor.model.cloudtrail import CloudTrailRecord
from identity_auditor.model.contract import Context, RuleMeta, Severity, Trigger, Violation

META = RuleMeta(
    id="iam_access_key_created",
    title="IAM access key created",
    severity=Severity.MEDIUM,
    trigger=Trigger("iam.amazonaws.com", ("CreateAccessKey",)),
    resource_type="AwsIamAccessKey",
    finding_types=(
        "Software and Configuration Checks/Industry and Regulatory Standards/CIS AWS Foundations Benchmark",
        "TTPs/Persistence",
    ),
    why=(
        "Access keys are long-lived credentials that work from anywhere until someone deletes them. A key "
        "created for another user is a common way for an intruder to keep access."
    ),
    remediation=(
        "Confirm who asked for this key and why. If it is not expected, deactivate and delete it "
        "(aws iam update-access-key --status Inactive, then delete-access-key) and review what the caller "
        "did. Prefer roles and IAM Identity Center over access keys."
    ),
    severity_note="HIGH for another user; CRITICAL when root creates its own",
    remediation_url="https://docs.aws.amazon.com/IAM/latest/UserGuide/id_credentials_access-keys.html",
    compliance=("CIS5 1.10", "CIS3 1.11"),
)


def evaluate(record: CloudTrailRecord, ctx: Context) -> Violation | None:
    if not record.succeeded:
        return None
    identity = record.user_identity
    target = record.request("userName")
    key = (record.response_elements or {}).get("accessKey")
    key_id = key.get("accessKeyId") if isinstance(key, dict) else None
    account = record.account_id
    caller = identity.display_name

    if identity.type == "Root" and not target:
        severity, owner = Severity.CRITICAL, "root"
        text = f"The root user of account {account} created an access key for itself."
    elif record.acts_on_other_user:
        severity, owner = Severity.HIGH, str(target)
        text = f"{caller} created an access key for another IAM user, {target}, in account {account}."
    else:
        severity, owner = Severity.MEDIUM, str(target or caller)
        text = f"{caller} created an access key for IAM user {owner} in account {account}."

    if key_id:
        resource_id = str(key_id)
    elif owner == "root":
        resource_id = f"arn:{record.partition}:iam::{account}:root"
    else:
        resource_id = f"arn:{record.partition}:iam::{account}:user/{owner}"
    return Violation(
        description=text,
        resource_id=resource_id,
        severity=severity,
        details={"KeyOwner": owner, "AccessKeyId": str(key_id or "")},
    )
