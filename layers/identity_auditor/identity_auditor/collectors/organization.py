"""The deployment's AWS organisation, as the rules need it: its accounts (the zone of trust of
``iam_role_trust_policy_unsafe``) and the type of an Organizations policy named by id in a record
(``organizations_guardrail_changed``: a detached or deleted policy is a guardrail change only for service
and resource control policies).

Least privilege: ``organizations:ListAccounts``, ``organizations:ListPolicies`` and
``organizations:DescribePolicy``, answered only in the management account or a delegated administrator account.
Policy types are first read in bulk (``ListPolicies`` of the guardrail types, at most once an hour): a policy
deleted since is still known as a guardrail, which ``DescribePolicy`` after a ``DeletePolicy`` can no longer say. Answers are cached per process: the accounts
for an hour (:data:`ACCOUNTS_TTL`), a refusal for five minutes (:data:`REFUSAL_TTL`, so a missing
permission costs one call per five minutes, not one per event), and a policy's type for as long as the
process lives (a policy's type never changes). A failure is never raised to the caller: the organisation is
then returned with a ``problem`` (logged once per refresh, and repeated in the findings that depend on it),
and a policy whose type could not be read is left out of the answer (the rule then counts it as a guardrail).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

from identity_auditor.collectors import ApiCalls, describe
from identity_auditor.model.deployment import GUARDRAIL_POLICY_TYPES, Organization

logger = logging.getLogger(__name__)

ACCOUNTS_TTL = 3600.0
REFUSAL_TTL = 300.0
MAX_POLICY_TYPES = 1000  # policy ids remembered (ids in records are attacker-controlled)


class OrganizationReader:
    """Reads and caches what the rules need of the organisation ``organization_id``; ``client_factory`` makes
    the boto3 Organizations client on first use (events that need nothing of the organisation never import
    boto3)."""

    def __init__(self, organization_id: str, client_factory: Callable[[], Any], *, calls: ApiCalls | None = None,
                 clock: Callable[[], float] = time.monotonic):
        self.organization_id = organization_id
        self._client_factory = client_factory
        self._client: Any = None
        self.calls = calls or ApiCalls()
        self._clock = clock
        self._organization: Organization | None = None
        self._expires = 0.0
        self._policy_types: dict[str, str] = {}
        self._listed_until = 0.0

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = self._client_factory()
        return self._client

    def organization(self) -> Organization:
        """The organisation with every account id (any status: a suspended account is still the
        organisation's), or with the ``problem`` that kept them from being read."""
        now = self._clock()
        if self._organization is not None and now < self._expires:
            return self._organization
        try:
            accounts = frozenset(account["Id"] for page in self._pages("list_accounts", "Accounts")
                                 for account in page)
        except Exception as error:  # refused, throttled past the retries, unreachable: degrade, never fail
            problem = f"organizations:ListAccounts failed ({describe(error)})"
            logger.warning("the organisation's accounts could not be read: role trust findings treat accounts of "
                           "%s as outside the zone of trust until they can: %s", self.organization_id, problem,
                           extra={"organization_id": self.organization_id})
            self._organization, self._expires = Organization(id=self.organization_id, problem=problem), now + REFUSAL_TTL
        else:
            self._organization = Organization(id=self.organization_id, accounts=accounts)
            self._expires = now + ACCOUNTS_TTL
        return self._organization

    def policy_types(self, policy_ids: Iterable[str]) -> dict[str, str]:
        """``{policy id: type}`` for the ids whose type could be read (``DescribePolicy``); others are left out."""
        found: dict[str, str] = {}
        wanted = list(dict.fromkeys(policy_ids))
        if any(policy_id not in self._policy_types for policy_id in wanted):
            self._list_guardrails()
        for policy_id in wanted:
            if policy_id in self._policy_types:
                found[policy_id] = self._policy_types[policy_id]
                continue
            try:
                answer = self.calls.call(self.client, "describe_policy", PolicyId=policy_id)
                policy_type = str(answer["Policy"]["PolicySummary"]["Type"])
            except Exception as error:  # deleted already, refused, malformed id: the rule counts it as a guardrail
                logger.warning("the type of Organizations policy %s could not be read: %s", policy_id[:100],
                               describe(error), extra={"policy_id": policy_id[:100]})
                continue
            if len(self._policy_types) < MAX_POLICY_TYPES:
                self._policy_types[policy_id] = policy_type
            found[policy_id] = policy_type
        return found

    def _list_guardrails(self) -> None:
        """Remember the id of every guardrail policy (``ListPolicies`` per guardrail type), at most once an hour."""
        now = self._clock()
        if now < self._listed_until:
            return
        self._listed_until = now + ACCOUNTS_TTL
        for policy_type in sorted(GUARDRAIL_POLICY_TYPES):
            try:
                for page in self._pages("list_policies", "Policies", Filter=policy_type):
                    for summary in page:
                        if len(self._policy_types) < MAX_POLICY_TYPES and summary.get("Id"):
                            self._policy_types[str(summary["Id"])] = str(summary.get("Type") or policy_type)
            except Exception as error:  # the policy type may not be enabled; DescribePolicy still answers
                logger.info("organizations:ListPolicies %s failed: %s", policy_type, describe(error))

    def _pages(self, operation: str, key: str, **params: Any):
        for page in self.calls.token_pages(self.client, operation, **params):
            yield page.get(key, [])


def active_accounts(client: Any, *, calls: ApiCalls | None = None,
                    parents: Iterable[str] = ()) -> list[dict[str, str]]:
    """The organisation's ACTIVE accounts (``{"Id", "Name"}``, in the order Organizations lists them): every
    account (``ListAccounts``), or only those under ``parents`` (organisational unit or root ids), each OU
    walked down to its leaves (``ListChildren`` of type ORGANIZATIONAL_UNIT, ``ListAccountsForParent``).
    Suspended, closing and closed accounts are left out: no role can be assumed in them. Raises what
    Organizations answers (a refused call, an unknown OU id): the caller names it."""
    calls = calls or ApiCalls()

    def pages(operation: str, key: str, **params: Any):
        for page in calls.token_pages(client, operation, **params):
            yield from page.get(key, [])

    parents = list(dict.fromkeys(parents))
    if not parents:
        listed = list(pages("list_accounts", "Accounts"))
    else:
        listed, seen = [], set()
        while parents:
            parent = parents.pop(0)
            if parent in seen:
                continue
            seen.add(parent)
            listed.extend(pages("list_accounts_for_parent", "Accounts", ParentId=parent))
            parents.extend(child["Id"] for child in pages("list_children", "Children", ParentId=parent,
                                                          ChildType="ORGANIZATIONAL_UNIT"))
    unique = {account["Id"]: account for account in listed}
    # ``State`` replaces the deprecated ``Status`` (ACTIVE in both); an answer may carry either
    return [{"Id": str(account["Id"]), "Name": str(account.get("Name") or "")} for account in unique.values()
            if (account.get("State") or account.get("Status")) == "ACTIVE"]
