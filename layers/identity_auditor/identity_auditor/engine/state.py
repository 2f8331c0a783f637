"""The state engine: runs state rules (``META.state`` + ``evaluate_state``) over snapshots of identity
state and turns each verdict into an AWS Config evaluation and a Security Hub finding update.

Every evaluated resource gets a finding with the same Id whatever its verdict, so Security Hub follows
its life: NON_COMPLIANT is a FAILED finding (the rule's severity, after the organisation policy's
severity override and suppressions); COMPLIANT is a PASSED, INFORMATIONAL finding (Security Hub resolves
the earlier FAILED one); NOT_APPLICABLE, a deleted resource or one that left the rule's scope is an
ARCHIVED finding with ``Compliance.Status = NOT_AVAILABLE`` (what Security Hub's own controls do).

The finding Id is ``<rule id>/<account>/<region>/<hash of the resource key>`` (spec §D) where the key is
the engine's, not the rule's: the resource ARN for users and roles, ``AWS::::Account:<id>`` for the
account. A PASSED or ARCHIVED update, which has no violation, therefore always hits the Id the FAILED
finding got, whatever the rule put in ``Violation.resource_id`` (that still becomes ``Resources[0].Id``).

A rule may judge many resources in one subject (``META.state.subject``: the account's IAM posture, the
Identity Center instance): it returns one ``StateResult`` per resource, each naming it
(``StateResult.resource``), and each gets its own finding under that resource's key. Resources AWS Config
records (users, policies) get their own Config evaluation; the others (permission sets, assignments,
SAML providers) are told to Config through one ``AWS::::Account`` evaluation that sums them up. A rule
that reads a part of its subject that could not be read (``META.state.reads`` against the snapshot's
``unavailable``) is not run: it is returned as a :class:`NotRun` with the reason, never a silent pass.

A periodic sweep also closes what disappeared: :meth:`StateEngine.vanished` turns every resource judged by
the previous sweep and absent from this one (a deleted user, a removed assignment) into an ARCHIVED
finding, so no FAILED finding outlives its resource.

One rule's exception never ends a sweep: it is logged with the rule id and the resource, returned as a
:class:`RuleFailure` (the handler counts it) and that resource gets no evaluation from that rule.

The full sweep of an account (collectors, then this engine) is :mod:`identity_auditor.config_rule.sweep`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from identity_auditor.engine.policy import apply_policy
from identity_auditor.engine.registry import REGISTRY, Registry, Rule
from identity_auditor.model.contract import (
    ANNOTATION_LIMIT,
    RULE_ERRORS,
    Compliance,
    Context,
    Resource,
    RuleFailure,
    Severity,
    StateResult,
    Violation,
)
from identity_auditor.model.findings import Finding, build_state_finding, finding_id
from identity_auditor.model.home import Home
from identity_auditor.model.text import clip

logger = logging.getLogger(__name__)

USER = "AWS::IAM::User"
ROLE = "AWS::IAM::Role"
ACCOUNT = "AWS::::Account"


@dataclass(frozen=True)
class Subject:
    """One resource as a state rule judges it: its AWS Config identity, the key its findings are filed
    under, and the snapshot the rule reads (``None`` when the resource is gone)."""

    resource_type: str  # AWS Config type: AWS::IAM::User, AWS::IAM::Role, AWS::::Account
    resource_id: str  # AWS Config resource id: AIDA.../AROA... when known, else the name; the account id
    resource_name: str
    key: str  # what the finding Id hashes: the ARN, or AWS::::Account:<id>
    snapshot: Any = None  # CredentialReportRow | RoleSnapshot | AccountSnapshot | IamPosture | ... | None
    kind: str = ""  # the snapshot kind when not the resource type's own (StateTrigger.subject)
    where: Home | None = None  # where its findings are filed when not the sweep's (Identity Center's region)
    asff_type: str | None = None  # the finding's resource type when not the rule's
    region: str | None = None  # where the resource is when not the sweep's region (Resources[0].Region)


def user_subject(row) -> Subject:
    return Subject(USER, row.user_id or row.user, row.user, row.arn, row)


def role_subject(role) -> Subject:
    return Subject(ROLE, role.role_id or role.name, role.name, role.arn, role)


def account_subject(snapshot) -> Subject:
    return Subject(ACCOUNT, snapshot.account_id, snapshot.account_id, account_key(snapshot.account_id), snapshot)


def posture_subject(snapshot, kind: str, where: Home | None = None) -> Subject:
    """The account as the subject of the rules that judge many of its resources at once."""
    return Subject(ACCOUNT, snapshot.account_id, snapshot.account_id, account_key(snapshot.account_id), snapshot,
                   kind=kind, where=where)


def resource_subject(resource: Resource) -> Subject:
    return Subject(resource.config_type, resource.config_id, resource.name, resource.key, asff_type=resource.asff_type,
                   region=resource.region)


@dataclass(frozen=True)
class NotRun:
    """A rule that could not judge a subject: what it needed could not be read (or does not exist there)."""

    rule_id: str
    account: str
    reason: str
    absent: bool = False  # nothing to judge there (no Identity Center instance), as opposed to a refused read


def account_key(account_id: str) -> str:
    return f"{ACCOUNT}:{account_id}"  # the Resources[].Id Security Hub's own account-level controls use


@dataclass(frozen=True)
class StateEvaluation:
    """One rule's verdict on one resource: what goes to ``PutEvaluations`` and the finding update."""

    rule_id: str
    resource_type: str
    resource_id: str
    resource_name: str
    compliance: Compliance
    annotation: str  # <= 256 characters
    ordering_timestamp: datetime
    finding: Finding | None
    expired: tuple[Finding, ...] = ()  # policy_suppression_expired findings of expired entries that matched
    reported: bool = True  # told to AWS Config on its own (False: through its account's summing evaluation)
    key: str = ""  # the resource key its finding is filed under

    @property
    def findings(self) -> tuple[Finding, ...]:
        """What goes to Security Hub: the finding update and the expired-suppression findings."""
        return ((self.finding,) if self.finding is not None else ()) + self.expired

    def config_evaluation(self) -> dict:
        """The ``Evaluation`` structure of ``config.put_evaluations``."""
        return {
            "ComplianceResourceType": self.resource_type,
            "ComplianceResourceId": self.resource_id,
            "ComplianceType": self.compliance.value,
            "Annotation": self.annotation,
            "OrderingTimestamp": self.ordering_timestamp,
        }


