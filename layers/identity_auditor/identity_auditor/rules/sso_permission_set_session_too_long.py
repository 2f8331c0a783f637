"""An Identity Center permission set lets its sessions last longer than the organisation allows.

Decisions (spec/rules.md §B, Identity Center posture):
- Subject: the Identity Center instance (``IdentityCenterSnapshot``, periodic). One result per permission set,
  its own resource: ``AWS::::Account`` of the instance's account for AWS Config, key the permission set ARN,
  ASFF type ``Other``.
- ``SessionDuration`` (``DescribePermissionSet``, ISO 8601) is read in hours by
  :func:`identity_auditor.rules._lib.identity_center.session_hours`; a permission set without one has
  Identity Center's default, one hour.
- A privileged permission set (:func:`identity_auditor.rules._lib.identity_center.privileged`) is judged against
  ``max_privileged_session_hours`` only (default 2), any other against ``max_session_hours`` (default 8), even
  when the organisation set the privileged limit above the other: the stricter knob for privileged sets is the
  organisation's to choose. Longer is NON_COMPLIANT: LOW, MEDIUM for a privileged set; exactly the limit is
  compliant.
- A ``SessionDuration`` that cannot be read (not an ISO 8601 duration in weeks, days, hours, minutes or
  seconds) is NON_COMPLIANT with the severity of a too-long session, saying so: the session length is unknown,
  and a silent pass would hide it. Identity Center never returns such a value; a collector bug would.
- No instance: one NOT_APPLICABLE result; no permission set: one NOT_APPLICABLE result.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from identity_auditor.model.contract import (
    Compliance,
    Context,
    Resource,
    RuleMeta,
    Severity,
    StateResult,
    StateTrigger,
    Violation,
)
from identity_auditor.model.text import clip
from identity_auditor.rules._lib import identity_center
from identity_auditor.rules._lib.identity_center import state_result


if TYPE_CHECKING:  # annotations only: the snapshots are built by the collectors, on the Config path
    from identity_auditor.model.snapshots import IdentityCenterSnapshot, PermissionSet

META = RuleMeta(
    id="sso_permission_set_session_too_long",
    title="Identity Center permission set session is too long",
    severity=Severity.LOW,
    severity_note="MEDIUM for a privileged permission set",
    trigger=None,
    state=StateTrigger("AWS::::Account", periodic=True, subject="identity_center",
                       reads=("instance", "permission_sets"),
                       # customer managed policies as created in the accounts (privilege): read when they can be
                       optional=("reserved_roles",), scope="identity_center"),
    resource_type="Other",
    finding_types=("Software and Configuration Checks/AWS Security Best Practices",),
    why=(
        "A long session keeps a stolen or forgotten console or CLI session usable for hours after the person "
        "stopped working or lost access; for powerful permission sets that window should be short."
    ),
    remediation=(
        "Shorten the permission set's session duration (aws sso-admin update-permission-set --session-duration "
        "PT1H), then provision it to its accounts (aws sso-admin provision-permission-set). The limits are the "
        "organisation policy's max_session_hours and max_privileged_session_hours."
    ),
    remediation_url="https://docs.aws.amazon.com/singlesignon/latest/userguide/howtosessionduration.html",
    compliance=(),
)


def evaluate_state(snapshot: IdentityCenterSnapshot, ctx: Context) -> StateResult | list[StateResult]:
    absent = identity_center.no_instance(snapshot)
    if absent is not None:
        return absent
    if not snapshot.permission_sets:
        return state_result(Compliance.NOT_APPLICABLE, f"Identity Center instance {snapshot.instance_arn} has no "
                                                       "permission sets.")
    return [_judge(snapshot, permission_set, ctx) for permission_set in snapshot.permission_sets]


def _judge(snapshot: IdentityCenterSnapshot, permission_set: PermissionSet, ctx: Context) -> StateResult:
    name = clip(permission_set.name, 64)
    resource = Resource("AWS::::Account", snapshot.account_id, name, permission_set.arn, "Other")
    reason = identity_center.privileged(permission_set, ctx.policy, snapshot.customer_policies)
    if reason:
        limit, knob, kind = ctx.policy.max_privileged_session_hours, "max_privileged_session_hours", "privileged "
    else:
        limit, knob, kind = ctx.policy.max_session_hours, "max_session_hours", ""
    duration = permission_set.session_duration
    shown = clip(duration, 40) if duration is not None else "not set (PT1H)"
    try:
        hours = identity_center.session_hours(duration)
    except ValueError:
        hours, problem = None, f"cannot be read as a duration: {shown}"
    else:
        if hours <= limit:
            return state_result(Compliance.COMPLIANT, f"Session duration of {kind}permission set {name}: "
                                                      f"{_hours(hours)} (<= {knob} {limit}).", resource=resource)
        problem = f"{_hours(hours)} ({shown}), above {knob} {limit}"
    details = {"PermissionSetArn": permission_set.arn, "SessionDuration": shown, "Limit": f"{limit} hours ({knob})"}
    if hours is not None:
        details["SessionHours"] = _hours(hours)
    if reason:
        details["Privileged"] = clip(reason, 256)
    return state_result(
        Compliance.NON_COMPLIANT,
        f"Session duration of {kind}permission set {name} {problem}.",
        Violation(
            description=(f"Identity Center {kind}permission set {name} (instance in account {snapshot.account_id}) "
                         f"allows sessions of {problem}."
                         if hours is not None else
                         f"The session duration of Identity Center {kind}permission set {name} (instance in "
                         f"account {snapshot.account_id}) {problem}."),
            resource_id=permission_set.arn,
            resource_type="Other",
            severity=Severity.MEDIUM if reason else None,
            details=details,
            subject=name,
        ),
        resource=resource,
    )


def _hours(hours: float) -> str:
    """``8`` -> "8 hours", ``1.5`` -> "1.5 hours", ``1`` -> "1 hour"."""
    text = f"{hours:.2f}".rstrip("0").rstrip(".")
    return f"{text} hour" + ("" if text == "1" else "s")
