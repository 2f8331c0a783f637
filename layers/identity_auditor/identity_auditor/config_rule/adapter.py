"""The AWS Config custom-rule protocol, in one place (design §1, §3).

An invocation carries ``invokingEvent`` and ``ruleParameters`` as JSON *strings*, a ``resultToken``,
``eventLeftScope`` and the rule's name and ARN. :mod:`identity_auditor.config_rule.invocation` parses it
(:func:`parse_invocation`, a clear :class:`ConfigEventError` on anything it cannot use), picks the state
rule (``ruleParameters.ruleId``) and applies the rule parameters to the organisation policy
(:func:`apply_parameters`); here the :class:`ConfigAdapter` evaluates by message type and
:func:`put_evaluations` answers Config:

- ``ConfigurationItemChangeNotification``: the item's resource. ``AWS::IAM::User`` is judged on its
  credential report row, looked up by name (the configuration item has no key or MFA data);
  ``AWS::IAM::Role`` on ``role_from_configuration_item`` (live ``GetRole`` when the item has no
  configuration).
- ``OversizedConfigurationItemChangeNotification``: the same, on the item fetched with
  ``GetResourceConfigHistory(limit=1)`` (the summary's name when Config has no history for it).
- ``ScheduledNotification``: every resource of the rule's type, with :func:`audit_account` (every user
  from ONE credential report, or the account ``AWS::::Account``).
- ``eventLeftScope: true`` and deleted items (``ResourceDeleted``, ``ResourceDeletedNotRecorded``):
  NOT_APPLICABLE and an ARCHIVED finding, without any API call.

Evaluations go back in batches of at most 100, ``TestMode=True`` for the ``TESTMODE`` token.
"""

from __future__ import annotations

import json
import logging
import re
from collections import Counter
from types import MappingProxyType
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any

from identity_auditor.aws.calls import CallCounter
from identity_auditor.config_rule.invocation import (
    CHANGE,
    DELETED,
    MESSAGE_TYPES,
    OVERSIZED,
    SCHEDULED,
    TEST_TOKEN,
    ConfigEventError,
    Invocation,
    apply_parameters,
    parse_invocation,
    parse_time,
    select_rule,
    shown,
)
from identity_auditor.config_rule.sweep import (
    IDENTITY_CENTER,
    Collectors,
    Sources,
    audit_account,
    identity_center_subject,
)
from identity_auditor.engine.registry import REGISTRY, Registry, Rule
from identity_auditor.engine.state import (
    ACCOUNT,
    ROLE,
    USER,
    NotRun,
    StateEngine,
    StateEvaluation,
    Subject,
    account_key,
    ledger_entry,
)
from identity_auditor.model.cloudtrail import is_reserved_sso_role
from identity_auditor.model.contract import Context, RuleFailure
from identity_auditor.model.deployment import config_rule_suffix
from identity_auditor.model.home import Home

logger = logging.getLogger(__name__)

MAX_EVALUATIONS_PER_CALL = 100
_IAM_NAME = re.compile(r"[\w+=,.@-]{1,128}", re.ASCII)  # what GetRole accepts as RoleName
__all__ = ["CHANGE", "DELETED", "MESSAGE_TYPES", "OVERSIZED", "SCHEDULED", "TEST_TOKEN", "Clients", "ConfigAdapter",
           "ConfigEventError", "clients_for", "ConfigRun", "Invocation", "PutEvaluationsError", "apply_parameters",
           "item_from_history", "parse_invocation", "put_evaluations", "select_rule"]


class PutEvaluationsError(RuntimeError):
    """AWS Config refused some evaluations."""


@dataclass
class ConfigRun:
    rule_id: str
    message_type: str
    evaluations: list[StateEvaluation] = field(default_factory=list)
    failures: list[RuleFailure] = field(default_factory=list)
    api_calls: int = 0
    note: str = ""
    skipped: str = ""  # why nothing was evaluated (rule disabled, user not yet in the credential report)
    not_run: list[NotRun] = field(default_factory=list)  # what the rule could not judge, and why
    archived: int = 0  # findings of resources gone since the last sweep, archived now
    ledger_error: str = ""  # the sweep ledger could not be read or written (nothing archived this time)
    remembered: tuple | None = None  # what the sweep ledger is to hold once the findings are delivered

    def compliance(self) -> Counter:
        """Compliance per resource judged: the evaluations with a finding (a rule that judges many resources
        also sums them up for Config in one more evaluation, not counted), else what Config was told."""
        judged = [e for e in self.evaluations if e.finding is not None] or self.evaluations
        return Counter(evaluation.compliance.value for evaluation in judged)


