"""A new IAM user was made an administrator (directly, or through a group it joined), usually a backdoor.

Decisions (spec/rules.md §E; record shapes: the real invictus ``CreateUser`` / ``AttachUserPolicy`` /
``CreateAccessKey`` / ``CreateLoginProfile`` records of tests/corpus/invictus, the AWS docs' ``AddUserToGroup``
record (``requestParameters.userName`` + ``groupName``) in tests/corpus/aws-docs):
- Steps (successful calls only): ``created`` = ``CreateUser`` X (``requestParameters.userName``, the ARN from
  ``responseElements.user.arn``); ``admin`` = ``AttachUserPolicy`` / ``PutUserPolicy`` on X that the event rule
  ``iam_admin_policy_attached`` judges administrative (its pure ``evaluate`` is called with the sequence's own
  context, so the organisation's ``privileged_policies`` count and the step does not depend on whether that rule
  is enabled); ``group_admin`` = ``AttachGroupPolicy`` / ``PutGroupPolicy`` on group G judged the same way;
  ``joined`` = ``AddUserToGroup`` X -> G; ``credentials`` = ``CreateAccessKey`` / ``CreateLoginProfile`` for X
  (``requestParameters.userName``, or the calling IAM user when absent; root's own credentials are not a step).
- Direct variant, key ``<account>|<user name>`` (the spec's key): fires when an ``admin`` step comes at or after a
  ``created`` step (event time, the same second counts) and at most the window after it (30 h,
  ``sequences.iam_admin_user_created.window_minutes``).
- Group variant. ``judge`` only ever sees the steps of one key, and no single record names the user, the group and
  the new user's creation together (a group grant does not list the members, a ``CreateUser`` names no group), so
  a key per user or per group cannot see all three whatever the arrival order. The group variant therefore keeps
  ``created``, ``joined``, ``group_admin`` and ``credentials`` under one key per account, ``<account>|groups/``
  (``/`` never occurs in an IAM user name, so it cannot collide with a user's key), and fires when, for a user X,
  ``created`` X, ``joined`` X -> G (at or after the creation) and ``group_admin`` on G (before or after the join)
  all fall within one window. A verdict names every user the key's steps complete (one ``judge`` call yields one
  verdict, and one group grant can complete several users at once). Limits: a group made administrator before
  the window (a long-standing ``Admins`` group) is not seen, nor policies changed through ``CreatePolicyVersion`` /
  ``SetDefaultPolicyVersion`` (the records do not say where the policy is attached); membership and grants
  removed again inside the window do not cancel the sequence (the user was an administrator meanwhile); the
  account key keeps at most the engine's cap of steps (200): an account with more user, membership and
  credential changes in 30 hours loses the oldest. A user made administrator both ways gets both findings.
- "Credentials raise it": the sequence is CRITICAL already, so credentials cannot raise its severity. They raise
  its weight instead: the verdict lists every credential created for the user within the window after its
  creation (access key id, console password) in the description and ``Credentials``, and a verdict with
  credentials is a distinct mark (its first step is the ``CreateUser`` under the name ``created+credentials``):
  when the key comes after the grant, the same finding (same Id: the ``CreateUser`` event) is raised once more,
  so Security Hub shows the credential to revoke; the page is not repeated (a sequence pages once per Id and
  severity). Without credentials the finding says none were seen yet (the user cannot sign in or call APIs).
- The first step is always the user's ``CreateUser`` (the earliest one that completes the sequence), whatever the
  arrival order; the verdict links it, the grant(s) (and join) and the credentials. The resource is the user
  (``AwsIamUser``, the ARN of ``CreateUser``'s response, else built without a path).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from datetime import timedelta

from identity_auditor.model.cloudtrail import as_name, CloudTrailRecord
from identity_auditor.model.contract import Context, Severity, Trigger
from identity_auditor.model.findings import record_fingerprint
from identity_auditor.model.sequence import Observation, SequenceMeta, Step, Verdict
from identity_auditor.model.text import clip
from identity_auditor.rules import iam_admin_policy_attached

GROUPS = "groups/"  # the account-wide key's suffix (group variant)
_CREDENTIALS = ("CreateAccessKey", "CreateLoginProfile")
_NAMES = ("CreateUser", "AttachUserPolicy", "PutUserPolicy", "AttachGroupPolicy", "PutGroupPolicy",
          "AddUserToGroup", *_CREDENTIALS)

META = SequenceMeta(
    id="iam_admin_user_created",
    title="New IAM user made an administrator",
    severity=Severity.CRITICAL,
    triggers=(Trigger("iam.amazonaws.com", _NAMES),),
    window=timedelta(hours=30),
    resource_type="AwsIamUser",
    finding_types=("TTPs/Persistence", "TTPs/Privilege Escalation"),
    why=(
        "A user created and given administrative power within hours is the classic backdoor after a compromise: "
        "long-lived credentials with full control that survive the attacker's original access being revoked."
    ),
    remediation=(
        "Confirm the user with its owner. If it is not expected: deactivate and delete its access keys and console "
        "password (aws iam update-access-key --status Inactive, delete-login-profile), detach its policies and "
        "remove it from groups, then delete it; find out which credentials created it and rotate them, and review "
        "what the user did (CloudTrail userIdentity.userName). Grant people access through IAM Identity Center."
    ),
    remediation_url="https://docs.aws.amazon.com/IAM/latest/UserGuide/id_users_manage.html#id_users_deleting",
    severity_note="CRITICAL; credentials for the user update the finding to name them",
    compliance=("CIS5 4.4",),
)


def observe(record: CloudTrailRecord, found: frozenset[str], ctx: Context) -> list[Observation]:
    if record.event_time is None or not record.succeeded or record.event_name not in _NAMES:
        return []
    account, name = record.account_id, record.event_name
    by = clip(record.caller, 128)
    facts: dict[str, str]
    keys: tuple[str, ...]
    if name == "CreateUser":
        created = record.response("user")
        created = created if isinstance(created, dict) else {}
        user = as_name(record.request("userName")) or as_name(created.get("userName"))
        if user is None:
            return []
        arn = created.get("arn")
        arn = arn if isinstance(arn, str) and arn else f"arn:{record.partition}:iam::{account}:user/{user}"
        facts = {"user": clip(user, 128), "by": by, "arn": clip(arn, 256)}
        step, keys = "created", (_user_key(account, user), _groups_key(account))
    elif name in _CREDENTIALS:
        user = as_name(record.request("userName"))
        if user is None and record.user_identity.type == "IAMUser":
            user = as_name(record.user_identity.user_name)
        if user is None:
            return []
        facts = {"user": clip(user, 128), "by": by, "what": _credential(record)}
        step, keys = "credentials", (_user_key(account, user), _groups_key(account))
    elif name == "AddUserToGroup":
        user, group = as_name(record.request("userName")), as_name(record.request("groupName"))
        if user is None or group is None:
            return []
        facts = {"user": clip(user, 128), "group": clip(group, 128), "by": by}
        step, keys = "joined", (_groups_key(account),)
    else:
        violation = iam_admin_policy_attached.evaluate(record, ctx)
        if violation is None:
            return []
        grant = clip(violation.details.get("PolicyArn") or violation.details.get("PolicyName") or "an inline policy",
                     200)
        if name.endswith("GroupPolicy"):
            group = as_name(record.request("groupName"))
            if group is None:
                return []
            facts = {"group": clip(group, 128), "grant": grant, "by": by}
            step, keys = "group_admin", (_groups_key(account),)
        else:
            user = as_name(record.request("userName"))
            if user is None:
                return []
            facts = {"user": clip(user, 128), "grant": grant, "by": by}
            step, keys = "admin", (_user_key(account, user),)
    event_id = record.event_id or f"record-{record_fingerprint(record)}"
    return [Observation(key, Step(step, event_id, record.event_time, facts)) for key in keys]


def judge(key: str, steps: list[Step], ctx: Context) -> Verdict | None:
    window = ctx.policy.window_for(META.id, META.window)
    ordered = steps  # in time order (the engine's contract)
    if key.endswith(f"|{GROUPS}"):
        return _judge_groups(key, ordered, window)
    admins = [step for step in ordered if step.name == "admin"]
    if not admins:
        return None
    admin_times = [step.time for step in admins]  # in time order: the grants within a window are one slice
    for created in (step for step in ordered if step.name == "created"):
        grants = admins[bisect_left(admin_times, created.time):bisect_right(admin_times, created.time + window)]
        if grants:
            credentials = _credentials_after(created, ordered, window)
            account = key.partition("|")[0]
            return _verdict(account, [(created, tuple(grants), None, credentials)], window)
    return None


def _judge_groups(key: str, ordered: list[Step], window: timedelta) -> Verdict | None:
    account = key.partition("|")[0]
    grants: dict[str, list[Step]] = {}
    for step in ordered:
        if step.name == "group_admin":
            grants.setdefault(step.facts.get("group", "").lower(), []).append(step)
    if not grants:
        return None
    joins = [step for step in ordered if step.name == "joined" and step.facts.get("group", "").lower() in grants]
    completed = []
    done: set[str] = set()
    for created in (step for step in ordered if step.name == "created"):
        user = created.facts.get("user", "").lower()
        if user in done:
            continue
        for join in joins:
            if join.facts.get("user", "").lower() != user or not created.time <= join.time <= created.time + window:
                continue
            group_grants = tuple(grant for grant in grants[join.facts.get("group", "").lower()]
                                 if max(join.time, grant.time) - min(created.time, grant.time) <= window)
            if group_grants:
                completed.append((created, group_grants, join, _credentials_after(created, ordered, window)))
                done.add(user)
                break
    return _verdict(account, completed, window) if completed else None


def _credentials_after(created: Step, ordered: list[Step], window: timedelta) -> tuple[Step, ...]:
    user = created.facts.get("user", "").lower()
    return tuple(step for step in ordered if step.name == "credentials" and step.facts.get("user", "").lower() == user
                 and created.time <= step.time <= created.time + window)


def _verdict(account: str, completed: list[tuple[Step, tuple[Step, ...], Step | None, tuple[Step, ...]]],
             window: timedelta) -> Verdict:
    """One finding for the users ``completed`` names (each: its creation, the grants, the join when it came
    through a group, its credentials); the first user's creation is the first step."""
    created, grants, join, credentials = completed[0]
    user = created.facts.get("user", "unknown")
    with_credentials = sum(1 for *_, creds in completed if creds)
    if len(completed) == 1:
        mark = "created+credentials" if credentials else "created"
    else:
        mark = f"created+{len(completed)}users+{with_credentials}credentials"
    steps: list[Step] = [Step(mark, created.event_id, created.time, created.facts, created.account, created.region)]
    seen = {created.identity}
    for index, (c, g, j, k) in enumerate(completed):
        for step in ((c,) if index else ()) + ((j,) if j else ()) + g + k:
            if step.identity not in seen:
                seen.add(step.identity)
                steps.append(step)
    grant = grants[0].facts.get("grant", "an administrative policy")
    via = f" through group {join.facts.get('group', 'unknown')} ({grant})" if join else f" ({grant})"
    later = _after((max(join.time, grants[0].time) if join else grants[0].time) - created.time)
    text = (f"IAM user {user} was created in account {account} by {created.facts.get('by', 'unknown')} and made an "
            f"administrator{via} {later}")
    if credentials:
        text += f"; credentials were created for it: {', '.join(_what(step) for step in credentials)}."
    else:
        text += "; no credentials for it were seen yet."
    if len(completed) > 1:
        others = [c.facts.get("user", "unknown") for c, *_ in completed[1:]]
        text += f" Also made administrators the same way: {', '.join(others[:5])}{', ...' if len(others) > 5 else ''}."
    details = {
        "UserName": user,
        "CreatedBy": created.facts.get("by", "unknown"),
        "Grant": grant,
        "GrantedBy": grants[0].facts.get("by", "unknown"),
        "Credentials": clip(", ".join(_what(step) for step in credentials) or "none seen", 512),
        "WindowHours": f"{window.total_seconds() / 3600:g}",
    }
    if join:
        details["Group"] = join.facts.get("group", "unknown")
    if len(completed) > 1:
        details["Users"] = clip(", ".join(c.facts.get("user", "unknown") for c, *_ in completed), 512)
    return Verdict(description=text, resource_id=created.facts.get("arn") or f"arn:aws:iam::{account}:user/{user}",
                   resource_type="AwsIamUser", steps=tuple(steps), details=details, subject=user)


def _what(step: Step) -> str:
    return step.facts.get("what", "credentials")


def _after(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    if minutes < 1:
        return "within a minute"
    if minutes < 120:
        return f"{minutes} minute{'s' if minutes != 1 else ''} later"
    return f"{minutes // 60} hours later"


def _credential(record: CloudTrailRecord) -> str:
    if record.event_name == "CreateLoginProfile":
        return "console password"
    key = record.response("accessKey")
    key_id = key.get("accessKeyId") if isinstance(key, dict) else None
    return clip(f"access key {key_id}" if isinstance(key_id, str) and key_id else "access key", 64)


def _user_key(account: str, user: str) -> str:
    return f"{account}|{user.lower()}"  # IAM names are not distinguished by case: Backdoor and backdoor are one user


def _groups_key(account: str) -> str:
    return f"{account}|{GROUPS}"
