"""Helpers shared by the tests: paths to the samples and the real corpus, loaders, a fake Lambda context."""

from __future__ import annotations

import copy
import importlib.util
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TESTS = ROOT / "tests"
EVENTS = ROOT / "events" / "cloudtrail"
PRODUCT_ARN = "arn:aws:securityhub:us-east-1:123456789012:product/123456789012/default"
MANIFEST = ROOT / "events" / "manifest.json"
CORPUS = ROOT / "tests" / "corpus"
HANDLER_PATH = ROOT / "functions" / "cloudtrail_evaluator" / "cloudtrail_evaluator.py"
# What the catalogue finds in the invictus archive with the default policy (tests/functional/test_cli.py EXPECTED
# lists them): the count, its summary line, and how many are CRITICAL.
INVICTUS_FINDINGS = 23  # 20 of event rules, 3 of sequences
INVICTUS_CRITICAL = 6
INVICTUS_SUMMARY = "23 findings (6 critical, 10 high, 7 medium) in 2900 records from 55 inputs"

def load_sample(name: str) -> dict:
    """An EventBridge event from events/cloudtrail/ (name with or without .json)."""
    path = EVENTS / (name if name.endswith(".json") else f"{name}.json")
    return json.loads(path.read_text())


def sample_names() -> list[str]:
    return sorted(p.name for p in EVENTS.glob("*.json"))


def corpus_records(folder: str = "invictus") -> list[dict]:
    """Every CloudTrail record of a corpus folder (files of {"Records": [...]} or single records)."""
    records: list[dict] = []
    for path in sorted((CORPUS / folder).rglob("*.json")):
        if path.name.startswith("_"):
            continue
        document = json.loads(path.read_text())
        if isinstance(document, dict) and "Records" in document:
            records.extend(document["Records"])
        elif isinstance(document, dict) and "eventName" in document:
            records.append(document)
    return records


def load_handler_module(name: str = "cloudtrail_evaluator_app"):
    """Import functions/cloudtrail_evaluator/cloudtrail_evaluator.py afresh (it reads settings at import, like a cold start)."""
    spec = importlib.util.spec_from_file_location(name, HANDLER_PATH)
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module


class FakeLambdaContext:
    function_name = "identity-auditor-cloudtrail-evaluator"
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:identity-auditor-cloudtrail-evaluator"
    memory_limit_in_mb = 256
    aws_request_id = "5b5a7c56-0c3c-4d7e-9d5e-3f1a2b4c6d8e"
    log_group_name = "/aws/lambda/identity-auditor-cloudtrail-evaluator"
    log_stream_name = "2026/11/22/[$LATEST]0123456789abcdef"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 60_000


def corpus_record(folder: str, event_name: str, **match) -> dict:
    """The first real record of a corpus folder with this event name (and matching top-level fields)."""
    for record in corpus_records(folder):
        if record.get("eventName") == event_name and all(record.get(k) == v for k, v in match.items()):
            return copy.deepcopy(record)
    raise LookupError(f"no {event_name} record in corpus/{folder} matching {match}")


def changed(record: dict, **fields) -> dict:
    """A deep copy of ``record`` with top-level fields replaced (``None`` removes the field)."""
    result = copy.deepcopy(record)
    for key, value in fields.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = value
    return result


def run_rule(module, record: dict):
    """Evaluate one rule module on a raw record, as the engine would; returns its Violation or None."""
    from datetime import datetime, timezone

    from identity_auditor.model.cloudtrail import CloudTrailRecord
    from identity_auditor.model.contract import Context

    return module.evaluate(CloudTrailRecord.model_validate(record), Context(now=datetime(2026, 11, 22, tzinfo=timezone.utc)))


def load_template(path: Path | None = None) -> dict:
    """template.yaml as plain data; CloudFormation short-form tags become their long form
    (``!Ref X`` -> ``{"Ref": "X"}``, ``!GetAtt A.B`` -> ``{"Fn::GetAtt": ["A", "B"]}``, ``!Sub`` -> ``Fn::Sub``)."""
    import yaml

    class CfnLoader(yaml.SafeLoader):
        pass

    def intrinsic(loader: CfnLoader, tag: str, node: yaml.Node) -> dict:
        if isinstance(node, yaml.ScalarNode):
            value = loader.construct_scalar(node)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)
        if tag == "Ref":
            return {"Ref": value}
        if tag == "GetAtt" and isinstance(value, str):
            value = value.split(".", 1)
        return {f"Fn::{tag}": value}

    CfnLoader.add_multi_constructor("!", intrinsic)
    return yaml.load((path or ROOT / "template.yaml").read_text(), Loader=CfnLoader)  # noqa: S506 (safe subclass)


def findings_from(record: dict, now=None) -> list:
    """The findings the engine produces for one raw CloudTrail record, delivered as EventBridge would."""
    from datetime import datetime, timezone

    from identity_auditor.archive.inputs import as_eventbridge
    from identity_auditor.engine.events import Engine
    from identity_auditor.model.cloudtrail import CloudTrailEvent
    from identity_auditor.model.contract import Context

    event = CloudTrailEvent.model_validate(as_eventbridge(copy.deepcopy(record)))
    ctx = Context(now=now or datetime(2026, 11, 22, tzinfo=timezone.utc))
    result = Engine().evaluate(event.detail, ctx, account=event.account, region=event.region)
    assert not result.failures, result.failures
    return result.findings


