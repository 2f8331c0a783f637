"""The ConfigRuleEvaluator Lambda handler end to end against an emulated account (moto: IAM, Config in
TESTMODE, Security Hub, SNS -> SQS, DynamoDB), with the real collectors and state rules, on the sample
invocations of events/config (real Config envelopes) and freezegun for the passing days.

The lifecycle a security engineer sees: a violation is a FAILED finding and one alert; the next daily
sweeps update the finding and page nobody; a new violation pages; a fixed one becomes PASSED under the
same Id (and pages again if it comes back); a deleted resource's finding is ARCHIVED.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from types import SimpleNamespace

import boto3
import pytest
from asff_validator import assert_valid_asff
from freezegun import freeze_time
from identity_auditor.config_rule.adapter import ConfigEventError
from identity_auditor.engine.registry import REGISTRY
from support import ROOT

HANDLER = ROOT / "functions" / "config_rule_evaluator" / "config_rule_evaluator.py"
EVENTS = ROOT / "events" / "config"
ACCOUNT_ID = "123456789012"
PERIODIC_KEYS = "iam_access_key_not_rotated_periodic__constructed.json"


def frozen(moment: str):
    return freeze_time(moment, ignore=["aws_lambda_powertools"])  # its parser builds pydantic models lazily


def load_app(name: str = "config_rule_evaluator_app"):
    """Import functions/config_rule_evaluator/config_rule_evaluator.py afresh (settings and policy are read at import); listed
    in sys.modules so that freezegun also stops the handler's clock."""
    spec = importlib.util.spec_from_file_location(name, HANDLER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    sys.modules[name] = module
    return module


@pytest.fixture
def app(account):
    return load_app()  # the deployed wiring: the registry's state rules, the real collectors


def sample(name: str, **changes) -> dict:
    event = json.loads((EVENTS / name).read_text())
    return {**event, **changes}


def invoke(app, event: dict, when: str, context) -> dict:
    with frozen(when):
        return app.handler(event, context)


def alerts(account, when: str) -> list[dict]:
    """The SNS alerts of an invocation at ``when`` (read then: SQS drops messages older than 4 days)."""
    with frozen(when):
        return account.alerts()


def iam():
    return boto3.client("iam", region_name="us-east-1")


def user_with_key(name: str, when: str, *, password: bool = False) -> None:
    with frozen(when):
        iam().create_user(UserName=name)
        iam().create_access_key(UserName=name)
        if password:
            iam().create_login_profile(UserName=name, Password="Correct-Horse-Battery-1")


def findings_by_subject(account) -> dict[str, dict]:
    return {f["Title"].rsplit(": ", 1)[1]: f for f in account.findings()}


def test_daily_sweeps_page_once_per_violation_and_page_for_a_new_one(app, account, lambda_context):
    user_with_key("alice", "2026-01-05T10:00:00Z")  # 147 days old on June 1st
    user_with_key("dave", "2026-03-05T10:00:00Z")  # 88 days old on June 1st, 91 on June 4th
    with frozen("2026-01-05T10:00:00Z"):
        iam().create_user(UserName="carol")  # no key

    day1 = invoke(app, sample(PERIODIC_KEYS), "2026-06-01T06:00:00Z", lambda_context)
    assert day1["compliance"] == {"NON_COMPLIANT": 1, "COMPLIANT": 2}
    assert (day1["testMode"], day1["putEvaluationsCalls"], day1["ruleId"]) == (True, 1, "iam_access_key_not_rotated")
    assert day1["delivered"] == {"securityhub": 3, "sns": 1}
    [alert] = alerts(account, "2026-06-01T06:00:00Z")
    assert "IAM user alice" in alert["Message"]
    assert alert["MessageAttributes"]["rule_id"]["Value"] == "iam_access_key_not_rotated"
    found = findings_by_subject(account)
    assert found["alice"]["Compliance"]["Status"] == "FAILED" and found["alice"]["Severity"]["Label"] == "MEDIUM"
    assert found["dave"]["Compliance"]["Status"] == "PASSED" and found["dave"]["Severity"]["Label"] == "INFORMATIONAL"
    for finding in found.values():
        assert_valid_asff(finding)

    day2 = invoke(app, sample(PERIODIC_KEYS), "2026-06-02T06:00:00Z", lambda_context)
    assert day2["delivered"] == {"securityhub": 3, "sns": 0}
    assert alerts(account, "2026-06-02T06:00:00Z") == []
    assert findings_by_subject(account)["alice"]["UpdatedAt"] > found["alice"]["UpdatedAt"]

    day4 = invoke(app, sample(PERIODIC_KEYS), "2026-06-04T06:00:00Z", lambda_context)
    assert day4["compliance"] == {"NON_COMPLIANT": 2, "COMPLIANT": 1}
    [alert] = alerts(account, "2026-06-04T06:00:00Z")
    assert "IAM user dave" in alert["Message"]  # only the new violation pages
    assert findings_by_subject(account)["dave"]["Compliance"]["Status"] == "FAILED"
    assert len(account.findings()) == 3  # the same three Ids, updated


def test_a_fixed_violation_passes_under_the_same_id_and_pages_again_when_it_comes_back(app, account, lambda_context):
    user_with_key("alice", "2026-01-05T10:00:00Z")
    invoke(app, sample(PERIODIC_KEYS), "2026-06-01T06:00:00Z", lambda_context)
    [failed] = account.findings()
    assert failed["Compliance"]["Status"] == "FAILED" and len(alerts(account, "2026-06-01T06:00:00Z")) == 1
    key = iam().list_access_keys(UserName="alice")["AccessKeyMetadata"][0]["AccessKeyId"]

    iam().update_access_key(UserName="alice", AccessKeyId=key, Status="Inactive")
    fixed = invoke(app, sample(PERIODIC_KEYS), "2026-06-02T06:00:00Z", lambda_context)
    assert fixed["compliance"] == {"COMPLIANT": 1}
    [passed] = account.findings()
    assert passed["Id"] == failed["Id"] and passed["Compliance"]["Status"] == "PASSED"
    assert passed["RecordState"] == "ACTIVE" and alerts(account, "2026-06-02T06:00:00Z") == []
    table = boto3.client("dynamodb", region_name="us-east-1").scan(TableName=account.table_name)["Items"]
    assert [item for item in table if item["id"]["S"].startswith("alert#")] == []

    iam().update_access_key(UserName="alice", AccessKeyId=key, Status="Active")
    invoke(app, sample(PERIODIC_KEYS), "2026-06-03T06:00:00Z", lambda_context)
    [again] = account.findings()
    assert again["Id"] == failed["Id"] and again["Compliance"]["Status"] == "FAILED"
    [alert] = alerts(account, "2026-06-03T06:00:00Z")
    assert "IAM user alice" in alert["Message"]


CHANGED = "iam_user_console_access_without_mfa_user_changed__constructed.json"
DELETED = "iam_user_console_access_without_mfa_user_deleted__constructed.json"


def test_a_changed_user_is_judged_and_its_deletion_archives_the_finding(app, account, lambda_context):
    user_with_key("alice", "2026-05-01T10:00:00Z", password=True)
    result = invoke(app, sample(CHANGED), "2026-06-01T09:15:05Z", lambda_context)
    assert result["compliance"] == {"NON_COMPLIANT": 1} and result["delivered"]["sns"] == 1
    [alert] = alerts(account, "2026-06-01T09:15:05Z")
    assert "IAM user alice" in alert["Message"] and "MFA" in alert["Subject"]
    [finding] = account.findings()
    assert finding["Compliance"]["Status"] == "FAILED"

    iam().delete_login_profile(UserName="alice")
    deleted = invoke(app, sample(DELETED), "2026-06-02T11:00:05Z", lambda_context)
    assert deleted["compliance"] == {"NOT_APPLICABLE": 1} and deleted["apiCalls"] == 0
    [archived] = account.findings()
    assert archived["Id"] == finding["Id"]
    assert (archived["RecordState"], archived["Compliance"]["Status"]) == ("ARCHIVED", "NOT_AVAILABLE")
    assert alerts(account, "2026-06-02T11:00:05Z") == []
    assert_valid_asff(archived)


def test_a_role_whose_trust_policy_lets_anyone_in_is_critical(app, account, lambda_context):
    result = invoke(app, sample("iam_role_trust_policy_unsafe_role_changed__constructed.json"),
                    "2026-06-01T09:20:45Z", lambda_context)
    assert result["compliance"] == {"NON_COMPLIANT": 1} and result["apiCalls"] == 0
    [finding] = account.findings()
    assert finding["Severity"]["Label"] == "CRITICAL" and finding["Resources"][0]["Type"] == "AwsIamRole"
    [alert] = alerts(account, "2026-06-01T09:20:45Z")
    assert alert["Subject"].startswith("[CRITICAL]")


def test_the_root_account_sweep(app, account, lambda_context):
    result = invoke(app, sample("root_mfa_not_enabled_periodic__constructed.json"), "2026-06-01T06:00:00Z",
                    lambda_context)
    assert result["compliance"] == {"NON_COMPLIANT": 1}
    [finding] = account.findings()
    assert finding["Resources"][0]["Id"] == f"AWS::::Account:{ACCOUNT_ID}"
    assert finding["Severity"]["Label"] == "CRITICAL"


class RecordingConfig:
    """Config with a real result token (moto only accepts TestMode=True) and an oversized item's history."""

    def __init__(self, history=None):
        self.puts, self.history = [], history

    def put_evaluations(self, **request):
        self.puts.append(request)
        return {"FailedEvaluations": []}

    def get_resource_config_history(self, **request):
        return {"configurationItems": [self.history] if self.history else []}


def with_config(app, config) -> None:
    """Give the handler's us-east-1 clients this Config client (IAM and DynamoDB stay moto's)."""
    app._wiring[("clients", "us-east-1", None)] = SimpleNamespace(
        iam=iam(), config=config, dynamodb=boto3.client("dynamodb", region_name="us-east-1"), session=None)


def test_a_sweep_of_150_users_answers_config_in_two_calls_with_the_result_token(app, account, lambda_context):
    with frozen("2026-05-01T10:00:00Z"):
        for number in range(150):
            iam().create_user(UserName=f"user{number:03d}")
    config = RecordingConfig()
    with_config(app, config)
    token = "eyJlbmNyeXB0ZWREYXRhIjpbLTQyLDEyNiw1Mi"
    result = invoke(app, sample(PERIODIC_KEYS, resultToken=token), "2026-06-01T06:00:00Z", lambda_context)
    assert result["evaluations"] == 150 and result["putEvaluationsCalls"] == 2 and not result["testMode"]
    assert [len(put["Evaluations"]) for put in config.puts] == [100, 50]
    assert all(put["ResultToken"] == token and "TestMode" not in put for put in config.puts)
    assert {e["ComplianceResourceType"] for put in config.puts for e in put["Evaluations"]} == {"AWS::IAM::User"}


def test_an_invalid_rule_parameter_uses_the_default_and_says_so(app, account, lambda_context):
    with frozen("2026-01-05T10:00:00Z"):
        iam().create_user(UserName="alice")
        iam().create_login_profile(UserName="alice", Password="Correct-Horse-Battery-1")
    config = RecordingConfig()
    with_config(app, config)
    result = invoke(app, sample("iam_credentials_unused_periodic_invalid_parameter__constructed.json",
                                resultToken="token"), "2026-06-01T06:00:00Z", lambda_context)
    assert result["note"] == "(ruleParameters: credentials_unused_days='forty-five' invalid, used 45)"
    [evaluation] = config.puts[0]["Evaluations"]
    assert evaluation["ComplianceType"] == "NON_COMPLIANT" and evaluation["Annotation"].endswith(result["note"])


def test_an_oversized_role_is_read_from_its_configuration_history(app, account, lambda_context):
    trust = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
    arn = f"arn:aws:iam::{ACCOUNT_ID}:role/vendor-integration"
    configuration = {"path": "/", "roleName": "vendor-integration", "roleId": "AROAJQABLZS4A3QDU576R", "arn": arn,
                     "assumeRolePolicyDocument": json.dumps(trust)}
    config = RecordingConfig(history={
        "version": "1.3", "accountId": ACCOUNT_ID, "configurationItemStatus": "OK", "resourceType": "AWS::IAM::Role",
        "resourceId": "AROAJQABLZS4A3QDU576R", "resourceName": "vendor-integration", "arn": arn,
        "awsRegion": "global", "configuration": json.dumps(configuration)})
    with_config(app, config)
    result = invoke(app, sample("iam_role_trust_policy_unsafe_oversized__constructed.json", resultToken="t"),
                    "2026-06-01T09:21:00Z", lambda_context)
    assert result["compliance"] == {"COMPLIANT": 1} and result["apiCalls"] == 1
    assert config.puts[0]["Evaluations"][0]["ComplianceResourceId"] == "AROAJQABLZS4A3QDU576R"
    assert alerts(account, "2026-06-01T09:21:00Z") == [] and account.findings()[0]["Compliance"]["Status"] == "PASSED"


def test_an_unknown_rule_fails_loudly_and_publishes_nothing(app, account, lambda_context):
    event = sample(PERIODIC_KEYS, ruleParameters=json.dumps({"ruleId": "iam_user_created"}))
    with pytest.raises(ConfigEventError, match="'iam_user_created' is not a state rule"):
        invoke(app, event, "2026-06-01T06:00:00Z", lambda_context)
    assert account.findings() == [] and alerts(account, "2026-06-01T06:00:00Z") == []


def test_the_handler_imports_without_boto3_work_at_cold_start(account):
    module = load_app("config_rule_evaluator_cold")
    assert module._wiring == {}  # clients, sinks and the alert state are built on the first invocation


def test_every_sample_names_a_state_rule_of_the_registry():
    state_rules = {rule.meta.id for rule in REGISTRY.state_rules()}
    for path in sorted(EVENTS.glob("*.json")):
        assert json.loads(json.loads(path.read_text())["ruleParameters"])["ruleId"] in state_rules, path.name
