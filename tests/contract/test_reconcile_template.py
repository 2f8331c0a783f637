"""template.yaml's reconciliation against the trail (ReconcileTrail): off by default, only with the backfill, a
daily schedule a little after 00:30 UTC, and a role that may list the trail's folders and start the backfill,
nothing more. The template lints cleanly with it turned on, with and without a trail key prefix."""

from __future__ import annotations

import re

import cfnlint.api
import pytest
from support import ROOT, load_template

TEMPLATE_TEXT = (ROOT / "template.yaml").read_text()
TEMPLATE = load_template()
RESOURCES = TEMPLATE["Resources"]
RECONCILE = {name: res for name, res in RESOURCES.items() if name.startswith("ReconcileTrail")}


def _statements(role: dict) -> dict[str, dict]:
    return {s["Sid"]: s for policy in role["Properties"]["Policies"]
            for s in policy["PolicyDocument"]["Statement"] if "Sid" in s}


def test_it_is_off_by_default_and_needs_the_backfill():
    parameters = TEMPLATE["Parameters"]
    assert parameters["ReconcileTrail"]["Default"] == "false"
    assert parameters["ReconcileTrail"]["AllowedValues"] == ["true", "false"]
    assert parameters["CloudTrailKeyPrefix"]["Default"] == ""
    pattern = parameters["CloudTrailKeyPrefix"]["AllowedPattern"]
    assert all(re.fullmatch(pattern, ok) for ok in ("", "security", "org/cloudtrail-logs"))
    assert not any(re.fullmatch(pattern, bad) for bad in ("/security", "security/", "a//b", "a b"))
    rule = TEMPLATE["Rules"]["ReconcileTrailNeedsTheBackfill"]
    assert rule["RuleCondition"] == {"Fn::Equals": [{"Ref": "ReconcileTrail"}, "true"]}
    assert rule["Assertions"][0]["Assert"] == {"Fn::Equals": [{"Ref": "EnableBackfill"}, "true"]}
    assert TEMPLATE["Conditions"]["ReconcileTrailEnabled"] == {
        "Fn::And": [{"Fn::Condition": "BackfillEnabled"}, {"Fn::Equals": [{"Ref": "ReconcileTrail"}, "true"]}]}
    assert set(RECONCILE) == {
        "ReconcileTrailLogGroup", "ReconcileTrailRole", "ReconcileTrailFunction", "ReconcileTrailSchedule",
        "ReconcileTrailInvokePermission", "ReconcileTrailErrorsAlarm", "ReconcileTrailBackfillFailedAlarm"}
    assert all(res["Condition"] == "ReconcileTrailEnabled" for res in RECONCILE.values())
    assert TEMPLATE["Outputs"]["ReconcileTrailCommand"]["Condition"] == "ReconcileTrailEnabled"


def test_the_schedule_runs_daily_after_00_30_utc_and_only_it_may_invoke_the_reconciler():
    rule = RESOURCES["ReconcileTrailSchedule"]["Properties"]
    assert rule["ScheduleExpression"] == "cron(45 0 * * ? *)"  # cron expressions of EventBridge are in UTC
    assert rule["State"] == "ENABLED" and rule["Name"] == {"Fn::Sub": "${AWS::StackName}-reconcile-trail"}
    [target] = rule["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": ["ReconcileTrailFunction", "Arn"]}
    assert target["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": ["DeadLetterQueue", "Arn"]}}
    assert target["RetryPolicy"]["MaximumEventAgeInSeconds"] == 86400
    permission = RESOURCES["ReconcileTrailInvokePermission"]["Properties"]
    assert permission["Principal"] == "events.amazonaws.com"
    assert permission["SourceArn"] == {"Fn::GetAtt": ["ReconcileTrailSchedule", "Arn"]}
    assert permission["SourceAccount"] == {"Ref": "AWS::AccountId"}


