"""An AWS Organizations guardrail was removed or weakened: an account left (or tried to leave) the organisation,
a service or resource control policy was detached, deleted, changed or switched off, delegated administration or
trusted service access changed, or centralised root access was turned off.

Decisions (spec/rules.md §A third wave; record shapes: the real invictus ``LeaveOrganization`` attempt (stratus-red-team
``organizations-leave``, ``AccessDenied``), and a public collection of real management-account Organizations records
(DetachPolicy ``policyId`` / ``targetId`` with ``responseElements: null``; UpdatePolicy
``responseElements.policy.policySummary.type`` and ``.arn``; DisablePolicyType ``rootId`` / ``policyType`` with
``responseElements.root.arn``; PutResourcePolicy ``content: HIDDEN_DUE_TO_SECURITY_REASONS`` with
``responseElements.resourcePolicy.resourcePolicySummary.arn``); the other request fields (``accountId``,
``servicePrincipal``) as the invictus ``ListDelegatedAdministrators`` record and the Organizations API reference
name them; IAM ``Disable…`` responses ``organizationId`` / ``enabledFeatures`` from the IAM API reference; keys are
matched ignoring case):
- Success only, except ``LeaveOrganization``: a failed attempt is the signal (SCPs usually deny it), HIGH and
  naming the error; a successful one is CRITICAL. Identity Center's own calls are never findings.
- Policy changes count only for guardrail types (``GUARDRAIL_POLICY_TYPES``: service and resource control
  policies). ``DisablePolicyType`` reads ``policyType`` (CRITICAL for SCP/RCP; tag, backup, AI opt-out, chatbot,
  declarative policy types are no finding). ``UpdatePolicy`` reads the response's ``policySummary.type`` (or the
  type segment of its ARN; ``ctx.policy_types`` when the response is missing). ``DetachPolicy`` and ``DeletePolicy``
  carry only ids: the type comes from ``ctx.policy_types`` (``META.uses``: the deployment looks
  ``requestParameters.policyId`` up with ``DescribePolicy`` before the rules run, model/deployment.py
  ``policy_ids_to_look_up``). A policy id the context does not know (lookup failed or not possible, e.g. the CLI, or
  a deleted policy the deployment had not cached) counts as a guardrail change, and the finding says the type could
  not be checked; a known non-guardrail type is no finding.
- ``p-FullAWSAccess`` is the AWS-managed ``FullAWSAccess`` SCP, whose id is the same in every organisation: its
  type is known without a lookup. Detaching it is still a guardrail change (HIGH): what the target may do is now
  only what its other attached SCPs allow, so it is either a switch to an allow-list strategy or a lock-out of
  the target (responders included); the finding says so. (``RCPFullAWSAccess`` cannot be detached.)
- MEDIUM for ``RegisterDelegatedAdministrator`` and ``EnableAWSServiceAccess`` (new trust, not a removed
  control); HIGH for everything else, including ``PutResourcePolicy`` (the delegation policy) and the IAM calls
  that turn off centralised root credential management or root sessions.
- The resource is what lost its guardrail: the target or leaving account (``AwsAccount``), the policy, root,
  resource policy or service principal (``Other``), by ARN when the record carries one.
"""

from __future__ import annotations

import re

from identity_auditor.model.cloudtrail import as_text, lookup, CloudTrailRecord
from identity_auditor.model.contract import Context, RuleMeta, Severity, Trigger, Violation
from identity_auditor.model.deployment import GUARDRAIL_POLICY_TYPES

FULL_AWS_ACCESS = "p-FullAWSAccess"  # the AWS-managed FullAWSAccess SCP: a fixed id in every organisation
_ACCOUNT_ID = re.compile(r"\d{12}", re.ASCII)
_ARN_TYPE = re.compile(r":policy/[^/]+/([a-z_]+)/", re.ASCII)  # .../policy/o-xxx/service_control_policy/p-xxx
_ORGANIZATIONS_NAMES = (
    "LeaveOrganization",
    "RemoveAccountFromOrganization",
    "DetachPolicy",
    "DeletePolicy",
    "UpdatePolicy",
    "DisablePolicyType",
    "PutResourcePolicy",
    "RegisterDelegatedAdministrator",
    "DeregisterDelegatedAdministrator",
    "EnableAWSServiceAccess",
    "DisableAWSServiceAccess",
)
_IAM_NAMES = ("DisableOrganizationsRootCredentialsManagement", "DisableOrganizationsRootSessions")
_MEDIUM = frozenset({"RegisterDelegatedAdministrator", "EnableAWSServiceAccess"})
_KIND = {"SERVICE_CONTROL_POLICY": "service control", "RESOURCE_CONTROL_POLICY": "resource control"}

