"""The backfill evaluator (functions/backfill_evaluator/backfill_evaluator.py), called directly on CloudTrail log files in
moto S3, publishing to the emulated account (Security Hub, SNS -> SQS, the de-duplication table).

A child execution of the Distributed Map is a batch of S3 objects (ItemBatcher: {"Items": [...]}; a single item is a
batch of one); Step Functions retries a batch, and the live evaluator may already have paged the same events: both
must not page again, and one file that fails must not cost the others their findings.
"""

from __future__ import annotations

import contextlib
import copy
import gzip
import importlib.util
import json

import boto3
import pytest
from botocore.exceptions import ClientError
from identity_auditor.engine.registry import REGISTRY
from support import CORPUS, ROOT, FakeLambdaContext, findings_from, invictus_event, load_handler_module

BACKFILL_PATH = ROOT / "functions" / "backfill_evaluator" / "backfill_evaluator.py"
BUCKET = "org-trail-logs"
PREFIX = "AWSLogs/218007301253/CloudTrail/us-east-1/2023/07/10/"
# The real delivery file holding the console login without MFA (12 records, one finding).
LOGIN_FILE = CORPUS / "invictus" / "218007301253_CloudTrail_us-east-1_20230710T1225Z_4iD2boYSOwmb6sWd.json"
LOGIN_WITHOUT_MFA = "70e5932e-9022-4b38-837e-ca10dad94eb7"


class BackfillContext(FakeLambdaContext):
    function_name = "identity-auditor-backfill-evaluator"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:identity-auditor-backfill-evaluator"
    log_group_name = "/aws/lambda/identity-auditor-backfill-evaluator"


def load_backfill_module(name: str = "backfill_evaluator_app"):
    """Import functions/backfill_evaluator/backfill_evaluator.py afresh (settings are read at import, like a cold start)."""
    spec = importlib.util.spec_from_file_location(name, BACKFILL_PATH)
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def backfill(account):
    return load_backfill_module()


@pytest.fixture
def context() -> BackfillContext:
    return BackfillContext()


@pytest.fixture
def s3(account):
    client = boto3.client("s3", region_name="us-east-1")
    client.create_bucket(Bucket=BUCKET)
    return client


def put_log_file(s3, name: str, body: bytes | dict, *, compress: bool = True) -> dict:
    """Store a log file as CloudTrail does (gzip) and return the map item the ItemSelector builds for it."""
    data = json.dumps(body).encode() if isinstance(body, dict) else body
    data = gzip.compress(data) if compress else data
    key = PREFIX + name
    s3.put_object(Bucket=BUCKET, Key=key, Body=data)
    return {"bucket": BUCKET, "key": key, "size": len(data)}


def login_file() -> dict:
    return json.loads(LOGIN_FILE.read_text())


def _table_items(table_name: str) -> list[dict]:
    """The de-duplication records of the table (it also keeps the sequences' steps, spec §E, and the files each
    backfill execution completed)."""
    items = boto3.client("dynamodb", region_name="us-east-1").scan(TableName=table_name)["Items"]
    return [item for item in items if not item["id"]["S"].startswith(("identity-auditor#sequence#",
                                                                       "identity-auditor#backfill-file#"))]


def _progress_items(table_name: str) -> list[dict]:
    items = boto3.client("dynamodb", region_name="us-east-1").scan(TableName=table_name)["Items"]
    return [item for item in items if item["id"]["S"].startswith("identity-auditor#backfill-file#")]


def test_a_log_file_with_a_console_login_without_mfa_is_published_once(backfill, account, s3, context):
    item = put_log_file(s3, LOGIN_FILE.name + ".gz", LOGIN_FILE.read_bytes(), compress=True)
    result = backfill.handler(item, context)

    expected = findings_from(next(r for r in login_file()["Records"] if r["eventID"] == LOGIN_WITHOUT_MFA))
    assert [f.rule_id for f in expected] == ["signin_console_login_without_mfa"]
    counts = {"records": 12, "evaluated": 1, "findings": 1, "published": 1, "alreadyPublished": 0, "ruleErrors": 0,
              "skipped": 0}
    assert result == {"files": 1, **counts, "completedEarlier": 0, "problems": [], "problemsTotal": 0,
                      "failedFiles": [], "objects": [{"key": item["key"], **counts, "problemsTotal": 0}]}
    assert [f["Id"] for f in account.findings()] == [expected[0].finding_id]
    alerts = account.alerts()
    assert len(alerts) == 1
    assert alerts[0]["MessageAttributes"]["rule_id"]["Value"] == "signin_console_login_without_mfa"
    assert len(_table_items(account.table_name)) == 1


