"""Someone set an IAM user's console password, then that user signed in from the address the password was set from.

Decisions (spec/rules.md §E; record shapes: the real invictus ``CreateLoginProfile`` (``requestParameters.userName``,
``passwordResetRequired``) and ``ConsoleLogin`` records, AWS's documented ``UpdateLoginProfile``):
- Step ``changed``: a successful ``CreateLoginProfile`` / ``UpdateLoginProfile`` that names the user
  (``requestParameters.userName``) and whose caller is someone else: an IAM user with another name, root, a role
  session (an administrator through Identity Center or a pipeline is still "Y"), a federated user. Self-service is
  no takeover and is not a step: an IAM user setting its own password (the same name, ignoring case), and root
  (re)creating its own password (no ``userName``: ``root_credentials_changed`` reports that). Identity Center's own
  calls are never steps. The address is the call's ``sourceIPAddress``; a call without one, or from an AWS service
  (``AWS Internal``, ``*.amazonaws.com``, e.g. CloudFormation creating the profile), names no address a person can
  sign in from and is not a step.
- Step ``login``: a successful ``ConsoleLogin`` (``responseElements.ConsoleLogin == "Success"``) of an IAM user
  (``userIdentity.type == "IAMUser"``), the user named by ``userIdentity.userName`` (else the last segment of the
  ARN). Failed logins are the brute-force sequences'; root, SAML and Identity Center sign-ins are not logins of an
  IAM user's password.
- Key: account + target user name + source address (never the address alone), so only a login *as X from the
  address Y used* meets the change. IAM user names are unique ignoring case (IAM refuses ``Bob`` beside ``bob``)
  and a caller may type either, so the name is compared lower-cased; the address as given (lower-cased, for IPv6).
- Order: the login must come after the change (event time; the same second counts) and at most the window after
  it (6 h, ``sequences.password_reset_takeover.window_minutes``). A login before the change is just the user.
- The first step is the earliest change that a login follows within the window; the verdict links it, any further
  changes before the login, and the first such login. HIGH. The resource is the IAM user taken over (the login's
  ARN, else built from the account). A helpdesk reset followed by the user's own login from the same shared egress
  address (an office NAT) looks the same: the finding says who set the password, from where, and whether the
  login used MFA, so that the reader can tell. Trusted callers (a helpdesk role) go in
  ``rules.password_reset_takeover.allow``: a change they make is no step at all, because the engine's allow check
  reads only the record that completes the sequence, which is usually the user's own login.
"""

from __future__ import annotations

from bisect import bisect_left
from datetime import datetime, timedelta

from identity_auditor.model.cloudtrail import API_CALL, CONSOLE_SIGN_IN, ROOT_USER_NAME, CloudTrailRecord
from identity_auditor.model.contract import Context, Severity, Trigger
from identity_auditor.model.findings import record_fingerprint
from identity_auditor.model.sequence import Observation, SequenceMeta, Step, Verdict

_CHANGES = ("CreateLoginProfile", "UpdateLoginProfile")
_NOT_AN_ADDRESS = frozenset({"", "aws internal"})

META = SequenceMeta(
    id="password_reset_takeover",
    title="Console password set by someone else, then used from their address",
    severity=Severity.HIGH,
    triggers=(Trigger("iam.amazonaws.com", _CHANGES, API_CALL),
              Trigger("signin.amazonaws.com", ("ConsoleLogin",), CONSOLE_SIGN_IN)),
    window=timedelta(hours=6),
    resource_type="AwsIamUser",
    finding_types=("TTPs/Persistence", "TTPs/Initial Access"),
    why=(
        "Whoever sets another user's console password knows it. When that user then signs in from the very "
        "address the password was set from, the person who set it is most likely the one using the account: "
        "a takeover or a backdoor login, not the user's own sign-in."
    ),
    remediation=(
        "Ask the user whether they signed in. If not: delete or reset the login profile (aws iam "
        "delete-login-profile), revoke the user's sessions, check its MFA devices and access keys, review what "
        "the session did, and deactivate the credentials of whoever set the password. Require a password reset "
        "at first sign-in and MFA for every console user."
    ),
    remediation_url="https://docs.aws.amazon.com/IAM/latest/UserGuide/id_credentials_passwords_admin-change-user.html",
)


def _address(record: CloudTrailRecord) -> str | None:
    address = (record.source_ip_address or "").strip()
    if address.lower() in _NOT_AN_ADDRESS or address.lower().endswith(".amazonaws.com"):
        return None
    return address.lower()


