"""The registry: the rules of :data:`identity_auditor.rules.RULES`, indexed by the CloudTrail events that
trigger them. Everything that needs "all rules" asks here: the engines, the policy schema, the CLI's
catalogue, and the EventBridge routes that ``make generate`` writes into template.yaml and forwarder.yaml.
How to add a rule: README, "Add a rule".
"""

from __future__ import annotations

import sys
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from identity_auditor.engine import custom_rules
from identity_auditor.model.cloudtrail import VERSIONED_EVENT_SOURCES, CloudTrailRecord, base_event_name
from identity_auditor.model.contract import Context, RuleMeta, StateResult, Violation
from identity_auditor.model.health import HEALTH_SOURCE
from identity_auditor.model.sequence import SequenceMeta
from identity_auditor.rules import RULES
from identity_auditor.sequences import SEQUENCES

RULES_FOR_CACHE = 10_000  # (source, name, identity type) keys remembered by Registry.rules_for


@dataclass(frozen=True)
class Rule:
    meta: RuleMeta
    evaluate: Callable[[CloudTrailRecord, Context], Violation | None] | None
    evaluate_state: Callable[[Any, Context], StateResult] | None = None  # for rules AWS Config runs

    @property
    def summary(self) -> str:
        """The first line of the rule module's docstring: what it detects, for the catalogue."""
        module = sys.modules.get((self.evaluate or self.evaluate_state).__module__)
        doc = (module.__doc__ if module else None) or self.meta.title
        return doc.strip().splitlines()[0].strip()


# Where CloudTrail delivers a service's events to EventBridge (design.md §3), hence which region's
# EventBridge rule must exist for a rule to see them. STS is not global: calls to its regional endpoints
# (AssumeRoot has only those) are delivered in the region called, so STS routes exist in every region.
GLOBAL_SOURCES = frozenset({"iam.amazonaws.com", "organizations.amazonaws.com", "account.amazonaws.com"})
IDENTITY_CENTER_SOURCES = frozenset(
    {"sso.amazonaws.com", "sso-directory.amazonaws.com", "identitystore.amazonaws.com"}
)
# Identity Center events that can happen in any region, not only the home region: an account instance (a second,
# unmanaged identity source) is created wherever its creator calls.
ANY_REGION_EVENTS = frozenset({("sso.amazonaws.com", "CreateInstance"), ("sso.amazonaws.com", "DeleteInstance")})


@dataclass(frozen=True)
class Route:
    """One EventBridge rule of the deployment: its pattern and the regions it must exist in.

    ``scope``: ``global`` (us-east-1 only: IAM and other global services), ``identity-center`` (the
    Identity Center home region), ``regional`` (every region the auditor covers).
    """

    name: str
    scope: str
    pattern: dict
    all_management_events: bool = False


