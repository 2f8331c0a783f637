"""A role was opened to an outside account (or to anyone) and given administrative power: a backdoor role.

Decisions (spec/rules.md §E; record shapes: the real invictus ``CreateRole``, ``UpdateAssumeRolePolicy`` (Stratus
Red Team's ``stratus-red-team-backdoor-r-role`` trusting ``arn:aws:iam::193672423079:root``) and
``AttachRolePolicy`` / ``PutRolePolicy`` records of tests/corpus/invictus):
- Step ``trust``: a successful ``CreateRole`` or ``UpdateAssumeRolePolicy`` on which the event rule
  ``iam_role_trust_policy_unsafe`` finds an AWS account outside the zone of trust (its ``OutsideAccounts``: the
  role's own account, the organisation policy's ``trusted_accounts`` and, when known, the organisation's
  accounts are inside) or a ``*`` principal (its CRITICAL verdicts: ``Principal`` ``*`` without a condition that
  pins the caller, ``NotPrincipal`` with Allow). The rule's pure ``evaluate`` is called with the sequence's own
  context, so the zone of trust is the deployment's. Unpinned OIDC / SAML federation (the rule's other HIGH
  problems) is not a step: the spec's row names outside accounts and ``*``, and those problems have their own
  finding.
- A vendor trust (every statement admitting the outside account requires ``sts:ExternalId``, the event rule's
  MEDIUM) counts: an external id is a value the role's author chooses and shares, not an identity, so it does not
  stop an attacker who wrote the trust policy for an account they own, and administrative power for a third
  party is the backdoor whoever holds it. The finding says the trust requires an external id; an accepted vendor
  belongs in ``trusted_accounts`` (then it is no step) or in a suppression.
- Step ``admin``: ``AttachRolePolicy`` / ``PutRolePolicy`` on the role that ``iam_admin_policy_attached`` judges
  administrative (a privileged managed policy, an inline policy allowing ``*`` / ``iam:*`` on everything or
  ``NotAction``); that rule leaves Identity Center reserved and service-linked roles out, and so does this one.
- Key: ``<account>|<role name>``. Either order (Stratus attaches ``AdministratorAccess`` one second before it
  opens the trust), within the window of each other (30 h, ``sequences.iam_backdoor_admin_role.window_minutes``;
  the same second counts). A later safe trust policy or a detach does not cancel the sequence: the role was a
  backdoor in between (Stratus reverts the trust four minutes later), long enough to take credentials that
  outlive the change.
- The verdict links the earliest qualifying pair (trust, admin), the earlier of the two first (ties by event id),
  so its Id does not depend on the arrival order. CRITICAL. The resource is the role (``AwsIamRole``, the ARN the
  trust step saw: ``responseElements.role.arn`` of ``CreateRole``, else built without a path).
"""

from __future__ import annotations

from datetime import timedelta

from identity_auditor.model.cloudtrail import as_name, CloudTrailRecord
from identity_auditor.model.contract import Context, Severity, Trigger
from identity_auditor.model.findings import record_fingerprint
from identity_auditor.model.sequence import Observation, SequenceMeta, Step, Verdict
from identity_auditor.model.text import clip
from identity_auditor.rules import iam_admin_policy_attached, iam_role_trust_policy_unsafe

_TRUST = ("CreateRole", "UpdateAssumeRolePolicy")
_ADMIN = ("AttachRolePolicy", "PutRolePolicy")

META = SequenceMeta(
    id="iam_backdoor_admin_role",
    title="Role opened to an outside account and given administrative power",
    severity=Severity.CRITICAL,
    triggers=(Trigger("iam.amazonaws.com", _TRUST + _ADMIN),),
    window=timedelta(hours=30),
    resource_type="AwsIamRole",
    finding_types=("TTPs/Persistence", "TTPs/Privilege Escalation", "TTPs/Initial Access"),
    why=(
        "A role whose trust policy admits an account you do not control, or anyone, and that holds administrative "
        "power lets that account take full control of yours at any time, with no credentials of yours: the "
        "classic cross-account backdoor."
    ),
    remediation=(
        "Restore the role's trust policy to trusted principals only (aws iam update-assume-role-policy) and remove "
        "the administrative policy (detach-role-policy / delete-role-policy), or delete the role. Look for "
        "AssumeRole calls on it from the outside account (CloudTrail), revoke its active sessions (aws iam "
        "put-role-policy with an aws:TokenIssueTime deny, or the console's Revoke sessions) and find out who made "
        "the change."
    ),
    remediation_url="https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_use_revoke-sessions.html",
    severity_note="CRITICAL",
    compliance=("CIS5 4.4", "CIS5 1.20"),
)


