"""Who can assume a role: a pure analysis of IAM role trust policies (spec/rules.md, ``iam_role_trust_policy_unsafe``).

Shared by the CloudTrail rule (``CreateRole`` / ``UpdateAssumeRolePolicy``) and the AWS Config rule
(a role's current trust policy). :func:`analyze_trust_policy` returns one :class:`TrustProblem` per
unsafe (statement, principal) pair; an empty list means the policy is safe by these checks.

Input: a dict, a JSON string, or URL-encoded JSON (``%7B%22Version...``, as in CloudTrail
``responseElements`` and Config items). Element names and ``Effect`` are read case-insensitively;
``Statement``, ``Principal`` values, ``Action`` and condition values may be a single value or a list.
Malformed input (not JSON, not an object, no ``Statement``, a statement without ``Action``/``NotAction``)
raises :class:`ValueError` naming what is wrong.

What is checked (only ``Effect: Allow`` statements that grant an assume action, i.e. whose
``Action``/``NotAction`` covers ``sts:AssumeRole``, ``sts:AssumeRoleWithWebIdentity`` or
``sts:AssumeRoleWithSAML``; ``sts:TagSession`` / ``sts:SetSourceIdentity`` alone let nobody in; Deny
statements never make a policy unsafe):

* ``wildcard-principal`` (CRITICAL): ``Principal`` ``"*"`` or a ``"*"`` value of any principal type
  (``{"AWS": "*"}``), unless a condition pins the caller: ``aws:PrincipalOrgID``,
  ``aws:PrincipalOrgPaths``, ``aws:PrincipalAccount``, ``aws:PrincipalArn``, ``aws:SourceAccount`` or
  ``aws:SourceArn``. ``sts:ExternalId`` does not pin anyone (it is a shared value, not an identity).
* ``not-principal`` (CRITICAL): ``NotPrincipal`` with Allow trusts everyone but the listed principals.
* ``web-identity-aud`` / ``web-identity-sub`` / ``web-identity-sub-wildcard`` (HIGH): a ``Federated``
  web identity provider without a pinned audience, without a pinned subject, or with a bare-wildcard
  subject. Keys are ``<provider>:aud`` and ``<provider>:sub``, where ``<provider>`` is the part of an
  ``oidc-provider/`` ARN after that word (``token.actions.githubusercontent.com``,
  ``oidc.eks.<region>.amazonaws.com/id/<id>``, ``sts.windows.net/<tenant>/``). The built-in providers use
  their own keys: Cognito ``cognito-identity.amazonaws.com:aud`` plus ``:sub`` *or* ``:amr`` (``aud`` +
  ``amr`` is the usual Cognito pattern: the pool pins who issues, ``amr`` which kind of identity);
  Google ``accounts.google.com:aud`` or ``:oaud`` plus ``:sub``; Facebook ``graph.facebook.com:app_id``
  plus ``:id``; Login with Amazon ``www.amazon.com:app_id`` plus ``:user_id``.
* ``saml-aud`` (HIGH): a ``saml-provider/`` principal with ``sts:AssumeRoleWithSAML`` but no pinned ``SAML:aud``.
* ``untrusted-account`` (HIGH; MEDIUM when every statement admitting the account pins ``sts:ExternalId``,
  the usual third-party vendor pattern): an AWS principal (account id, ``:root``, role, user or session
  ARN) in an account outside the **zone of trust** (as in IAM Access Analyzer: ``own_account``,
  ``trusted_accounts`` and, when the organisation's accounts are known, every account of
  ``organization``), unless ``aws:PrincipalOrgID`` / ``aws:PrincipalOrgPaths`` pins the organisation
  (when the organisation's id is known, only values naming it count; otherwise any pinned value does).
  Unique ids (``AROA...``, left where a trusted principal was deleted) name no account and are skipped;
  service principals are fine on their own.

When a condition "pins" a key: the key (compared case-insensitively) appears under a positive operator
(``StringEquals``, ``StringEqualsIgnoreCase``, ``StringLike``, ``ArnEquals``, ``ArnLike``, optionally
``ForAnyValue:``) and none of its values is a bare wildcard. Negated operators (``StringNotEquals``...),
``...IfExists`` (true when the key is absent), ``ForAllValues:`` (true when the key is absent) and
``Null`` never pin. Values are OR-ed, so one bare value makes the whole condition match anything.

A bare wildcard is a value that leaves the first meaningful part open. A ``*`` or ``?`` counts whatever
the operator: under ``StringEquals`` it matches literally, but it shows the author meant "anyone" and is
one edit from opening the role. Per key:

* account ids and ``aws:PrincipalOrgID``: any wildcard;
* ARNs (``aws:PrincipalArn``, ``aws:SourceArn``): a wildcard in or before the account field (or, for
  ARNs without an account such as S3's, at the start of the resource);
* everything else (``sub``, ``aud``, ``amr``, ``SAML:aud``, ``aws:PrincipalOrgPaths``): after one known
  claim prefix (``repo:``, ``system:serviceaccount:``, ``project_path:``, ``organization:``,
  ``repository_owner:``, ``repository_owner_id:``, ``repository:``), the first segment (up to ``:`` or
  ``/``) must be complete and wildcard-free before any wildcard. Bare: ``*``, ``repo:*``, ``repo:*/*``,
  ``repo:org*`` (also matches ``org-evil``), ``system:serviceaccount:*``, ``o-*``. Not bare:
  ``repo:org/*`` (one GitHub organisation), ``system:serviceaccount:payments:*`` (one namespace).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from fnmatch import fnmatchcase
from typing import Any
from urllib.parse import unquote

from identity_auditor.model.cloudtrail import lookup
from identity_auditor.model.contract import Severity
from identity_auditor.model.deployment import Organization

ASSUME_ACTIONS = ("sts:assumerole", "sts:assumerolewithwebidentity", "sts:assumerolewithsaml")
CALLER_KEYS = frozenset({"aws:principalorgid", "aws:principalorgpaths", "aws:principalaccount",
                         "aws:principalarn", "aws:sourceaccount", "aws:sourcearn"})
ORG_KEYS = frozenset({"aws:principalorgid", "aws:principalorgpaths"})
EXTERNAL_ID = "sts:externalid"
_ID_KEYS = frozenset({"aws:principalorgid", "aws:principalaccount", "aws:sourceaccount"})
_ARN_KEYS = frozenset({"aws:principalarn", "aws:sourcearn"})
_PINNING_OPERATORS = frozenset({"stringequals", "stringequalsignorecase", "stringlike", "arnequals", "arnlike"})
_CLAIM_PREFIXES = ("system:serviceaccount:", "repository_owner_id:", "repository_owner:", "repository:",
                   "project_path:", "organization:", "repo:")
# Built-in web identity providers: provider -> (audience keys, subject keys), without the provider prefix.
_BUILT_IN = {
    "cognito-identity.amazonaws.com": (("aud",), ("sub", "amr")),
    "accounts.google.com": (("aud", "oaud"), ("sub",)),
    "graph.facebook.com": (("app_id",), ("id",)),
    "www.amazon.com": (("app_id",), ("user_id",)),
}
_ACCOUNT = re.compile(r"^(?:\d{12}|arn:[^:]*:(?:iam|sts)::(\d{12}):.*)$")
_WILDCARD = re.compile(r"[*?]")


@dataclass(frozen=True)
class TrustProblem:
    """One reason a trust policy lets in more callers than it should."""

    statement_index: int  # position in ``Statement`` (0 when it is a single object)
    sid: str | None
    principal: str  # the offending principal as written, e.g. "*" or "arn:aws:iam::111122223333:root"
    severity: Severity  # CRITICAL, HIGH, or MEDIUM (an outside account that must present an external id)
    code: str  # stable kind, e.g. "wildcard-principal", "web-identity-sub-wildcard"
    reason: str  # short, human
    account: str | None = None  # the outside account of an ``untrusted-account`` problem

    @property
    def where(self) -> str:
        return f"Statement[{self.statement_index}]" + (f" (Sid {self.sid})" if self.sid else "")


def analyze_trust_policy(
    document: str | dict,
    *,
    trusted_accounts: frozenset[str] = frozenset(),
    own_account: str | None = None,
    organization: Organization | None = None,
) -> list[TrustProblem]:
    """The problems of a trust policy, in statement order; ``[]`` when it is safe. See the module docs."""
    policy = parse_policy(document)
    zone = zone_of_trust(trusted_accounts, own_account, organization)
    org_id = organization.id if organization else None
    problems: list[TrustProblem] = []
    for index, statement in enumerate(_statements(policy)):
        if str(lookup(statement, "Effect") or "").lower() != "allow" or not _grants_assume(statement, index):
            continue
        sid = lookup(statement, "Sid") or None
        found = _check_statement(statement, _Conditions(lookup(statement, "Condition"), index), zone, org_id)
        problems.extend(TrustProblem(index, sid, principal, severity, code, reason, account)
                        for principal, severity, code, reason, account in found)
    return _vendor_only_when_always_vendor(problems)


def zone_of_trust(trusted_accounts: frozenset[str], own_account: str | None,
                  organization: Organization | None) -> frozenset[str]:
    """The accounts a role may trust without a finding: its own, ``trusted_accounts``, and the organisation's
    accounts when they could be read."""
    zone = set(trusted_accounts) | ({own_account} if own_account else set())
    if organization is not None and organization.readable:
        zone |= organization.accounts
    return frozenset(zone)


def _vendor_only_when_always_vendor(problems: list[TrustProblem]) -> list[TrustProblem]:
    """An outside account is MEDIUM only when *every* statement admitting it pins ``sts:ExternalId``: one
    statement without makes each of that account's problems HIGH."""
    high = {p.account for p in problems if p.code == "untrusted-account" and p.severity is Severity.HIGH}
    return [replace(p, severity=Severity.HIGH) if p.code == "untrusted-account" and p.account in high else p
            for p in problems]


