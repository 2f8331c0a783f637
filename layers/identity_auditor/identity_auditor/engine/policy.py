"""The organisation policy applied to what the rules find (spec/rules.md §C), once, for both engines:

- ``rules.<id>.enabled: false``: the engines do not run the rule at all (:meth:`OrgPolicy.is_enabled`);
- ``allow``: callers allow-listed for a rule (ARN patterns of trusted automation, matched against the
  session ARN and the issuing role's ARN) never produce that rule's findings (the event engine asks
  :meth:`OrgPolicy.allows` before building one);
- ``severity``: replaces the severity of every finding of the rule;
- ``suppress``: the first unexpired entry matching the finding (``resource`` pattern against its resource
  id, ``principal`` pattern against the principal's ARNs: the caller's for an event, the user's or
  role's own for a state finding; both when both are given) sets ``finding.suppression``: Security Hub
  gets it as SUPPRESSED, SNS never pages for it. An entry past its ``expires`` date no longer applies;
  each time it would have matched, it is logged (WARNING) and reported as a LOW
  ``policy_suppression_expired`` finding, whose Id leaves out the event id and the resource, so that one
  stale entry is one finding in Security Hub (per account and region).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import replace

from identity_auditor.model.contract import Context, RuleMeta, Severity, Trigger, Violation
from identity_auditor.model.findings import Finding, Suppression, finding_id
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

# Builds the finding of an expired entry in the matched finding's place: from its record (event path) or
# its account (state path).
BuildFinding = Callable[[RuleMeta, Violation], Finding]


def apply_policy(
    finding: Finding,
    ctx: Context,
    principal_arns: Iterable[str | None],
    build: BuildFinding,
    *,
    event_id: str | None = None,
) -> tuple[Finding, list[Finding]]:
    """``finding`` under the policy's severity override and suppressions, and the
    ``policy_suppression_expired`` findings of the expired entries that matched it."""
    override = ctx.policy.severity_for(finding.rule_id)
    if override is not None and override is not finding.severity:
        note = f"{finding.severity.value} -> {override.value} (organisation policy)"
        finding = replace(finding, severity=override, details={**finding.details, "SeverityOverride": note})
    today, expired = ctx.now.date(), []
    for index, entry in ctx.policy.suppressions(finding.rule_id, finding.resource_id, tuple(principal_arns)):
        if entry.expired(today):
            expired.append(_expired_finding(finding, index, entry, build))
            logger.warning(
                "policy suppression rules.%s.suppress[%d] (owner %s) expired on %s: it no longer applies",
                finding.rule_id, index, entry.owner, entry.expires.isoformat(),
                extra={
                    "rule_id": finding.rule_id,
                    "suppress_index": index,
                    "suppression_owner": entry.owner,
                    "suppression_expires": entry.expires.isoformat(),
                    "event_id": event_id,
                    "resource_id": finding.resource_id,
                },
            )
        elif finding.suppression is None:
            finding = replace(finding, suppression=Suppression(entry.reason, entry.owner, entry.expires,
                                                               entry.pattern))
    return finding, expired


def _expired_finding(finding: Finding, index: int, entry: SuppressEntry, build: BuildFinding) -> Finding:
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
    expired = build(SUPPRESSION_EXPIRED, violation)
    key = f"{resource}|{entry.pattern}|{entry.expires.isoformat()}"
    stable_id = finding_id(SUPPRESSION_EXPIRED.id, expired.account_id, expired.region, key, event_id=None)
    return replace(expired, finding_id=stable_id)