def test_the_same_object_processed_twice_pages_once(backfill, account, s3, context):
    """Step Functions retries an item (or a map run is started again over the same prefix)."""
    item = put_log_file(s3, "login.json.gz", login_file())
    first = backfill.handler(item, context)
    second = backfill.handler(copy.deepcopy(item), context)
    assert (first["published"], first["alreadyPublished"]) == (1, 0)
    assert (second["published"], second["alreadyPublished"]) == (0, 1)
    assert len(account.findings()) == 1
    assert len(account.alerts()) == 1


def test_an_event_the_live_evaluator_already_paged_is_not_paged_again(backfill, account, s3, context, monkeypatch):
    """Both functions keep their own name (which Powertools puts in every idempotency key): the backfill
    must still find the live evaluator's record of the event."""
    live = load_handler_module()
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", FakeLambdaContext.function_name)
    live_result = live.handler(invictus_event(LOGIN_WITHOUT_MFA), FakeLambdaContext())
    assert len(live_result["findings"]) == 1
    assert len(account.alerts()) == 1

    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", BackfillContext.function_name)
    result = backfill.handler(put_log_file(s3, "login.json.gz", login_file()), context)
    assert (result["published"], result["alreadyPublished"]) == (0, 1)
    assert account.alerts() == []
    assert len(_table_items(account.table_name)) == 1  # one record, shared by both functions


def test_the_live_evaluator_does_not_page_again_for_an_event_a_backfill_paged(backfill, account, s3, context,
                                                                              monkeypatch):
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", BackfillContext.function_name)
    assert backfill.handler(put_log_file(s3, "login.json.gz", login_file()), context)["published"] == 1
    assert len(account.alerts()) == 1

    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", FakeLambdaContext.function_name)
    live = load_handler_module()
    live.handler(invictus_event(LOGIN_WITHOUT_MFA), FakeLambdaContext())
    assert account.alerts() == []
    assert len(account.findings()) == 1


@pytest.mark.parametrize(
    ("name", "body", "expected"),
    [
        # mtime=0: the same bytes, so the same test ids, in every process (pytest-xdist's workers compare them)
        ("truncated.json.gz", gzip.compress(b'{"Records": [{"eventSource": "signin.amazonaws.com"', mtime=0)[:30],
         "cannot read"),
        ("garbage.json.gz", b"\x1f\x8b\x08\x00 this is not a gzip stream", "cannot read"),
        ("not-json.json.gz", gzip.compress(b"<Error><Code>AccessDenied</Code></Error>", mtime=0), "invalid JSON"),
        ("empty.json.gz", gzip.compress(b"", mtime=0), "empty input"),
    ],
)
def test_a_corrupt_object_is_reported_and_the_map_goes_on(backfill, account, s3, context, name, body, expected):
    item = put_log_file(s3, name, body, compress=False)
    result = backfill.handler(item, context)  # does not raise: a retry would read the same bytes
    assert result["records"] == 0 and result["findings"] == 0
    assert result["problemsTotal"] == 1
    assert result["problems"][0].startswith(item["key"] + ": ")
    assert expected in result["problems"][0]
    assert not backfill.DELIVERY.sinks_built


def test_unreadable_records_are_reported_and_the_others_still_evaluated(backfill, account, s3, context):
    document = login_file()
    document["Records"] = ["not an object", {"no": "event source"}, *document["Records"]]
    result = backfill.handler(put_log_file(s3, "mixed.json.gz", document), context)
    assert result["records"] == 12 and result["published"] == 1
    assert result["problemsTotal"] == 2
    assert result["problems"][0].startswith(PREFIX + "mixed.json.gz#Records[0]: expected a JSON object")
    assert len(account.alerts()) == 1


def test_problems_are_capped_and_the_summary_stays_small(backfill, account, s3, context):
    document = {"Records": [{"bad": "x" * 2000} for _ in range(500)]}
    result = backfill.handler(put_log_file(s3, "bad.json.gz", document), context)
    assert result["problemsTotal"] == 500
    assert len(result["problems"]) == backfill.MAX_PROBLEMS
    assert all(len(problem) <= backfill.MAX_PROBLEM_CHARS for problem in result["problems"])
    assert len(json.dumps(result)) < 16_000  # far below the 256 KB Step Functions payload limit


def test_an_object_without_wanted_events_publishes_nothing_and_creates_no_sinks(backfill, account, s3, context):
    document = login_file()
    document["Records"] = [r for r in document["Records"] if r["eventName"] != "ConsoleLogin"]
    result = backfill.handler(put_log_file(s3, "reads.json.gz", document), context)
    assert (result["records"], result["evaluated"], result["findings"], result["published"]) == (11, 0, 0, 0)
    assert not backfill.DELIVERY.sinks_built  # no Security Hub or SNS client was even created
    assert account.findings() == [] and account.alerts() == []
    assert _table_items(account.table_name) == []


