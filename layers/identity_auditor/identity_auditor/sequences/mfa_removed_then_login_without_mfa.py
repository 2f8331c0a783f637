"""A user's MFA device was removed, then the user signed in without MFA: the removal opened the door.

Decisions (spec/rules.md §E; record shapes: the samples of ``iam_mfa_device_removed``,
``sso_user_mfa_device_removed``, ``signin_console_login_without_mfa`` and
``signin_identity_center_login_without_mfa`` in events/, AWS's sign-in samples in corpus/aws-docs):
- IAM step ``removed``: a ``DeactivateMFADevice`` (``iam.amazonaws.com``, ``AWS API Call via CloudTrail``) on
  which ``iam_mfa_device_removed`` fires and that names the device's owner (``requestParameters.userName``, or
  the IAM user calling for itself; root's device by its serial number, ``AWS ROOT USER`` or root calling
  without ``userName``). ``DeleteVirtualMFADevice`` is not a step: it names no user, and IAM refuses to delete a
  virtual device that is still assigned ("You must deactivate a user's virtual MFA device before you can
  delete it", IAM API reference), so the ``DeactivateMFADevice`` before it is the removal.
- IAM step ``login``: a ``ConsoleLogin`` (``AWS Console Sign In via CloudTrail``) on which
  ``signin_console_login_without_mfa`` fires: a successful sign-in of an IAM user or root without MFA (SAML
  and MFA-authenticated sessions excluded, as there).
- Identity Center step ``removed``: a ``DeleteMfaDeviceForUser`` (``sso-directory.amazonaws.com``,
  ``AWS API Call via CloudTrail``) on which ``sso_user_mfa_device_removed`` fires and whose user is known: the
  ``userId`` of the request, else (self-service in the AWS access portal) the caller, by ``onBehalfOf.userId``
  (2025 ``IdentityCenterUser`` shape, and ``Unknown`` records since October 2024) or by ``userName`` (older
  ``Unknown`` records). An administrator's removal that names no user cannot be tied to a sign-in and is not a
  step.
- Identity Center step ``login``: a successful ``UserAuthentication`` (``AWS Service Event via CloudTrail``)
  with one factor: ``CredentialType`` lists no second factor (``TOTP``, ``RESYNC_TOTP``, ``WEBAUTHN``,
  ``SMARTCARD``) and is not ``EXTERNAL_IDP`` (the external provider does MFA; Identity Center devices play no
  part). Unlike ``signin_identity_center_login_without_mfa``, a sign-in with ``DeviceEnrollmentRequired`` counts:
  after a removal, whoever had only the password registered a new second factor during that sign-in, which is
  how a takeover is completed; the finding says so.
- Key: the user. IAM: account + user name lower-cased (IAM user names are unique ignoring case; the request
  names the user, not its ARN's path), or account + root. Identity Center: the user id, else account + user name
  (lower-cased) for records of before October 2024 that carry no id.
- Order: the login must come after the removal (event time; the same second counts) and within the window
  (24 h, ``sequences.mfa_removed_then_login_without_mfa.window_minutes``). The first step is the earliest removal
  that a login follows; the verdict links it and the first such login. CRITICAL.
"""

from __future__ import annotations

from datetime import timedelta

from identity_auditor.model.cloudtrail import API_CALL, CONSOLE_SIGN_IN, SERVICE_EVENT, CloudTrailRecord, named
from identity_auditor.model.contract import Context, Severity, Trigger
from identity_auditor.model.findings import record_fingerprint
from identity_auditor.model.sequence import Observation, SequenceMeta, Step, Verdict
from identity_auditor.rules import iam_mfa_device_removed, signin_console_login_without_mfa, sso_user_mfa_device_removed
from identity_auditor.rules._lib import identity_center
from identity_auditor.rules.signin_identity_center_login_without_mfa import EXTERNAL_IDP, SECOND_FACTORS

