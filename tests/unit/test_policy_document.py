"""The organisation policy document (spec/rules.md §C): validation messages that name the bad key and
value, YAML and JSON, defaults, the packaged default, the published schema and the example."""

from __future__ import annotations

import json
from datetime import date
from types import MappingProxyType

import jsonschema
import pytest
from identity_auditor.deploy import generate
from identity_auditor.engine.registry import REGISTRY
from identity_auditor.model.contract import Severity
from identity_auditor.model.policy import DEFAULT_POLICY, OrgPolicy, SuppressEntry
from identity_auditor.policy.document import PolicyError, policy_document, summary
from identity_auditor.policy.loader import (
    default_policy_text,
    load_policy_text,
    parse_document,
    policy_schema,
)
from support import ROOT

EXAMPLE = ROOT / "examples" / "policy.example.yaml"
SUPPRESS = "{resource: 'arn:aws:sso:::permissionSet/*', reason: change freeze, owner: secops, expires: %s}"


def problems(text: str) -> list[str]:
    with pytest.raises(PolicyError) as caught:
        load_policy_text(text, source="policy.yaml")
    assert str(caught.value).startswith("policy.yaml: invalid organisation policy")
    return caught.value.problems


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("verison: 1", "verison: unknown key (did you mean version?)", id="unknown-top-key"),
        pytest.param("rules: {iam_user_creatd: {enabled: false}}",
                     "rules.iam_user_creatd: unknown rule id (did you mean iam_user_created", id="unknown-rule-id"),
        pytest.param("rules: {not_a_rule_at_all: {}}",
                     "rules.not_a_rule_at_all: unknown rule id (`identity-auditor rules` lists them)",
                     id="unknown-rule-id-no-match"),
        pytest.param("rules: {iam_user_created: {enabeld: false}}",
                     "rules.iam_user_created.enabeld: unknown key (did you mean enabled?)", id="unknown-rule-key"),
        pytest.param("rules: {iam_user_created: {severity: SEVERE}}",
                     "rules.iam_user_created.severity: 'SEVERE' is not a severity (expected 'INFORMATIONAL', "
                     "'LOW', 'MEDIUM', 'HIGH' or 'CRITICAL')", id="bad-severity"),
        pytest.param("rules: {sso_permission_set_changed: {suppress: [" + SUPPRESS % "next week" + "]}}",
                     "rules.sso_permission_set_changed.suppress[0].expires: 'next week' is not a date (YYYY-MM-DD)",
                     id="bad-date"),
        pytest.param("rules: {sso_permission_set_changed: {suppress: [" + SUPPRESS % "2026-02-30" + "]}}",
                     "rules.sso_permission_set_changed.suppress[0].expires: '2026-02-30' is not a date (YYYY-MM-DD)",
                     id="impossible-date"),
        pytest.param("rules: {iam_user_created: {suppress: [{resource: 'x*', owner: o, expires: 2026-01-01}]}}",
                     "rules.iam_user_created.suppress[0].reason: is required", id="missing-reason"),
        pytest.param("rules: {iam_user_created: {suppress: [{resource: 'x*', reason: '  ', owner: o, "
                     "expires: 2026-01-01}]}}",
                     "rules.iam_user_created.suppress[0].reason: '  ' must not be empty", id="blank-reason"),
        pytest.param("rules: {iam_user_created: {suppress: [{reason: r, owner: o, expires: 2026-01-01}]}}",
                     "rules.iam_user_created.suppress[0]: needs a resource or a principal pattern (or both)",
                     id="suppress-without-pattern"),
        pytest.param("rules: {iam_user_created: {enabled: 'off'}}",
                     "rules.iam_user_created.enabled: 'off' is not a boolean (true or false)", id="non-bool"),
        pytest.param("external_idp_scim: 1", "external_idp_scim: 1 is not a boolean (true or false)",
                     id="number-for-bool"),
        pytest.param("access_key_max_age_days: -5", "access_key_max_age_days: -5 must be a positive whole number",
                     id="negative-threshold"),
        pytest.param("credentials_unused_days: 4.5", "credentials_unused_days: 4.5 is not a whole number",
                     id="fractional-threshold"),
        pytest.param("trusted_accounts: ['12345']", "trusted_accounts[0]: '12345' is not a 12-digit AWS account id",
                     id="bad-account-id"),
        pytest.param("federated_accounts: [123456789012]",
                     "federated_accounts[0]: 123456789012 is a number, not a string (quote it: '123456789012')",
                     id="unquoted-account-id"),
        pytest.param("rules: {sso_permission_set_changed: {allow: [identity-center-pipeline]}}",
                     "rules.sso_permission_set_changed.allow[0]: 'identity-center-pipeline' is not an ARN pattern",
                     id="allow-not-an-arn"),
        pytest.param("rules: {sso_permission_set_changed: {allow: 'arn:aws:iam::*:role/p'}}",
                     "rules.sso_permission_set_changed.allow: 'arn:aws:iam::*:role/p' is not a list",
                     id="allow-not-a-list"),
        pytest.param("version: 2", "version: 2 is not a supported version (expected 1)", id="bad-version"),
        pytest.param("rules:", "rules: has no value (give one or remove the key)", id="empty-value"),
        pytest.param("- version: 1", "(document): a list is not a mapping of keys", id="not-a-mapping"),
        pytest.param("rules:\n  iam_user_created: {}\n  iam_user_created: {enabled: false}\n",
                     "YAML error at line 3, column 3: duplicate key 'iam_user_created'", id="duplicate-key"),
        pytest.param("version: 1\nrules:\n  iam_user_created: {enabled: false\n",
                     "YAML error at line 4, column 1:", id="yaml-syntax-error"),
        pytest.param('{"version": 1, "rules": {"iam_user_created": {"enabled": "no"}}}',
                     "rules.iam_user_created.enabled: 'no' is not a boolean (true or false)", id="json-input"),
        pytest.param('{"break_glass_users": [], "break_glass_users": ["bg-*"]}',
                     "JSON error: duplicate key 'break_glass_users'", id="json-duplicate-key"),
    ],
)
def test_each_mistake_is_named_with_its_path_and_value(text, expected):
    found = problems(text)
    assert len(found) == 1, found
    assert found[0].startswith(expected), found[0]


