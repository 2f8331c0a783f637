"""Someone opened a root session on a member account with sts:AssumeRoot (centralized root access).

Decisions (spec/rules.md §A third wave; record shape from the AWS example in "Track privileged tasks in
AWS CloudTrail", https://docs.aws.amazon.com/IAM/latest/UserGuide/cloudtrail-track-privileged-tasks.html:
request ``targetPrincipal`` (the member account id; the API also accepts the member account principal
ARN) and ``taskPolicyArn`` as an object ``{"arn": "arn:aws:iam::aws:policy/root-task/<name>"}``; response
``credentials.accessKeyId``; keys looked up case-insensitively, a bare ARN string accepted too):
- Success only; Identity Center's own calls are never findings. The caller is whoever the record names:
  AWS's example is a role session (``AssumedRole``) of the management account; the API reference says
  only the management account or the delegated administrator for IAM can call it, and never with root
  credentials.
- Where it is recorded: in the calling (management or delegated-admin) account, in the Region of the
  regional STS endpoint called (the global endpoint is not supported), so STS is routed in every region.
  AWS's example shows no ``readOnly`` value; the sibling ``AssumeRole`` is recorded ``readOnly: true``,
  so the trigger asks EventBridge for read-only management events too. The session's own actions are
  recorded in the member account as ``userIdentity.type`` ``Root`` with the issued ``ASIA`` key: those are
  ``root_account_used``'s (LOW when the record flags the session, see that rule).
- Severity by task policy (the last part of the ARN): ``IAMCreateRootUserPassword`` HIGH (root can get a
  console password back: lasting root access once the mailbox is reached);
  ``IAMDeleteRootUserCredentials``, ``S3UnlockBucketPolicy``, ``SQSUnlockQueuePolicy`` MEDIUM;
  ``IAMAuditRootUserCredentials`` LOW (read-only). An unknown task policy, or none in the record, is HIGH:
  AWS only accepts its ``root-task/`` policies, so an unknown one is a task added after this rule was
  written, whose power the rule cannot judge.
- The finding names the target account (the resource, ``AwsAccount``), the task policy and the issued
  access key id, which is how the session's actions are found in the member account's CloudTrail.
- No compliance id: root use itself (CIS 1.6/4.3) is judged where it happens, in the member account, by
  ``root_account_used``.
"""

from __future__ import annotations

from identity_auditor.model.cloudtrail import CloudTrailRecord
from identity_auditor.model.contract import Context, RuleMeta, Severity, Trigger, Violation

# What each AWS managed task policy (arn:aws:iam::aws:policy/root-task/<name>) lets the root session do.
TASK_POLICIES: dict[str, tuple[Severity, str]] = {
    "IAMCreateRootUserPassword": (Severity.HIGH, "re-create the root user's console password"),
    "IAMDeleteRootUserCredentials": (Severity.MEDIUM, "delete the root user's password, access keys, "
                                                      "signing certificates and MFA devices"),
    "S3UnlockBucketPolicy": (Severity.MEDIUM, "read, change or delete an S3 bucket policy (to unlock a bucket "
                                              "that denies everyone)"),
    "SQSUnlockQueuePolicy": (Severity.MEDIUM, "read, change or delete an SQS queue policy (to unlock a queue "
                                              "that denies everyone)"),
    "IAMAuditRootUserCredentials": (Severity.LOW, "read the root user's credential status"),
}
_UNKNOWN = (Severity.HIGH, "a task this rule does not know")

META = RuleMeta(
    id="sts_root_session_assumed",
    title="Root session assumed on a member account",
    severity=Severity.HIGH,
    trigger=Trigger("sts.amazonaws.com", ("AssumeRoot",), all_management_events=True),
    resource_type="AwsAccount",
    finding_types=("TTPs/Privilege Escalation",),
    why=(
        "sts:AssumeRoot gives the caller the root user of a member account for up to 15 minutes, scoped by a "
        "task policy. IAMCreateRootUserPassword in particular can give root back a password, and with it "
        "lasting root access."
    ),
    remediation=(
        "Confirm the task with the caller. Find the session's actions in the member account's CloudTrail by "
        "the issued access key id. After IAMCreateRootUserPassword, if not expected, delete the root password "
        "again (AssumeRoot with IAMDeleteRootUserCredentials, then aws iam delete-login-profile). Limit who "
        "may call sts:AssumeRoot, per task, with the sts:TaskPolicyArn condition key."
    ),
    remediation_url="https://docs.aws.amazon.com/IAM/latest/UserGuide/cloudtrail-track-privileged-tasks.html",
    severity_note="HIGH for IAMCreateRootUserPassword and unknown task policies; MEDIUM for "
    "IAMDeleteRootUserCredentials, S3UnlockBucketPolicy, SQSUnlockQueuePolicy; LOW for IAMAuditRootUserCredentials",
)


def _task_policy_arn(value) -> str | None:
    if isinstance(value, dict):
        value = next((v for k, v in value.items() if k.lower() == "arn"), None)
    return str(value) if value else None


def _account_of(principal: str) -> str:
    """The account of a target principal: an account id as is, the account field of an ARN."""
    parts = principal.split(":")
    if principal.startswith("arn:") and len(parts) > 4 and parts[4]:
        return parts[4]
    return principal


def evaluate(record: CloudTrailRecord, ctx: Context) -> Violation | None:
    if not record.succeeded or record.by_identity_center:
        return None
    target = record.request("targetPrincipal")
    target_account = _account_of(str(target)) if target else None
    policy_arn = _task_policy_arn(record.request("taskPolicyArn"))
    task = policy_arn.rsplit("/", 1)[-1] if policy_arn else None
    severity, power = TASK_POLICIES.get(task or "", _UNKNOWN)
    credentials = record.response("credentials")
    issued_key = credentials.get("accessKeyId") if isinstance(credentials, dict) else None

    text = (
        f"{record.user_identity.display_name} (account {record.account_id}) assumed the root user of member "
        f"account {target_account or '(unknown)'} with task policy {task or '(not in the record)'}: "
        f"the session can {power}."
    )
    details = {
        "TargetAccount": str(target_account or ""),
        "TargetPrincipal": str(target or "") if str(target or "") != target_account else "",
        "TaskPolicy": str(task or ""),
        "TaskPolicyArn": str(policy_arn or ""),
        "IssuedAccessKeyId": str(issued_key or ""),
        "DurationSeconds": str(record.request("durationSeconds") or ""),
    }
    return Violation(
        description=text,
        resource_id=f"AWS::::Account:{target_account or 'unknown'}",
        severity=severity if severity is not META.severity else None,
        details={key: value for key, value in details.items() if value},
    )
