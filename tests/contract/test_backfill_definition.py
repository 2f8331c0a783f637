"""statemachine/backfill.asl.json: a Distributed Map over the CloudTrail log files under a prefix, validated
three ways: by its structure (below), by cfn-lint's state machine schema, and by the Amazon States Language
grammar of moto's Step Functions parser (functional/test_backfill_state_machine.py also runs it).
"""

from __future__ import annotations

import json
import re

import boto3
import cfnlint.api
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from backfill_machine import for_moto
from support import ROOT, load_template

ASL_PATH = ROOT / "statemachine" / "backfill.asl.json"
TEXT = ASL_PATH.read_text()
DEFINITION = json.loads(TEXT)
MAP = DEFINITION["States"]["EvaluateLogFiles"]
TASK = MAP["ItemProcessor"]["States"]["EvaluateLogFile"]
SAMPLE_VALUES = {
    "Partition": "aws",
    "MaxConcurrency": "100",
    "BackfillFunctionArn": "arn:aws:lambda:us-east-1:123456789012:function:identity-auditor-backfill-evaluator",
    "ResultsBucket": "identity-auditor-backfill-results",
    "ResultsPrefix": "identity-auditor/backfill",
    "ToleratedFailurePercentage": "5",
}
PLACEHOLDER = re.compile(r"\$\{([^}]+)\}")


def substituted(values: dict[str, str] = SAMPLE_VALUES) -> dict:
    """The definition as CloudFormation hands it to Step Functions (DefinitionSubstitutions replace text)."""
    return json.loads(PLACEHOLDER.sub(lambda match: values[match.group(1)], TEXT))


def state_machine_resource() -> dict:
    return load_template()["Resources"]["BackfillStateMachine"]


def test_the_definition_is_a_distributed_map_of_standard_child_executions():
    assert DEFINITION["StartAt"] == "ReadSettings"
    assert MAP["Type"] == "Map"
    assert MAP["ItemProcessor"]["ProcessorConfig"] == {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"}
    assert MAP["ItemProcessor"]["StartAt"] == "EvaluateLogFile"
    assert MAP["End"] is True


def test_log_files_are_batched_so_that_state_transitions_no_longer_dominate_the_cost():
    """Issue 18 item 7: a child execution (two state transitions) per batch of files, not per file."""
    batcher = MAP["ItemBatcher"]
    # neither moto's grammar (it has no ItemBatcher) nor cfn-lint's schema (it accepts any field in it) checks the
    # spelling: the field names of the Step Functions developer guide, "ItemBatcher (Map)", are checked here
    assert set(batcher) == {"MaxItemsPerBatch", "MaxInputBytesPerBatch"}
    assert 20 <= batcher["MaxItemsPerBatch"] <= 100
    # an item is {"bucket", "key", "size"}: S3 keys are at most 1,024 bytes, bucket names 63; the whole batch stays
    # under the limit, which stays under Step Functions' 256 KB payload
    worst_item = len(json.dumps({"bucket": "b" * 63, "key": "k" * 1024, "size": 5 * 1024**4}))
    assert batcher["MaxItemsPerBatch"] * worst_item < batcher["MaxInputBytesPerBatch"] <= 256 * 1024


def test_the_item_reader_lists_the_bucket_and_prefix_of_the_execution_input():
    assert MAP["ItemReader"] == {
        "Resource": "arn:${Partition}:states:::s3:listObjectsV2",
        "Parameters": {"Bucket.$": "$.bucket", "Prefix.$": "$.prefix"},
    }
    settings = DEFINITION["States"]["ReadSettings"]
    assert settings["Type"] == "Pass" and settings["Next"] == "EvaluateLogFiles"
    assert settings["Parameters"]["bucket.$"] == "$.bucket" and settings["Parameters"]["prefix.$"] == "$.prefix"


def test_the_concurrency_and_the_failure_tolerance_come_from_the_stack_as_numbers():
    """Substitutions are text: the Pass state parses the numbers and the map reads them with its *Path fields (the
    function reads the same tolerance from the same mapping: contract/test_backfill_template.py)."""
    parameters = DEFINITION["States"]["ReadSettings"]["Parameters"]
    assert parameters["maxConcurrency.$"] == "States.StringToJson('${MaxConcurrency}')"
    assert MAP["MaxConcurrencyPath"] == "$.maxConcurrency"
    assert "MaxConcurrency" not in MAP
    assert parameters["toleratedFailurePercentage.$"] == "States.StringToJson('${ToleratedFailurePercentage}')"
    assert MAP["ToleratedFailurePercentagePath"] == "$.toleratedFailurePercentage"
    assert "ToleratedFailurePercentage" not in MAP


def test_each_item_gives_the_function_the_bucket_key_and_size_it_reads():
    assert MAP["ItemSelector"] == {
        "bucket.$": "$.bucket",
        "key.$": "$$.Map.Item.Value.Key",
        "size.$": "$$.Map.Item.Value.Size",
    }
    assert TASK["Resource"] == "arn:${Partition}:states:::lambda:invoke"
    # the batch's items, and the child execution whose earlier attempts' completed files a retry skips
    assert TASK["Parameters"] == {"FunctionName": "${BackfillFunctionArn}",
                                  "Payload": {"Items.$": "$.Items", "execution.$": "$$.Execution.Id"}}
    assert TASK["OutputPath"] == "$.Payload"  # the summary only, not the invocation metadata
    assert TASK["End"] is True


def test_lambda_service_errors_and_throttling_are_retried_with_backoff_and_jitter():
    service = next(r for r in TASK["Retry"] if "Lambda.TooManyRequestsException" in r["ErrorEquals"])
    assert {"Lambda.ServiceException", "Lambda.AWSLambdaException", "Lambda.SdkClientException"} <= set(
        service["ErrorEquals"])
    for retry in TASK["Retry"]:
        assert retry["BackoffRate"] >= 2 and retry["MaxAttempts"] >= 3
        assert retry["JitterStrategy"] == "FULL" and retry["MaxDelaySeconds"] >= retry["IntervalSeconds"]
    assert not any("States.ALL" in r["ErrorEquals"] or "Lambda.Unknown" in r["ErrorEquals"] for r in TASK["Retry"])


def test_undelivered_findings_are_retried_under_the_name_the_handler_raises():
    import importlib.util

    spec = importlib.util.spec_from_file_location("backfill_app_names", ROOT / "functions/backfill_evaluator/backfill_evaluator.py")
    app = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(app)
    retried = {error for retry in TASK["Retry"] for error in retry["ErrorEquals"]}
    assert app.PublishIncomplete.__name__ in retried


def test_a_few_failed_objects_are_tolerated_not_many():
    values = {**SAMPLE_VALUES, "ToleratedFailurePercentage": load_template()["Mappings"]["Backfill"]["Failures"][
        "ToleratedPercentage"]}  # what the stack substitutes
    percentage = json.loads(substituted(values)["States"]["ReadSettings"]["Parameters"][
        "toleratedFailurePercentage.$"].removeprefix("States.StringToJson('").removesuffix("')"))
    assert isinstance(percentage, int) and 0 < percentage <= 10  # the docs: an integer from 0 to 100


def test_the_summaries_are_written_to_the_results_bucket_and_prefix():
    assert MAP["ResultWriter"] == {
        "Resource": "arn:${Partition}:states:::s3:putObject",
        "Parameters": {"Bucket": "${ResultsBucket}", "Prefix": "${ResultsPrefix}"},
    }


def test_every_placeholder_is_substituted_by_the_template_and_every_substitution_is_used():
    substitutions = state_machine_resource()["Properties"]["DefinitionSubstitutions"]
    assert set(PLACEHOLDER.findall(TEXT)) == set(substitutions) == set(SAMPLE_VALUES)
    assert state_machine_resource()["Properties"]["DefinitionUri"] == "statemachine/backfill.asl.json"


def test_the_substituted_definition_passes_the_cfn_lint_state_machine_schema():
    template = {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Resources": {"Backfill": {"Type": "AWS::StepFunctions::StateMachine", "Properties": {
            "RoleArn": "arn:aws:iam::123456789012:role/backfill", "Definition": substituted()}}},
    }
    assert cfnlint.api.lint(json.dumps(template), regions=["us-east-1"]) == []
    template["Resources"]["Backfill"]["Properties"]["Definition"]["States"]["EvaluateLogFiles"]["ItemReadr"] = {}
    assert [m.rule.id for m in cfnlint.api.lint(json.dumps(template), regions=["us-east-1"])] == ["E3601"]