class Clients:
    """The boto3 clients the Config path needs, created on first use (boto3 is imported only then).

    ``session``: a boto3 session in the member account an organisation rule's invocation is about
    (:meth:`identity_auditor.aws.member_access.MemberAccess.session`); the IAM reads and PutEvaluations (its
    result token belongs to that account) then happen there. ``None``: the function's own credentials.
    The de-duplication table is always the auditor's own.
    """

    def __init__(self, region: str, session=None):
        self.region = region
        self.session = session

    def _client(self, service: str, *, in_member_account: bool = True, region: str | None = None):
        import boto3
        from botocore.config import Config

        config = Config(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=5, read_timeout=20)
        source = self.session if in_member_account and self.session is not None else boto3
        return source.client(service, region_name=region or self.region, config=config)

    def accessanalyzer(self, region: str | None = None):
        """An Access Analyzer client of ``region`` (default the clients' own) in the clients' account."""
        key = ("accessanalyzer", region or self.region)
        held = self.__dict__.setdefault("_regional", {})
        if key not in held:
            held[key] = self._client("accessanalyzer", region=region)
        return held[key]

    def identity_center(self, region: str) -> tuple:
        """``(sso_admin, identitystore)`` of Identity Center's home region in the clients' account."""
        return self._client("sso-admin", region=region), self._client("identitystore", region=region)

    @cached_property
    def iam(self):
        return self._client("iam")

    @cached_property
    def config(self):
        return self._client("config")

    @cached_property
    def dynamodb(self):
        return self._client("dynamodb", in_member_account=False)


def clients_for(held: dict, region: str, account: str | None = None, session=None) -> Clients:
    """The :class:`Clients` of a region and account, kept in ``held`` (the handler's per-container cache)
    and built anew when ``session`` is another object than theirs: MemberAccess renews a member account's
    session before its credentials expire, and a new IAM client also starts a new credential report
    collector (reports are per account)."""
    key = ("clients", region, account)
    clients = held.get(key)
    if clients is None or clients.session is not session:
        clients = held[key] = Clients(region, session)
    return clients


