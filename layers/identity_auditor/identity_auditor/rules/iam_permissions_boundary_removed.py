"""The permissions boundary of an IAM user or role was removed: its own policies now apply without the cap.

Decisions (spec/rules.md §A third wave; record shape: a real DeleteRolePermissionsBoundary record delivered by
EventBridge, published in michael-ullrich-1010/amazon-bedrock SEMPER-Policy-Bot/20_processed/
10-SEMPER-Policies.md_1_5.md (``requestParameters.roleName`` only, ``responseElements`` null, an Identity Center
console session); DeleteUserPermissionsBoundary takes ``userName`` instead (IAM API reference)):
- Success only; HIGH for both. A boundary is how delegated administration stays safe (teams may create roles
  only under a boundary): removing it lifts the ceiling on whatever the principal's policies allow, and is a
  step in privilege escalation and in getting around guardrails.
- Not findings: Identity Center's own calls; Identity Center reserved roles (``AWSReservedSSO_*``:
  ``sso_reserved_role_modified`` reports a boundary removed from them, CRITICAL, so a second finding would only
  repeat it); service-linked roles (name starting ``AWSServiceRoleFor``, or a ``/aws-service-role/`` path when
  the record shows one).
- The resource is the principal, ``arn:<partition>:iam::<account>:user|role/<name>`` from the record's account
  (the record carries no path). A record without the name (not a shape IAM produces) still yields the finding,
  on the account (AwsAccount). The record does not say which boundary was removed; the finding says where to
  look (the PutUserPermissionsBoundary / PutRolePermissionsBoundary or CreateUser / CreateRole that set it).
- Compliance: CIS5 4.4 (IAM policy changes are monitored; a boundary is a managed policy set on the principal).
"""

from __future__ import annotations

from identity_auditor.model.cloudtrail import CloudTrailRecord
from identity_auditor.model.contract import Context, RuleMeta, Severity, Trigger, Violation
from identity_auditor.rules._lib.iam_principals import is_exempt_role, principal_arn

# event name -> (principal kind, label, ASFF resource type, request parameter naming it)
_EVENTS = {
    "DeleteUserPermissionsBoundary": ("user", "IAM user", "AwsIamUser", "userName"),
    "DeleteRolePermissionsBoundary": ("role", "IAM role", "AwsIamRole", "roleName"),
}

META = RuleMeta(
    id="iam_permissions_boundary_removed",
    title="IAM permissions boundary removed",
    severity=Severity.HIGH,
    trigger=Trigger("iam.amazonaws.com", tuple(_EVENTS)),
    resource_type="AwsIamRole",
    finding_types=(
        "TTPs/Privilege Escalation",
        "TTPs/Defense Evasion",
        "Software and Configuration Checks/Industry and Regulatory Standards/CIS AWS Foundations Benchmark",
    ),
    why=(
        "A permissions boundary caps what a user's or role's own policies can grant; delegated administration "
        "relies on it. Removing it lets the principal use everything its policies allow, a quiet way to "
        "escalate privileges or slip past a guardrail."
    ),
    remediation=(
        "Confirm the change with the principal's owner. If it is not expected, restore the boundary (aws iam "
        "put-role-permissions-boundary --role-name NAME --permissions-boundary POLICY_ARN, or "
        "put-user-permissions-boundary --user-name NAME ...), review what the principal did since, and deny "
        "iam:Delete*PermissionsBoundary with a service control policy outside the platform pipeline."
    ),
    remediation_url="https://docs.aws.amazon.com/IAM/latest/UserGuide/access_policies_boundaries.html",
    compliance=("CIS5 4.4",),
)


def evaluate(record: CloudTrailRecord, ctx: Context) -> Violation | None:
    if not record.succeeded or record.by_identity_center or record.event_name not in _EVENTS:
        return None
    kind, label, resource_type, name_key = _EVENTS[record.event_name]
    name = record.request(name_key)
    name = name if isinstance(name, str) and name else None
    if kind == "role" and is_exempt_role(name, record.request("path")):
        return None
    account = record.account_id
    principal = principal_arn(record, kind, name) if name else None
    target = f"{label} {name}" if name else f"an {label} (the record does not name it)"
    setter = "PutUserPermissionsBoundary or CreateUser" if kind == "user" else "PutRolePermissionsBoundary or CreateRole"
    return Violation(
        description=(
            f"{record.user_identity.display_name} removed the permissions boundary of {target} in account {account}: "
            "its own policies now apply without that cap."
        ),
        resource_id=principal or f"AWS::::Account:{account}",
        resource_type=resource_type if principal else "AwsAccount",
        details={
            "PrincipalType": label,
            "Principal": principal or "(not in the record)",
            "RemovedBoundary": f"not in the record: see the last {setter} for this principal",
        },
        subject=name,
    )