def annotation(text: str, note: str = "") -> str:
    """``text`` within Config's 256 characters; a ``note`` (e.g. a bad rule parameter) always survives."""
    if not note:
        return clip(text, ANNOTATION_LIMIT) or "-"
    note = clip(note, ANNOTATION_LIMIT // 2)
    return clip(f"{clip(text, ANNOTATION_LIMIT - len(note) - 1)} {note}".strip(), ANNOTATION_LIMIT)


class StateEngine:
    def __init__(self, registry: Registry = REGISTRY):
        self.registry = registry

    def rules(self, wanted: Iterable[Rule | str] | None, ctx: Context) -> list[Rule]:  # noqa: D102
        """The state rules to run: ``wanted`` (rules or ids) or every state rule, minus those the
        organisation policy disabled."""
        if wanted is None:
            chosen = list(self.registry.state_rules())
        else:
            chosen = [self.registry.get(rule) if isinstance(rule, str) else rule for rule in wanted]
        for rule in chosen:
            if rule.meta.state is None or rule.evaluate_state is None:
                raise ValueError(f"{rule.meta.id} is not a state rule (no META.state / evaluate_state)")
        return [rule for rule in chosen if ctx.policy.is_enabled(rule.meta.id)]

    def evaluate(
        self,
        rules: Iterable[Rule],
        subjects: Iterable[Subject],
        ctx: Context,
        where: Home,
        *,
        ordering_timestamp: datetime | None = None,
        note: str = "",
        failures: list[RuleFailure] | None = None,
        not_run: list[NotRun] | None = None,
    ) -> list[StateEvaluation]:
        """Every rule over every subject of its resource type and kind. ``note`` is appended to each annotation."""
        rules, results = list(rules), []
        for subject in subjects:
            here = subject.where or where
            for rule in rules:
                state = rule.meta.state
                if state.resource_type != subject.resource_type or state.subject != subject.kind:
                    continue
                missing = unreadable(state.reads, subject.snapshot)
                if missing:
                    if not_run is not None:
                        not_run.append(NotRun(rule.meta.id, here.account, missing))
                    logger.warning("state rule %s not run in %s: %s", rule.meta.id, here.account, missing,
                                   extra={"rule_id": rule.meta.id, "account": here.account})
                    continue
                try:
                    result = rule.evaluate_state(subject.snapshot, ctx)
                    if isinstance(result, StateResult):
                        results.append(self.judged(rule, subject, result, ctx, here, ordering_timestamp, note))
                    else:
                        results.extend(self._many(rule, subject, list(result), ctx, here, ordering_timestamp, note))
                except RULE_ERRORS as error:  # one broken rule or odd resource must not end the sweep
                    failure = RuleFailure(rule.meta.id, subject.resource_id, f"{type(error).__name__}: {error}")
                    if failures is not None:
                        failures.append(failure)
                    logger.exception(
                        "state rule %s failed on %s %s", rule.meta.id, subject.resource_type, subject.resource_name,
                        extra={"rule_id": rule.meta.id, "resource_type": subject.resource_type,
                               "resource_id": subject.resource_id, "resource_name": subject.resource_name},
                    )
        return results

    def _many(self, rule: Rule, subject: Subject, results: list[StateResult], ctx: Context, where: Home,
              ordering_timestamp: datetime | None, note: str) -> list[StateEvaluation]:
        """The evaluations of a rule that judged many resources of one subject, and the subject's summing
        ``AWS::::Account`` evaluation for AWS Config (no finding of its own)."""
        judged = []
        for result in results:
            if not isinstance(result, StateResult):
                raise TypeError(f"evaluate_state returned {type(result).__name__} among its results, not StateResult")
            if result.resource is None:
                raise ValueError("a rule that judges many resources must name each (StateResult.resource)")
            resource = resource_subject(result.resource)
            evaluation = self.judged(rule, resource, result, ctx, where, ordering_timestamp, note)
            judged.append(replace(evaluation, reported=resource.resource_type != ACCOUNT
                                  or resource.key == subject.key))
        summed = [evaluation for evaluation in judged if not evaluation.reported]
        if summed or not judged:
            judged.append(self._summary(rule, subject, summed, ctx, ordering_timestamp, note))
        return judged

    def _summary(self, rule: Rule, subject: Subject, summed: list[StateEvaluation], ctx: Context,
                 ordering_timestamp: datetime | None, note: str) -> StateEvaluation:
        failed = [e for e in summed if e.compliance is Compliance.NON_COMPLIANT]
        passed = [e for e in summed if e.compliance is Compliance.COMPLIANT]
        if failed:
            compliance = Compliance.NON_COMPLIANT
            names = ", ".join(e.resource_name for e in failed[:3]) + (", ..." if len(failed) > 3 else "")
            text = f"{len(failed)} of {len(failed) + len(passed)} non-compliant: {names}"
        elif passed:
            compliance, text = Compliance.COMPLIANT, f"{len(passed)} judged, all compliant"
        else:
            compliance, text = Compliance.NOT_APPLICABLE, (summed[0].annotation if summed else "nothing to judge")
        return StateEvaluation(rule.meta.id, ACCOUNT, subject.resource_id, subject.resource_name, compliance,
                               annotation(text, note), ordering_timestamp or ctx.now, None, key=subject.key)

    def vanished(self, rule: Rule, previous: dict[str, dict], evaluations: Iterable[StateEvaluation], ctx: Context,
                 *, ordering_timestamp: datetime | None = None) -> list[StateEvaluation]:
        """ARCHIVED updates for the resources the previous sweep judged (``previous``: finding Id ->
        :func:`ledger_entry`) that this complete sweep did not judge. Resources Config records get a
        NOT_APPLICABLE evaluation too; the others are not told to Config on their own."""
        evaluations = list(evaluations)
        seen = {e.finding.finding_id for e in evaluations if e.finding is not None}
        told = {(e.resource_type, e.resource_id) for e in evaluations if e.reported}  # Config heard of these now
        gone = []
        for found_id, entry in sorted(previous.items()):
            if found_id in seen:
                continue
            where = Home(entry["account"], entry["region"], entry["partition"])
            subject = Subject(entry["resource_type"], entry["resource_id"], entry["name"], entry["key"],
                              asff_type=entry.get("asff_type"))
            evaluation = self.not_applicable(rule, subject, f"{entry['name']} no longer exists", ctx, where,
                                             ordering_timestamp)
            reported = entry.get("reported", True) and (entry["resource_type"], entry["resource_id"]) not in told
            gone.append(replace(evaluation, reported=reported))
        return gone
    def judged(self, rule: Rule, subject: Subject, result: StateResult, ctx: Context, where: Home,
               ordering_timestamp: datetime | None = None, note: str = "") -> StateEvaluation:
        if not isinstance(result, StateResult):
            raise TypeError(f"evaluate_state returned {type(result).__name__}, not StateResult")
        text = annotation(result.annotation, note)
        when = ordering_timestamp or ctx.now
        if result.compliance is Compliance.NOT_APPLICABLE:
            return self.not_applicable(rule, subject, result.annotation, ctx, where, when, note=note)
        if result.compliance is Compliance.NON_COMPLIANT:
            if result.violation is None:
                raise ValueError("NON_COMPLIANT result without a violation")
            finding, expired = self._failed(rule, subject, result.violation, ctx, where)
        else:
            finding, expired = self._closing(rule, subject, result.annotation, ctx, where, "PASSED", "ACTIVE"), []
        return StateEvaluation(rule.meta.id, subject.resource_type, subject.resource_id, subject.resource_name,
                               result.compliance, text, when, finding, tuple(expired), key=subject.key)

    def not_applicable(self, rule: Rule, subject: Subject, why: str, ctx: Context, where: Home,
                       ordering_timestamp: datetime | None = None, *, note: str = "") -> StateEvaluation:
        """NOT_APPLICABLE (out of scope, deleted, or the rule says so) and the ARCHIVED finding update."""
        finding = self._closing(rule, subject, why, ctx, where, "NOT_AVAILABLE", "ARCHIVED")
        return StateEvaluation(rule.meta.id, subject.resource_type, subject.resource_id, subject.resource_name,
                               Compliance.NOT_APPLICABLE, annotation(why, note), ordering_timestamp or ctx.now,
                               finding, key=subject.key)

    # -- findings --------------------------------------------------------------------------------------

    def _failed(self, rule: Rule, subject: Subject, violation: Violation, ctx: Context,
                where: Home) -> tuple[Finding, list[Finding]]:
        """The FAILED finding under the organisation policy (the principal a ``principal`` suppression
        matches is the user or role itself), and the findings of expired suppressions it matched."""
        finding = self._finding(rule, subject, violation, ctx, where)
        if finding.subject is None:
            finding = replace(finding, subject=subject.resource_name)
        principals = (subject.key,) if subject.resource_type in (USER, ROLE) and not subject.kind else ()
        return apply_policy(finding, ctx, principals, lambda meta, found: build_state_finding(
            meta, found, account=where.account, region=where.region, partition=where.partition,
            observed_at=ctx.now))

    def _closing(self, rule: Rule, subject: Subject, why: str, ctx: Context, where: Home, status: str,
                 record_state: str) -> Finding:
        violation = Violation(description=clip(why, 1000) or status.lower(), resource_id=subject.key,
                              resource_type=subject.asff_type, severity=Severity.INFORMATIONAL,
                              subject=subject.resource_name)
        finding = self._finding(rule, subject, violation, ctx, where)
        return replace(finding, compliance_status=status, record_state=record_state)

    def _finding(self, rule: Rule, subject: Subject, violation: Violation, ctx: Context, where: Home) -> Finding:
        finding = build_state_finding(rule.meta, violation, account=where.account, region=where.region,
                                      partition=where.partition, observed_at=ctx.now)
        return replace(finding, finding_id=state_finding_id(rule.meta.id, where, subject.key),
                       resource_region=subject.region)


def state_finding_id(rule_id: str, where: Home, key: str) -> str:
    return finding_id(rule_id, where.account, where.region, key, None)


def unreadable(reads: Iterable[str], snapshot: Any) -> str:
    """Why a rule reading ``reads`` cannot judge ``snapshot`` ("" when it can): the reasons of the parts the
    snapshot says could not be read (``unavailable``; a read ending in ":" covers every part with that prefix)."""
    missing = getattr(snapshot, "unavailable", None) or {}
    reasons = [f"{part}: {why}" for part, why in missing.items()
               if any(part in (read, read.rstrip(":")) or (read.endswith(":") and part.startswith(read))
                      for read in reads)]
    return "; ".join(reasons)


def ledger_entry(evaluation: StateEvaluation) -> dict:
    """What a sweep remembers of a judged resource so that the next one can archive its finding when the
    resource is gone (see :meth:`StateEngine.vanished`)."""
    finding = evaluation.finding
    return {"resource_type": evaluation.resource_type, "resource_id": evaluation.resource_id,
            "name": evaluation.resource_name, "key": evaluation.key, "account": finding.account_id,
            "region": finding.region, "partition": finding.partition, "asff_type": finding.resource_type,
            "reported": evaluation.reported}