def test_insights_events_are_skipped_not_evaluated(backfill, account, s3, context):
    insight = {"eventVersion": "1.08", "eventType": "AwsCloudTrailInsight", "eventCategory": "Insight",
               "eventSource": "iam.amazonaws.com", "eventName": "CreateUser"}
    result = backfill.handler(put_log_file(s3, "insight.json.gz", {"Records": [insight]}), context)
    assert (result["records"], result["skipped"], result["problemsTotal"]) == (0, 1, 0)


def test_an_undelivered_finding_fails_the_object_for_a_retry_that_publishes_it(backfill, account, s3, context,
                                                                               monkeypatch):
    item = put_log_file(s3, "login.json.gz", login_file())
    sink = next(s for s in backfill.DELIVERY.sinks(context) if s.name == "securityhub")
    real_import = sink.client.batch_import_findings
    denied = ClientError({"Error": {"Code": "AccessDeniedException", "Message": "not subscribed"}},
                         "BatchImportFindings")

    def refuse(**kwargs):
        raise denied

    monkeypatch.setattr(sink.client, "batch_import_findings", refuse)
    with pytest.raises(backfill.PublishIncomplete, match=r"login.json.gz: 1 event\(s\) not published"):
        backfill.handler(item, context)
    assert _table_items(account.table_name) == []  # nothing recorded: the retry publishes for real

    monkeypatch.setattr(sink.client, "batch_import_findings", real_import)
    retried = backfill.handler(copy.deepcopy(item), context)
    assert (retried["published"], retried["alreadyPublished"]) == (1, 0)
    assert len(account.findings()) == 1


def test_digest_files_and_folder_markers_are_skipped_without_reading_them(backfill, account, s3, context):
    for key in ("AWSLogs/218007301253/CloudTrail-Digest/us-east-1/2023/07/10/x_CloudTrail-Digest_x.json.gz",
                "AWSLogs/218007301253/CloudTrail/"):
        result = backfill.handler({"bucket": BUCKET, "key": key, "size": 0}, context)  # objects do not exist
        assert result["records"] == 0 and result["problemsTotal"] == 0


def test_an_object_deleted_since_the_listing_is_a_problem_not_a_failure(backfill, account, s3, context):
    result = backfill.handler({"bucket": BUCKET, "key": PREFIX + "gone.json.gz", "size": 10}, context)
    assert result["problems"] == [PREFIX + "gone.json.gz: the object no longer exists"]


def test_an_object_s3_refuses_fails_the_invocation(backfill, account, s3, context):
    """Access denied (bucket policy, KMS) is configuration: raising stops the map at its failure threshold."""
    with pytest.raises(backfill.FilesFailed, match=r"x.json.gz: NoSuchBucket: "):
        backfill.handler({"bucket": "not-" + BUCKET, "key": PREFIX + "x.json.gz", "size": 10}, context)


def test_the_raw_list_objects_item_is_accepted(backfill, account, s3, context):
    item = put_log_file(s3, "login.json.gz", login_file())
    raw = {"bucket": BUCKET, "Key": item["key"], "Size": item["size"], "Etag": '"0123"',
           "LastModified": 1688991900, "StorageClass": "STANDARD"}
    assert backfill.handler(raw, context)["published"] == 1


def test_a_backfill_of_the_whole_corpus_finds_what_the_engine_finds(backfill, account, s3, context):
    """All 55 real delivery files of the invictus archive (2,900 records), one invocation each."""
    expected: set[str] = set()
    totals = dict.fromkeys(("records", "findings", "published", "problemsTotal"), 0)
    for path in sorted((CORPUS / "invictus").glob("*.json")):
        document = json.loads(path.read_text())
        for record in document["Records"]:
            expected.update(f.finding_id for f in findings_from(record))
        result = backfill.handler(put_log_file(s3, path.name + ".gz", document), context)
        for name in totals:
            totals[name] += result[name]
    # and the sequences the archive completes across its files (the live path's state, shared): the admin user,
    # the backdoor role, the password reset takeover; the admin user's is raised again once its key is seen
    sequences = {f["Id"] for f in account.findings() if f["GeneratorId"] in SEQUENCE_IDS}
    assert {f.split("/")[0] for f in sequences} == {"iam_admin_user_created", "iam_backdoor_admin_role",
                                                     "password_reset_takeover"}
    assert totals == {"records": 2900, "findings": len(expected) + 4, "published": len(expected) + 4,
                      "problemsTotal": 0}
    assert {f["Id"] for f in account.findings()} == expected | sequences


