"""The rule contract: what a rule declares (``META``) and what it returns (``Violation``).

A rule module holds ``META: RuleMeta`` and a pure ``evaluate(record, ctx) -> Violation | None``.
Rules read nothing but their arguments: no AWS calls, no environment, no clock (``ctx.now``), no
logging. Everything a finding needs beyond the rule's own verdict (actor, account, event id, the
Security Hub Id) is filled in by :mod:`identity_auditor.model.findings` from the record and the metadata.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from types import MappingProxyType
from typing import Mapping

from identity_auditor.model.cloudtrail import API_CALL
from identity_auditor.model.deployment import AuditorResources, Organization
from identity_auditor.model.policy import DEFAULT_POLICY, OrgPolicy
from identity_auditor.model.severity import Severity

ANY = "*"  # a trigger's event source or event names: any


@dataclass(frozen=True)
class Trigger:
    """The CloudTrail events a rule listens to.

    ``event_source`` and ``event_names`` may be :data:`ANY`; ``identity_types`` narrows a trigger to
    records whose ``userIdentity.type`` is one of them (``root_account_used`` listens to every event
    made by ``Root``). ``detail_types`` are the EventBridge detail-types to admit; ``all_management_events``
    asks EventBridge for read-only events too (rule state ``ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS``).
    """

    event_source: str
    event_names: frozenset[str]
    detail_types: tuple[str, ...] = (API_CALL,)
    identity_types: tuple[str, ...] = ()
    all_management_events: bool = False

    def __init__(
        self,
        event_source: str,
        event_names: tuple[str, ...] | frozenset[str] | str,
        detail_type: str | tuple[str, ...] = API_CALL,
        *,
        identity_types: tuple[str, ...] = (),
        all_management_events: bool = False,
    ):
        names = frozenset([event_names] if isinstance(event_names, str) else event_names)
        object.__setattr__(self, "event_source", event_source)
        object.__setattr__(self, "event_names", names)
        object.__setattr__(self, "detail_types", (detail_type,) if isinstance(detail_type, str) else tuple(detail_type))
        object.__setattr__(self, "identity_types", tuple(identity_types))
        object.__setattr__(self, "all_management_events", all_management_events)

    @property
    def is_wildcard(self) -> bool:
        return self.event_source == ANY or ANY in self.event_names

    def matches(self, event_source: str, event_name: str, identity_type: str | None) -> bool:
        return (
            self.event_source in (ANY, event_source)
            and (ANY in self.event_names or event_name in self.event_names)
            and (not self.identity_types or identity_type in self.identity_types)
        )


@dataclass(frozen=True)
class StateTrigger:
    """When AWS Config evaluates a state rule: its resource type (``AWS::IAM::User``, ``AWS::IAM::Role``,
    ``AWS::::Account``), on a schedule (``periodic``) and/or when a configuration item of that type
    changes (``change_triggered``)."""

    resource_type: str
    periodic: bool = True
    change_triggered: bool = False
    # the snapshot the rule judges when it is not the resource type's own (a credential report row, a role,
    # the account): "iam_posture" (IamPosture) or "identity_center" (IdentityCenterSnapshot). Such a rule
    # judges many resources of one account and returns one StateResult per resource, each naming it
    # (``StateResult.resource``).
    subject: str = ""
    # the parts of the snapshot the rule reads (``IamPosture.unavailable`` keys, a trailing ":" for every
    # key with that prefix): when one could not be read the rule is not run and the sweep says why
    reads: tuple[str, ...] = ()
    # parts read when they can be: the rule still runs without them (and says what it could not know)
    optional: tuple[str, ...] = ()
    # "identity_center": runs once, where Identity Center is administered (never as an organisation rule)
    scope: str = "account"
    # the resource type whose configuration changes also trigger the rule, when not ``resource_type`` (a rule
    # judging the Identity Center instance is also run when a reserved role in some account changes)
    change_type: str = ""


class Compliance(str, Enum):
    """AWS Config compliance of one resource under one rule."""

    COMPLIANT = "COMPLIANT"
    NON_COMPLIANT = "NON_COMPLIANT"
    NOT_APPLICABLE = "NOT_APPLICABLE"


@dataclass(frozen=True)
class StateResult:
    """A state rule's verdict on one resource. ``violation`` is set exactly when NON_COMPLIANT; the
    annotation (<= 256 characters in Config) says why, for every outcome."""

    compliance: Compliance
    annotation: str
    violation: Violation | None = None
    resource: Resource | None = None  # the resource judged, for rules that judge many per subject


@dataclass(frozen=True)
class Resource:
    """One resource among the many a rule judges in one subject (a policy, an assignment, a user).

    ``config_type`` and ``config_id`` are what AWS Config is told (``AWS::IAM::User`` and the AIDA... id,
    ``AWS::IAM::Policy`` and ANPA...); resources Config does not record (an inline policy, a permission
    set, a SAML provider) use ``AWS::::Account`` and are reported to Config through the account's one
    evaluation. ``key`` is what the finding Id hashes (an ARN, or a path naming the resource) and
    ``Resources[0].Id``; ``asff_type`` the finding's resource type (default: the rule's); ``region`` its
    ``Resources[0].Region`` when the resource is in another region than the sweep's."""

    config_type: str
    config_id: str
    name: str
    key: str
    asff_type: str | None = None
    region: str | None = None  # where the resource is, when not the sweep's region (an analyzer of another region)


