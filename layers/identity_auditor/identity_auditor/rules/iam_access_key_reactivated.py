"""An inactive IAM access key was made active again.

Decisions (spec/rules.md §A; request shape from the IAM API reference: ``UpdateAccessKey`` takes
``accessKeyId``, ``status`` (``Active`` | ``Inactive``) and an optional ``userName``):
- Success and ``requestParameters.status == "Active"`` (compared case-insensitively); deactivations
  are the remedy, not a finding.
- MEDIUM in every case, as the spec says, including root reactivating its own key: that record also
  gives a ``root_account_used`` finding (HIGH) and the state rule ``root_access_key_present`` reports
  the active root key (CRITICAL), so it is not lost. Whether the key belongs to someone else is shown
  in the details (``KeyOwner``) but does not change the severity.
- A reactivation through CloudFormation (``AWS::IAM::AccessKey`` with ``Status: Active``) is still a
  reactivation; only callers the policy allow-lists for this rule are skipped.
"""

from __future__ import annotations

from identity_auditor.model.cloudtrail import CloudTrailRecord
from identity_auditor.model.contract import Context, RuleMeta, Severity, Trigger, Violation

META = RuleMeta(
    id="iam_access_key_reactivated",
    title="IAM access key reactivated",
    severity=Severity.MEDIUM,
    trigger=Trigger("iam.amazonaws.com", ("UpdateAccessKey",)),
    resource_type="AwsIamAccessKey",
    finding_types=(
        "TTPs/Persistence",
        "Software and Configuration Checks/Industry and Regulatory Standards/CIS AWS Foundations Benchmark",
    ),
    why=(
        "Keys are deactivated when they are rotated, unused or suspected leaked. Turning one back on "
        "restores a long-lived credential that someone decided should no longer work."
    ),
    remediation=(
        "Find out why the key was deactivated and who reactivated it. If it is not expected, deactivate it "
        "again (aws iam update-access-key --status Inactive) and delete it, check where it was used in "
        "CloudTrail, and issue a new key or, better, a role if access is really needed."
    ),
    remediation_url="https://docs.aws.amazon.com/IAM/latest/UserGuide/id_credentials_access-keys.html",
    compliance=("CIS5 1.11", "CIS5 1.13", "CIS3 1.12", "CIS3 1.14"),
)


def evaluate(record: CloudTrailRecord, ctx: Context) -> Violation | None:
    if not record.succeeded or str(record.request("status") or "").lower() != "active":
        return None
    identity = record.user_identity
    key_id = str(record.request("accessKeyId") or "")
    target = record.request("userName")
    account = record.account_id
    caller = identity.display_name
    if target:
        owner = str(target)
    elif identity.type == "Root":
        owner = "root"
    else:
        owner = identity.user_name or caller
    whose = "their own" if owner == caller else f"IAM user {owner}'s"
    owner_arn = (
        f"arn:{record.partition}:iam::{account}:root" if owner == "root"
        else f"arn:{record.partition}:iam::{account}:user/{owner}"
    )
    return Violation(
        description=f"{caller} reactivated {whose} access key {key_id or '(unknown id)'} in account {account}.",
        resource_id=key_id or owner_arn,
        details={"AccessKeyId": key_id, "KeyOwner": owner, "ForAnotherUser": str(record.acts_on_other_user).lower()},
    )
