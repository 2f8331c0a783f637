"""The trail reconciler (functions/reconciler/reconciler.py) against moto: S3 holds a trail bucket, Step Functions
the backfill state machine. What it lists, what it starts, what a second run of the same day does, and, with
moto executing the backfill's Distributed Map and the real backfill handler in process, what a day reconciled
after EventBridge dropped its events pages (issue 16, point 7).

moto shows: ListObjectsV2 with Delimiter, StartExecution's idempotency (same name and input while running: the
same execution; once closed: ExecutionAlreadyExists). It does not show: Lambda's async retries of the reconciler,
the schedule itself (the contract test checks it), throttling.
"""

from __future__ import annotations

import gzip
import importlib.util
import json
import time
from collections import Counter
from datetime import date, timedelta

import boto3
from botocore.exceptions import ClientError
import pytest
from moto import mock_aws
from moto.awslambda_simple.models import LambdaSimpleBackend
from backfill_machine import for_moto, substituted
from support import CORPUS, ROOT, FakeLambdaContext, create_emulated_account, invictus_event, load_handler_module

RECONCILER = ROOT / "functions" / "reconciler" / "reconciler.py"
BACKFILL = ROOT / "functions" / "backfill_evaluator" / "backfill_evaluator.py"
TRAIL_BUCKET = "org-trail-logs"
RESULTS_BUCKET = "identity-auditor-backfill-results"
BACKFILL_ARN = "arn:aws:lambda:us-east-1:123456789012:function:identity-auditor-backfill-evaluator"
ORG = "o-a1b2c3d4e5"
DAY = date(2026, 6, 14)
# The real delivery files of 2023-07-10 (account 218007301253): a console login without MFA, and a quiet file.
LOGIN_FILE = CORPUS / "invictus" / "218007301253_CloudTrail_us-east-1_20230710T1225Z_4iD2boYSOwmb6sWd.json"
QUIET_FILE = CORPUS / "invictus" / "218007301253_CloudTrail_us-east-1_20230710T1145Z_7xgocspSowgK0Gto.json"
LOGIN_WITHOUT_MFA = "70e5932e-9022-4b38-837e-ca10dad94eb7"


class ReconcilerContext(FakeLambdaContext):
    function_name = "identity-auditor-trail-reconciler"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:identity-auditor-trail-reconciler"


class BackfillContext(FakeLambdaContext):
    function_name = "identity-auditor-backfill-evaluator"
    invoked_function_arn = BACKFILL_ARN


