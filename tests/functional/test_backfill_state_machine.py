"""The backfill state machine run end to end in moto: its Step Functions parser executes the Distributed Map
(ItemReader over moto S3, ItemSelector, ResultWriter), and each Lambda invocation is handed to the real
backfill handler in process (moto can only run Lambda code in Docker, which this machine has not).

What moto does not show: Lambda retries and throttling, ToleratedFailurePercentage (parsed, not enforced),
and the SUCCEEDED_<n>.json / FAILED_<n>.json files (its ResultWriter writes the manifest only).
"""

from __future__ import annotations

import gzip
import importlib.util
import json
import re
import time
import uuid

import boto3
import pytest
from moto import mock_aws
from backfill_machine import for_moto, substituted
from moto.awslambda_simple.models import LambdaSimpleBackend
from support import CORPUS, ROOT, FakeLambdaContext, create_emulated_account

TRAIL_BUCKET = "org-trail-logs"
RESULTS_BUCKET = "identity-auditor-backfill-results"
PREFIX = "AWSLogs/218007301253/CloudTrail/us-east-1/2023/07/10/"
FUNCTION_ARN = "arn:aws:lambda:us-east-1:123456789012:function:identity-auditor-backfill-evaluator"
LOGIN_FILE = CORPUS / "invictus" / "218007301253_CloudTrail_us-east-1_20230710T1225Z_4iD2boYSOwmb6sWd.json"
QUIET_FILE = CORPUS / "invictus" / "218007301253_CloudTrail_us-east-1_20230710T1145Z_7xgocspSowgK0Gto.json"


class BackfillContext(FakeLambdaContext):
    function_name = "identity-auditor-backfill-evaluator"
    invoked_function_arn = FUNCTION_ARN


def definition(max_concurrency: int = 100) -> str:
    values = {"Partition": "aws", "MaxConcurrency": str(max_concurrency), "BackfillFunctionArn": FUNCTION_ARN,
              "ResultsBucket": RESULTS_BUCKET, "ResultsPrefix": "identity-auditor/backfill",
              "ToleratedFailurePercentage": "5"}
    return for_moto(substituted(values))  # batches of one: moto has no ItemBatcher (tests/backfill_machine.py)


@pytest.fixture
def emulated(monkeypatch):
    """The emulated account of conftest's `account` fixture, with moto executing state machines."""
    monkeypatch.delenv("SECURITY_HUB_PRODUCT_ARN", raising=False)
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}):
        account = create_emulated_account()
        monkeypatch.setenv("FINDINGS_TOPIC_ARN", account.topic_arn)
        monkeypatch.setenv("SECURITY_HUB_ENABLED", "true")
        monkeypatch.setenv("IDEMPOTENCY_TABLE", account.table_name)
        yield account


@pytest.fixture
def invocations(emulated, monkeypatch):
    """Every Lambda invoke of the state machine runs the backfill handler; returns (payload, result) pairs."""
    spec = importlib.util.spec_from_file_location("backfill_state_machine_app",
                                                  ROOT / "functions" / "backfill_evaluator" / "backfill_evaluator.py")
    app = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(app)
    calls: list[tuple[dict, dict]] = []

    def invoke(self, function_name, qualifier, body, headers, response_headers):
        payload = json.loads(body)
        result = app.handler(payload, BackfillContext())
        calls.append((payload, result))
        return json.dumps(result).encode()

    monkeypatch.setattr(LambdaSimpleBackend, "invoke", invoke)
    return calls


