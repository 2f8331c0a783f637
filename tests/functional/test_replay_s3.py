"""``identity-auditor evaluate s3://bucket/prefix``: paginated listing, streaming download, time-window
pruning of CloudTrail date paths and per-object errors, against moto (in-process, and a moto server on
127.0.0.1 reached through AWS_ENDPOINT_URL for the worker processes)."""

from __future__ import annotations

import gzip
import io
import json
import re

import boto3
import pytest
from identity_auditor.archive import reader as replay_module
from identity_auditor.archive.pool import replay
from identity_auditor.archive.reader import Source, plan_inputs
from identity_auditor.cli.main import main
from identity_auditor.cli.output import Listing
from moto import mock_aws
from support import CORPUS, INVICTUS_FINDINGS, INVICTUS_SUMMARY, corpus_records

INVICTUS = CORPUS / "invictus"
BUCKET = "org-cloudtrail"
TRAIL = "AWSLogs/218007301253/CloudTrail/us-east-1"


def run(*argv: object) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main([str(arg) for arg in argv], stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def jsonl(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines()]


def upload_invictus(s3, prefix: str = TRAIL, day: str = "2023/07/10") -> list[str]:
    """The invictus log files as CloudTrail writes them: gzipped, under the account/region/date path."""
    keys = []
    for path in sorted(INVICTUS.glob("*.json")):
        key = f"{prefix}/{day}/{path.name}.gz"
        s3.put_object(Bucket=BUCKET, Key=key, Body=gzip.compress(path.read_bytes()))
        keys.append(key)
    return keys


@pytest.fixture
def s3():
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        yield client


@pytest.fixture(scope="module")
def local_findings() -> list[dict]:
    code, out, err = run("evaluate", INVICTUS, "--format", "jsonl", "--jobs", "1")
    assert code == 0, err
    return jsonl(out)


@pytest.fixture
def downloads(monkeypatch) -> list[str]:
    """The keys replay downloads (GetObject calls of the clients it makes)."""
    keys: list[str] = []
    make = replay_module.s3_client

    def counting_client():
        client = make()
        client.meta.events.register("before-parameter-build.s3.GetObject", lambda params, **_: keys.append(params["Key"]))
        return client

    monkeypatch.setattr(replay_module, "s3_client", counting_client)
    return keys


def test_prefix_gives_the_same_findings_as_the_local_archive(s3, local_findings, downloads):
    keys = upload_invictus(s3)
    code, out, err = run("evaluate", f"s3://{BUCKET}/AWSLogs/", "--format", "jsonl", "--jobs", "1")
    assert code == 0, err
    assert jsonl(out) == local_findings
    assert err.strip() == INVICTUS_SUMMARY
    assert downloads == keys  # each object once, in key order


def put_many(s3, keys: list[str], body: bytes) -> None:
    """Many small objects quickly: straight into moto's S3 backend (its client API is 100x slower)."""
    try:
        from moto.core import DEFAULT_ACCOUNT_ID
        from moto.s3.models import s3_backends

        backend = s3_backends[DEFAULT_ACCOUNT_ID]["aws"]
        for key in keys:
            backend.put_object(BUCKET, key, body)
    except (ImportError, KeyError, AttributeError, TypeError):  # moto moved its internals: the slow way
        for key in keys:
            s3.put_object(Bucket=BUCKET, Key=key, Body=body)


def test_listing_is_paginated_and_sorted(s3):
    record = corpus_records("invictus")[0]
    keys = [f"{TRAIL}/2023/07/10/small-{n:04d}.json.gz" for n in range(1_001)]
    put_many(s3, list(reversed(keys)), gzip.compress(json.dumps({"Records": [record]}).encode()))
    pages: list[int] = []
    s3.meta.events.register("after-call.s3.ListObjectsV2", lambda parsed, **_: pages.append(parsed.get("KeyCount", 0)))
    plan = plan_inputs([f"s3://{BUCKET}/AWSLogs"], client=s3)
    assert pages == [1_000, 1]
    assert plan.items == [Source.s3(BUCKET, key) for key in keys]
    across = plan.items[996:]  # the last objects of the first page and the one of the second
    results = list(replay(across, jobs=1))
    assert [r.source for r in results] == [f"s3://{BUCKET}/{key}" for key in keys[996:]]
    assert [r.records for r in results] == [1] * 5 and not any(r.problems for r in results)


def test_plain_json_and_gzip_objects_stream_and_problems_name_the_object(s3):
    records = {r["eventID"]: r for r in corpus_records("invictus")}
    login = records["70e5932e-9022-4b38-837e-ca10dad94eb7"]  # console login without MFA: a finding
    bad_time = {**login, "eventID": "bad-time", "eventTime": ["yesterday"]}  # not text: refused
    s3.put_object(Bucket=BUCKET, Key="logs/a.json", Body=json.dumps({"Records": [login, 42]}).encode())
    s3.put_object(Bucket=BUCKET, Key="logs/b.json.gz", Body=gzip.compress(json.dumps({"Records": [bad_time]}).encode()))
    s3.put_object(Bucket=BUCKET, Key="logs/c.gz", Body=gzip.compress(json.dumps(login).encode())[:25])
    s3.put_object(Bucket=BUCKET, Key="logs/d.jsonl", Body=(json.dumps(login) + "\n" + json.dumps(login)).encode())
    s3.put_object(Bucket=BUCKET, Key="logs/notes.txt", Body=b"not read")
    s3.put_object(Bucket=BUCKET, Key="logs/_index.json", Body=b"not read either")
    s3.put_object(Bucket=BUCKET, Key="logs/CloudTrail-Digest/x.json.gz", Body=b"digests are not records")
    code, out, err = run("evaluate", f"s3://{BUCKET}/logs/", "--format", "jsonl", "--jobs", "1")
    assert code == 2, err
    assert [f["event_id"] for f in jsonl(out)] == [login["eventID"]] * 3
    problems = [line for line in err.splitlines() if line.startswith("identity-auditor: ")]
    assert problems[0] == f"identity-auditor: s3://{BUCKET}/logs/a.json#Records[1]: expected a JSON object, found int"
    assert problems[1].startswith(f"identity-auditor: s3://{BUCKET}/logs/b.json.gz#Records[0]: invalid event: ")
    assert problems[2].startswith(f"identity-auditor: s3://{BUCKET}/logs/c.gz: cannot read: ")
    assert len(problems) == 3
    assert "from 4 inputs; 3 input problems" in err


def test_an_object_that_cannot_be_downloaded_is_a_problem_not_a_crash(s3):
    upload_invictus(s3)
    plan = plan_inputs([f"s3://{BUCKET}/{TRAIL}/"])
    gone = plan.sources[3]
    s3.delete_object(Bucket=BUCKET, Key=gone.key)
    results = list(replay(plan, jobs=1))
    assert results[3].problems[0].origin == gone.name == f"s3://{BUCKET}/{gone.key}"
    assert results[3].problems[0].message.startswith("cannot read: ") and "NoSuchKey" in results[3].problems[0].message
    in_gone = len(json.loads((INVICTUS / gone.key.rsplit("/", 1)[1].removesuffix(".gz")).read_text())["Records"])
    assert sum(r.records for r in results) == 2_900 - in_gone  # the others were read


def test_missing_bucket_and_empty_prefix_are_problems(s3):
    code, out, err = run("evaluate", "s3://no-such-bucket/AWSLogs/", f"s3://{BUCKET}/nothing/", INVICTUS,
                         "--format", "jsonl", "--jobs", "1")
    assert code == 2
    assert len(jsonl(out)) == INVICTUS_FINDINGS  # the local archive was still evaluated
    assert "identity-auditor: s3://no-such-bucket/AWSLogs/: cannot list: " in err and "NoSuchBucket" in err
    assert f"identity-auditor: s3://{BUCKET}/nothing/: prefix holds no .json, .jsonl or .gz objects" in err
    assert "from 55 inputs; 2 input problems" in err


def test_without_credentials_listing_is_a_problem(s3, monkeypatch):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/dev/null")
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)
    code, _, err = run("evaluate", f"s3://{BUCKET}/AWSLogs/", "--jobs", "1")
    assert code == 2
    assert f"identity-auditor: s3://{BUCKET}/AWSLogs/: cannot list: " in err


