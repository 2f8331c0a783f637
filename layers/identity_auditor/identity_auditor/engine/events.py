"""The event engine: runs every registered rule whose trigger matches a CloudTrail record, then applies the
organisation policy to what they find (:mod:`identity_auditor.engine.policy`), so that the rules
themselves need not know about allow-lists, severity overrides or suppressions.

One rule's exception never stops the others: it is logged with the rule id and event id, returned
as a :class:`~identity_auditor.model.contract.RuleFailure` (the handler counts it in a metric) and the
remaining rules still run.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from identity_auditor.engine.policy import apply_policy
from identity_auditor.engine.registry import REGISTRY, Registry
from identity_auditor.model.cloudtrail import CloudTrailRecord
from identity_auditor.model.contract import RULE_ERRORS, Context, RuleFailure
from identity_auditor.model.findings import Finding, build_finding

logger = logging.getLogger(__name__)


@dataclass
class Evaluation:
    findings: list[Finding] = field(default_factory=list)
    failures: list[RuleFailure] = field(default_factory=list)
    rules_run: int = 0
    fired: set[str] = field(default_factory=set)  # ids of the rules that found a violation, before the policy


class Engine:
    def __init__(self, registry: Registry = REGISTRY):
        self.registry = registry

    def evaluate(
        self,
        record: CloudTrailRecord,
        ctx: Context,
        *,
        account: str | None = None,
        region: str | None = None,
    ) -> Evaluation:
        """Evaluate one record. ``account``/``region`` (from the envelope) fill in what the record lacks."""
        result = Evaluation()
        policy = ctx.policy
        caller_arns: tuple[str, ...] | None = None  # read when a rule first finds a violation
        for rule in self.registry.rules_for(record.event_source, record.event_name, record.user_identity.type):
            rule_id = rule.meta.id
            if not policy.is_enabled(rule_id):
                continue
            result.rules_run += 1
            try:
                violation = rule.evaluate(record, ctx)
                if violation is None:
                    continue
                result.fired.add(rule_id)  # what happened, for the sequences (engine/sequences.py)
                if caller_arns is None:
                    caller_arns = record.user_identity.arns
                if policy.allows(rule_id, *caller_arns):
                    continue
                finding = build_finding(rule.meta, violation, record, account_fallback=account,
                                        region_fallback=region)
                finding, expired = apply_policy(
                    finding, ctx, caller_arns,
                    lambda meta, found: build_finding(meta, found, record, account_fallback=account,
                                                      region_fallback=region),
                    event_id=record.event_id)
                result.findings.append(finding)
                if expired:
                    known = {f.finding_id for f in result.findings}
                    result.findings.extend(e for e in expired if e.finding_id not in known)
            except RULE_ERRORS as error:  # a broken rule must not hide the others' findings
                failure = RuleFailure(rule_id, record.event_id, f"{type(error).__name__}: {error}")
                result.failures.append(failure)
                logger.exception(
                    "rule %s failed on event %s",
                    rule_id,
                    record.event_id,
                    extra={"rule_id": rule_id, "event_id": record.event_id, "event_name": record.event_name},
                )
        return result
