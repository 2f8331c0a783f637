"""One actor removed a guardrail or switched off security tooling, then granted administrative power.

Decisions (spec/rules.md §E; the steps are the event rules' own verdicts, so every record shape those rules read
is a step here):
- Step ``guardrail``: a record on which ``organizations_guardrail_changed`` or ``security_tooling_disabled`` fired
  (``found``: the event rules that fired before the organisation policy, so a change the organisation suppresses
  or allow-lists as a single finding still counts as a step: the policy applies to the sequence's own finding).
  A failed ``LeaveOrganization`` is such a finding (the attempt is the signal) and counts as the first step too:
  trying to escape the organisation and then granting admin power is the same intent. But the attempt removed
  nothing (the SCPs still bound the new admin power), so a sequence whose guardrail steps are all failed attempts
  is HIGH, not CRITICAL, and the finding says the attempt failed.
- Step ``escalation``: a record on which ``iam_admin_policy_attached`` fired (a privileged managed policy
  attached, an admin inline policy or default version, or ``SetDefaultPolicyVersion``).
- Key: the actor, as the caller's ARN. An assumed-role session is keyed by its session ARN
  (``arn:<partition>:sts::<account>:assumed-role/<role>/<session>``), which is exactly the issuing role and the
  session name: the same person's re-assumed sessions share it when the session name is theirs (Identity Center
  and console federation put the user's name there), while SDK-generated session names (``aws-go-sdk-<ns>``)
  differ per assumption. A record without ``userIdentity.arn`` gets the same string built from the session issuer
  and the session part of ``principalId``. The key does not follow role assumption: a user who assumes a role
  and acts as its session is two actors (linking them would need the ``AssumeRole`` record as a step; CloudTrail's
  ``sourceIdentity`` is unset in every record we hold).
- Order: the escalation must come after the guardrail step (event time, the same second counts) and at most the
  window after it (90 min, ``sequences.guardrail_removed_then_escalation.window_minutes``): admin power granted
  first and tooling switched off afterwards is a different story (covering tracks), and each step's own finding
  still fires.
- The first step is the earliest guardrail step that an escalation follows within the window; the verdict links it,
  any further guardrail steps before the escalation, and the first such escalation. CRITICAL (HIGH for failed
  attempts only, above). The resource is the actor: the IAM user, the role behind the session (its ARN is built
  without a path, which session records do not carry), the account for root, else the key (``Other``).
"""

from __future__ import annotations

from datetime import timedelta

from identity_auditor.model.cloudtrail import CloudTrailRecord
from identity_auditor.model.contract import Context, Severity, Trigger
from identity_auditor.model.findings import record_fingerprint
from identity_auditor.model.sequence import Observation, SequenceMeta, Step, Verdict
from identity_auditor.rules import iam_admin_policy_attached, organizations_guardrail_changed, security_tooling_disabled

GUARDRAIL_RULES = (organizations_guardrail_changed.META.id, security_tooling_disabled.META.id)
ESCALATION_RULE = iam_admin_policy_attached.META.id
_TARGETS = (("userName", "user"), ("groupName", "group"), ("roleName", "role"))


def _triggers() -> tuple[Trigger, ...]:
    return tuple(trigger for rule in (organizations_guardrail_changed, security_tooling_disabled,
                                      iam_admin_policy_attached) for trigger in rule.META.triggers)


META = SequenceMeta(
    id="guardrail_removed_then_escalation",
    title="Guardrail removed, then administrative power granted by the same actor",
    severity=Severity.CRITICAL,
    triggers=_triggers(),
    window=timedelta(minutes=90),
    resource_type="Other",
    finding_types=("TTPs/Defense Evasion", "TTPs/Privilege Escalation"),
    why=(
        "Removing an organisation guardrail or switching off security tooling and then granting administrative "
        "power is how an intruder escalates unseen: the controls that would have limited or reported the new "
        "power were taken away first, by the same hands."
    ),
    remediation=(
        "Treat the actor as compromised: deactivate its keys or revoke its role sessions, remove the administrative "
        "power it granted, restore the guardrail or tooling (re-attach the SCP, re-enable GuardDuty or Security "
        "Hub, delete archive rules), and review everything the actor did. Deny these calls to all but a break-glass "
        "role with an SCP."
    ),
    remediation_url="https://docs.aws.amazon.com/organizations/latest/userguide/orgs_manage_policies_scps.html",
    severity_note="HIGH when the only guardrail steps are failed attempts (LeaveOrganization denied)",
)


def actor_key(record: CloudTrailRecord) -> str | None:
    """The actor's key: the caller's ARN; an assumed-role session's ARN (role + session name), built from the
    issuer and ``principalId`` when the record has no ARN; ``None`` when the record names nobody."""
    identity = record.user_identity
    arn = (identity.arn or "").strip()
    if identity.type == "AssumedRole" and ":assumed-role/" not in arn:
        issuer = identity.issuer
        role = (issuer.user_name or (issuer.arn or "").rsplit("/", 1)[-1]) if issuer else ""
        session = (identity.principal_id or "").partition(":")[2]
        if role and session:
            account = identity.account_id or (issuer.account_id if issuer else None) or record.account_id
            return f"arn:{record.partition}:sts::{account}:assumed-role/{role}/{session}"
    if arn:
        return arn
    if identity.principal_id:
        return f"{identity.type or 'unknown'}:{identity.account_id or record.account_id}:{identity.principal_id}"
    return None


