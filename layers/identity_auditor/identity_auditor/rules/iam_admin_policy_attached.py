"""An IAM user, group or role was given administrative power, or a managed policy's default version changed.

How: a privileged managed policy attached, an inline policy that grants admin power put, a new default policy
version that grants it, or an older version made the default again.

Decisions (spec/rules.md §A third wave; record shapes: the real invictus records of ``AttachUserPolicy`` and
``AttachRolePolicy`` of ``AdministratorAccess`` (``policyArn`` + ``userName`` / ``roleName``) and of
``PutRolePolicy`` (``roleName``, ``policyName``, ``policyDocument`` as plain JSON) in tests/corpus/invictus;
panther-labs/panther-analysis rules/aws_cloudtrail_rules/aws_iam_attach_admin_user_policy.yml and
aws_iam_policy_modified.yml (``groupName`` + ``policyName``); splunk/security_content's
aws_create_policy_version_to_allow_all_resources and aws_setdefaultpolicyversion searches
(``requestParameters.policyArn``, ``policyDocument``, ``setAsDefault``, ``versionId``); the IAM API reference for
the ``policyVersion`` response of CreatePolicyVersion):
- Attach{User,Group,Role}Policy: the ``policyArn`` is one of the organisation policy's ``privileged_policies``
  (``ctx.policy.is_privileged_policy``; default the AWS managed AdministratorAccess and IAMFullAccess, matched in
  every partition). The finding says why: AdministratorAccess allows every action on every resource,
  IAMFullAccess every IAM action (enough to grant itself the rest); other entries because the organisation lists
  them.
- Put{User,Group,Role}Policy and CreatePolicyVersion: ``policyDocument`` (plain or URL-encoded JSON) judged by
  :func:`identity_auditor.rules._lib.permissions.admin_grant` (an Allow statement covering every IAM action on
  every IAM resource, or an Allow with NotAction on every resource); the finding quotes its reason, e.g.
  ``Statement[0] allows Action * on Resource *``. CreatePolicyVersion only with ``setAsDefault`` true (boolean,
  or the string "true"): a version that is not the default grants nothing yet, and making it the default later
  is a SetDefaultPolicyVersion, which is always a finding.
- A document that cannot be read yields no finding (and no exception): IAM refuses malformed documents
  (MalformedPolicyDocument), so a successful call with one means a damaged record, and a finding saying "could
  not read" would only be noise. What can be judged is judged: ``admin_grant`` answers from any readable
  statement that grants admin power, and only a document whose readable statements grant nothing while some
  part is unreadable counts as unreadable.
- SetDefaultPolicyVersion: always, MEDIUM (the record names ``policyArn`` and ``versionId``, never the document:
  rolling a policy back to an old, broader version is the classic escalation). The finding says to read that
  version (aws iam get-policy-version).
- Severity: HIGH; CRITICAL when the target is an IAM user (AttachUserPolicy, PutUserPolicy: long-lived
  credentials with admin power); HIGH for groups, and the finding says every member inherits it; HIGH for a new
  default policy version (the record does not say whom the policy is attached to); MEDIUM for
  SetDefaultPolicyVersion.
- Not findings: failed calls; Identity Center's own calls; Identity Center reserved roles (``AWSReservedSSO_*``,
  or the reserved path when a record carries one: ``sso_reserved_role_modified`` reports those, CRITICAL, so a
  second finding would only repeat it); service-linked roles (name starting ``AWSServiceRoleFor``, or a
  ``/aws-service-role/`` path when the record shows one; IAM refuses to change their policies anyway); managed
  policies that are not privileged (ReadOnlyAccess), documents that grant less. CloudFormation and pipelines are
  not exempt: the organisation policy's ``rules.iam_admin_policy_attached.allow`` names trusted automation.
- The resource is the principal that gained the power: ``arn:<partition>:iam::<account>:user|group|role/<name>``
  from the record's account and the name (these records carry no path, so a principal under a path gets
  ``<kind>/<name>``), or the policy ARN for CreatePolicyVersion / SetDefaultPolicyVersion. A record without the
  target's name (not a shape IAM produces) still yields the finding, on the account (AwsAccount).
- Compliance: CIS5 4.4 (IAM policy changes are monitored). FSBP IAM.1 (customer managed policies with
  ``"Action": "*"`` on ``"*"``) is not claimed: it judges one kind of document (a customer managed policy's
  default version), while this rule's findings are mostly attachments and inline policies; FSBP IAM.2 (no
  policies on users) covers only the user cases either.
"""

from __future__ import annotations

from identity_auditor.model.cloudtrail import CloudTrailRecord
from identity_auditor.model.contract import Context, RuleMeta, Severity, Trigger, Violation
from identity_auditor.rules._lib.iam_principals import is_exempt_role, principal_arn
from identity_auditor.rules._lib.permissions import admin_grant

# event name -> (principal kind, how the policy got there); None for the policy-version events
_EVENTS = {
    "AttachUserPolicy": ("user", "attached"),
    "AttachGroupPolicy": ("group", "attached"),
    "AttachRolePolicy": ("role", "attached"),
    "PutUserPolicy": ("user", "inline"),
    "PutGroupPolicy": ("group", "inline"),
    "PutRolePolicy": ("role", "inline"),
    "CreatePolicyVersion": ("policy", "version"),
    "SetDefaultPolicyVersion": ("policy", "default"),
}
_KIND = {"user": ("IAM user", "AwsIamUser", "userName"), "group": ("IAM group", "AwsIamGroup", "groupName"),
         "role": ("IAM role", "AwsIamRole", "roleName")}
