"""The rule engine: runs every registered rule whose trigger matches a record, and applies the
organisation policy (spec/rules.md §C) to what they find, so that the rules themselves need not know:

- ``rules.<id>.enabled: false``: the rule is not run at all;
- ``allow``: callers allow-listed for a rule (ARN patterns of trusted automation, matched against the
  session ARN and the issuing role's ARN) never produce that rule's findings;
- ``severity``: replaces the severity of every finding of the rule;
- ``suppress``: the first unexpired entry matching the finding (``resource`` pattern against its resource
  id, ``principal`` pattern against the caller's ARNs; both when both are given) sets
  ``finding.suppression``: Security Hub gets it as SUPPRESSED, SNS never pages for it. An entry past its
  ``expires`` date no longer applies; each time it would have matched, it is logged (WARNING) and
  reported as a LOW ``policy_suppression_expired`` finding, whose Id leaves out the event id, so that
  one stale entry is one finding in Security Hub (per account and region).

One rule's exception never stops the others: it is logged with the rule id and event id, returned
as a :class:`RuleFailure` (the handler counts it in a metric) and the remaining rules still run.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace

from identity_auditor.engine.registry import REGISTRY, Registry
from identity_auditor.model.cloudtrail import CloudTrailRecord
from identity_auditor.model.contract import Context, RuleMeta, Severity, Trigger, Violation
from identity_auditor.model.findings import Finding, Suppression, build_finding, finding_id
from identity_auditor.model.policy import SuppressEntry

logger = logging.getLogger(__name__)

SUPPRESSION_EXPIRED = RuleMeta(
    id="policy_suppression_expired",
    title="Policy suppression expired",
    severity=Severity.LOW,
    # Not in the registry: the engine raises it while applying the policy; this trigger never matches.
    trigger=Trigger("identity-auditor.policy", ("SuppressionExpired",)),
    resource_type="Other",
    finding_types=("Software and Configuration Checks/AWS Security Best Practices",),
    why=(
        "Suppressions are time-boxed exceptions. Once past its expiry date an entry no longer hides "
        "anything: the findings it covered are reported and page people again until it is reviewed."
    ),
    remediation=(
        "Ask the entry's owner whether the exception is still justified. If it is, renew it with a new "
        "expires date in the organisation policy (rules.<rule id>.suppress); if not, remove the entry and "
        "fix what the suppressed findings report. Check the change with `identity-auditor policy validate`."
    ),
    remediation_url="https://docs.aws.amazon.com/securityhub/1.0/APIReference/API_Workflow.html",
)


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
            if not ctx.policy.is_enabled(rule.meta.id):
                continue
            result.rules_run += 1
            try:
                violation = rule.evaluate(record, ctx)
                if violation is not None and not ctx.policy.allows(rule.meta.id, *caller_arns):
                    finding = build_finding(rule.meta, violation, record, account_fallback=account,
                                            region_fallback=region)
                    finding, expired = self._apply_policy(finding, record, ctx, account, region)
                    result.findings.append(finding)
                    known = {f.finding_id for f in result.findings}
                    result.findings.extend(e for e in expired if e.finding_id not in known)
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

    def _apply_policy(
        self,
        finding: Finding,
        record: CloudTrailRecord,
        ctx: Context,
        account: str | None,
        region: str | None,
    ) -> tuple[Finding, list[Finding]]:
        """The finding under the policy's severity override and suppressions, and the findings reporting
        expired suppress entries that matched it."""
        override = ctx.policy.severity_for(finding.rule_id)
        if override is not None and override is not finding.severity:
            note = f"{finding.severity.value} -> {override.value} (organisation policy)"
            details = {**finding.details, "SeverityOverride": note}
            finding = replace(finding, severity=override, details=details)
        today, expired = ctx.now.date(), []
        matching = ctx.policy.suppressions(finding.rule_id, finding.resource_id, record.user_identity.arns)
        for index, entry in matching:
            if entry.expired(today):
                expired.append(_expired_finding(finding, index, entry, record, account, region))
                logger.warning(
                    "policy suppression rules.%s.suppress[%d] (owner %s) expired on %s: it no longer applies",
                    finding.rule_id, index, entry.owner, entry.expires.isoformat(),
                    extra={
                        "rule_id": finding.rule_id,
                        "suppress_index": index,
                        "suppression_owner": entry.owner,
                        "suppression_expires": entry.expires.isoformat(),
                        "event_id": record.event_id,
                    },
                )
            elif finding.suppression is None:
                finding = replace(finding, suppression=Suppression(entry.reason, entry.owner, entry.expires,
                                                                   entry.pattern))
        return finding, expired


def _expired_finding(
    finding: Finding,
    index: int,
    entry: SuppressEntry,
    record: CloudTrailRecord,
    account: str | None,
    region: str | None,
) -> Finding:
    """The LOW finding for an expired suppress entry that matched ``finding``. Its Id is the entry's
    (rule, index, patterns, expiry) in the finding's account and region, without the event id."""
    resource = f"policy/{finding.rule_id}/suppress[{index}]"
    violation = Violation(
        description=(
            f"The organisation policy's suppression of {finding.rule_id} findings matching {entry.pattern} "
            f"(owner {entry.owner}, reason: {entry.reason}) expired on {entry.expires.isoformat()}; it no "
            f"longer applies, so this {finding.rule_id} finding on {finding.resource_id} is reported."
        ),
        resource_id=resource,
        details={
            "SuppressedRule": finding.rule_id,
            "SuppressPattern": entry.pattern,
            "SuppressOwner": entry.owner,
            "SuppressReason": entry.reason,
            "SuppressExpires": entry.expires.isoformat(),
            "MatchedFindingId": finding.finding_id,
        },
        subject=f"rules.{finding.rule_id}.suppress[{index}] (owner {entry.owner})",
    )
    expired = build_finding(SUPPRESSION_EXPIRED, violation, record, account_fallback=account,
                            region_fallback=region)
    key = f"{resource}|{entry.pattern}|{entry.expires.isoformat()}"
    stable_id = finding_id(SUPPRESSION_EXPIRED.id, expired.account_id, expired.region, key, event_id=None)
    return replace(expired, finding_id=stable_id)
