"""The organisation policy: the knobs rules read through ``ctx.policy`` (spec/rules.md §C).

This module holds the typed, frozen policy the rules and the engine read, the matching helpers they
share, and what people read about a policy: :class:`PolicyError` and its per-key messages, the
effective document (``policy show``) and a one-line summary. It imports nothing heavier than the
standard library (``contract`` imports it). The document model, parsing and the sources (SSM,
AppConfig, the packaged default) live in :mod:`identity_auditor.policy.loader`; without a document
every deployment runs with :data:`DEFAULT_POLICY`, whose empty lists mean "nothing is trusted,
nothing is allow-listed, nothing is suppressed".

Patterns use shell-style wildcards (:func:`fnmatch.fnmatchcase`: ``*``, ``?``, ``[...]``), case-sensitive.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from fnmatch import fnmatchcase
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Mapping

if TYPE_CHECKING:  # contract imports this module: Severity is only named in annotations here
    from identity_auditor.model.contract import Severity

ACCOUNT_PATTERN = r"^\d{12}$"
# allow and principal patterns are matched against caller ARNs: a pattern not shaped so never matches
ARN_PATTERN = r"^(arn:|[*?\[])"


@dataclass(frozen=True)
class SuppressEntry:
    """One ``rules.<id>.suppress[]`` entry: findings of the rule whose resource id matches ``resource``
    and/or whose caller matches ``principal`` (both, when both are given) are suppressed until
    ``expires`` (inclusive, a UTC date), with the ``reason`` and ``owner`` noted on the finding."""

    reason: str
    owner: str
    expires: date
    resource: str | None = None
    principal: str | None = None

    @property
    def pattern(self) -> str:
        """The pattern(s) as a person reads them in a note: ``<resource>``, ``<principal>`` or both."""
        if self.resource is not None and self.principal is not None:
            return f"{self.resource} (principal {self.principal})"
        return self.resource if self.resource is not None else self.principal or ""

    def matches(self, resource_id: str, principal_arns: Iterable[str | None] = ()) -> bool:
        if self.resource is None and self.principal is None:
            return False  # the document model forbids this; never let an empty entry hide everything
        if self.resource is not None and not fnmatchcase(resource_id, self.resource):
            return False
        if self.principal is not None:
            return any(arn and fnmatchcase(arn, self.principal) for arn in principal_arns)
        return True

    def expired(self, today: date) -> bool:
        """An entry applies through its ``expires`` day and stops applying the day after."""
        return self.expires < today


def _empty() -> Mapping:
    return MappingProxyType({})


@dataclass(frozen=True)
class OrgPolicy:
    # rule id -> ARN patterns of trusted callers (e.g. the IaC pipeline role), fnmatch syntax
    allow: Mapping[str, tuple[str, ...]] = field(default_factory=_empty)
    # AWS accounts the organisation trusts in role trust policies; empty = not checked
    trusted_accounts: frozenset[str] = frozenset()
    # permission set names or ARNs (patterns) whose assignment is HIGH
    privileged_permission_sets: tuple[str, ...] = ("*AdministratorAccess*",)
    # an external IdP provisions Identity Center users and groups via SCIM
    external_idp_scim: bool = False
    # accounts whose people must sign in through federation (no IAM users)
    federated_accounts: frozenset[str] = frozenset()
    # IAM user names or paths (patterns) allowed to exist, e.g. break-glass users
    break_glass_users: tuple[str, ...] = ()
    access_key_max_age_days: int = 90
    credentials_unused_days: int = 45
    # rule ids the organisation switched off (``rules.<id>.enabled: false``): the engine never runs them
    disabled: frozenset[str] = frozenset()
    # rule id -> the severity every finding of that rule gets, replacing the rule's own
    severity: Mapping[str, Severity] = field(default_factory=_empty)
    # rule id -> suppressions, in document order (the index names the entry in findings and logs)
    suppress: Mapping[str, tuple[SuppressEntry, ...]] = field(default_factory=_empty)

    def allows(self, rule_id: str, *principal_arns: str | None) -> bool:
        """The caller is allow-listed automation for this rule: any of its ARNs (session ARN, the
        issuing role's ARN: see ``UserIdentity.arns``) matches one of the rule's patterns."""
        patterns = self.allow.get(rule_id, ())
        return any(arn and matches_any(arn, patterns) for arn in principal_arns)

    def is_break_glass(self, user_name: str | None, path: str | None = None) -> bool:
        candidates = [c for c in (user_name, f"{path or '/'}{user_name or ''}") if c]
        return any(matches_any(candidate, self.break_glass_users) for candidate in candidates)

    def is_enabled(self, rule_id: str) -> bool:
        return rule_id not in self.disabled

    def severity_for(self, rule_id: str) -> Severity | None:
        """The organisation's severity for this rule's findings, or ``None`` to keep the rule's own."""
        return self.severity.get(rule_id)

    def suppressions(
        self, rule_id: str, resource_id: str, principal_arns: Iterable[str | None] = ()
    ) -> list[tuple[int, SuppressEntry]]:
        """Every suppress entry of the rule that matches the finding, expired or not, with its index."""
        arns = tuple(principal_arns)
        return [
            (index, entry)
            for index, entry in enumerate(self.suppress.get(rule_id, ()))
            if entry.matches(resource_id, arns)
        ]

    def expired_suppressions(self, today: date) -> list[tuple[str, int, SuppressEntry]]:
        """``(rule id, index, entry)`` of every entry past its expiry date, for warnings at load time."""
        return [
            (rule_id, index, entry)
            for rule_id, entries in sorted(self.suppress.items())
            for index, entry in enumerate(entries)
            if entry.expired(today)
        ]


def matches_any(value: str, patterns: tuple[str, ...] | list[str]) -> bool:
    return any(fnmatchcase(value, pattern) for pattern in patterns)


DEFAULT_POLICY = OrgPolicy()


def current_policy(settings) -> OrgPolicy:
    """The organisation policy a function runs with: from SSM or AppConfig when the settings name one
    (fetched through Powertools parameters, cached 5 minutes), else the packaged default, with nothing to
    fetch or parse (the loader, Powertools parameters and YAML are not even imported)."""
    if not (settings.policy_ssm_parameter or settings.policy_appconfig):
        return DEFAULT_POLICY
    from identity_auditor.policy.loader import load_policy

    return load_policy(settings)


def policy_document(policy: OrgPolicy) -> dict:
    """The policy as a document with every key, defaults filled in, that validates back to ``policy``
    (``identity-auditor policy show``); rules in catalogue order."""

    def rule(rule_id: str) -> dict:
        severity = policy.severity_for(rule_id)
        return {
            "enabled": policy.is_enabled(rule_id),
            "severity": severity.value if severity else None,
            "allow": list(policy.allow.get(rule_id, ())),
            "suppress": [
                {"resource": e.resource, "principal": e.principal, "reason": e.reason, "owner": e.owner,
                 "expires": e.expires.isoformat()}
                for e in policy.suppress.get(rule_id, ())
            ],
        }

    return {
        "version": 1,
        "trusted_accounts": sorted(policy.trusted_accounts),
        "federated_accounts": sorted(policy.federated_accounts),
        "privileged_permission_sets": list(policy.privileged_permission_sets),
        "external_idp_scim": policy.external_idp_scim,
        "break_glass_users": list(policy.break_glass_users),
        "access_key_max_age_days": policy.access_key_max_age_days,
        "credentials_unused_days": policy.credentials_unused_days,
        "rules": {rule_id: rule(rule_id) for rule_id in _rule_ids()},
    }


def _rule_ids() -> tuple[str, ...]:
    from identity_auditor.engine.registry import (
        REGISTRY,  # at call time: the registry's rules import this module
    )

    return tuple(rule.meta.id for rule in REGISTRY.rules)


def from_document(document: Any) -> OrgPolicy:
    """The policy a validated ``PolicyDocument`` describes (the inverse of :func:`policy_document`)."""
    rules = {rid: settings for rid in _rule_ids() if (settings := getattr(document.rules, rid)) is not None}
    return OrgPolicy(
        allow=MappingProxyType({rid: _unique(s.allow) for rid, s in rules.items() if s.allow}),
        trusted_accounts=frozenset(document.trusted_accounts),
        privileged_permission_sets=_unique(document.privileged_permission_sets),
        external_idp_scim=document.external_idp_scim,
        federated_accounts=frozenset(document.federated_accounts),
        break_glass_users=_unique(document.break_glass_users),
        access_key_max_age_days=document.access_key_max_age_days,
        credentials_unused_days=document.credentials_unused_days,
        disabled=frozenset(rid for rid, s in rules.items() if not s.enabled),
        severity=MappingProxyType({rid: s.severity for rid, s in rules.items() if s.severity is not None}),
        suppress=MappingProxyType({
            rid: tuple(SuppressEntry(x.reason, x.owner, x.expires, x.resource, x.principal)
                       for x in s.suppress)
            for rid, s in rules.items() if s.suppress
        }),
    )


def _unique(items: list[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))


def dump_policy(policy: OrgPolicy, fmt: str = "yaml", *, source: str | None = None) -> str:
    """The effective policy (``policy show``), every key with its value, as YAML or JSON."""
    document = policy_document(policy)
    if fmt == "json":
        return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    import yaml

    header = f"# Effective identity-auditor organisation policy ({source})\n" if source else ""
    return header + yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=110)


