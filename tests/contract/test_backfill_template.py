"""template.yaml's optional backfill: off by default, everything under its condition, least privilege, an
encrypted and private results bucket, and a template that lints cleanly with the backfill turned on."""

from __future__ import annotations

import re

import cfnlint.api
import pytest
from support import ROOT, load_template

TEMPLATE_TEXT = (ROOT / "template.yaml").read_text()
TEMPLATE = load_template()
PARAMETERS = TEMPLATE["Parameters"]
RESOURCES = TEMPLATE["Resources"]
BACKFILL_RESOURCES = {name: res for name, res in RESOURCES.items() if name.startswith("Backfill")}
BACKFILL_CONDITIONS = {"BackfillEnabled", "CreateBackfillResultsBucket"}


def statements(resource: dict) -> dict[str, dict]:
    """A role's Allow statements by Sid (statements behind !If: the statement of the true branch)."""
    found = {}
    for policy in resource["Properties"]["Policies"]:
        for statement in policy["PolicyDocument"]["Statement"]:
            if "Fn::If" in statement:
                statement = statement["Fn::If"][1]
            if "Sid" in statement:
                found[statement["Sid"]] = statement
    return found


def conditional_statement(resource: dict, sid: str) -> str | None:
    """The condition an !If-wrapped statement depends on (None for an unconditional one)."""
    for policy in resource["Properties"]["Policies"]:
        for statement in policy["PolicyDocument"]["Statement"]:
            if "Fn::If" in statement and statement["Fn::If"][1].get("Sid") == sid:
                return statement["Fn::If"][0]
    return None


def test_the_backfill_is_off_by_default_and_its_parameters_are_optional():
    assert PARAMETERS["EnableBackfill"]["Default"] == "false"
    assert PARAMETERS["EnableBackfill"]["AllowedValues"] == ["true", "false"]
    assert PARAMETERS["BackfillMaxConcurrency"]["Default"] == 100
    for name in ("CloudTrailBucketName", "CloudTrailKmsKeyArn", "BackfillResultsBucket"):
        assert PARAMETERS[name]["Default"] == ""
        assert re.fullmatch(PARAMETERS[name]["AllowedPattern"], "")


def test_turning_it_on_without_the_cloudtrail_bucket_is_refused():
    rule = TEMPLATE["Rules"]["BackfillNeedsTheCloudTrailBucket"]
    assert rule["RuleCondition"] == {"Fn::Equals": [{"Ref": "EnableBackfill"}, "true"]}
    assert rule["Assertions"][0]["Assert"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "CloudTrailBucketName"}, ""]}]}


def test_every_backfill_resource_and_output_is_under_the_backfill_condition():
    conditions = TEMPLATE["Conditions"]
    assert {"Fn::Equals": [{"Ref": "EnableBackfill"}, "true"]} in conditions["BackfillEnabled"]["Fn::And"]
    assert {"Fn::Condition": "BackfillEnabled"} in conditions["CreateBackfillResultsBucket"]["Fn::And"]  # !Condition
    assert set(BACKFILL_RESOURCES) == {
        "BackfillSummaryBucket", "BackfillSummaryBucketPolicy", "BackfillEvaluatorLogGroup", "BackfillEvaluatorRole",
        "BackfillEvaluatorFunction", "BackfillStateMachineRole", "BackfillStateMachine", "BackfillFilesFailedAlarm",
    }
    for name, resource in BACKFILL_RESOURCES.items():
        assert resource.get("Condition") in BACKFILL_CONDITIONS, name
    outputs = {name: out for name, out in TEMPLATE["Outputs"].items() if name.startswith("Backfill")}
    assert set(outputs) == {"BackfillStateMachineArn", "BackfillStartCommand", "BackfillResultsLocation"}
    assert all(out["Condition"] == "BackfillEnabled" for out in outputs.values())


def test_the_start_command_output_starts_an_execution_over_this_accounts_log_files():
    command = TEMPLATE["Outputs"]["BackfillStartCommand"]["Value"]["Fn::Sub"]
    assert "aws stepfunctions start-execution" in command and "--state-machine-arn ${BackfillStateMachine}" in command
    expected_input = """'{"bucket":"${CloudTrailBucketName}","prefix":"AWSLogs/${AWS::AccountId}/CloudTrail/"}'"""
    assert f"--input {expected_input}" in command