class ConfigAdapter:
    """``ledger``: the :class:`~identity_auditor.delivery.sweep_ledger.SweepLedger` a scheduled sweep
    remembers what it judged in, so that the next one archives the findings of resources that are gone
    (``None``: nothing is archived)."""

    def __init__(self, registry: Registry = REGISTRY, collectors: Collectors | None = None, ledger=None):
        self.registry = registry
        self.engine = StateEngine(registry)
        self._collectors = collectors
        self._reports: dict[int, tuple] = {}
        self.ledger = ledger

    @property
    def collectors(self) -> Collectors:
        if self._collectors is None:
            self._collectors = Collectors.default()
        return self._collectors

    def evaluate(self, invocation: Invocation, ctx: Context, clients, home: Home,
                 sources: Sources | None = None, stack_name: str | None = None) -> ConfigRun:
        """Evaluate one invocation. ``stack_name``: the auditor's stack, whose rules alone may invoke the
        function (:func:`check_rule_name`). ``ruleParameters`` beyond ``ruleId`` are honoured only from the
        stack's own account rule, named exactly ``<stack>-<rule>`` (Config rule names are unique in an account, so
        nobody else can hold that name while the stack's rule exists): a member account's administrator can edit
        or imitate the organisation rule's copy, and anyone may name a rule of their own after the stack's, so
        their thresholds come from the organisation policy alone."""
        rule = select_rule(invocation, self.registry)
        # only the stack's own account rule, by its exact name (unique in the account), may set thresholds
        own_rule = check_rule_name(invocation, rule, stack_name) if stack_name else True
        parameters = invocation.rule_parameters
        ignored = ""
        member = invocation.account_id and invocation.account_id != home.account
        if (member or not own_rule) and set(parameters) - {"ruleId"}:
            ignored = (f"(ruleParameters {', '.join(sorted(set(parameters) - {'ruleId'}))} of "
                       f"{'account ' + invocation.account_id if member else 'rule ' + invocation.config_rule_name} "
                       "ignored: the organisation policy applies)")
            logger.warning("member account rule parameters ignored", extra={
                "member_account": invocation.account_id, "rule_id": rule.meta.id,
                "parameters": sorted(set(parameters) - {"ruleId"})})
            parameters = {"ruleId": parameters.get("ruleId")}
        ctx, note = apply_parameters(ctx, parameters, rule)
        note = " ".join(part for part in (note, ignored) if part)
        run = ConfigRun(rule.meta.id, invocation.message_type, note=note)
        if not ctx.policy.is_enabled(rule.meta.id):
            run.skipped = "rule disabled by the organisation policy"
            return run
        where = Home(invocation.account_id or home.account, invocation.region or home.region,
                      invocation.partition or home.partition)
        if invocation.message_type == SCHEDULED:
            when = invocation.notification_time or ctx.now
            run.evaluations, run.api_calls = audit_account(
                clients.iam, account_id=where.account, partition=where.partition, region=where.region, ctx=ctx,
                rules=[rule], collectors=replace(self.collectors, report=self._report), engine=self.engine,
                ordering_timestamp=when, note=note, failures=run.failures,
                sources=sources or Sources(analyzers=lambda region: clients.accessanalyzer(region)),
                not_run=run.not_run)
            self._archive(rule, run, ctx, where, when)
            return run
        item = invocation.item
        if invocation.message_type == OVERSIZED and not _gone(invocation, item):
            item = self._fetch(clients, item, run)
        state = rule.meta.state
        if state.subject == IDENTITY_CENTER and item["resourceType"] == state.change_type:
            run.evaluations = self._reserved_role_changed(rule, invocation, item, ctx, where, clients, run,
                                                          sources or Sources())
        else:
            run.evaluations = self._changed(rule, invocation, item, ctx, where, clients, run)
        return run

    def _reserved_role_changed(self, rule: Rule, invocation: Invocation, item: dict, ctx: Context, where: Home,
                               clients, run: ConfigRun, sources: Sources) -> list[StateEvaluation]:
        """A role changed in some account (an organisation rule's change trigger): a reserved role is compared
        with its permission set, read where Identity Center is administered, as the periodic sweep does (the
        same finding Id, filed in Identity Center's account and home region); AWS Config hears of the role
        itself. Any other role is not judged (NOT_APPLICABLE, no finding)."""
        from identity_auditor.collectors.identity_center import reserved_role_from_item

        when = parse_time(item.get("configurationItemCaptureTime")) or ctx.now
        name, key = _name(item), _key(item, where)
        center = Home(sources.identity_center_account or where.account, sources.identity_center_region or where.region,
                      where.partition)
        role_subject = Subject(ROLE, item["resourceId"], name, key, asff_type="AwsIamRole")
        if _gone(invocation, item):
            configuration = item.get("configuration") if isinstance(item.get("configuration"), dict) else {}
            if not is_reserved_sso_role(name, configuration.get("path")):
                return [replace(self.engine.not_applicable(rule, role_subject, f"role {name} was deleted", ctx,
                                                           center, when, note=run.note), finding=None)]
            why = "left the scope of the rule" if invocation.event_left_scope else "was deleted"
            return [self.engine.not_applicable(rule, role_subject, f"reserved role {name} {why}", ctx, center, when,
                                               note=run.note)]
        try:
            role = reserved_role_from_item(item)
        except ValueError as error:
            raise ConfigEventError(str(error)) from None
        if role is None:
            return [replace(self.engine.not_applicable(rule, role_subject, f"role {name} is not an Identity Center "
                                                       "reserved role", ctx, center, when, note=run.note), finding=None)]
        subject, calls = identity_center_subject(clients.iam, [rule], self.collectors, sources, where.account,
                                                 where.partition, where.region, run.not_run, parts=("permission_sets",))
        run.api_calls += calls
        if subject is None:
            return []
        snapshot = replace(subject.snapshot, reserved_roles=MappingProxyType({role.account_id: (role,)}),
                           unavailable=MappingProxyType({part: why for part, why in subject.snapshot.unavailable.items()
                                                         if not part.startswith("reserved_roles")}))
        judged = self.engine.evaluate([rule], [replace(subject, snapshot=snapshot)], ctx, center,
                                      ordering_timestamp=when, note=run.note, failures=run.failures,
                                      not_run=run.not_run)
        # AWS Config hears of the role that changed (in its account, with the invocation's result token)
        return [replace(evaluation, resource_type=ROLE, resource_id=item["resourceId"], resource_name=name,
                        reported=True) for evaluation in judged if evaluation.finding is not None]

    def _archive(self, rule: Rule, run: ConfigRun, ctx: Context, where: Home, when) -> None:
        """Archive the findings of resources the last sweep judged and this one did not (they are gone), and
        prepare what this sweep remembers (:meth:`remember` writes it once the findings are delivered).

        What this sweep could not see is neither archived nor forgotten: the entries of an account a rule
        could not read (a member account whose role could not be assumed; the whole account when the rule
        did not run) are kept as they were; a rule that raised keeps every entry. An account that holds no
        Identity Center instance any more is seen: the findings of its assignments are archived."""
        if self.ledger is None:
            return
        from identity_auditor.delivery.sweep_ledger import SweepLedgerError

        try:
            previous = self.ledger.load(rule.meta.id, where.account, where.region)
        except SweepLedgerError as error:
            run.ledger_error = str(error)
            logger.error("%s; no finding archived this time", error, extra={"rule_id": rule.meta.id})
            return
        unseen = {entry.account for entry in run.not_run if not entry.absent}
        kept = {found_id: entry for found_id, entry in previous.items()
                if run.failures or entry_accounts(entry) & unseen}
        gone = self.engine.vanished(rule, {k: v for k, v in previous.items() if k not in kept}, run.evaluations,
                                    ctx, ordering_timestamp=when)
        run.evaluations.extend(gone)
        run.archived = len(gone)
        entries = dict(kept)
        entries.update({e.finding.finding_id: ledger_entry(e) for e in run.evaluations
                        if e.finding is not None and e.finding.record_state == "ACTIVE"})
        for e in run.evaluations:  # archived now: nothing left to close
            if e.finding is not None and e.finding.record_state != "ACTIVE":
                entries.pop(e.finding.finding_id, None)
        run.remembered = (rule.meta.id, where.account, where.region, entries)

    def remember(self, run: ConfigRun) -> None:
        """Write what a scheduled sweep judged, for the next one to archive what disappears. Called after its
        findings were delivered: a sweep whose delivery failed is retried with the ledger it started from, so
        its archive updates are sent again."""
        if self.ledger is None or run.remembered is None:
            return
        from identity_auditor.delivery.sweep_ledger import SweepLedgerError

        try:
            self.ledger.save(*run.remembered)
        except SweepLedgerError as error:
            run.ledger_error = str(error)
            logger.error("%s; the next sweep archives what this one would have", error,
                         extra={"rule_id": run.rule_id})

    def _fetch(self, clients, summary: dict, run: ConfigRun) -> dict:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            response = clients.config.get_resource_config_history(
                resourceType=summary["resourceType"], resourceId=summary["resourceId"], limit=1)
            run.api_calls += 1
        except (ClientError, BotoCoreError) as error:  # refused, or no answer: the summary is what Config sent
            code = getattr(error, "response", {}).get("Error", {}).get("Code") or type(error).__name__
            logger.warning("GetResourceConfigHistory %s %s failed (%s); using the summary",
                           summary["resourceType"], summary["resourceId"], code)
            return summary
        items = response.get("configurationItems") or []
        return item_from_history(items[0]) if items else summary

    def _changed(self, rule: Rule, invocation: Invocation, item: dict, ctx: Context, where: Home, clients,
                 run: ConfigRun) -> list[StateEvaluation]:
        resource_type, name = item["resourceType"], _name(item)
        gone = Subject(resource_type, item["resourceId"], name, _key(item, where), None)
        when = parse_time(item.get("configurationItemCaptureTime")) or ctx.now
        if resource_type != rule.meta.state.resource_type:
            evaluation = self.engine.not_applicable(rule, gone, f"{resource_type} is not judged by {rule.meta.id}",
                                                    ctx, where, when, note=run.note)
            return [replace(evaluation, finding=None)]  # never judged: no finding to close
        if _gone(invocation, item):
            why = ("left the scope of the rule" if invocation.event_left_scope
                   else f"was deleted ({item.get('configurationItemStatus')})")
            return [self.engine.not_applicable(rule, gone, f"{resource_type} {name} {why}", ctx, where, when,
                                               note=run.note)]
        subject = self._subject(item, gone, where, clients, run)
        if subject is None:
            return []
        if subject.snapshot is None:
            return [self.engine.not_applicable(rule, gone, f"{resource_type} {name} no longer exists", ctx,
                                               where, when, note=run.note)]
        return self.engine.evaluate([rule], [subject], ctx, where, ordering_timestamp=when, note=run.note,
                                    failures=run.failures)

    def _subject(self, item: dict, gone: Subject, where: Home, clients, run: ConfigRun) -> Subject | None:
        """The resource's current state (``snapshot`` None: it no longer exists; None: cannot be judged now)."""
        iam = clients.iam
        with CallCounter(iam) as counter:
            subject = self._current(item, gone, where, iam, run)
        run.api_calls += counter.calls
        return subject

    def _current(self, item: dict, gone: Subject, where: Home, iam, run: ConfigRun) -> Subject | None:
        if gone.resource_type == USER:
            row = next((row for row in self._report(iam).rows() if row.user == gone.resource_name), None)
            if row is None:
                run.skipped = f"user {gone.resource_name} is not in the credential report yet (at most 4 hours old)"
                logger.warning("%s: no evaluation now; the next periodic run judges it", run.skipped,
                               extra={"resource_id": gone.resource_id})
                return None
            return replace(gone, key=row.arn, snapshot=row)
        if gone.resource_type == ROLE:
            if isinstance(item.get("configuration"), dict):
                role = self.collectors.role_from_item(item)
            else:  # not recorded, or the oversized summary when Config had no history
                if not _IAM_NAME.fullmatch(gone.resource_name):
                    raise ConfigEventError(f"the configuration item's resourceName {shown(gone.resource_name)} is "
                                           "not an IAM role name; the role cannot be looked up")
                role = self.collectors.role(iam, gone.resource_name)
            return replace(gone, key=role.arn, snapshot=role) if role is not None else gone
        if gone.resource_type == ACCOUNT:
            rows = self._report(iam).rows()
            return replace(gone, snapshot=self.collectors.account(
                iam, account_id=where.account, partition=where.partition, report_rows=rows))
        raise ConfigEventError(f"resource type {gone.resource_type} is not supported")

    def _report(self, iam):
        """One credential report collector per IAM client, kept across invocations: it reuses a report
        younger than 4 hours (as IAM would) and serves the last one when IAM refuses to generate."""
        held = self._reports.get(id(iam))
        if held is None or held[0] is not iam:
            held = self._reports[id(iam)] = (iam, self.collectors.report(iam))
        return held[1]


