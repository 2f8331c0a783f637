"""Repeated second-factor failures of one user: someone who may know the password is trying to get past MFA.

Decisions (spec/rules.md §E; record shapes: AWS's console sign-in samples in events/ and
corpus/aws-docs/cloudtrail, the Identity Center sign-in samples in corpus/aws-docs/identity-center-2023 and the
IAM Identity Center user guide, "Understanding IAM Identity Center sign-in events"):
- IAM users and root (``ConsoleLogin``, detail-type ``AWS Console Sign In via CloudTrail``): a step ``mfa_failed``
  is a failed login (``responseElements.ConsoleLogin == "Failure"``, or an ``errorCode`` / ``errorMessage``
  without ``Success``) of an existing user whose record says MFA is in use: ``additionalEventData.MFAUsed`` is
  ``Yes`` (any case: AWS's own root sample writes ``YES``) or the record names an ``MFAIdentifier``. An IAM user
  must be named (a ``userName`` other than ``HIDDEN_DUE_TO_SECURITY_REASONS``, which is what an unknown name
  gives); root is named by its identity type. Federated and role sign-ins are not steps. The sequence fires at
  the threshold of such failures (2, ``sequences.signin_mfa_failure_after_password.threshold``) within the
  window (15 minutes, ``window_minutes``).
- CloudTrail does not say which factor failed: AWS's documented failed sign-in of an IAM user
  (``errorMessage: "Failed authentication"``) carries ``MFAUsed: "Yes"`` as well, so a wrong password of a user
  who has MFA looks the same. The finding says exactly that: what the records show (``MFAUsed``, the error
  message, the MFA device when named) and that either the password or the code was wrong.
- Identity Center (``CredentialVerification``, detail-type ``AWS Service Event via CloudTrail``): a step
  ``password_ok`` is a password verification that succeeded (``CredentialType`` ``PASSWORD``,
  ``serviceEventDetails.CredentialVerification == "Success"``); a step ``mfa_failed`` a second-factor
  verification that failed (``CredentialType`` ``TOTP``, ``RESYNC_TOTP``, ``WEBAUTHN`` or ``SMARTCARD``, the
  second factors of ``signin_identity_center_login_without_mfa``, with ``Failure`` or an ``errorCode``). It
  fires when a ``password_ok`` is followed, within the window, by at least the threshold of ``mfa_failed``
  (event time; the same second counts). Here the records do prove the password was right.
- Key: the user. IAM: account + user name lower-cased (what the user's ARN names, path aside: AWS's failed
  sign-in records carry no ``arn``, and IAM user names are unique ignoring case), or account + root. Identity
  Center: ``onBehalfOf.userId`` (since October 2024), else account + the user name the record carries
  (``userName`` of the older ``Unknown`` shape, else the name typed at sign-in; lower-cased); both record shapes. Sign-in steps before
  authentication may name no user at all (since July 2025 Identity Center drops ``userName``; AWS names the
  typed ``UserName`` only on the password challenge): such failures are kept under their sign-in
  (``AuthWorkflowID``) instead, and every ``password_ok`` is kept under its sign-in too, so a sign-in whose
  failures name nobody is still judged, and no failure counts under two keys.
- The first step is the first failure of the earliest window that qualifies (IAM), or the earliest password
  success that the failures follow (Identity Center); the verdict links every failure counted. HIGH.
"""

from __future__ import annotations

from datetime import timedelta

from identity_auditor.model.cloudtrail import CONSOLE_SIGN_IN, SERVICE_EVENT, CloudTrailRecord, named
from identity_auditor.model.contract import Context, Severity, Trigger
from identity_auditor.model.findings import record_fingerprint
from identity_auditor.model.sequence import Observation, SequenceMeta, Step, Verdict, runs
from identity_auditor.rules._lib import identity_center
from identity_auditor.rules.signin_identity_center_login_without_mfa import SECOND_FACTORS