def test_the_function_is_a_thin_handler_on_the_shared_layer_built_by_its_makefile():
    function = RESOURCES["BackfillEvaluatorFunction"]
    properties = function["Properties"]
    assert function["Metadata"]["BuildMethod"] == "makefile"
    assert properties["CodeUri"] == "functions/backfill_evaluator/"
    assert properties["Handler"] == "backfill_evaluator.handler"
    assert properties["Layers"] == [{"Ref": "IdentityAuditorLayer"}]
    assert properties["Role"] == {"Fn::GetAtt": ["BackfillEvaluatorRole", "Arn"]}
    assert properties["LoggingConfig"]["LogGroup"] == {"Ref": "BackfillEvaluatorLogGroup"}
    makefile = (ROOT / "functions" / "backfill_evaluator" / "Makefile").read_text()
    assert "build-BackfillEvaluatorFunction:\n\tcp backfill_evaluator.py \"$(ARTIFACTS_DIR)/\"" in makefile


def test_the_backfill_logs_to_its_own_log_group():
    backfill = RESOURCES["BackfillEvaluatorFunction"]["Properties"]["FunctionName"]["Fn::Sub"]
    assert backfill == "${AWS::StackName}-backfill-evaluator"
    assert RESOURCES["BackfillEvaluatorLogGroup"]["Properties"]["LogGroupName"]["Fn::Sub"] == "/aws/lambda/" + backfill


def test_the_function_reads_only_the_trails_objects_and_decrypts_only_through_s3():
    role = RESOURCES["BackfillEvaluatorRole"]
    found = statements(role)
    assert found["ReadCloudTrailLogFiles"]["Action"] == "s3:GetObject"
    assert found["ReadCloudTrailLogFiles"]["Resource"] == {
        "Fn::Sub": "arn:${AWS::Partition}:s3:::${CloudTrailBucketName}/*"}
    assert conditional_statement(role, "DecryptCloudTrailLogFiles") == "HasCloudTrailKmsKey"
    decrypt = found["DecryptCloudTrailLogFiles"]
    assert decrypt["Action"] == "kms:Decrypt" and decrypt["Resource"] == {"Ref": "CloudTrailKmsKeyArn"}
    assert decrypt["Condition"]["StringLike"]["kms:ViaService"] == {"Fn::Sub": "s3.*.${AWS::URLSuffix}"}
    log_statement = role["Properties"]["Policies"][0]["PolicyDocument"]["Statement"][0]
    assert log_statement["Resource"] == {"Fn::GetAtt": ["BackfillEvaluatorLogGroup", "Arn"]}


def test_the_function_publishes_with_exactly_the_live_evaluators_permissions():
    """The findings queue (the publisher imports and alerts), the auditor's key, the de-duplication table,
    the policy sources: the same statements (the live evaluator's dead-letter queue excepted)."""
    live = statements(RESOURCES["CloudTrailEvaluatorRole"])
    backfill = statements(RESOURCES["BackfillEvaluatorRole"])
    # the live evaluator's own: its dead-letter queue, and the routing rules it checks at each heartbeat
    publishing = set(live) - {"SendFailuresToDeadLetterQueue", "CheckTheRoutingRulesAtEachHeartbeat"}
    assert publishing == {"QueueFindingsForThePublisher", "UseAuditorKey", "RecordPublishedEvents", "ReadOrganisationPolicyParameter",
                          "ReadOrganisationPolicyFromAppConfig"}
    for sid in publishing:
        assert backfill[sid] == live[sid], sid
        assert conditional_statement(RESOURCES["BackfillEvaluatorRole"], sid) == conditional_statement(
            RESOURCES["CloudTrailEvaluatorRole"], sid), sid
    assert "SendFailuresToDeadLetterQueue" not in backfill and "CheckTheRoutingRulesAtEachHeartbeat" not in backfill


