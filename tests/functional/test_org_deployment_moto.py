"""The organisation deployment in an emulated organisation (moto): forwarder.yaml created with CloudFormation in
member accounts and regions, the main template (after the SAM transform) created with OrganizationId set in the
security account, events travelling from a member account's default bus to the central bus, and the evaluators
judging events and identity state of another account and region than their own.

Accounts: the security (central) account is moto's default 123456789012 (also the FakeLambdaContext's); a
member account is reached through STS AssumeRole, as moto answers in the role's account.
"""

from __future__ import annotations

import ast
import copy
import io
import json
import os
import subprocess
import zipfile
from datetime import datetime, timezone

import boto3
import pytest
from asff_validator import assert_valid_asff
from freezegun import freeze_time
from identity_auditor.archive.inputs import as_eventbridge
from identity_auditor.aws.member_access import MemberAccess
from identity_auditor.config_rule.adapter import (
    Clients,
    ConfigAdapter,
    clients_for,
    parse_invocation,
    put_evaluations,
)
from identity_auditor.engine.registry import REGISTRY
from identity_auditor.model.contract import Context
from identity_auditor.model.home import Home
from identity_auditor.model.policy import DEFAULT_POLICY
from moto import mock_aws
from support import ROOT, canonical, corpus_records, load_handler_module

CENTRAL = "123456789012"
MEMBER = "210987654321"
INVICTUS = "123837392027"  # the account of the invictus archive
ORGANIZATION = "o-a1b2c3d4e5"
STACK = "identity-auditor"
CENTRAL_BUS = f"{STACK}-organization"
FORWARDER = (ROOT / "forwarder.yaml").read_text()
SAM_PYTHON = ROOT / ".venv-sam" / "bin" / "python"
PLACEHOLDER_BUCKET = "identity-auditor-placeholder"  # scripts/sam_transform.py's S3 locations




def member_session(account: str = MEMBER) -> boto3.Session:
    credentials = boto3.client("sts", region_name="us-east-1").assume_role(
        RoleArn=f"arn:aws:iam::{account}:role/OrganizationAccountAccessRole", RoleSessionName="stackset-test",
    )["Credentials"]
    return boto3.Session(aws_access_key_id=credentials["AccessKeyId"],
                         aws_secret_access_key=credentials["SecretAccessKey"],
                         aws_session_token=credentials["SessionToken"])


AUDITOR_ROLES = [f"arn:aws:iam::{CENTRAL}:role/identity-auditor/{STACK}/{STACK}-ConfigRuleEvaluatorRole-1AB2CD",
                 f"arn:aws:iam::{CENTRAL}:role/identity-auditor/{STACK}/{STACK}-FindingsPublisherRole-3EF4GH"]


def create_forwarder(session, region: str, *, bus_arn: str | None = None, **parameters) -> dict:
    """forwarder.yaml as a StackSet instance would create it (the stack name is the StackSet's kind)."""
    values = {
        "CentralEventBusArn": bus_arn or f"arn:aws:events:us-east-1:{CENTRAL}:event-bus/{CENTRAL_BUS}",
        "CentralAccountId": CENTRAL,
        "CentralStackName": STACK,
        "AuditorRoleArns": ",".join(AUDITOR_ROLES),
        "IdentityCenterRegion": "eu-west-1",
        **parameters,
    }
    cloudformation = session.client("cloudformation", region_name=region)
    cloudformation.create_stack(
        StackName="StackSet-identity-auditor-forwarder-0123abcd", TemplateBody=FORWARDER,
        Capabilities=["CAPABILITY_NAMED_IAM"],
        Parameters=[{"ParameterKey": key, "ParameterValue": value} for key, value in values.items()],
    )
    (stack,) = cloudformation.describe_stacks(StackName="StackSet-identity-auditor-forwarder-0123abcd")["Stacks"]
    assert stack["StackStatus"] == "CREATE_COMPLETE", stack.get("StackStatusReason")
    return stack


def rules_with_targets(events) -> dict[str, tuple[dict, list[dict]]]:
    return {rule["Name"]: (rule, events.list_targets_by_rule(Rule=rule["Name"])["Targets"])
            for rule in events.list_rules()["Rules"]}


