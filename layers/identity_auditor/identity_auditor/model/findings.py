"""Findings: a rule's verdict joined with the facts of the record and the rule's metadata (spec §D)."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import date, datetime

from identity_auditor.model.cloudtrail import RESERVED_SSO_ROLE_PREFIX, RESERVED_SSO_ROLE_SUFFIX, CloudTrailRecord
from identity_auditor.model.contract import RuleMeta, Severity, Violation
from identity_auditor.model.redaction import redact
from identity_auditor.model.text import clip

# An assumed-role session ARN, ``arn:aws:sts::<account>:assumed-role/<role name>/<role session name>``: the
# session name is the person (Identity Center sets it to the user's name, e.g. ``jane@example.com``).
_ASSUMED_ROLE = re.compile(r"arn:[^:]*:sts::[^:]*:assumed-role/([^/]+)/(.+)", re.DOTALL)
# ``AWSReservedSSO_<permission set>_<16 hex digits>``: the suffix is random, the permission set is what counts.
_RESERVED_SSO_SUFFIX = re.compile(f"({RESERVED_SSO_ROLE_PREFIX}.+){RESERVED_SSO_ROLE_SUFFIX}", re.DOTALL)
_ROLE_MIN = 5  # characters of a clipped role worth showing; fewer, and the role is left out


@dataclass(frozen=True)
class Actor:
    """Who did it, as CloudTrail recorded it."""

    type: str | None
    name: str
    arn: str | None
    account_id: str | None
    source_ip: str | None
    user_agent: str | None
    invoked_by: str | None = None
    access_key_id: str | None = None

    @property
    def person(self) -> str:
        """Who it is, first: the role session name of an assumed-role session (``jane@example.com``),
        otherwise the name (IAM user, ``root``, a service, an Identity Center user: the user name, or in
        2025-shape records without one the name typed at sign-in or the user id)."""
        match = _ASSUMED_ROLE.fullmatch(self.arn or "")
        return match.group(2) if match else self.name

    @property
    def role(self) -> str | None:
        """The role of an assumed-role session, in short: ``AWSReservedSSO_AdministratorAccess`` without
        Identity Center's random suffix, or the role name; ``None`` for anything but a role session."""
        match = _ASSUMED_ROLE.fullmatch(self.arn or "")
        if not match:
            return None
        reserved = _RESERVED_SSO_SUFFIX.fullmatch(match.group(1))
        return reserved.group(1) if reserved else match.group(1)

    def short_name(self, limit: int | None = None, *, ellipsis: str = "…") -> str:
        """The actor for a person to read in a short space: the person, then the role of a session in
        short (``jane@example.com (AWSReservedSSO_AdministratorAccess)``); the name for anything else.

        Within ``limit`` characters the role gives way (``AWSReservedSSO_`` first, then its end, then all
        of it); the person is clipped only when it alone is longer than ``limit``."""
        person, role = self.person, self.role
        if limit is None:
            return f"{person} ({role})" if role else person
        if role is None:
            return clip(person, limit, ellipsis=ellipsis)
        room = limit - len(person) - len(" ()")  # what is left for the role
        short = role.removeprefix(RESERVED_SSO_ROLE_PREFIX) or role
        for candidate in (role, short):
            if len(candidate) <= room:
                return f"{person} ({candidate})"
        if room >= len(ellipsis) + _ROLE_MIN:
            return f"{person} ({clip(short, room, ellipsis=ellipsis)})"
        return clip(person, limit, ellipsis=ellipsis)


@dataclass(frozen=True)
class Suppression:
    """Why a finding is suppressed (organisation policy ``suppress`` entry that matched it)."""

    reason: str
    owner: str
    expires: date
    pattern: str  # the resource or principal pattern that matched


@dataclass(frozen=True)
class Finding:
    rule_id: str
    title: str
    severity: Severity
    description: str
    account_id: str
    region: str
    partition: str
    event_time: datetime | None
    event_id: str | None
    event_name: str
    event_source: str
    actor: Actor
    resource_type: str
    resource_id: str
    why: str
    remediation: str
    remediation_url: str
    compliance: tuple[str, ...]
    finding_types: tuple[str, ...]
    finding_id: str
    details: dict[str, str] = field(default_factory=dict)
    suppression: Suppression | None = None  # set: goes to Security Hub as SUPPRESSED, never pages
    subject: str | None = None  # what the title names (default: the actor)
    compliance_status: str = "FAILED"  # ASFF Compliance.Status: PASSED when a state rule finds it fixed
    record_state: str = "ACTIVE"  # ASFF RecordState: ARCHIVED when the resource is gone or out of scope
    resource_region: str | None = None  # ASFF Resources[0].Region when not the finding's (a state rule says so)
    sequence_steps: tuple[str, ...] = ()  # a sequence's finding: the event ids of its steps (spec §E)

    def summary(self) -> dict:
        """The flat, JSON-ready view used by ``--format jsonl`` and logs."""
        # one level of copying (asdict's deep recursion cost more than the rest of `evaluate --format jsonl`)
        data = {name: getattr(self, name) for name in _FINDING_FIELDS}
        data["details"] = dict(self.details)
        data["sequence_steps"] = tuple(self.sequence_steps)
        data["severity"] = self.severity.value
        data["event_time"] = self.event_time.isoformat() if self.event_time else None
        data["actor"] = self.actor.arn or self.actor.name
        data["actor_detail"] = {name: getattr(self.actor, name) for name in _ACTOR_FIELDS}
        data["compliance"] = list(self.compliance)
        data["finding_types"] = list(self.finding_types)
        data["suppression"] = (
            {**asdict(self.suppression), "expires": self.suppression.expires.isoformat()} if self.suppression else None
        )
        return data