def summary(policy: OrgPolicy, today: date) -> str:
    """One line saying what the policy sets (``policy validate``, the cold-start log line)."""

    def count(number: int, noun: str) -> str:
        return f"{number} {noun}{'' if number == 1 else 's'}"

    entries = sum(len(entries) for entries in policy.suppress.values())
    expired = len(policy.expired_suppressions(today))
    return (
        f"allow-lists for {count(len(policy.allow), 'rule')}, "
        f"{count(entries, 'suppression')} ({expired} expired), "
        f"{count(len(policy.disabled), 'rule')} disabled, "
        f"{count(len(policy.severity), 'severity override')}; "
        f"{count(len(policy.trusted_accounts), 'trusted account')}, "
        f"{count(len(policy.federated_accounts), 'federated account')}, "
        f"{count(len(policy.break_glass_users), 'break-glass pattern')}, "
        f"{count(len(policy.privileged_permission_sets), 'privileged permission set pattern')}, "
        f"SCIM {'on' if policy.external_idp_scim else 'off'}; "
        f"access keys {policy.access_key_max_age_days} days, "
        f"unused credentials {policy.credentials_unused_days} days"
    )


class PolicyError(ValueError):
    """The organisation policy cannot be used; ``problems`` name each bad key with its path and value."""

    def __init__(self, source: str, problems: list[str], *, heading: str = "invalid organisation policy"):
        self.source, self.problems = source, list(problems)
        if len(self.problems) == 1:
            text = f"{source}: {heading}: {self.problems[0]}"
        else:
            text = f"{source}: {heading} ({len(self.problems)} problems):\n" + "\n".join(
                f"  {problem}" for problem in self.problems
            )
        super().__init__(text)