META = SequenceMeta(
    id="mfa_removed_then_login_without_mfa",
    title="MFA removed, then a sign-in without MFA",
    severity=Severity.CRITICAL,
    triggers=(
        Trigger("iam.amazonaws.com", ("DeactivateMFADevice",), API_CALL),
        Trigger("signin.amazonaws.com", ("ConsoleLogin",), CONSOLE_SIGN_IN),
        Trigger("sso-directory.amazonaws.com", ("DeleteMfaDeviceForUser",), API_CALL),
        Trigger("signin.amazonaws.com", ("UserAuthentication",), SERVICE_EVENT),
    ),
    window=timedelta(hours=24),
    resource_type="AwsIamUser",
    finding_types=("TTPs/Defense Evasion", "TTPs/Initial Access", "TTPs/Persistence"),
    why=(
        "Removing a user's MFA device and then signing in as that user with a password alone is how an "
        "account takeover is completed: the second factor that stood in the way is gone, and the next sign-in "
        "(or the device registered during it) belongs to whoever removed it."
    ),
    remediation=(
        "Contact the user through another channel. If the removal or the sign-in was not theirs, disable the "
        "user or reset the password, remove every MFA device registered since the removal and register the "
        "user's own, revoke the user's sessions, and review what the session did and who removed the device."
    ),
    remediation_url="https://docs.aws.amazon.com/IAM/latest/UserGuide/id_credentials_mfa_disable.html",
)

_IAM, _ROOT, _CENTER = "iam", "root", "idc"


def _clip(value, limit: int = 128) -> str:
    return str(value or "")[:limit]


def _event_id(record: CloudTrailRecord) -> str:
    return record.event_id or f"record-{record_fingerprint(record)}"


def observe(record: CloudTrailRecord, found: frozenset[str], ctx: Context) -> list[Observation]:
    if record.event_time is None:
        return []
    observed = {
        "DeactivateMFADevice": _iam_removal,
        "ConsoleLogin": _console_login,
        "DeleteMfaDeviceForUser": _center_removal,
        "UserAuthentication": _center_login,
    }.get(record.event_name)
    found_step = observed(record, ctx) if observed else None
    if not found_step:
        return []
    key, name, facts = found_step
    return [Observation(key, Step(name, _event_id(record), record.event_time, facts))]


def _iam_removal(record: CloudTrailRecord, ctx: Context):
    violation = iam_mfa_device_removed.evaluate(record, ctx)
    owner = violation.details.get("DeviceOwner") if violation else None
    if not owner:
        return None
    account = record.account_id
    facts = {"by": _clip(record.caller), "device": _clip(violation.details.get("SerialNumber"), 256),
             "ip": _clip(record.source_ip_address, 64)}
    if violation.resource_type == "AwsAccount":  # root's device
        return f"{_ROOT}|{account}", "removed", {**facts, "user": "root"}
    return f"{_IAM}|{account}|{owner.lower()}", "removed", {**facts, "user": _clip(owner)}


def _console_login(record: CloudTrailRecord, ctx: Context):
    if signin_console_login_without_mfa.evaluate(record, ctx) is None:
        return None
    identity = record.user_identity
    account = record.account_id
    facts = {"ip": _clip(record.source_ip_address, 64), "mfa_used": _clip(record.extra("MFAUsed") or "-", 16)}
    if identity.type == "Root":
        return f"{_ROOT}|{account}", "login", {**facts, "user": "root"}
    name = named(identity.user_name) or (identity.arn.rsplit("/", 1)[-1] if identity.arn and "/" in identity.arn
                                         else None)
    if not name:
        return None
    arn = identity.arn or f"arn:{record.partition}:iam::{account}:user/{name}"
    return f"{_IAM}|{account}|{name.lower()}", "login", {**facts, "user": _clip(name), "arn": _clip(arn, 256)}


def _center_key(record: CloudTrailRecord, uid: str | None, name: str | None) -> str | None:
    if uid:
        return f"{_CENTER}|{uid}"
    return f"{_CENTER}|{record.account_id}|{name.lower()}" if name else None


def _center_removal(record: CloudTrailRecord, ctx: Context):
    violation = sso_user_mfa_device_removed.evaluate(record, ctx)
    if violation is None:
        return None
    uid = violation.details.get("UserId")
    self_service = violation.details.get("RemovedBy") == "self-service"
    name = identity_center.user_name(record) if self_service else None
    key = _center_key(record, uid, name)
    if not key:
        return None
    by = "the user" if self_service else identity_center.caller(record)
    facts = {"by": _clip(by), "removed_by": _clip(violation.details.get("RemovedBy"), 64),
             "user": _clip(name or uid), "ip": _clip(record.source_ip_address, 64), "partition": record.partition}
    if uid:
        facts["uid"] = _clip(uid)
    return key, "removed", facts