def expected_routes(region: str, identity_center: str = "eu-west-1") -> set[str]:
    return {route.name for route in REGISTRY.routes()
            if route.scope == "regional" or (route.scope == "global" and region == "us-east-1")
            or (route.scope == "identity-center" and region == identity_center)}


def _document(response: dict) -> dict:
    """A role's inline policy; moto's CloudFormation stores it as the Python repr of the template's mapping."""
    document = response["PolicyDocument"]
    if isinstance(document, str):
        try:
            return json.loads(document)
        except json.JSONDecodeError:
            return ast.literal_eval(document)
    return document


@pytest.fixture
def aws(monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        yield


# -- forwarder.yaml in member accounts ---------------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore:Tried to parse")
def test_forwarder_in_the_global_events_region_forwards_global_and_regional_events_and_creates_the_member_role(aws):
    session = member_session()
    create_forwarder(session, "us-east-1")

    rules = rules_with_targets(session.client("events", region_name="us-east-1"))
    assert set(rules) == {f"{STACK}-{name}" for name in expected_routes("us-east-1")}
    by_name = {route.name: route for route in REGISTRY.routes()}
    for name, (rule, targets) in rules.items():
        route = by_name[name.removeprefix(f"{STACK}-")]
        assert canonical(json.loads(rule["EventPattern"])) == canonical(route.pattern)
        assert rule["State"] == ("ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS" if route.all_management_events
                                 else "ENABLED")
        (target,) = targets
        assert target["Arn"] == f"arn:aws:events:us-east-1:{CENTRAL}:event-bus/{CENTRAL_BUS}"
        assert target["RoleArn"].startswith(f"arn:aws:iam::{MEMBER}:role/")
        assert target["DeadLetterConfig"]["Arn"].startswith(f"arn:aws:sqs:us-east-1:{MEMBER}:")
        assert target["RetryPolicy"] == {"MaximumRetryAttempts": 185, "MaximumEventAgeInSeconds": 86400}

    iam = session.client("iam")
    member_role = iam.get_role(RoleName="identity-auditor-member")["Role"]
    (trust,) = member_role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"AWS": f"arn:aws:iam::{CENTRAL}:root"}
    assert trust["Condition"] == {"ArnEquals": {"aws:PrincipalArn": AUDITOR_ROLES}}
    policies = {name: _document(iam.get_role_policy(RoleName="identity-auditor-member", PolicyName=name))
                for name in iam.list_role_policies(RoleName="identity-auditor-member")["PolicyNames"]}
    assert set(policies) == {"import-findings", "read-identity-state", "read-identity-center"}
    (import_findings,) = policies["import-findings"]["Statement"]
    assert import_findings["Resource"] == f"arn:aws:securityhub:*:{MEMBER}:product/{MEMBER}/default"

    forwarder_role_arn = next(iter(rules.values()))[1][0]["RoleArn"]
    forwarder_role = forwarder_role_arn.rsplit("/", 1)[1]
    (policy_name,) = iam.list_role_policies(RoleName=forwarder_role)["PolicyNames"]
    (statement,) = _document(iam.get_role_policy(RoleName=forwarder_role, PolicyName=policy_name))["Statement"]
    assert statement == {"Sid": "PutEventsOnCentralBus", "Effect": "Allow", "Action": "events:PutEvents",
                         "Resource": f"arn:aws:events:us-east-1:{CENTRAL}:event-bus/{CENTRAL_BUS}"}
    queue_url = session.client("sqs", region_name="us-east-1").list_queues()["QueueUrls"][0]
    attributes = session.client("sqs", region_name="us-east-1").get_queue_attributes(
        QueueUrl=queue_url, AttributeNames=["All"])["Attributes"]
    assert attributes["KmsMasterKeyId"] and attributes["MessageRetentionPeriod"] == "1209600"