def copies(finding, count: int, **changes) -> list:
    """``count`` copies of a finding with distinct finding ids (for batch tests)."""
    import dataclasses

    return [
        dataclasses.replace(finding, finding_id=f"{finding.finding_id}/copy-{index:04d}", **changes)
        for index in range(count)
    ]


def evaluator_rules(template: dict | None = None) -> dict[str, dict]:
    """The template's EventBridge rules (AWS::Events::Rule) on the default bus that target the CloudTrail
    evaluator (the organisation's central bus has its own copies: tests/contract/test_forwarder.py)."""
    resources = (template or load_template())["Resources"]
    return {
        name: resource
        for name, resource in resources.items()
        if resource.get("Type") == "AWS::Events::Rule"
        and "EventBusName" not in resource["Properties"]
        and any(
            target.get("Arn") == {"Fn::GetAtt": ["CloudTrailEvaluatorFunction", "Arn"]}
            for target in resource["Properties"].get("Targets", [])
        )
    }


def rule_findings(module, record: dict, policy=None) -> list:
    """One rule's findings for a raw record, through the engine (so the policy's allow-lists apply),
    each checked with the strict ASFF validator."""
    from datetime import datetime, timezone

    from asff_validator import assert_valid_asff
    from identity_auditor.engine.events import Engine
    from identity_auditor.engine.registry import Registry, Rule
    from identity_auditor.model.cloudtrail import CloudTrailRecord
    from identity_auditor.model.contract import Context
    from identity_auditor.model.policy import DEFAULT_POLICY
    from identity_auditor.sinks.asff import to_asff

    engine = Engine(Registry([Rule(module.META, module.evaluate)]))
    now = datetime(2026, 11, 22, tzinfo=timezone.utc)
    result = engine.evaluate(CloudTrailRecord.model_validate(record), Context(now=now, policy=policy or DEFAULT_POLICY))
    assert not result.failures, result.failures
    for finding in result.findings:  # every finding a test produces passes the strict ASFF check
        assert_valid_asff(to_asff(finding, product_arn=PRODUCT_ARN, updated_at=now))
    return result.findings


# -- an emulated account (moto) for handler tests ------------------------------------------------------

import functools as _functools  # noqa: E402
from dataclasses import dataclass as _dataclass  # noqa: E402


@_functools.cache
def _invictus_by_id() -> dict[str, dict]:
    return {record["eventID"]: record for record in corpus_records("invictus")}


def invictus_event(event_id: str) -> dict:
    """A real invictus record wrapped the way EventBridge delivers it."""
    from identity_auditor.archive.inputs import as_eventbridge

    return as_eventbridge(copy.deepcopy(_invictus_by_id()[event_id]))


@_dataclass
class EmulatedAccount:
    """Security Hub, the findings topic with an SQS queue subscribed (raw delivery off, so the SNS
    envelope with Subject and MessageAttributes is visible) and the de-duplication table, in moto."""

    securityhub: object
    sqs: object
    queue_url: str
    topic_arn: str
    table_name: str

    def findings(self) -> list[dict]:
        return self.securityhub.get_findings()["Findings"]

    def alerts(self) -> list[dict]:
        """Every SNS notification that reached the queue (the JSON envelope, parsed)."""
        bodies: list[dict] = []
        while True:
            response = self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
            messages = response.get("Messages", [])
            if not messages:
                return bodies
            for message in messages:
                bodies.append(json.loads(message["Body"]))
                self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])


def create_emulated_account(region: str = "us-east-1") -> EmulatedAccount:
    """Create the account's resources; call inside ``mock_aws()``."""
    import boto3

    securityhub = boto3.client("securityhub", region_name=region)
    securityhub.enable_security_hub()
    sns = boto3.client("sns", region_name=region)
    sqs = boto3.client("sqs", region_name=region)
    topic_arn = sns.create_topic(Name="identity-auditor-findings")["TopicArn"]
    queue_url = sqs.create_queue(QueueName="identity-auditor-alerts")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn, Attributes={"RawMessageDelivery": "false"})
    table_name = "identity-auditor-idempotency"
    boto3.client("dynamodb", region_name=region).create_table(
        TableName=table_name,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return EmulatedAccount(securityhub, sqs, queue_url, topic_arn, table_name)


def canonical(pattern) -> str:
    """An EventBridge pattern as a comparable string, keys and value lists sorted (order is irrelevant)."""

    def normal(node):
        if isinstance(node, dict):
            return {key: normal(value) for key, value in node.items()}
        if isinstance(node, list):
            return sorted((normal(item) for item in node), key=lambda item: json.dumps(item, sort_keys=True))
        return node

    return json.dumps(normal(pattern), sort_keys=True)


def emulated_account(monkeypatch):
    """Generator for the ``account`` fixtures: an emulated account in moto (Security Hub, the findings topic
    with a subscribed queue, the de-duplication table) and the handlers' environment pointing at it."""
    from moto import mock_aws

    for name in ("SECURITY_HUB_PRODUCT_ARN", "MEMBER_ROLE_NAME", "FINDINGS_QUEUE_URL"):
        monkeypatch.delenv(name, raising=False)
    with mock_aws():
        emulated = create_emulated_account()
        monkeypatch.setenv("FINDINGS_TOPIC_ARN", emulated.topic_arn)
        monkeypatch.setenv("SECURITY_HUB_ENABLED", "true")
        monkeypatch.setenv("IDEMPOTENCY_TABLE", emulated.table_name)
        yield emulated
