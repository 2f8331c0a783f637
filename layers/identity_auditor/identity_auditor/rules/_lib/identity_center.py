"""Identity Center users in both record shapes, for the Identity Center rules.

Before July 2025 a signed-in Identity Center user's records carried ``userIdentity.type`` ``Unknown`` with
``userName`` and ``principalId`` (from October 2024 also ``onBehalfOf`` and ``credentialId``); since then
they carry ``IdentityCenterUser``, no ``userName`` or ``principalId``, and name the user only by
``onBehalfOf.userId`` with ``onBehalfOf.identityStoreArn``. Sign-in records also carry the name the user typed
in ``additionalEventData.UserName`` (``HIDDEN_DUE_TO_SECURITY_REASONS`` when it was wrong); unauthenticated
sign-in steps stay ``Unknown``. Sources: AWS Security Blog, "Important changes to CloudTrail events for AWS
IAM Identity Center" (2024-11-19, updated 2025-11-26); AWS CloudTrail User Guide, "CloudTrail userIdentity
element" (example "userIdentity for a request made on behalf of an IAM Identity Center user").

For the Identity Center posture rules (``sso_*`` state rules and ``identitystore_user_not_provisioned``, which
judge an :class:`~identity_auditor.model.snapshots.IdentityCenterSnapshot`):

* :func:`privileged` says why a permission set is privileged (spec/rules.md §B), or ``None``: its name, ARN or
  ``ps-…`` id matches ``privileged_permission_sets`` (the event rules see only ARNs, so ARN and id patterns work
  in both places); or one of its AWS managed policies is in ``privileged_policies``
  (:meth:`OrgPolicy.is_privileged_policy`, ignoring case); or its inline policy grants ``*`` or ``iam:*`` on
  ``*`` (:func:`identity_auditor.rules._lib.permissions.admin_grant`). An inline policy that cannot be read well
  enough to tell counts as privileged (it could hold the grant; Identity Center validates what it stores, so
  this is a collector or data problem, and failing closed only makes a finding stricter). Not privileged by
  themselves: a customer managed policy reference, even one whose name is the last path segment of a
  ``privileged_policies`` pattern (``AdministratorAccess`` referenced as a customer managed policy is whatever
  policy of that name each account holds; the snapshot has no document to judge, and matching on the name
  would make any look-alike name privileged), and the permissions boundary (it limits, it grants nothing). A
  reference does count when a ``privileged_policies`` pattern matches the ARN it resolves to in an account the
  set is provisioned to (``arn:aws:iam::*:policy/OrgAdmin``): the organisation named that customer policy.
* :func:`session_hours` reads a permission set's ``SessionDuration`` (ISO 8601, as ``DescribePermissionSet``
  returns it: ``PT8H``, ``PT1H30M``) in hours; no value is Identity Center's default, one hour.
* :func:`no_instance` is the one NOT_APPLICABLE result of every posture rule in an account without an instance;
  :func:`state_result` a verdict whose annotation fits AWS Config's 256 characters.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from identity_auditor.model.cloudtrail import IDENTITY_CENTER_USER_TYPES, CloudTrailRecord, named
from identity_auditor.model.contract import ANNOTATION_LIMIT, Compliance, Resource, StateResult, Violation
from identity_auditor.model.policy import OrgPolicy, matches_any
from identity_auditor.model.text import clip
from identity_auditor.rules._lib.permissions import admin_grant


if TYPE_CHECKING:  # annotations only: the snapshots are built by the collectors, on the Config path
    from identity_auditor.model.snapshots import IdentityCenterSnapshot, PermissionSet


def is_portal_user(record: CloudTrailRecord) -> bool:
    """The caller is an Identity Center user acting for themselves (AWS access portal, sign-in, CLI
    sign-in), in either shape: identity type ``IdentityCenterUser`` or ``Unknown``."""
    return record.user_identity.type in IDENTITY_CENTER_USER_TYPES


def user_id(record: CloudTrailRecord) -> str | None:
    """The Identity Center user id the record names its caller by (``onBehalfOf.userId``), if any."""
    return named(record.user_identity.identity_center_user_id)


def user_name(record: CloudTrailRecord) -> str | None:
    """A readable name of an Identity Center user caller: ``userIdentity.userName`` (older records), else
    the user name typed at sign-in when it is a real name; ``None`` when the record has neither."""
    return named(record.user_identity.user_name) or (record.typed_user_name if is_portal_user(record) else None)


def user_label(record: CloudTrailRecord) -> str | None:
    """How a finding names an Identity Center user caller: ``name (user id)`` when the record has both,
    else whichever it has, else ``None``."""
    name, uid = user_name(record), user_id(record)
    if name and uid and name != uid:
        return f"{name} ({uid})"
    return name or uid


def caller(record: CloudTrailRecord) -> str:
    """The caller as a finding's description names it: ``Identity Center user <name> (<user id>)`` for an
    Identity Center user caller (either shape), else :attr:`CloudTrailRecord.actor_name` (a role session,
    an IAM user, root)."""
    if is_portal_user(record) or (user_id(record) and not record.user_identity.arn):
        return f"Identity Center user {user_label(record) or record.actor_name}"
    return record.actor_name


def user_arn(partition: str, uid: str) -> str:
    """The ARN of an Identity Store user (Service Authorization Reference, identitystore ``User``)."""
    return f"arn:{partition}:identitystore:::user/{uid}"


def identity_store_id(record: CloudTrailRecord) -> str | None:
    """The identity store of the caller, from ``onBehalfOf.identityStoreArn`` (``…:identitystore/d-…``)."""
    on_behalf_of = record.user_identity.on_behalf_of
    arn = named(on_behalf_of.identity_store_arn) if on_behalf_of else None
    return arn.rsplit("/", 1)[-1] if arn and "/" in arn else None


def caller_details(record: CloudTrailRecord) -> dict[str, str]:
    """The facts that identify an Identity Center user caller, for a finding's details: the user id and
    identity store (2025 shape, also on role sessions with trusted identity propagation) and the name typed
    at sign-in. Empty for callers that are not Identity Center users."""
    details: dict[str, str] = {}
    uid = user_id(record)
    if uid:
        details["CallerUserId"] = uid
        store = record.user_identity.on_behalf_of.identity_store_arn if record.user_identity.on_behalf_of else None
        if named(store):
            details["CallerIdentityStoreArn"] = store
    typed = record.typed_user_name if is_portal_user(record) else None
    if typed:
        details["CallerUserName"] = typed
    return details


# -- Identity Center posture ------------------------------------------------------------------------------------

DEFAULT_SESSION_HOURS = 1.0  # Identity Center's session duration when a permission set sets none
# ISO 8601 durations as Identity Center's API accepts them (its pattern, botocore sso-admin ``Duration``: optional
# sign, years, months, days or weeks, then T and hours, minutes, seconds, a fraction only in seconds), here without
# the years and months, which have no fixed length in hours, and without the sign (a negative session is no session).
_DURATION = re.compile(
    r"P(?:(?P<weeks>\d+)W|(?P<days>\d+)D)?"
    r"(?:T(?=\d)(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+(?:\.\d+)?)S)?)?",
    re.ASCII,
)
_HOURS_PER = {"weeks": 168.0, "days": 24.0, "hours": 1.0, "minutes": 1 / 60, "seconds": 1 / 3600}


def session_hours(iso_duration: str | None) -> float:
    """A permission set's ``SessionDuration`` in hours: ``PT8H`` -> 8.0, ``PT1H30M`` -> 1.5, ``None`` -> 1.0
    (Identity Center's default). :class:`ValueError` for a value that is not such a duration (``8h``, ``PT``,
    ``-PT1H``), or one in years or months."""
    if iso_duration is None:
        return DEFAULT_SESSION_HOURS
    if not isinstance(iso_duration, str):
        raise ValueError(f"session duration must be an ISO 8601 string, not {type(iso_duration).__name__}")
    text = iso_duration.strip()
    match = _DURATION.fullmatch(text)
    if match is None or not any(match.groupdict().values()):
        raise ValueError(f"session duration {clip(iso_duration, 40)!r} is not an ISO 8601 duration in weeks, days, "
                         "hours, minutes or seconds (e.g. PT8H)")
    return sum(float(value) * _HOURS_PER[unit] for unit, value in match.groupdict().items() if value)


def privileged(permission_set: PermissionSet, policy: OrgPolicy, documents: Mapping[str, Any] | None = None) -> str | None:
    """Why ``permission_set`` is privileged (spec/rules.md §B; the module's docs say what counts), or ``None``.

    ``documents``: the customer managed policies the set refers to, as created in the accounts it is provisioned
    to (policy ARN -> document, ``IdentityCenterSnapshot.customer_policies``): one that allows ``*`` or ``iam:*``
    on ``*`` in any of them makes the set privileged (what the set grants there); one that cannot be read
    (an account out of reach, the policy missing there) is not counted."""
    names = [name for name in (permission_set.name, permission_set.arn, permission_set.permission_set_id) if name]
    for pattern in policy.privileged_permission_sets:
        if any(matches_any(name, (pattern,)) for name in names):
            return f"listed in privileged_permission_sets ({pattern})"
    managed = next((arn for arn in permission_set.managed_policies if policy.is_privileged_policy(arn)), None)
    if managed is not None:
        return f"managed policy {managed} is in privileged_policies"
    partition = arn_partition(permission_set.arn)
    for reference in permission_set.customer_managed:
        for account in permission_set.provisioned_accounts:
            arn = reference.arn_in(partition, account)
            if policy.is_privileged_policy(arn):
                return f"customer managed policy {arn} is in privileged_policies"
            document = (documents or {}).get(arn)
            if document is not None:
                try:
                    grant = admin_grant(document)
                except ValueError as error:
                    return f"customer managed policy {arn} cannot be judged ({clip(error, 100)}): counted as privileged"
                if grant:
                    return f"customer managed policy {arn}: {grant}"
    if has_inline(permission_set.inline_policy):
        try:
            grant = admin_grant(permission_set.inline_policy)
        except ValueError as error:
            return f"inline policy cannot be judged ({clip(error, 120)}): counted as privileged"
        if grant:
            return f"inline policy: {grant}"
    return None


def has_inline(document: object) -> bool:
    """A permission set has an inline policy: a document that is not absent nor empty (``None``, ``""``, ``{}``)."""
    if isinstance(document, str):
        return bool(document.strip())
    return document is not None and document != {}


def state_result(compliance: Compliance, annotation: str, violation: Violation | None = None,
                 resource: Resource | None = None) -> StateResult:
    """A posture rule's verdict, its annotation clipped to what AWS Config takes (names from the directory and
    permission sets can be long)."""
    return StateResult(compliance, clip(annotation, ANNOTATION_LIMIT), violation, resource)


def no_instance(snapshot: IdentityCenterSnapshot) -> StateResult | None:
    """The one NOT_APPLICABLE result of a posture rule where there is no Identity Center instance, else ``None``."""
    if snapshot.instance_arn:
        return None
    return StateResult(Compliance.NOT_APPLICABLE,
                       f"No Identity Center instance in {snapshot.region} of account {snapshot.account_id}.")


def arn_partition(arn: str) -> str:
    """The partition of an ARN (``arn:aws-cn:sso:::…`` -> ``aws-cn``); ``aws`` for anything else."""
    parts = arn.split(":") if isinstance(arn, str) else []
    return parts[1] if len(parts) > 2 and parts[0] == "arn" and parts[1] else "aws"