def parse_policy(document: str | dict, kind: str = "trust policy") -> dict:
    """A policy document as a dict, from a dict, a JSON string or URL-encoded JSON; errors name it ``kind``."""
    if isinstance(document, dict):
        return document
    if not isinstance(document, str):
        raise ValueError(f"{kind} must be a JSON string or an object, not {type(document).__name__}")
    text = document.strip()
    for _ in range(3):  # plain, URL-encoded, or (rarely) encoded twice
        if not text.startswith("%"):
            break
        text = unquote(text).strip()
    try:
        policy = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"{kind} is not JSON (nor URL-encoded JSON): {error}") from None
    if not isinstance(policy, dict):
        raise ValueError(f"{kind} must be a JSON object, not {type(policy).__name__}")
    return policy


def _values(value: Any) -> list[str]:
    items = value if isinstance(value, list) else [] if value is None else [value]
    return [str(item).lower() if isinstance(item, bool) else str(item) for item in items]


def _statements(policy: dict) -> list[dict]:
    statements = lookup(policy, "Statement")
    if statements is None:
        raise ValueError("trust policy has no Statement")
    statements = statements if isinstance(statements, list) else [statements]
    if not statements or not all(isinstance(s, dict) for s in statements):
        raise ValueError("trust policy Statement must be an object or a non-empty list of objects")
    return statements


