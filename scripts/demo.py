"""make demo: the real CloudTrailEvaluator handler on every sample in events/, against an emulated AWS.

Starts a moto server on 127.0.0.1, enables Security Hub, creates the findings SNS topic with an SQS
queue subscribed to it, runs the Lambda handler on each sample in events/cloudtrail/, then prints the
findings as stored in Security Hub and the alerts the subscriber received. No credentials needed:
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
ACCOUNT = "123456789012"


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


def _run() -> int:
    import boto3

    securityhub = boto3.client("securityhub")
    sns = boto3.client("sns")
    sqs = boto3.client("sqs")
    securityhub.enable_security_hub()
    topic_arn = sns.create_topic(Name="identity-auditor-findings")["TopicArn"]
    queue_url = sqs.create_queue(QueueName="security-team-inbox")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)
    os.environ["FINDINGS_TOPIC_ARN"] = topic_arn
    os.environ["SECURITY_HUB_ENABLED"] = "true"

    spec = importlib.util.spec_from_file_location("app", ROOT / "functions" / "cloudtrail_evaluator" / "app.py")
    app = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(app)

    samples = sorted(EVENTS.glob("*.json"))
    print(f"Running the CloudTrailEvaluator handler on {len(samples)} sample events (emulated account {ACCOUNT})\n")
    for path in samples:
        result = app.handler(json.loads(path.read_text()), _Context())
        fired = len(result["findings"])
        print(f"  {path.name:<75} {fired} finding{'s' if fired != 1 else ''}")

    findings = _all_findings(securityhub)
    print(f"\n=== Security Hub: {len(findings)} findings ===")
    order = {"CRITICAL": 0, "HIGH": 1, "MEDIUM": 2, "LOW": 3, "INFORMATIONAL": 4}
    for finding in sorted(findings, key=lambda f: (order[f["Severity"]["Label"]], f["GeneratorId"], f["Id"])):
        resource = finding["Resources"][0]
        print(f"  {finding['Severity']['Label']:<9} {finding['GeneratorId']:<44} {resource['Type']} {resource['Id'][:70]}")
    example = next(f for f in findings if f["GeneratorId"] == "sso_reserved_role_modified")
    print("\nOne finding in full (as stored in Security Hub):")
    print(textwrap.indent(json.dumps(example, indent=2, sort_keys=True), "  "))

    messages = []
    while True:
        batch = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
        if not batch.get("Messages"):
            break
        for message in batch["Messages"]:
            messages.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    print(f"\n=== Alerts delivered to the subscriber: {len(messages)} ===")
    for envelope in messages:
        print(f"  {envelope.get('Subject')}")
    shown = [m for m in messages if m["MessageAttributes"]["severity"]["Value"] == "CRITICAL"][:2]
    for envelope in shown:
        attributes = {k: v["Value"] for k, v in envelope.get("MessageAttributes", {}).items()}
        print(f"\nSubject: {envelope.get('Subject')}")
        print(f"Attributes: {json.dumps(attributes, sort_keys=True)}")
        print(textwrap.indent(envelope["Message"].rstrip(), "  | ", predicate=lambda line: True))
    return 0 if findings and len(messages) == len(findings) else 1


def _all_findings(securityhub) -> list[dict]:
    findings, token = [], None
    while True:
        page = securityhub.get_findings(MaxResults=100, **({"NextToken": token} if token else {}))
        findings += page["Findings"]
        token = page.get("NextToken")
        if not token:
            return findings


if __name__ == "__main__":
    sys.exit(main())