def test_an_event_being_published_elsewhere_is_retried_and_the_others_still_published(backfill, account, s3,
                                                                                      context, monkeypatch):
    """An organisation trail and an account trail deliver the same record in two files that two child
    executions may process at once: the second waits for a retry instead of paging twice or losing it."""
    from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyAlreadyInProgressError

    document = json.loads((CORPUS / "invictus" / CREATE_USER_FILE).read_text())
    item = put_log_file(s3, "busy.json.gz", document)
    with publishing_the_busy_event_raises(backfill, monkeypatch, IdempotencyAlreadyInProgressError("in progress")):
        with pytest.raises(backfill.PublishIncomplete, match="being published by another invocation"):
            backfill.handler(item, context)
    published_first = len([a for a in account.alerts()
                           if a["MessageAttributes"]["rule_id"]["Value"] not in SEQUENCE_IDS])
    assert published_first >= 1  # the other events of the file were published

    retried = backfill.handler(item, context)
    assert retried["published"] >= 1 and retried["alreadyPublished"] == published_first
    assert len(account.alerts()) == retried["published"]


CREATE_USER_FILE = "218007301253_CloudTrail_us-east-1_20230710T1230Z_ZtUNbBkwAu98FPZb.json"
SEQUENCE_IDS = {meta.id for meta in REGISTRY.sequences}
BUSY_EVENT = "66d008e1-12cf-4a45-99e7-0be67fc70d71"  # a real CreateUser of that file


@contextlib.contextmanager
def publishing_the_busy_event_raises(backfill, monkeypatch, error: Exception):
    """Within the block, publishing BUSY_EVENT's findings raises ``error`` (every other event is published as
    usual); after it, publishing works again, as for Step Functions' retry of the batch."""
    real_publish_once = backfill.DELIVERY.dedup.publish_once

    def publish_once(event, context, publish):
        if event["detail"]["eventID"] == BUSY_EVENT:
            raise error
        return real_publish_once(event, context, publish)

    monkeypatch.setattr(backfill.DELIVERY.dedup, "publish_once", publish_once)
    try:
        yield
    finally:
        monkeypatch.setattr(backfill.DELIVERY.dedup, "publish_once", real_publish_once)


# -- batches (ItemBatcher: several log files per child execution and invocation; issue 18 item 7) -----------------

QUIET_FILE = CORPUS / "invictus" / "218007301253_CloudTrail_us-east-1_20230710T1145Z_7xgocspSowgK0Gto.json"


class ShortOfTime(BackfillContext):
    """An invocation whose time runs out after its first file."""

    def __init__(self):
        self.calls = 0

    def get_remaining_time_in_millis(self) -> int:
        self.calls += 1
        return 300_000 if self.calls == 1 else 10_000


def batch_size() -> int:
    return json.loads((ROOT / "statemachine" / "backfill.asl.json").read_text())[
        "States"]["EvaluateLogFiles"]["ItemBatcher"]["MaxItemsPerBatch"]


def test_an_unexpected_delivery_error_retries_that_event_and_the_file_goes_on(backfill, account, s3, context,
                                                                            monkeypatch):
    """Review: an error other than the sink's or the de-duplication table's (e.g. Powertools'
    IdempotencyInconsistentStateError after its own retries) ended the file's reading: its remaining events were
    never evaluated or published, and the file was counted as failed, not retried."""
    from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyInconsistentStateError

    document = json.loads((CORPUS / "invictus" / CREATE_USER_FILE).read_text())
    item = put_log_file(s3, "inconsistent.json.gz", document)
    with publishing_the_busy_event_raises(backfill, monkeypatch, IdempotencyInconsistentStateError("inconsistent")):
        with pytest.raises(backfill.PublishIncomplete, match="IdempotencyInconsistentStateError"):
            backfill.handler(item, context)
    assert [a for a in account.alerts() if a["MessageAttributes"]["rule_id"]["Value"] not in SEQUENCE_IDS]

    assert backfill.handler(item, context)["published"] >= 1  # the retry publishes the one left


def test_a_batch_of_files_is_evaluated_file_by_file_with_a_summary_of_each(backfill, account, s3, context):
    login = put_log_file(s3, "login.json.gz", login_file())
    quiet = put_log_file(s3, "quiet.json.gz", QUIET_FILE.read_bytes())
    corrupt = put_log_file(s3, "garbage.json.gz", b"\x1f\x8b\x08\x00 this is not a gzip stream", compress=False)
    result = backfill.handler({"Items": [login, quiet, corrupt]}, context)
    assert [entry["key"] for entry in result["objects"]] == [login["key"], quiet["key"], corrupt["key"]]
    assert [(e["records"], e["published"], e["problemsTotal"]) for e in result["objects"]] == [
        (12, 1, 0), (len(json.loads(QUIET_FILE.read_text())["Records"]), 0, 0), (0, 0, 1)]
    assert result["files"] == 3 and result["published"] == 1 and result["problemsTotal"] == 1
    assert result["records"] == sum(entry["records"] for entry in result["objects"])
    assert result["problems"][0].startswith(corrupt["key"] + ": ")
    assert len(account.alerts()) == 1