# Why the usual AWS managed policies are administrative power, by name.
_MANAGED = {
    "AdministratorAccess": "it allows every action on every resource",
    "IAMFullAccess": "it allows every IAM action, enough for its holder to grant itself everything else",
}
META = RuleMeta(
    id="iam_admin_policy_attached",
    title="Administrative power granted to an IAM principal",
    severity=Severity.HIGH,
    trigger=Trigger("iam.amazonaws.com", tuple(_EVENTS)),
    resource_type="AwsIamRole",
    finding_types=(
        "TTPs/Privilege Escalation",
        "TTPs/Persistence",
        "Software and Configuration Checks/Industry and Regulatory Standards/CIS AWS Foundations Benchmark",
    ),
    why=(
        "Administrative power lets its holder read, change or delete anything in the account and grant itself "
        "more. Attaching it outside the reviewed pipeline is the usual step after a compromise, to escalate or "
        "to keep a backdoor user or role."
    ),
    remediation=(
        "Confirm the change with the principal's owner. If it is not expected, remove it (aws iam "
        "detach-user-policy / detach-role-policy / detach-group-policy --policy-arn ..., delete-user-policy / "
        "delete-role-policy / delete-group-policy --policy-name ..., or set-default-policy-version back to the "
        "reviewed version), deactivate the caller's credentials and review what the principal did since. Grant "
        "least privilege through IAM Identity Center permission sets."
    ),
    remediation_url="https://docs.aws.amazon.com/IAM/latest/UserGuide/access_policies_manage-attach-detach.html",
    severity_note="CRITICAL when the target is an IAM user; MEDIUM for SetDefaultPolicyVersion",
    compliance=("CIS5 4.4",),
)


def evaluate(record: CloudTrailRecord, ctx: Context) -> Violation | None:
    if not record.succeeded or record.by_identity_center:
        return None
    kind, how = _EVENTS.get(record.event_name, (None, None))
    if kind == "policy":
        return _policy_version(record, how)
    if kind is None:
        return None
    label, resource_type, name_key = _KIND[kind]
    name = record.request(name_key)
    name = name if isinstance(name, str) and name else None
    if kind == "role" and is_exempt_role(name, record.request("path")):
        return None

    if how == "attached":
        policy_arn = record.request("policyArn")
        if not isinstance(policy_arn, str) or not ctx.policy.is_privileged_policy(policy_arn):
            return None
        policy_name = policy_arn.rsplit("/", 1)[-1]
        aws_managed = ":iam::aws:policy/" in policy_arn
        why = _MANAGED.get(policy_name) if aws_managed else None
        why = why or "it is one of the organisation policy's privileged_policies"
        what = f"attached the managed policy {policy_name} ({policy_arn}) to"
        details = {"PolicyArn": policy_arn}
    else:
        why = _grant(record.request("policyDocument"))
        if why is None:
            return None
        policy_name = record.request("policyName")
        what = f"put the inline policy {policy_name!s} on" if policy_name else "put an inline policy on"
        details = {"PolicyName": str(policy_name)} if policy_name else {}

    account = record.account_id
    principal = principal_arn(record, kind, name) if name else None
    target = f"{label} {name}" if name else f"an {label} (the record does not name it)"
    inherit = "; every member of the group inherits it" if kind == "group" else ""
    details.update({"PrincipalType": label, "Principal": principal or "(not in the record)", "Grant": why})
    return Violation(
        description=(
            f"{record.user_identity.display_name} {what} {target} in account {account}, granting "
            f"administrative power: {why}{inherit}."
        ),
        resource_id=principal or f"AWS::::Account:{account}",
        resource_type=resource_type if principal else "AwsAccount",
        severity=Severity.CRITICAL if kind == "user" else None,
        details=details,
        subject=name,
    )


def _policy_version(record: CloudTrailRecord, how: str) -> Violation | None:
    account = record.account_id
    policy_arn = record.request("policyArn")
    policy_arn = policy_arn if isinstance(policy_arn, str) and policy_arn else None
    policy = policy_arn or "(policy not in the record)"
    caller = record.user_identity.display_name
    details = {"PolicyArn": policy}
    if how == "default":
        version = record.request("versionId")
        details["VersionId"] = str(version or "(not in the record)")
        text = (
            f"{caller} made version {version or '(unknown)'} the default of the managed policy {policy} in account "
            f"{account}; every user, group and role the policy is attached to now gets that version's permissions, "
            "which the record does not show (rolling back to an older, broader version is a classic escalation)."
        )
        severity = Severity.MEDIUM
    else:
        if str(record.request("setAsDefault")).lower() != "true":
            return None
        why = _grant(record.request("policyDocument"))
        if why is None:
            return None
        created = record.response("policyVersion")
        version = created.get("versionId") if isinstance(created, dict) else None
        details.update({"VersionId": str(version or "(not in the record)"), "Grant": why})
        text = (
            f"{caller} made a new default version{f' ({version})' if version else ''} of the managed policy {policy} "
            f"in account {account} that grants administrative power to every user, group and role it is attached "
            f"to: {why}."
        )
        severity = None
    return Violation(
        description=text,
        resource_id=policy_arn or f"AWS::::Account:{account}",
        resource_type="AwsIamPolicy" if policy_arn else "AwsAccount",
        severity=severity,
        details=details,
        subject=policy_arn.rsplit("/", 1)[-1] if policy_arn else None,
    )


def _grant(document) -> str | None:
    """Why the document grants administrative power; ``None`` when it does not, or cannot be read (docstring)."""
    if document is None:
        return None
    try:
        return admin_grant(document)
    except ValueError:
        return None

