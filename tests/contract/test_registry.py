"""The rule registry and every rule's META follow the catalogue's conventions (spec/rules.md, design §2),
and nothing a rule needs is forgotten (README, "Add a rule"): every module of rules/ is listed in
``identity_auditor.rules.RULES``, every registered rule has its unit test module, and every rule with
CloudTrail triggers has a sample in events/manifest.json that fires it and one of its event names that
leaves it quiet. That the derived files are regenerated is test_generated.py's."""

from __future__ import annotations

import json
import sys
from datetime import datetime, timezone
from pathlib import Path

import identity_auditor.rules as rules_package
import pytest
from asff_validator import MAXIMUM, resource_types
from identity_auditor.engine.events import Engine
from identity_auditor.engine.registry import REGISTRY
from identity_auditor.model.cloudtrail import CloudTrailEvent, base_event_name
from identity_auditor.model.contract import Context
from identity_auditor.model.deployment import AuditorResources
from identity_auditor.model.health import health_envelope
from identity_auditor.model.policy import DEFAULT_POLICY, OrgPolicy
from identity_auditor.model.rule_checks import MAX_REMEDIATION, MAX_TITLE, rule_problems
from support import MANIFEST, ROOT, load_sample, sample_names

RULES = REGISTRY.rules


def by_id(rule) -> str:
    return rule.meta.id


def test_registry_is_not_empty_and_ids_are_unique():
    ids = [rule.meta.id for rule in RULES]
    assert ids
    assert len(ids) == len(set(ids)), f"duplicate rule ids: {sorted(i for i in ids if ids.count(i) > 1)}"


@pytest.mark.parametrize("rule", RULES, ids=by_id)
def test_rule_meets_the_rule_contract(rule):
    """The one check of what a rule module must be (model/rule_checks.py), which custom rules are held to as well:
    id well formed and the module's name, META's title, remediation (ASFF lengths, an https URL), ASFF Types
    taxonomy, CIS5/CIS3/FSBP compliance ids, Severity, ASFF resource type, triggers, evaluate/evaluate_state."""
    module = sys.modules[(rule.evaluate or rule.evaluate_state).__module__]
    assert rule_problems(module, resource_types()) == []
    assert module.__name__ == f"identity_auditor.rules.{rule.meta.id}"


def test_the_rule_contract_uses_the_asff_limits_of_the_validator():
    assert (MAX_TITLE, MAX_REMEDIATION) == (MAXIMUM["Title"], MAXIMUM["Remediation.Recommendation.Text"])


# -- nothing a rule needs is forgotten ------------------------------------------------------------------------------

RULES_DIR = Path(rules_package.__file__).parent
UNIT_TESTS = ROOT / "tests" / "unit"


def _name(module) -> str:
    return module.__name__.rsplit(".", 1)[-1]


def test_every_rule_module_is_listed_in_RULES():
    """A rule module left out of RULES never runs, although its own unit tests pass."""
    modules = sorted(path.stem for path in RULES_DIR.glob("*.py") if not path.name.startswith("_"))
    listed = [_name(module) for module in rules_package.RULES]
    assert modules, f"no rule modules in {RULES_DIR}"
    missing = sorted(set(modules) - set(listed))
    assert not missing, (
        f"rule modules not in identity_auditor.rules.RULES (so never run): {', '.join(missing)}; add each to RULES "
        "in rules/__init__.py (shared helpers belong in rules/_lib/)"
    )
    assert len(listed) == len(set(listed)), "a module is listed twice in RULES"
    assert all(module.__name__ == f"identity_auditor.rules.{_name(module)}" for module in rules_package.RULES)
    assert [rule.meta.id for rule in RULES] == listed, "the registry is not RULES, in order"


def _unit_test_modules(rule) -> list[str]:
    """The unit test module(s) a rule needs: test_rule_<id>.py for its CloudTrail evaluate, test_state_rule_<id>.py
    for its evaluate_state (both for a rule with both)."""
    return ([f"test_rule_{rule.meta.id}.py"] if rule.evaluate else []) + (
        [f"test_state_rule_{rule.meta.id}.py"] if rule.evaluate_state else [])


@pytest.mark.parametrize("rule", RULES, ids=by_id)
def test_every_rule_has_its_unit_test_module(rule):
    needed = _unit_test_modules(rule)
    assert needed, f"{rule.meta.id} has neither evaluate nor evaluate_state"
    missing = [name for name in needed if not (UNIT_TESTS / name).is_file()]
    assert not missing, f"{rule.meta.id}: no tests/unit/{' or '.join(missing)}"


NOW = datetime(2025, 3, 5, 12, 0, tzinfo=timezone.utc)
MANIFEST_DATA: dict[str, dict[str, str]] = json.loads(MANIFEST.read_text())
SAMPLES = sample_names()
# Rules that fire only under a non-default organisation policy: the manifest (default policy) never lists them,
# so their samples are evaluated under this policy instead.
POLICY_FOR = {"identitystore_manual_change": OrgPolicy(external_idp_scim=True)}
# Rules that fire only with what the deployment knows and the default Context does not (the auditor's own resources,
# which the CLI and the samples' default Context leave empty): their samples are evaluated with this Context instead.
CONTEXT_FOR = {"auditor_pipeline_tampered": {"auditor": AuditorResources(
    name_prefixes=("identity-auditor-",), names=frozenset({"/identity-auditor/policy"}),
    arns=frozenset({"arn:aws:appconfig:us-east-1:123837392027:application/abc1234/configurationprofile/xyz9876",
                    # the auditor's key, so that its sample (kms_schedule_key_deletion_auditor_key) fires here
                    "arn:aws:kms:us-east-1:123837392027:key/3c8f1e2a-7b4d-4e9f-a1c6-5d2e8f0b7a93"}))}}


