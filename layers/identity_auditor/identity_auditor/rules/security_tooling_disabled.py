"""A security tool was switched off or told to look away: GuardDuty, IAM Access Analyzer, Security Hub, AWS Config
rules or CloudTrail Lake was disabled or deleted, or findings are now archived, trusted, suppressed or resolved
automatically (identity-auditor's own findings included).

Decisions (spec/rules.md §A third wave; field names as CloudTrail writes each service's request: GuardDuty and Access
Analyzer in the APIs' lower-camel JSON names (the real invictus GuardDuty records read ``detectorId`` and
``findingCriteria.criterion``; CreateFilter ``action`` NOOP|ARCHIVE, UpdateDetector ``enable``, Create/UpdateIPSet and
Create/UpdateTrustedEntitySet ``activate``, ``accountIds``, ``analyzerName`` / ``ruleName`` from the API references),
Security Hub in its PascalCase names (as in Panther's Security Hub CloudTrail test events: ``Name``, ``Filters``;
``Actions[].FindingFieldsUpdate.Workflow.Status``, ``UpdateAutomationRulesRequestItems[]``,
``Actions[].FindingFieldsUpdate.StatusId``, ``FindingIdentifiers[].Id`` / ``ProductArn``, ``Workflow.Status``,
``ProductSubscriptionArn``, ``StandardsSubscriptionArns`` from the Security Hub API reference), Config and CloudTrail
in lower camel (``configRuleName``, ``conformancePackName``, ``eventDataStore``); keys are matched ignoring case):
- Success only; Identity Center's own calls are never findings; allow-listed automation is the engine's.
- HIGH; CRITICAL for ``DisableSecurityHub``, ``DisableImportFindingsForProduct`` (it may be the auditor's own
  product: the finding says so when the subscription names a ``…/default`` product) and ``DeleteAnalyzer``.
- Conditional calls: ``UpdateDetector`` only with ``enable`` false (JSON ``false`` or the string); Create/UpdateFilter
  only with ``action`` ARCHIVE (an UpdateFilter without ``action`` leaves it as it was); IP sets and trusted entity
  sets only with ``activate`` true; V1 automation rules (``CreateAutomationRule``, ``BatchUpdateAutomationRules``)
  only when an action sets ``Workflow.Status`` SUPPRESSED or RESOLVED; V2 rules (``Create``/``UpdateAutomationRuleV2``)
  only when an action sets ``StatusId`` 3 (Suppressed) or 4 (Resolved), the OCSF ``status_id`` values; a disabled
  rule still counts (it is armed). GuardDuty feature toggles in UpdateDetector (``features``) are not this row's.
- ``BatchUpdateFindings`` only when it sets ``Workflow.Status`` SUPPRESSED or RESOLVED on at least one of
  identity-auditor's findings, recognised without the registry by the shape of our finding Id
  (``<rule id>/<account>/<region>/<16 hex>[/<event id>]``, model/findings.py) with a product that is not one of AWS's
  own integrations (``product/aws/…``); the product ARN is not otherwise pinned because the auditor imports under
  each account's default product or a configured one. The finding counts ours and names their rule ids.
- CloudTrail trails and the Config recorder are ``cloudtrail_logging_disabled`` / ``config_recording_disabled``'s;
  this rule has only CloudTrail Lake and Config rules / conformance packs: no overlap.
- The resource: the GuardDuty detector (``AwsGuardDutyDetector``, ARN built from detector id, account and Region),
  else the analyzer, hub, rule, product subscription or event data store (``Other``), by ARN when derivable.
"""

from __future__ import annotations

import json
from typing import Any, Callable

from identity_auditor.model.cloudtrail import as_text, lookup, CloudTrailRecord
from identity_auditor.model.contract import Context, RuleMeta, Severity, Trigger, Violation
from identity_auditor.rules._lib.guardrails import is_auditor_finding

_GUARDDUTY = "guardduty.amazonaws.com"
_ANALYZER = "access-analyzer.amazonaws.com"
_SECURITYHUB = "securityhub.amazonaws.com"
_CONFIG = "config.amazonaws.com"
_CLOUDTRAIL = "cloudtrail.amazonaws.com"
_HIDING_WORKFLOW = frozenset({"SUPPRESSED", "RESOLVED"})
_HIDING_STATUS_ID = {3: "Suppressed", 4: "Resolved"}  # OCSF finding status_id
_CRITICAL = frozenset({"DisableSecurityHub", "DisableImportFindingsForProduct", "DeleteAnalyzer"})
_CLIP = 1000  # characters of a filter or criteria shown in the details