def test_a_file_s3_refuses_fails_the_batch_after_the_others_are_published(backfill, account, s3, context):
    """One bad file must not lose the others' findings: they are published, the error names the bad file, and the
    map lists the batch as failed (its files count towards ToleratedFailurePercentage)."""
    refused = {"bucket": "not-" + BUCKET, "key": PREFIX + "elsewhere.json.gz", "size": 10}
    login = put_log_file(s3, "login.json.gz", login_file())
    with pytest.raises(backfill.FilesFailed, match=r"1 of 2 file\(s\) failed, more than the 0 % tolerated: "
                       r".*elsewhere.json.gz: NoSuchBucket") as error:
        backfill.handler({"Items": [refused, login]}, context)
    assert "1 published" in str(error.value)
    assert [a["MessageAttributes"]["rule_id"]["Value"] for a in account.alerts()] == ["signin_console_login_without_mfa"]
    assert len(account.findings()) == 1


def test_a_file_whose_findings_are_not_delivered_retries_the_batch_and_nothing_pages_twice(backfill, account, s3,
                                                                                            context, monkeypatch):
    from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyAlreadyInProgressError

    busy = put_log_file(s3, "busy.json.gz", json.loads((CORPUS / "invictus" / CREATE_USER_FILE).read_text()))
    login = put_log_file(s3, "login.json.gz", login_file())
    with publishing_the_busy_event_raises(backfill, monkeypatch, IdempotencyAlreadyInProgressError("in progress")):
        with pytest.raises(backfill.PublishIncomplete,
                           match=r"1 of 2 file\(s\) not fully published.*busy.json.gz: 1 event"):
            backfill.handler({"Items": [busy, login]}, context)
    first = account.alerts()
    assert "signin_console_login_without_mfa" in {a["MessageAttributes"]["rule_id"]["Value"] for a in first}

    retried = backfill.handler({"Items": [busy, login]}, context)  # Step Functions' retry of the batch
    by_key = {entry["key"]: entry for entry in retried["objects"]}
    assert (by_key[login["key"]]["published"], by_key[login["key"]]["alreadyPublished"]) == (0, 1)
    assert by_key[busy["key"]]["published"] >= 1  # the busy event, and any sequence it completes
    again = account.alerts()
    assert len(again) == retried["published"]  # only what was not published before pages now
    assert not {a["MessageAttributes"]["rule_id"]["Value"] for a in again} & {"signin_console_login_without_mfa"}


def test_files_left_when_the_time_runs_out_are_retried_with_the_batch(backfill, account, s3):
    login = put_log_file(s3, "login.json.gz", login_file())
    quiet = put_log_file(s3, "quiet.json.gz", QUIET_FILE.read_bytes())
    with pytest.raises(backfill.PublishIncomplete, match=r"quiet.json.gz: not read, the invocation's time ran out"):
        backfill.handler({"Items": [login, quiet]}, ShortOfTime())
    assert len(account.alerts()) == 1  # the file read before the time ran out was published
    retried = backfill.handler({"Items": [login, quiet]}, BackfillContext())
    assert (retried["files"], retried["published"], retried["alreadyPublished"]) == (2, 0, 1)
    assert account.alerts() == []


def test_a_full_batch_of_files_full_of_problems_stays_far_below_the_payload_limit(backfill, account, s3, context):
    items = [put_log_file(s3, f"bad-{index:03}-{'x' * 150}.json.gz", {"Records": [{"bad": "x" * 500}] * 30})
             for index in range(batch_size())]
    result = backfill.handler({"Items": items}, context)
    assert result["files"] == batch_size() and result["problemsTotal"] == 30 * batch_size()
    assert len(result["problems"]) == backfill.MAX_PROBLEMS
    assert len(json.dumps(result)) < 64 * 1024  # Step Functions: 256 KB per child execution's output