def check_rule_name(invocation: Invocation, rule: Rule, stack_name: str) -> bool:
    """Only the stack's own Config rules may invoke the function: the rule's name holds ``<stack>-<rule>``
    (the account rule's whole name; in member accounts AWS Config names the organisation rule's copy after it,
    with a prefix and a suffix of its own), and that is the rule its ``ruleId`` asks for. Anything else is
    refused (:class:`ConfigEventError`); returns whether it is the stack's own account rule by its exact name.
    Refused: a rule someone pointed at the function under another name, or with
    another rule's id. A member account's administrator can still copy the name: what makes such a copy
    harmless is that a member account's ``ruleParameters`` are ignored (:meth:`ConfigAdapter.evaluate`), so
    its verdict is the organisation rule's."""
    expected = f"{stack_name}-{config_rule_suffix(rule.meta.id)}"
    name = invocation.config_rule_name
    if expected not in name or not re.fullmatch(rf"(?:[A-Za-z0-9_-]+-)?{re.escape(expected)}(?:-[A-Za-z0-9_]+)?", name):
        raise ConfigEventError(f"Config rule {shown(name)} is not one of this stack's rules (expected {expected!r} "
                               f"for ruleId {rule.meta.id}, or the organisation rule's copy of it); refused")
    return name == expected


