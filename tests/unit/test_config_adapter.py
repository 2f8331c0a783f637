"""The Config adapter, case by case, on the real invocation shapes (events/config, built on the corpus
envelopes): change-triggered users and roles, oversized items, periodic sweeps, left scope, deletions,
rule parameters, and PutEvaluations in batches (TESTMODE against moto, real tokens against a fake)."""

from __future__ import annotations

import copy
import importlib
import json
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import boto3
import pytest
from botocore.exceptions import ClientError
from identity_auditor.collectors.roles import role_from_configuration_item
from identity_auditor.config_rule.adapter import (
    ConfigAdapter,
    PutEvaluationsError,
    item_from_history,
    parse_invocation,
    put_evaluations,
)
from identity_auditor.config_rule.sweep import Collectors
from identity_auditor.engine.registry import Registry, Rule
from identity_auditor.engine.state import StateEngine, StateEvaluation, user_subject
from identity_auditor.model.contract import Compliance, Context
from identity_auditor.model.home import Home
from identity_auditor.model.policy import OrgPolicy
from identity_auditor.model.snapshots import (
    ROOT_USER,
    AccessKeyState,
    AccountSnapshot,
    CredentialReportRow,
    RoleSnapshot,
)
from moto import mock_aws
from support import CORPUS, ROOT

ACCOUNT_ID = "123456789012"
HOME = Home(ACCOUNT_ID, "us-east-1", "aws")
NOW = datetime(2026, 6, 1, 12, 0, tzinfo=timezone.utc)
EVENTS = ROOT / "events" / "config"
RULES = ("iam_user_console_access_without_mfa", "iam_access_key_not_rotated", "iam_credentials_unused",
         "root_mfa_not_enabled", "iam_role_trust_policy_unsafe")
REGISTRY = Registry([Rule(m.META, getattr(m, "evaluate", None), m.evaluate_state)
                     for m in (importlib.import_module(f"identity_auditor.rules.{r}") for r in RULES)])
TRUST_LAMBDA = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}


def sample(name: str, **changes) -> dict:
    event = json.loads((EVENTS / name).read_text())
    event.update(changes)
    return event


def with_item(event: dict, **item_changes) -> dict:
    invoking = json.loads(event["invokingEvent"])
    key = "configurationItem" if "configurationItem" in invoking else "configurationItemSummary"
    invoking[key] = {**invoking[key], **item_changes}
    return {**event, "invokingEvent": json.dumps(invoking)}


def row(name: str, *, password=True, mfa=False, key_age_days=None, user_id=None) -> CredentialReportRow:
    key = AccessKeyState(True, NOW - timedelta(days=key_age_days), None) if key_age_days else AccessKeyState(
        False, None, None)
    return CredentialReportRow(name, f"arn:aws:iam::{ACCOUNT_ID}:user/{name}", NOW, password, NOW, NOW, mfa,
                               (key, AccessKeyState(False, None, None)), user_id=user_id)


class Explodes:
    """A client that must not be used: any call fails the test."""

    meta = None  # not a botocore client: nothing to count

    def __getattr__(self, name):
        raise AssertionError(f"unexpected AWS call: {name}")


class FakeConfig:
    def __init__(self, history=None, error=None, failed=()):
        self.history, self.error, self.failed = history, error, list(failed)
        self.put_calls, self.history_calls = [], []

    def get_resource_config_history(self, **kwargs):
        self.history_calls.append(kwargs)
        if isinstance(self.error, Exception):
            raise self.error
        if self.error:
            raise ClientError({"Error": {"Code": self.error, "Message": "x"}}, "GetResourceConfigHistory")
        return {"configurationItems": [self.history] if self.history else []}

    def put_evaluations(self, **kwargs):
        self.put_calls.append(kwargs)
        return {"FailedEvaluations": self.failed}


class Fakes:
    def __init__(self, rows=(), roles=None):
        self.rows, self.roles, self.reports = list(rows), roles or {}, 0

    def collectors(self) -> Collectors:
        fakes = self

        class Report:
            def __init__(self, iam):
                fakes.reports += 1

            def rows(self):
                return list(fakes.rows)

        def account(iam, *, account_id, partition, report_rows):
            return AccountSnapshot(account_id, partition, {"AccountMFAEnabled": 0, "AccountAccessKeysPresent": 0},
                                   None, root=next((r for r in report_rows if r.is_root), None))

        return Collectors(Report, account, lambda iam: list(fakes.roles.values()),
                          lambda iam, name: fakes.roles.get(name), role_from_configuration_item)


