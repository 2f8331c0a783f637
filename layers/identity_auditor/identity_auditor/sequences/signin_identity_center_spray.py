"""Many failed Identity Center password checks from one address against several users (password spraying).

Decisions (spec/rules.md §E; record shapes: AWS's failed sign-in sample (``CredentialVerification``,
``serviceEventDetails.CredentialVerification == "Failure"``, no ``errorCode``) in
corpus/aws-docs/identity-center-2023 and the IAM Identity Center user guide, "Understanding IAM Identity Center
sign-in events"; both record shapes, see :mod:`identity_auditor.rules._lib.identity_center`):
- Step ``failed``: a ``CredentialVerification`` (detail-type ``AWS Service Event via CloudTrail``) whose
  ``additionalEventData.CredentialType`` is ``PASSWORD`` and that failed (``Failure`` or an ``errorCode``).
  Second-factor failures are ``signin_mfa_failure_after_password``'s. A record without a source address ties
  to nobody and is not a step.
- Key: the source address alone, as the spec says (one address spraying several Identity Center instances is
  one spray); the finding names the account of its first failure and every account sprayed.
- The user of a failure: ``onBehalfOf.userId``, else the user name the record carries (``userName`` of the older
  ``Unknown`` shape, else the name typed at sign-in; lower-cased). A failure naming no user (an unknown name
  gives ``HIDDEN_DUE_TO_SECURITY_REASONS``, and 2025 records drop ``userName``) counts as a distinct user per
  distinct ``AuthWorkflowID`` (per event when it has none either).
- Fires when one window (15 minutes, ``sequences.signin_identity_center_spray.window_minutes``) holds at least
  the threshold of failures (10, ``threshold``) across at least 3 distinct users (fixed: fewer users is password
  guessing against a user, not spraying). The first failure of the earliest window that qualifies is the first
  step; every failure of that window is linked. MEDIUM.
"""

from __future__ import annotations

from datetime import timedelta

from identity_auditor.model.cloudtrail import SERVICE_EVENT, CloudTrailRecord, named
from identity_auditor.model.contract import Context, Severity, Trigger
from identity_auditor.model.findings import record_fingerprint
from identity_auditor.model.sequence import Observation, SequenceMeta, Step, Verdict, runs
from identity_auditor.rules._lib import identity_center

MIN_USERS = 3

META = SequenceMeta(
    id="signin_identity_center_spray",
    title="Identity Center password spraying from one address",
    severity=Severity.MEDIUM,
    triggers=(Trigger("signin.amazonaws.com", ("CredentialVerification",), SERVICE_EVENT),),
    window=timedelta(minutes=15),
    threshold=10,
    resource_type="AwsAccount",
    finding_types=("TTPs/Credential Access",),
    why=(
        "Many failed password checks from one address against several users in minutes is password spraying: "
        "common passwords tried across the directory, hoping one user has one and no MFA."
    ),
    remediation=(
        "Block the address at the edge, check which users it tried and whether any of them signed in from it "
        "afterwards (UserAuthentication from the same address), reset those passwords, and require MFA for "
        "every Identity Center sign-in."
    ),
    remediation_url="https://docs.aws.amazon.com/singlesignon/latest/userguide/enable-mfa.html",
)


def _clip(value, limit: int = 128) -> str:
    return str(value or "")[:limit]


def observe(record: CloudTrailRecord, found: frozenset[str], ctx: Context) -> list[Observation]:
    factors = [part.strip().upper() for part in str(record.extra("CredentialType") or "").split(",") if part.strip()]
    outcome = str((record.service_event_details or {}).get("CredentialVerification") or "")
    address = str(record.source_ip_address or "").strip()
    if factors != ["PASSWORD"] or not (outcome == "Failure" or record.error_code) or not address:
        return []
    if record.event_time is None:
        return []
    event_id = record.event_id or f"record-{record_fingerprint(record)}"
    uid = identity_center.user_id(record)
    name = named(record.user_identity.user_name) or record.typed_user_name
    flow = named(record.extra("AuthWorkflowID"))
    if uid:
        user, shown = f"id:{uid}", identity_center.user_label(record) or uid
    elif name:
        user, shown = f"name:{name.lower()}", name
    else:
        user, shown = (f"flow:{flow}" if flow else f"event:{event_id}"), ""
    facts = {"user": _clip(user), "shown": _clip(shown), "account": _clip(record.account_id, 64)}
    return [Observation(address.lower(), Step("failed", event_id, record.event_time, facts))]


def judge(key: str, steps: list[Step], ctx: Context) -> Verdict | None:
    window = ctx.policy.window_for(META.id, META.window)
    threshold = max(1, ctx.policy.threshold_for(META.id, META.threshold) or META.threshold)
    failures = [step for step in steps if step.name == "failed"]
    for run in runs(failures, window):
        users = {step.facts.get("user", step.event_id) for step in run}
        if len(run) >= threshold and len(users) >= MIN_USERS:
            return _verdict(key, run, users, window)
    return None


def _verdict(address: str, run: tuple[Step, ...], users: set[str], window: timedelta) -> Verdict:
    first = run[0]
    account = first.facts.get("account") or first.account or "unknown"
    accounts = sorted({step.facts.get("account") or step.account or "unknown" for step in run})
    named_users = sorted({step.facts["shown"] for step in run if step.facts.get("shown")})
    hidden = len({step.facts.get("user") for step in run if not step.facts.get("shown")})
    minutes = max(1, round((run[-1].time - first.time).total_seconds() / 60))
    tried = ", ".join(named_users[:5]) + (", ..." if len(named_users) > 5 else "")
    if hidden:
        tried += f"{'; ' if tried else ''}{hidden} sign-in{'s' if hidden != 1 else ''} naming no user"
    where = f"account {account}" if len(accounts) == 1 else f"accounts {', '.join(accounts[:5])}"
    text = (f"{len(run)} failed Identity Center password checks from {address} against {len(users)} users "
            f"within {minutes} minute{'s' if minutes != 1 else ''} in {where} ({tried}).")
    details = {"SourceIPAddress": address, "Failures": str(len(run)), "DistinctUsers": str(len(users)),
               "UsersTried": ", ".join(named_users)[:512], "UnnamedUsers": str(hidden),
               "Accounts": ", ".join(accounts)[:512], "WindowMinutes": str(int(window.total_seconds() // 60))}
    return Verdict(description=text, resource_id=f"AWS::::Account:{account}", steps=run, details=details,
                   subject=f"{address} on {account}")
