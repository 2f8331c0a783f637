"""The deployed delivery path end to end: evaluator -> findings queue -> publisher -> Security Hub, SNS."""

from __future__ import annotations

import json

from asff_validator import assert_valid_asff
from pipeline import ImportSpy, error_response, inject
from support import FakeLambdaContext, invictus_event

LOGIN_WITHOUT_MFA = "70e5932e-9022-4b38-837e-ca10dad94eb7"
HOME = "123456789012"


def test_a_finding_travels_through_the_queue_to_security_hub_and_then_sns(pipeline, evaluator, account):
    result = evaluator.handler(invictus_event(LOGIN_WITHOUT_MFA), FakeLambdaContext())

    assert result["delivered"] == {"queue": 1}
    assert account.findings() == [] and account.alerts() == []  # nothing leaves before the publisher runs
    assert pipeline.depth() == 1

    run = pipeline.drain()

    assert (run.invocations, run.deleted, run.returned) == (1, 1, 0)
    [finding] = account.findings()
    assert_valid_asff(finding)
    assert finding["GeneratorId"] == "signin_console_login_without_mfa"
    assert finding["AwsAccountId"] == HOME  # the event's account has no member role: imported here
    assert finding["ProductFields"]["identity-auditor/RecordedAccountId"] == "123837392027"
    [alert] = account.alerts()
    assert alert["MessageAttributes"]["rule_id"]["Value"] == "signin_console_login_without_mfa"
    assert finding["Id"] in alert["Message"] or "Security Hub" in alert["Message"]
    assert pipeline.depth() == 0 and pipeline.depth(pipeline.dlq_url) == 0


def test_the_alert_waits_for_a_successful_import(pipeline, evaluator, account):
    evaluator.handler(invictus_event(LOGIN_WITHOUT_MFA), FakeLambdaContext())
    publisher = pipeline.publisher_clients()
    securityhub = publisher._securityhub(HOME)
    inject(securityhub, "BatchImportFindings",
           lambda request: error_response(request, 400, "InvalidInputException", "injected: rejected"))

    run = pipeline.drain(max_invocations=1)

    assert run.returned == 1 and account.alerts() == [] and account.findings() == []
    assert pipeline.depth() == 1  # back on the queue for the next receive


def test_a_message_delivered_twice_imports_the_finding_once_and_pages_once(pipeline, evaluator, account):
    evaluator.handler(invictus_event(LOGIN_WITHOUT_MFA), FakeLambdaContext())
    [message] = pipeline.sqs.receive_message(QueueUrl=pipeline.queue_url, VisibilityTimeout=0)["Messages"]
    pipeline.sqs.send_message(QueueUrl=pipeline.queue_url, MessageBody=message["Body"])  # SQS at-least-once
    spy = ImportSpy(pipeline.publisher_clients()._securityhub(HOME))

    pipeline.drain()

    assert len(account.findings()) == 1
    assert sum(spy.accepted.values()) == 1  # both copies in one batch: imported once
    assert len(account.alerts()) == 1


def test_suppressed_findings_are_imported_but_never_queued_as_alerts(pipeline, account, monkeypatch, tmp_path):
    from support import load_handler_module

    policy = tmp_path / "policy.yaml"
    policy.write_text(
        "rules:\n  signin_console_login_without_mfa:\n    suppress:\n"
        "      - principal: '*stratus*'\n        reason: red-team exercise\n        owner: secops@example.com\n"
        "        expires: 2099-01-01\n"
    )
    import boto3

    boto3.client("ssm", region_name="us-east-1").put_parameter(Name="/identity-auditor/delivery-path-policy", Type="String",
                                                               Value=policy.read_text())
    monkeypatch.setenv("POLICY_SSM_PARAMETER", "/identity-auditor/delivery-path-policy")
    evaluator = load_handler_module()
    evaluator.handler(invictus_event(LOGIN_WITHOUT_MFA), FakeLambdaContext())
    [message] = pipeline.sqs.receive_message(QueueUrl=pipeline.queue_url, VisibilityTimeout=0)["Messages"]
    assert json.loads(message["Body"])["alert"] is None

    pipeline.drain()

    [finding] = account.findings()
    assert finding["Workflow"]["Status"] == "SUPPRESSED"
    assert account.alerts() == []


def test_an_event_of_a_member_account_and_region_ends_in_that_accounts_security_hub(
        pipeline, account, monkeypatch):
    """Organisation deployment: the forwarded envelope keeps its account and region; the publisher
    imports the finding in the member account through its member role, and the alert names it."""
    import boto3
    from identity_auditor.aws.member_access import member_role_arn
    from support import load_handler_module

    member = "210987654321"
    monkeypatch.setenv("MEMBER_ROLE_NAME", "identity-auditor-member")
    credentials = boto3.client("sts", region_name="us-east-1").assume_role(
        RoleArn=member_role_arn("aws", member, "identity-auditor-member"), RoleSessionName="test")["Credentials"]
    member_hub = boto3.Session(aws_access_key_id=credentials["AccessKeyId"],
                               aws_secret_access_key=credentials["SecretAccessKey"],
                               aws_session_token=credentials["SessionToken"]).client("securityhub", "us-east-1")
    member_hub.enable_security_hub()
    pipeline.publisher = __import__("pipeline").load_publisher()  # cold start with MEMBER_ROLE_NAME set
    event = invictus_event(LOGIN_WITHOUT_MFA)
    event["account"] = event["detail"]["recipientAccountId"] = member
    event["region"] = event["detail"]["awsRegion"] = "eu-west-2"
    event["detail"]["userIdentity"]["accountId"] = member

    result = load_handler_module().handler(event, FakeLambdaContext())
    pipeline.drain()

    assert result["findings"][0].startswith(f"signin_console_login_without_mfa/{member}/eu-west-2/")
    [finding] = member_hub.get_findings()["Findings"]
    assert finding["AwsAccountId"] == member
    assert finding["ProductArn"] == f"arn:aws:securityhub:us-east-1:{member}:product/{member}/default"
    assert finding["Resources"][0]["Region"] == "eu-west-2"
    assert account.findings() == []  # nothing about the member in the auditor's own account
    [alert] = account.alerts()
    assert alert["MessageAttributes"]["account_id"]["Value"] == member
