"""The organisation policy: the knobs rules read through ``ctx.policy`` (spec/rules.md §C).

This module holds the typed policy and the matching helpers the rules share. Loading it from a
document (SSM Parameter Store, AppConfig or a file), its schema and suppressions come with the policy
issue; until then every deployment runs with :data:`DEFAULT_POLICY`, whose empty lists mean "nothing
is trusted, nothing is allow-listed".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from types import MappingProxyType
from typing import Mapping


@dataclass(frozen=True)
class OrgPolicy:
    # rule id -> ARN patterns of trusted callers (e.g. the IaC pipeline role), fnmatch syntax
    allow: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: MappingProxyType({}))
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

    def allows(self, rule_id: str, *principal_arns: str | None) -> bool:
        """The caller is allow-listed automation for this rule: any of its ARNs (session ARN, the
        issuing role's ARN: see ``UserIdentity.arns``) matches one of the rule's patterns."""
        patterns = self.allow.get(rule_id, ())
        return any(arn and matches_any(arn, patterns) for arn in principal_arns)

    def is_break_glass(self, user_name: str | None, path: str | None = None) -> bool:
        candidates = [c for c in (user_name, f"{path or '/'}{user_name or ''}") if c]
        return any(matches_any(candidate, self.break_glass_users) for candidate in candidates)


def matches_any(value: str, patterns: tuple[str, ...] | list[str]) -> bool:
    return any(fnmatchcase(value, pattern) for pattern in patterns)


DEFAULT_POLICY = OrgPolicy()
