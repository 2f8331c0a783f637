"""auditor_pipeline_tampered: changes to the auditor's own rules, functions, topics, queues and policy by anyone but
its CloudFormation deployment; never with an empty ctx.auditor, never failures, other teams' resources or the stack."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from asff_validator import assert_valid_asff
from identity_auditor.engine.events import Engine
from identity_auditor.engine.registry import Registry, Rule
from identity_auditor.model.cloudtrail import CloudTrailRecord, base_event_name
from identity_auditor.model.contract import Context
from identity_auditor.model.deployment import AuditorResources
from identity_auditor.model.policy import OrgPolicy
from identity_auditor.model.severity import Severity
from identity_auditor.rules import auditor_pipeline_tampered as rule
from identity_auditor.sinks.asff import to_asff
from support import changed, corpus_record, load_sample, run_rule

NOW = datetime(2026, 11, 22, tzinfo=timezone.utc)
PRODUCT_ARN = "arn:aws:securityhub:us-east-1:123837392027:product/123837392027/default"
ACCOUNT = "123837392027"
PROFILE_ARN = f"arn:aws:appconfig:us-east-1:{ACCOUNT}:application/abc1234/configurationprofile/xyz9876"
# What the deployment of a stack named identity-auditor passes in (see the report: name prefix, policy parameter,
# AppConfig profile).
KEY_ID = "3c8f1e2a-7b4d-4e9f-a1c6-5d2e8f0b7a93"  # the stack's FindingsMacKey (or AuditorKey)
KEY_ARN = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/{KEY_ID}"
AUDITOR = AuditorResources(name_prefixes=("identity-auditor-",), names=frozenset({"/identity-auditor/policy"}),
                           arns=frozenset({PROFILE_ARN, KEY_ARN}))
CTX = Context(now=NOW, auditor=AUDITOR)
EVALUATOR = "identity-auditor-cloudtrail-evaluator"
EVALUATOR_ARN = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:{EVALUATOR}"
TOPIC_ARN = f"arn:aws:sns:us-east-1:{ACCOUNT}:identity-auditor-FindingsTopic-8K2J4H6G1F3D"
QUEUE_URL = f"https://sqs.us-east-1.amazonaws.com/{ACCOUNT}/identity-auditor-FindingsQueue-3N5B7V9C2X4Z"
QUEUE_ARN = f"arn:aws:sqs:us-east-1:{ACCOUNT}:identity-auditor-FindingsQueue-3N5B7V9C2X4Z"

DISABLE = load_sample("events_disable_rule_auditor_route__constructed")["detail"]
DISABLE_FAILED = load_sample("events_disable_rule_failed__constructed")["detail"]
CONFIGURATION = load_sample("lambda_update_function_configuration_auditor_function__constructed")["detail"]
OTHER_FUNCTION = load_sample("lambda_update_function_code_other_function")["detail"]
BY_CLOUDFORMATION = load_sample("lambda_update_function_code_auditor_by_cloudformation__constructed")["detail"]
UNSUBSCRIBE = load_sample("sns_unsubscribe_auditor_topic__constructed")["detail"]
QUEUE_POLICY = load_sample("sqs_set_queue_attributes_auditor_queue__constructed")["detail"]
OTHER_QUEUE = load_sample("sqs_set_queue_attributes_other_queue__constructed")["detail"]
PUT_PARAMETER = load_sample("ssm_put_parameter_auditor_policy__constructed")["detail"]
DEPLOYMENT = load_sample("appconfig_start_deployment_auditor_profile__constructed")["detail"]
KEY_DELETION = load_sample("kms_schedule_key_deletion_auditor_key__constructed")["detail"]
POSITIVES = [DISABLE, CONFIGURATION, UNSUBSCRIBE, QUEUE_POLICY, PUT_PARAMETER, DEPLOYMENT, KEY_DELETION]


def _run(raw: dict, ctx: Context = CTX):
    return rule.evaluate(CloudTrailRecord.model_validate(raw), ctx)


def _findings(raw: dict, ctx: Context = CTX) -> list:
    """Through the engine (allow-lists, the Lambda event-name suffix), each finding checked as strict ASFF."""
    registry = Registry([Rule(rule.META, rule.evaluate)])
    result = Engine(registry).evaluate(CloudTrailRecord.model_validate(raw), ctx)
    assert result.failures == []
    for finding in result.findings:
        assert_valid_asff(to_asff(finding, product_arn=PRODUCT_ARN, updated_at=NOW))
    return result.findings


# -- the samples --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("raw", "resource_id", "resource_type", "words"), [
    (DISABLE, f"arn:aws:events:us-east-1:{ACCOUNT}:rule/identity-auditor-iam-api", "Other",
     "bert-jan disabled the EventBridge rule identity-auditor-iam-api, one of identity-auditor's own resources, "
     f"in account {ACCOUNT} (us-east-1): the events it routes no longer reach the auditor."),
    (CONFIGURATION, EVALUATOR_ARN, "AwsLambdaFunction",
     f"stratus-red-team-ec2-steal-credentials-role/i-0dbc91f429e48eeed changed the configuration of the Lambda "
     f"function {EVALUATOR}"),
    (UNSUBSCRIBE, TOPIC_ARN, "AwsSnsTopic",
     "bert-jan removed a subscription from the SNS topic identity-auditor-FindingsTopic-8K2J4H6G1F3D"),
    (QUEUE_POLICY, QUEUE_ARN, "AwsSqsQueue",
     "bert-jan changed the Policy of the SQS queue identity-auditor-FindingsQueue-3N5B7V9C2X4Z"),
    (PUT_PARAMETER, f"arn:aws:ssm:us-east-1:{ACCOUNT}:parameter/identity-auditor/policy", "Other",
     "bert-jan wrote the SSM parameter /identity-auditor/policy"),
    (DEPLOYMENT, PROFILE_ARN, "Other",
     "deployed version 12 of the AppConfig configuration profile xyz9876 (application abc1234, environment 54j1r29)"),
    (KEY_DELETION, KEY_ARN, "AwsKmsKey",
     f"bert-jan scheduled the deletion of the KMS key {KEY_ARN}, one of identity-auditor's own resources"),
])
def test_each_positive_sample_fires_critical_with_its_resource(raw, resource_id, resource_type, words):
    [finding] = _findings(raw)
    assert (finding.severity, finding.resource_id, finding.resource_type) == (Severity.CRITICAL, resource_id,
                                                                              resource_type)
    assert words in finding.description
    assert "one of identity-auditor's own resources" in finding.description
    assert finding.event_id == raw["eventID"]


@pytest.mark.parametrize("raw", POSITIVES, ids=lambda raw: raw["eventName"])
def test_an_empty_auditor_context_never_fires(raw):
    """The CLI (and the samples' default Context) do not know the deployment: nothing is the auditor's."""
    assert run_rule(rule, raw) is None
    assert _findings(raw, Context(now=NOW)) == []


def test_details_name_what_changed():
    assert _run(CONFIGURATION).details["Role"].endswith(":role/stratus-red-team-ec2-steal-credentials-role")
    assert _run(CONFIGURATION).details["ChangedSettings"] == "role"
    unsubscribed = _run(UNSUBSCRIBE).details
    assert unsubscribed["SubscriptionArn"] == f"{TOPIC_ARN}:c3019def-3714-403e-ba29-eb14079d5c69"
    assert unsubscribed["TopicArn"] == TOPIC_ARN
    queue = _run(QUEUE_POLICY).details
    assert queue["ChangedAttributes"] == "Policy" and '"Principal":"*"' in queue["Attribute.Policy"]
    assert _run(PUT_PARAMETER).details == {
        "ParameterName": "/identity-auditor/policy", "Version": "7", "Type": "String", "Overwrite": "true",
        "ParameterArn": f"arn:aws:ssm:us-east-1:{ACCOUNT}:parameter/identity-auditor/policy"}
    assert _run(DEPLOYMENT).details["DeploymentNumber"] == "5"
    assert _run(DISABLE).subject == "identity-auditor-iam-api"


# -- every event name ---------------------------------------------------------------------------------------------

EVENTBRIDGE = {
    "DisableRule": {"name": "identity-auditor-iam-api"},
    "DeleteRule": {"name": "identity-auditor-iam-api", "eventBusName": "default"},
    "RemoveTargets": {"rule": "identity-auditor-iam-api", "ids": ["CloudTrailEvaluator"], "force": False},
    "PutRule": {"name": "identity-auditor-iam-api", "state": "ENABLED",
                "eventPattern": "{\"source\":[\"aws.nothing\"]}"},
    "PutTargets": {"rule": "identity-auditor-iam-api",
                   "targets": [{"id": "CloudTrailEvaluator", "arn": "arn:aws:lambda:us-east-1:999999999999:function:x"}]},
}
LAMBDA = {
    "DeleteFunction20150331": {"functionName": EVALUATOR},
    "UpdateFunctionCode20150331v2": {"functionName": EVALUATOR_ARN, "s3Bucket": "b", "s3Key": "k"},
    "UpdateFunctionConfiguration20150331v2": {"functionName": EVALUATOR, "handler": "evil.handler"},
    "PutFunctionConcurrency20171031": {"functionName": EVALUATOR, "reservedConcurrentExecutions": 0},
    "RemovePermission20150331v2": {"functionName": EVALUATOR, "statementId": "EventBridgeInvokePermission"},
    "AddPermission20150331v2": {"functionName": f"{ACCOUNT}:function:{EVALUATOR}", "statementId": "backdoor",
                                "action": "lambda:InvokeFunction", "principal": "*"},
    "AddPermission": {"functionName": f"{EVALUATOR}:live", "statementId": "s", "principal": "999999999999"},
    "PutResourcePolicy": {"resourceArn": EVALUATOR_ARN, "policy": "{\"Version\":\"2012-10-17\",\"Statement\":[]}"},
    "DeleteResourcePolicy": {"resourceArn": f"{EVALUATOR_ARN}:live"},
    "PublishVersion20150331": {"functionName": EVALUATOR, "description": "v2"},
    "CreateAlias20150331": {"functionName": EVALUATOR, "name": "live", "functionVersion": "2"},
    "UpdateAlias20150331": {"functionName": EVALUATOR_ARN, "name": "live", "functionVersion": "3"},
    "CreateFunctionUrlConfig20211031": {"functionName": EVALUATOR, "authType": "NONE"},
    "UpdateFunctionUrlConfig20211031": {"functionName": EVALUATOR, "authType": "AWS_IAM"},
    "UpdateEventSourceMapping20150331": {"uUID": "a1b2c3d4-0000-4000-8000-000000000001", "enabled": False,
                                         "functionName": "identity-auditor-findings-publisher"},
}
CONFIG = {  # the Config API's request shapes, as CloudTrail records them
    "PutConfigRule": {"configRule": {"configRuleName": "identity-auditor-iam-access-key-not-rotated",
                                     "inputParameters": "{\"ruleId\":\"iam_access_key_not_rotated\","
                                                        "\"access_key_max_age_days\":\"3650\"}"}},
    "DeleteConfigRule": {"configRuleName": "identity-auditor-root-mfa-not-enabled"},
    "DeleteEvaluationResults": {"configRuleName": "identity-auditor-root-mfa-not-enabled"},
    "PutOrganizationConfigRule": {"organizationConfigRuleName": "identity-auditor-iam-credentials-unused"},
    "DeleteOrganizationConfigRule": {"organizationConfigRuleName": "identity-auditor-iam-credentials-unused"},
}
ALARMS = {  # CloudWatch's request shapes (the template's alarms are named <stack>-<logical id>-<suffix>)
    "DisableAlarmActions": {"alarmNames": ["identity-auditor-HeartbeatMissingAlarm-1ABCDEF2GH3IJ"]},
    "DeleteAlarms": {"alarmNames": ["identity-auditor-ForgedFindingsAlarm-4KLMNOP5QR6ST"]},
    "SetAlarmState": {"alarmName": "identity-auditor-HeartbeatMissingAlarm-1ABCDEF2GH3IJ", "stateValue": "OK",
                      "stateReason": "maintenance"},
    "PutMetricAlarm": {"alarmName": "identity-auditor-RuleErrorsAlarm-7UVWXYZ8AB9CD", "treatMissingData":
                       "notBreaching", "threshold": 1000000.0},
}
SNS = {
    "Unsubscribe": {"subscriptionArn": f"{TOPIC_ARN}:c3019def-3714-403e-ba29-eb14079d5c69"},
    "DeleteTopic": {"topicArn": TOPIC_ARN},
    "SetTopicAttributes": {"topicArn": TOPIC_ARN, "attributeName": "Policy", "attributeValue": "{}"},
    "SetSubscriptionAttributes": {"subscriptionArn": f"{TOPIC_ARN}:c3019def", "attributeName": "FilterPolicy",
                                  "attributeValue": "{\"severity_rank\":[{\"numeric\":[\">\",99]}]}"},
}
SQS = {
    "DeleteQueue": {"queueUrl": QUEUE_URL},
    "SetQueueAttributes": {"queueUrl": QUEUE_URL, "attributes": {"MessageRetentionPeriod": "60"}},
    "PurgeQueue": {"queueUrl": QUEUE_URL},
}
SSM = {"PutParameter": {"name": "/identity-auditor/policy", "type": "String", "overwrite": True},
       "DeleteParameter": {"name": "/identity-auditor/policy"}}
KMS = {  # request shapes of the KMS API reference, as CloudTrail records them (keyId: the key id or its ARN)
    "PutKeyPolicy": {"keyId": KEY_ID, "policyName": "default", "policy": "{\"Version\":\"2012-10-17\"}",
                     "bypassPolicyLockoutSafetyCheck": False},
    "CreateGrant": {"keyId": KEY_ARN, "granteePrincipal": "arn:aws:iam::999999999999:root",
                    "operations": ["GenerateMac"]},
    "DisableKey": {"keyId": KEY_ID},
    "ScheduleKeyDeletion": {"keyId": KEY_ID, "pendingWindowInDays": 7},
    "DisableKeyRotation": {"keyId": KEY_ID},
}
CASES = [("events.amazonaws.com", name, params) for name, params in EVENTBRIDGE.items()] + [
    ("lambda.amazonaws.com", name, params) for name, params in LAMBDA.items()] + [
    ("sns.amazonaws.com", name, params) for name, params in SNS.items()] + [
    ("sqs.amazonaws.com", name, params) for name, params in SQS.items()] + [
    ("ssm.amazonaws.com", name, params) for name, params in SSM.items()] + [
    ("kms.amazonaws.com", name, params) for name, params in KMS.items()] + [
    ("config.amazonaws.com", name, params) for name, params in CONFIG.items()] + [
    ("monitoring.amazonaws.com", name, params) for name, params in ALARMS.items()] + [
    ("appconfig.amazonaws.com", "StartDeployment", DEPLOYMENT["requestParameters"])]


@pytest.mark.parametrize(("source", "event_name", "params"), CASES, ids=[f"{c[0].split('.')[0]}:{c[1]}" for c in CASES])
def test_every_event_name_on_an_auditor_resource_fires(source, event_name, params):
    record = changed(DISABLE, eventSource=source, eventName=event_name, requestParameters=params)
    [finding] = _findings(record)
    assert finding.severity is Severity.CRITICAL and finding.rule_id == rule.META.id
    other = changed(record, requestParameters={
        key: {**value, "configRuleName": "someone-elses"} if key == "configRule" else
        ["someone-elses"] if key == "alarmNames" else
        ("someone-elses" if isinstance(value, str) and key in (
            "name", "rule", "functionName", "topicArn", "subscriptionArn", "queueUrl", "configurationProfileId",
            "keyId", "configRuleName", "organizationConfigRuleName", "alarmName", "resourceArn")
            else value) for key, value in params.items()})
    assert _findings(other) == [], "the same call on another team's resource is quiet"


def test_every_trigger_event_name_is_covered_here():
    covered = {(source, base_event_name(source, name)) for source, name, _ in CASES}
    covered.add(("lambda.amazonaws.com", "DeleteEventSourceMapping"))  # its own test below: read from the response
    assert covered == {(t.event_source, name) for t in rule.META.triggers for name in t.event_names}


def test_lambda_descriptions_say_what_the_change_does():
    def run(name, params, response=None):
        return _run(changed(CONFIGURATION, eventName=name, requestParameters=params, responseElements=response))

    throttled = run("PutFunctionConcurrency20171031", LAMBDA["PutFunctionConcurrency20171031"])
    assert "reserved concurrency of the Lambda function identity-auditor-cloudtrail-evaluator to 0" in \
        throttled.description and "no longer runs" in throttled.description
    assert "may be throttled" in run("PutFunctionConcurrency20171031",
                                     {"functionName": EVALUATOR, "reservedConcurrentExecutions": 5}).description
    backdoor = run("AddPermission20150331v2", LAMBDA["AddPermission20150331v2"])
    assert backdoor.resource_id == EVALUATOR_ARN  # the partial ARN completed with the record's Region
    assert backdoor.details["Principal"] == "*" and "granted * permission" in backdoor.description
    assert run("DeleteFunction20150331", LAMBDA["DeleteFunction20150331"]).description.startswith(
        "stratus-red-team-ec2-steal-credentials-role/i-0dbc91f429e48eeed deleted the Lambda function")
    lifted = run("PutResourcePolicy", LAMBDA["PutResourcePolicy"])
    assert lifted.resource_id == EVALUATOR_ARN and lifted.details["Policy"].startswith('{"Version"')
    assert "replaced the resource policy" in lifted.description and "forged" in lifted.description
    alias = run("CreateAlias20150331", LAMBDA["CreateAlias20150331"])
    assert alias.details["AliasName"] == "live" and "its own" in alias.description
    assert run("CreateFunctionUrlConfig20211031", LAMBDA["CreateFunctionUrlConfig20211031"]).details["AuthType"] == "NONE"
    deleted = run("DeleteResourcePolicy", LAMBDA["DeleteResourcePolicy"])
    assert deleted.resource_id == EVALUATOR_ARN and "deleted the resource policy" in deleted.description
    versioned = run("UpdateFunctionCode20150331v2", {"functionName": EVALUATOR},
                    {"functionArn": f"{EVALUATOR_ARN}:7", "codeSha256": "abc="})
    assert versioned.resource_id == EVALUATOR_ARN and versioned.details["CodeSha256"] == "abc="


def test_deleting_the_publishers_event_source_mapping_is_read_from_the_response():
    publisher = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:identity-auditor-findings-publisher"
    record = changed(CONFIGURATION, eventName="DeleteEventSourceMapping20150331",
                     requestParameters={"uUID": "14e0db71-5d35-4eb5-b481-8945cf9d10c2"},
                     responseElements={"uUID": "14e0db71-5d35-4eb5-b481-8945cf9d10c2", "state": "Deleting",
                                       "functionArn": publisher, "eventSourceArn": QUEUE_ARN})
    violation = _run(record)
    assert violation.resource_id == publisher
    assert violation.details["EventSourceMappingUuid"] == "14e0db71-5d35-4eb5-b481-8945cf9d10c2"
    assert violation.details["EventSourceArn"] == QUEUE_ARN
    # The queue alone is enough: a mapping from the auditor's queue to someone else's function.
    elsewhere = changed(record, responseElements={"functionArn": None, "eventSourceArn": QUEUE_ARN})
    assert _run(elsewhere).resource_id == QUEUE_ARN and _run(elsewhere).resource_type == "AwsSqsQueue"
    # Only the request (no response): nothing names the mapping's function or queue.
    assert _run(changed(record, responseElements=None)) is None


def test_eventbridge_rules_on_the_auditors_bus_and_disabling_put_rule():
    on_bus = changed(DISABLE, eventName="PutRule", requestParameters={
        "name": "forward-everything", "eventBusName": f"arn:aws:events:us-east-1:{ACCOUNT}:event-bus/identity-auditor-organization",
        "state": "ENABLED", "eventPattern": "{\"source\":[{\"prefix\":\"aws.\"}]}"})
    violation = _run(on_bus)
    assert violation.resource_id == f"arn:aws:events:us-east-1:{ACCOUNT}:rule/identity-auditor-organization/forward-everything"
    disabled = changed(DISABLE, eventName="PutRule", requestParameters={"name": "identity-auditor-iam-api",
                                                                        "state": "DISABLED"},
                       responseElements={"ruleArn": f"arn:aws:events:us-east-1:{ACCOUNT}:rule/identity-auditor-iam-api"})
    assert "it is now disabled" in _run(disabled).description
    assert _run(changed(DISABLE, requestParameters={"name": "team-nightly-job"})) is None


# -- who is the stack's own deployment ------------------------------------------------------------------------------

def test_cloudformation_updating_the_auditors_function_is_the_stack_itself():
    assert BY_CLOUDFORMATION["userIdentity"]["invokedBy"] == "cloudformation.amazonaws.com"
    assert _findings(BY_CLOUDFORMATION) == []
    deployer = Context(now=NOW, auditor=AuditorResources(name_prefixes=("identity-auditor-",),
                                                          deployers=("arn:aws:iam::*:role/cfn-deploy-role",)))
    assert _findings(BY_CLOUDFORMATION, deployer) == []


def test_cloudformation_driven_by_someone_other_than_the_listed_deployers_fires():
    other_deployers = Context(now=NOW, auditor=AuditorResources(name_prefixes=("identity-auditor-",),
                                                                deployers=("arn:aws:iam::*:role/pipeline",)))
    [finding] = _findings(BY_CLOUDFORMATION, other_deployers)
    assert "cfn-deploy-role/AWSCloudFormation through CloudFormation replaced the code" in finding.description
    assert finding.details["InvokedBy"] == "cloudformation.amazonaws.com"


def test_the_cloudformation_role_used_directly_is_not_cloudformation():
    direct = changed(BY_CLOUDFORMATION, sourceIPAddress="203.0.113.9", userAgent="aws-cli/2.13.0",
                     userIdentity={k: v for k, v in BY_CLOUDFORMATION["userIdentity"].items() if k != "invokedBy"})
    assert len(_findings(direct)) == 1
    allowed = Context(now=NOW, auditor=AUDITOR,
                      policy=OrgPolicy(allow={rule.META.id: ("arn:aws:iam::*:role/cfn-deploy-role",)}))
    assert _findings(direct, allowed) == []


def test_allow_listed_policy_editors_are_skipped_by_the_engine():
    editors = OrgPolicy(allow={rule.META.id: (f"arn:aws:iam::{ACCOUNT}:user/bert-jan",)})
    assert len(_findings(PUT_PARAMETER)) == 1
    assert _findings(PUT_PARAMETER, Context(now=NOW, auditor=AUDITOR, policy=editors)) == []


# -- quiet cases ---------------------------------------------------------------------------------------------------

def test_failed_calls_are_quiet():
    assert DISABLE_FAILED["errorCode"] == "AccessDeniedException"
    assert _findings(DISABLE_FAILED) == []
    throttled = corpus_record("invictus", "PutParameter", eventID="111f1ab1-d904-4aab-bc84-95b9ad3b3357")
    assert _run(changed(throttled, requestParameters={"name": "/identity-auditor/policy"})) is None


def test_other_teams_resources_are_quiet():
    assert OTHER_FUNCTION["eventName"] == "UpdateFunctionCode20150331v2"  # the real invictus record
    assert _findings(OTHER_FUNCTION) == []
    assert _findings(OTHER_QUEUE) == []
    other_app = changed(DEPLOYMENT, requestParameters={**DEPLOYMENT["requestParameters"], "applicationId": "zzz9999"})
    assert _run(other_app) is None
    assert _run(changed(PUT_PARAMETER, requestParameters={"name": "/payments/db-password"})) is None


def test_identity_center_calls_are_quiet():
    sso = changed(DISABLE, userIdentity={**DISABLE["userIdentity"], "invokedBy": "sso.amazonaws.com"})
    assert _run(sso) is None


@pytest.mark.parametrize("params", [None, {}, {"name": None}, {"name": ["identity-auditor-iam-api"]},
                                    {"functionName": 42}, {"queueUrl": {"x": 1}}, {"applicationId": "abc1234"}])
def test_missing_or_malformed_parameters_are_quiet_not_errors(params):
    for source, name in (("events.amazonaws.com", "DisableRule"), ("lambda.amazonaws.com", "DeleteFunction20150331"),
                         ("sns.amazonaws.com", "DeleteTopic"), ("sqs.amazonaws.com", "PurgeQueue"),
                         ("ssm.amazonaws.com", "DeleteParameter"), ("appconfig.amazonaws.com", "StartDeployment")):
        assert _findings(changed(DISABLE, eventSource=source, eventName=name, requestParameters=params)
                         if params is not None else {**DISABLE, "eventSource": source, "eventName": name,
                                                     "requestParameters": None}) == []


def test_long_attribute_values_are_clipped():
    record = changed(DISABLE, eventSource="sns.amazonaws.com", eventName="SetTopicAttributes",
                     requestParameters={"topicArn": TOPIC_ARN, "attributeName": "Policy", "attributeValue": "x" * 5000})
    value = _run(record).details["AttributeValue"]
    assert len(value) == 1024 and value.endswith("…")


def test_a_grant_a_service_takes_for_itself_on_the_auditors_key_is_quiet_any_other_grant_is_not():
    """Review: DynamoDB (the de-duplication table) and Lambda (the functions' encrypted settings) create grants on
    the auditor's key while serving the stack's own calls (``invokedBy`` the service, the grantee its own service
    principal, as KMS's developer guide describes for DynamoDB): deploying the stack paged CRITICAL."""
    def grant(invoked_by, grantee):
        identity = dict(KEY_DELETION["userIdentity"], invokedBy=invoked_by)
        return changed(KEY_DELETION, eventName="CreateGrant", userIdentity=identity, sourceIPAddress=invoked_by,
                       requestParameters={"keyId": KEY_ARN, "granteePrincipal": grantee,
                                          "operations": ["Decrypt", "GenerateDataKey"]},
                       responseElements={"grantId": "0ab0ac0d0b000f00ea00cc0a0e00fc00bce000c000f0000000c0bc0"})

    assert _findings(grant("dynamodb.amazonaws.com", "dynamodb.us-east-1.amazonaws.com")) == []
    assert _findings(grant("lambda.amazonaws.com", "lambda.amazonaws.com")) == []
    # the service asked, but the grantee is someone else; or no service asked at all
    [other] = _findings(grant("dynamodb.amazonaws.com", "arn:aws:iam::999999999999:root"))
    assert other.severity is Severity.CRITICAL and other.details["GranteePrincipal"] == "arn:aws:iam::999999999999:root"
    assert len(_findings(grant(None, "dynamodb.us-east-1.amazonaws.com"))) == 1


def test_what_the_config_alarm_mapping_and_key_changes_say():
    """Review: the details and descriptions of the Config, CloudWatch, event source mapping and KMS readers."""
    def run(source, name, params):
        return _run(changed(DISABLE, eventSource=source, eventName=name, requestParameters=params))

    loosened = run("config.amazonaws.com", "PutConfigRule", CONFIG["PutConfigRule"])
    assert loosened.resource_id == "identity-auditor-iam-access-key-not-rotated"  # no ARN in the record: the name
    assert '"access_key_max_age_days":"3650"' in loosened.details["InputParameters"]
    assert "input parameters" in loosened.description
    silenced = run("monitoring.amazonaws.com", "SetAlarmState", ALARMS["SetAlarmState"])
    assert silenced.details["StateValue"] == "OK"
    stopped = run("lambda.amazonaws.com", "UpdateEventSourceMapping20150331", LAMBDA["UpdateEventSourceMapping20150331"])
    assert stopped.details["Enabled"] == "false" and "it is disabled: queued findings are no longer published" in \
        stopped.description
    granted = run("kms.amazonaws.com", "CreateGrant", KMS["CreateGrant"])
    assert granted.details["GranteePrincipal"] == "arn:aws:iam::999999999999:root"
    deleted = run("kms.amazonaws.com", "ScheduleKeyDeletion", KMS["ScheduleKeyDeletion"])
    assert deleted.details["PendingWindowInDays"] == "7" and deleted.resource_type == "AwsKmsKey"