def _escalation(record: CloudTrailRecord) -> str:
    """What was granted to whom, short: ``AttachUserPolicy AdministratorAccess to user/alice``."""
    policy = str(record.request("policyArn") or record.request("policyName") or "").rsplit("/", 1)[-1]
    target = next((f"{kind}/{record.request(field)}" for field, kind in _TARGETS if record.request(field)), "")
    return " ".join(part for part in (record.event_name, policy, f"to {target}" if target else "") if part)[:128]


def observe(record: CloudTrailRecord, found: frozenset[str], ctx: Context) -> list[Observation]:
    guardrail = sorted(found.intersection(GUARDRAIL_RULES))
    escalation = ESCALATION_RULE in found
    key = actor_key(record)
    if record.event_time is None or key is None or not (guardrail or escalation):
        return []
    facts = {"who": record.caller[:128], "event": record.event_name[:64],
             "service": record.event_source.split(".", 1)[0][:32]}
    if guardrail:
        facts.update(rule=guardrail[0], ok="yes" if record.succeeded else "no")
        if not record.succeeded:
            facts["error"] = str(record.error_code or record.error_message or "unknown")[:64]
        name = "guardrail"
    else:
        facts["what"] = _escalation(record)
        name = "escalation"
    event_id = record.event_id or f"record-{record_fingerprint(record)}"
    return [Observation(key, Step(name, event_id, record.event_time, facts))]


def judge(key: str, steps: list[Step], ctx: Context) -> Verdict | None:
    window = ctx.policy.window_for(META.id, META.window)
    ordered = steps  # in time order (the engine's contract)
    guardrails = [step for step in ordered if step.name == "guardrail"]
    escalations = [step for step in ordered if step.name == "escalation"]
    for guardrail in guardrails:
        escalation = next((step for step in escalations
                           if guardrail.time <= step.time <= guardrail.time + window), None)
        if escalation is not None:
            removed = tuple(step for step in guardrails if guardrail.time <= step.time <= escalation.time)
            return _verdict(key, removed, escalation)
    return None


def _guardrail_text(step: Step) -> str:
    event, service = step.facts.get("event", "a change"), step.facts.get("service", "")
    if step.facts.get("ok") == "no":
        return f"tried {event} on {service} (failed: {step.facts.get('error', 'unknown')})"
    return f"{event} on {service}"


def _resource(key: str, first: Step) -> tuple[str, str]:
    """The actor as a resource: (id, ASFF type)."""
    if ":assumed-role/" in key:
        head, _, rest = key.partition(":assumed-role/")  # arn:<partition>:sts::<account>
        partition, account = head.split(":")[1], head.rsplit(":", 1)[-1]
        return f"arn:{partition}:iam::{account}:role/{rest.split('/', 1)[0]}", "AwsIamRole"
    if key.startswith("arn:") and ":user/" in key:
        return key, "AwsIamUser"
    if key.startswith("arn:") and key.endswith(":root"):
        return f"AWS::::Account:{key.split(':')[4] or first.account or 'unknown'}", "AwsAccount"
    return key, "Other"


def _verdict(key: str, removed: tuple[Step, ...], escalation: Step) -> Verdict:
    first = removed[0]
    attempts_only = all(step.facts.get("ok") == "no" for step in removed)
    minutes = int((escalation.time - first.time).total_seconds() // 60)
    account = escalation.account or first.account or "unknown"
    who = escalation.facts.get("who") or first.facts.get("who") or key
    changes = "; ".join(dict.fromkeys(_guardrail_text(step) for step in removed))
    text = (f"{who} weakened guardrails ({changes}) and {minutes} minute{'s' if minutes != 1 else ''} later granted "
            f"administrative power ({escalation.facts.get('what', 'an admin policy')}) in account {account}"
            + (": the guardrail change failed, so the organisation's policies still bound that power." if attempts_only
               else ": the controls that would have limited or reported it were removed first."))
    resource_id, resource_type = _resource(key, first)
    details = {"Actor": key[:256], "GuardrailChanges": changes[:512],
               "GuardrailRules": ", ".join(dict.fromkeys(step.facts.get("rule", "") for step in removed)),
               "Escalation": escalation.facts.get("what", "unknown"), "MinutesBetween": str(minutes)}
    if attempts_only:
        details["GuardrailChangeFailed"] = "true"
    return Verdict(description=text, resource_id=resource_id, resource_type=resource_type,
                   steps=(*removed, escalation), severity=Severity.HIGH if attempts_only else None,
                   details=details, subject=who)