def entry_accounts(entry: dict) -> set[str]:
    """The accounts a ledger entry's resource belongs to: where its finding is filed, and the account of its
    ARN (a reserved role in a member account is filed under the Identity Center account)."""
    parts = str(entry.get("key", "")).split(":")
    return {entry.get("account")} | ({parts[4]} if len(parts) > 5 and parts[0] == "arn" and parts[4] else set())


def _gone(invocation: Invocation, item: dict) -> bool:
    status = item.get("configurationItemStatus")
    return invocation.event_left_scope or (isinstance(status, str) and status in DELETED)


def _name(item: dict) -> str:
    """The resource's name: the first name the item gives as text (``resourceName``, the configuration's
    ``userName`` or ``roleName``), else its ``resourceId``."""
    configuration = item.get("configuration") if isinstance(item.get("configuration"), dict) else {}
    names = (item.get("resourceName"), configuration.get("userName"), configuration.get("roleName"))
    return next((name for name in names if isinstance(name, str) and name), item["resourceId"])


def _key(item: dict, where: Home) -> str:
    """The finding key of an item's resource: its ARN (as the snapshot's), ``AWS::::Account:<id>``."""
    if item["resourceType"] == ACCOUNT:
        return account_key(item.get("awsAccountId") or where.account)
    arn = next((value for value in (item.get("ARN"), item.get("arn")) if isinstance(value, str) and value), None)
    if arn:
        return arn
    kind = {USER: "user", ROLE: "role"}.get(item["resourceType"], item["resourceType"])
    configuration = item.get("configuration") if isinstance(item.get("configuration"), dict) else {}
    path = configuration.get("path") if isinstance(configuration.get("path"), str) else "/"
    return f"arn:{where.partition}:iam::{item.get('awsAccountId') or where.account}:{kind}{path}{_name(item)}"


