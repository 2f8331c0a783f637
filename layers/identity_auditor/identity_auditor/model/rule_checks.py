"""What every rule module must be, built-in or custom: one check, :func:`rule_problems`, run on the built-in rules
by the contract tests (tests/contract/test_registry.py) and on custom rules when they are loaded
(:mod:`identity_auditor.engine.custom_rules`), so that a custom rule is held to exactly the built-in rules' contract.

A rule module has ``META`` (a :class:`~identity_auditor.model.contract.RuleMeta`) and ``evaluate(record, ctx)``
(CloudTrail rules, with triggers) and/or ``evaluate_state(snapshot, ctx)`` (state rules, with ``META.state``).
"""

from __future__ import annotations

import re
from collections.abc import Collection
from types import ModuleType

from identity_auditor.model.cloudtrail import API_CALL, CONSOLE_SIGN_IN, SERVICE_EVENT
from identity_auditor.model.contract import ANY, RuleMeta, StateTrigger, Trigger
from identity_auditor.model.health import HEALTH_EVENT, HEALTH_SOURCE
from identity_auditor.model.severity import Severity

RULE_ID = re.compile(r"^[a-z0-9]+(_[a-z0-9]+)+$")  # <domain>_<subject>_<condition>, the module's name
COMPLIANCE_ID = re.compile(r"^(CIS5|CIS3|FSBP) \S+$")
EVENT_SOURCE = re.compile(r"^[a-z0-9-]+\.amazonaws\.com$")
REMEDIATION_URL = re.compile(r"^https://[^/\s]+/\S*$")
# The EventBridge detail-types CloudTrail (and AWS Health) events arrive with.
DETAIL_TYPES = frozenset({API_CALL, CONSOLE_SIGN_IN, SERVICE_EVENT, "AWS Console Action via CloudTrail", HEALTH_EVENT})
MAX_TITLE = 256  # ASFF Title
MAX_REMEDIATION = 512  # ASFF Remediation.Recommendation.Text

# Types taxonomy for ASFF (Security Hub user guide): namespace -> categories.
TAXONOMY = {
    "Software and Configuration Checks": {
        "Vulnerabilities", "AWS Security Best Practices", "Industry and Regulatory Standards"},
    "TTPs": {
        "Initial Access", "Execution", "Persistence", "Privilege Escalation", "Defense Evasion",
        "Credential Access", "Discovery", "Lateral Movement", "Collection", "Command and Control"},
    "Effects": {"Data Exposure", "Data Exfiltration", "Data Destruction", "Denial of Service",
                "Resource Consumption"},
    "Unusual Behaviors": {
        "Application", "Network Flow", "IP address", "User", "VM", "Container", "Serverless", "Process",
        "Database", "Data"},
    "Sensitive Data Identifications": {"PII", "Passwords", "Legal", "Financial", "Security", "Business"},
}
# Industry and Regulatory Standards is the only category with a documented, closed classifier list.
STANDARDS_CLASSIFIERS = {
    "CIS Host Hardening Benchmarks", "CIS AWS Foundations Benchmark", "PCI-DSS Controls",
    "Cloud Security Alliance Controls", "ISO 90001 Controls", "ISO 27001 Controls", "ISO 27017 Controls",
    "ISO 27018 Controls", "SOC 1", "SOC 2", "HIPAA Controls (USA)", "NIST 800-53 Controls (USA)",
    "NIST CSF Controls (USA)", "IRAP Controls (Australia)", "K-ISMS Controls (Korea)",
    "MTCS Controls (Singapore)", "FISC Controls (Japan)", "My Number Act Controls (Japan)",
    "ENS Controls (Spain)", "Cyber Essentials Plus Controls (UK)", "G-Cloud Controls (UK)",
    "C5 Controls (Germany)", "IT-Grundschutz Controls (Germany)", "GDPR Controls (Europe)",
    "TISAX Controls (Europe)",
}


def rule_problems(module: ModuleType, resource_types: Collection[str] | None = None) -> list[str]:
    """Everything that keeps ``module`` from being a rule, one sentence each (empty: it is one).

    ``resource_types``: the ASFF resource types ``META.resource_type`` must be one of (the botocore model's,
    :func:`identity_auditor.deploy.custom_rules.asff_resource_types`); ``None`` checks only that it is named.
    """
    meta = getattr(module, "META", None)
    if meta is None:
        return ["no META: a rule module declares META = RuleMeta(...) (identity_auditor.model.contract)"]
    if not isinstance(meta, RuleMeta):
        return [f"META is a {type(meta).__name__}, not an identity_auditor.model.contract.RuleMeta"]
    problems: list[str] = []
    name = module.__name__.rsplit(".", 1)[-1]
    if not isinstance(meta.id, str) or not RULE_ID.match(meta.id):
        problems.append(f"META.id {meta.id!r} is not lower-case words joined by underscores "
                        "(<domain>_<subject>_<condition>)")
    elif meta.id != name:
        problems.append(f"META.id {meta.id!r} is not the module's name {name!r}: name the file {meta.id}.py")
    problems += _function_problems(module, meta)
    problems += _trigger_problems(meta)
    if not isinstance(meta.severity, Severity):
        problems.append(f"META.severity {meta.severity!r} is not a Severity (Severity.HIGH, ...)")
    if not _text(meta.title) or len(meta.title) > MAX_TITLE:
        problems.append(f"META.title must be 1 to {MAX_TITLE} characters")
    if not _text(meta.why):
        problems.append("META.why is empty: say why the finding matters (it is in the alert)")
    if not _text(meta.remediation) or len(meta.remediation) > MAX_REMEDIATION:
        problems.append(f"META.remediation must be 1 to {MAX_REMEDIATION} characters (ASFF Remediation text)")
    if not isinstance(meta.remediation_url, str) or not REMEDIATION_URL.match(meta.remediation_url):
        problems.append(f"META.remediation_url {meta.remediation_url!r} is not an https:// URL")
    problems += _finding_type_problems(meta.finding_types)
    for compliance_id in _entries(meta.compliance, "META.compliance", problems):
        if not isinstance(compliance_id, str) or not COMPLIANCE_ID.match(compliance_id):
            problems.append(f"META.compliance entry {compliance_id!r} does not start with CIS5, CIS3 or FSBP "
                            "and a control (e.g. 'CIS5 1.10')")
    if not _text(meta.resource_type):
        problems.append("META.resource_type is empty: an ASFF resource type such as AwsIamUser, or Other")
    elif resource_types is not None and meta.resource_type not in resource_types:
        problems.append(f"META.resource_type {meta.resource_type!r} is not an ASFF resource type "
                        "(AwsIamUser, AwsIamRole, AwsAccount, Other, ...)")
    return problems