def run(execution_input: dict, max_concurrency: int = 100) -> tuple[dict, list[dict]]:
    sfn = boto3.client("stepfunctions", region_name="us-east-1")
    machine = sfn.create_state_machine(name=f"identity-auditor-backfill-{uuid.uuid4().hex[:8]}",
                                       definition=definition(max_concurrency),
                                       roleArn="arn:aws:iam::123456789012:role/backfill", type="STANDARD")
    execution = sfn.start_execution(stateMachineArn=machine["stateMachineArn"], name=str(uuid.uuid4()),
                                    input=json.dumps(execution_input))
    deadline = time.monotonic() + 60
    while (described := sfn.describe_execution(executionArn=execution["executionArn"]))["status"] == "RUNNING":
        assert time.monotonic() < deadline, "the execution did not finish"
        time.sleep(0.05)
    history = sfn.get_execution_history(executionArn=execution["executionArn"])["events"]
    return described, history


def test_a_backfill_evaluates_every_log_file_under_the_prefix_once_and_writes_the_manifest(emulated, invocations):
    s3 = boto3.client("s3", region_name="us-east-1")
    for bucket in (TRAIL_BUCKET, RESULTS_BUCKET):
        s3.create_bucket(Bucket=bucket)
    keys = [PREFIX + LOGIN_FILE.name + ".gz", PREFIX + QUIET_FILE.name + ".gz"]
    for key, path in zip(keys, (LOGIN_FILE, QUIET_FILE)):
        s3.put_object(Bucket=TRAIL_BUCKET, Key=key, Body=gzip.compress(path.read_bytes()))
    s3.put_object(Bucket=TRAIL_BUCKET, Key="AWSLogs/218007301253/CloudTrail/eu-west-1/other.json.gz", Body=b"x")

    described, history = run({"bucket": TRAIL_BUCKET, "prefix": PREFIX}, max_concurrency=7)

    assert described["status"] == "SUCCEEDED", described
    items = sorted((item for payload, _ in invocations for item in payload["Items"]), key=lambda p: p["key"])
    assert items == sorted(({"bucket": TRAIL_BUCKET, "key": key,
                             "size": s3.head_object(Bucket=TRAIL_BUCKET, Key=key)["ContentLength"]}
                            for key in keys), key=lambda p: p["key"])
    # the execution whose completed files a retry of the batch skips: in AWS the child execution's ARN
    # ($$.Execution.Id inside the child), which moto, running the children inside the parent, gives as the parent's
    assert {payload["execution"] for payload, _ in invocations} == {described["executionArn"]}
    summaries = {entry["key"]: entry for _, result in invocations for entry in result["objects"]}
    assert summaries[keys[0]]["published"] == 1 and summaries[keys[1]]["findings"] == 0
    assert len(emulated.findings()) == 1 and len(emulated.alerts()) == 1

    settings = next(e for e in history if e["type"] == "PassStateExited")["stateExitedEventDetails"]
    assert json.loads(settings["output"])["maxConcurrency"] == 7  # a number, from the substituted text
    output = json.loads(described["output"])
    details = output["ResultWriterDetails"]
    assert details["Bucket"] == RESULTS_BUCKET
    assert re.fullmatch(r"identity-auditor/backfill/[0-9a-f-]+/manifest\.json", details["Key"])
    manifest = json.loads(s3.get_object(Bucket=RESULTS_BUCKET, Key=details["Key"])["Body"].read())
    assert manifest["MapRunArn"] == output["MapRunArn"] and manifest["DestinationBucket"] == RESULTS_BUCKET


def test_running_the_backfill_again_pages_nothing_new(emulated, invocations):
    s3 = boto3.client("s3", region_name="us-east-1")
    for bucket in (TRAIL_BUCKET, RESULTS_BUCKET):
        s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=TRAIL_BUCKET, Key=PREFIX + "login.json.gz", Body=gzip.compress(LOGIN_FILE.read_bytes()))
    for _ in range(2):
        assert run({"bucket": TRAIL_BUCKET, "prefix": PREFIX})[0]["status"] == "SUCCEEDED"
    # the second execution reads the file again (a rules change is re-run): only the paging is skipped
    assert [(r["files"], r["published"], r["alreadyPublished"], r["completedEarlier"]) for _, r in invocations] == [
        (1, 1, 0, 0), (1, 0, 1, 0)]
    assert len(emulated.alerts()) == 1
