"""The heartbeat and the alert channel as template.yaml deploys them (issue 16: alerts nobody can silence).

- ``HeartbeatRule`` is named as delivery/heartbeat.py recognises it (``<stack>-heartbeat`` on the default bus),
  runs every ``HeartbeatMinutes`` and targets the CloudTrail evaluator, which EventBridge may invoke for it (the
  invoke permission's ``SourceArn`` pattern) and whose failures the dead-letter queue may take.
- ``HeartbeatMissingAlarm`` sums ``HeartbeatsDelivered`` over two heartbeat periods, for every allowed value,
  alarms below one and treats missing data as breaching.
- The alert e-mail's filter policy excludes the heartbeat by its attribute alone, at every AlertMinimumSeverity
  (evaluated with moto's implementation of SNS filter policies), and still admits the alerts it should.
- Missing data: breaching where silence is the failure, ignored on the dead-letter queue alarms, not breaching
  where the metric counts failures; ``OperationsEmail`` is recommended, not required; the functions know the
  auditor's data key (``AUDITOR_KEY_ARN``).
"""

from __future__ import annotations

import fnmatch

import pytest
from identity_auditor.delivery.heartbeat import (
    HEARTBEAT_ATTRIBUTE,
    HEARTBEAT_RULE_SUFFIX,
    HEARTBEATS_DELIVERED_METRIC,
    Heartbeat,
)
from moto.sns.utils import FilterPolicyMatcher
from support import load_template

TEMPLATE = load_template()
RESOURCES = TEMPLATE["Resources"]
STACK = "identity-auditor"
SUBS = {"${AWS::Partition}": "aws", "${AWS::Region}": "us-east-1", "${AWS::AccountId}": "123456789012",
        "${AWS::StackName}": STACK}
SEVERITIES = TEMPLATE["Mappings"]["SeverityRank"]


def sub(value) -> str:
    text = value["Fn::Sub"] if isinstance(value, dict) else value
    for name, replacement in SUBS.items():
        text = text.replace(name, replacement)
    return text


def props(name: str) -> dict:
    return RESOURCES[name]["Properties"]


def test_the_heartbeat_rule_is_the_one_the_evaluator_recognises_and_may_be_invoked_by():
    rule = props("HeartbeatRule")
    name = sub(rule["Name"])
    assert name == f"{STACK}{HEARTBEAT_RULE_SUFFIX}"
    assert rule.get("EventBusName", "default") == "default" and "EventPattern" not in rule
    assert rule["State"] == "ENABLED"
    assert rule["ScheduleExpression"] == {"Fn::Sub": "rate(${HeartbeatMinutes} minutes)"}
    [target] = rule["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": ["CloudTrailEvaluatorFunction", "Arn"]}
    assert target["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": ["DeadLetterQueue", "Arn"]}}
    arn = f"arn:aws:events:us-east-1:123456789012:rule/{name}"
    [invoke] = [s for s in props("CloudTrailEvaluatorResourcePolicy")["PolicyDocument"]["Statement"]
                if s["Effect"] == "Allow"]
    assert fnmatch.fnmatchcase(arn, sub(invoke["Condition"]["ArnLike"]["aws:SourceArn"]))
    [allowed] = [s for s in props("DeadLetterQueuePolicy")["PolicyDocument"]["Statement"] if s["Effect"] == "Allow"]
    assert fnmatch.fnmatchcase(arn, sub(allowed["Condition"]["ArnLike"]["aws:SourceArn"]))


def test_the_heartbeat_period_is_a_documented_parameter_with_a_window_for_each_value():
    parameter = TEMPLATE["Parameters"]["HeartbeatMinutes"]
    assert parameter["Default"] == "30"
    window = TEMPLATE["Mappings"]["HeartbeatWindow"]
    assert set(window) == set(parameter["AllowedValues"])
    for minutes, entry in window.items():
        assert entry["Seconds"] == 2 * 60 * int(minutes), "the alarm sums two heartbeat periods"
    groups = TEMPLATE["Metadata"]["AWS::CloudFormation::Interface"]["ParameterGroups"]
    assert any("HeartbeatMinutes" in group["Parameters"] for group in groups)


def test_the_heartbeat_alarm_treats_silence_as_a_missing_heartbeat():
    alarm = props("HeartbeatMissingAlarm")
    assert (alarm["Namespace"], alarm["MetricName"]) == ("IdentityAuditor", HEARTBEATS_DELIVERED_METRIC)
    assert alarm["Dimensions"] == [{"Name": "service", "Value": "identity-auditor"}]
    assert alarm["Statistic"] == "Sum" and alarm["EvaluationPeriods"] == 1
    assert alarm["Period"] == {"Fn::FindInMap": ["HeartbeatWindow", {"Ref": "HeartbeatMinutes"}, "Seconds"]}
    assert (alarm["ComparisonOperator"], alarm["Threshold"]) == ("LessThanThreshold", 1)
    assert alarm["TreatMissingData"] == "breaching"
    assert alarm["AlarmActions"] == [{"Ref": "OperationsTopic"}]