def _load(path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def scheduled_event(at: str) -> dict:
    """The event EventBridge sends for a scheduled rule (its fields as documented for "Scheduled Event")."""
    return {"version": "0", "id": "89d1a02d-5ec7-412e-82f5-13505f849b41", "detail-type": "Scheduled Event",
            "source": "aws.events", "account": "123456789012", "time": at, "region": "us-east-1",
            "resources": ["arn:aws:events:us-east-1:123456789012:rule/identity-auditor-reconcile-trail"], "detail": {}}


def state_machine(sfn) -> str:
    values = {"Partition": "aws", "MaxConcurrency": "10", "BackfillFunctionArn": BACKFILL_ARN,
              "ResultsBucket": RESULTS_BUCKET, "ResultsPrefix": "identity-auditor/backfill",
              "ToleratedFailurePercentage": "5"}
    # moto's grammar: no ItemBatcher (batches of one), the failure percentage a decimal (tests/backfill_machine.py)
    return sfn.create_state_machine(name="identity-auditor-backfill", definition=for_moto(substituted(values)),
                                    roleArn="arn:aws:iam::123456789012:role/backfill", type="STANDARD")["stateMachineArn"]


def reconciler(monkeypatch, machine: str, key_prefix: str = ""):
    monkeypatch.setenv("CLOUDTRAIL_BUCKET", TRAIL_BUCKET)
    monkeypatch.setenv("CLOUDTRAIL_KEY_PREFIX", key_prefix)
    monkeypatch.setenv("BACKFILL_STATE_MACHINE_ARN", machine)
    return _load(RECONCILER, "reconciler_app")


def count_calls(module) -> Counter:
    """Every API call the reconciler's clients make, by operation name."""
    s3, sfn = module._clients()
    calls: Counter = Counter()
    for client in (s3, sfn):
        client.meta.events.register("before-call.*.*", lambda model, **_: calls.update([model.name]))
    return calls


# -- what the planner does over 3 accounts x 2 regions x 2 days ---------------------------------------------------


@pytest.fixture
def aws(monkeypatch):
    with mock_aws():
        yield


def test_a_day_of_three_accounts_in_two_regions_starts_six_executions_once(aws, monkeypatch):
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket=TRAIL_BUCKET)
    roots = {"111122223333": f"trail/AWSLogs/{ORG}/", "444455556666": f"trail/AWSLogs/{ORG}/",
             "777788889999": "trail/AWSLogs/"}  # two accounts of the organisation trail, one account trail
    keys = []
    for account, root in roots.items():
        for region in ("us-east-1", "eu-west-1"):
            for day in (DAY - timedelta(days=1), DAY):
                for hhmm in ("0005", "1200", "2355"):
                    name = f"{account}_CloudTrail_{region}_{day:%Y%m%d}T{hhmm}Z_Mu0KsOhtH1ar15ZZ.json.gz"
                    keys.append(f"{root}{account}/CloudTrail/{region}/{day:%Y/%m/%d}/{name}")
                keys.append(f"{root}{account}/CloudTrail-Digest/{region}/{day:%Y/%m/%d}/{account}_digest.json.gz")
    for key in keys:
        s3.put_object(Bucket=TRAIL_BUCKET, Key=key, Body=b"{}")
    sfn = boto3.client("stepfunctions", region_name="us-east-1")
    machine = state_machine(sfn)
    module = reconciler(monkeypatch, machine, key_prefix="trail")
    calls = count_calls(module)

    first = module.handler(scheduled_event(f"{DAY + timedelta(days=1)}T00:45:00Z"), ReconcilerContext())
    first_calls = dict(calls)
    executions = sfn.list_executions(stateMachineArn=machine)["executions"]
    assert (first["day"], first["started"], first["alreadyStarted"], first["empty"]) == ("2026-06-14", 6, 0, 0)
    assert len(executions) == 6 and not first["failed"] and not first["skipped"]
    inputs = sorted(json.loads(sfn.describe_execution(executionArn=e["executionArn"])["input"])["prefix"]
                    for e in executions)
    assert inputs == sorted(f"{roots[a]}{a}/CloudTrail/{r}/2026/06/14/"
                            for a in roots for r in ("us-east-1", "eu-west-1"))
    # 1 listing of AWSLogs/, 1 of the organisation, 3 of the accounts' regions, 6 existence checks; 6 starts
    assert first_calls == {"ListObjectsV2": 11, "StartExecution": 6}

    calls.clear()
    again = module.handler(scheduled_event(f"{DAY + timedelta(days=1)}T00:45:00Z"), ReconcilerContext())
    assert (again["started"], again["alreadyStarted"]) == (0, 6)  # still running: the same executions back
    for execution in executions:
        sfn.stop_execution(executionArn=execution["executionArn"])
    closed = module.handler(scheduled_event(f"{DAY + timedelta(days=1)}T03:45:00Z"), ReconcilerContext())
    assert (closed["started"], closed["alreadyStarted"]) == (0, 6)  # closed: ExecutionAlreadyExists
    assert len(sfn.list_executions(stateMachineArn=machine)["executions"]) == 6
    print(f"\nreconcile: 3 accounts x 2 regions x 2 days ({len(keys)} keys, digests included) -> "
          f"{first_calls['ListObjectsV2']} ListObjectsV2 + {first_calls['StartExecution']} StartExecution, "
          f"6 executions of 2026-06-14; run again -> 0 started, 6 already started")


def two_accounts_with_a_log_file_each(monkeypatch):
    """The trail bucket with one log file of DAY for each of two accounts (us-east-1), the backfill state machine and
    the reconciler pointed at it: (Step Functions client, state machine ARN, reconciler module)."""
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket=TRAIL_BUCKET)
    for account in ("111122223333", "777788889999"):
        name = f"{account}_CloudTrail_us-east-1_{DAY:%Y%m%d}T1200Z_Mu0KsOhtH1ar15ZZ.json.gz"
        s3.put_object(Bucket=TRAIL_BUCKET, Key=f"AWSLogs/{account}/CloudTrail/us-east-1/{DAY:%Y/%m/%d}/{name}",
                      Body=b"{}")
    sfn = boto3.client("stepfunctions", region_name="us-east-1")
    machine = state_machine(sfn)
    return sfn, machine, reconciler(monkeypatch, machine)