def run(event: dict, fakes: Fakes | None = None, *, iam=None, config=None, policy=None):
    fakes = fakes or Fakes()
    adapter = ConfigAdapter(REGISTRY, fakes.collectors())
    clients = SimpleNamespace(iam=iam or object(), config=config or Explodes())
    return adapter.evaluate(parse_invocation(event), Context(now=NOW, policy=policy or OrgPolicy()), clients, HOME)


USER_CHANGED = "iam_user_console_access_without_mfa_user_changed__constructed.json"
ROLE_CHANGED = "iam_role_trust_policy_unsafe_role_changed__constructed.json"
OVERSIZED = "iam_role_trust_policy_unsafe_oversized__constructed.json"


def test_a_changed_user_is_judged_on_its_credential_report_row_found_by_name():
    fakes = Fakes([row(ROOT_USER), row("bob", mfa=True), row("alice")])
    result = run(sample(USER_CHANGED), fakes)
    [evaluation] = result.evaluations
    assert (evaluation.resource_type, evaluation.resource_id, evaluation.resource_name) == (
        "AWS::IAM::User", "AIDAJQABLZS4A3QDU576Q", "alice")  # Config's id from the item, not the report's
    assert evaluation.compliance is Compliance.NON_COMPLIANT
    assert evaluation.ordering_timestamp == datetime(2026, 6, 1, 9, 15, 2, 114000, tzinfo=timezone.utc)
    assert evaluation.finding.resource_id == f"arn:aws:iam::{ACCOUNT_ID}:user/alice"
    assert fakes.reports == 1 and not result.failures


def test_a_user_not_yet_in_the_credential_report_gets_no_evaluation_now():
    result = run(sample(USER_CHANGED), Fakes([row("bob")]))
    assert result.evaluations == [] and "not in the credential report yet" in result.skipped


def test_a_changed_role_is_judged_on_its_configuration_item_without_any_iam_call():
    result = run(sample(ROLE_CHANGED), iam=Explodes())
    [evaluation] = result.evaluations
    assert (evaluation.resource_id, evaluation.resource_name) == ("AROAJQABLZS4A3QDU576R", "vendor-integration")
    assert evaluation.compliance is Compliance.NON_COMPLIANT and evaluation.finding.severity.value == "CRITICAL"
    assert result.api_calls == 0


def api_item(trust: dict) -> dict:
    """A GetResourceConfigHistory item: configuration is a JSON string, ``arn`` and ``accountId``."""
    configuration = {"path": "/", "roleName": "vendor-integration", "roleId": "AROAJQABLZS4A3QDU576R",
                     "arn": f"arn:aws:iam::{ACCOUNT_ID}:role/vendor-integration",
                     "assumeRolePolicyDocument": json.dumps(trust), "rolePolicyList": []}
    return {"version": "1.3", "accountId": ACCOUNT_ID, "configurationItemCaptureTime": NOW,
            "configurationItemStatus": "OK", "configurationStateId": "1780305641552", "resourceType": "AWS::IAM::Role",
            "resourceId": "AROAJQABLZS4A3QDU576R", "resourceName": "vendor-integration",
            "arn": f"arn:aws:iam::{ACCOUNT_ID}:role/vendor-integration", "awsRegion": "global",
            "configuration": json.dumps(configuration), "supplementaryConfiguration": {"Tags": "[]"}}


def test_an_oversized_item_is_fetched_from_the_configuration_history():
    config = FakeConfig(history=api_item(TRUST_LAMBDA))
    result = run(sample(OVERSIZED), config=config, iam=Explodes())
    assert config.history_calls == [{"resourceType": "AWS::IAM::Role", "resourceId": "AROAJQABLZS4A3QDU576R",
                                     "limit": 1}]
    [evaluation] = result.evaluations
    assert evaluation.compliance is Compliance.COMPLIANT and evaluation.finding.compliance_status == "PASSED"
    assert evaluation.ordering_timestamp == NOW  # the fetched item's capture time
    assert result.api_calls == 1


def test_an_oversized_item_config_has_no_history_for_is_read_from_iam():
    roles = {"vendor-integration": RoleSnapshot("vendor-integration", f"arn:aws:iam::{ACCOUNT_ID}:role/vendor-integration",
                                                "/", "AROAJQABLZS4A3QDU576R", TRUST_LAMBDA, ACCOUNT_ID)}
    config = FakeConfig(error="ResourceNotDiscoveredException")
    [evaluation] = run(sample(OVERSIZED), Fakes(roles=roles), config=config).evaluations
    assert evaluation.compliance is Compliance.COMPLIANT
    [gone] = run(sample(OVERSIZED), Fakes(), config=config).evaluations  # GetRole: NoSuchEntity
    assert gone.compliance is Compliance.NOT_APPLICABLE and gone.finding.record_state == "ARCHIVED"
    assert "no longer exists" in gone.annotation