def test_since_until_prune_date_paths_before_downloading(s3, downloads):
    kept = upload_invictus(s3, day="2023/07/10")
    s3.put_object(Bucket=BUCKET, Key=f"{TRAIL}/2023/07/01/broken.json.gz", Body=b"\x1f\x8b would be a problem")
    s3.put_object(Bucket=BUCKET, Key=f"{TRAIL}/2023/08/01/broken.json.gz", Body=b"\x1f\x8b would be a problem")
    code, out, err = run("evaluate", f"s3://{BUCKET}/AWSLogs/", "--format", "jsonl", "--jobs", "1",
                         "--since", "2023-07-10T12:00:00Z", "--until", "2023-07-10")
    assert code == 0, err
    assert downloads == kept  # the two other days were never downloaded
    assert all(f["event_time"] >= "2023-07-10T12:00:00" for f in jsonl(out))
    # a window of a few days: only its day folders were listed, the other two days were not even seen
    assert "outside --since/--until not read" not in err and "not listed" not in err


def _listed(s3) -> list[tuple[str, str | None]]:
    """(Prefix, Delimiter) of every ListObjectsV2 call made with this client."""
    calls: list[tuple[str, str | None]] = []
    s3.meta.events.register("provide-client-params.s3.ListObjectsV2",
                            lambda params, **_: calls.append((params["Prefix"], params.get("Delimiter"))))
    return calls