def _grants_assume(statement: dict, index: int) -> bool:
    if lookup(statement, "Action") is None and lookup(statement, "NotAction") is None:
        raise ValueError(f"trust policy Statement[{index}] has neither Action nor NotAction")
    return any(_covers(statement, action) for action in ASSUME_ACTIONS)


def _covers(statement: dict, action: str) -> bool:
    """``Action`` matches ``action`` (lower-case), or ``NotAction`` does not; wildcards as in IAM."""
    actions = lookup(statement, "Action")
    listed = any(fnmatchcase(action, p.lower()) for p in _values(actions if actions is not None
                                                                  else lookup(statement, "NotAction")))
    return listed if actions is not None else not listed


class _Conditions:
    """A statement's ``Condition`` block, keys lower-cased: which keys it pins."""

    def __init__(self, block: Any, index: int):
        if block is not None and not isinstance(block, dict):
            raise ValueError(f"trust policy Statement[{index}] Condition must be an object")
        self.pinning: dict[str, list[list[str]]] = {}  # key -> value lists under pinning operators
        for operator, entries in (block or {}).items():
            qualifier, _, name = str(operator).lower().rpartition(":")
            if qualifier not in ("", "foranyvalue") or name not in _PINNING_OPERATORS or not isinstance(entries, dict):
                continue  # negated, ...IfExists, ForAllValues:, Null, numeric, date, bool: never pin
            for key, value in entries.items():
                self.pinning.setdefault(str(key).lower(), []).append(_values(value))

    def state(self, keys: frozenset[str] | tuple[str, ...]) -> str:
        """``"pinned"`` when one of ``keys`` is pinned, ``"wildcard"`` when only bare values pin them,
        ``"absent"`` otherwise."""
        seen = False
        for key in keys:
            for values in self.pinning.get(key, ()):
                seen = True
                if values and not any(is_bare_wildcard(key, value) for value in values):
                    return "pinned"
        return "wildcard" if seen else "absent"

    def pins_organization(self, org_id: str | None) -> bool:
        """``aws:PrincipalOrgID`` / ``aws:PrincipalOrgPaths`` pin the caller to the organisation ``org_id``: every
        value of one of them names it (``o-…``, or a path starting ``o-…/``). An organisation the deployment does
        not know (``org_id`` ``None``) cannot be shown to be the one pinned: never (an attacker's ``o-…`` would
        do as well)."""
        if not org_id or self.state(ORG_KEYS) != "pinned":
            return False
        return any(values and all(v == org_id or v.startswith(f"{org_id}/") for v in values)
                   for key in ORG_KEYS for values in self.pinning.get(key, ()))

    def pinned_organizations(self) -> list[str]:
        """The organisations (``o-…``) the organisation keys pin, as written."""
        return list(dict.fromkeys(v.split("/", 1)[0] for key in ORG_KEYS for values in self.pinning.get(key, ())
                                  for v in values if v))

    def pins_inside(self, zone: frozenset[str], org_id: str | None) -> tuple[bool, list[str]]:
        """Whether the keys that pin the caller of a ``*`` principal keep it inside the zone of trust (one key
        whose every value is inside suffices: the keys of a condition block must all match), and the outside
        accounts or organisations they name otherwise."""
        outside: list[str] = []
        if self.pins_organization(org_id):
            return True, []
        outside += self.pinned_organizations()
        for key in ("aws:principalaccount", "aws:sourceaccount", "aws:principalarn", "aws:sourcearn"):
            for values in self.pinning.get(key, ()):
                accounts = [_account_in(key, value) for value in values]
                if values and all(account in zone for account in accounts):
                    return True, []
                outside += [account or value for account, value in zip(accounts, values) if account not in zone]
        return False, list(dict.fromkeys(outside))