_FINDING_FIELDS = tuple(f.name for f in fields(Finding))
_ACTOR_FIELDS = tuple(f.name for f in fields(Actor))


def _redacted(details: dict[str, str]) -> dict[str, str]:
    """A violation's details with key-like secrets masked (:mod:`identity_auditor.model.redaction`): what a
    finding copies from a record's free text never carries a password, key or token onward."""
    return {key: redact(value) if isinstance(value, str) else value for key, value in details.items()}


def short_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def record_fingerprint(record: CloudTrailRecord) -> str:
    """A stable hash of a record, standing in for its ``eventID`` when the record has none. Fields the record
    does not have are left out, so that the hash does not change when the model learns a new field."""
    try:
        dumped = record.model_dump(mode="json", by_alias=True, exclude_none=True)
    except UnicodeEncodeError:  # a lone surrogate somewhere (JSON's "\ud800" escape): json.dumps escapes it
        dumped = record.model_dump(mode="python", by_alias=True, exclude_none=True)
    return short_hash(json.dumps(dumped, sort_keys=True, default=str))


def finding_id(rule_id: str, account: str, region: str, resource_id: str, event_id: str | None) -> str:
    """``<rule id>/<account>/<region>/<hash of the resource>[/<event id>]`` (spec §D): redeliveries
    of the same event, and re-evaluations of the same resource state, update the same finding."""
    base = f"{rule_id}/{account}/{region}/{short_hash(resource_id)}"
    return f"{base}/{event_id}" if event_id else base


STATE_ACTOR = Actor(type="AWSConfig", name="AWS Config evaluation", arn=None, account_id=None, source_ip=None,
                    user_agent=None)


def build_state_finding(
    meta: RuleMeta,
    violation: Violation,
    *,
    account: str,
    region: str,
    partition: str,
    observed_at: datetime,
) -> Finding:
    """A finding about a resource's state (AWS Config path): no event, the Id has no event id (spec §D),
    so every evaluation of the same resource under the same rule updates the same finding."""
    return _finding(meta, violation, account=account, region=region, partition=partition, event_time=observed_at,
                    event_id=None, event_name="ConfigRuleEvaluation", event_source="config.amazonaws.com",
                    actor=STATE_ACTOR, event_key=None)


def build_finding(
    meta: RuleMeta,
    violation: Violation,
    record: CloudTrailRecord,
    *,
    account_fallback: str | None = None,
    region_fallback: str | None = None,
) -> Finding:
    identity = record.user_identity
    account = record.recipient_account_id or account_fallback or identity.account_id or "unknown"
    region = record.aws_region or region_fallback or "unknown"
    if record.event_time_unreadable is not None:  # evaluated all the same: say why the finding has no event time
        violation = replace(violation, details={**violation.details, "EventTimeUnreadable": clip(
            f"eventTime {record.event_time_unreadable!r} is not a time: the record was evaluated without it", 256)})
    return _finding(
        meta, violation, account=account, region=region, partition=record.partition,
        event_time=record.event_time, event_id=record.event_id, event_name=record.event_name,
        event_source=record.event_source,
        actor=Actor(
            type=identity.type,
            name=record.actor_name,  # an Identity Center user by name or user id, in either record shape
            arn=identity.arn or None,
            account_id=identity.account_id,
            source_ip=record.source_ip_address,
            user_agent=redact(record.user_agent),
            invoked_by=identity.invoked_by,
            access_key_id=identity.access_key_id or None,
        ),
        event_key=record.event_id or f"record-{record_fingerprint(record)}",
    )


def _finding(meta: RuleMeta, violation: Violation, *, account: str, region: str, event_key: str | None,
             **facts) -> Finding:
    """The fields every finding takes from its rule and verdict, free text redacted; ``facts`` are the
    event's (or the evaluation's): partition, time, event id, name and source, actor."""
    return Finding(
        rule_id=meta.id,
        title=meta.title,
        severity=violation.severity or meta.severity,
        description=redact(violation.description),
        account_id=account,
        region=region,
        resource_type=violation.resource_type or meta.resource_type,
        resource_id=violation.resource_id,
        why=meta.why,
        remediation=meta.remediation,
        remediation_url=meta.remediation_url,
        compliance=meta.compliance,
        finding_types=meta.finding_types,
        finding_id=finding_id(meta.id, account, region, violation.resource_id, event_key),
        details=_redacted(violation.details),
        subject=redact(violation.subject),
        **facts,
    )
