"""A role was created, or its trust policy replaced, with a trust policy that lets in too many callers.

The analysis is :func:`identity_auditor.rules._lib.trust.analyze_trust_policy` (shared with the AWS Config rule);
its module docs say exactly what is unsafe: a ``*`` principal without a condition pinning the caller,
``NotPrincipal`` with Allow, web identity federation without a pinned ``aud`` or ``sub`` (or with a
bare-wildcard ``sub``), SAML federation without ``SAML:aud``, and AWS accounts outside the zone of trust:
the role's own account, the organisation policy's ``trusted_accounts`` and, when the deployment knows its
organisation (``ctx.organization``, read with Organizations ``ListAccounts``), every account of it.

Decisions (spec/rules.md §A):
- The document is ``requestParameters.assumeRolePolicyDocument`` (CreateRole) or
  ``requestParameters.policyDocument`` (UpdateAssumeRolePolicy): plain JSON in real records; the
  URL-encoded copy in ``responseElements.role`` is used only when the request lacks the document.
- Success only. CRITICAL when any problem is CRITICAL (``*`` principals, ``NotPrincipal``), else HIGH, and
  MEDIUM when the only problems are outside accounts that must present an ``sts:ExternalId`` (a vendor).
  The finding names every outside account (``OutsideAccounts``) and, when the organisation's accounts were
  not read (a CLI run, a deployment without ``OrganizationId``, or ``ListAccounts`` refused), says so and
  how to widen the zone (``ZoneOfTrust``): an account of your own organisation is then reported too.
- No exclusions for CloudFormation or Identity Center: an unsafe trust policy is unsafe whoever writes
  it. Only a caller the organisation policy explicitly allow-lists for this rule is skipped (by the
  engine, as for every rule); accepted exceptions are better written as suppressions.
- A trust policy that cannot be parsed yields no finding: IAM validates the document, so a successful
  call with a malformed one does not happen; if it ever does, the engine and CLI keep running.
- The resource is the role ARN from ``responseElements.role.arn``, else built from the partition,
  account, path (CreateRole) and ``roleName``; UpdateAssumeRolePolicy records carry no path, so a role
  under a path gets ``role/<name>``.

State (AWS Config, change-triggered on ``AWS::IAM::Role`` and periodic, so that an unsafe role that never changes
again is still re-asserted in Security Hub, which deletes active findings not updated for 90 days; spec/rules.md §B): :func:`evaluate_state` runs
the same analysis on the role's current trust policy (a dict, or the URL-encoded JSON string of the
configuration item), with the organisation's ``trusted_accounts`` and the role's own account as trusted.
NON_COMPLIANT with the same severity (CRITICAL for ``*`` principals and ``NotPrincipal``, else HIGH);
COMPLIANT when no problem is found; NOT_APPLICABLE when the snapshot carries no trust policy or it cannot
be read (IAM validates trust policies, so this means the collector could not fetch it). Identity Center
reserved roles (``AWSReservedSSO_*``, pinned to their ``AWSSSO_*_DO_NOT_DELETE`` SAML provider with
``SAML:aud``) and service-linked roles (``/aws-service-role/``, trusting one service) are judged like any
other role: no exclusion, their AWS-written policies simply pass.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from identity_auditor.model.cloudtrail import CloudTrailRecord
from identity_auditor.model.contract import (
    Compliance,
    Context,
    RuleMeta,
    Severity,
    StateResult,
    StateTrigger,
    Trigger,
    Violation,
)
from identity_auditor.model.text import clip
from identity_auditor.rules._lib.trust import TrustProblem, analyze_trust_policy


if TYPE_CHECKING:  # annotations only: the snapshots are built by the collectors, on the Config path
    from identity_auditor.model.snapshots import RoleSnapshot

_DOCUMENT = {"CreateRole": "assumeRolePolicyDocument", "UpdateAssumeRolePolicy": "policyDocument"}
_ACTION = {"CreateRole": "created role", "UpdateAssumeRolePolicy": "changed the trust policy of role"}
MAX_REASONS = 3

META = RuleMeta(
    id="iam_role_trust_policy_unsafe",
    title="IAM role trust policy lets in untrusted callers",
    severity=Severity.HIGH,
    trigger=Trigger("iam.amazonaws.com", tuple(_DOCUMENT)),
    resource_type="AwsIamRole",
    finding_types=(
        "TTPs/Initial Access",
        "TTPs/Persistence",
        "Software and Configuration Checks/AWS Security Best Practices",
    ),
    why=(
        "A role's trust policy decides who can get its credentials. A wildcard principal, an unpinned "
        "OIDC or SAML federation, or an unknown account lets outsiders assume the role, a common backdoor."
    ),
    remediation=(
        "Restrict the trust policy: name exact principals; for a * principal add aws:PrincipalOrgID or "
        "aws:PrincipalArn; for OIDC pin <provider>:aud and a specific <provider>:sub (e.g. repo:org/repo:ref:"
        "refs/heads/main); for SAML pin SAML:aud; trust only your organisation's accounts. Check what the "
        "role did since the change (CloudTrail AssumeRole* events)."
    ),
    severity_note="CRITICAL for * principals",
    remediation_url="https://docs.aws.amazon.com/IAM/latest/UserGuide/confused-deputy.html",
    compliance=("CIS5 4.4", "CIS5 1.20"),
    # periodic as well: a role that never changes again is otherwise never judged again, and Security Hub deletes an
    # active finding not updated for 90 days (the sweep re-imports it every ConfigEvaluationFrequency, <= 24 h)
    state=StateTrigger("AWS::IAM::Role", periodic=True, change_triggered=True),
    uses=("organization",),
)


def evaluate(record: CloudTrailRecord, ctx: Context) -> Violation | None:
    if not record.succeeded:
        return None
    role = (record.response_elements or {}).get("role")
    role = role if isinstance(role, dict) else {}
    document = record.request(_DOCUMENT.get(record.event_name, "")) or role.get("assumeRolePolicyDocument")
    if not isinstance(document, (str, dict)):
        return None
    try:
        problems = analyze_trust_policy(document, trusted_accounts=ctx.policy.trusted_accounts,
                                        own_account=record.account_id, organization=ctx.organization)
    except ValueError:
        return None  # IAM rejects malformed documents: see the module docs
    if not problems:
        return None

    role_name = str(record.request("roleName") or role.get("roleName") or "unknown")
    role_arn = role.get("arn") or _role_arn(record, role_name)
    severity, summary, details = _summarise(problems, role_name, ctx)
    caller = record.user_identity.display_name
    action = _ACTION.get(record.event_name, f"changed ({record.event_name}) role")
    return Violation(
        description=(
            f"{caller} {action} {role_name} in account {record.account_id} with an unsafe trust policy: "
            f"{summary}."
        ),
        resource_id=str(role_arn),
        severity=severity,
        details=details,
    )


def evaluate_state(role: RoleSnapshot, ctx: Context) -> StateResult:
    """The role's current trust policy under the same analysis (AWS Config; see the module docs)."""
    name = clip(role.name, 64)
    if role.trust_policy is None:
        return StateResult(Compliance.NOT_APPLICABLE, f"No trust policy was collected for role {name}.")
    trusted = ctx.policy.trusted_accounts
    try:
        problems = analyze_trust_policy(role.trust_policy, trusted_accounts=trusted,
                                        own_account=role.account_id, organization=ctx.organization)
    except ValueError as error:
        return StateResult(Compliance.NOT_APPLICABLE,
                           clip(f"The trust policy of role {name} could not be read: {error}", 256))
    if not problems:
        return StateResult(Compliance.COMPLIANT,
                           clip(f"Trust policy of role {name}: no unpinned wildcard principal, NotPrincipal or "
                                f"unpinned OIDC/SAML federation; only accounts in the zone of trust.", 256))
    severity, summary, details = _summarise(problems, role.name, ctx)
    first = problems[0]
    more = f" (+{len(problems) - 1} more)" if len(problems) > 1 else ""
    return StateResult(
        Compliance.NON_COMPLIANT,
        clip(f"{severity.value}: {first.where} {first.principal}: {first.reason}{more}.", 256),
        Violation(
            description=(f"Role {role.name} in account {role.account_id} has an unsafe trust policy: "
                         f"{summary}."),
            resource_id=role.arn,
            severity=severity,
            details=details,
            subject=role.name,
        ),
    )