def test_no_answer_from_config_history_falls_back_like_a_refusal():
    """Review: a network error (BotoCoreError) from GetResourceConfigHistory failed the invocation, although the
    oversized item's fallback (reading the role from IAM) serves a refusal."""
    from botocore.exceptions import EndpointConnectionError

    roles = {"vendor-integration": RoleSnapshot("vendor-integration", f"arn:aws:iam::{ACCOUNT_ID}:role/vendor-integration",
                                                "/", "AROAJQABLZS4A3QDU576R", TRUST_LAMBDA, ACCOUNT_ID)}
    config = FakeConfig(error=EndpointConnectionError(endpoint_url="https://config.us-east-1.amazonaws.com"))
    [evaluation] = run(sample(OVERSIZED), Fakes(roles=roles), config=config).evaluations
    assert evaluation.compliance is Compliance.COMPLIANT


@pytest.mark.parametrize("status", ["ResourceDeleted", "ResourceDeletedNotRecorded"])
def test_a_deleted_resource_is_not_applicable_and_archives_its_finding_without_any_call(status):
    event = with_item(sample(USER_CHANGED), configurationItemStatus=status, configuration=None)
    [evaluation] = run(event, iam=Explodes()).evaluations
    assert evaluation.compliance is Compliance.NOT_APPLICABLE
    assert (evaluation.finding.record_state, evaluation.finding.compliance_status) == ("ARCHIVED", "NOT_AVAILABLE")
    assert f"was deleted ({status})" in evaluation.annotation
    failed = StateEngine(REGISTRY).evaluate([REGISTRY.get("iam_user_console_access_without_mfa")],
                                            [user_subject(row("alice"))], Context(now=NOW), HOME)[0]
    assert evaluation.finding.finding_id == failed.finding.finding_id  # it closes alice's FAILED finding
    oversized = with_item(sample(OVERSIZED), configurationItemStatus=status)
    [role] = run(oversized, iam=Explodes(), config=Explodes()).evaluations  # no history fetch either
    assert role.compliance is Compliance.NOT_APPLICABLE


def test_a_resource_that_left_the_scope_is_not_applicable_without_any_call():
    event = sample("iam_user_console_access_without_mfa_left_scope__constructed.json")
    [evaluation] = run(event, iam=Explodes()).evaluations
    assert evaluation.compliance is Compliance.NOT_APPLICABLE and "left the scope" in evaluation.annotation
    assert evaluation.finding.record_state == "ARCHIVED"
    [role] = run({**sample(OVERSIZED), "eventLeftScope": True}, iam=Explodes(), config=Explodes()).evaluations
    assert role.compliance is Compliance.NOT_APPLICABLE


def test_an_item_of_another_type_is_not_applicable_and_has_no_finding():
    event = json.loads((CORPUS / "aws-docs/config/evaluate-config_develop-rules_example-events__01.json").read_text())
    event["ruleParameters"] = json.dumps({"ruleId": "iam_user_console_access_without_mfa"})
    [evaluation] = run(event, iam=Explodes()).evaluations
    assert evaluation.compliance is Compliance.NOT_APPLICABLE and evaluation.finding is None
    assert evaluation.resource_type == "AWS::EC2::Instance" and evaluation.resource_id == "i-00000000"


def test_a_periodic_user_rule_judges_every_user_of_one_report():
    fakes = Fakes([row(ROOT_USER), row("alice", key_age_days=400), row("bob"), row("carol", password=False)])
    result = run(sample("iam_access_key_not_rotated_periodic__constructed.json"), fakes)
    assert [(e.resource_name, e.compliance.value) for e in result.evaluations] == [
        ("alice", "NON_COMPLIANT"), ("bob", "COMPLIANT"), ("carol", "COMPLIANT")]
    assert {e.ordering_timestamp for e in result.evaluations} == {datetime(2026, 6, 1, 6, tzinfo=timezone.utc)}
    assert fakes.reports == 1


def test_a_periodic_account_rule_judges_the_account():
    result = run(sample("root_mfa_not_enabled_periodic__constructed.json"), Fakes([row(ROOT_USER)]))
    [evaluation] = result.evaluations
    assert (evaluation.resource_type, evaluation.resource_id) == ("AWS::::Account", ACCOUNT_ID)
    assert evaluation.compliance is Compliance.NON_COMPLIANT