def test_the_corpus_in_batches_finds_exactly_what_it_finds_file_by_file(backfill, account, s3, context):
    """The 55 real delivery files in batches of the map's size give the same findings as one file per call
    (test_a_backfill_of_the_whole_corpus_finds_what_the_engine_finds)."""
    items, expected = [], set()
    for path in sorted((CORPUS / "invictus").glob("*.json")):
        document = json.loads(path.read_text())
        for record in document["Records"]:
            expected.update(f.finding_id for f in findings_from(record))
        items.append(put_log_file(s3, path.name + ".gz", document))
    size = batch_size()
    results = [backfill.handler({"Items": items[start:start + size]}, context) for start in range(0, len(items), size)]
    assert [r["files"] for r in results] == [min(size, len(items) - start) for start in range(0, len(items), size)]
    assert sum(r["records"] for r in results) == 2900 and sum(r["problemsTotal"] for r in results) == 0
    found = {f["Id"] for f in account.findings() if f["GeneratorId"] not in SEQUENCE_IDS}
    assert found == expected
    assert sum(r["published"] for r in results) == len(expected) + 4  # and the 4 sequences, as file by file


def test_a_quiet_batch_logs_one_summary_line_and_its_metrics(capsys, backfill, account, s3, context):
    """The log bytes per invocation the cost model assumes (identity_auditor.archive.cost), Lambda's own START,
    END and REPORT lines (~400 bytes) aside: one summary line per batch, not one line per file."""
    import io

    from identity_auditor.archive.cost import LOG_BYTES_PER_INVOCATION

    items = [put_log_file(s3, f"quiet-{index:02}.json.gz", QUIET_FILE.read_bytes()) for index in range(batch_size())]
    capsys.readouterr()
    lines = io.StringIO()  # Powertools keeps the stream of its first Logger (see test_cloudtrail_handler's capsys)
    handler = backfill.logger.registered_handler
    previous, handler.stream = handler.stream, lines  # (the previous may be an earlier test's closed capsys file)
    try:
        result = backfill.handler({"Items": items}, context)
    finally:
        handler.stream = previous
    logged = lines.getvalue() + capsys.readouterr().out  # the log lines, then the metrics (EMF, printed)
    assert result["files"] == batch_size() and result["findings"] == 0
    assert [json.loads(line).get("message") for line in logged.splitlines()] == ["batch evaluated", None]
    assert len(logged.encode()) <= LOG_BYTES_PER_INVOCATION - 400


# -- a retried batch goes on where it stopped; a new execution evaluates everything again -------------------------

CHILD_EXECUTION = ("arn:aws:states:us-east-1:123456789012:execution:identity-auditor-backfill/backfill:"
                   "0c8b7a0e-5d6f-3e2a-9b1c-4d5e6f708192")


def _reads(backfill, monkeypatch) -> list[str]:
    """The keys the function downloads, in order."""
    keys: list[str] = []
    real = backfill._read_object

    def read(bucket, key):
        keys.append(key.rsplit("/", 1)[-1])
        return real(bucket, key)

    monkeypatch.setattr(backfill, "_read_object", read)
    return keys


def test_a_batch_retried_after_its_time_ran_out_goes_on_where_it_stopped(backfill, account, s3, monkeypatch):
    """Each attempt has the same 300 s: the retry must not read the first files again, or the batch's later files
    are never reached and it fails once its retries are spent. Here each attempt has time for one file only."""
    again = login_file()  # the same sign-in an hour later: a finding of its own
    record = next(r for r in again["Records"] if r["eventID"] == LOGIN_WITHOUT_MFA)
    record.update(eventID="5f0c1a3e-8d2b-4c6f-9e7a-1b2c3d4e5f60", eventTime="2023-07-10T13:31:02Z")
    # files with findings: ShortOfTime's first answer goes to the de-duplication layer, which asks the remaining
    # time on each invocation's first publication
    files = [put_log_file(s3, "login.json.gz", login_file()),
             put_log_file(s3, "create-user.json.gz", (CORPUS / "invictus" / CREATE_USER_FILE).read_bytes()),
             put_log_file(s3, "login-again.json.gz", again)]
    batch = {"Items": files, "execution": CHILD_EXECUTION}  # what the child's task passes (backfill.asl.json)
    reads = _reads(backfill, monkeypatch)

    with pytest.raises(backfill.PublishIncomplete, match=r"2 of 3 file\(s\) not fully published") as first:
        backfill.handler(copy.deepcopy(batch), ShortOfTime())
    assert "create-user.json.gz: not read" in str(first.value) and "login-again.json.gz: not read" in str(first.value)
    with pytest.raises(backfill.PublishIncomplete, match=r"1 of 3 file\(s\) not fully published") as second:
        backfill.handler(copy.deepcopy(batch), ShortOfTime())
    assert "login-again.json.gz: not read" in str(second.value) and "create-user" not in str(second.value)
    last = backfill.handler(copy.deepcopy(batch), ShortOfTime())

    assert reads == ["login.json.gz", "create-user.json.gz", "login-again.json.gz"]  # each file read once
    assert [entry.get("completedEarlier", False) for entry in last["objects"]] == [True, True, False]
    assert (last["files"], last["completedEarlier"]) == (3, 2)
    by_key = {entry["key"]: entry for entry in last["objects"]}
    assert by_key[files[0]["key"]]["published"] == 1  # the first attempt's counts, kept for the summary
    assert by_key[files[1]["key"]]["records"] == len(json.loads((CORPUS / "invictus" / CREATE_USER_FILE)
                                                                .read_text())["Records"])
    assert by_key[files[2]["key"]]["published"] == 1 and last["alreadyPublished"] == 0
    assert last["records"] == sum(entry["records"] for entry in last["objects"])
    assert len(account.alerts()) == last["published"]  # everything published once, across the attempts
    markers = _progress_items(account.table_name)
    assert len(markers) == 2  # by the two attempts that ran out of time (the last succeeded: never run again)
    import time as clock

    assert all(clock.time() + 14 * 86400 < int(m["expiration"]["N"]) < clock.time() + 16 * 86400 for m in markers)