@pytest.mark.filterwarnings("ignore:Tried to parse")
def test_forwarder_in_other_regions_forwards_regional_and_identity_center_events_only(aws):
    session = member_session()
    create_forwarder(session, "eu-west-1", DeadLetterQueueEncryption="SQS")  # the Identity Center region
    create_forwarder(session, "ap-southeast-2")

    for region in ("eu-west-1", "ap-southeast-2"):
        rules = rules_with_targets(session.client("events", region_name=region))
        assert set(rules) == {f"{STACK}-{name}" for name in expected_routes(region)}, region
        assert f"{STACK}-iam-api" not in rules  # IAM events reach EventBridge only in us-east-1
    assert "sso-api" in expected_routes("eu-west-1") and "sso-api" not in expected_routes("ap-southeast-2")
    roles = [role["RoleName"] for role in session.client("iam").list_roles()["Roles"]]
    assert "identity-auditor-member" not in roles  # one per account, from GlobalEventsRegion
    queue_url = session.client("sqs", region_name="eu-west-1").list_queues()["QueueUrls"][0]
    attributes = session.client("sqs", region_name="eu-west-1").get_queue_attributes(
        QueueUrl=queue_url, AttributeNames=["All"])["Attributes"]
    assert "KmsMasterKeyId" not in attributes  # DeadLetterQueueEncryption=SQS: SSE-SQS, no key of its own


def test_forwarder_in_the_central_account_creates_nothing(aws):
    central = boto3.Session()  # moto's default account is the central one here
    create_forwarder(central, "us-east-1")

    assert boto3.client("events", region_name="us-east-1").list_rules()["Rules"] == []
    assert boto3.client("iam").list_roles()["Roles"] == []
    assert boto3.client("sqs", region_name="us-east-1").list_queues().get("QueueUrls", []) == []


# -- the main template after the SAM transform, with OrganizationId set -----------------------------------------------


@pytest.fixture(scope="module")
def transformed(tmp_path_factory) -> str:
    """template.yaml transformed by samtranslator (.venv-sam, offline: scripts/sam_transform.py), as JSON."""
    if not SAM_PYTHON.exists():
        pytest.skip("needs the SAM CLI virtualenv (.venv-sam: make sam-venv)")
    output = tmp_path_factory.mktemp("sam") / "template.json"
    environment = {**os.environ, "SAM_CLI_TELEMETRY": "0", "AWS_EC2_METADATA_DISABLED": "true"}
    subprocess.run([str(SAM_PYTHON), str(ROOT / "scripts" / "sam_transform.py"), str(ROOT / "template.yaml"),
                    "-o", str(output)], check=True, env=environment, timeout=180, capture_output=True)
    return output.read_text()


def create_central_stack(template_body: str, **parameters) -> dict:
    """The main stack in the security account; moto skips what it cannot emulate (the StackSet, the bus policy,
    the organisation Config rules, alarms, topic and queue policies): those are checked as template data."""
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket=PLACEHOLDER_BUCKET)
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.writestr("app.py", "def handler(event, context):\n    return event\n")
    resources = json.loads(template_body)["Resources"]
    for resource in resources.values():
        location = resource["Properties"].get("Code") or resource["Properties"].get("Content") or {}
        if location.get("S3Bucket") == PLACEHOLDER_BUCKET:
            s3.put_object(Bucket=PLACEHOLDER_BUCKET, Key=location["S3Key"], Body=archive.getvalue())
    cloudformation = boto3.client("cloudformation", region_name="us-east-1")
    cloudformation.create_stack(
        StackName=STACK, TemplateBody=template_body, Capabilities=["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"],
        Parameters=[{"ParameterKey": key, "ParameterValue": value} for key, value in parameters.items()],
    )
    (stack,) = cloudformation.describe_stacks(StackName=STACK)["Stacks"]
    assert stack["StackStatus"] == "CREATE_COMPLETE", stack.get("StackStatusReason")
    return {output["OutputKey"]: output["OutputValue"] for output in stack.get("Outputs", [])}


ORGANIZATION_PARAMETERS = {"OrganizationId": ORGANIZATION, "OrganizationalUnitIds": "ou-ab12-cdef3456",
                           "ForwarderRegions": "us-east-1,eu-west-1", "ConfigRulesScope": "organization"}


