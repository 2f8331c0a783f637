"""The full state sweep of one account: :func:`audit_account`, shared by the AWS Config function's
scheduled path and the CLI's ``audit-account``.

It collects only what the requested rules judge, each thing once: ONE credential report (every user;
the root row for the account rules), the account summary and password policy, and the roles from
``ListRoles``; then the :class:`~identity_auditor.engine.state.StateEngine` evaluates every user, the
account and every role. The number of API calls does not grow with the number of users, apart from
list pages (``ListRoles``, and whatever the collectors page through).

The collectors are injected (:class:`Collectors`; the defaults are :mod:`identity_auditor.collectors`,
imported on first use), so tests and other callers can pass their own.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from identity_auditor.aws.calls import CallCounter
from identity_auditor.engine.registry import Rule
from identity_auditor.engine.state import (
    ACCOUNT,
    ROLE,
    USER,
    StateEngine,
    StateEvaluation,
    account_subject,
    role_subject,
    user_subject,
)
from identity_auditor.model.contract import Context, RuleFailure
from identity_auditor.model.home import Home


@dataclass(frozen=True)
class Collectors:
    """The collector functions the state paths use (see :mod:`identity_auditor.collectors`)."""

    report: Callable[[Any], Any]  # CredentialReportCollector(iam): .rows() -> list[CredentialReportRow]
    account: Callable[..., Any]  # collect_account(iam, account_id=, partition=, report_rows=) -> AccountSnapshot
    roles: Callable[[Any], list]  # collect_roles(iam) -> list[RoleSnapshot]
    role: Callable[[Any, str], Any]  # collect_role(iam, role_name) -> RoleSnapshot | None
    role_from_item: Callable[[dict], Any]  # role_from_configuration_item(item) -> RoleSnapshot

    @classmethod
    def default(cls) -> Collectors:
        from identity_auditor.collectors.account import collect_account
        from identity_auditor.collectors.credential_report import CredentialReportCollector
        from identity_auditor.collectors.roles import (
            collect_role,
            collect_roles,
            role_from_configuration_item,
        )

        return cls(
            report=CredentialReportCollector,
            account=collect_account,
            roles=collect_roles,
            role=collect_role,
            role_from_item=role_from_configuration_item,
        )


def audit_account(
    iam,
    *,
    account_id: str,
    partition: str,
    region: str,
    ctx: Context,
    rules: Iterable[Rule | str] | None = None,
    collectors: Collectors | None = None,
    engine: StateEngine | None = None,
    ordering_timestamp: datetime | None = None,
    note: str = "",
    failures: list[RuleFailure] | None = None,
) -> tuple[list[StateEvaluation], int]:
    """Evaluate ``rules`` (rules or rule ids; default every state rule the policy enables) over the
    whole account; returns the evaluations and the number of API calls made through ``iam``.

    ``region`` and ``partition`` are where findings are filed (the Config rule's region, or the CLI's).
    ``ordering_timestamp`` defaults to ``ctx.now``; ``note`` is appended to every annotation (bad rule
    parameters); rule exceptions are appended to ``failures`` (and logged) and never end the sweep.
    """
    engine = engine or StateEngine()
    chosen = engine.rules(rules, ctx)
    types = {rule.meta.state.resource_type for rule in chosen}
    collectors = collectors or (Collectors.default() if types else None)
    subjects = []
    with CallCounter(iam) as counter:
        rows = None
        if USER in types or ACCOUNT in types:
            rows = list(collectors.report(iam).rows())
            if USER in types:
                subjects.extend(user_subject(row) for row in rows if not row.is_root)
        if ACCOUNT in types:
            snapshot = collectors.account(iam, account_id=account_id, partition=partition, report_rows=rows)
            subjects.append(account_subject(snapshot))
        if ROLE in types:
            subjects.extend(role_subject(role) for role in collectors.roles(iam))
    evaluations = engine.evaluate(chosen, subjects, ctx, Home(account_id, region, partition),
                                  ordering_timestamp=ordering_timestamp, note=note, failures=failures)
    return evaluations, counter.calls
