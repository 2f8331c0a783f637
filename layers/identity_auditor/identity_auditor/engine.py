"""The rule engine: runs every registered rule whose trigger matches a record.

Callers the organisation policy allow-lists for a rule (``allow``: ARN patterns of trusted automation,
matched against the session ARN and the issuing role's ARN) never produce that rule's findings; the
rules themselves do not need to know.

One rule's exception never stops the others: it is logged with the rule id and event id, returned
as a :class:`RuleFailure` (the handler counts it in a metric) and the remaining rules still run.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from identity_auditor.contract import Context
from identity_auditor.findings import Finding, build_finding
from identity_auditor.models import CloudTrailRecord
from identity_auditor.registry import REGISTRY, Registry

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RuleFailure:
    rule_id: str
    event_id: str | None
    error: str


@dataclass
class Evaluation:
    findings: list[Finding] = field(default_factory=list)
    failures: list[RuleFailure] = field(default_factory=list)
    rules_run: int = 0


class Engine:
    def __init__(self, registry: Registry = REGISTRY):
        self.registry = registry

    def wants(self, record: CloudTrailRecord) -> bool:
        return self.registry.wants(record.event_source, record.event_name, record.user_identity.type)

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
        caller_arns = record.user_identity.arns
        for rule in self.registry.rules_for(record.event_source, record.event_name, record.user_identity.type):
            result.rules_run += 1
            try:
                violation = rule.evaluate(record, ctx)
                if violation is not None and not ctx.policy.allows(rule.meta.id, *caller_arns):
                    result.findings.append(
                        build_finding(rule.meta, violation, record, account_fallback=account, region_fallback=region)
                    )
            except Exception as error:  # a broken rule must not hide the others' findings
                failure = RuleFailure(rule.meta.id, record.event_id, f"{type(error).__name__}: {error}")
                result.failures.append(failure)
                logger.exception(
                    "rule %s failed on event %s",
                    rule.meta.id,
                    record.event_id,
                    extra={"rule_id": rule.meta.id, "event_id": record.event_id, "event_name": record.event_name},
                )
        return result