@pytest.mark.filterwarnings("ignore:Tried to parse")
def test_central_stack_creates_the_organization_bus_its_rules_and_a_bus_policy_for_the_organization(aws, transformed):
    outputs = create_central_stack(transformed, **ORGANIZATION_PARAMETERS)

    events = boto3.client("events", region_name="us-east-1")
    bus_arn = f"arn:aws:events:us-east-1:{CENTRAL}:event-bus/{CENTRAL_BUS}"
    assert outputs["OrganizationEventBusArn"] == bus_arn
    assert events.describe_event_bus(Name=CENTRAL_BUS)["Arn"] == bus_arn
    rules = {rule["Name"]: rule for rule in events.list_rules(EventBusName=CENTRAL_BUS)["Rules"]}
    assert set(rules) == {f"{STACK}-{route.name}" for route in REGISTRY.routes()}
    function_arn = boto3.client("lambda", region_name="us-east-1").get_function(
        FunctionName=f"{STACK}-cloudtrail-evaluator")["Configuration"]["FunctionArn"]
    for route in REGISTRY.routes():
        rule = rules[f"{STACK}-{route.name}"]
        assert canonical(json.loads(rule["EventPattern"])) == canonical(route.pattern)
        (target,) = events.list_targets_by_rule(Rule=rule["Name"], EventBusName=CENTRAL_BUS)["Targets"]
        assert target["Arn"] == function_arn
    # the routes, and the heartbeat's schedule (HeartbeatRule); the default bus keeps its own
    assert len(events.list_rules()["Rules"]) == len(REGISTRY.routes()) + 1

    # moto's CloudFormation has no AWS::Events::EventBusPolicy: apply the transformed template's statement.
    policy = json.loads(transformed)["Resources"]["OrganizationEventBusPolicy"]["Properties"]
    statement = {**policy["Statement"], "Sid": policy["StatementId"], "Resource": bus_arn,
                 "Condition": {"StringEquals": {"aws:PrincipalOrgID": ORGANIZATION}}}
    assert policy["Statement"]["Condition"] == {"StringEquals": {"aws:PrincipalOrgID": {"Ref": "OrganizationId"}}}
    events.put_permission(EventBusName=CENTRAL_BUS, Policy=json.dumps({"Version": "2012-10-17", "Statement": [statement]}))
    (stored,) = json.loads(events.describe_event_bus(Name=CENTRAL_BUS)["Policy"])["Statement"]
    assert stored["Principal"] == "*" and stored["Action"] == "events:PutEvents"
    assert stored["Condition"] == {"StringEquals": {"aws:PrincipalOrgID": ORGANIZATION}}


@pytest.mark.filterwarnings("ignore:Tried to parse")
def test_central_stack_with_the_defaults_is_the_single_account_deployment(aws, transformed):
    outputs = create_central_stack(transformed)

    events = boto3.client("events", region_name="us-east-1")
    assert [bus["Name"] for bus in events.list_event_buses()["EventBuses"]] == ["default"]
    assert "OrganizationEventBusArn" not in outputs
    assert len(events.list_rules()["Rules"]) == len(REGISTRY.routes()) + 1  # and the heartbeat's schedule
    variables = boto3.client("lambda", region_name="us-east-1").get_function(
        FunctionName=f"{STACK}-config-rule-evaluator")["Configuration"]["Environment"]["Variables"]
    assert variables["MEMBER_ROLE_NAME"] == ""


def _sqs_target(events, queue_arn: str) -> None:
    """The central bus rules deliver to a queue instead of the function (moto cannot invoke Lambda)."""
    for rule in events.list_rules(EventBusName=CENTRAL_BUS)["Rules"]:
        events.remove_targets(Rule=rule["Name"], EventBusName=CENTRAL_BUS, Ids=["CloudTrailEvaluator"])
        events.put_targets(Rule=rule["Name"], EventBusName=CENTRAL_BUS, Targets=[{"Id": "Queue", "Arn": queue_arn}])


def _put(events, record: dict) -> None:
    envelope = as_eventbridge(record)
    response = events.put_events(Entries=[{"Source": envelope["source"], "DetailType": envelope["detail-type"],
                                           "Detail": json.dumps(record)}])
    assert response["FailedEntryCount"] == 0