META = SequenceMeta(
    id="signin_mfa_failure_after_password",
    title="Repeated MFA failures for one user",
    severity=Severity.HIGH,
    triggers=(
        Trigger("signin.amazonaws.com", ("ConsoleLogin",), CONSOLE_SIGN_IN),
        Trigger("signin.amazonaws.com", ("CredentialVerification",), SERVICE_EVENT),
    ),
    window=timedelta(minutes=15),
    threshold=2,
    resource_type="AwsIamUser",
    finding_types=("TTPs/Credential Access", "TTPs/Initial Access"),
    why=(
        "A user whose sign-ins keep failing at the second factor is often someone else holding the user's "
        "password (phished, reused or guessed) and being stopped only by MFA, or trying to wear the user down "
        "with prompts until one is accepted."
    ),
    remediation=(
        "Ask the user, through another channel, whether the attempts were theirs. If not, reset the password "
        "now, check that every MFA device registered to the user is theirs, revoke the user's sessions, block "
        "the source addresses and look for the same addresses elsewhere in CloudTrail."
    ),
    remediation_url="https://docs.aws.amazon.com/IAM/latest/UserGuide/id_credentials_passwords_admin-change-user.html",
)

_IAM, _ROOT, _CENTER, _FLOW = "iam", "root", "idc", "idc-flow"


def _event_id(record: CloudTrailRecord) -> str:
    return record.event_id or f"record-{record_fingerprint(record)}"


def _clip(value, limit: int = 128) -> str:
    return str(value or "")[:limit]


def _factors(record: CloudTrailRecord) -> list[str]:
    return [part.strip().upper() for part in str(record.extra("CredentialType") or "").split(",") if part.strip()]


def observe(record: CloudTrailRecord, found: frozenset[str], ctx: Context) -> list[Observation]:
    if record.event_time is None:
        return []
    if record.event_name == "ConsoleLogin":
        return _console(record)
    return _identity_center(record)


def _console(record: CloudTrailRecord) -> list[Observation]:
    result = str(record.response("ConsoleLogin") or "")
    failed = result == "Failure" or bool(record.error_code) or (bool(record.error_message) and result != "Success")
    mfa_used = str(record.extra("MFAUsed") or "").strip()
    device = named(record.extra("MFAIdentifier"))
    if not failed or not (mfa_used.lower() == "yes" or device):
        return []
    identity = record.user_identity
    account = record.account_id
    if identity.type == "Root":
        key, user, arn = f"{_ROOT}|{account}", "root", identity.arn or f"arn:{record.partition}:iam::{account}:root"
    elif identity.type == "IAMUser" and named(identity.user_name):
        user = identity.user_name
        key = f"{_IAM}|{account}|{user.lower()}"
        arn = identity.arn or f"arn:{record.partition}:iam::{account}:user/{user}"
    else:
        return []
    facts = {"user": _clip(user), "arn": _clip(arn, 256), "ip": _clip(record.source_ip_address, 64),
             "mfa_used": _clip(mfa_used or "-", 16), "error": _clip(record.error_message or record.error_code, 96)}
    if device:
        facts["device"] = _clip(device, 256)
    return [Observation(key, Step("mfa_failed", _event_id(record), record.event_time, facts))]


def _identity_center(record: CloudTrailRecord) -> list[Observation]:
    outcome = str((record.service_event_details or {}).get("CredentialVerification") or "")
    factors = _factors(record)
    if factors == ["PASSWORD"] and outcome == "Success" and record.succeeded:
        name = "password_ok"
    elif factors and all(f in SECOND_FACTORS for f in factors) and (outcome == "Failure" or record.error_code):
        name = "mfa_failed"
    else:
        return []
    uid = identity_center.user_id(record)
    user_name = named(record.user_identity.user_name) or record.typed_user_name
    flow = named(record.extra("AuthWorkflowID"))
    facts = {"user": _clip(identity_center.user_label(record) or user_name or uid or ""),
             "ip": _clip(record.source_ip_address, 64), "factor": _clip(",".join(factors), 64),
             "partition": record.partition}
    if uid:
        facts["uid"] = _clip(uid)
    if flow:
        facts["flow"] = _clip(flow)
    step = Step(name, _event_id(record), record.event_time, facts)
    user_key = f"{_CENTER}|{uid}" if uid else (f"{_CENTER}|{record.account_id}|{user_name.lower()}" if user_name else None)
    keys = [user_key] if user_key else []
    if flow and (name == "password_ok" or not user_key):
        keys.append(f"{_FLOW}|{flow}")
    return [Observation(key, step) for key in keys]