def test_rule_parameters_override_the_policy_for_this_rule():
    fakes = Fakes([row("alice", key_age_days=400)])
    event = sample("iam_access_key_not_rotated_periodic__constructed.json")
    [strict] = run(event, fakes).evaluations
    lenient = {**event, "ruleParameters": json.dumps({"ruleId": "iam_access_key_not_rotated",
                                                       "access_key_max_age_days": "1000"})}
    [relaxed] = run(lenient, fakes).evaluations
    assert strict.compliance is Compliance.NON_COMPLIANT and relaxed.compliance is Compliance.COMPLIANT


def test_an_invalid_rule_parameter_is_reported_in_every_annotation_and_the_default_used():
    fakes = Fakes([row("alice"), row("bob", password=False)])
    result = run(sample("iam_credentials_unused_periodic_invalid_parameter__constructed.json"), fakes)
    assert result.note == "(ruleParameters: credentials_unused_days='forty-five' invalid, used 45)"
    assert len(result.evaluations) == 2
    for evaluation in result.evaluations:
        assert evaluation.annotation.endswith(result.note) and len(evaluation.annotation) <= 256


def test_a_rule_the_policy_disables_is_not_run():
    policy = OrgPolicy(disabled=frozenset({"iam_access_key_not_rotated"}))
    result = run(sample("iam_access_key_not_rotated_periodic__constructed.json"), iam=Explodes(), policy=policy)
    assert result.evaluations == [] and "disabled" in result.skipped


def test_history_items_take_the_invoking_event_shape():
    item = item_from_history(api_item(TRUST_LAMBDA))
    assert item["ARN"] == item["arn"] and item["awsAccountId"] == ACCOUNT_ID
    assert item["configuration"]["roleName"] == "vendor-integration"
    assert item["supplementaryConfiguration"] == {"Tags": []}
    assert item_from_history({**api_item(TRUST_LAMBDA), "configuration": "{oops"})["configuration"] is None


# -- PutEvaluations -------------------------------------------------------------------------------------


def evaluations(count: int) -> list[StateEvaluation]:
    return [StateEvaluation("iam_access_key_not_rotated", "AWS::IAM::User", f"AIDA{number:016d}", f"user{number}",
                            Compliance.COMPLIANT, "fine", NOW, None) for number in range(count)]


def test_more_than_100_evaluations_take_several_calls_with_the_result_token():
    config = FakeConfig()
    invocation = parse_invocation(sample(USER_CHANGED, resultToken="eyJlbmNyeXB0ZWREYXRh"))
    assert put_evaluations(config, invocation, evaluations(250)) == 3
    assert [len(call["Evaluations"]) for call in config.put_calls] == [100, 100, 50]
    assert {call["ResultToken"] for call in config.put_calls} == {"eyJlbmNyeXB0ZWREYXRh"}
    assert all("TestMode" not in call for call in config.put_calls)
    ids = [e["ComplianceResourceId"] for call in config.put_calls for e in call["Evaluations"]]
    assert len(set(ids)) == 250


def test_no_evaluations_no_call():
    assert put_evaluations(Explodes(), parse_invocation(sample(USER_CHANGED)), []) == 0


def test_testmode_tokens_put_evaluations_in_test_mode_against_moto():
    with mock_aws():
        config = boto3.client("config", region_name="us-east-1")
        invocation = parse_invocation(sample(USER_CHANGED))
        assert invocation.result_token == "TESTMODE"
        assert put_evaluations(config, invocation, evaluations(101)) == 2  # moto refuses TestMode=False


def test_refused_evaluations_raise_naming_them():
    failed = [{"ComplianceResourceType": "AWS::IAM::User", "ComplianceResourceId": "AIDA0000000000000003"}]
    invocation = parse_invocation(sample(USER_CHANGED, resultToken="expired"))
    with pytest.raises(PutEvaluationsError, match="refused 1 of 5 evaluations: AWS::IAM::User AIDA0000000000000003"):
        put_evaluations(FakeConfig(failed=failed), invocation, evaluations(5))


def test_the_evaluations_of_a_sweep_are_what_config_receives():
    fakes = Fakes([row(f"user{n}") for n in range(3)])
    result = run(sample("iam_access_key_not_rotated_periodic__constructed.json"), fakes)
    config = FakeConfig()
    put_evaluations(config, parse_invocation(sample(USER_CHANGED, resultToken="t")), result.evaluations)
    sent = config.put_calls[0]["Evaluations"]
    assert sent == [copy.deepcopy(e.config_evaluation()) for e in result.evaluations]
    assert {e["ComplianceType"] for e in sent} == {"COMPLIANT"}
    assert replace(result.evaluations[0], annotation="x").annotation == "x"
