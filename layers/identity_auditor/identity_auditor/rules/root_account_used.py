"""The root user of an account was used (API call, console sign-in or console action).

Decisions (spec/rules.md §A, CIS 1.6 / 4.3, checked against the AWS documentation's real root records):
- Any event source, any event name, identity type ``Root``; read-only calls count too (root should not
  be used at all), so the EventBridge rule asks for all management events.
- Success only: no ``errorCode`` and no ``Failure`` value (a failed root ``ConsoleLogin`` carries
  ``responseElements.ConsoleLogin == "Failure"`` and an ``errorMessage``). Failed root logins are not
  findings here (spec: success only); a failed root password is evidence for a brute-force rule.
- ``eventType == "AwsServiceEvent"`` is AWS acting, not a person: never a finding.
- Calls an AWS service makes on root's behalf are not findings: ``userIdentity.invokedBy`` names the
  service (``sso.amazonaws.com``, ``cloudformation.amazonaws.com``: a ``*.amazonaws.com`` name), or Identity
  Center acting (``sourceIPAddress`` ``sso.amazonaws.com``). The exceptions are ``invokedBy:
  signin.amazonaws.com`` (root console actions, i.e. a person) and ``invokedBy: AWS Internal``, which the spec
  says is not a service acting for root (it appears on service and human calls alike): both are findings.
- A successful root ``ConsoleLogin`` **is** a finding (it is root use, with or without MFA).
  ``signin_console_login_without_mfa`` judges the same record for MFA: a root login without MFA gives
  both findings (HIGH here, CRITICAL there), a root login with MFA only this one.
- Root ``PasswordUpdated`` / ``EnableMFADevice`` and other root credential work count as root use.
- A root session that ``sts:AssumeRoot`` issued (centralized root access: the management account or the
  delegated administrator for IAM performing a scoped privileged task on a member account) is sanctioned
  root use: still a finding, LOW. It is recognised by ``userIdentity.sessionContext.assumedRoot == "true"``
  only. The CloudTrail userIdentity reference documents that flag as "true for a temporary session when a
  management account or delegated administrator calls AWS STS AssumeRoot", but the only AWS examples (IAM
  User Guide, "Track privileged tasks in AWS CloudTrail") show it on the *caller's* ``AssumeRoot`` record
  (type ``AssumedRole``, which this rule never sees) and **not** on the member account's root record
  (type ``Root``, an ``ASIA`` key, ``sessionContext.attributes`` only). No public real member-account
  record was found to settle it; a record without the flag keeps HIGH, the safe side. The other way to
  recognise the session (the ``ASIA`` key equal to ``responseElements.credentials.accessKeyId`` of an
  ``AssumeRoot`` the auditor saw) needs state across events, often across accounts (the call is recorded in
  the management account, the session's actions in the member account): rules are pure functions of one
  record, so it is not done here; ``sts_root_session_assumed`` reports that key id on the caller's side,
  and this finding names the session's key id (``AccessKeyId``) so the two can be matched. The task policy
  is named on the caller's side only: the member-account record AWS documents carries no field that holds
  it, and the rule reads no field that no record is known to have.
- The rule itself never excuses root. Like every rule, its findings are skipped by the engine for a
  caller the organisation policy explicitly allow-lists for ``root_account_used``; for root, a
  suppression (findings still reach Security Hub) is the better tool for an accepted exception.
"""

from __future__ import annotations

from identity_auditor.model.cloudtrail import API_CALL, CONSOLE_SIGN_IN, CloudTrailRecord
from identity_auditor.model.contract import ANY, Context, RuleMeta, Severity, Trigger, Violation

_CONSOLE = "signin.amazonaws.com"

META = RuleMeta(
    id="root_account_used",
    title="Root user used",
    severity=Severity.HIGH,
    trigger=Trigger(ANY, ANY, (API_CALL, CONSOLE_SIGN_IN), identity_types=("Root",), all_management_events=True),
    resource_type="AwsAccount",
    finding_types=(
        "Software and Configuration Checks/Industry and Regulatory Standards/CIS AWS Foundations Benchmark",
        "Unusual Behaviors/User",
    ),
    why=(
        "The root user has unrestricted access to the account and cannot be limited by IAM policies. "
        "Using it for anything but the few tasks that require it widens the impact of a stolen password or key."
    ),
    remediation=(
        "Confirm with the owner of the root credentials that this was planned. If not, reset the root "
        "password, check its MFA devices, delete any root access keys and review what the session did in "
        "CloudTrail. Use IAM Identity Center or roles for daily work; in an organization, enable "
        "centralized root access to remove member-account root credentials."
    ),
    remediation_url="https://docs.aws.amazon.com/IAM/latest/UserGuide/id_root-user.html",
    compliance=("CIS5 1.6", "CIS5 4.3", "CIS3 1.7", "CIS3 4.3"),
    severity_note="LOW for a root session opened with sts:AssumeRoot (sessionContext.assumedRoot)",
)


def evaluate(record: CloudTrailRecord, ctx: Context) -> Violation | None:
    identity = record.user_identity
    if identity.type != "Root" or not record.succeeded or record.event_type == "AwsServiceEvent":
        return None
    if _service_acting_for_root(identity.invoked_by) or record.by_identity_center:
        return None

    account = record.account_id
    assumed = identity.assumed_root
    if record.event_name == "ConsoleLogin":
        action = "signed in to the console"
    else:
        action = f"called {record.event_name} ({record.event_source})"
    source = f" from {record.source_ip_address}" if record.source_ip_address else ""
    details = {"EventName": record.event_name, "EventSource": record.event_source}
    if record.read_only is not None:
        details["ReadOnly"] = str(record.read_only).lower()
    if record.extra("MFAUsed"):
        details["MFAUsed"] = str(record.extra("MFAUsed"))
    elif identity.session_context and identity.session_context.attributes:
        details["MFAUsed"] = "Yes" if identity.mfa_authenticated else "No"
    if not assumed:
        return Violation(
            description=f"The root user of account {account} {action}{source}.",
            resource_id=f"AWS::::Account:{account}",
            details=details,
        )
    details["Session"] = "sts:AssumeRoot (centralized root access)"
    if identity.access_key_id:
        details["AccessKeyId"] = identity.access_key_id
    return Violation(
        description=(
            f"The root user of account {account} {action}{source} in a privileged root session opened with "
            "sts:AssumeRoot from the management or delegated-admin account."
        ),
        resource_id=f"AWS::::Account:{account}",
        severity=Severity.LOW,
        details=details,
    )


def _service_acting_for_root(invoked_by: str | None) -> bool:
    """``invokedBy`` names an AWS service calling on root's behalf (``cloudformation.amazonaws.com``); the console
    (``signin.amazonaws.com``, pre-2021 records) and ``AWS Internal`` (seen on service and human calls alike) do
    not (spec §A)."""
    return bool(invoked_by) and invoked_by != _CONSOLE and invoked_by.endswith(".amazonaws.com")
