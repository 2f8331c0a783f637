"""Someone other than allow-listed automation changed an IAM Identity Center permission set.

Permission sets define what every assigned user gets in every assigned account; a change outside the
reviewed pipeline (Terraform, CloudFormation, ...) grants or removes access that nobody reviewed.

Decisions (spec/rules.md §A; request shapes from the sso-admin API reference, camel-cased as in the real
``CreatePermissionSet`` / ``CreateAccountAssignment`` records of sso.amazonaws.com):
- Success: no ``errorCode`` and no ``Failure`` value.
- Allow-listed automation (``policy.allow[rule id]``) is matched against the caller's ARN and, for role
  sessions, against the session issuer's role ARN, so that an entry for the pipeline's role ARN covers
  every session of that role.
- HIGH when the change grants full administrator rights: ``AttachManagedPolicyToPermissionSet`` with a
  ``managedPolicyArn`` in the policy's ``privileged_policies`` (default AWS managed ``AdministratorAccess`` and
  ``IAMFullAccess``, matched ignoring case as IAM does), or ``PutInlinePolicyToPermissionSet`` whose
  ``inlinePolicy`` (a JSON string, possibly URL-encoded) has an ``Allow`` statement with ``Action``
  ``"*"`` (or ``"*:*"``). An inline policy that cannot be parsed (CloudTrail may hide or truncate it)
  is not assumed to be administrator access: MEDIUM.
- Customer-managed policy references carry only a name and path, never the document: MEDIUM even when
  named ``AdministratorAccess``. A permissions boundary limits rights and never raises the severity.
- Everything else, including ``ProvisionPermissionSet`` (pushes the permission set to accounts) and
  deletions: MEDIUM.
- Both record shapes: a caller of type ``IdentityCenterUser`` (no ARN, no ``userName``) is named by its
  ``onBehalfOf.userId`` (:mod:`identity_auditor.rules._lib.identity_center`), never "unknown"; having no
  ARN, it is never allow-listed automation.
"""

from __future__ import annotations

import json
from urllib.parse import unquote

from identity_auditor.model.cloudtrail import CloudTrailRecord
from identity_auditor.model.contract import Context, RuleMeta, Severity, Trigger, Violation
from identity_auditor.rules._lib import identity_center

_CHANGES = {
    "CreatePermissionSet": "created",
    "UpdatePermissionSet": "updated",
    "DeletePermissionSet": "deleted",
    "AttachManagedPolicyToPermissionSet": "attached a managed policy to",
    "DetachManagedPolicyFromPermissionSet": "detached a managed policy from",
    "PutInlinePolicyToPermissionSet": "put an inline policy on",
    "DeleteInlinePolicyFromPermissionSet": "deleted the inline policy of",
    "AttachCustomerManagedPolicyReferenceToPermissionSet": "attached a customer managed policy to",
    "DetachCustomerManagedPolicyReferenceFromPermissionSet": "detached a customer managed policy from",
    "PutPermissionsBoundaryToPermissionSet": "set the permissions boundary of",
    "DeletePermissionsBoundaryFromPermissionSet": "removed the permissions boundary of",
    "ProvisionPermissionSet": "provisioned",
}

META = RuleMeta(
    id="sso_permission_set_changed",
    title="Identity Center permission set changed",
    severity=Severity.MEDIUM,
    trigger=Trigger("sso.amazonaws.com", tuple(_CHANGES)),
    resource_type="Other",
    finding_types=(
        "Software and Configuration Checks/Industry and Regulatory Standards/CIS AWS Foundations Benchmark",
        "TTPs/Privilege Escalation",
        "TTPs/Persistence",
    ),
    why=(
        "A permission set decides what its users can do in every account it is assigned to. A change "
        "made outside the reviewed deployment pipeline grants access that nobody approved."
    ),
    remediation=(
        "Confirm the change with its author and the change ticket. If it was not expected, restore the "
        "permission set from source control (or remove the added policy) and re-provision it to the "
        "accounts. Make permission set changes only through the IaC pipeline, and deny sso: write "
        "actions to everyone else with an SCP or IAM policy."
    ),
    severity_note="HIGH when it grants AdministratorAccess or an inline Action *",
    remediation_url="https://docs.aws.amazon.com/singlesignon/latest/userguide/permissionsetsconcept.html",
    compliance=("CIS5 1.20", "CIS3 1.21"),
)

_ADMIN_ACTIONS = ("*", "*:*")
_DETAIL_KEYS = ("permissionSetArn", "instanceArn", "name", "managedPolicyArn", "targetId", "targetType")


def evaluate(record: CloudTrailRecord, ctx: Context) -> Violation | None:
    if not record.succeeded:
        return None
    details = {key: str(record.request(key)) for key in _DETAIL_KEYS if record.request(key) not in (None, "")}
    created = (record.response_elements or {}).get("permissionSet")
    if isinstance(created, dict) and created.get("permissionSetArn"):
        details.setdefault("permissionSetArn", str(created["permissionSetArn"]))
    reference = record.request("customerManagedPolicyReference")
    if isinstance(reference, dict):
        details["customerManagedPolicy"] = f"{reference.get('path') or '/'}{reference.get('name') or ''}"

    grant = _admin_grant(record, ctx)
    if grant:
        details["Grants"] = grant
    subject = details.get("permissionSetArn") or details.get("name") or "unknown permission set"
    action = _CHANGES.get(record.event_name, f"changed ({record.event_name})")
    details.update(identity_center.caller_details(record))
    text = (
        f"{identity_center.caller(record)} {action} the Identity Center permission set {subject} "
        f"({record.event_name}) in account {record.account_id}"
    )
    text += f", granting {grant}." if grant else "."
    return Violation(
        description=text,
        resource_id=subject,
        severity=Severity.HIGH if grant else None,
        details=details,
    )


def _admin_grant(record: CloudTrailRecord, ctx: Context) -> str | None:
    if record.event_name == "AttachManagedPolicyToPermissionSet":
        arn = record.request("managedPolicyArn")
        if ctx.policy.is_privileged_policy(arn):
            return str(arn).rsplit("/", 1)[-1]
    inline = record.request("inlinePolicy")
    if record.event_name == "PutInlinePolicyToPermissionSet" and _allows_all_actions(inline):
        return 'an inline policy that allows "Action": "*"'
    return None


def _allows_all_actions(document) -> bool:
    policy = _parse_policy(document)
    statements = policy.get("Statement") if isinstance(policy, dict) else None
    if isinstance(statements, dict):
        statements = [statements]
    for statement in statements if isinstance(statements, list) else ():
        if not isinstance(statement, dict) or statement.get("Effect") != "Allow":
            continue
        actions = statement.get("Action")
        actions = [actions] if isinstance(actions, str) else actions
        if isinstance(actions, list) and any(action in _ADMIN_ACTIONS for action in actions):
            return True
    return False


def _parse_policy(document):
    """A policy document from a JSON string, plain or URL-encoded; ``None`` if it is neither."""
    if isinstance(document, dict):
        return document
    if not isinstance(document, str):
        return None
    for text in (document, unquote(document)):
        try:
            return json.loads(text)
        except ValueError:
            continue
    return None