# A check returns (what the caller did, resource id, resource type or None for Other, details), or None: no finding.
Outcome = tuple[str, str, str | None, dict[str, str]]


def _detector(record: CloudTrailRecord, what: str, **details: str) -> Outcome:
    detector = as_text(record.request("detectorId"))
    region = record.aws_region or "unknown"
    arn = f"arn:{record.partition}:guardduty:{region}:{record.account_id}:detector/{detector or 'unknown'}"
    return what, arn, "AwsGuardDutyDetector", {"DetectorId": detector or "unknown", **details}


def _true(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


def _false(value: Any) -> bool:
    return value is False or (isinstance(value, str) and value.strip().lower() == "false")


def _shown(value: Any) -> str:
    """A request fragment (filter, criteria) as compact JSON, clipped for the finding's details."""
    try:
        shown = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    except (RecursionError, TypeError, ValueError):  # absurdly nested or odd keys: say so, never fail the rule
        shown = "(not shown: unreadable)"
    return shown if len(shown) <= _CLIP else shown[: _CLIP - 1] + "…"


def _members(record: CloudTrailRecord) -> Outcome:
    accounts = record.request("accountIds")
    listed = ", ".join(map(str, accounts)) if isinstance(accounts, list) else "unknown"
    verb = {"DisassociateMembers": "disassociated", "DeleteMembers": "deleted",
            "StopMonitoringMembers": "stopped monitoring"}[record.event_name]
    return _detector(record, f"{verb} GuardDuty member accounts {listed}: their findings no longer reach the "
                             "administrator", MemberAccounts=listed)


def _filter(record: CloudTrailRecord) -> Outcome | None:
    if as_text(record.request("action")).upper() != "ARCHIVE":
        return None
    name = as_text(record.request("filterName")) or as_text(record.request("name")) or "unknown"
    verb = "created" if record.event_name == "CreateFilter" else "changed"
    return _detector(record, f"{verb} GuardDuty filter {name} to archive matching findings automatically",
                     FilterName=name, FindingCriteria=_shown(record.request("findingCriteria") or {}))


def _trusted_list(record: CloudTrailRecord) -> Outcome | None:
    if not _true(record.request("activate")):
        return None
    ip_set = "IPSet" in record.event_name
    list_id = as_text(record.request("ipSetId" if ip_set else "trustedEntitySetId")) or as_text(
        record.response("ipSetId" if ip_set else "trustedEntitySetId"))
    kind = "trusted IP list" if ip_set else "trusted entity set"
    name = as_text(record.request("name")) or list_id or "unknown"
    details = {"ListName": name, "Location": as_text(record.request("location")) or "unknown"}
    if list_id:
        details["ListId"] = list_id
    return _detector(record, f"activated GuardDuty {kind} {name}: no findings for the addresses or domains it lists",
                     **details)


def _list(value: Any) -> list:
    return value if isinstance(value, list) else []


def _automation_v1(record: CloudTrailRecord) -> Outcome | None:
    if record.event_name == "BatchUpdateAutomationRules":
        items = _list(record.request("UpdateAutomationRulesRequestItems"))
    else:
        rule = as_text(record.response("RuleArn")) or as_text(record.request("RuleName"))
        items = [{"RuleArn": rule, "Actions": record.request("Actions")}]
    hiding = []
    for item in items:
        rule = as_text(lookup(item, "RuleArn")) or as_text(lookup(item, "RuleName")) or "unknown"
        for action in _list(lookup(item, "Actions")):
            status = as_text(lookup(action, "FindingFieldsUpdate", "Workflow", "Status")).upper()
            if status in _HIDING_WORKFLOW:
                hiding.append((rule, status))
    return _automation(record, hiding)


def _automation_v2(record: CloudTrailRecord) -> Outcome | None:
    rule = as_text(record.request("Identifier")) or as_text(record.response("RuleArn")) or as_text(record.request("RuleName"))
    hiding = []
    for action in _list(record.request("Actions")):
        status = str(lookup(action, "FindingFieldsUpdate", "StatusId")).strip()
        number = int(status) if status.isascii() and status.isdigit() else None
        if number in _HIDING_STATUS_ID:
            hiding.append((rule or "unknown", f"{_HIDING_STATUS_ID[number]} (StatusId {number})"))
    return _automation(record, hiding)


def _automation(record: CloudTrailRecord, hiding: list[tuple[str, str]]) -> Outcome | None:
    if not hiding:
        return None
    rules = ", ".join(sorted({rule for rule, _ in hiding}))
    statuses = ", ".join(sorted({status for _, status in hiding}))
    verb = "created" if record.event_name.startswith("Create") else "changed"
    return (f"{verb} Security Hub automation rule {rules} to mark matching findings {statuses} as they arrive",
            rules, None, {"AutomationRules": rules, "Status": statuses,
                          "Criteria": _shown(record.request("Criteria") or "not in the record")})


def _batch_update_findings(record: CloudTrailRecord) -> Outcome | None:
    status = as_text(lookup(record.request_parameters, "Workflow", "Status")).upper()
    ours = [as_text(lookup(item, "Id")) for item in _list(record.request("FindingIdentifiers")) if is_auditor_finding(item)]
    if status not in _HIDING_WORKFLOW or not ours:
        return None
    rule_ids = ", ".join(sorted({finding_id.split("/", 1)[0] for finding_id in ours}))
    return (f"marked {len(ours)} identity-auditor finding(s) {status} ({rule_ids}): they leave the open findings "
            "without being fixed", ours[0], None,
            {"Status": status, "AuditorFindings": str(len(ours)), "AuditorRules": rule_ids,
             "FindingIds": _shown(ours)})


def _product(record: CloudTrailRecord) -> Outcome:
    arn = as_text(record.request("ProductSubscriptionArn")) or "unknown"
    own = arn.endswith("/default")
    details = {"ProductSubscriptionArn": arn}
    if own:
        details["AuditorDefaultProduct"] = "true"
    suffix = " (the account's default product, which identity-auditor imports under)" if own else ""
    return f"stopped Security Hub importing findings from {arn}{suffix}", arn, None, details


def _named(key: str, what: str, arn: Callable[[CloudTrailRecord, str], str] | None = None):
    def check(record: CloudTrailRecord) -> Outcome:
        name = as_text(record.request(key)) or "unknown"
        return what.format(name=name), arn(record, name) if arn else name, None, {key[0].upper() + key[1:]: name}
    return check


def _analyzer_arn(record: CloudTrailRecord, name: str) -> str:
    return f"arn:{record.partition}:access-analyzer:{record.aws_region or 'unknown'}:{record.account_id}:analyzer/{name}"


def _archive_rule(record: CloudTrailRecord) -> Outcome:
    analyzer = as_text(record.request("analyzerName")) or "unknown"
    rule = as_text(record.request("ruleName")) or "unknown"
    verb = "created" if record.event_name.startswith("Create") else "changed"
    return (f"{verb} IAM Access Analyzer archive rule {rule} on analyzer {analyzer}: matching findings are archived "
            "automatically", f"{_analyzer_arn(record, analyzer)}/archive-rule/{rule}", None,
            {"AnalyzerName": analyzer, "RuleName": rule, "Filter": _shown(record.request("filter") or {})})


def _hub(record: CloudTrailRecord) -> Outcome:
    arn = f"arn:{record.partition}:securityhub:{record.aws_region or 'unknown'}:{record.account_id}:hub/default"
    return "disabled Security Hub: no findings are collected or shown in this Region", arn, None, {}


def _standards(record: CloudTrailRecord) -> Outcome:
    arns = record.request("StandardsSubscriptionArns")
    listed = ", ".join(map(str, arns)) if isinstance(arns, list) else "unknown"
    return (f"disabled Security Hub standards {listed}: their controls are no longer checked", listed, None,
            {"StandardsSubscriptionArns": listed})


_CHECKS: dict[tuple[str, str], Callable[[CloudTrailRecord], Outcome | None]] = {
    (_GUARDDUTY, "DeleteDetector"): lambda r: _detector(r, "deleted the GuardDuty detector: threat detection stopped"),
    (_GUARDDUTY, "UpdateDetector"): lambda r: _detector(r, "suspended the GuardDuty detector (enable: false)")
    if _false(r.request("enable")) else None,
    (_GUARDDUTY, "DisassociateFromAdministratorAccount"): lambda r: _detector(
        r, "left its GuardDuty administrator account: its findings no longer reach the administrator"),
    (_GUARDDUTY, "DisassociateFromMasterAccount"): lambda r: _detector(
        r, "left its GuardDuty administrator account: its findings no longer reach the administrator"),
    (_GUARDDUTY, "DisassociateMembers"): _members,
    (_GUARDDUTY, "DeleteMembers"): _members,
    (_GUARDDUTY, "StopMonitoringMembers"): _members,
    (_GUARDDUTY, "CreateFilter"): _filter,
    (_GUARDDUTY, "UpdateFilter"): _filter,
    (_GUARDDUTY, "CreateIPSet"): _trusted_list,
    (_GUARDDUTY, "UpdateIPSet"): _trusted_list,
    (_GUARDDUTY, "CreateTrustedEntitySet"): _trusted_list,
    (_GUARDDUTY, "UpdateTrustedEntitySet"): _trusted_list,
    (_ANALYZER, "DeleteAnalyzer"): _named(
        "analyzerName", "deleted IAM Access Analyzer analyzer {name}: external and unused access goes unreported",
        _analyzer_arn),
    (_ANALYZER, "CreateArchiveRule"): _archive_rule,
    (_ANALYZER, "UpdateArchiveRule"): _archive_rule,
    (_SECURITYHUB, "DisableSecurityHub"): _hub,
    (_SECURITYHUB, "DisableImportFindingsForProduct"): _product,
    (_SECURITYHUB, "BatchDisableStandards"): _standards,
    (_SECURITYHUB, "CreateAutomationRule"): _automation_v1,
    (_SECURITYHUB, "BatchUpdateAutomationRules"): _automation_v1,
    (_SECURITYHUB, "CreateAutomationRuleV2"): _automation_v2,
    (_SECURITYHUB, "UpdateAutomationRuleV2"): _automation_v2,
    (_SECURITYHUB, "BatchUpdateFindings"): _batch_update_findings,
    (_CONFIG, "DeleteConfigRule"): _named(
        "configRuleName", "deleted AWS Config rule {name}: it no longer evaluates resources",
        lambda record, name: f"config-rule/{name}"),
    (_CONFIG, "DeleteConformancePack"): _named(
        "conformancePackName", "deleted AWS Config conformance pack {name} and its rules",
        lambda record, name: f"conformance-pack/{name}"),
    (_CLOUDTRAIL, "StopEventDataStoreIngestion"): _named(
        "eventDataStore", "stopped ingestion into CloudTrail Lake event data store {name}: new events are not kept"),
    (_CLOUDTRAIL, "DeleteEventDataStore"): _named(
        "eventDataStore", "deleted CloudTrail Lake event data store {name}: its events are no longer queryable"),
}


def _trigger(source: str) -> Trigger:
    return Trigger(source, tuple(name for event_source, name in _CHECKS if event_source == source))


META = RuleMeta(
    id="security_tooling_disabled",
    title="Security tooling disabled or findings hidden",
    severity=Severity.HIGH,
    trigger=_trigger(_GUARDDUTY),
    also=tuple(_trigger(source) for source in (_ANALYZER, _SECURITYHUB, _CONFIG, _CLOUDTRAIL)),
    resource_type="Other",
    finding_types=("TTPs/Defense Evasion",),
    why=(
        "GuardDuty, IAM Access Analyzer, Security Hub, Config rules and CloudTrail Lake are how intrusions are noticed. "
        "Switching them off, or archiving, trusting or suppressing what they report, is what an intruder does first."
    ),
    remediation=(
        "Confirm the change with its author. If it is not expected, undo it (re-enable the detector or hub, delete the "
        "archive filter, trusted list or automation rule, restore the analyzer, Config rule or event data store, reopen "
        "the findings: aws securityhub batch-update-findings --workflow Status=NEW), then review the caller's other "
        "activity and deny these calls with an SCP."
    ),
    remediation_url="https://docs.aws.amazon.com/guardduty/latest/ug/guardduty_suspend-disable.html",
    severity_note="CRITICAL for DisableSecurityHub, DisableImportFindingsForProduct and DeleteAnalyzer",
)


def evaluate(record: CloudTrailRecord, ctx: Context) -> Violation | None:
    check = _CHECKS.get((record.event_source, record.event_name))
    if check is None or not record.succeeded or record.by_identity_center:
        return None
    outcome = check(record)
    if outcome is None:
        return None
    what, resource_id, resource_type, details = outcome
    region = record.aws_region or "unknown Region"
    return Violation(
        description=f"{record.caller} {what} (account {record.account_id}, {region}).",
        resource_id=resource_id,
        resource_type=resource_type,
        severity=Severity.CRITICAL if record.event_name in _CRITICAL else None,
        details={"Service": record.event_source.split(".", 1)[0], **details},
    )
