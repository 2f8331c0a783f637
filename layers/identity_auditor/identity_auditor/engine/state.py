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
from identity_auditor.model.contract import Compliance, Context, RuleFailure, Severity, StateResult, Violation
from identity_auditor.model.findings import Finding, build_state_finding, finding_id
from identity_auditor.model.home import Home
from identity_auditor.model.text import clip

logger = logging.getLogger(__name__)

USER = "AWS::IAM::User"
ROLE = "AWS::IAM::Role"
ACCOUNT = "AWS::::Account"
ANNOTATION_LIMIT = 256  # AWS Config: Evaluation.Annotation


@dataclass(frozen=True)
class Subject:
    """One resource as a state rule judges it: its AWS Config identity, the key its findings are filed
    under, and the snapshot the rule reads (``None`` when the resource is gone)."""

    resource_type: str  # AWS Config type: AWS::IAM::User, AWS::IAM::Role, AWS::::Account
    resource_id: str  # AWS Config resource id: AIDA.../AROA... when known, else the name; the account id
    resource_name: str
    key: str  # what the finding Id hashes: the ARN, or AWS::::Account:<id>
    snapshot: Any = None  # CredentialReportRow | RoleSnapshot | AccountSnapshot | None


def user_subject(row) -> Subject:
    return Subject(USER, row.user_id or row.user, row.user, row.arn, row)


def role_subject(role) -> Subject:
    return Subject(ROLE, role.role_id or role.name, role.name, role.arn, role)


def account_subject(snapshot) -> Subject:
    return Subject(ACCOUNT, snapshot.account_id, snapshot.account_id, account_key(snapshot.account_id), snapshot)


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

    def rules(self, wanted: Iterable[Rule | str] | None, ctx: Context) -> list[Rule]:
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
    ) -> list[StateEvaluation]:
        """Every rule over every subject of its resource type. ``note`` is appended to each annotation."""
        rules, results = list(rules), []
        for subject in subjects:
            for rule in rules:
                if rule.meta.state.resource_type != subject.resource_type:
                    continue
                try:
                    result = rule.evaluate_state(subject.snapshot, ctx)
                    results.append(self.judged(rule, subject, result, ctx, where, ordering_timestamp, note))
                except Exception as error:  # one broken rule or odd resource must not end the sweep
                    failure = RuleFailure(rule.meta.id, subject.resource_id, f"{type(error).__name__}: {error}")
                    if failures is not None:
                        failures.append(failure)
                    logger.exception(
                        "state rule %s failed on %s %s", rule.meta.id, subject.resource_type, subject.resource_name,
                        extra={"rule_id": rule.meta.id, "resource_type": subject.resource_type,
                               "resource_id": subject.resource_id, "resource_name": subject.resource_name},
                    )
        return results

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
                               result.compliance, text, when, finding, tuple(expired))

    def not_applicable(self, rule: Rule, subject: Subject, why: str, ctx: Context, where: Home,
                       ordering_timestamp: datetime | None = None, *, note: str = "") -> StateEvaluation:
        """NOT_APPLICABLE (out of scope, deleted, or the rule says so) and the ARCHIVED finding update."""
        finding = self._closing(rule, subject, why, ctx, where, "NOT_AVAILABLE", "ARCHIVED")
        return StateEvaluation(rule.meta.id, subject.resource_type, subject.resource_id, subject.resource_name,
                               Compliance.NOT_APPLICABLE, annotation(why, note), ordering_timestamp or ctx.now,
                               finding)

    # -- findings --------------------------------------------------------------------------------------

    def _failed(self, rule: Rule, subject: Subject, violation: Violation, ctx: Context,
                where: Home) -> tuple[Finding, list[Finding]]:
        """The FAILED finding under the organisation policy (the principal a ``principal`` suppression
        matches is the user or role itself), and the findings of expired suppressions it matched."""
        finding = self._finding(rule, subject, violation, ctx, where)
        if finding.subject is None:
            finding = replace(finding, subject=subject.resource_name)
        principals = (subject.key,) if subject.resource_type in (USER, ROLE) else ()
        return apply_policy(finding, ctx, principals, lambda meta, found: build_state_finding(
            meta, found, account=where.account, region=where.region, partition=where.partition,
            observed_at=ctx.now))

    def _closing(self, rule: Rule, subject: Subject, why: str, ctx: Context, where: Home, status: str,
                 record_state: str) -> Finding:
        violation = Violation(description=clip(why, 1000) or status.lower(), resource_id=subject.key,
                              severity=Severity.INFORMATIONAL, subject=subject.resource_name)
        finding = self._finding(rule, subject, violation, ctx, where)
        return replace(finding, compliance_status=status, record_state=record_state)

    def _finding(self, rule: Rule, subject: Subject, violation: Violation, ctx: Context, where: Home) -> Finding:
        finding = build_state_finding(rule.meta, violation, account=where.account, region=where.region,
                                      partition=where.partition, observed_at=ctx.now)
        return replace(finding, finding_id=state_finding_id(rule.meta.id, where, subject.key))


def state_finding_id(rule_id: str, where: Home, key: str) -> str:
    return finding_id(rule_id, where.account, where.region, key, None)
