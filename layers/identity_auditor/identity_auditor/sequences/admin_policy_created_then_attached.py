"""A customer managed policy with an administrative document was created (or given one) and then attached.

Decisions (spec/rules.md §E; record shapes: the real invictus ``CreatePolicy`` records (``requestParameters``
``policyName``, ``path``, ``policyDocument`` as plain JSON; ``responseElements.policy.arn``) and
``AttachRolePolicy`` of a customer managed policy (``policyArn`` + ``roleName``) in tests/corpus/invictus; the
IAM API reference for ``CreatePolicyVersion`` (``policyArn``, ``policyDocument``, ``setAsDefault``; the response's
``policyVersion.versionId``) and ``SetDefaultPolicyVersion`` (``policyArn``, ``versionId``)):
- Step ``created``: a successful ``CreatePolicy`` whose document
  :func:`identity_auditor.rules._lib.permissions.admin_grant` judges administrative (an Allow of every IAM action
  on every IAM resource, or ``NotAction`` on everything); the ARN is ``responseElements.policy.arn``, else built
  from the partition, account, ``path`` and ``policyName``. A document that cannot be read is no step (IAM
  refuses malformed documents, so the record is damaged).
- Step ``version``: a ``CreatePolicyVersion`` with an administrative document and ``setAsDefault`` true (the
  same test as ``iam_admin_policy_attached``): the policy grants it from then on. A version that is not made the
  default grants nothing yet: it is kept as ``staged`` (with its version id) and becomes the grant when a
  ``SetDefaultPolicyVersion`` of that version id (step ``default``) follows within the window.
- Step ``attached``: a successful ``AttachUserPolicy`` / ``AttachGroupPolicy`` / ``AttachRolePolicy`` of a
  customer managed policy (AWS managed ARNs, ``arn:<partition>:iam::aws:policy/...``, cannot be created by anyone
  and never touch the state). Attachments by Identity Center (a permission set's customer managed policy
  reference provisioned into its reserved role) count too: the policy reached a principal either way.
- Key: ``<account>|<policy ARN>``; ARNs are compared as recorded. Order: the attachment at or after
  ``CreatePolicy`` (the policy did not exist before), at most the window later (30 h,
  ``sequences.admin_policy_created_then_attached.window_minutes``); for a new default version either order
  within the window (a policy attached first and then given an administrative default version also ends with
  the principal an administrator).
- The verdict links the earliest grant that an attachment completes, and every attachment that qualifies with
  it; its first step is the earliest of them (for ``CreatePolicy`` always the creation). HIGH. When more
  principals get the policy later, the verdict is a distinct mark (the first step under the name
  ``<step>+<n>attached``), so the same finding (same Id) is raised once more naming them all; the page is not
  repeated (once per Id and severity). The resource is the policy (``AwsIamPolicy``).
"""

from __future__ import annotations

from datetime import timedelta

from identity_auditor.model.cloudtrail import as_name, CloudTrailRecord
from identity_auditor.model.contract import Context, Severity, Trigger
from identity_auditor.model.findings import record_fingerprint
from identity_auditor.model.sequence import Observation, SequenceMeta, Step, Verdict
from identity_auditor.model.text import clip
from identity_auditor.rules._lib.permissions import admin_grant

_ATTACH = {"AttachUserPolicy": ("user", "userName"), "AttachGroupPolicy": ("group", "groupName"),
           "AttachRolePolicy": ("role", "roleName")}
_NAMES = ("CreatePolicy", "CreatePolicyVersion", "SetDefaultPolicyVersion", *_ATTACH)

META = SequenceMeta(
    id="admin_policy_created_then_attached",
    title="Administrative managed policy created and attached",
    severity=Severity.HIGH,
    triggers=(Trigger("iam.amazonaws.com", _NAMES),),
    window=timedelta(hours=30),
    resource_type="AwsIamPolicy",
    finding_types=("TTPs/Privilege Escalation", "TTPs/Persistence"),
    why=(
        "A customer managed policy that allows everything, attached soon after it was written, gives a principal "
        "administrative power under an innocuous policy name that reviews of AdministratorAccess attachments miss."
    ),
    remediation=(
        "Confirm the policy and its attachment with their owners. If not expected, detach it from every principal "
        "(aws iam list-entities-for-policy, detach-user-policy / detach-group-policy / detach-role-policy), delete "
        "it or restore a reviewed default version, and review what the principals did since. Write least-privilege "
        "policies (IAM Access Analyzer policy generation)."
    ),
    remediation_url="https://docs.aws.amazon.com/IAM/latest/UserGuide/access_policies_manage-attach-detach.html",
    severity_note="HIGH",
    compliance=("CIS5 4.4",),
)


