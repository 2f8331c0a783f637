"""Someone other than IAM Identity Center changed a role that Identity Center provisions.

``AWSReservedSSO_*`` roles are created and kept in step with their permission set by Identity Center.
A person changing one directly (attaching a policy, editing the trust policy, deleting it) bypasses
the permission set, its review and its audit trail.

Decisions (spec/rules.md §A and design.md §3):
- Reserved role: name starts with ``AWSReservedSSO_`` or (``CreateRole`` only) the path starts with
  ``/aws-reserved/sso.amazonaws.com/``.
- Identity Center's own writes are not findings: ``invokedBy`` or ``sourceIPAddress``
  ``sso.amazonaws.com`` (identity type ``Root`` in the management account) or an
  ``AWSServiceRoleForSSO`` session.
- The user agent ``AWS Internal`` is never used to decide: a person in an ``AWSReservedSSO_*`` console
  session shows it too, and that person changing a reserved role **is** a finding.
"""

from __future__ import annotations

from identity_auditor.model.cloudtrail import CloudTrailRecord, is_reserved_sso_role
from identity_auditor.model.contract import Context, RuleMeta, Severity, Trigger, Violation

_CHANGES = {
    "CreateRole": "created",
    "DeleteRole": "deleted",
    "UpdateRole": "updated",
    "UpdateRoleDescription": "changed the description of",
    "UpdateAssumeRolePolicy": "changed the trust policy of",
    "AttachRolePolicy": "attached a managed policy to",
    "DetachRolePolicy": "detached a managed policy from",
    "PutRolePolicy": "put an inline policy on",
    "DeleteRolePolicy": "deleted an inline policy from",
    "PutRolePermissionsBoundary": "set the permissions boundary of",
    "DeleteRolePermissionsBoundary": "removed the permissions boundary of",
    "TagRole": "tagged",
    "UntagRole": "untagged",
}

META = RuleMeta(
    id="sso_reserved_role_modified",
    title="Identity Center reserved role changed outside Identity Center",
    severity=Severity.CRITICAL,
    trigger=Trigger("iam.amazonaws.com", tuple(_CHANGES)),
    resource_type="AwsIamRole",
    finding_types=(
        "TTPs/Privilege Escalation",
        "Software and Configuration Checks/AWS Security Best Practices",
    ),
    why=(
        "Identity Center roles must match their permission set. A direct change grants or removes access "
        "that no permission set review saw, and Identity Center may silently overwrite or keep it."
    ),
    remediation=(
        "Find out who made the change and why. Revert it (or re-provision the permission set in IAM "
        "Identity Center to restore the role), make the change in the permission set instead, and deny "
        "writes to aws-reserved/sso.amazonaws.com roles with a service control policy."
    ),
    remediation_url="https://docs.aws.amazon.com/singlesignon/latest/userguide/referencingpermissionsets.html",
    compliance=("CIS5 4.4", "CIS5 1.20", "CIS3 1.21"),
)

_DETAIL_KEYS = ("policyArn", "policyName", "permissionsBoundary", "description")


def evaluate(record: CloudTrailRecord, ctx: Context) -> Violation | None:
    role_name = record.request("roleName")  # first: it rules out almost every role event
    if not isinstance(role_name, str) or not is_reserved_sso_role(role_name, record.request("path")):
        return None
    if not record.succeeded or record.by_identity_center:
        return None
    role = (record.response_elements or {}).get("role")
    role_arn = role.get("arn") if isinstance(role, dict) else None
    caller = record.user_identity.display_name
    action = _CHANGES.get(record.event_name, f"changed ({record.event_name})")
    details = {key: str(record.request(key)) for key in _DETAIL_KEYS if record.request(key) is not None}
    details["RoleName"] = role_name
    return Violation(
        description=(
            f"{caller} {action} the Identity Center reserved role {role_name} in account "
            f"{record.account_id} ({record.event_name}), outside IAM Identity Center."
        ),
        resource_id=str(role_arn or role_name),
        details=details,
        subject=role_name,
    )