def _text(value) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _entries(value, where: str, problems: list[str]) -> tuple:
    if isinstance(value, (tuple, list, frozenset, set)):
        return tuple(value)
    problems.append(f"{where} is a {type(value).__name__}, not a tuple")
    return ()


def _function_problems(module: ModuleType, meta: RuleMeta) -> list[str]:
    problems = []
    evaluate, evaluate_state = getattr(module, "evaluate", None), getattr(module, "evaluate_state", None)
    for label, function in (("evaluate", evaluate), ("evaluate_state", evaluate_state)):
        if function is not None and not callable(function):
            problems.append(f"{label} is a {type(function).__name__}, not a function")
    if evaluate is None and evaluate_state is None:
        problems.append("neither evaluate(record, ctx) nor evaluate_state(snapshot, ctx) is defined")
    triggers = meta.trigger is not None or bool(meta.also)
    if evaluate is not None and not triggers:
        problems.append("evaluate is defined but META.trigger is None: name the CloudTrail events it judges")
    if triggers and evaluate is None:
        problems.append("META.trigger is set but evaluate(record, ctx) is not defined")
    if evaluate_state is not None and meta.state is None:
        problems.append("evaluate_state is defined but META.state is None: give a StateTrigger")
    if meta.state is not None:
        if not isinstance(meta.state, StateTrigger):
            problems.append(f"META.state is a {type(meta.state).__name__}, not a StateTrigger")
        if evaluate_state is None:
            problems.append("META.state is set but evaluate_state(snapshot, ctx) is not defined")
    return problems


def _trigger_problems(meta: RuleMeta) -> list[str]:
    problems: list[str] = []
    also = _entries(meta.also, "META.also", problems)
    for trigger in ((meta.trigger,) if meta.trigger is not None else ()) + also:
        if not isinstance(trigger, Trigger):
            problems.append(f"trigger {trigger!r} is a {type(trigger).__name__}, not a Trigger(event_source, "
                            "event_names)")
            continue
        source = trigger.event_source
        if not (source in (ANY, HEALTH_SOURCE) or (isinstance(source, str) and EVENT_SOURCE.match(source))):
            problems.append(f"trigger event source {source!r} is not a CloudTrail eventSource "
                            "(<service>.amazonaws.com) or '*'")
        if not trigger.event_names or not all(_text(name) for name in trigger.event_names):
            problems.append(f"trigger on {source!r} names no event (event_names: {sorted(map(str, trigger.event_names))})")
        if not trigger.detail_types or not set(trigger.detail_types) <= DETAIL_TYPES:
            problems.append(f"trigger detail types {list(trigger.detail_types)} are not among "
                            f"{sorted(DETAIL_TYPES)}")
        if not all(_text(kind) for kind in trigger.identity_types):
            problems.append(f"trigger identity types {list(trigger.identity_types)} are not userIdentity.type names")
    return problems


def _finding_type_problems(finding_types) -> list[str]:
    problems: list[str] = []
    entries = _entries(finding_types, "META.finding_types", problems)
    if not entries and not problems:
        problems.append("META.finding_types is empty: at least one ASFF Types entry")
    for entry in entries:
        parts = entry.split("/") if isinstance(entry, str) else []
        if len(parts) < 2 or not all(part.strip() for part in parts):
            problems.append(f"META.finding_types entry {entry!r} is not namespace/category[/classifier]")
            continue
        namespace, category = parts[:2]
        if namespace not in TAXONOMY:
            problems.append(f"META.finding_types entry {entry!r}: unknown namespace {namespace!r}")
        elif category not in TAXONOMY[namespace]:
            problems.append(f"META.finding_types entry {entry!r}: category not valid for {namespace!r}")
        elif category == "Industry and Regulatory Standards" and len(parts) > 2 \
                and parts[2] not in STANDARDS_CLASSIFIERS:
            problems.append(f"META.finding_types entry {entry!r}: undocumented standard {parts[2]!r}")
    return problems