def test_a_folder_s3_refuses_costs_no_other_account_its_reconciliation(aws, monkeypatch):
    """Review: one refused ListObjectsV2 (an account's folder the role may not list) ended the plan, so no
    execution was started for any account. Now the others start and the invocation then fails naming it."""
    sfn, machine, module = two_accounts_with_a_log_file_each(monkeypatch)
    client, _ = module._clients()

    def refuse(params, **_):
        if params.get("Prefix", "").startswith("AWSLogs/111122223333/"):
            raise ClientError({"Error": {"Code": "AccessDenied", "Message": "Access Denied"}}, "ListObjectsV2")

    client.meta.events.register("before-parameter-build.s3.ListObjectsV2", refuse)
    try:
        with pytest.raises(module.ReconciliationIncomplete, match="1 folder.* not listed.*AWSLogs/111122223333/"):
            module.handler(scheduled_event(f"{DAY + timedelta(days=1)}T00:45:00Z"), ReconcilerContext())
    finally:
        client.meta.events.unregister("before-parameter-build.s3.ListObjectsV2", refuse)
    started = [json.loads(sfn.describe_execution(executionArn=e["executionArn"])["input"])["prefix"]
               for e in sfn.list_executions(stateMachineArn=machine)["executions"]]
    assert started == [f"AWSLogs/777788889999/CloudTrail/us-east-1/{DAY:%Y/%m/%d}/"]


def test_a_start_step_functions_does_not_answer_is_named_and_the_other_starts_are_made(aws, monkeypatch):
    """A StartExecution that gets no answer (botocore's EndpointConnectionError, after the client's retries) is
    reported with the others' outcomes, and the invocation fails naming it; its retry starts only that one."""
    from botocore.exceptions import EndpointConnectionError

    sfn, machine, module = two_accounts_with_a_log_file_each(monkeypatch)
    _, client = module._clients()

    def unreachable(params, **_):
        if "111122223333" in params.get("input", ""):
            raise EndpointConnectionError(endpoint_url="https://states.us-east-1.amazonaws.com/")

    event = scheduled_event(f"{DAY + timedelta(days=1)}T00:45:00Z")
    client.meta.events.register("before-parameter-build.stepfunctions.StartExecution", unreachable)
    try:
        with pytest.raises(module.ReconciliationIncomplete,
                           match=r"1 of 2 backfill execution\(s\).*EndpointConnectionError"):
            module.handler(event, ReconcilerContext())
    finally:
        client.meta.events.unregister("before-parameter-build.stepfunctions.StartExecution", unreachable)
    started = [json.loads(sfn.describe_execution(executionArn=e["executionArn"])["input"])["prefix"]
               for e in sfn.list_executions(stateMachineArn=machine)["executions"]]
    assert started == [f"AWSLogs/777788889999/CloudTrail/us-east-1/{DAY:%Y/%m/%d}/"]
    retried = module.handler(event, ReconcilerContext())
    assert (retried["started"], retried["alreadyStarted"], retried["failed"]) == (1, 1, [])


def test_a_hand_run_reconciles_the_day_it_names(aws, monkeypatch):
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket=TRAIL_BUCKET)
    s3.put_object(Bucket=TRAIL_BUCKET, Key="AWSLogs/111122223333/CloudTrail/us-east-1/2026/05/02/x.json.gz", Body=b"")
    sfn = boto3.client("stepfunctions", region_name="us-east-1")
    module = reconciler(monkeypatch, state_machine(sfn))
    assert module.handler({"day": "2026-05-02"}, ReconcilerContext())["started"] == 1
    assert module.handler({"day": "2026-05-03"}, ReconcilerContext())["started"] == 0


# -- the ledger: EventBridge dropped the day's events ---------------------------------------------------------------