_MESSAGES = {
    "bool_type": "is not a boolean (true or false)",
    "int_type": "is not a whole number",
    "greater_than": "must be a positive whole number",
    "string_too_short": "must not be empty",
    "list_type": "is not a list",
    "string_type": "is not a string",
    "model_type": "is not a mapping",
    "model_attributes_type": "is not a mapping",
    "dict_type": "is not a mapping",
}
_PATTERNS = {
    ACCOUNT_PATTERN: "is not a 12-digit AWS account id",
    ARN_PATTERN: "is not an ARN pattern (it is matched against caller ARNs: start it with arn: or a "
                 "wildcard)",
}


def explain(error: dict, *, rule_ids: Sequence[str], known_keys: Callable[[tuple], list[str]]) -> str:
    """One pydantic validation error of a policy document as ``<path>: <value> <what is wrong>``."""
    loc, kind, value = tuple(error.get("loc", ())), error["type"], error.get("input")
    ctx = error.get("ctx") or {}
    path = _path(loc)
    if kind == "extra_forbidden":
        key, parent = str(loc[-1]), loc[:-1]
        if parent == ("rules",):
            close = difflib.get_close_matches(key, rule_ids, n=3, cutoff=0.6)
            hint = f"did you mean {' or '.join(close)}?" if close else "`identity-auditor rules` lists them"
            return f"{path}: unknown rule id ({hint})"
        known = known_keys(parent)
        close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
        hint = f"did you mean {close[0]}?" if close else f"expected {', '.join(known)}"
        return f"{path}: unknown key ({hint})"
    if kind == "missing":
        return f"{path}: is required"
    if kind == "invalid_key":
        return f"{_path(loc[:-1])}: key {_show(loc[-1])} is not a string"
    if value is None:
        return f"{path}: has no value (give one or remove the key)"
    if kind == "value_error":
        message = str(ctx.get("error") or error["msg"])
        return f"{path}: {_show(value)} {message}" if message.startswith("is ") else f"{path}: {message}"
    if kind == "string_type" and isinstance(value, (int, float)) and not isinstance(value, bool):
        message = f"is a number, not a string (quote it: '{value}')"
    elif kind == "string_pattern_mismatch":
        message = _PATTERNS.get(ctx.get("pattern"), f"does not match {ctx.get('pattern')}")
    elif kind == "enum" and loc and loc[-1] == "severity":
        message = f"is not a severity (expected {ctx.get('expected')})"
    elif kind == "literal_error" and loc == ("version",):
        message = "is not a supported version (expected 1)"
    else:
        message = _MESSAGES.get(kind) or error["msg"][:1].lower() + error["msg"][1:]
    return f"{path}: {_show(value)} {message}"


def _path(loc: tuple) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else f"{'.' if text else ''}{part}"
    return text or "(document)"


def _show(value: Any) -> str:
    text = str(value).lower() if isinstance(value, bool) else repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