META = RuleMeta(
    id="organizations_guardrail_changed",
    title="AWS Organizations guardrail removed or weakened",
    severity=Severity.HIGH,
    trigger=Trigger("organizations.amazonaws.com", _ORGANIZATIONS_NAMES),
    also=(Trigger("iam.amazonaws.com", _IAM_NAMES),),
    resource_type="AwsAccount",
    finding_types=("TTPs/Defense Evasion",),
    why=(
        "Service and resource control policies, delegated administrators and trusted service access are the "
        "organisation's guardrails: they cap what anyone in a member account can do, even its administrators. "
        "Removing them, or taking an account out of the organisation, lifts every one of those limits at once."
    ),
    remediation=(
        "Confirm the change with the organisation's owners. If it is not expected, re-attach or restore the policy "
        "(aws organizations attach-policy --policy-id <id> --target-id <target>), re-enable the policy type, "
        "service access or delegated administrator, and review what the caller did next. Deny these calls to all "
        "but a break-glass role with an SCP."
    ),
    remediation_url="https://docs.aws.amazon.com/organizations/latest/userguide/orgs_manage_policies_scps.html",
    uses=("policy_types",),  # DetachPolicy / DeletePolicy: the deployment's DescribePolicy of requestParameters.policyId
    severity_note=(
        "CRITICAL for a successful LeaveOrganization and DisablePolicyType; MEDIUM for RegisterDelegatedAdministrator "
        "and EnableAWSServiceAccess; HIGH otherwise (a failed LeaveOrganization included)"
    ),
)


def _kind(policy_type: str) -> str:
    return _KIND.get(policy_type, policy_type.lower().replace("_policy", "").replace("_", " "))


def _account(account_id: str) -> tuple[str, str]:
    return f"AWS::::Account:{account_id}", "AwsAccount"


def _target(target_id: str) -> tuple[str, str | None]:
    """The resource a policy was detached from: an account, or an OU / root by its id."""
    if _ACCOUNT_ID.fullmatch(target_id):
        return _account(target_id)
    return target_id or "unknown-target", "Other"


def _policy_type(record: CloudTrailRecord, policy_id: str, ctx: Context) -> str | None:
    """The policy's type, from the record (UpdatePolicy), the fixed FullAWSAccess id, or the deployment's lookup."""
    summary = lookup(record.response_elements, "policy", "policySummary")
    recorded = as_text(lookup(summary, "type"))
    if recorded:
        return recorded.upper()
    arn_type = _ARN_TYPE.search(as_text(lookup(summary, "arn")))
    if arn_type:
        return arn_type.group(1).upper()
    if policy_id == FULL_AWS_ACCESS:
        return "SERVICE_CONTROL_POLICY"
    looked_up = ctx.policy_types.get(policy_id) if policy_id else None
    return looked_up.upper() if isinstance(looked_up, str) and looked_up else None


def _policy_change(record: CloudTrailRecord, ctx: Context, details: dict[str, str]) -> tuple[str, str, str | None] | None:
    """DetachPolicy / DeletePolicy / UpdatePolicy: ``(what was done, resource id, resource type)``, or ``None`` when
    the policy is known not to be a guardrail."""
    policy_id = as_text(record.request("policyId"))
    policy_type = _policy_type(record, policy_id, ctx)
    if policy_type is not None and policy_type not in GUARDRAIL_POLICY_TYPES:
        return None
    details["PolicyId"] = policy_id or "unknown"
    if policy_type is None:
        details["PolicyType"] = "unknown"
        details["PolicyTypeChecked"] = "false: the policy could not be looked up, so it is treated as a guardrail"
        kind = f"policy {policy_id or '(unknown)'} (type could not be checked, treated as a guardrail)"
    else:
        details["PolicyType"] = policy_type
        kind = f"{_kind(policy_type)} policy {policy_id or '(unknown)'}"
    if record.event_name == "DetachPolicy":
        target = as_text(record.request("targetId"))
        details["TargetId"] = target or "unknown"
        resource_id, resource_type = _target(target)
        if policy_id == FULL_AWS_ACCESS:
            details["FullAWSAccess"] = "true"
            return (f"detached the AWS-managed FullAWSAccess SCP ({FULL_AWS_ACCESS}) from {target or '(unknown)'}: "
                    "actions there are now allowed only by its other SCPs (an allow-list switch or a lock-out)",
                    resource_id, resource_type)
        return f"detached {kind} from {target or '(unknown)'}: its guardrails no longer apply there", resource_id, \
            resource_type
    arn = as_text(lookup(record.response_elements, "policy", "policySummary", "arn"))
    what = (f"deleted {kind}: its guardrails are gone" if record.event_name == "DeletePolicy"
            else f"changed {kind}: the guardrails it enforces may be weaker")
    return what, arn or policy_id or "unknown-policy", "Other"