@pytest.fixture
def emulated(monkeypatch):
    """The emulated account (Security Hub, findings topic, de-duplication table) with moto running the backfill's
    Distributed Map; each of its Lambda invokes runs the real backfill handler in process."""
    monkeypatch.delenv("SECURITY_HUB_PRODUCT_ARN", raising=False)
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}):
        account = create_emulated_account()
        monkeypatch.setenv("FINDINGS_TOPIC_ARN", account.topic_arn)
        monkeypatch.setenv("SECURITY_HUB_ENABLED", "true")
        monkeypatch.setenv("IDEMPOTENCY_TABLE", account.table_name)
        s3 = boto3.client("s3", region_name="us-east-1")
        for bucket in (TRAIL_BUCKET, RESULTS_BUCKET):
            s3.create_bucket(Bucket=bucket)
        for path in (LOGIN_FILE, QUIET_FILE):
            s3.put_object(Bucket=TRAIL_BUCKET, Key=f"AWSLogs/218007301253/CloudTrail/us-east-1/2023/07/10/{path.name}.gz",
                          Body=gzip.compress(path.read_bytes()))
        yield account


@pytest.fixture
def backfill_runs(emulated, monkeypatch):
    app = _load(BACKFILL, "reconciled_backfill_app")
    runs: list[dict] = []

    def invoke(self, function_name, qualifier, body, headers, response_headers):
        monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", BackfillContext.function_name)
        result = app.handler(json.loads(body), BackfillContext())
        runs.append(result)
        return json.dumps(result).encode()

    monkeypatch.setattr(LambdaSimpleBackend, "invoke", invoke)
    return runs


def reconcile_the_day(monkeypatch) -> tuple[dict, list[dict]]:
    sfn = boto3.client("stepfunctions", region_name="us-east-1")
    arns = [m["stateMachineArn"] for m in sfn.list_state_machines()["stateMachines"]]
    machine = arns[0] if arns else state_machine(sfn)
    summary = reconciler(monkeypatch, machine).handler(scheduled_event("2023-07-11T00:45:00Z"), ReconcilerContext())
    executions = sfn.list_executions(stateMachineArn=machine)["executions"]
    deadline = time.monotonic() + 60
    while any(sfn.describe_execution(executionArn=e["executionArn"])["status"] == "RUNNING" for e in executions):
        assert time.monotonic() < deadline, "the backfill did not finish"
        time.sleep(0.05)
    return summary, [sfn.describe_execution(executionArn=e["executionArn"]) for e in executions]


def records_in_the_trail() -> int:
    return sum(len(json.loads(path.read_text())["Records"]) for path in (LOGIN_FILE, QUIET_FILE))


def test_eventbridge_dropped_the_days_events_the_reconciliation_evaluates_them_and_pages_once(
        emulated, backfill_runs, monkeypatch):
    summary, executions = reconcile_the_day(monkeypatch)
    assert summary["started"] == 1 and [e["status"] for e in executions] == ["SUCCEEDED"]
    records = sum(run["records"] for run in backfill_runs)
    assert records == records_in_the_trail() and sum(run["published"] for run in backfill_runs) == 1
    alerts = emulated.alerts()
    assert [a["MessageAttributes"]["rule_id"]["Value"] for a in alerts] == ["signin_console_login_without_mfa"]

    again, _ = reconcile_the_day(monkeypatch)  # the schedule's retry, or a second run by hand
    assert (again["started"], again["alreadyStarted"]) == (0, 1) and len(backfill_runs) == 2
    assert emulated.alerts() == []
    print(f"\nreconcile: EventBridge dropped the day ({records} records in the trail, 0 delivered live) -> "
          f"1 backfill execution, {records} records read, 1 finding paged once; a second run -> nothing started, "
          "0 pages")


def test_the_events_delivered_live_page_nobody_again(emulated, backfill_runs, monkeypatch):
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", FakeLambdaContext.function_name)
    live = load_handler_module().handler(invictus_event(LOGIN_WITHOUT_MFA), FakeLambdaContext())
    assert len(live["findings"]) == 1 and len(emulated.alerts()) == 1

    summary, executions = reconcile_the_day(monkeypatch)
    assert summary["started"] == 1 and [e["status"] for e in executions] == ["SUCCEEDED"]
    assert sum(run["published"] for run in backfill_runs) == 0
    assert sum(run["alreadyPublished"] for run in backfill_runs) == 1
    assert emulated.alerts() == []
    print("\nreconcile: the login delivered live and paged -> the day reconciled: 1 finding found again, "
          "already published, 0 pages")
