"""What the deployment knows about where it runs, beyond the organisation policy: its AWS organisation (the
zone of trust of spec §A), the types of Organizations policies named by id in a record, and the auditor's
own resources. The handlers (or the CLI) look these up before any rule runs and pass them in
:class:`~identity_auditor.model.contract.Context`, so the rules stay pure: a rule never calls AWS.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Organization:
    """The AWS organisation the deployment belongs to, as far as it could read it.

    ``accounts`` are every account of the organisation (Organizations ``ListAccounts``) when ``problem``
    is ``None``; when they could not be read, ``problem`` says why (a finding repeats it, with how to widen
    the zone of trust) and ``accounts`` is empty. ``id`` is the organisation id (``o-…``), when known: a
    trust policy condition ``aws:PrincipalOrgID`` equal to it keeps a principal inside the zone."""

    id: str | None = None
    accounts: frozenset[str] = frozenset()
    problem: str | None = None

    @property
    def readable(self) -> bool:
        return self.problem is None


@dataclass(frozen=True)
class AuditorResources:
    """The auditor's own resources (its EventBridge rules, functions, topics, queues, policy parameter and
    AppConfig profile), as the deployment names them: ``arns`` and ``names`` exact, ``name_prefixes``
    for resources named after the stack (``<stack name>-…``). Empty: the auditor does not know them
    (the CLI), and nothing is "one of the auditor's own resources"."""

    arns: frozenset[str] = frozenset()
    names: frozenset[str] = frozenset()
    name_prefixes: tuple[str, ...] = ()

    def owns(self, identifier: str | None) -> bool:
        """``identifier`` (an ARN, a name, or a URL ending in one) is one of the auditor's resources."""
        if not identifier or not isinstance(identifier, str):
            return False
        if identifier in self.arns or identifier in self.names:
            return True
        tail = identifier.rstrip("/").rsplit("/", 1)[-1].rsplit(":", 1)[-1]
        return tail in self.names or any(tail.startswith(prefix) for prefix in self.name_prefixes if prefix)


# Organizations policy types (DescribePolicy ``PolicySummary.Type``) that are guardrails.
GUARDRAIL_POLICY_TYPES = frozenset({"SERVICE_CONTROL_POLICY", "RESOURCE_CONTROL_POLICY"})