def test_a_window_lists_only_its_day_folders(s3):
    """Issue 17: an s3:// prefix was listed whole before --since pruned anything. Now the walk follows
    CloudTrail's layout (an organisation trail here, two accounts, two regions, Insights, digests) and lists
    only the day folders of the window (a day of margin each side)."""
    body = gzip.compress(json.dumps({"Records": [corpus_records("invictus")[0]]}).encode())
    keys = []
    for account in ("111111111111", "222222222222"):
        for trail in ("CloudTrail/us-east-1", "CloudTrail/eu-west-1", "CloudTrail-Insight/us-east-1"):
            for day in ("2023/06/30", "2023/07/09", "2023/07/10", "2023/07/11", "2023/07/12", "2024/01/01"):
                keys.append(f"org/AWSLogs/o-abcdefghij/{account}/{trail}/{day}/{account}_x.json.gz")
        keys.append(f"org/AWSLogs/o-abcdefghij/{account}/CloudTrail-Digest/us-east-1/2023/07/10/d.json.gz")
    keys.append("org/other/notes/2023/07/10/x.json")  # off the layout: listed and read whole
    put_many(s3, keys, body)
    calls = _listed(s3)
    plan = plan_inputs([f"s3://{BUCKET}/org/"], window=replay_module.Window.between("2023-07-10", "2023-07-10"),
                       client=s3)
    read = sorted(source.key for source in plan.sources)
    assert read == sorted([k for k in keys if any(f"/2023/07/{d}/" in k for d in ("09", "10", "11"))
                           and "Digest" not in k and k.startswith("org/AWSLogs")] + ["org/other/notes/2023/07/10/x.json"])
    whole = [prefix for prefix, delimiter in calls if delimiter is None]
    assert all(re.search(r"/20\d\d/\d\d/\d\d/$", prefix) for prefix in whole if prefix.startswith("org/AWSLogs"))
    assert not any("/2023/06/30/" in prefix or "/2024/" in prefix or "Digest" in prefix for prefix, _ in calls)
    assert plan.pruned == 0


def test_a_folder_that_cannot_be_listed_loses_only_its_own_files(s3, monkeypatch):
    """The walk lists folder by folder: AWS refusing one folder (a bucket policy that denies s3:ListBucket for
    one account's prefix, through its s3:prefix condition) is a problem naming that folder; every other folder's
    files are still read, and their findings reported (the whole prefix was lost to it)."""
    from botocore.exceptions import ClientError

    denied = "AWSLogs/o-abcdefghij/222222222222/"
    upload_invictus(s3, prefix="AWSLogs/o-abcdefghij/111111111111/CloudTrail/us-east-1")
    s3.put_object(Bucket=BUCKET, Key=f"{denied}CloudTrail/us-east-1/2023/07/10/x.json.gz",
                  Body=gzip.compress(b'{"Records": []}'))

    def refuse(params, **_):
        if params["Prefix"].startswith(denied):
            raise ClientError({"Error": {"Code": "AccessDenied", "Message": "Access Denied"}}, "ListObjectsV2")

    def refusing_client():
        client = boto3.client("s3", region_name="us-east-1")
        client.meta.events.register("provide-client-params.s3.ListObjectsV2", refuse)
        return client

    monkeypatch.setattr(replay_module, "s3_client", refusing_client)
    plan = plan_inputs([f"s3://{BUCKET}/AWSLogs/"], window=replay_module.Window.between("2023-07-10", "2023-07-10"))
    assert len(plan.sources) == len(list(INVICTUS.glob("*.json")))
    problems = [item for item in plan.items if not isinstance(item, Source)]
    assert [problem.origin for problem in problems] == [f"s3://{BUCKET}/{denied}"]
    assert problems[0].message.startswith("cannot list: ") and "AccessDenied" in problems[0].message

    window = ("--format", "jsonl", "--jobs", "1", "--since", "2023-07-10", "--until", "2023-07-10")
    code, out, err = run("evaluate", f"s3://{BUCKET}/AWSLogs/", *window)
    assert code == 2  # some input could not be read
    local_code, local_out, local_err = run("evaluate", INVICTUS, *window)
    assert local_code == 0, local_err
    assert jsonl(out) == jsonl(local_out) and jsonl(out)
    assert f"identity-auditor: s3://{BUCKET}/{denied}: cannot list: " in err