def test_the_function_records_its_progress_in_the_de_duplication_table_under_the_writers_path():
    """One BatchGetItem per batch, one PutItem per completed file (identity_auditor.delivery.backfill_progress); the
    table's resource policy denies writes to every role outside the stack's path, where the backfill role is."""
    progress = statements(RESOURCES["BackfillEvaluatorRole"])["RecordBackfillProgress"]
    assert progress["Action"] == ["dynamodb:BatchGetItem", "dynamodb:PutItem"]
    assert progress["Resource"] == {"Fn::GetAtt": ["IdempotencyTable", "Arn"]}
    deny = RESOURCES["IdempotencyTable"]["Properties"]["ResourcePolicy"]["PolicyDocument"]["Statement"][0]
    path = RESOURCES["BackfillEvaluatorRole"]["Properties"]["Path"]["Fn::Sub"]
    assert deny["Condition"]["ArnNotLike"]["aws:PrincipalArn"]["Fn::Sub"] == (
        "arn:${AWS::Partition}:iam::${AWS::AccountId}:role" + path + "*")
    assert "dynamodb:PutItem" in deny["Action"] and "dynamodb:BatchGetItem" not in deny["Action"]


def test_the_map_and_the_function_read_the_tolerated_failure_percentage_from_one_place():
    """Step Functions counts every item of a failed batch as failed: the function fails a batch only past the
    map's own percentage of its files, so both must have the same number."""
    one_place = {"Fn::FindInMap": ["Backfill", "Failures", "ToleratedPercentage"]}
    machine = RESOURCES["BackfillStateMachine"]["Properties"]["DefinitionSubstitutions"]
    function = RESOURCES["BackfillEvaluatorFunction"]["Properties"]["Environment"]["Variables"]
    assert machine["ToleratedFailurePercentage"] == one_place
    assert function["BACKFILL_TOLERATED_FAILURE_PERCENTAGE"] == one_place
    assert 0 < int(TEMPLATE["Mappings"]["Backfill"]["Failures"]["ToleratedPercentage"]) <= 10


def test_failed_log_files_raise_an_alarm_to_the_operations_topic():
    alarm = RESOURCES["BackfillFilesFailedAlarm"]["Properties"]
    assert (alarm["Namespace"], alarm["MetricName"]) == ("IdentityAuditor", "BackfillFilesFailed")
    assert alarm["Dimensions"] == [{"Name": "service", "Value": "identity-auditor"}]
    assert (alarm["Statistic"], alarm["Threshold"], alarm["ComparisonOperator"]) == (
        "Sum", 0, "GreaterThanThreshold")
    assert alarm["TreatMissingData"] == "notBreaching"  # a count of failures: no data is none
    assert alarm["AlarmActions"] == [{"Ref": "OperationsTopic"}]