HEALTH_SAMPLES = sorted(f"health/{path.name}" for path in (ROOT / "events" / "health").glob("*.json"))


def _envelope(name: str) -> dict:
    """A sample's EventBridge event; an AWS Health sample (``health/...``) as the record the handler makes of it."""
    if name.startswith("health/"):
        return health_envelope(json.loads((ROOT / "events" / name).read_text()))
    return load_sample(name)


def _fires(rule, name: str) -> bool:
    """Whether sample ``name`` must fire ``rule``: its manifest entry names the rule (test_manifest.py holds every
    sample to exactly its entry), or, for a rule of POLICY_FOR or CONTEXT_FOR and for the AWS Health samples (which
    the rule's own tests hold to their findings), the engine fires it under that policy or context."""
    if rule.meta.id not in POLICY_FOR and rule.meta.id not in CONTEXT_FOR and not name.startswith("health/"):
        return rule.meta.id in MANIFEST_DATA.get(name, {})
    event = CloudTrailEvent.model_validate(_envelope(name))
    ctx = Context(now=NOW, policy=POLICY_FOR.get(rule.meta.id, DEFAULT_POLICY), **CONTEXT_FOR.get(rule.meta.id, {}))
    return any(f.rule_id == rule.meta.id for f in Engine().evaluate(event.detail, ctx).findings)


# Rules whose every event is a finding (spec §A: "always"), so no sample of their event names can be quiet.
ALWAYS_FIRES = {"sso_scim_token_expiring"}


@pytest.mark.parametrize("rule", [r for r in RULES if r.meta.triggers], ids=by_id)
def test_every_rule_has_a_firing_and_a_quiet_sample_of_its_event_names(rule):
    """A positive sample (the manifest names the rule) and a negative one: one of the rule's event names whose
    manifest entry does not name the rule, so the rule must not fire on it."""

    def triggered(name: str) -> bool:
        detail = _envelope(name)["detail"]
        identity_type = (detail.get("userIdentity") or {}).get("type")
        event_name = base_event_name(detail["eventSource"], detail["eventName"])  # UpdateFunctionCode20150331v2
        return any(t.matches(detail["eventSource"], event_name, identity_type) for t in rule.meta.triggers)

    same_event = [name for name in SAMPLES + HEALTH_SAMPLES if triggered(name)]
    fires = [name for name in same_event if _fires(rule, name)]
    quiet = [name for name in same_event if not _fires(rule, name)]
    assert fires, f"no sample in events/cloudtrail/ + events/manifest.json fires {rule.meta.id}"
    if rule.meta.id in ALWAYS_FIRES:
        assert not quiet, f"{rule.meta.id} fires on every event it listens to, yet {quiet} left it quiet"
        return
    assert quiet, f"no sample with one of {rule.meta.id}'s event names in events/manifest.json leaves it quiet"


def test_rules_for_is_remembered_per_key_and_bounded(monkeypatch):
    """The lookup is computed once per (source, name, identity type), gives the same rules as computing it
    afresh, and never keeps more than RULES_FOR_CACHE keys (event names are attacker-controlled)."""
    from identity_auditor.engine import registry as registry_module

    fresh = registry_module.Registry(REGISTRY.rules)
    key = ("iam.amazonaws.com", "CreateAccessKey", "IAMUser")
    first = fresh.rules_for(*key)
    assert [rule.meta.id for rule in first] == ["iam_access_key_created"]
    assert fresh.rules_for(*key) is first  # remembered, not recomputed
    assert [r.meta.id for r in fresh.rules_for("s3.amazonaws.com", "PutObject", "Root")] == ["root_account_used"]
    monkeypatch.setattr(registry_module, "RULES_FOR_CACHE", 5)
    bounded = registry_module.Registry(REGISTRY.rules)
    for number in range(50):
        assert bounded.rules_for("iam.amazonaws.com", f"Hostile{number}", "IAMUser") == ()
    assert len(bounded._rules_for) == 5
    assert bounded.rules_for(*key) == first  # past the bound: still right, just not kept


def test_rules_that_need_the_auditors_resources_are_left_out_when_they_are_not_known():
    """A CLI run does not know the deployment's resources: auditor_pipeline_tampered could never fire, so it is
    not run and its events (every ssm:PutParameter of the account) are not even parsed; a deployment runs it."""
    unknown = REGISTRY.able_to_fire(Context(now=NOW))
    assert "auditor_pipeline_tampered" not in {rule.meta.id for rule in unknown.rules}
    assert not unknown.wants("ssm.amazonaws.com", "PutParameter", "IAMUser")
    assert len(unknown.rules) == len(RULES) - 1
    known = Context(now=NOW, auditor=AuditorResources(name_prefixes=("identity-auditor-",)))
    assert REGISTRY.able_to_fire(known) is REGISTRY
    assert REGISTRY.wants("lambda.amazonaws.com", "UpdateFunctionCode20150331v2", "AssumedRole")