def observe(record: CloudTrailRecord, found: frozenset[str], ctx: Context) -> list[Observation]:
    if record.event_time is None or not record.succeeded:
        return []
    name = record.event_name
    by = clip(record.caller, 128)
    if name == "CreatePolicy":
        grant = _grant(record.request("policyDocument"))
        policy = record.response("policy")
        arn = as_name(policy.get("arn")) if isinstance(policy, dict) else None
        policy_name = as_name(record.request("policyName"))
        if arn is None and policy_name:
            path = record.request("path")
            path = path if isinstance(path, str) and path.startswith("/") and path.endswith("/") else "/"
            arn = f"arn:{record.partition}:iam::{record.account_id}:policy{path}{policy_name}"
        if grant is None or arn is None:
            return []
        step, facts = "created", {"grant": grant}
    elif name == "CreatePolicyVersion":
        arn, grant = as_name(record.request("policyArn")), _grant(record.request("policyDocument"))
        if grant is None or arn is None:
            return []
        created = record.response("policyVersion")
        version = as_name(created.get("versionId")) if isinstance(created, dict) else None
        if str(record.request("setAsDefault")).lower() == "true":
            step, facts = "version", {"grant": grant}
        elif version:
            step, facts = "staged", {"grant": grant, "version": clip(version, 32)}
        else:
            return []
    elif name == "SetDefaultPolicyVersion":
        arn, version = as_name(record.request("policyArn")), as_name(record.request("versionId"))
        if arn is None or version is None:
            return []
        step, facts = "default", {"version": clip(version, 32)}
    elif name in _ATTACH:
        kind, field = _ATTACH[name]
        arn = as_name(record.request("policyArn"))
        if arn is None or ":iam::aws:policy/" in arn:
            return []
        step, facts = "attached", {"principal": clip(f"{kind} {record.request(field) or '(not in the record)'}", 160)}
    else:
        return []
    facts.update(by=by, event=name, policy=clip(arn, 400))
    event_id = record.event_id or f"record-{record_fingerprint(record)}"
    # a managed policy ARN is resolved ignoring case, as IAM does
    return [Observation(f"{record.account_id}|{clip(arn, 400).lower()}", Step(step, event_id, record.event_time,
                                                                               facts))]


def judge(key: str, steps: list[Step], ctx: Context) -> Verdict | None:
    window = ctx.policy.window_for(META.id, META.window)
    order = steps  # in time order (the engine's contract)
    attaches = [step for step in order if step.name == "attached"]
    if not attaches:
        return None
    best: tuple[Step, ...] | None = None
    for grant in _grants(order, window):
        when = grant[-1].time  # when the policy started to grant administrative power
        if grant[0].name == "created":
            linked = [step for step in attaches if when <= step.time <= when + window]
        else:
            linked = [step for step in attaches if abs(step.time - when) <= window]
        if not linked:
            continue
        candidate = tuple(sorted((*grant, *linked), key=lambda step: (step.time, step.event_id, step.name)))
        if best is None or (candidate[0].time, candidate[0].event_id) < (best[0].time, best[0].event_id):
            best = candidate
    return _verdict(key, best, window) if best else None


def _grants(order: list[Step], window: timedelta) -> list[tuple[Step, ...]]:
    """Each moment the policy started to grant administrative power, as the steps that show it."""
    grants: list[tuple[Step, ...]] = [(step,) for step in order if step.name in ("created", "version")]
    for default in (step for step in order if step.name == "default"):
        staged = [step for step in order if step.name == "staged" and step.facts.get("version") ==
                  default.facts.get("version") and step.time <= default.time <= step.time + window]
        if staged:
            grants.append((staged[-1], default))
    return grants


def _verdict(key: str, steps: tuple[Step, ...], window: timedelta) -> Verdict:
    account, _, arn = key.partition("|")
    grant = next(step for step in steps if step.name in ("created", "version", "staged"))
    arn = grant.facts.get("policy", arn)  # as written (the key is case-folded)
    attaches = [step for step in steps if step.name == "attached"]
    principals = list(dict.fromkeys(step.facts.get("principal", "a principal") for step in attaches))
    first = steps[0]
    if len(principals) > 1:
        first = Step(f"{first.name}+{len(principals)}attached", first.event_id, first.time, first.facts,
                     first.account, first.region)
    how = {"created": "was created", "version": "was given a new default version",
           "staged": "was given a new version, made the default later,"}[grant.name]
    shown = ", ".join(principals[:5]) + (", ..." if len(principals) > 5 else "")
    text = (f"Managed policy {arn.rsplit('/', 1)[-1]} in account {account} {how} by {grant.facts.get('by', 'unknown')} "
            f"with a document granting administrative power ({grant.facts.get('grant', 'unknown')}) and is attached "
            f"to {shown} (by {attaches[0].facts.get('by', 'unknown')}).")
    details = {
        "PolicyArn": arn,
        "Grant": grant.facts.get("grant", "unknown"),
        "WrittenBy": grant.facts.get("by", "unknown"),
        "AttachedTo": clip(", ".join(principals), 512),
        "AttachedBy": clip(", ".join(dict.fromkeys(step.facts.get("by", "unknown") for step in attaches)), 256),
        "WindowHours": f"{window.total_seconds() / 3600:g}",
    }
    return Verdict(description=text, resource_id=arn, resource_type="AwsIamPolicy", steps=(first, *steps[1:]),
                   details=details, subject=arn.rsplit("/", 1)[-1])


def _grant(document) -> str | None:
    if not isinstance(document, (str, dict)):
        return None
    try:
        reason = admin_grant(document)
    except ValueError:
        return None
    return clip(reason, 200) if reason else None
