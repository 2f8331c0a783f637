"""The one registry of rules. Everything that needs "all rules" asks here: the engine, the CLI's
catalogue, the EventBridge patterns in template.yaml (checked by tests/contract/test_template.py).

To add a rule: write ``rules/<rule_id>.py`` (``META`` + ``evaluate``), add it to ``_MODULES``, add its
sample events to ``events/`` and ``events/manifest.json``, then run ``identity-auditor patterns``
and paste any changed pattern into template.yaml.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from types import ModuleType

from identity_auditor.contract import Context, RuleMeta, Violation
from identity_auditor.models import CloudTrailRecord
from identity_auditor.rules import (
    iam_access_key_created,
    signin_console_login_without_mfa,
    sso_reserved_role_modified,
)

_MODULES: tuple[ModuleType, ...] = (
    signin_console_login_without_mfa,
    iam_access_key_created,
    sso_reserved_role_modified,
)


@dataclass(frozen=True)
class Rule:
    meta: RuleMeta
    evaluate: Callable[[CloudTrailRecord, Context], Violation | None]


class Registry:
    """An immutable set of rules indexed by the CloudTrail events that trigger them."""

    def __init__(self, rules: Iterable[Rule]):
        self.rules: tuple[Rule, ...] = tuple(rules)
        ids = [rule.meta.id for rule in self.rules]
        duplicates = sorted({rule_id for rule_id in ids if ids.count(rule_id) > 1})
        if duplicates:
            raise ValueError(f"duplicate rule ids in the registry: {', '.join(duplicates)}")
        index: dict[tuple[str, str], list[Rule]] = defaultdict(list)
        for rule in self.rules:
            for name in rule.meta.trigger.event_names:
                index[(rule.meta.trigger.event_source, name)].append(rule)
        self._index = {key: tuple(value) for key, value in index.items()}

    def rules_for(self, event_source: str, event_name: str) -> tuple[Rule, ...]:
        return self._index.get((event_source, event_name), ())

    def wants(self, event_source: str, event_name: str) -> bool:
        return (event_source, event_name) in self._index

    def get(self, rule_id: str) -> Rule:
        for rule in self.rules:
            if rule.meta.id == rule_id:
                return rule
        raise KeyError(f"no rule with id {rule_id!r}")

    def event_patterns(self) -> list[dict]:
        """EventBridge patterns admitting exactly the events the rules need: one per detail-type and source."""
        names: dict[tuple[str, str], set[str]] = defaultdict(set)
        for rule in self.rules:
            trigger = rule.meta.trigger
            names[(trigger.detail_type, trigger.event_source)] |= trigger.event_names
        return [
            {"detail-type": [detail_type], "detail": {"eventSource": [source], "eventName": sorted(events)}}
            for (detail_type, source), events in sorted(names.items())
        ]


def _from_module(module: ModuleType) -> Rule:
    return Rule(meta=module.META, evaluate=module.evaluate)


REGISTRY = Registry(_from_module(module) for module in _MODULES)
