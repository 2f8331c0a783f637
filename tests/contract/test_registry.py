"""The rule registry and every rule's META follow the catalogue's conventions (spec/rules.md, design §2)."""

from __future__ import annotations

import re

import pytest
from asff_validator import MAXIMUM, STANDARDS_CLASSIFIERS, TAXONOMY, resource_types
from identity_auditor.engine.registry import REGISTRY
from identity_auditor.model.contract import Severity

RULES = REGISTRY.rules
RULE_ID = re.compile(r"^[a-z0-9]+(_[a-z0-9]+)+$")
COMPLIANCE_ID = re.compile(r"^(CIS5|CIS3|FSBP) \S+$")


def by_id(rule) -> str:
    return rule.meta.id


def test_registry_is_not_empty_and_ids_are_unique():
    ids = [rule.meta.id for rule in RULES]
    assert ids
    assert len(ids) == len(set(ids)), f"duplicate rule ids: {sorted(i for i in ids if ids.count(i) > 1)}"


@pytest.mark.parametrize("rule", RULES, ids=by_id)
def test_rule_id_is_its_module_name_and_well_formed(rule):
    assert RULE_ID.match(rule.meta.id), f"{rule.meta.id!r} is not <domain>_<subject>_<condition>"
    module = (rule.evaluate or rule.evaluate_state).__module__
    assert module.rsplit(".", 1)[-1] == rule.meta.id, f"rule {rule.meta.id!r} lives in module {module!r}"


@pytest.mark.parametrize("rule", RULES, ids=by_id)
def test_meta_remediation(rule):
    meta = rule.meta
    assert meta.remediation.strip()
    assert len(meta.remediation) <= MAXIMUM["Remediation.Recommendation.Text"]
    assert re.match(r"^https://[^/\s]+/\S*$", meta.remediation_url), meta.remediation_url


@pytest.mark.parametrize("rule", RULES, ids=by_id)
def test_meta_finding_types_follow_the_asff_taxonomy(rule):
    assert rule.meta.finding_types, "at least one ASFF Types entry"
    for entry in rule.meta.finding_types:
        parts = entry.split("/")  # namespace/category[/classifier]
        assert len(parts) >= 2 and all(part.strip() for part in parts), f"{entry!r}: not namespace/category"
        namespace, category = parts[:2]
        assert namespace in TAXONOMY, f"{entry!r}: unknown namespace"
        assert category in TAXONOMY[namespace], f"{entry!r}: category not valid for {namespace!r}"
        if category == "Industry and Regulatory Standards" and len(parts) > 2:
            assert parts[2] in STANDARDS_CLASSIFIERS, f"{entry!r}: undocumented standard"


@pytest.mark.parametrize("rule", RULES, ids=by_id)
def test_meta_compliance_ids_severity_and_resource_type(rule):
    meta = rule.meta
    for compliance_id in meta.compliance:
        assert COMPLIANCE_ID.match(compliance_id), f"{compliance_id!r} does not start with CIS5/CIS3/FSBP"
    assert isinstance(meta.severity, Severity)
    assert meta.resource_type in resource_types(), f"{meta.resource_type!r} is not an ASFF resource type"
    assert meta.title.strip() and len(meta.title) <= MAXIMUM["Title"]
