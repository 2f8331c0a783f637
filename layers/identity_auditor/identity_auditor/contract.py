"""The rule contract: what a rule declares (``META``) and what it returns (``Violation``).

A rule module holds ``META: RuleMeta`` and a pure ``evaluate(record, ctx) -> Violation | None``.
Rules read nothing but their arguments: no AWS calls, no environment, no clock (``ctx.now``), no
logging. Everything a finding needs beyond the rule's own verdict (actor, account, event id, the
Security Hub Id) is filled in by :mod:`identity_auditor.findings` from the record and the metadata.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum

from identity_auditor.models import API_CALL


class Severity(str, Enum):
    """ASFF severity labels, ordered."""

    INFORMATIONAL = "INFORMATIONAL"
    LOW = "LOW"
    MEDIUM = "MEDIUM"
    HIGH = "HIGH"
    CRITICAL = "CRITICAL"

    @property
    def rank(self) -> int:
        return list(Severity).index(self)

    @classmethod
    def parse(cls, text: str) -> Severity:
        try:
            return cls(text.strip().upper())
        except ValueError:
            names = ", ".join(s.value.lower() for s in cls)
            raise ValueError(f"unknown severity {text!r}; expected one of {names}") from None


@dataclass(frozen=True)
class Trigger:
    """The CloudTrail events a rule listens to: one event source, its event names, one detail-type."""

    event_source: str
    event_names: frozenset[str]
    detail_type: str = API_CALL

    def __init__(self, event_source: str, event_names: tuple[str, ...] | frozenset[str], detail_type: str = API_CALL):
        object.__setattr__(self, "event_source", event_source)
        object.__setattr__(self, "event_names", frozenset(event_names))
        object.__setattr__(self, "detail_type", detail_type)


@dataclass(frozen=True)
class RuleMeta:
    """Declarative description of a rule; everything here ends up in findings and the catalogue."""

    id: str
    title: str
    severity: Severity
    trigger: Trigger
    resource_type: str  # ASFF resource type, e.g. AwsIamUser
    finding_types: tuple[str, ...]  # ASFF Types taxonomy entries
    why: str  # why it matters, one or two sentences for the alert body
    remediation: str  # what to do (<= 512 chars: ASFF Remediation.Recommendation.Text)
    remediation_url: str
    compliance: tuple[str, ...] = ()  # e.g. "CIS5 4.2", "FSBP IAM.5"


@dataclass(frozen=True)
class Violation:
    """A rule's verdict that a record breaks it. ``severity`` overrides ``META.severity`` when set."""

    description: str  # one line a human reads first
    resource_id: str  # ARN when known, else the name
    resource_type: str | None = None  # defaults to META.resource_type
    severity: Severity | None = None
    details: dict[str, str] = field(default_factory=dict)  # extra facts shown in alerts and ProductFields


@dataclass(frozen=True)
class Context:
    """What a rule may know besides the record. ``now`` is given so that rules never read the clock."""

    now: datetime
