"""The root user's password or e-mail address was recovered, changed or re-created: the steps of taking
over an account through its root credentials.

Decisions (spec/rules.md §A third wave; shapes: AWS's real root ``PasswordUpdated`` record in the CloudTrail
console sign-in event reference (``eventType`` ``AwsConsoleSignIn``, ``responseElements.PasswordUpdated``
``Success``, ``requestParameters`` ``null``); Panther's ``PasswordUpdated`` test events (``Failure`` for a
failed change); public EventBridge patterns for the recovery events (identity ``Root``, ``eventType``
``AwsConsoleSignIn``, ``responseElements.PasswordRecoveryRequested`` / ``PasswordRecoveryCompleted``
``Success``); the Account Management CloudTrail examples (``account.amazonaws.com``, camelCase request
parameters) with ``StartPrimaryEmailUpdate`` / ``AcceptPrimaryEmailUpdate`` taking ``accountId`` and
``primaryEmail`` (and ``otp``, never copied) per the Account Management API reference):
- Sign-in events (``signin.amazonaws.com``: ``PasswordRecoveryRequested``, ``PasswordRecoveryCompleted``,
  ``PasswordUpdated``) have ``eventType`` ``AwsConsoleSignIn`` and reach EventBridge with detail-type
  ``AWS Console Sign In via CloudTrail`` (AWS's own example records; the same detail-type as
  ``ConsoleLogin``), so that is the trigger's detail-type. Only root's count (spec; AWS generates the
  recovery events for root only). Success means no ``Failure`` value: a failed recovery request is quiet;
  for ``PasswordRecoveryRequested`` the accepted request itself is the finding (the mail to the root
  mailbox is the first step of a takeover through it).
- ``EmailUpdated`` by root is matched under any event source (its source is not documented) and under the
  API-call, console sign-in and console action detail-types (``AWS Console Action via CloudTrail``, the
  detail-type EventBridge documents for console actions that are not API calls), root only.
- ``CreateLoginProfile`` / ``UpdateLoginProfile`` by root for itself: no ``userName``, or ``AWS ROOT USER``
  (how CloudTrail names root in its own IAM calls). A login profile root creates for an IAM user is
  ``iam_login_profile_changed``'s business, not this rule's.
- ``StartPrimaryEmailUpdate`` / ``AcceptPrimaryEmailUpdate`` (a member account's root e-mail changed from the
  management or delegated-admin account) by any caller; the finding names the member account
  (``requestParameters.accountId``; the caller's account when the record lacks it) and the new address.
- Severity: CRITICAL for an e-mail change that took effect (``AcceptPrimaryEmailUpdate``, ``EmailUpdated``)
  and for root's password re-created (``CreateLoginProfile``: the password ``IAMCreateRootUserPassword``
  sessions set); HIGH for the rest (a recovery requested or completed, ``PasswordUpdated``,
  ``UpdateLoginProfile``, ``StartPrimaryEmailUpdate``).
- Other rules judge the same records on their own terms, and the spec asks no de-duplication here:
  ``root_account_used`` also reports root's calls and sign-in events (HIGH), ``iam_login_profile_changed``
  root's own login profile (MEDIUM). Identity Center's own calls are not findings; an ``AssumeRoot``
  session (``sessionContext.assumedRoot``) is root and is named as such in the details.
"""

from __future__ import annotations

from identity_auditor.model.cloudtrail import API_CALL, CONSOLE_SIGN_IN, ROOT_USER_NAME, CloudTrailRecord
from identity_auditor.model.contract import ANY, Context, RuleMeta, Severity, Trigger, Violation

CONSOLE_ACTION = "AWS Console Action via CloudTrail"  # EventBridge's detail-type for non-API console actions
SIGN_IN_EVENTS = ("PasswordRecoveryRequested", "PasswordRecoveryCompleted", "PasswordUpdated")
LOGIN_PROFILE_EVENTS = ("CreateLoginProfile", "UpdateLoginProfile")
PRIMARY_EMAIL_EVENTS = ("StartPrimaryEmailUpdate", "AcceptPrimaryEmailUpdate")
_CRITICAL = frozenset({"AcceptPrimaryEmailUpdate", "EmailUpdated", "CreateLoginProfile"})
# What happened, for the finding's one line: {who} the caller, {account} the account whose root changed,
# {email} the new address (primary e-mail calls).
_DESCRIPTIONS = {
    "PasswordRecoveryRequested": "A password recovery for the root user of account {account} was requested{source}: "
                                 "a reset link went to the root e-mail address.",
    "PasswordRecoveryCompleted": "The root password of account {account} was reset through password recovery{source}.",
    "PasswordUpdated": "The root user of account {account} changed its password{source}.",
    "EmailUpdated": "The root user of account {account} changed its e-mail address{source}.",
    "CreateLoginProfile": "{who} re-created the root user's console password in account {account}{source}.",
    "UpdateLoginProfile": "{who} changed the root user's console password in account {account}{source}.",
    "StartPrimaryEmailUpdate": "{who} started changing the root e-mail address of account {account}{email}{origin}"
                               "{source}.",
    "AcceptPrimaryEmailUpdate": "{who} changed the root e-mail address of account {account}{email}{origin}{source}.",
}