def is_bare_wildcard(key: str, value: str) -> bool:
    """``value`` of condition key ``key`` leaves the first meaningful part open (module docs)."""
    if not _WILDCARD.search(value):
        return False
    key = key.lower()
    if key in _ID_KEYS:
        return True
    if key in _ARN_KEYS:
        parts = value.split(":", 5)
        if len(parts) < 6 or _WILDCARD.search(":".join(parts[:5])):
            return True
        return parts[4] == "" and bool(_WILDCARD.match(parts[5]))
    rest = value
    for prefix in _CLAIM_PREFIXES:
        if rest.lower().startswith(prefix):
            rest = rest[len(prefix):]
            break
    first = re.match(r"[^:/]*", rest).group(0)
    return first == "" or bool(_WILDCARD.search(first))


def _principals(statement: dict) -> list[tuple[str, str]]:
    """(type, value) pairs; type ``*`` for ``"Principal": "*"``."""
    principal = lookup(statement, "Principal")
    if principal is None:
        return []
    if not isinstance(principal, dict):
        return [("*", value) for value in _values(principal)]
    return [(str(kind), value) for kind, values in principal.items() for value in _values(values)]


def _check_statement(statement: dict, conditions: _Conditions, zone: frozenset[str], org_id: str | None):
    """(principal, severity, code, reason, account) tuples for one Allow statement that grants an assume action."""
    not_principal = lookup(statement, "NotPrincipal")
    if not_principal is not None:
        yield (f"NotPrincipal {json.dumps(not_principal, sort_keys=True)}", Severity.CRITICAL, "not-principal",
               "NotPrincipal with Allow trusts every principal except the ones listed", None)
    for kind, value in _principals(statement):
        if value == "*" or (kind.lower() == "aws" and "*" in value):
            caller = conditions.state(CALLER_KEYS)
            if caller != "pinned":
                why = "only bare wildcards pin the caller" if caller == "wildcard" else "no condition pins the caller"
                yield (value, Severity.CRITICAL, "wildcard-principal",
                       f"any AWS principal can assume the role ({why}; sts:ExternalId does not count)", None)
                continue
            inside, outside = conditions.pins_inside(zone, org_id)
            for other in ([] if inside else outside):
                yield (value, Severity.HIGH, "untrusted-account",
                       f"the condition pins the caller to {other}, outside the zone of trust"
                       + _org_note(other, org_id), other)
        elif kind.lower() == "aws":
            account = account_of(value)
            if account and account not in zone and not conditions.pins_organization(org_id):
                vendor = conditions.state((EXTERNAL_ID,)) == "pinned"
                pinned = conditions.pinned_organizations()
                yield (value, Severity.MEDIUM if vendor else Severity.HIGH, "untrusted-account",
                       f"account {account} is outside the zone of trust"
                       + (f" and the organisation it is pinned to ({', '.join(pinned)}) is not yours"
                          + _org_note(pinned[0], org_id) if pinned else " and no condition pins the organisation")
                       + (" (it must present an sts:ExternalId, the usual vendor pattern)" if vendor else ""),
                       account)
        elif kind.lower() == "federated":
            if ":saml-provider/" in value:
                if _covers(statement, "sts:assumerolewithsaml") and conditions.state(("saml:aud",)) != "pinned":
                    yield (value, Severity.HIGH, "saml-aud", "SAML federation without a SAML:aud condition", None)
            elif _covers(statement, "sts:assumerolewithwebidentity"):
                yield from _check_web_identity(value, conditions)


