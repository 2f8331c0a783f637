"""What people write and read about the organisation policy: the effective document (``policy
show``), the policy a validated document describes, a one-line summary, and :class:`PolicyError` with
its per-key messages. The document model and the sources are in :mod:`identity_auditor.policy.loader`.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Callable, Sequence
from datetime import date
from types import MappingProxyType
from typing import Any

from identity_auditor.engine.registry import REGISTRY
from identity_auditor.model.policy import ACCOUNT_PATTERN, ARN_PATTERN, OrgPolicy, SuppressEntry


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
        "privileged_policies": list(policy.privileged_policies),
        "external_idp_scim": policy.external_idp_scim,
        "break_glass_users": list(policy.break_glass_users),
        "access_key_max_age_days": policy.access_key_max_age_days,
        "credentials_unused_days": policy.credentials_unused_days,
        "max_session_hours": policy.max_session_hours,
        "max_privileged_session_hours": policy.max_privileged_session_hours,
        "saml_certificate_warning_days": policy.saml_certificate_warning_days,
        "scim_group_external_ids": policy.scim_group_external_ids,
        "organization_analyzers": list(policy.organization_analyzers),
        "rules": {rule_id: rule(rule_id) for rule_id in _rule_ids()},
        "sequences": {meta.id: {"window_minutes": int(policy.window_for(meta.id, meta.window).total_seconds() // 60),
                                "threshold": policy.threshold_for(meta.id, meta.threshold)}
                      for meta in REGISTRY.sequences},
    }


def _rule_ids() -> tuple[str, ...]:
    return REGISTRY.policy_ids


def from_document(document: Any) -> OrgPolicy:
    """The policy a validated ``PolicyDocument`` describes (the inverse of :func:`policy_document`)."""
    rules = {rid: settings for rid in _rule_ids() if (settings := getattr(document.rules, rid)) is not None}
    return OrgPolicy(
        allow=MappingProxyType({rid: _unique(s.allow) for rid, s in rules.items() if s.allow}),
        trusted_accounts=frozenset(document.trusted_accounts),
        privileged_permission_sets=_unique(document.privileged_permission_sets),
        privileged_policies=_unique(document.privileged_policies),
        external_idp_scim=document.external_idp_scim,
        federated_accounts=frozenset(document.federated_accounts),
        break_glass_users=_unique(document.break_glass_users),
        access_key_max_age_days=document.access_key_max_age_days,
        credentials_unused_days=document.credentials_unused_days,
        max_session_hours=document.max_session_hours,
        max_privileged_session_hours=document.max_privileged_session_hours,
        saml_certificate_warning_days=document.saml_certificate_warning_days,
        scim_group_external_ids=document.scim_group_external_ids,
        organization_analyzers=_unique(document.organization_analyzers),
        disabled=frozenset(rid for rid, s in rules.items() if not s.enabled),
        severity=MappingProxyType({rid: s.severity for rid, s in rules.items() if s.severity is not None}),
        sequence_windows=MappingProxyType({sid: s.window_minutes for sid, s in _sequences(document).items()
                                           if s.window_minutes is not None}),
        sequence_thresholds=MappingProxyType({sid: s.threshold for sid, s in _sequences(document).items()
                                              if s.threshold is not None}),
        suppress=MappingProxyType({
            rid: tuple(SuppressEntry(x.reason, x.owner, x.expires, x.resource, x.principal)
                       for x in s.suppress)
            for rid, s in rules.items() if s.suppress
        }),
    )


def _sequences(document: Any) -> dict:
    """The sequences' settings that differ from their defaults (``policy show`` writes the defaults out)."""
    found = {}
    for meta in REGISTRY.sequences:
        settings = getattr(document.sequences, meta.id, None)
        if settings is None:
            continue
        window = settings.window_minutes
        found[meta.id] = settings.model_copy(update={
            "window_minutes": None if window is not None and window * 60 == meta.window.total_seconds() else window,
            "threshold": None if settings.threshold == meta.threshold else settings.threshold})
    return found


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
        f"{count(len(policy.privileged_policies), 'privileged policy pattern')}, "
        f"SCIM {'on' if policy.external_idp_scim else 'off'}; "
        f"access keys {policy.access_key_max_age_days} days, "
        f"unused credentials {policy.credentials_unused_days} days; "
        f"sessions {policy.max_session_hours} h ({policy.max_privileged_session_hours} h privileged), "
        f"SAML certificates warned {policy.saml_certificate_warning_days} days ahead"
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
