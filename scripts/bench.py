"""make bench: what the auditor costs, measured side by side in one run on this machine.

1. Cold import of each Lambda handler module in fresh processes, next to ``import boto3`` alone
   (goal <= 1.3x), and the peak RSS of a warm CloudTrail handler (must fit 128 MB).
2. Per-event cost of every registered rule on the real invictus record mix, next to the floor of
   parsing the same records with orjson (goal <= 20x).
3. Replay throughput over a >= 300,000-record gzipped archive (the invictus corpus replicated with
   fresh event ids), next to the floor (gunzip + orjson parse of the same files) and a one-rule jq
   filter (goal: >= 50% of the floor on one core, faster than jq while running every rule).
4. The Lambda cost per million events from the measured warm handler duration at 128 MB arm64.
(The state sweep at 100 / 1,000 users is ``scripts/bench_sweep.py``, also run by ``make bench``.)

Environment: BENCH_RUNS (fresh-process runs per import figure, default 21), BENCH_REPLAY_COPIES
(invictus copies in the replay archive, default 104 = 301,600 records; 0 skips the replay section).
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "corpus" / "invictus"
FUNCTIONS = ROOT / "functions"
EVENTS = ROOT / "events" / "cloudtrail"
RUNS = int(os.environ.get("BENCH_RUNS", "21"))
REPLAY_COPIES = int(os.environ.get("BENCH_REPLAY_COPIES", "104"))
ARM64_128MB_PER_MS = 0.0000133334 * 0.125 / 1000  # USD per ms at 128 MB (GB-s price, us-east-1, arm64)
REQUEST_PRICE = 0.20 / 1_000_000  # USD per invocation


def _interleaved(snippets: dict[str, tuple[str, str]]) -> dict[str, float]:
    """Median wall time (s) of fresh interpreters running each snippet (code, PYTHONPATH), interleaved,
    minus an empty interpreter's: every snippet sees the same machine conditions."""

    def once(code: str, path: str) -> float:
        # Bytecode caching on, as in Lambda where the layer ships compiled modules (this machine's
        # environment sets PYTHONDONTWRITEBYTECODE, which would recompile the package on every start).
        env = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}
        env["PYTHONPATH"] = path
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True, env=env)
        return time.perf_counter() - started

    runs = {"": ("pass", ""), **snippets}
    for code, path in runs.values():
        once(code, path)  # warm the file cache
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(RUNS):
        for name, (code, path) in runs.items():
            times[name].append(once(code, path))
    baseline = statistics.median(times[""])
    return {name: statistics.median(values) - baseline for name, values in times.items() if name}


def cold_imports() -> None:
    handlers = sorted(path.parent.name for path in FUNCTIONS.glob("*/*.py") if path.stem == path.parent.name)
    snippets = {"boto3": ("import boto3", "")}
    snippets |= {name: (f"import {name}", str(FUNCTIONS / name)) for name in handlers}
    results = _interleaved(snippets)
    boto3_alone = results["boto3"]
    print(f"Cold import (fresh processes, medians of {RUNS}, interleaved, interpreter start-up subtracted)")
    print(f"  import boto3 alone                           {boto3_alone * 1000:7.1f} ms")
    for name in handlers:
        ratio = results[name] / boto3_alone
        print(f"  import {name + ' handler':<38}{results[name] * 1000:7.1f} ms   ratio {ratio:.2f}x (goal <= 1.3x)")