def _center_login(record: CloudTrailRecord, ctx: Context):
    if (record.service_event_details or {}).get("UserAuthentication") != "Success" or not record.succeeded:
        return None
    factors = [part.strip().upper() for part in str(record.extra("CredentialType") or "").split(",") if part.strip()]
    if not factors or EXTERNAL_IDP in factors or SECOND_FACTORS.intersection(factors):
        return None
    uid = identity_center.user_id(record)
    key = _center_key(record, uid, identity_center.user_name(record))
    if not key:
        return None
    facts = {"user": _clip(identity_center.user_label(record) or uid), "ip": _clip(record.source_ip_address, 64),
             "factor": _clip(",".join(factors), 64), "partition": record.partition}
    if uid:
        facts["uid"] = _clip(uid)
    if str(record.extra("DeviceEnrollmentRequired") or "").strip().lower() == "true":
        facts["enrolled"] = "true"
    return key, "login", facts


def judge(key: str, steps: list[Step], ctx: Context) -> Verdict | None:
    window = ctx.policy.window_for(META.id, META.window)
    ordered = steps  # in time order (the engine's contract)
    logins = [step for step in ordered if step.name == "login"]
    for removal in (step for step in ordered if step.name == "removed"):
        login = next((step for step in logins if removal.time <= step.time <= removal.time + window), None)
        if login:
            return _verdict(key, removal, login)
    return None


def _after(removal: Step, login: Step) -> str:
    minutes = int((login.time - removal.time).total_seconds() // 60)
    if minutes < 60:
        return f"{minutes} minute{'s' if minutes != 1 else ''}"
    hours = minutes // 60
    return f"{hours} h {minutes % 60:02d} min"


def _verdict(key: str, removal: Step, login: Step) -> Verdict:
    account = removal.account or "unknown"
    later = _after(removal, login)
    address = login.facts.get("ip") or "an unknown address"
    details = {"RemovedBy": removal.facts.get("by", ""), "RemovalSourceIPAddress": removal.facts.get("ip", ""),
               "LoginSourceIPAddress": login.facts.get("ip", ""), "MinutesBetween": str(
                   int((login.time - removal.time).total_seconds() // 60))}
    if key.startswith(f"{_CENTER}|"):
        uid = removal.facts.get("uid") or login.facts.get("uid") or ""
        user = login.facts.get("user") or removal.facts.get("user") or uid or "unknown"
        by = ("removed one of their own MFA devices" if removal.facts.get("removed_by") == "self-service"
              else f"had an MFA device removed by {removal.facts.get('by', 'someone')}")
        text = (f"Identity Center user {user} {by} in account {account}, and {later} later signed in with "
                f"{login.facts.get('factor', 'one factor')} only from {address}")
        text += (", registering a new MFA device during that sign-in." if login.facts.get("enrolled")
                 else ", without a second factor.")
        details.update(CredentialType=login.facts.get("factor", ""), UserName=user)
        if uid:
            details["UserId"] = uid
        if login.facts.get("enrolled"):
            details["DeviceEnrollmentRequired"] = "true"
        resource = identity_center.user_arn(login.facts.get("partition", "aws"), uid) if uid else user
        return Verdict(description=text, resource_id=resource, resource_type="Other", steps=(removal, login),
                       details=details, subject=f"{user} on {account}")
    details["SerialNumber"] = removal.facts.get("device", "")
    if key.startswith(f"{_ROOT}|"):
        text = (f"{removal.facts.get('by', 'Someone')} deactivated the root user's MFA device in account {account}, "
                f"and {later} later root signed in to the console without MFA from {address}.")
        return Verdict(description=text, resource_id=f"AWS::::Account:{account}", resource_type="AwsAccount",
                       steps=(removal, login), details=details, subject=f"root on {account}")
    user = login.facts.get("user") or removal.facts.get("user", "unknown")
    details["UserName"] = user
    text = (f"{removal.facts.get('by', 'Someone')} deactivated the MFA device of IAM user {user} in account "
            f"{account}, and {later} later {user} signed in to the console without MFA from {address}.")
    return Verdict(description=text, resource_id=login.facts.get("arn") or f"arn:aws:iam::{account}:user/{user}",
                   steps=(removal, login), details=details, subject=f"{user} on {account}")
