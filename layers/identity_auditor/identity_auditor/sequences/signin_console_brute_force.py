"""Many failed console sign-ins from one address, possibly followed by a successful one (password guessing).

Decisions (spec/rules.md §E):
- Steps: every ``ConsoleLogin`` (signin.amazonaws.com), ``failed`` when ``responseElements.ConsoleLogin`` is
  ``Failure`` (or the record has an ``errorMessage``/``errorCode``), ``success`` when it is ``Success``. The key is
  the account and the source address: failed logins of unknown user names carry no ARN, so the address is what
  ties them together.
- Fires when one window (15 minutes, ``sequences.signin_console_brute_force.window_minutes``) holds at least the
  threshold of failures (10, ``threshold``), or at least half of it (5 by default) failures of the root user.
  HIGH; CRITICAL when a success from the same address follows the failures within the window (the guess
  worked).
- The first failure of the earliest window that qualifies is the sequence's first step (its Id); the finding
  names the address, the account, the number of failures, the user names tried and, for CRITICAL, who signed in.
"""

from __future__ import annotations

from datetime import timedelta

from identity_auditor.model.cloudtrail import CONSOLE_SIGN_IN, CloudTrailRecord
from identity_auditor.model.contract import Context, Severity, Trigger
from identity_auditor.model.sequence import Observation, SequenceMeta, Step, Verdict, runs

META = SequenceMeta(
    id="signin_console_brute_force",
    title="Console password guessing from one address",
    severity=Severity.HIGH,
    triggers=(Trigger("signin.amazonaws.com", ("ConsoleLogin",), CONSOLE_SIGN_IN),),
    window=timedelta(minutes=15),
    threshold=10,
    resource_type="AwsAccount",
    finding_types=("TTPs/Credential Access", "TTPs/Initial Access"),
    why=(
        "Many failed console sign-ins from one address in minutes is password guessing; a success from that "
        "address afterwards means a guess worked and someone is in the console."
    ),
    remediation=(
        "Block the address (WAF, network ACLs, SCP aws:SourceIp), check which users it tried and whether a login "
        "succeeded; if one did, reset that user's password and MFA, revoke its sessions, and review what it did. "
        "Enforce MFA for every console user."
    ),
    remediation_url="https://docs.aws.amazon.com/IAM/latest/UserGuide/id_credentials_mfa_enable.html",
    severity_note="CRITICAL when a success from the same address follows",
    compliance=("CIS5 4.2", "CIS3 4.2"),
)


def observe(record: CloudTrailRecord, found: frozenset[str], ctx: Context) -> list[Observation]:
    result = str(record.response("ConsoleLogin") or "")
    failed = result == "Failure" or bool(record.error_code) or (bool(record.error_message) and result != "Success")
    if not failed and result != "Success":
        return []
    user = record.user_identity
    facts = {"user": str(user.user_name or user.arn or record.extra("UserName") or "unknown")[:128],
             "type": str(user.type or "")[:32], "ip": str(record.source_ip_address or "")[:64]}
    key = f"{record.account_id}|{record.source_ip_address or 'unknown'}"
    return [Observation(key, Step("failed" if failed else "success", record.event_id or "", record.event_time,
                                  facts))] if record.event_time else []


def judge(key: str, steps: list[Step], ctx: Context) -> Verdict | None:
    window = ctx.policy.window_for(META.id, META.window)
    threshold = ctx.policy.threshold_for(META.id, META.threshold) or META.threshold
    root_threshold = max(1, threshold // 2)
    failures = [step for step in steps if step.name == "failed"]
    for run in runs(failures, window):
        roots = [step for step in run if step.facts.get("type") == "Root"]
        if len(run) < threshold and len(roots) < root_threshold:
            continue
        success = next((step for step in steps if step.name == "success" and run[0].time <= step.time
                        and step.time - run[-1].time <= window), None)  # within the window after the last failure
        return _verdict(key, run, success, window)
    return None


def _verdict(key: str, run: tuple[Step, ...], success: Step | None, window: timedelta) -> Verdict:
    account, _, address = key.partition("|")
    users = sorted({step.facts.get("user", "unknown") for step in run})
    minutes = max(1, round((run[-1].time - run[0].time).total_seconds() / 60))
    text = (f"{len(run)} failed console sign-ins to account {account} from {address} within {minutes} minute"
            f"{'s' if minutes != 1 else ''} (users tried: {', '.join(users[:5])}{', ...' if len(users) > 5 else ''})")
    text += (f", then {success.facts.get('user', 'a user')} signed in from the same address." if success
             else ".")
    details = {"SourceIPAddress": address, "Failures": str(len(run)), "UsersTried": ", ".join(users)[:512],
               "WindowMinutes": str(int(window.total_seconds() // 60))}
    if success:
        details["SignedInAs"] = success.facts.get("user", "unknown")
    return Verdict(description=text, resource_id=f"AWS::::Account:{account}",
                   steps=run + ((success,) if success else ()), severity=Severity.CRITICAL if success else None,
                   details=details, subject=f"{address} on {account}")
