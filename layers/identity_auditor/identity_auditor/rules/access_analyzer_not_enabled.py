"""No active IAM Access Analyzer external-access analyzer covers the account in a region the auditor covers.

Decisions (spec/rules.md §B, IAM posture):
- Subject: the account's IAM posture (``ListAnalyzers`` in each region the sweep covers, parts
  ``analyzers:<region>``: the rule is not run when any of them could not be read). One result per region of
  ``IamPosture.analyzers``: ``AWS::::Account``, named by the region, filed under
  ``arn:<partition>:access-analyzer:<region>:<account>:analyzer/*`` (the account's analyzers in that region).
- COMPLIANT when the region holds an ``ACTIVE`` analyzer of type ``ACCOUNT`` or ``ORGANIZATION`` (external
  access; the management account and the delegated administrator see the organisation's analyzer in their own
  list). Unused-access (``ACCOUNT_UNUSED_ACCESS``, ``ORGANIZATION_UNUSED_ACCESS``) and internal-access analyzers
  do not count: they do not report external access. ``CREATING``, ``DISABLED`` and ``FAILED`` analyzers do not
  count either; the annotation names them.
- A member account cannot list the organisation's analyzer, so the policy's ``organization_analyzers`` (ARN
  patterns, shell wildcards) count as present in a region when a pattern can name an analyzer there: its ARN
  fields ``arn``, partition, service (``access-analyzer``) and region match, field by field, the account's
  partition and that region (``arn:aws:access-analyzer:*:111122223333:analyzer/org`` covers every region,
  ``...:eu-*:...`` the ``eu-`` ones); a pattern that ends in ``*`` before its region field covers whatever
  follows (``arn:aws:access-analyzer:*``, ``*``). The account and name fields are not compared: they are the
  organisation's, never this account's. Where the named analyzer is visible (the account lists an
  ``ORGANIZATION`` analyzer in that region matching the pattern), what the account sees wins: a visible
  organisation analyzer that is not ACTIVE does not count through the pattern.
- NON_COMPLIANT (MEDIUM) otherwise. No region swept: one account-level NOT_APPLICABLE result.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fnmatch import fnmatchcase

from identity_auditor.model.contract import (
    Compliance,
    Context,
    Resource,
    RuleMeta,
    Severity,
    StateResult,
    StateTrigger,
    Violation,
)
from identity_auditor.model.text import clip


if TYPE_CHECKING:  # annotations only: the snapshots are built by the collectors, on the Config path
    from identity_auditor.model.snapshots import Analyzer, IamPosture

META = RuleMeta(
    id="access_analyzer_not_enabled",
    title="IAM Access Analyzer is not enabled in a region",
    severity=Severity.MEDIUM,
    trigger=None,
    state=StateTrigger("AWS::::Account", periodic=True, subject="iam_posture", reads=("analyzers:",)),
    resource_type="AwsAccount",
    finding_types=(
        "Software and Configuration Checks/Industry and Regulatory Standards/CIS AWS Foundations Benchmark",
        "Software and Configuration Checks/AWS Security Best Practices",
    ),
    why=(
        "Without an external-access analyzer nobody is told when a bucket, key, role or queue of the region "
        "becomes reachable from outside the account or organisation."
    ),
    remediation=(
        "Create an external-access analyzer in the region: aws accessanalyzer create-analyzer --analyzer-name "
        "external-access --type ACCOUNT --region <region> (or, from the management or delegated administrator "
        "account, --type ORGANIZATION for every account). If the organisation already has one, name it in the "
        "policy's organization_analyzers."
    ),
    remediation_url="https://docs.aws.amazon.com/IAM/latest/UserGuide/access-analyzer-getting-started.html",
    compliance=("CIS5 1.19", "CIS3 1.20", "FSBP IAM.28"),
)

EXTERNAL_ACCESS = ("ACCOUNT", "ORGANIZATION")
ACTIVE = "ACTIVE"
_SERVICE = "access-analyzer"


def evaluate_state(posture: IamPosture, ctx: Context) -> StateResult | list[StateResult]:
    if not posture.analyzers:
        return StateResult(Compliance.NOT_APPLICABLE,
                           f"No region of account {posture.account_id} was swept for IAM Access Analyzer.")
    patterns = ctx.policy.organization_analyzers
    return [_judge(posture, region, tuple(analyzers), patterns) for region, analyzers in sorted(
        posture.analyzers.items())]


def _judge(posture: IamPosture, region: str, analyzers: tuple[Analyzer, ...],
           patterns: tuple[str, ...]) -> StateResult:
    account, partition = posture.account_id, posture.partition
    key = f"arn:{partition}:{_SERVICE}:{region}:{account}:analyzer/*"
    resource = Resource("AWS::::Account", account, region, key, region=region)  # Resources[0].Region: the analyzer's
    active = next((a for a in analyzers if a.type in EXTERNAL_ACCESS and a.status == ACTIVE), None)
    if active is not None:
        return StateResult(Compliance.COMPLIANT,
                           clip(f"{region}: analyzer {active.name} ({active.type}) is ACTIVE.", 256),
                           resource=resource)
    pattern = next((p for p in patterns if _covers(p, partition, region, analyzers)), None)
    if pattern is not None:
        return StateResult(Compliance.COMPLIANT,
                           clip(f"{region}: the organisation's analyzer {pattern} (policy organization_analyzers) "
                                "covers this region.", 256), resource=resource)
    seen = ", ".join(f"{a.name} ({a.type}, {a.status})" for a in analyzers)
    found = f"only {seen}" if seen else "no analyzer"
    return StateResult(
        Compliance.NON_COMPLIANT,
        clip(f"{region}: no ACTIVE external-access analyzer (ACCOUNT or ORGANIZATION); {found}.", 256),
        Violation(
            description=f"Account {account} has no active IAM Access Analyzer external-access analyzer in {region}.",
            resource_id=key,
            details={"Region": region, "Analyzers": clip(seen or "none", 1024),
                     "OrganizationAnalyzers": clip(", ".join(patterns) or "none", 1024)},
            subject=region,
        ),
        resource=resource,
    )


def _covers(pattern: str, partition: str, region: str, analyzers: tuple[Analyzer, ...]) -> bool:
    """``pattern`` (an ``organization_analyzers`` entry) stands for an organisation analyzer in ``region``: it can
    name an analyzer there, and no organisation analyzer the account does see there shows it is not ACTIVE."""
    if not _names_region(pattern, partition, region):
        return False
    visible = [a for a in analyzers if a.type == "ORGANIZATION" and fnmatchcase(a.arn, pattern)]
    return not visible or any(a.status == ACTIVE for a in visible)


def _names_region(pattern: str, partition: str, region: str) -> bool:
    """The pattern's ``arn``, partition, service and region fields match those of an analyzer ARN of ``region``
    (module docs); a field ending in ``*`` that is the pattern's last covers the rest."""
    fields = pattern.split(":")
    wanted = ("arn", partition, _SERVICE, region)
    for index, value in enumerate(wanted):
        if index >= len(fields):
            return False
        if index == len(fields) - 1:  # the pattern ends here: its last field must match the rest of an ARN
            return fields[index].endswith("*") and fnmatchcase(":".join(wanted[index:]) + ":", fields[index])
        if not fnmatchcase(value, fields[index]):
            return False
    return True