def _event_id(record: CloudTrailRecord) -> str:
    return record.event_id or f"record-{record_fingerprint(record)}"


def _login_user(record: CloudTrailRecord) -> str | None:
    identity = record.user_identity
    if identity.user_name:
        return identity.user_name
    arn = identity.arn or ""
    return arn.rsplit("/", 1)[-1] if ":user/" in arn else None


def observe(record: CloudTrailRecord, found: frozenset[str], ctx: Context) -> list[Observation]:
    address = _address(record)
    if record.event_time is None or address is None or record.by_identity_center:
        return []
    identity = record.user_identity
    if record.event_name in _CHANGES and record.event_source == "iam.amazonaws.com":
        target = record.request("userName")
        if not isinstance(target, str) or not target.strip() or not record.succeeded:
            return []
        target = target.strip()
        if identity.type == "Root" and target == ROOT_USER_NAME:
            return []  # root's own password, as CloudTrail may name it
        if identity.type == "IAMUser" and (identity.user_name or "").lower() == target.lower():
            return []  # self-service: a user setting its own password is no takeover
        if ctx.policy.allows(META.id, *identity.arns):
            return []  # a trusted caller (the engine's own allow check sees only the completing login's caller)
        facts = {"user": target[:128], "by": str(identity.arn or record.caller)[:128],
                 "who": record.caller[:128], "ip": address[:64], "event": record.event_name,
                 "partition": record.partition}
        step = Step("changed", _event_id(record), record.event_time, facts)
    elif record.event_name == "ConsoleLogin" and record.event_source == "signin.amazonaws.com":
        user = _login_user(record)
        if identity.type != "IAMUser" or not user or str(record.response("ConsoleLogin") or "") != "Success" \
                or not record.succeeded:
            return []
        target = user
        facts = {"user": user[:128], "arn": str(identity.arn or "")[:256], "ip": address[:64],
                 "mfa": str(record.extra("MFAUsed") or "unknown")[:16]}
        step = Step("login", _event_id(record), record.event_time, facts)
    else:
        return []
    return [Observation(f"{record.account_id}|{target.lower()}|{address}", step)]


def judge(key: str, steps: list[Step], ctx: Context) -> Verdict | None:
    window = ctx.policy.window_for(META.id, META.window)
    ordered = steps  # in time order (the engine's contract)
    changes = [step for step in ordered if step.name == "changed"]
    logins = [step for step in ordered if step.name == "login"]
    if not changes or not logins:
        return None
    login_times = [step.time for step in logins]  # in time order: the first login at or after a change is found
    for change in changes:
        at = bisect_left(login_times, change.time)
        login = logins[at] if at < len(logins) and login_times[at] <= change.time + window else None
        if login is not None:
            made = tuple(step for step in changes if change.time <= step.time <= login.time)
            return _verdict(key, made, login)
    return None


def _elapsed(start: datetime, end: datetime) -> str:
    seconds = int((end - start).total_seconds())
    if seconds < 120:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    if seconds < 2 * 3600:
        return f"{seconds // 60} minutes"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


def _verdict(key: str, changes: tuple[Step, ...], login: Step) -> Verdict:
    account = key.split("|", 1)[0]
    first = changes[0]
    user, address = login.facts.get("user", "unknown"), login.facts.get("ip", "unknown")
    who = first.facts.get("who", first.facts.get("by", "someone"))
    mfa = login.facts.get("mfa", "unknown")
    how = {"No": " without MFA", "Yes": " with MFA"}.get(mfa, "")
    verb = "created" if first.facts.get("event") == "CreateLoginProfile" else "changed"
    text = (f"{who} {verb} the console password of IAM user {user} in account {account} from {address}, and "
            f"{_elapsed(first.time, login.time)} later {user} signed in to the console{how} from that same address.")
    resource = login.facts.get("arn") or f"arn:{first.facts.get('partition', 'aws')}:iam::{account}:user/{user}"
    details = {"UserName": user, "SourceIPAddress": address, "PasswordSetBy": first.facts.get("by", "unknown"),
               "PasswordChange": ", ".join(dict.fromkeys(step.facts.get("event", "") for step in changes)),
               "MFAUsed": mfa}
    return Verdict(description=text, resource_id=resource, steps=(*changes, login), details=details,
                   subject=f"{user} on {account}")