@pytest.fixture
def stepfunctions():
    """moto's Step Functions with its ASL parser (it validates definitions against the grammar)."""
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        yield boto3.client("stepfunctions", region_name="us-east-1")


ROLE = "arn:aws:iam::123456789012:role/identity-auditor-backfill"


def test_moto_accepts_the_definition(stepfunctions):
    arn = stepfunctions.create_state_machine(name="identity-auditor-backfill", definition=for_moto(substituted()),
                                             roleArn=ROLE, type="STANDARD")["stateMachineArn"]
    described = stepfunctions.describe_state_machine(stateMachineArn=arn)
    assert json.loads(described["definition"])["States"]["EvaluateLogFiles"]["ItemReader"]["Resource"] == (
        "arn:aws:states:::s3:listObjectsV2")


@pytest.mark.parametrize(
    "mistake",
    [
        lambda d: d["States"]["EvaluateLogFiles"]["ItemProcessor"]["ProcessorConfig"].update(Mode="DISTRIBUTE"),
        lambda d: d["States"]["EvaluateLogFiles"]["ItemProcessor"]["States"]["EvaluateLogFile"]["Retry"][0].update(
            Jitter="FULL"),
        lambda d: d["States"]["EvaluateLogFiles"]["ResultWriter"].update(Params={}),
    ],
    ids=["mode", "retry-field", "result-writer-field"],
)
def test_moto_rejects_a_misspelt_definition(stepfunctions, mistake):
    """The check above is meaningful: moto's grammar refuses unknown fields and values."""
    definition = substituted()
    mistake(definition)
    with pytest.raises(ClientError, match="ASLParserException"):  # moto's InvalidDefinition, without its code
        stepfunctions.create_state_machine(name="broken", definition=for_moto(definition), roleArn=ROLE)