def _as_member(record: dict, region: str | None = None) -> dict:
    """A real invictus record as it would be in the member account (and another region)."""
    moved = json.loads(json.dumps(record).replace(INVICTUS, MEMBER))
    if region:
        moved["awsRegion"] = region
    return moved


def _record(event_id: str) -> dict:
    return copy.deepcopy(next(record for record in corpus_records("invictus") if record["eventID"] == event_id))


CONSOLE_LOGIN = "70e5932e-9022-4b38-837e-ca10dad94eb7"  # ConsoleLogin without MFA (signin, regional)
CREATE_ACCESS_KEY = "64b7de64-bf53-47ae-b7e3-d30cb1b5136e"  # iam, global: us-east-1 only
PUT_EVENT_SELECTORS = "076e96d5-2983-473f-920a-2fc2d7e02777"  # cloudtrail, regional
RUN_INSTANCES = "86eac0ac-8521-4126-aa32-a22f2b74d02e"  # ec2, regional


@pytest.mark.filterwarnings("ignore:Tried to parse")
def test_events_travel_from_member_accounts_and_regions_to_the_central_bus_and_its_rules(aws, transformed):
    outputs = create_central_stack(transformed, **ORGANIZATION_PARAMETERS)
    sqs = boto3.client("sqs", region_name="us-east-1")
    queue_url = sqs.create_queue(QueueName="delivered")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    _sqs_target(boto3.client("events", region_name="us-east-1"), queue_arn)
    session = member_session()
    for region in ("us-east-1", "eu-west-2"):
        create_forwarder(session, region, bus_arn=outputs["OrganizationEventBusArn"])
    us_east_1, eu_west_2 = (session.client("events", region_name=region) for region in ("us-east-1", "eu-west-2"))

    _put(us_east_1, _as_member(_record(CREATE_ACCESS_KEY)))  # IAM, from GlobalEventsRegion: forwarded
    _put(eu_west_2, _as_member(_record(CONSOLE_LOGIN), "eu-west-2"))  # regional sign-in: forwarded
    _put(eu_west_2, _as_member(_record(PUT_EVENT_SELECTORS), "eu-west-2"))  # regional CloudTrail: forwarded
    _put(eu_west_2, _as_member(_record(CREATE_ACCESS_KEY), "eu-west-2"))  # no IAM rule outside us-east-1
    unwanted = _as_member(_record(RUN_INSTANCES), "eu-west-2")
    unwanted["eventName"] = "DescribeInstances"  # a name no rule listens to
    _put(eu_west_2, unwanted)

    delivered = []
    while messages := sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages"):
        for message in messages:
            delivered.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    by_event = {(event["detail"]["eventID"], event["detail"]["awsRegion"]) for event in delivered}
    assert by_event == {(CREATE_ACCESS_KEY, "us-east-1"), (CONSOLE_LOGIN, "eu-west-2"),
                        (PUT_EVENT_SELECTORS, "eu-west-2")}
    for event in delivered:  # the record itself travels unchanged (moto rewrites the envelope's account)
        assert event["detail"]["recipientAccountId"] == MEMBER


# -- the evaluators on another account's and region's events and state ------------------------------------------------


CROSS_ACCOUNT = [  # (record, region it happened in, rule it breaks)
    (CONSOLE_LOGIN, "eu-west-2", "signin_console_login_without_mfa"),
    (PUT_EVENT_SELECTORS, "ap-southeast-2", "cloudtrail_logging_disabled"),
    (RUN_INSTANCES, "eu-central-1", "ec2_imdsv1_allowed"),
    (CREATE_ACCESS_KEY, "us-east-1", "iam_access_key_created"),
]