def judge(key: str, steps: list[Step], ctx: Context) -> Verdict | None:
    window = ctx.policy.window_for(META.id, META.window)
    threshold = max(1, ctx.policy.threshold_for(META.id, META.threshold) or META.threshold)
    ordered = steps  # in time order (the engine's contract)
    failures = [step for step in ordered if step.name == "mfa_failed"]
    if key.startswith((f"{_IAM}|", f"{_ROOT}|")):
        for run in runs(failures, window):
            if len(run) >= threshold:
                return _console_verdict(key, run, window)
        return None
    for password in (step for step in ordered if step.name == "password_ok"):
        after = [step for step in failures if password.time <= step.time <= password.time + window]
        if len(after) >= threshold:
            return _center_verdict(password, tuple(after), window)
    return None


def _minutes(first: Step, last: Step) -> str:
    minutes = max(1, round((last.time - first.time).total_seconds() / 60))
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


def _console_verdict(key: str, run: tuple[Step, ...], window: timedelta) -> Verdict:
    account = key.split("|")[1]
    first = run[0]
    user = first.facts.get("user", "unknown")
    who = "The root user" if key.startswith(f"{_ROOT}|") else f"IAM user {user}"
    shown = sorted({step.facts.get("mfa_used", "-") for step in run})
    errors = sorted({step.facts["error"] for step in run if step.facts.get("error")})
    addresses = sorted({step.facts.get("ip", "") for step in run} - {""})
    devices = sorted({step.facts["device"] for step in run if step.facts.get("device")})
    said = f"MFAUsed: {'/'.join(shown)}" + (f", \"{errors[0]}\"" if len(errors) == 1 else "")
    text = (f"{who} of account {account} failed {len(run)} console sign-ins within {_minutes(first, run[-1])} "
            f"from {', '.join(addresses[:3]) or 'an unknown address'}{', ...' if len(addresses) > 3 else ''}, "
            f"each recorded with MFA in use ({said}): either the password or the MFA code was wrong, and "
            f"CloudTrail does not say which.")
    details = {"UserName": user, "Failures": str(len(run)), "SourceIPAddresses": ", ".join(addresses)[:512],
               "MFAUsed": "/".join(shown), "ErrorMessages": "; ".join(errors)[:512],
               "WindowMinutes": str(int(window.total_seconds() // 60))}
    if devices:
        details["MFAIdentifier"] = ", ".join(devices)[:512]
    if key.startswith(f"{_ROOT}|"):
        return Verdict(description=text, resource_id=f"AWS::::Account:{account}", resource_type="AwsAccount",
                       steps=run, details=details, subject=f"root on {account}")
    return Verdict(description=text, resource_id=first.facts.get("arn") or f"arn:aws:iam::{account}:user/{user}",
                   steps=run, details=details, subject=f"{user} on {account}")


def _center_verdict(password: Step, failures: tuple[Step, ...], window: timedelta) -> Verdict:
    user = password.facts.get("user") or next((s.facts["user"] for s in failures if s.facts.get("user")), "")
    uid = password.facts.get("uid") or next((s.facts["uid"] for s in failures if s.facts.get("uid")), "")
    factors = sorted({step.facts.get("factor", "") for step in failures} - {""})
    addresses = sorted({step.facts.get("ip", "") for step in (password, *failures)} - {""})
    flows = sorted({step.facts["flow"] for step in (password, *failures) if step.facts.get("flow")})
    account = password.account or "unknown"
    who = f"Identity Center user {user}" if user else "An Identity Center user (not named in the records)"
    text = (f"{who} passed the password check and then failed the second factor ({', '.join(factors)}) "
            f"{len(failures)} times within {_minutes(password, failures[-1])} from "
            f"{', '.join(addresses[:3]) or 'an unknown address'} (account {account}): whoever tried knows the "
            f"password.")
    details = {"Failures": str(len(failures)), "CredentialTypes": ", ".join(factors),
               "SourceIPAddresses": ", ".join(addresses)[:512], "AuthWorkflowIDs": ", ".join(flows)[:512],
               "WindowMinutes": str(int(window.total_seconds() // 60))}
    if user:
        details["UserName"] = user
    if uid:
        details["UserId"] = uid
    resource = (identity_center.user_arn(password.facts.get("partition", "aws"), uid) if uid
                else user or (f"AuthWorkflowID {flows[0]}" if flows else "unknown user"))
    return Verdict(description=text, resource_id=resource, resource_type="Other", steps=(password, *failures),
                   details=details, subject=f"{user or uid or 'unknown user'} on {account}")