class Registry:
    """An immutable set of rules indexed by the CloudTrail events that trigger them."""

    def __init__(self, rules: Iterable[Rule], sequences: Iterable[SequenceMeta] = ()):
        """``sequences``: the sequence rules' metadata (spec §E): their steps are routed like the rules' events,
        and their ids take organisation policy settings like rule ids."""
        self.rules: tuple[Rule, ...] = tuple(rules)
        self.sequences: tuple[SequenceMeta, ...] = tuple(sequences)
        self.sequence_triggers = tuple(trigger for meta in self.sequences for trigger in meta.triggers)
        ids = [rule.meta.id for rule in self.rules] + [meta.id for meta in self.sequences]
        duplicates = sorted({rule_id for rule_id in ids if ids.count(rule_id) > 1})
        if duplicates:
            raise ValueError(f"duplicate rule ids in the registry: {', '.join(duplicates)}")
        index: dict[tuple[str, str], list[Rule]] = defaultdict(list)
        for rule in self.rules:
            for trigger in rule.meta.triggers:
                if not trigger.is_wildcard:
                    for name in trigger.event_names:
                        if rule not in index[(trigger.event_source, name)]:
                            index[(trigger.event_source, name)].append(rule)
        self._index = {key: tuple(value) for key, value in index.items()}
        self._wildcards = tuple(rule for rule in self.rules if any(t.is_wildcard for t in rule.meta.triggers))
        self._rules_for: dict[tuple, tuple[Rule, ...]] = {}
        self._wants: dict[tuple, bool] = {}

    def rules_for(self, event_source: str, event_name: str, identity_type: str | None = None) -> tuple[Rule, ...]:
        """The rules an event triggers, remembered per (source, name, identity type): the registry never
        changes, and a busy account repeats a few hundred such keys (at most RULES_FOR_CACHE are kept, so
        hostile event names cannot grow it without bound)."""
        key = (event_source, event_name, identity_type)
        try:
            return self._rules_for[key]
        except (KeyError, TypeError):  # TypeError: a key that cannot be hashed is computed, not kept
            pass
        event_name = base_event_name(event_source, event_name)
        candidates = self._index.get((event_source, event_name), ()) + self._wildcards
        rules = tuple(
            rule
            for rule in dict.fromkeys(candidates)
            if any(t.matches(event_source, event_name, identity_type) for t in rule.meta.triggers)
        )
        if len(self._rules_for) < RULES_FOR_CACHE:
            try:
                self._rules_for[key] = rules
            except TypeError:
                pass
        return rules

    def uses(self, event_source: str, event_name: str, identity_type: str | None = None) -> frozenset[str]:
        """What the rules an event triggers read of the deployment (``RuleMeta.uses``), so that the handler
        looks up only that, and only for those events."""
        return frozenset(use for rule in self.rules_for(event_source, event_name, identity_type)
                         for use in rule.meta.uses)

    def able_to_fire(self, ctx: Context) -> Registry:
        """The rules that can fire with what ``ctx`` knows: without the auditor's own resources (a CLI run),
        the rules that judge only those (``uses`` "auditor") are left out, so their events are not even parsed."""
        if ctx.auditor.known:
            return self
        return Registry((rule for rule in self.rules if "auditor" not in rule.meta.uses), self.sequences)

    @property
    def policy_ids(self) -> tuple[str, ...]:
        """Every id the organisation policy's ``rules`` section may name: the rules, then the sequences."""
        return tuple(rule.meta.id for rule in self.rules) + tuple(meta.id for meta in self.sequences)

    def wants(self, event_source: str, event_name: str, identity_type: str | None = None) -> bool:
        """Some rule listens to the event, or some sequence may take it as a step (what EventBridge delivers):
        one dictionary lookup per event once the key was seen (the hot path of an archive replay, where most
        events are wanted by nothing)."""
        key = (event_source, event_name, identity_type)
        try:
            return self._wants[key]
        except (KeyError, TypeError):
            pass
        name = base_event_name(event_source, event_name)
        wanted = bool(self.rules_for(event_source, event_name, identity_type)) or any(
            t.matches(event_source, name, identity_type) for t in self.sequence_triggers)
        if len(self._wants) < RULES_FOR_CACHE:
            try:
                self._wants[key] = wanted
            except TypeError:
                pass
        return wanted

    def state_rules(self, resource_type: str | None = None) -> tuple[Rule, ...]:
        """The rules AWS Config evaluates, optionally only those of one resource type."""
        return tuple(
            rule
            for rule in self.rules
            if rule.meta.state is not None
            and (resource_type is None or rule.meta.state.resource_type == resource_type)
        )

    def get(self, rule_id: str) -> Rule:
        for rule in self.rules:
            if rule.meta.id == rule_id:
                return rule
        raise KeyError(f"no rule with id {rule_id!r}")

    def routes(self) -> list[Route]:
        """The EventBridge rules the deployment needs, admitting exactly the events the rules want:
        one per event source and detail-types (with its event names), and one per wildcard trigger."""
        names: dict[tuple[str, tuple[str, ...], bool], set[str]] = defaultdict(set)
        routes: list[Route] = []
        owned = [(rule.meta.id, trigger) for rule in self.rules for trigger in rule.meta.triggers]
        for owner, trigger in owned + [("sequence", trigger) for trigger in self.sequence_triggers]:
            if trigger.is_wildcard or trigger.identity_types:
                routes.append(_wildcard_route(owner, trigger))
            else:
                key = (trigger.event_source, tuple(sorted(trigger.detail_types)), trigger.all_management_events)
                names[key] |= trigger.event_names
        for (source, detail_types, all_management_events), events in names.items():
            if source == HEALTH_SOURCE:  # AWS Health events are not CloudTrail records: matched on their type code
                pattern = {"source": AWS_SOURCES, "detail-type": list(detail_types),
                           "detail": {"eventTypeCode": sorted(events)}}
                routes.append(Route("health-events", "regional", pattern))
                continue
            service = source.split(".", 1)[0]
            kind = {"AWS Console Sign In via CloudTrail": "console", "AWS Service Event via CloudTrail": "service"}
            suffix = "-".join(kind.get(t, "api") for t in detail_types)
            scope = (
                "global" if source in GLOBAL_SOURCES
                else "identity-center" if source in IDENTITY_CENTER_SOURCES or suffix == "service"
                else "regional"
            )
            anywhere = {name for name in events if (source, name) in ANY_REGION_EVENTS}
            if scope == "identity-center" and anywhere:
                routes.append(Route(f"{service}-{suffix}-anywhere", "regional", {
                    "source": AWS_SOURCES, "detail-type": list(detail_types),
                    "detail": {"eventSource": [source], "eventName": sorted(anywhere)}}, all_management_events))
                events = events - anywhere
            pattern = {"source": AWS_SOURCES, "detail-type": list(detail_types),
                       "detail": {"eventSource": [source], "eventName": _event_names(source, events)}}
            # read-only events too (e.g. sts GetSessionToken): a rule of its own, "<service>-<kind>-all"
            name = f"{service}-{suffix}" + ("-all" if all_management_events else "")
            routes.append(Route(name, scope, pattern, all_management_events))
        named = [route.name for route in routes]
        if len(named) != len(set(named)):
            raise ValueError(f"two EventBridge routes share a name: {sorted(n for n in named if named.count(n) > 1)}")
        return sorted(routes, key=lambda route: route.name)

    def event_patterns(self) -> list[dict]:
        return [route.pattern for route in self.routes()]