def item_from_history(api_item: dict) -> dict:
    """A ``GetResourceConfigHistory`` item in the shape of an invoking event's configurationItem: its
    ``configuration`` (and supplementary values) parsed from JSON strings, ``ARN`` and ``awsAccountId``."""
    item = dict(api_item)
    configuration = item.get("configuration")
    if isinstance(configuration, str):
        try:
            item["configuration"] = json.loads(configuration)
        except json.JSONDecodeError:
            item["configuration"] = None
    supplementary = item.get("supplementaryConfiguration") or {}
    item["supplementaryConfiguration"] = {
        key: _maybe_json(value) for key, value in supplementary.items()} if isinstance(supplementary, dict) else {}
    item.setdefault("ARN", item.get("arn"))
    item.setdefault("awsAccountId", item.get("accountId"))
    item.setdefault("configurationItemVersion", item.get("version"))
    return item


def _maybe_json(value: Any) -> Any:
    try:
        return json.loads(value) if isinstance(value, str) else value
    except json.JSONDecodeError:
        return value


def put_evaluations(config, invocation: Invocation, evaluations: list[StateEvaluation]) -> int:
    """``PutEvaluations`` in batches of at most 100 with the invocation's result token; returns the
    number of calls. Raises :class:`PutEvaluationsError` naming what Config refused."""
    entries = [evaluation.config_evaluation() for evaluation in evaluations if evaluation.reported]
    calls, failed = 0, []
    for start in range(0, len(entries), MAX_EVALUATIONS_PER_CALL):
        request = {"Evaluations": entries[start:start + MAX_EVALUATIONS_PER_CALL],
                   "ResultToken": invocation.result_token}
        if invocation.test_mode:
            request["TestMode"] = True
        response = config.put_evaluations(**request)
        calls += 1
        failed.extend(response.get("FailedEvaluations") or [])
    if failed:
        names = ", ".join(f"{e.get('ComplianceResourceType')} {e.get('ComplianceResourceId')}" for e in failed[:5])
        raise PutEvaluationsError(f"AWS Config refused {len(failed)} of {len(entries)} evaluations: {names}")
    return calls
