"""The full state sweep of one account: :func:`audit_account`, shared by the AWS Config function's
scheduled path and the CLI's ``audit-account``.

It collects only what the requested rules judge, each thing once: ONE credential report (every user;
the root row for the account rules), the account summary and password policy, and the roles from
``ListRoles``; for the IAM posture rules one ``GetAccountAuthorizationDetails`` (every user, group, role
and policy with their documents), the server certificates, the SAML providers with their metadata and
the Access Analyzer analyzers of the regions covered; for the Identity Center posture rules the
instance's permission sets, assignments, users and groups and the reserved roles of the accounts they
are provisioned to (:class:`Sources` says where those are read). Then the
:class:`~identity_auditor.engine.state.StateEngine` evaluates every subject. The number of API calls
does not grow with the number of IAM users, apart from list pages; the Identity Center part grows with
permission sets x accounts (``collectors.identity_center`` gives the formula).

A rule whose data could not be read (no permission, no Identity Center instance, an account whose role
could not be assumed) is returned in ``not_run`` with the reason: never a silent pass.

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
    NotRun,
    StateEngine,
    StateEvaluation,
    Subject,
    account_key,
    account_subject,
    posture_subject,
    role_subject,
    user_subject,
)
from identity_auditor.model.contract import Context, RuleFailure
from identity_auditor.model.home import Home

IAM_POSTURE = "iam_posture"
IDENTITY_CENTER = "identity_center"
IAM_POSTURE_PARTS = ("authorization", "server_certificates", "saml_providers", "analyzers")
IDENTITY_CENTER_PARTS = ("permission_sets", "assignments", "users", "groups", "reserved_roles")


@dataclass(frozen=True)
class Collectors:
    """The collector functions the state paths use (see :mod:`identity_auditor.collectors`)."""

    report: Callable[[Any], Any]  # CredentialReportCollector(iam): .rows() -> list[CredentialReportRow]
    account: Callable[..., Any]  # collect_account(iam, account_id=, partition=, report_rows=) -> AccountSnapshot
    roles: Callable[[Any], list]  # collect_roles(iam) -> list[RoleSnapshot]
    role: Callable[[Any, str], Any]  # collect_role(iam, role_name) -> RoleSnapshot | None
    role_from_item: Callable[[dict], Any]  # role_from_configuration_item(item) -> RoleSnapshot
    posture: Callable[..., Any] | None = None  # collect_iam_posture(iam, ...) -> IamPosture
    identity_center: Callable[..., Any] | None = None  # collect_identity_center(...) -> IdentityCenterSnapshot

    @classmethod
    def default(cls) -> Collectors:
        from identity_auditor.collectors.account import collect_account
        from identity_auditor.collectors.credential_report import CredentialReportCollector
        from identity_auditor.collectors.iam_posture import collect_iam_posture
        from identity_auditor.collectors.identity_center import collect_identity_center
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
            posture=collect_iam_posture,
            identity_center=collect_identity_center,
        )


@dataclass(frozen=True)
class Sources:
    """Where a sweep reads besides the swept account's IAM; each is asked only when a chosen rule needs it.

    ``analyzers(region)``: an Access Analyzer client of that region, for each of ``analyzer_regions`` (default:
    the sweep's region). ``identity_center()``: ``(sso_admin, identitystore)`` clients of the instance's home
    region in the account that administers it (``identity_center_account``, default the swept account;
    ``identity_center_region``, default the sweep's); ``None``: this caller cannot read Identity Center and the
    Identity Center rules are not run. ``member_iam(account)``: an IAM client in that account, for the
    reserved roles (raises when it cannot be had). ``deadline``: no posture read starts after it
    (``time.monotonic()``); what is left unread is reported as not run."""

    analyzers: Callable[[str], Any] | None = None
    analyzer_regions: tuple[str, ...] = ()
    identity_center: Callable[[], tuple[Any, Any]] | None = None
    identity_center_account: str | None = None
    identity_center_region: str | None = None
    member_iam: Callable[[str], Any] | None = None
    deadline: float | None = None  # time.monotonic() after which no posture read starts (the Lambda's time)


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
    sources: Sources | None = None,
    not_run: list[NotRun] | None = None,
) -> tuple[list[StateEvaluation], int]:
    """Evaluate ``rules`` (rules or rule ids; default every state rule the policy enables) over the
    whole account; returns the evaluations and the number of API calls made.

    ``region`` and ``partition`` are where findings are filed (the Config rule's region, or the CLI's);
    Identity Center findings are filed in the instance's account and home region.
    ``ordering_timestamp`` defaults to ``ctx.now``; ``note`` is appended to every annotation (bad rule
    parameters); rule exceptions are appended to ``failures`` (and logged) and never end the sweep; rules
    that could not be run are appended to ``not_run``.
    """
    engine = engine or StateEngine()
    sources = sources or Sources()
    not_run = not_run if not_run is not None else []
    chosen = engine.rules(rules, ctx)
    kinds = {(rule.meta.state.resource_type, rule.meta.state.subject) for rule in chosen}
    collectors = collectors or (Collectors.default() if kinds else None)
    subjects: list[Subject] = []
    with CallCounter(iam) as counter:
        rows = None
        if (USER, "") in kinds or (ACCOUNT, "") in kinds:
            rows = list(collectors.report(iam).rows())
            if (USER, "") in kinds:
                subjects.extend(user_subject(row) for row in rows if not row.is_root)
        if (ACCOUNT, "") in kinds:
            snapshot = collectors.account(iam, account_id=account_id, partition=partition, report_rows=rows)
            subjects.append(account_subject(snapshot))
        if (ROLE, "") in kinds:
            subjects.extend(role_subject(role) for role in collectors.roles(iam))
    calls = counter.calls
    posture_rules = [rule for rule in chosen if rule.meta.state.subject == IAM_POSTURE]
    if posture_rules:
        subject, used = _iam_posture(iam, posture_rules, collectors, sources, account_id, partition, region)
        subjects.append(subject)
        calls += used
    center_rules = [rule for rule in chosen if rule.meta.state.subject == IDENTITY_CENTER]
    if center_rules:
        subject, used = identity_center_subject(iam, center_rules, collectors, sources, account_id, partition,
                                                region, not_run)
        if subject is not None:
            subjects.append(subject)
        calls += used
    evaluations = engine.evaluate(chosen, subjects, ctx, Home(account_id, region, partition),
                                  ordering_timestamp=ordering_timestamp, note=note, failures=failures,
                                  not_run=not_run)
    not_run.extend(_partly(chosen, subjects))
    return evaluations, calls


def _parts(rules: Iterable[Rule], known: tuple[str, ...]) -> tuple[str, ...]:
    wanted = {read.rstrip(":") for rule in rules for read in (*rule.meta.state.reads, *rule.meta.state.optional)}
    return tuple(part for part in known if part in wanted)


def _iam_posture(iam, rules, collectors: Collectors, sources: Sources, account_id: str, partition: str,
                 region: str) -> tuple[Subject, int]:
    from identity_auditor.collectors import ApiCalls

    calls = ApiCalls(deadline=sources.deadline)
    parts = _parts(rules, IAM_POSTURE_PARTS)
    if sources.analyzers is None:  # a caller without Access Analyzer: the part is not collected, its rule not run
        parts = tuple(part for part in parts if part != "analyzers")
    analyzers = {name: sources.analyzers(name) for name in (sources.analyzer_regions or (region,))} \
        if "analyzers" in parts else {}
    snapshot = collectors.posture(iam, account_id=account_id, partition=partition, analyzers=analyzers,
                                  calls=calls, parts=parts)
    return posture_subject(snapshot, IAM_POSTURE), calls.total


def identity_center_subject(iam, rules, collectors: Collectors, sources: Sources, account_id: str, partition: str,
                            region: str, not_run: list[NotRun],
                            parts: tuple[str, ...] | None = None) -> tuple[Subject | None, int]:
    """The Identity Center instance as the subject of ``rules`` (``None`` when it cannot be read: the rules are
    in ``not_run``) and the API calls it took; ``parts``: what to read, default what the rules read."""
    from identity_auditor.collectors import ApiCalls

    home = Home(sources.identity_center_account or account_id, sources.identity_center_region or region, partition)
    if sources.identity_center is None:
        not_run.extend(NotRun(rule.meta.id, home.account, "Identity Center is not read from here (run it where "
                                                          "Identity Center is administered, in its home region)")
                       for rule in rules)
        return None, 0
    calls = ApiCalls(deadline=sources.deadline)
    parts = parts if parts is not None else _parts(rules, IDENTITY_CENTER_PARTS)
    try:
        sso_admin, identitystore = sources.identity_center()
    except Exception as error:  # noqa: BLE001 (a role that cannot be assumed, no region: said, never silent)
        not_run.extend(NotRun(rule.meta.id, home.account, f"Identity Center cannot be read: {error}") for rule in rules)
        return None, 0
    member_iam = sources.member_iam or _only_own(iam, account_id)
    snapshot = collectors.identity_center(sso_admin, identitystore, account_id=home.account, region=home.region,
                                          partition=partition, member_iam=member_iam, calls=calls, parts=parts)
    if snapshot.instance_arn is None and "instance" not in snapshot.unavailable:
        not_run.extend(NotRun(rule.meta.id, home.account, f"account {home.account} holds no Identity Center instance "
                                                          f"in {home.region}", absent=True) for rule in rules)
    # the subject is the swept account (what AWS Config is told about); its findings go to the instance's home
    subject = Subject(ACCOUNT, account_id, account_id, account_key(home.account), snapshot, kind=IDENTITY_CENTER,
                      where=home)
    return subject, calls.total


def _only_own(iam, account_id: str) -> Callable[[str], Any]:
    """Without a way into other accounts, only the swept account's own reserved roles can be read."""
    def member_iam(account: str):
        if account == account_id:
            return iam
        raise LookupError(f"no role to read account {account} with (an organisation deployment's member role, "
                          "or run audit-account there)")
    return member_iam


def _partly(rules: Iterable[Rule], subjects: Iterable[Subject]) -> list[NotRun]:
    """The accounts or regions a rule that ran could not see (``reserved_roles:<account>``): a rule that
    reads ``reserved_roles`` ran for the accounts that could be read and not for these."""
    found = []
    for subject in subjects:
        missing = getattr(subject.snapshot, "unavailable", None) or {}
        for rule in rules:
            if (rule.meta.state.resource_type, rule.meta.state.subject) != (subject.resource_type, subject.kind):
                continue
            reads = {read.rstrip(":") for read in rule.meta.state.reads}
            for part, why in missing.items():
                prefix, _, where = part.partition(":")
                if where and prefix in reads and f"{prefix}:" not in rule.meta.state.reads:
                    found.append(NotRun(rule.meta.id, where, f"{part}: {why}"))
    return found