def test_every_mistake_of_a_document_is_reported_at_once():
    text = """
version: 1
trusted_accounts: ["111122223333", "not-an-account"]
rules:
  sso_permission_set_changed:
    severity: urgent
    suppress:
      - resource: "arn:aws:sso:::permissionSet/*"
        reason: change freeze
        owner: secops
        expires: next week
  iam_user_creatd: {}
"""
    with pytest.raises(PolicyError) as caught:
        load_policy_text(text, source="ssm:/identity-auditor/policy")
    message = str(caught.value)
    assert message.splitlines()[0] == "ssm:/identity-auditor/policy: invalid organisation policy (4 problems):"
    for expected in (
        "trusted_accounts[1]: 'not-an-account' is not a 12-digit AWS account id",
        "rules.sso_permission_set_changed.severity: 'urgent' is not a severity",
        "rules.sso_permission_set_changed.suppress[0].expires: 'next week' is not a date (YYYY-MM-DD)",
        "rules.iam_user_creatd: unknown rule id (did you mean iam_user_created",
    ):
        assert expected in message


@pytest.mark.parametrize("text", ["", "   \n", "# nothing set yet\n", "{}", "null", "version: 1\n"])
def test_empty_document_is_the_default_policy(text):
    assert load_policy_text(text, source="empty") == DEFAULT_POLICY


def test_yaml_and_json_give_the_same_policy():
    yaml_text = """
version: 1
trusted_accounts: ["111122223333"]
break_glass_users: ["breakglass-*"]
external_idp_scim: true
rules:
  sso_permission_set_changed:
    allow: ["arn:aws:iam::111122223333:role/identity-center-terraform-pipeline"]
    severity: HIGH
    suppress:
      - principal: "arn:aws:iam::111122223333:role/migration"
        reason: migration to Terraform
        owner: platform@example.com
        expires: 2026-12-31
  cognito_identity_pool_guest_access_enabled:
    enabled: false
"""
    document = parse_document(yaml_text, "policy.yaml")
    from_yaml = load_policy_text(yaml_text, source="policy.yaml")
    from_json = load_policy_text(json.dumps(document), source="policy.json")
    assert from_yaml == from_json
    assert from_yaml.trusted_accounts == frozenset({"111122223333"})
    assert from_yaml.external_idp_scim is True
    assert from_yaml.allows("sso_permission_set_changed",
                            "arn:aws:iam::111122223333:role/identity-center-terraform-pipeline")
    assert from_yaml.severity_for("sso_permission_set_changed") is Severity.HIGH
    assert from_yaml.disabled == frozenset({"cognito_identity_pool_guest_access_enabled"})
    assert from_yaml.suppress["sso_permission_set_changed"] == (
        SuppressEntry("migration to Terraform", "platform@example.com", date(2026, 12, 31),
                      principal="arn:aws:iam::111122223333:role/migration"),
    )
    # defaults of what the document leaves out
    assert from_yaml.access_key_max_age_days == 90 and from_yaml.credentials_unused_days == 45
    assert from_yaml.privileged_permission_sets == ("*AdministratorAccess*",)


def test_a_rule_listed_without_settings_keeps_its_defaults():
    assert load_policy_text("rules:\n  iam_user_created:\n", source="p") == DEFAULT_POLICY