def _summarise(problems: list[TrustProblem], role_name: str, ctx: Context) -> tuple[Severity, str, dict[str, str]]:
    """The severity, the one-line summary (first problem, count of the others) and the details of a
    non-empty list of problems; shared by the event and the state paths."""
    severity = max((problem.severity for problem in problems), key=lambda severity: severity.rank)
    principals = list(dict.fromkeys(problem.principal for problem in problems))
    first = problems[0]
    more = f" (+{len(problems) - 1} more)" if len(problems) > 1 else ""
    details = {
        "RoleName": role_name,
        "Problems": str(len(problems)),
        "Principals": ", ".join(principals),
        **{f"Reason{number}": _reason(problem) for number, problem in enumerate(problems[:MAX_REASONS], 1)},
    }
    outside = list(dict.fromkeys(problem.account for problem in problems if problem.account))
    if outside:
        details["OutsideAccounts"] = ", ".join(outside)
        details["ZoneOfTrust"] = _zone(ctx)
    summary = f"{first.reason}, for principal {first.principal}{more}"
    if outside and len(outside) > 1:
        summary += f"; outside accounts {', '.join(outside)}"
    return severity, summary, details


def _zone(ctx: Context) -> str:
    """What the zone of trust was, and how to widen it when the organisation's accounts were not read."""
    widen = ("add accounts you trust to trusted_accounts in the organisation policy, or deploy with OrganizationId "
             "and organizations:ListAccounts so every account of the organisation is trusted")
    organization = ctx.organization
    if organization is None:
        return f"the role's account and trusted_accounts; the organisation's accounts are not known ({widen})"
    if not organization.readable:
        return (f"the role's account and trusted_accounts; the accounts of {organization.id or 'the organisation'} "
                f"could not be read: {organization.problem} ({widen})")
    return (f"the role's account, trusted_accounts and the {len(organization.accounts)} accounts of "
            f"{organization.id or 'the organisation'}")


def _reason(problem: TrustProblem) -> str:
    return f"{problem.severity.value} {problem.where} {problem.principal}: {problem.reason}"


def _role_arn(record: CloudTrailRecord, role_name: str) -> str:
    path = record.request("path") if record.event_name == "CreateRole" else None
    path = path if isinstance(path, str) and path.startswith("/") and path.endswith("/") else "/"
    return f"arn:{record.partition}:iam::{record.account_id}:role{path}{role_name}"