def _change(record: CloudTrailRecord, ctx: Context, details: dict[str, str]) -> tuple[str, str, str | None] | None:
    """What the call did, the resource id and type; ``None`` when it is no guardrail change."""
    name, account = record.event_name, record.account_id
    if name in ("DetachPolicy", "DeletePolicy", "UpdatePolicy"):
        return _policy_change(record, ctx, details)
    if name == "DisablePolicyType":
        policy_type = as_text(record.request("policyType")).upper()
        if policy_type and policy_type not in GUARDRAIL_POLICY_TYPES:
            return None
        root = as_text(record.request("rootId"))
        details.update(PolicyType=policy_type or "unknown", RootId=root or "unknown")
        kind = f"{_kind(policy_type)} policies" if policy_type else "a policy type (not recorded, treated as a guardrail)"
        arn = as_text(lookup(record.response_elements, "root", "arn"))
        what = f"disabled {kind} in root {root or '(unknown)'}: none of them apply anywhere under it"
        return what, arn or root or "unknown-root", "Other"
    if name == "LeaveOrganization":
        return "took the account out of its organisation: no SCP or RCP applies to it any more", *_account(account)
    if name in ("RemoveAccountFromOrganization", "RegisterDelegatedAdministrator", "DeregisterDelegatedAdministrator"):
        member = as_text(record.request("accountId"))
        service = as_text(record.request("servicePrincipal"))
        details.update({k: v for k, v in (("AccountId", member), ("ServicePrincipal", service)) if v})
        member_text, service_text = member or "(unknown)", service or "(unknown service)"
        what = {"RemoveAccountFromOrganization": f"removed account {member_text} from the organisation: no SCP or RCP "
                                                 "applies to it any more",
                "RegisterDelegatedAdministrator": f"made account {member_text} a delegated administrator for "
                                                  f"{service_text}: it can now manage that service for the whole "
                                                  "organisation",
                "DeregisterDelegatedAdministrator": f"removed account {member_text} as delegated administrator for "
                                                    f"{service_text}: organisation-wide management of that service "
                                                    "stops"}[name]
        return (what, *_account(member)) if member else (what, "unknown-account", "Other")
    if name in ("EnableAWSServiceAccess", "DisableAWSServiceAccess"):
        service = as_text(record.request("servicePrincipal"))
        details["ServicePrincipal"] = service or "unknown"
        what = (f"enabled trusted access for {service or '(unknown service)'}: it can now act in every account"
                if name.startswith("Enable") else f"disabled trusted access for {service or '(unknown service)'}: its "
                "organisation-wide features (auto-enabled members, organisation trails, delegated admin) stop")
        return what, service or "unknown-service", "Other"
    if name == "PutResourcePolicy":
        arn = as_text(lookup(record.response_elements, "resourcePolicy", "resourcePolicySummary", "arn"))
        resource = arn or f"organization-resource-policy/{account}"
        return ("replaced the organisation's delegation (resource) policy: it decides which member accounts may "
                "manage Organizations, policies included", resource, "Other")
    if name in _IAM_NAMES:
        organization = as_text(record.response("organizationId"))
        features = record.response("enabledFeatures")
        details["EnabledFeatures"] = ", ".join(map(str, features)) if isinstance(features, list) else "unknown"
        what = ("turned off centralised root credential management for member accounts: their root users are "
                "managed account by account again" if name.endswith("CredentialsManagement")
                else "turned off centralised root sessions (sts:AssumeRoot) for member accounts: privileged root "
                "tasks can no longer be run centrally")
        return what, organization or f"organization-of/{account}", "Other"
    return None


def evaluate(record: CloudTrailRecord, ctx: Context) -> Violation | None:
    name = record.event_name
    if record.by_identity_center or name not in (*_ORGANIZATIONS_NAMES, *_IAM_NAMES):
        return None
    failed_leave = name == "LeaveOrganization" and not record.succeeded
    if not record.succeeded and not failed_leave:
        return None
    details: dict[str, str] = {}
    change = _change(record, ctx, details)
    if change is None:
        return None
    what, resource_id, resource_type = change
    account = record.account_id
    if failed_leave:
        details["ErrorCode"] = record.error_code or "unknown"
        description = (f"{record.caller} tried to take account {account} out of its organisation (failed: "
                f"{record.error_code or 'unknown error'}); an attempt to escape the organisation's guardrails.")
        severity: Severity | None = None  # HIGH
    else:
        description = f"{record.caller} {what} (in account {account})."
        severity = (Severity.CRITICAL if name in ("LeaveOrganization", "DisablePolicyType")
                    else Severity.MEDIUM if name in _MEDIUM else None)
    return Violation(
        description=description,
        resource_id=resource_id,
        resource_type=None if resource_type == META.resource_type else resource_type,
        severity=severity,
        details=details,
    )