def test_the_state_machine_role_may_run_its_own_child_executions_and_nothing_else():
    role = RESOURCES["BackfillStateMachineRole"]
    trust = role["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]
    assert trust["Principal"] == {"Service": "states.amazonaws.com"}
    assert trust["Condition"]["StringEquals"]["aws:SourceAccount"] == {"Ref": "AWS::AccountId"}
    name = RESOURCES["BackfillStateMachine"]["Properties"]["Name"]["Fn::Sub"]
    assert name == "${AWS::StackName}-backfill"
    found = statements(role)
    prefix = "arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}"
    assert found["StartChildExecutions"]["Action"] == "states:StartExecution"
    assert found["StartChildExecutions"]["Resource"] == {"Fn::Sub": f"{prefix}:stateMachine:{name}"}
    assert found["TrackChildExecutions"]["Action"] == ["states:DescribeExecution", "states:StopExecution"]
    assert found["TrackChildExecutions"]["Resource"] == [
        {"Fn::Sub": f"{prefix}:execution:{name}:*"}, {"Fn::Sub": f"{prefix}:execution:{name}/*"}]
    assert found["InvokeBackfillEvaluator"]["Action"] == "lambda:InvokeFunction"
    assert found["InvokeBackfillEvaluator"]["Resource"] == [
        {"Fn::GetAtt": ["BackfillEvaluatorFunction", "Arn"]}, {"Fn::Sub": "${BackfillEvaluatorFunction.Arn}:*"}]


def test_the_state_machine_lists_the_trail_bucket_and_writes_only_under_the_results_prefix():
    role = RESOURCES["BackfillStateMachineRole"]
    found = statements(role)
    assert found["ListCloudTrailLogFiles"]["Action"] == "s3:ListBucket"
    assert found["ListCloudTrailLogFiles"]["Resource"] == {
        "Fn::Sub": "arn:${AWS::Partition}:s3:::${CloudTrailBucketName}"}
    write = found["WriteSummaries"]
    assert write["Action"] == ["s3:PutObject", "s3:GetObject", "s3:ListMultipartUploadParts", "s3:AbortMultipartUpload"]
    pattern, values = write["Resource"]["Fn::Sub"]
    assert pattern == "arn:${AWS::Partition}:s3:::${Bucket}/${BackfillResultsPrefix}/*"
    assert values["Bucket"] == {"Fn::If": ["CreateBackfillResultsBucket", {"Ref": "BackfillSummaryBucket"},
                                           {"Ref": "BackfillResultsBucket"}]}
    assert conditional_statement(role, "EncryptSummaries") == "CreateBackfillResultsBucket"
    assert found["EncryptSummaries"]["Resource"] == {"Fn::GetAtt": ["AuditorKey", "Arn"]}


def test_the_state_machine_is_standard_and_substitutes_its_definition():
    properties = RESOURCES["BackfillStateMachine"]["Properties"]
    assert RESOURCES["BackfillStateMachine"]["Type"] == "AWS::Serverless::StateMachine"
    assert properties["Type"] == "STANDARD"
    assert properties["Role"] == {"Fn::GetAtt": ["BackfillStateMachineRole", "Arn"]}
    substitutions = properties["DefinitionSubstitutions"]
    assert substitutions["MaxConcurrency"] == {"Ref": "BackfillMaxConcurrency"}
    assert substitutions["BackfillFunctionArn"] == {"Fn::GetAtt": ["BackfillEvaluatorFunction", "Arn"]}
    assert substitutions["ResultsPrefix"] == {"Ref": "BackfillResultsPrefix"}
    assert (ROOT / properties["DefinitionUri"]).is_file()


def test_the_results_bucket_is_encrypted_private_tls_only_and_expires_summaries():
    bucket = RESOURCES["BackfillSummaryBucket"]["Properties"]
    rule = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
    assert rule["ServerSideEncryptionByDefault"] == {"SSEAlgorithm": "aws:kms",
                                                     "KMSMasterKeyID": {"Fn::GetAtt": ["AuditorKey", "Arn"]}}
    assert rule["BucketKeyEnabled"] is True
    assert bucket["PublicAccessBlockConfiguration"] == dict.fromkeys(
        ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"), True)
    assert bucket["LifecycleConfiguration"]["Rules"][0]["ExpirationInDays"] == 30
    deny = RESOURCES["BackfillSummaryBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"][0]
    assert (deny["Effect"], deny["Principal"], deny["Action"]) == ("Deny", "*", "s3:*")
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert deny["Resource"] == [{"Fn::GetAtt": ["BackfillSummaryBucket", "Arn"]},
                                {"Fn::Sub": "${BackfillSummaryBucket.Arn}/*"}]


def _with_defaults(text: str, **defaults: str) -> str:
    for name, value in defaults.items():
        pattern = rf"(\n  {name}:\n    Type: (?:String|Number)\n    Default: )[^\n]*"
        text, count = re.subn(pattern, rf'\g<1>"{value}"', text)
        assert count == 1, name
    return text


@pytest.mark.parametrize(
    "defaults",
    [
        {"EnableBackfill": "true", "CloudTrailBucketName": "org-trail-logs"},
        {"EnableBackfill": "true", "CloudTrailBucketName": "org-trail-logs", "BackfillResultsBucket": "my-results",
         "CloudTrailKmsKeyArn": "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"},
    ],
    ids=["created-results-bucket", "own-results-bucket-and-kms-trail"],
)
def test_the_template_lints_cleanly_with_the_backfill_turned_on(defaults):
    """`make lint validate` checks the defaults (backfill off); this checks the other branch."""
    assert cfnlint.api.lint(_with_defaults(TEMPLATE_TEXT, **defaults), regions=["us-east-1"]) == []
