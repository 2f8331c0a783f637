"""make demo: the real CloudTrailEvaluator handler on every sample in events/, against an emulated AWS.

Starts a moto server on 127.0.0.1 and sets up what the SAM stack would: Security Hub, the findings
topic with a subscribed queue (standing in for the security team's inbox), the de-duplication table.
Then it runs the Lambda handler on each sample in events/cloudtrail/, delivers one event a second time
(it must not page again), and prints the findings as stored in Security Hub and the alerts the
subscriber received, in e-mail format. Finally a second deployment with AlertFormat=chat shows the
same kind of alert as an AWS Chatbot / Amazon Q Developer custom notification. No credentials needed:
everything stays on this machine.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import socket
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EVENTS = ROOT / "events" / "cloudtrail"
HANDLER = ROOT / "functions" / "cloudtrail_evaluator" / "cloudtrail_evaluator.py"
PUBLISHER = ROOT / "functions" / "findings_publisher" / "findings_publisher.py"
ACCOUNT = "123456789012"
REDELIVERED = "iam_attach_role_policy_reserved_role_by_sso_user__constructed.json"
SEVERITY_ORDER = {"CRITICAL": 0, "HIGH": 1, "MEDIUM": 2, "LOW": 3, "INFORMATIONAL": 4}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _offline_environment(endpoint: str) -> None:
    os.environ.update(
        {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SESSION_TOKEN": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_ENDPOINT_URL": endpoint,
            "POWERTOOLS_SERVICE_NAME": "identity-auditor",
            "POWERTOOLS_METRICS_NAMESPACE": "IdentityAuditor",
            "POWERTOOLS_LOG_LEVEL": "WARNING",
            "POWERTOOLS_METRICS_DISABLED": "true",
            "MOTO_IAM_LOAD_MANAGED_POLICIES": "true",  # AWS managed policies, as in a real account
        }
    )


class _Context:
    function_name = "identity-auditor-cloudtrail-evaluator"
    function_version = "$LATEST"
    invoked_function_arn = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:identity-auditor-cloudtrail-evaluator"
    memory_limit_in_mb = 256
    aws_request_id = "00000000-0000-4000-8000-000000000000"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 60_000


def main() -> int:
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # the emulator's request log is noise here
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        _offline_environment(f"http://127.0.0.1:{port}")
        return _run()
    finally:
        server.stop()


def _deployment(name: str, *, alert_format: str, security_hub: bool, dedup: bool):
    """Create the findings queue, the topic + subscribed queue (and the de-duplication table), point the
    handlers' settings at them and import the evaluator and the publisher afresh, as cold starts of that
    deployment would."""
    import boto3

    sns, sqs = boto3.client("sns"), boto3.client("sqs")
    findings_queue = sqs.create_queue(QueueName=f"{name}-findings-queue")["QueueUrl"]
    topic_arn = sns.create_topic(Name=f"{name}-findings")["TopicArn"]
    queue_url = sqs.create_queue(QueueName=f"{name}-inbox")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)
    table = ""
    if dedup:
        table = f"{name}-idempotency"
        boto3.client("dynamodb").create_table(
            TableName=table,
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
    environment = {
        "FINDINGS_TOPIC_ARN": topic_arn,
        "SECURITY_HUB_ENABLED": "true" if security_hub else "false",
        "ALERT_FORMAT": alert_format,
        "IDEMPOTENCY_TABLE": table,
        "FINDINGS_QUEUE_URL": findings_queue,
    }
    os.environ.update(environment)
    _DEPLOYMENTS[name] = environment
    app = _load(HANDLER, f"app_{name.replace('-', '_')}")
    publisher = _load(PUBLISHER, f"publisher_{name.replace('-', '_')}")
    return app, queue_url, lambda: _publish(findings_queue, publisher)


_DEPLOYMENTS: dict[str, dict] = {}


def _load(path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


class _PublisherContext(_Context):
    function_name = "identity-auditor-findings-publisher"
    invoked_function_arn = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:identity-auditor-findings-publisher"


def _publish(queue_url: str, publisher) -> tuple[int, int]:
    """Lambda's SQS event source for the publisher: batches of up to 500 queued findings, the
    partial-batch response honoured. Returns (invocations, findings published)."""
    import boto3

    sqs = boto3.client("sqs")
    invocations = published = 0
    while True:
        messages: list[dict] = []
        while len(messages) < 500:
            got = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0,
                                      VisibilityTimeout=60).get("Messages", [])
            if not got:
                break
            messages += got
        if not messages:
            return invocations, published
        records = [{"messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"],
                    "attributes": {}, "messageAttributes": {}, "md5OfBody": m["MD5OfBody"], "eventSource": "aws:sqs",
                    "eventSourceARN": f"arn:aws:sqs:us-east-1:{ACCOUNT}:findings", "awsRegion": "us-east-1"}
                   for m in messages]
        invocations += 1
        failed = {f["itemIdentifier"] for f in publisher.handler({"Records": records},
                                                                  _PublisherContext())["batchItemFailures"]}
        if failed:
            raise SystemExit(f"the publisher could not deliver {len(failed)} finding(s): see its log above")
        for message in messages:
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
        published += len(messages)


def _drain(queue_url: str) -> list[dict]:
    import boto3

    sqs = boto3.client("sqs")
    messages = []
    while True:
        batch = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
        if not batch.get("Messages"):
            return messages
        for message in batch["Messages"]:
            messages.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])


def _all_findings(securityhub) -> list[dict]:
    findings, token = [], None
    while True:
        page = securityhub.get_findings(MaxResults=100, **({"NextToken": token} if token else {}))
        findings += page["Findings"]
        token = page.get("NextToken")
        if not token:
            return findings


def _print_alert(envelope: dict) -> None:
    attributes = {k: v["Value"] for k, v in envelope.get("MessageAttributes", {}).items()}
    print(f"\nSubject: {envelope.get('Subject')}")
    print(f"Attributes: {json.dumps(attributes, sort_keys=True)}")
    print(textwrap.indent(envelope["Message"].rstrip(), "  | ", predicate=lambda line: True))


def _run() -> int:
    import boto3

    securityhub = boto3.client("securityhub")
    securityhub.enable_security_hub()
    app, inbox, publish = _deployment("identity-auditor", alert_format="email", security_hub=True, dedup=True)

    samples = sorted(EVENTS.glob("*.json"))
    print(f"Running the CloudTrailEvaluator handler on {len(samples)} sample events (emulated account {ACCOUNT})\n")
    for path in samples:
        result = app.handler(json.loads(path.read_text()), _Context())
        fired = len(result["findings"])
        print(f"  {path.name:<80} {fired} finding{'s' if fired != 1 else ''}")

    invocations, published = publish()
    print(f"\nThe evaluator queued the findings; the FindingsPublisher imported {published} of them in "
          f"{invocations} invocation(s) (up to 100 per BatchImportFindings call) and then sent the alerts.")
    alerts = _drain(inbox)
    app.handler(json.loads((EVENTS / REDELIVERED).read_text()), _Context())
    publish()
    again = _drain(inbox)
    print(f"\nDelivered {REDELIVERED} a second time (EventBridge delivers at least once): "
          f"{len(again)} new alert{'s' if len(again) != 1 else ''}, the same Security Hub finding.")

    findings = _all_findings(securityhub)
    print(f"\n=== Security Hub: {len(findings)} findings ===")
    for finding in sorted(findings, key=lambda f: (SEVERITY_ORDER[f["Severity"]["Label"]], f["GeneratorId"], f["Id"])):
        resource = finding["Resources"][0]
        workflow = " (SUPPRESSED)" if finding.get("Workflow", {}).get("Status") == "SUPPRESSED" else ""
        print(f"  {finding['Severity']['Label']:<9} {finding['GeneratorId']:<44} "
              f"{resource['Type']} {resource['Id'][:70]}{workflow}")
    example = next(f for f in findings if f["GeneratorId"] == "sso_reserved_role_modified")
    print("\nOne finding in full, as stored in Security Hub:")
    print(textwrap.indent(json.dumps(example, indent=2, sort_keys=True), "  "))

    print(f"\n=== E-mail alerts delivered to the security team's inbox: {len(alerts)} ===")
    for envelope in alerts:
        print(f"  {envelope.get('Subject')}")
    critical = [m for m in alerts if m["MessageAttributes"]["severity"]["Value"] == "CRITICAL"]
    _print_alert(critical[0])

    chat_app, chat_inbox, chat_publish = _deployment("identity-auditor-chat", alert_format="chat", security_hub=False,
                                                     dedup=False)
    chat_app.handler(json.loads((EVENTS / REDELIVERED).read_text()), _Context())
    chat_publish()
    (chat,) = _drain(chat_inbox)
    print("\n=== The same alert from a deployment with AlertFormat=chat (AWS Chatbot / Amazon Q Developer) ===")
    print(f"Subject: {chat.get('Subject')}")
    print(textwrap.indent(json.dumps(json.loads(chat["Message"]), indent=2, ensure_ascii=False), "  "))
    os.environ.update(_DEPLOYMENTS["identity-auditor"])  # the Config rules belong to the e-mail deployment
    evaluations = _config_demo(publish, inbox)
    return 0 if findings and alerts and not again and len(alerts) <= len(findings) and evaluations else 1


CONFIG_RULES = ("iam_user_console_access_without_mfa", "iam_access_key_not_rotated", "iam_credentials_unused",
                "iam_user_multiple_active_access_keys", "root_mfa_not_enabled", "iam_password_policy_weak")


def _iam_world() -> None:
    """A small IAM world, backdated with freezegun (the emulator runs in this process and shares the clock)."""
    import boto3
    import freezegun

    freezegun.configure(extend_ignore_list=["aws_lambda_powertools"])
    iam = boto3.client("iam")
    with freezegun.freeze_time("2026-03-02T09:00:00Z"):
        iam.create_user(UserName="alice")  # console password, no MFA, key from March never used
        iam.create_login_profile(UserName="alice", Password="Example-Passw0rd!")
        iam.create_access_key(UserName="alice")
        iam.create_user(UserName="ci-deploy")  # two keys, one old
        iam.create_access_key(UserName="ci-deploy")
    with freezegun.freeze_time("2026-11-20T09:00:00Z"):
        iam.create_access_key(UserName="ci-deploy")
        iam.create_user(UserName="bob")  # console password with MFA
        iam.create_login_profile(UserName="bob", Password="Example-Passw0rd!")
        serial = iam.create_virtual_mfa_device(VirtualMFADeviceName="bob")["VirtualMFADevice"]["SerialNumber"]
        iam.enable_mfa_device(UserName="bob", SerialNumber=serial, AuthenticationCode1="123456",
                              AuthenticationCode2="654321")
    iam.update_account_password_policy(MinimumPasswordLength=8)


POSTURE_RULES = ("iam_user_policy_attached_directly", "iam_policy_full_admin", "iam_support_role_missing",
                 "iam_cloudshell_full_access_attached", "access_analyzer_not_enabled",
                 "sso_account_assignment_to_user", "sso_permission_set_session_too_long", "sso_reserved_role_drift",
                 "identitystore_user_not_provisioned")
POLICY = "version: 1\nexternal_idp_scim: true  # Entra ID provisions Identity Center over SCIM\n"


def _config_demo(publish, inbox: str) -> int:
    """The ConfigRuleEvaluator handler, invoked as AWS Config would for each periodic state rule."""
    import boto3

    boto3.client("ssm").put_parameter(Name="/identity-auditor/policy", Type="String", Value=POLICY)
    os.environ["POLICY_SSM_PARAMETER"] = "/identity-auditor/policy"
    _iam_world()
    captured: list[dict] = []
    boto3.setup_default_session()
    boto3.DEFAULT_SESSION.events.register(
        "provide-client-params.config.PutEvaluations", lambda params, **kwargs: captured.extend(params["Evaluations"])
    )
    spec = importlib.util.spec_from_file_location("config_app", ROOT / "functions" / "config_rule_evaluator" / "config_rule_evaluator.py")
    config_app = importlib.util.module_from_spec(spec)
    sys.modules["config_app"] = config_app
    spec.loader.exec_module(config_app)
    template = json.loads((ROOT / "events" / "config" / "root_mfa_not_enabled_periodic__constructed.json").read_text())
    print("\n=== AWS Config: the ConfigRuleEvaluator handler on a small IAM world "
          "(alice: password, no MFA, old unused key; bob: password and MFA; ci-deploy: two keys, one old) ===")
    shown = sum(_invoke(config_app, template, rule_id, captured, publish, inbox) for rule_id in CONFIG_RULES)
    return shown + _posture_demo(config_app, template, captured, publish, inbox)


def _posture_demo(config_app, template: dict, captured: list, publish, inbox: str) -> int:
    """IAM and Identity Center posture (scripts/posture_world.py), then a removed assignment: ARCHIVED."""
    import boto3
    from posture_world import build_world, emulator_gaps

    with emulator_gaps():
        ids = build_world(boto3.session.Session(), ACCOUNT, "us-east-1")
        print("\n=== AWS Config: IAM and Identity Center posture (Identity Center administered here; Entra ID "
              "provisions users over SCIM) ===\n"
              "  Developers (ReadOnlyAccess, 8 h) assigned to the group aws-developers; AdministratorAccess (12 h) "
              "assigned directly to jane@example.com,\n  its reserved role with IAMFullAccess attached by hand; "
              "contractor@example.com made by hand; deploy-bot with a policy attached directly;\n  a customer "
              "managed LegacyAdmin (* on *) on a role; the group interns with AWSCloudShellFullAccess")
        shown = 0
        for rule_id in POSTURE_RULES:
            shown += _invoke(config_app, template, rule_id, captured, publish, inbox)
        store = boto3.client("sso-admin")
        store.delete_account_assignment(InstanceArn=ids["instance"], TargetId=ACCOUNT, TargetType="AWS_ACCOUNT",
                                        PermissionSetArn=ids["admins"], PrincipalType="USER", PrincipalId=ids["jane"])
        print("\nThe direct assignment to jane@example.com is removed; the next sweep archives its finding:")
        shown += _invoke(config_app, template, "sso_account_assignment_to_user", captured, publish, inbox)
    return shown


def _invoke(config_app, template: dict, rule_id: str, captured: list, publish, inbox: str) -> int:
    import boto3

    invocation = {**template, "ruleParameters": json.dumps({"ruleId": rule_id}),
                  "configRuleName": f"identity-auditor-{rule_id.replace('_', '-')}"}
    captured.clear()
    result = config_app.handler(invocation, _Context())
    publish()
    print(f"\n{rule_id}: {result['compliance']}, {result['apiCalls']} API calls, {len(_drain(inbox))} new alert(s)"
          + (f", {result['archived']} archived" if result["archived"] else "")
          + "".join(f"\n  not run: {entry}" for entry in result["notRun"]))
    for evaluation in captured:
        print(f"  Config   {evaluation['ComplianceType']:<15} {evaluation['ComplianceResourceType']:<17} "
              f"{evaluation['ComplianceResourceId'][:24]:<24} {evaluation.get('Annotation', '')[:90]}")
    hub = [f for f in _all_findings(boto3.client("securityhub")) if f["GeneratorId"] == rule_id]
    for finding in sorted(hub, key=lambda f: (f["RecordState"], f["Compliance"]["Status"], f["Resources"][0]["Id"])):
        if finding["Compliance"]["Status"] == "PASSED" and finding["RecordState"] == "ACTIVE":
            continue  # compliant resources: counted in the Config line above
        print(f"  SecHub   {finding['Compliance']['Status']:<6} {finding['RecordState']:<8} "
              f"{finding['Severity']['Label']:<8} {finding['Resources'][0]['Id'][:100]}")
    return len(captured)


if __name__ == "__main__":
    sys.exit(main())
