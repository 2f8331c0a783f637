"""Someone other than allow-listed automation granted or removed Identity Center access to an AWS account.

Decisions (spec/rules.md §A; field names as in the real ``CreateAccountAssignment`` /
``DeleteAccountAssignment`` records of sso.amazonaws.com: ``instanceArn``, ``targetId``, ``targetType``,
``permissionSetArn``, ``principalType``, ``principalId``):
- Success: no ``errorCode`` and no ``Failure`` value. The response status ``IN_PROGRESS`` is success:
  the assignment is provisioned asynchronously.
- Allow-listed automation is matched against the caller's ARN and its session issuer's role ARN.
- HIGH when ``CreateAccountAssignment`` grants a permission set to a ``USER`` directly instead of a
  group (access that escapes group reviews and joiner/mover/leaver processes). Removing a direct user
  assignment is the clean-up that practice asks for, so it keeps the base severity.
- HIGH, for creations and deletions alike, when the permission set matches
  ``policy.privileged_permission_sets``. CloudTrail records carry only the permission set ARN
  (``arn:aws:sso:::permissionSet/ssoins-…/ps-…``), never its name, so the patterns are matched against
  the ARN and against its ``ps-…`` id: list privileged permission sets by ARN or id. Name patterns such
  as the default ``*AdministratorAccess*`` cannot match a record. Removing a privileged assignment is
  HIGH too: an intruder locking responders out looks exactly like that.
- Everything else: MEDIUM. The resource is the target account (``AwsAccount``): its access changed.
- Both record shapes: a caller of type ``IdentityCenterUser`` (no ARN, no ``userName``) is named by its
  ``onBehalfOf.userId`` (:mod:`identity_auditor.rules._lib.identity_center`), never "unknown"; having no
  ARN, it is never allow-listed automation.
"""

from __future__ import annotations

from identity_auditor.model.cloudtrail import CloudTrailRecord
from identity_auditor.model.contract import Context, RuleMeta, Severity, Trigger, Violation
from identity_auditor.model.policy import matches_any
from identity_auditor.rules._lib import identity_center

META = RuleMeta(
    id="sso_account_assignment_changed",
    title="Identity Center account assignment changed",
    severity=Severity.MEDIUM,
    trigger=Trigger("sso.amazonaws.com", ("CreateAccountAssignment", "DeleteAccountAssignment")),
    resource_type="AwsAccount",
    finding_types=(
        "Software and Configuration Checks/Industry and Regulatory Standards/CIS AWS Foundations Benchmark",
        "TTPs/Privilege Escalation",
        "TTPs/Persistence",
    ),
    why=(
        "An account assignment gives a user or group a role in an AWS account. Assignments made outside "
        "the reviewed pipeline, and grants to single users instead of groups, create access that access "
        "reviews and leaver processes miss."
    ),
    remediation=(
        "Confirm the assignment with its author and the access request. If it is not expected, delete it "
        "(aws sso-admin delete-account-assignment). Grant access to groups fed by the identity provider, "
        "not to individual users, and make assignments only through the IaC pipeline."
    ),
    severity_note="HIGH for a direct user grant or a privileged permission set",
    remediation_url="https://docs.aws.amazon.com/singlesignon/latest/userguide/useraccess.html",
    compliance=("CIS5 1.20", "CIS3 1.21"),
)

_DETAIL_KEYS = ("instanceArn", "permissionSetArn", "principalType", "principalId", "targetId", "targetType")


def evaluate(record: CloudTrailRecord, ctx: Context) -> Violation | None:
    if not record.succeeded:
        return None
    details = {key: str(record.request(key)) for key in _DETAIL_KEYS if record.request(key) not in (None, "")}
    permission_set = details.get("permissionSetArn", "")
    principal_type = details.get("principalType", "").upper()
    creating = record.event_name == "CreateAccountAssignment"

    reasons = []
    if creating and principal_type == "USER":
        reasons.append("directly to a user instead of a group")
    if permission_set and _privileged(permission_set, ctx):
        reasons.append("with a permission set listed as privileged")
        details["PrivilegedPermissionSet"] = "true"

    target = details.get("targetId")
    principal = f"{principal_type.lower() or 'principal'} {details.get('principalId', '(unknown)')}"
    verb = "assigned" if creating else "removed the assignment of"
    details.update(identity_center.caller_details(record))
    text = (
        f"{identity_center.caller(record)} {verb} permission set {permission_set or '(unknown)'} "
        f"{'to' if creating else 'from'} {principal} on account {target or '(unknown)'}"
    )
    text += f", {' and '.join(reasons)}." if reasons else "."
    return Violation(
        description=text,
        resource_id=f"AWS::::Account:{target}" if target else permission_set or record.account_id,
        resource_type=None if target else "Other",
        severity=Severity.HIGH if reasons else None,
        details=details,
    )


def _privileged(permission_set_arn: str, ctx: Context) -> bool:
    """The permission set ARN, or its trailing ``ps-…`` id, matches a privileged pattern."""
    patterns = ctx.policy.privileged_permission_sets
    permission_set_id = permission_set_arn.rsplit("/", 1)[-1]
    return matches_any(permission_set_arn, patterns) or matches_any(permission_set_id, patterns)