def test_packaged_default_is_the_built_in_default():
    assert load_policy_text(default_policy_text(), source="default") == DEFAULT_POLICY
    assert DEFAULT_POLICY == OrgPolicy()


def test_effective_document_validates_back_to_the_same_policy():
    policy = load_policy_text(EXAMPLE.read_text(), source=str(EXAMPLE))
    document = policy_document(policy)
    assert list(document["rules"]) == list(REGISTRY.policy_ids)  # every rule and sequence, defaults filled in
    assert document["rules"]["root_account_used"] == {"enabled": True, "severity": None, "allow": [], "suppress": []}
    assert load_policy_text(json.dumps(document), source="shown") == policy


def test_unchanged_text_is_served_from_the_cache():
    text = "break_glass_users: ['cache-test-*']\n"
    assert load_policy_text(text, source="a") is load_policy_text(text.encode(), source="b")


def test_non_utf8_bytes_are_a_policy_error():
    with pytest.raises(PolicyError, match="not UTF-8"):
        load_policy_text(b"rules: {}\n\xff\xfe", source="appconfig:a/b/c")


# -- the published schema and the example --------------------------------------------------------------

def test_schema_file_is_what_the_code_generates():
    """policy.schema.json is schema_text(), verbatim: the check of `make generate CHECK=1`."""
    stale = generate.stale(ROOT, [generate.SCHEMA])
    assert not stale, generate.report(stale)


def test_schema_is_valid_and_enumerates_the_rule_ids():
    schema = policy_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    rules = schema["$defs"]["Rules"]
    assert list(rules["properties"]) == list(REGISTRY.policy_ids)  # the rules, then the sequences
    assert rules["additionalProperties"] is False and schema["additionalProperties"] is False


def _schema_errors(text: str) -> list[str]:
    validator = jsonschema.Draft202012Validator(policy_schema())
    return [error.message for error in validator.iter_errors(parse_document(text, "doc"))]


def test_example_validates_in_code_and_against_the_schema():
    policy = load_policy_text(EXAMPLE.read_text(), source=str(EXAMPLE))
    assert _schema_errors(EXAMPLE.read_text()) == []
    pipeline = "arn:aws:iam::111122223333:role/identity-center-terraform-pipeline"
    assert policy.allows("sso_permission_set_changed", pipeline)
    assert policy.allows("sso_account_assignment_changed", pipeline)
    assert policy.is_break_glass("breakglass-alice")
    assert len(policy.trusted_accounts) == 3
    (entry,) = policy.suppress["iam_user_created"]
    assert entry.reason and entry.owner and entry.expires
    assert "1 suppression" in summary(policy, date(2026, 11, 22))


@pytest.mark.parametrize(
    "text",
    [
        "rules: {iam_user_creatd: {}}",
        "trusted_accounts: ['12345']",
        "rules: {iam_user_created: {suppress: [{reason: r, owner: o, expires: '2026-01-01'}]}}",
        "rules: {iam_user_created: {suppress: [{resource: x, reason: ' ', owner: o, expires: '2026-01-01'}]}}",
        "rules: {iam_user_created: {allow: [pipeline]}}",
        "access_key_max_age_days: 0",
        "rules: {iam_user_created: {severity: high}}",
    ],
)
def test_schema_rejects_what_the_code_rejects(text):
    assert _schema_errors(text)
    problems(text)


def test_matching_is_exact_about_wildcards_and_case():
    entry = SuppressEntry("r", "o", date(2026, 1, 1), resource="arn:aws:iam::*:user/it-*")
    assert entry.matches("arn:aws:iam::111122223333:user/it-42")
    assert not entry.matches("arn:aws:iam::111122223333:user/IT-42")
    both = SuppressEntry("r", "o", date(2026, 1, 1), resource="it-*", principal="arn:aws:iam::*:role/ci")
    assert both.matches("it-1", ["arn:aws:sts::1:assumed-role/ci/x", "arn:aws:iam::1:role/ci"])
    assert not both.matches("it-1", ["arn:aws:iam::1:role/other"])
    assert not both.matches("prod-1", ["arn:aws:iam::1:role/ci"])
    assert not SuppressEntry("r", "o", date(2026, 1, 1)).matches("anything")  # no pattern: never matches
    assert entry.expired(date(2026, 1, 2)) and not entry.expired(date(2026, 1, 1))


def test_policy_is_frozen():
    policy = load_policy_text("rules: {iam_user_created: {allow: ['arn:aws:iam::*:role/ci']}}", source="p")
    assert isinstance(policy.allow, MappingProxyType)
    with pytest.raises(TypeError):
        policy.allow["iam_user_created"] = ()  # type: ignore[index]