# Only AWS services can put events with an ``aws.`` source (PutEvents refuses it to everyone else): without
# this, anyone allowed to put events on a bus the rules watch (the organisation's central bus) could forge
# "AWS API Call via CloudTrail" events and with them findings and alerts.
AWS_SOURCES = [{"prefix": "aws."}]


def _event_names(source: str, names) -> list:
    """The ``eventName`` values of a pattern: the names, and for a service that appends its API version to
    event names (``DeleteFunction20150331``) each name followed by that version (a prefix match)."""
    if source in VERSIONED_EVENT_SOURCES:
        return [entry for name in sorted(names) for entry in (name, {"prefix": f"{name}20"})]
    return sorted(names)


def _wildcard_route(rule_id: str, trigger) -> Route:
    detail: dict = {}
    if trigger.event_source != "*":
        detail["eventSource"] = [trigger.event_source]
    if "*" not in trigger.event_names:
        detail["eventName"] = sorted(trigger.event_names)
    if trigger.identity_types:
        detail["userIdentity"] = {"type": list(trigger.identity_types)}
    pattern = {"source": AWS_SOURCES, "detail-type": sorted(trigger.detail_types), "detail": detail}
    return Route(_route_name(rule_id), "regional", pattern, trigger.all_management_events)


MAX_ROUTE_NAME = 20  # "<stack name>-<route>" is at most 64 characters, for a stack name of up to 43


def _route_name(rule_id: str) -> str:
    """A wildcard route's name: the rule id's words, as many as fit in :data:`MAX_ROUTE_NAME` (at least two)."""
    words = rule_id.split("_")
    while len(words) > 2 and len("-".join(words)) > MAX_ROUTE_NAME:
        words.pop()
    return "-".join(words)


def _from_module(module: ModuleType) -> Rule:
    return Rule(
        meta=module.META,
        evaluate=getattr(module, "evaluate", None),
        evaluate_state=getattr(module, "evaluate_state", None),
    )


BUILT_IN: tuple[Rule, ...] = tuple(_from_module(module) for module in RULES)
BUILT_IN_IDS = frozenset(rule.meta.id for rule in BUILT_IN)
# the ids a custom rule may not take: the built-in rules' and the sequences' (one registry, one namespace)
TAKEN_IDS = BUILT_IN_IDS | frozenset(module.META.id for module in SEQUENCES)

# The built-in rules, and in Lambda the custom rules packaged into the layer (identity_auditor_custom_rules).
REGISTRY = Registry(BUILT_IN + tuple(_from_module(module) for module in custom_rules.load_package(TAKEN_IDS)),
                    sequences=(module.META for module in SEQUENCES))


def use_custom_rules(modules: Iterable[ModuleType]) -> Registry:
    """Make :data:`REGISTRY` the built-in rules followed by the custom rule ``modules`` (loaded and checked by
    :mod:`identity_auditor.engine.custom_rules`), in place: the engines, the policy and the routes all hold
    this one object. The command line calls it once, before it evaluates anything."""
    REGISTRY.__init__(BUILT_IN + tuple(_from_module(module) for module in modules), REGISTRY.sequences)
    return REGISTRY