def observe(record: CloudTrailRecord, found: frozenset[str], ctx: Context) -> list[Observation]:
    if record.event_time is None or not record.succeeded:
        return []
    role = as_name(record.request("roleName"))
    if record.event_name in _TRUST:
        if _ran_quietly(iam_role_trust_policy_unsafe.META.id, found, ctx):
            return []  # the trust rule ran and found nothing wrong: no step, nothing evaluated twice
        response = record.response("role")
        role = role or as_name(response.get("roleName") if isinstance(response, dict) else None)
        violation = iam_role_trust_policy_unsafe.evaluate(record, ctx)
        if violation is None or role is None:
            return []
        outside = [a.strip() for a in violation.details.get("OutsideAccounts", "").split(",") if a.strip()]
        anyone = violation.severity is Severity.CRITICAL
        if not outside and not anyone:
            return []
        admits = ([f"any principal ({clip(violation.details.get('Principals', '*'), 64)})"] if anyone else []) + [
            f"account {account}" for account in outside]
        who = "anyone it admits" if anyone else "that account" if len(outside) == 1 else "those accounts"
        facts = {"admits": clip(", ".join(admits), 200), "who": who, "arn": clip(violation.resource_id, 256),
                 "event": record.event_name}
        if violation.severity is Severity.MEDIUM:
            facts["external_id"] = "required"
        step = "trust"
    elif record.event_name in _ADMIN:
        if _ran_quietly(iam_admin_policy_attached.META.id, found, ctx):
            return []
        violation = iam_admin_policy_attached.evaluate(record, ctx)
        if violation is None or role is None:
            return []
        facts = {"grant": clip(violation.details.get("PolicyArn") or violation.details.get("PolicyName")
                               or "an inline policy", 200)}
        step = "admin"
    else:
        return []
    facts.update(role=clip(role, 128), by=clip(record.caller, 128))
    event_id = record.event_id or f"record-{record_fingerprint(record)}"
    # IAM names are not distinguished by case: a role named BACKDOOR in one call and Backdoor in another is one role
    return [Observation(f"{record.account_id}|{role.lower()}", Step(step, event_id, record.event_time, facts))]


def _ran_quietly(rule_id: str, found: frozenset[str], ctx: Context) -> bool:
    """The event rule ran on the record (it is enabled) and found nothing: the record is no step. A rule the
    organisation disabled did not run, so the sequence judges the record itself."""
    return ctx.policy.is_enabled(rule_id) and rule_id not in found


def judge(key: str, steps: list[Step], ctx: Context) -> Verdict | None:
    window = ctx.policy.window_for(META.id, META.window)
    order = steps  # in time order (the engine's contract)
    # The earliest pair: the first step (in time order) with a step of the other kind at or after it within the
    # window, paired with the first such step. One pass, however many steps the key holds.
    nearest: dict[str, Step | None] = {"trust": None, "admin": None}  # walking backwards: the next of each kind
    pair = None
    for first in reversed(order):
        partner = nearest["admin" if first.name == "trust" else "trust"]
        if partner is not None and partner.time - first.time <= window:
            pair = (first, partner)  # the last one found walking backwards is the earliest
        nearest[first.name] = first
    if pair is None:
        return None
    first, partner = pair
    trust, admin = (first, partner) if first.name == "trust" else (partner, first)
    return _verdict(key, trust, admin)


def _verdict(key: str, trust: Step, admin: Step) -> Verdict:
    account, _, role = key.partition("|")
    role = trust.facts.get("role", role)  # as written (the key is case-folded)
    first, second = sorted((trust, admin), key=lambda step: (step.time, step.event_id, step.name))
    admits = trust.facts.get("admits", "an outside account")
    changed = "created with" if trust.facts.get("event") == "CreateRole" else "given"
    vendor = (" (the trust requires an sts:ExternalId, the usual vendor pattern: if this vendor is trusted, add "
              "its account to trusted_accounts)") if trust.facts.get("external_id") else ""
    text = (f"Role {role} in account {account} was {changed} a trust policy admitting {admits}{vendor} by "
            f"{trust.facts.get('by', 'unknown')} and given administrative power "
            f"({admin.facts.get('grant', 'unknown')}) by {admin.facts.get('by', 'unknown')}: "
            f"{trust.facts.get('who', 'that account')} can act as an administrator here.")
    details = {
        "RoleName": role,
        "Admits": admits,
        "TrustChange": trust.facts.get("event", "unknown"),
        "TrustChangedBy": trust.facts.get("by", "unknown"),
        "Grant": admin.facts.get("grant", "unknown"),
        "GrantedBy": admin.facts.get("by", "unknown"),
        "ExternalIdRequired": "yes" if trust.facts.get("external_id") else "no",
    }
    return Verdict(description=text, resource_id=trust.facts.get("arn") or f"arn:aws:iam::{account}:role/{role}",
                   resource_type="AwsIamRole", steps=(first, second), details=details, subject=role)
