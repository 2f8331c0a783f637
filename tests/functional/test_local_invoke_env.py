"""events/env.json, the environment `sam local invoke --env-vars events/env.json` gives the functions (README,
"Run a function locally"): exactly the variables template.yaml declares for each function (SAM overrides only
those), placeholder values the functions accept at cold start, and the CloudTrail evaluator run with it on a
sample, as `sam local invoke CloudTrailEvaluatorFunction -e events/cloudtrail/<sample>.json` would (Docker is
not needed here: the handler runs in this process)."""

from __future__ import annotations

import json

import boto3
import pytest
import support
from identity_auditor.delivery.settings import Settings

ENV_FILE = support.ROOT / "events" / "env.json"
TEMPLATE = support.load_template()
FUNCTIONS = {name: resource for name, resource in TEMPLATE["Resources"].items()
             if resource["Type"] == "AWS::Serverless::Function"}
GLOBAL = TEMPLATE["Globals"]["Function"]["Environment"]["Variables"]
ENVIRONMENT = json.loads(ENV_FILE.read_text())


def environment_of(function: str) -> dict[str, str]:
    """What SAM sets for ``function``: the global section, then the function's own (which wins)."""
    return {**ENVIRONMENT["Parameters"], **ENVIRONMENT.get(function, {})}


def test_env_json_names_exactly_the_variables_the_template_declares():
    assert set(ENVIRONMENT["Parameters"]) == set(GLOBAL)
    assert set(ENVIRONMENT) - {"Parameters"} <= set(FUNCTIONS), "a section names no function of template.yaml"
    for name, function in FUNCTIONS.items():
        declared = set(GLOBAL) | set(function["Properties"].get("Environment", {}).get("Variables", {}))
        assert set(environment_of(name)) == declared, name
        assert all(isinstance(value, str) for value in environment_of(name).values())


@pytest.mark.parametrize("function", sorted(FUNCTIONS))
def test_every_function_accepts_the_placeholders_at_cold_start(function):
    settings = Settings.from_env(environment_of(function))
    assert settings.findings_queue_url.endswith("/identity-auditor-FindingsQueue-EXAMPLE")
    assert settings.auditor_stack_name == "identity-auditor"


def test_the_placeholders_are_in_the_example_account_and_region():
    values = [value for function in FUNCTIONS for value in environment_of(function).values()]
    arns = [value for value in values if value.startswith("arn:")]
    assert arns and all(arn.split(":")[3:5] == ["us-east-1", "123456789012"] for arn in arns)


def _run_locally(monkeypatch, sample: str, **replaced: str):
    """The handler after a cold start with env.json's environment (``replaced``: values put in its place)."""
    monkeypatch.delenv("SECURITY_HUB_PRODUCT_ARN", raising=False)
    for name, value in {**environment_of("CloudTrailEvaluatorFunction"), **replaced}.items():
        monkeypatch.setenv(name, value)
    module = support.load_handler_module()
    return module, module.handler(support.load_sample(sample), support.FakeLambdaContext())


def test_the_cloudtrail_evaluator_runs_a_sample_without_findings_end_to_end(monkeypatch):
    """With the placeholders, an event no rule finds anything in needs no AWS resource at all."""
    from moto import mock_aws

    with mock_aws():
        _, result = _run_locally(monkeypatch, "iam_create_role_ordinary")
    assert result["findings"] == [] and result["ruleErrors"] == [] and result["delivered"] == {}


def test_a_finding_is_queued_to_the_queue_env_json_names(monkeypatch):
    """With a finding, the function signs it with FINDINGS_MAC_KEY_ARN and sends it to FINDINGS_QUEUE_URL: against
    a deployed stack, put its key and queue there (here moto's: a queue of the placeholder's name, a new key)."""
    from moto import mock_aws

    with mock_aws():
        key = boto3.client("kms", region_name="us-east-1").create_key(
            KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")["KeyMetadata"]["Arn"]
        sqs = boto3.client("sqs", region_name="us-east-1")
        url = sqs.create_queue(QueueName="identity-auditor-FindingsQueue-EXAMPLE")["QueueUrl"]
        boto3.client("dynamodb", region_name="us-east-1").create_table(
            TableName="identity-auditor-IdempotencyTable-EXAMPLE",
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST")
        _, result = _run_locally(monkeypatch, "iam_create_user", FINDINGS_MAC_KEY_ARN=key)
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert [finding.split("/")[0] for finding in result["findings"]] == ["iam_user_created"]
    assert any("iam_user_created" in message["Body"] for message in messages)