def test_a_file_with_findings_left_to_publish_is_read_again_by_the_retry(backfill, account, s3, context,
                                                                          monkeypatch):
    """Only files evaluated to the end are recorded: one whose findings were not delivered is read again."""
    from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyAlreadyInProgressError

    busy = put_log_file(s3, "busy.json.gz", json.loads((CORPUS / "invictus" / CREATE_USER_FILE).read_text()))
    login = put_log_file(s3, "login.json.gz", login_file())
    batch = {"Items": [busy, login], "execution": CHILD_EXECUTION}
    with publishing_the_busy_event_raises(backfill, monkeypatch, IdempotencyAlreadyInProgressError("in progress")):
        with pytest.raises(backfill.PublishIncomplete, match="busy.json.gz: 1 event"):
            backfill.handler(copy.deepcopy(batch), context)
    assert "signin_console_login_without_mfa" in {a["MessageAttributes"]["rule_id"]["Value"]
                                                  for a in account.alerts()}
    reads = _reads(backfill, monkeypatch)
    retried = backfill.handler(copy.deepcopy(batch), context)
    assert reads == ["busy.json.gz"] and retried["completedEarlier"] == 1
    assert {a["MessageAttributes"]["rule_id"]["Value"] for a in account.alerts()} & {
        "signin_console_login_without_mfa"} == set()  # not paged again


def test_a_new_backfill_execution_over_the_same_files_evaluates_them_all_again(backfill, account, s3, context,
                                                                                monkeypatch):
    """A rules or policy change is re-run by starting the backfill again: nothing of the earlier run is skipped
    (only what was already paged stays unpaged)."""
    files = [put_log_file(s3, "login.json.gz", login_file()), put_log_file(s3, "quiet.json.gz",
                                                                           QUIET_FILE.read_bytes())]
    with pytest.raises(backfill.PublishIncomplete):  # the earlier execution recorded the login file as completed
        backfill.handler({"Items": files, "execution": CHILD_EXECUTION}, ShortOfTime())
    assert len(_progress_items(account.table_name)) == 1 and len(account.alerts()) == 1
    reads = _reads(backfill, monkeypatch)
    again = backfill.handler({"Items": files, "execution": CHILD_EXECUTION.replace("0c8b7a0e", "7f3e2d1c")}, context)
    assert reads == ["login.json.gz", "quiet.json.gz"]
    assert (again["published"], again["alreadyPublished"], again["completedEarlier"]) == (0, 1, 0)
    without_execution = backfill.handler({"Items": files}, context)  # invoked on its own: nothing is skipped
    assert reads[2:] == ["login.json.gz", "quiet.json.gz"] and without_execution["completedEarlier"] == 0


def test_when_the_progress_cannot_be_read_every_file_is_evaluated(backfill, account, s3, context, monkeypatch):
    item = put_log_file(s3, "login.json.gz", login_file())
    backfill.handler({"Items": [item], "execution": CHILD_EXECUTION}, context)
    denied = ClientError({"Error": {"Code": "AccessDeniedException", "Message": "not authorized to perform: "
                                    "dynamodb:BatchGetItem"}}, "BatchGetItem")

    def refuse(**kwargs):
        raise denied

    monkeypatch.setattr(backfill.PROGRESS.client, "batch_get_item", refuse)
    retried = backfill.handler({"Items": [item], "execution": CHILD_EXECUTION}, context)
    assert (retried["completedEarlier"], retried["records"], retried["alreadyPublished"]) == (0, 12, 1)
    assert len(account.alerts()) == 1


# -- failed files within the map's tolerance ---------------------------------------------------------------------

KMS_DENIED = ("User: arn:aws:sts::123456789012:assumed-role/identity-auditor-backfill-evaluator/x is not "
              "authorized to perform: kms:Decrypt on the resource associated with this ciphertext because no "
              "identity-based policy allows the kms:Decrypt action")