def test_a_second_heartbeat_alarm_watches_a_metric_no_one_can_forge():
    """PutMetricData refuses namespaces beginning with AWS/: the topic's own SNS metric counts only what was really
    published, and the topic policy denies publishing to everyone but the publisher (and named redrivers)."""
    alarm = props("HeartbeatNotPublishedAlarm")
    assert (alarm["Namespace"], alarm["MetricName"]) == ("AWS/SNS", "NumberOfMessagesPublished")
    assert alarm["Dimensions"] == [{"Name": "TopicName", "Value": {"Fn::GetAtt": ["FindingsTopic", "TopicName"]}}]
    heartbeat = props("HeartbeatMissingAlarm")
    for key in ("Statistic", "Period", "EvaluationPeriods", "Threshold", "ComparisonOperator", "TreatMissingData",
                "AlarmActions", "OKActions"):
        assert alarm[key] == heartbeat[key], key
    [deny] = [s for s in props("FindingsTopicPolicy")["PolicyDocument"]["Statement"]
              if s["Effect"] == "Deny" and s["Action"] == "sns:Publish" and "Condition" in s
              and "Fn::If" in s["Condition"]]
    assert deny["Principal"] == "*" and deny["Resource"] == {"Ref": "FindingsTopic"}
    condition, with_redrivers, without = deny["Condition"]["Fn::If"]
    assert condition == "HasRedrivePrincipals"
    publisher = {"Fn::GetAtt": ["FindingsPublisherRole", "Arn"]}
    assert without == {"ArnNotEquals": {"aws:PrincipalArn": publisher}}
    assert with_redrivers == {"ArnNotEquals": {"aws:PrincipalArn": publisher},
                              "ArnNotLike": {"aws:PrincipalArn": {"Ref": "FindingsRedrivePrincipalArns"}}}


def alert_email_filter(severity: str) -> FilterPolicyMatcher:
    subscription = props("AlertEmailSubscription")

    def resolve(value):
        if isinstance(value, dict):
            if "Fn::FindInMap" in value:
                return SEVERITIES[severity]["Rank"]
            return {key: resolve(item) for key, item in value.items()}
        return [resolve(item) for item in value] if isinstance(value, list) else value

    return FilterPolicyMatcher(resolve(subscription["FilterPolicy"]), subscription["FilterPolicyScope"])


@pytest.mark.parametrize("severity", list(SEVERITIES))
def test_the_alert_email_never_gets_the_heartbeat_and_still_gets_its_alerts(severity):
    policy = alert_email_filter(severity)
    heartbeat = {name: {"Type": value["DataType"], "Value": value["StringValue"]}
                 for name, value in Heartbeat("e", "123456789012", "us-east-1", "arn", "t", "t").alert()
                 ["MessageAttributes"].items()}
    critical = {"severity_rank": {"Type": "Number", "Value": "4"}, "severity": {"Type": "String", "Value": "CRITICAL"}}
    assert not policy.matches(heartbeat, "")
    assert not policy.matches({**heartbeat, **critical}, ""), "the heartbeat attribute alone must exclude it"
    assert policy.matches(critical, "")
    rank = SEVERITIES[severity]["Rank"]
    for label, entry in SEVERITIES.items():
        alert = {"severity_rank": {"Type": "Number", "Value": str(entry["Rank"])}}
        assert policy.matches(alert, "") == (entry["Rank"] >= rank), label
    assert HEARTBEAT_ATTRIBUTE in props("AlertEmailSubscription")["FilterPolicy"]


def test_missing_data_is_breaching_where_silence_is_the_failure_and_only_there():
    alarms = {name: res["Properties"] for name, res in RESOURCES.items() if res["Type"] == "AWS::CloudWatch::Alarm"}
    expected = {"HeartbeatMissingAlarm": "breaching", "HeartbeatNotPublishedAlarm": "breaching",
                "DeadLetterQueueNotEmptyAlarm": "ignore",
                "FindingsDeadLetterQueueNotEmptyAlarm": "ignore"}
    for name, alarm in alarms.items():
        assert alarm.get("TreatMissingData") == expected.get(name, "notBreaching"), name
        if name == "AlertSubscriptionMissingAlarm":  # counted at each heartbeat: no heartbeat is another alarm's
            assert (alarm["ComparisonOperator"], alarm["Threshold"]) == ("LessThanThreshold", 1)
        elif name not in expected:  # a count of failures: no data means none happened
            assert alarm["ComparisonOperator"] == "GreaterThanThreshold", name


def test_operations_email_is_recommended_not_required_and_the_functions_know_the_auditors_key():
    parameter = TEMPLATE["Parameters"]["OperationsEmail"]
    assert parameter["Default"] == "" and "STRONGLY RECOMMENDED" in parameter["Description"]
    assert not any("OperationsEmail" in str(rule) for rule in TEMPLATE.get("Rules", {}).values())
    variables = TEMPLATE["Globals"]["Function"]["Environment"]["Variables"]
    assert variables["AUDITOR_KEY_ARN"] == {"Fn::GetAtt": ["AuditorKey", "Arn"]}