def test_the_function_is_a_thin_handler_that_knows_the_bucket_prefix_and_state_machine():
    function = RESOURCES["ReconcileTrailFunction"]
    properties = function["Properties"]
    assert function["Metadata"]["BuildMethod"] == "makefile"
    assert (properties["CodeUri"], properties["Handler"]) == ("functions/reconciler/", "reconciler.handler")
    assert properties["Layers"] == [{"Ref": "IdentityAuditorLayer"}]
    assert properties["Environment"]["Variables"] == {
        "CLOUDTRAIL_BUCKET": {"Ref": "CloudTrailBucketName"}, "CLOUDTRAIL_KEY_PREFIX": {"Ref": "CloudTrailKeyPrefix"},
        "BACKFILL_STATE_MACHINE_ARN": {"Ref": "BackfillStateMachine"}}
    assert properties["EventInvokeConfig"]["DestinationConfig"]["OnFailure"]["Destination"] == {
        "Fn::GetAtt": ["DeadLetterQueue", "Arn"]}
    makefile = (ROOT / "functions" / "reconciler" / "Makefile").read_text()
    assert "build-ReconcileTrailFunction:\n\tcp reconciler.py \"$(ARTIFACTS_DIR)/\"" in makefile
    log_group = RESOURCES["ReconcileTrailLogGroup"]["Properties"]["LogGroupName"]["Fn::Sub"]
    assert log_group == "/aws/lambda/" + properties["FunctionName"]["Fn::Sub"]


def test_the_role_lists_only_under_the_trails_awslogs_and_starts_only_the_backfill():
    role = RESOURCES["ReconcileTrailRole"]
    found = _statements(role)
    assert set(found) == {"ListCloudTrailFolders", "StartBackfillExecutions", "SendFailuresToDeadLetterQueue",
                          "UseAuditorKey"}
    listing = found["ListCloudTrailFolders"]
    assert (listing["Effect"], listing["Action"]) == ("Allow", "s3:ListBucket")
    assert listing["Resource"] == {"Fn::Sub": "arn:${AWS::Partition}:s3:::${CloudTrailBucketName}"}
    assert listing["Condition"] == {"StringLike": {"s3:prefix": {"Fn::If": [
        "HasCloudTrailKeyPrefix", {"Fn::Sub": "${CloudTrailKeyPrefix}/AWSLogs/*"}, "AWSLogs/*"]}}}
    start = found["StartBackfillExecutions"]
    assert (start["Action"], start["Resource"]) == ("states:StartExecution", {"Ref": "BackfillStateMachine"})
    assert found["SendFailuresToDeadLetterQueue"]["Resource"] == {"Fn::GetAtt": ["DeadLetterQueue", "Arn"]}
    assert found["UseAuditorKey"]["Resource"] == {"Fn::GetAtt": ["AuditorKey", "Arn"]}
    every = [s for policy in role["Properties"]["Policies"] for s in policy["PolicyDocument"]["Statement"]]
    actions = {a for s in every for a in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])}
    assert actions == {"logs:CreateLogStream", "logs:PutLogEvents", "s3:ListBucket", "states:StartExecution",
                       "sqs:SendMessage", "kms:GenerateDataKey", "kms:Decrypt"}  # no s3:GetObject: the backfill reads


def test_failures_reach_the_operations_topic():
    errors = RESOURCES["ReconcileTrailErrorsAlarm"]["Properties"]
    assert (errors["Namespace"], errors["MetricName"]) == ("AWS/Lambda", "Errors")
    assert errors["Dimensions"] == [{"Name": "FunctionName", "Value": {"Ref": "ReconcileTrailFunction"}}]
    failed = RESOURCES["ReconcileTrailBackfillFailedAlarm"]["Properties"]
    assert (failed["Namespace"], failed["MetricName"]) == ("AWS/States", "ExecutionsFailed")
    assert failed["Dimensions"] == [{"Name": "StateMachineArn", "Value": {"Ref": "BackfillStateMachine"}}]
    for alarm in (errors, failed):
        assert alarm["AlarmActions"] == [{"Ref": "OperationsTopic"}]
        assert (alarm["ComparisonOperator"], alarm["Threshold"]) == ("GreaterThanThreshold", 0)


def _with_defaults(text: str, **defaults: str) -> str:
    for name, value in defaults.items():
        pattern = rf"(\n  {name}:\n    Type: (?:String|Number)\n    Default: )[^\n]*"
        text, count = re.subn(pattern, rf'\g<1>"{value}"', text)
        assert count == 1, name
    return text


@pytest.mark.parametrize("prefix", ["", "org/cloudtrail"], ids=["no-key-prefix", "key-prefix"])
def test_the_template_lints_cleanly_with_the_reconciliation_turned_on(prefix):
    text = _with_defaults(TEMPLATE_TEXT, EnableBackfill="true", CloudTrailBucketName="org-trail-logs",
                          ReconcileTrail="true", CloudTrailKeyPrefix=prefix)
    assert cfnlint.api.lint(text, regions=["us-east-1"]) == []