@dataclass(frozen=True)
class RuleMeta:
    """Declarative description of a rule; everything here ends up in findings and the catalogue."""

    id: str
    title: str
    severity: Severity
    trigger: Trigger | None  # CloudTrail events (None for a rule that only judges state)
    resource_type: str  # ASFF resource type, e.g. AwsIamUser
    finding_types: tuple[str, ...]  # ASFF Types taxonomy entries
    why: str  # why it matters, one or two sentences for the alert body
    remediation: str  # what to do (<= 512 chars: ASFF Remediation.Recommendation.Text)
    remediation_url: str
    compliance: tuple[str, ...] = ()  # e.g. "CIS5 4.2", "FSBP IAM.5"
    also: tuple[Trigger, ...] = ()  # further triggers, for rules that watch several event sources
    severity_note: str = ""  # when the severity differs from ``severity``, e.g. "CRITICAL for root"
    state: StateTrigger | None = None  # set for rules AWS Config evaluates (module has ``evaluate_state``)
    parameters: tuple[str, ...] = ()  # Config ruleParameters the rule reads (policy thresholds it overrides)
    # what the rule reads of the deployment besides the policy, looked up before it runs (see Context):
    # "organization" (the organisation's accounts), "policy_types" (Organizations policy types by id), both
    # optional (the rule says when it could not know them); "auditor" (the auditor's own resources), required:
    # without them the rule can never fire, and the engine leaves it out (Registry.able_to_fire)
    uses: tuple[str, ...] = ()

    @property
    def triggers(self) -> tuple[Trigger, ...]:
        return tuple(trigger for trigger in (self.trigger, *self.also) if trigger is not None)


@dataclass(frozen=True)
class Violation:
    """A rule's verdict that a record breaks it. ``severity`` overrides ``META.severity`` when set."""

    description: str  # one line a human reads first
    resource_id: str  # ARN when known, else the name
    resource_type: str | None = None  # defaults to META.resource_type
    severity: Severity | None = None
    details: dict[str, str] = field(default_factory=dict)  # extra facts shown in alerts and ProductFields
    subject: str | None = None  # what the finding's title names; defaults to the actor


@dataclass(frozen=True)
class Context:
    """What a rule may know besides the record. ``now`` is given so that rules never read the clock.

    ``organization``: the deployment's AWS organisation (``None``: not known, e.g. a CLI run or a
    deployment outside an organisation); ``policy_types``: Organizations policy id -> policy type, for the
    ids the record names, looked up before the rules run (an id missing here could not be looked up);
    ``auditor``: the auditor's own resources."""

    now: datetime
    policy: OrgPolicy = DEFAULT_POLICY
    organization: Organization | None = None
    policy_types: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    auditor: AuditorResources = AuditorResources()


ANNOTATION_LIMIT = 256  # AWS Config: Evaluation.Annotation, the longest text a state verdict may carry

# What the engines catch around one rule's call: any error, and SystemExit too (a rule module calling sys.exit or
# exit(), e.g. a custom rule, must not end the evaluation and silently take every other rule's findings with it).
RULE_ERRORS = (Exception, SystemExit)


@dataclass(frozen=True)
class RuleFailure:
    """A rule raised (a bug in the rule, or a record it did not expect): which rule, on what (an event
    id, a resource, or where a record was read: ``file#Records[3]``), and the error. The engines log it,
    return it and run the other rules; the handlers count it (``RuleErrors``), the CLI exits 3."""

    rule_id: str
    subject: str | None
    error: str