def _check_web_identity(provider_value: str, conditions: _Conditions):
    provider = web_identity_provider(provider_value)
    aud_names, sub_names = _BUILT_IN.get(provider, (("aud",), ("sub",)))
    aud = conditions.state(tuple(f"{provider}:{name}" for name in aud_names))
    sub = conditions.state(tuple(f"{provider}:{name}" for name in sub_names))
    aud_key, sub_key = f"{provider}:{aud_names[0]}", f"{provider}:{'/'.join(sub_names)}"
    if aud != "pinned":
        detail = "only a bare wildcard" if aud == "wildcard" else "no"
        yield (provider_value, Severity.HIGH, "web-identity-aud",
               f"web identity federation with {detail} {aud_key} condition (any audience's token is accepted)", None)
    if sub == "absent":
        yield (provider_value, Severity.HIGH, "web-identity-sub",
               f"web identity federation without a {sub_key} condition (any identity of the provider can assume)",
               None)
    elif sub == "wildcard":
        yield (provider_value, Severity.HIGH, "web-identity-sub-wildcard",
               f"web identity federation whose {sub_key} condition is a bare wildcard", None)


def _org_note(pinned: str, org_id: str | None) -> str:
    """For an organisation id that could not be compared: why (the deployment does not know its own)."""
    if pinned.startswith("o-") and not org_id:
        return " (the deployment does not know its organisation, so the organisation pinned could not be checked)"
    return ""


def _account_in(key: str, value: str) -> str | None:
    """The account a caller-pinning condition value names: the value itself for the account keys, the account
    field of an ARN for the ARN keys (``None`` when it has none, e.g. an S3 bucket ARN)."""
    if key in ("aws:principalaccount", "aws:sourceaccount"):
        return value
    parts = value.split(":", 5)
    return parts[4] if len(parts) > 4 and parts[4] else None


def web_identity_provider(federated: str) -> str:
    """The condition-key prefix of a web identity provider, lower-cased: the part of an
    ``oidc-provider/`` ARN after that word, or the built-in provider's name as written."""
    value = federated.strip()
    if ":oidc-provider/" in value:
        value = value.split(":oidc-provider/", 1)[1]
    return re.sub(r"^https://", "", value, flags=re.IGNORECASE).lower()


def account_of(principal: str) -> str | None:
    """The 12-digit account of an AWS principal (id, ``:root``, role, user, session ARN), else ``None``."""
    match = _ACCOUNT.match(principal.strip())
    if not match:
        return None
    return match.group(1) or principal.strip()