def test_a_window_open_at_one_end_walks_years_and_months(s3):
    body = gzip.compress(json.dumps({"Records": [corpus_records("invictus")[0]]}).encode())
    keys = [f"{TRAIL}/{day}/f.json.gz" for day in ("2022/12/31", "2023/06/30", "2023/07/01", "2023/07/02", "2024/02/01")]
    put_many(s3, keys, body)
    calls = _listed(s3)
    plan = plan_inputs([f"s3://{BUCKET}/AWSLogs/"], window=replay_module.Window.between("2023-07-02", None),
                       client=s3)
    assert [source.key for source in plan.sources] == keys[2:]  # 07/01: the day of margin
    assert plan.unlisted_folders == 2  # 2022, and 2023/06
    assert not any(prefix.startswith((f"{TRAIL}/2022/", f"{TRAIL}/2023/06/")) for prefix, _ in calls)


def test_listing_shows_its_progress_on_a_terminal(s3):
    put_many(s3, [f"{TRAIL}/2023/07/10/small-{n:04d}.json.gz" for n in range(1_001)], b"x")

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    err = Terminal()
    listing = Listing(err)
    plan_inputs([f"s3://{BUCKET}/AWSLogs/"], client=s3, progress=listing.step)
    assert f"listing s3://{BUCKET}/AWSLogs/: 1000 objects" in err.getvalue()
    assert f"listing s3://{BUCKET}/AWSLogs/: 1001 objects" in err.getvalue()
    listing.done()
    assert err.getvalue().endswith("\r")
    quiet = io.StringIO()
    Listing(quiet).step("s3://b/p", 5, 0)
    assert quiet.getvalue() == ""  # not a terminal: nothing


# -- worker processes: a moto server, reached through AWS_ENDPOINT_URL ---------------------------------


@pytest.fixture
def moto_server(monkeypatch):
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://{host}:{port}")
    try:
        yield
    finally:
        server.stop()


def test_workers_download_in_parallel_through_aws_endpoint_url(moto_server, local_findings):
    client = boto3.client("s3", region_name="us-east-1")  # AWS_ENDPOINT_URL: the moto server
    client.create_bucket(Bucket=BUCKET)
    for path in sorted(INVICTUS.glob("*.json")):
        client.put_object(Bucket=BUCKET, Key=f"{TRAIL}/2023/07/10/{path.name}.gz", Body=gzip.compress(path.read_bytes()))
    client.put_object(Bucket=BUCKET, Key=f"{TRAIL}/2023/07/10/zz-corrupt.json.gz", Body=b"\x1f\x8bbroken")
    url = f"s3://{BUCKET}/AWSLogs/"
    two = run("evaluate", url, "--format", "jsonl", "--jobs", "2")
    one = run("evaluate", url, "--format", "jsonl", "--jobs", "1")
    assert two == one
    code, out, err = two
    assert code == 2
    assert jsonl(out) == local_findings
    assert f"identity-auditor: s3://{BUCKET}/{TRAIL}/2023/07/10/zz-corrupt.json.gz: cannot read: " in err


def test_objects_are_gunzipped_as_they_download(s3, monkeypatch):
    """Each S3 object is inflated chunk by chunk as it arrives (never held whole, compressed, next to what it
    expands to), with the same records, findings and problems as the same bytes read from a file."""
    monkeypatch.setattr(replay_module, "DOWNLOAD_CHUNK", 4096)
    path = sorted(INVICTUS.glob("*.json"))[0]
    good = gzip.compress(path.read_bytes())
    bodies = {"good.json.gz": good, "two.json.gz": good + gzip.compress(path.read_bytes()),
              "cut.json.gz": good[:-100], "plain.json": path.read_bytes(), "tiny.json.gz": b"\x1f"}
    for name, body in bodies.items():
        s3.put_object(Bucket=BUCKET, Key=f"logs/{name}", Body=body)
    pulled: list[int] = []
    real = replay_module.gunzip

    def counting(data, *args):
        if isinstance(data, bytes):  # the local read: whole
            return real(data, *args)
        return real((pulled.append(len(chunk)) or chunk for chunk in data), *args)

    monkeypatch.setattr(replay_module, "gunzip", counting)
    replayer = replay_module.Replayer()
    for name, body in bodies.items():
        pulled.clear()
        streamed = replayer.run(Source.s3(BUCKET, f"logs/{name}"))
        local = replayer.read(f"s3://{BUCKET}/logs/{name}", body)
        assert (streamed.records, streamed.findings, streamed.problems) == (local.records, local.findings,
                                                                            local.problems), name
        if name == "good.json.gz":
            assert len(pulled) == -(-len(good) // 4096) > 1 and streamed.records > 0  # inflated piece by piece
    assert replayer.run(Source.s3(BUCKET, "logs/cut.json.gz")).problems[0].message.startswith("cannot read: ")