def _refusing(backfill, monkeypatch, refused: set[str]) -> None:
    """S3 refuses these keys as it does an object encrypted with a KMS key the role may not use."""
    real = backfill._read_object

    def read(bucket, key):
        if key.rsplit("/", 1)[-1] in refused:
            raise ClientError({"Error": {"Code": "AccessDenied", "Message": KMS_DENIED}}, "GetObject")
        return real(bucket, key)

    monkeypatch.setattr(backfill, "_read_object", read)


@pytest.fixture
def tolerant(account, monkeypatch):
    """The function as the stack configures it (template.yaml: mapping Backfill, the map's own percentage)."""
    from support import load_template

    percentage = load_template()["Mappings"]["Backfill"]["Failures"]["ToleratedPercentage"]
    monkeypatch.setenv("BACKFILL_TOLERATED_FAILURE_PERCENTAGE", percentage)
    return load_backfill_module("backfill_evaluator_tolerant")


def test_one_refused_file_in_a_full_batch_is_reported_not_failing_the_batch(tolerant, account, s3, context,
                                                                            monkeypatch, capsys):
    """Step Functions counts every item of a failed batch as failed: failing 50 files for one would fail any
    backfill of up to 1,000 files at a 5 % tolerance. Within the batch's share, the batch succeeds, naming it."""
    items = [put_log_file(s3, f"quiet-{index:02}.json.gz", QUIET_FILE.read_bytes()) for index in range(batch_size())]
    _refusing(tolerant, monkeypatch, {"quiet-07.json.gz", "quiet-31.json.gz"})
    capsys.readouterr()
    result = tolerant.handler({"Items": items, "execution": CHILD_EXECUTION}, context)  # 2 of 50: 4 %
    assert result["files"] == batch_size()
    assert [entry["key"] for entry in result["failedFiles"]] == [items[7]["key"], items[31]["key"]]
    assert all(entry["error"].startswith("ClientError: An error occurred (AccessDenied) when calling the GetObject "
                                         "operation: User: ") for entry in result["failedFiles"])
    metrics = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith('{"_aws"')]
    assert [m.get("BackfillFilesFailed") for m in metrics] == [[2.0]]
    assert _progress_items(account.table_name) == []  # a batch that succeeds never runs again: nothing recorded
    assert tolerant.TOLERATED_FAILURE_PERCENTAGE == 5


def test_more_refused_files_than_the_tolerance_fail_the_batch_naming_them(tolerant, account, s3, context,
                                                                          monkeypatch, capsys):
    items = [put_log_file(s3, f"quiet-{index:02}.json.gz", QUIET_FILE.read_bytes()) for index in range(batch_size())]
    _refusing(tolerant, monkeypatch, {"quiet-01.json.gz", "quiet-02.json.gz", "quiet-03.json.gz"})
    capsys.readouterr()
    with pytest.raises(tolerant.FilesFailed, match=r"3 of 50 file\(s\) failed, more than the 5 % tolerated: "
                                                  r".*quiet-01.json.gz: ClientError: .*AccessDenied"):
        tolerant.handler({"Items": items, "execution": CHILD_EXECUTION}, context)
    metrics = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith('{"_aws"')]
    assert [m.get("BackfillFilesFailed") for m in metrics] == [[3.0]]
    # the other 47 are recorded: a redrive of the execution, once the access is fixed, reads only the 3
    assert len(_progress_items(account.table_name)) == batch_size() - 3


def test_a_small_batch_is_held_to_the_same_share_of_its_files(tolerant, account, s3, context, monkeypatch):
    """5 % of a batch of 10 is half a file: one refused file is more than that (the map's last, short batch)."""
    items = [put_log_file(s3, f"quiet-{index:02}.json.gz", QUIET_FILE.read_bytes()) for index in range(10)]
    _refusing(tolerant, monkeypatch, {"quiet-04.json.gz"})
    with pytest.raises(tolerant.FilesFailed, match=r"1 of 10 file\(s\) failed"):
        tolerant.handler({"Items": items}, context)


def test_the_tolerance_is_a_share_of_the_batchs_files(backfill):
    """A batch fails when its failed files exceed the percentage, as the map does with its items."""
    fails = backfill.batch_fails
    assert [fails(f, 50, 5) for f in range(5)] == [False, False, False, True, True]
    assert [fails(f, 20, 5) for f in range(3)] == [False, False, True]
    assert fails(1, 1, 5) and not fails(0, 1, 5) and fails(1, 2, 0)
    assert backfill.TOLERATED_FAILURE_PERCENTAGE == 0  # unset (invoked on its own): any failed file fails it