META = RuleMeta(
    id="root_credentials_changed",
    title="Root user password or e-mail changed",
    severity=Severity.HIGH,
    trigger=Trigger("signin.amazonaws.com", SIGN_IN_EVENTS, CONSOLE_SIGN_IN),
    also=(
        Trigger(ANY, "EmailUpdated", (API_CALL, CONSOLE_SIGN_IN, CONSOLE_ACTION), identity_types=("Root",)),
        Trigger("iam.amazonaws.com", LOGIN_PROFILE_EVENTS),
        Trigger("account.amazonaws.com", PRIMARY_EMAIL_EVENTS),
    ),
    resource_type="AwsAccount",
    finding_types=("TTPs/Persistence", "TTPs/Credential Access"),
    why=(
        "Whoever controls the root password or the root e-mail address controls the account: a password "
        "recovery goes to that mailbox, and a changed address locks the owner out of recovering it."
    ),
    remediation=(
        "Confirm with the owner of the root credentials. If not expected: recover root through the legitimate "
        "mailbox at once, secure that mailbox, check root's MFA devices and access keys, and review root and "
        "IAM activity since. In an organization, delete member root credentials (centralized root access: "
        "aws organizations enable-aws-service-access --service-principal iam.amazonaws.com) and contact AWS "
        "Support if the address was changed."
    ),
    severity_note="CRITICAL for an e-mail change (AcceptPrimaryEmailUpdate, EmailUpdated) and a re-created root password",
    remediation_url="https://docs.aws.amazon.com/IAM/latest/UserGuide/root-user-best-practices.html",
)


def _root_for_itself(record: CloudTrailRecord) -> bool:
    target = record.request("userName")
    return record.user_identity.type == "Root" and (not target or target == ROOT_USER_NAME)


def evaluate(record: CloudTrailRecord, ctx: Context) -> Violation | None:
    if not record.succeeded or record.by_identity_center:
        return None
    name = record.event_name
    identity = record.user_identity
    if name in PRIMARY_EMAIL_EVENTS:
        if record.event_source != "account.amazonaws.com":
            return None
    elif name in LOGIN_PROFILE_EVENTS:
        if record.event_source != "iam.amazonaws.com" or not _root_for_itself(record):
            return None
    elif name not in _DESCRIPTIONS or identity.type != "Root":
        return None

    account = record.account_id
    target = account
    details = {"EventName": name, "EventSource": record.event_source}
    email = origin = ""
    if name in PRIMARY_EMAIL_EVENTS:
        requested = record.request("accountId")
        target = str(requested) if requested else account
        details["TargetAccount"] = target
        if record.request("primaryEmail"):
            details["NewPrimaryEmail"] = str(record.request("primaryEmail"))
            email = f" to {details['NewPrimaryEmail']}"
        if record.response("status"):
            details["Status"] = str(record.response("status"))
        origin = f" (from account {account})" if target != account else ""
    if identity.assumed_root:
        details["AssumedRoot"] = "true"
    who = ("A root session from sts:AssumeRoot" if identity.assumed_root
           else "The root user" if identity.type == "Root" else identity.display_name)
    if record.source_ip_address:
        details["SourceIPAddress"] = str(record.source_ip_address)
    reset = record.request("passwordResetRequired")
    if name in LOGIN_PROFILE_EVENTS and reset is not None:
        details["ResetRequiredAtNextSignIn"] = str(reset).lower()
    source = f" from {record.source_ip_address}" if record.source_ip_address else ""
    return Violation(
        description=_DESCRIPTIONS[name].format(who=who, account=target, email=email, origin=origin, source=source),
        resource_id=f"AWS::::Account:{target}",
        severity=Severity.CRITICAL if name in _CRITICAL else None,
        details=details,
    )
