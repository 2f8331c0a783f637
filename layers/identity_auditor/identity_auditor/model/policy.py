"""The organisation policy as rules and the engine read it (``ctx.policy``; spec/rules.md §C): a typed,
frozen value and the matching helpers they share.

Documents, their validation and messages, and where they are read from live in
:mod:`identity_auditor.policy`; without a document every deployment runs with :data:`DEFAULT_POLICY`,
whose empty lists mean "nothing is trusted, nothing is allow-listed, nothing is suppressed".

Patterns use shell-style wildcards (:func:`fnmatch.fnmatchcase`: ``*``, ``?``, ``[...]``), case-sensitive.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from fnmatch import fnmatchcase
from types import MappingProxyType
from typing import Mapping

from identity_auditor.model.severity import Severity

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
    # managed policy ARNs (patterns) that grant administrative power when attached or passed
    privileged_policies: tuple[str, ...] = (
        "arn:*:iam::aws:policy/AdministratorAccess",
        "arn:*:iam::aws:policy/IAMFullAccess",
    )
    # an external IdP provisions Identity Center users and groups via SCIM
    external_idp_scim: bool = False
    # accounts whose people must sign in through federation (no IAM users)
    federated_accounts: frozenset[str] = frozenset()
    # IAM user names or paths (patterns) allowed to exist, e.g. break-glass users
    break_glass_users: tuple[str, ...] = ()
    access_key_max_age_days: int = 90
    credentials_unused_days: int = 45
    # Identity Center permission sets: the longest session allowed, for any and for privileged ones (hours)
    max_session_hours: int = 8
    max_privileged_session_hours: int = 2
    # a SAML provider's signing certificate expiring within this many days is reported
    saml_certificate_warning_days: int = 30
    # the external IdP sends externalId for groups too (some do not): hand-made groups are then reported
    scim_group_external_ids: bool = False
    # Access Analyzer analyzer ARNs (patterns) of the organisation, counted as present in every member
    # account, which cannot list the organisation's analyzer itself
    organization_analyzers: tuple[str, ...] = ()
    # rule ids the organisation switched off (``rules.<id>.enabled: false``): the engine never runs them
    disabled: frozenset[str] = frozenset()
    # rule id -> the severity every finding of that rule gets, replacing the rule's own
    severity: Mapping[str, Severity] = field(default_factory=_empty)
    # rule id -> suppressions, in document order (the index names the entry in findings and logs)
    suppress: Mapping[str, tuple[SuppressEntry, ...]] = field(default_factory=_empty)
    # sequence id -> its window in minutes / its threshold, replacing the sequence's defaults (spec §E)
    sequence_windows: Mapping[str, int] = field(default_factory=_empty)
    sequence_thresholds: Mapping[str, int] = field(default_factory=_empty)

    def allows(self, rule_id: str, *principal_arns: str | None) -> bool:
        """The caller is allow-listed automation for this rule: any of its ARNs (session ARN, the
        issuing role's ARN: see ``UserIdentity.arns``) matches one of the rule's patterns."""
        patterns = self.allow.get(rule_id, ())
        return bool(patterns) and any(arn and matches_any(arn, patterns) for arn in principal_arns)

    def is_privileged_policy(self, policy_arn: str | None) -> bool:
        """The managed policy ARN is one of ``privileged_policies``, ignoring case: IAM resolves a managed policy
        ARN written in any case (``.../administratoraccess`` attaches AdministratorAccess)."""
        if not policy_arn or not isinstance(policy_arn, str):
            return False
        folded = policy_arn.casefold()
        return any(fnmatchcase(folded, pattern.casefold()) for pattern in self.privileged_policies)

    def is_break_glass(self, user_name: str | None, path: str | None = None) -> bool:
        candidates = [c for c in (user_name, f"{path or '/'}{user_name or ''}") if c]
        return any(matches_any(candidate, self.break_glass_users) for candidate in candidates)

    def window_for(self, sequence_id: str, default: timedelta) -> timedelta:
        """The window of a sequence: the organisation's (``sequences.<id>.window_minutes``) or its default."""
        minutes = self.sequence_windows.get(sequence_id)
        return timedelta(minutes=minutes) if minutes else default

    def threshold_for(self, sequence_id: str, default: int | None) -> int | None:
        """The threshold of a counting sequence: the organisation's (``sequences.<id>.threshold``) or its default."""
        return self.sequence_thresholds.get(sequence_id, default)

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