_WARM = """
import json, resource, sys, time
from pathlib import Path
import cloudtrail_evaluator as app

class Context:
    function_name = "bench"; function_version = "$LATEST"; memory_limit_in_mb = 128
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:bench"
    aws_request_id = "00000000-0000-4000-8000-000000000000"
    @staticmethod
    def get_remaining_time_in_millis(): return 60_000

events = [json.loads(p.read_text()) for p in sorted(Path(sys.argv[1]).glob("*.json"))]
for event in events:  # warm up: builds the sinks (none configured: nothing leaves the machine)
    app.handler(event, Context())
rounds = 20
started = time.perf_counter()
for _ in range(rounds):
    for event in events:
        app.handler(event, Context())
per_event_ms = (time.perf_counter() - started) * 1000 / (rounds * len(events))
print(json.dumps({"per_event_ms": per_event_ms, "events": len(events),
                  "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def warm_handler() -> dict:
    env = {
        **os.environ,
        "PYTHONPATH": str(FUNCTIONS / "cloudtrail_evaluator"),
        "FINDINGS_TOPIC_ARN": "",
        "SECURITY_HUB_ENABLED": "false",
        "IDEMPOTENCY_TABLE": "",
        "POWERTOOLS_METRICS_DISABLED": "true",
        "POWERTOOLS_LOG_LEVEL": "ERROR",
        "POWERTOOLS_METRICS_NAMESPACE": "IdentityAuditor",
    }
    output = subprocess.run([sys.executable, "-c", _WARM, str(EVENTS)], check=True, env=env, capture_output=True,
                            text=True).stdout
    result = json.loads(output.strip().splitlines()[-1])
    print(f"\nWarm CloudTrail handler over the {result['events']} samples in events/cloudtrail (20 rounds)")
    print(f"  peak RSS                                     {result['max_rss_mb']:7.1f} MB   (Lambda size: 128 MB)")
    print(f"  duration per event                           {result['per_event_ms']:7.3f} ms")
    billed = max(1, round(result["per_event_ms"] + 0.5))  # Lambda bills whole milliseconds
    cost = 1_000_000 * (billed * ARM64_128MB_PER_MS + REQUEST_PRICE)
    print(f"  Lambda cost per million events (128 MB arm64, {billed} ms billed each + requests): ${cost:.2f}")
    return result


def per_event() -> None:
    import orjson
    from identity_auditor.archive.inputs import as_eventbridge
    from identity_auditor.engine.events import Engine
    from identity_auditor.engine.registry import REGISTRY
    from identity_auditor.engine.sequences import MemoryStore, SequenceEngine
    from identity_auditor.model.cloudtrail import CloudTrailEvent
    from identity_auditor.model.contract import Context

    texts = [orjson.dumps(as_eventbridge(r)) for p in sorted(CORPUS.glob("*.json"))
             for r in json.loads(p.read_text())["Records"]]
    ctx = Context(now=datetime.now(timezone.utc))
    engine = Engine(REGISTRY.able_to_fire(ctx))  # as `evaluate` runs them

    def floor() -> None:
        for text in texts:
            orjson.loads(text)

    def filtered() -> None:
        for text in texts:
            event = orjson.loads(text)
            detail = event["detail"]
            if engine.registry.wants(detail["eventSource"], detail["eventName"], detail["userIdentity"].get("type")):
                parsed = CloudTrailEvent.model_validate(event)
                engine.evaluate(parsed.detail, ctx, account=parsed.account, region=parsed.region)

    def full() -> None:
        for text in texts:
            parsed = CloudTrailEvent.model_validate_json(text)
            engine.evaluate(parsed.detail, ctx, account=parsed.account, region=parsed.region)

    stores: list[MemoryStore] = []

    def with_sequences() -> None:  # the handler's path: the event rules, then the sequences the record is a step of
        store = MemoryStore()
        stores.append(store)
        sequences = SequenceEngine(store)
        for text in texts:
            event = orjson.loads(text)
            detail = event["detail"]
            if engine.registry.wants(detail["eventSource"], detail["eventName"], detail["userIdentity"].get("type")):
                parsed = CloudTrailEvent.model_validate(event)
                result = engine.evaluate(parsed.detail, ctx, account=parsed.account, region=parsed.region)
                sequences.commit(sequences.evaluate(parsed.detail, result.fired, ctx, account=parsed.account,
                                                    region=parsed.region))

    def best(fn) -> float:
        return min(_timed(fn) for _ in range(5)) / len(texts)

    floor_s, filtered_s, full_s, sequences_s = best(floor), best(filtered), best(full), best(with_sequences)
    calls = stores[-1].calls  # each: one DynamoDB UpdateItem in the deployment
    print(f"\nPer event over {len(texts)} real records (invictus), {len(engine.registry.rules)} rules and "
          f"{len(engine.registry.sequences)} sequences, best of 5")
    print(f"  floor: orjson.loads                          {floor_s * 1e6:7.2f} us")
    print(f"  filter on the registry, parse, rules         {filtered_s * 1e6:7.2f} us   ratio {filtered_s / floor_s:.1f}x"
          " (goal <= 20x)")
    print(f"  the same with the sequences (memory store)   {sequences_s * 1e6:7.2f} us   ratio {sequences_s / floor_s:.1f}x"
          f"   (+{(sequences_s - filtered_s) * 1e6:.2f} us per event)")
    print(f"  sequence state calls: {calls} for {len(texts)} events = {calls * 1_000_000 // len(texts):,} per million "
          "events (DynamoDB UpdateItem)")
    print(f"  full pydantic parse of every event + rules   {full_s * 1e6:7.2f} us   ratio {full_s / floor_s:.1f}x")


def replay() -> None:
    if REPLAY_COPIES <= 0:
        return
    sys.path.insert(0, str(ROOT / "tests"))
    import orjson
    from archives import replicate_invictus  # the test-corpus generator (tests/archives.py)

    work = Path(tempfile.mkdtemp(prefix="identity-auditor-bench-"))
    try:
        files, records = replicate_invictus(work, REPLAY_COPIES)
        files = sorted(files)
        compressed = sum(path.stat().st_size for path in files)
        raw = 0

        def floor() -> None:
            nonlocal raw
            raw = 0
            for path in files:
                data = gzip.decompress(path.read_bytes())
                raw += len(data)
                orjson.loads(data)

        floor_s = min(_timed(floor) for _ in range(2))
        cli = [str(ROOT / ".venv" / "bin" / "identity-auditor"), "evaluate", str(work), "--format", "jsonl"]
        outputs: dict[str, bytes] = {}

        def run(jobs: str) -> None:
            outputs[jobs] = subprocess.run([*cli, "--jobs", jobs], check=False, capture_output=True).stdout

        cores = os.cpu_count() or 1
        one_core = _timed(lambda: run("1"))
        all_cores = _timed(lambda: run(str(cores)))
        same = outputs["1"] == outputs[str(cores)]
        found = outputs["1"].count(b"\n")
        jq = shutil.which("jq")
        jq_s = None
        if jq:
            filter_ = ('.Records[] | select(.eventName == "ConsoleLogin" and .responseElements.ConsoleLogin == "Success"'
                       ' and (.additionalEventData.MFAUsed // "No") != "Yes") | .eventID')
            # one gzip and one jq process over the whole archive (gzip -dc reads concatenated members)
            script = f"cat {work}/**/*.gz | gzip -dc | {jq} -c '{filter_}'"
            jq_s = _timed(lambda: subprocess.run(["bash", "-O", "globstar", "-c", script], check=True,
                                                 capture_output=True))
        mb = raw / 1e6
        print(f"\nReplay of {records:,} records in {len(files)} gzipped files ({compressed / 1e6:.1f} MB gz, "
              f"{mb:.0f} MB JSON)")
        print(f"  floor: gunzip + orjson.loads, one core       {records / floor_s:10,.0f} records/s  {mb / floor_s:7.1f} MB/s")
        print(f"  evaluate, every rule, --jobs 1               {records / one_core:10,.0f} records/s  "
              f"{mb / one_core:7.1f} MB/s   {floor_s / one_core:.0%} of the floor (goal >= 50%)")
        print(f"  evaluate, every rule, --jobs {cores:<2}             {records / all_cores:10,.0f} records/s  "
              f"{mb / all_cores:7.1f} MB/s")
        print(f"  findings: {found:,}; --jobs 1 and --jobs {cores} outputs identical: {same}")
        if jq_s:
            print(f"  jq, one rule (console login without MFA)     {records / jq_s:10,.0f} records/s  "
                  f"{mb / jq_s:7.1f} MB/s   evaluate --jobs 1 is {jq_s / one_core:.1f}x faster")
        else:
            print("  jq not installed (apt-get install jq): one-rule jq comparison skipped")
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _timed(fn) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


if __name__ == "__main__":
    cold_imports()
    warm_handler()
    per_event()
    replay()