@pytest.mark.parametrize("event_id,region,rule_id", CROSS_ACCOUNT, ids=[case[2] for case in CROSS_ACCOUNT])
def test_cloudtrail_evaluator_judges_events_of_another_account_and_region(account, lambda_context, event_id, region,
                                                                           rule_id):
    """A forwarded event keeps its member account and region in the envelope (and the record): the findings
    are about that account and region, although the function runs in 123456789012, us-east-1."""
    module = load_handler_module()
    record = _as_member(_record(event_id), region)
    event = as_eventbridge(record)
    assert (event["account"], event["region"]) == (MEMBER, region)
    assert lambda_context.invoked_function_arn.split(":")[3:5] == ["us-east-1", CENTRAL]

    result = module.handler(event, lambda_context)

    assert result["ruleErrors"] == []
    matching = [finding_id for finding_id in result["findings"] if finding_id.startswith(f"{rule_id}/")]
    assert matching, result["findings"]
    for finding_id in result["findings"]:
        assert finding_id.split("/")[1:3] == [MEMBER, region]
    imported = {finding["Id"]: finding for finding in account.findings()}
    for finding_id in result["findings"]:
        finding = imported[finding_id]
        assert_valid_asff(finding)
        assert finding["AwsAccountId"] == MEMBER
        for resource in finding["Resources"]:
            assert resource["Region"] == region
            assert INVICTUS not in json.dumps(resource)


def _member_invocation(when: str) -> dict:
    """An organisation rule's periodic invocation as AWS Config sends it from the member account."""
    sample = (ROOT / "events" / "config" / "iam_access_key_not_rotated_periodic__constructed.json").read_text()
    event = json.loads(sample.replace("123456789012", MEMBER))
    event["configRuleArn"] = (f"arn:aws:config:us-east-1:{MEMBER}:config-rule/aws-service-rule/"
                              "config-multiaccountsetup.amazonaws.com/config-rule-k3y9ro")
    event["configRuleName"] = "OrgConfigRule-identity-auditor-iam-access-key-not-rotated-x1y2z3"
    invoking = json.loads(event["invokingEvent"])
    invoking["notificationCreationTime"] = when
    event["invokingEvent"] = json.dumps(invoking)
    return event


def test_config_evaluation_of_a_member_account_happens_through_its_member_role(aws):
    with freeze_time("2026-01-05T10:00:00Z"):
        member_iam = member_session().client("iam")
        member_iam.create_user(UserName="alice")
        member_iam.create_access_key(UserName="alice")
        boto3.client("iam").create_user(UserName="central-only")  # the auditor's own account

    with freeze_time("2026-06-01T06:00:00Z"):
        access = MemberAccess("identity-auditor-member", home_account=CENTRAL, region="us-east-1")
        invocation = parse_invocation(_member_invocation("2026-06-01T06:00:00.000Z"))
        held: dict = {}
        clients = clients_for(held, "us-east-1", invocation.account_id, access.session(invocation.account_id))
        assert clients_for(held, "us-east-1", invocation.account_id, access.session(invocation.account_id)) is clients
        assert access.assumed == 1  # the session is cached, and so are the clients built on it
        run = ConfigAdapter().evaluate(invocation, Context(now=datetime.now(timezone.utc), policy=DEFAULT_POLICY),
                                       clients, Home(CENTRAL, "us-east-1", "aws"))
        calls = put_evaluations(clients.config, invocation, run.evaluations)

    assert calls == 1 and not run.failures
    [evaluation] = run.evaluations  # the member's user only; the central account's user is not there
    assert evaluation.compliance.value == "NON_COMPLIANT"
    assert evaluation.finding.account_id == MEMBER
    assert MEMBER in evaluation.finding.finding_id
    assert evaluation.finding.resource_id == f"arn:aws:iam::{MEMBER}:user/alice"
    assert evaluation.config_evaluation()["ComplianceResourceType"] == "AWS::IAM::User"


def test_config_clients_keep_the_deduplication_table_in_the_auditors_account(aws):
    boto3.client("dynamodb", region_name="us-east-1").create_table(
        TableName="dedup", KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST")
    clients = Clients("us-east-1", session=member_session())

    assert boto3.client("sts").get_caller_identity()["Account"] == CENTRAL
    member_caller = clients.session.client("sts", region_name="us-east-1").get_caller_identity()["Account"]
    assert member_caller == MEMBER
    assert clients.dynamodb.list_tables()["TableNames"] == ["dedup"]  # the central account's table
    assert Clients("us-east-1").session is None
