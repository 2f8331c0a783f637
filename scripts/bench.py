"""make bench: what the auditor costs, measured side by side in one run on this machine.

1. Cold import of each Lambda handler module in fresh processes, next to ``import boto3`` alone
   (goal <= 1.3x), and the peak RSS of a warm CloudTrail handler (must fit 128 MB).
2. Per-event cost of every registered rule on the real invictus record mix, next to the floor of
   parsing the same records with orjson (goal <= 20x).
3. Replay throughput of ``identity-auditor evaluate`` over two gzipped archives of the same 300,000 invictus
   records (fresh event ids): in 1,000-record files and in the corpus's own small files. Every figure is a
   whole process (interpreter, imports), measured alternating with the others, best of 2: the parse floor
   (gunzip + orjson.loads of every record, gc off), evaluate --jobs 1 (goal >= 2x the floor on 1,000-record
   files, >= 1.2x on small files), --jobs left out (goal: never slower than --jobs 1), a one-rule jq filter;
   peak RSS at 1x and 3x the archive (goal within 10%); the findings checked against a full parse of every
   record; the load average and the CPU other processes used printed with each figure, and a warning when
   the machine was busy.
(The state sweep at 100 / 1,000 users is ``scripts/bench_sweep.py``, the all-in cost of an event in the deployment
``scripts/bench_logs.py``, the backfill's ``scripts/bench_cost.py``: ``make bench`` runs them all.)

Environment: BENCH_RUNS (fresh-process runs per import figure, default 21), BENCH_REPLAY_RECORDS (records in
each replay archive, default 300,000; 0 skips the replay section), BENCH_REPLAY_ROUNDS (alternating rounds,
default 2).
"""

from __future__ import annotations

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
REPLAY_RECORDS = int(os.environ.get("BENCH_REPLAY_RECORDS", "300000"))
REPLAY_ROUNDS = int(os.environ.get("BENCH_REPLAY_ROUNDS", "2"))


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

from support import FakeLambdaContext as Context  # the tests' Lambda context

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
        "PYTHONPATH": os.pathsep.join([str(FUNCTIONS / "cloudtrail_evaluator"), str(ROOT / "tests")]),
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
    print(f"  duration per event                           {result['per_event_ms']:7.3f} ms   (what an event costs in the"
          " deployment, at the template's memory and with its logs: scripts/bench_logs.py below)")
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
    """Replay throughput, side by side in one run: whole processes (interpreter start-up and imports included),
    alternating, best of :data:`REPLAY_ROUNDS`, on two archives of the same records: 1,000-record files (a
    busy account's delivery) and the invictus corpus's own small files."""
    if REPLAY_RECORDS <= 0:
        return
    sys.path.insert(0, str(ROOT / "tests"))
    from archives import invictus_in_files_of, replicate_invictus  # the test-corpus generators (tests/archives.py)

    work = Path(tempfile.mkdtemp(prefix="identity-auditor-bench-"))
    try:
        big, _ = invictus_in_files_of(work / "files-of-1000", REPLAY_RECORDS, 1000)
        small, small_records = replicate_invictus(work / "small-files", max(1, round(REPLAY_RECORDS / 2900)))
        _replay_archive("1,000-record files", work / "files-of-1000", big, REPLAY_RECORDS, goal=2.0, work=work)
        _replay_archive("small files (the corpus's own, ~53 records each)", work / "small-files", small,
                        small_records, goal=1.2, work=work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


_FLOOR = """
import gc, gzip, sys
from pathlib import Path
import orjson
gc.disable()
records = 0
for path in sorted(Path(sys.argv[1]).rglob("*.gz")):
    records += len(orjson.loads(gzip.decompress(path.read_bytes()))["Records"])
print(records)
"""


_BREAKDOWN = """
import json, sys, time
started = time.perf_counter()
from datetime import datetime, timezone
from identity_auditor.archive import reader
from identity_auditor.model.contract import Context
from identity_auditor.model.policy import DEFAULT_POLICY
imported = time.perf_counter()

class Timed(reader.Replayer):  # the time spent validating and evaluating the records some rule wants
    evaluating = 0.0
    def _evaluated(self, *args):
        begun = time.perf_counter()
        super()._evaluated(*args)
        Timed.evaluating += time.perf_counter() - begun

now = datetime.now(timezone.utc)
ctx = Context(now=now, policy=DEFAULT_POLICY)
replayer, steps = Timed(now=now), reader.StepSpool(ctx)
begun = time.perf_counter()
for source in reader.plan_inputs([sys.argv[1]]).sources:
    steps.extend(replayer.run(source).steps)
read = time.perf_counter()
reader.sequence_findings(steps, ctx)
judged = time.perf_counter()
print(json.dumps({"start-up": imported - started, "reading": read - begun - Timed.evaluating,
                  "evaluating": Timed.evaluating, "sequences judged": judged - read}))
"""


def _where_the_time_goes(folder: Path) -> str:
    """evaluate's time split, in a fresh process (best of 2): start-up and imports, reading (gunzip, the prefilter,
    cutting out and parsing the records some rule wants, observing the sequence steps), validating and evaluating
    those records, judging the sequences."""
    env = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}
    runs = [json.loads(subprocess.run([sys.executable, "-c", _BREAKDOWN, str(folder)], check=True, env=env,
                                      capture_output=True, text=True).stdout) for _ in range(2)]
    best = min(runs, key=lambda run: sum(run.values()))
    return ", ".join(f"{name} {seconds:.2f} s" for name, seconds in best.items())


class Run:
    """One whole-process run: wall seconds, the child's peak RSS, the load average before it, and how much CPU
    the rest of the machine used meanwhile (in cores: /proc/stat's busy time less the child's own)."""

    def __init__(self, argv: list[str], output: Path):
        load = os.getloadavg()[0]
        busy_before = _machine_busy()
        # GNU time forks the command from its own small process: a child forked from this (large) one would
        # count this process's memory in its peak RSS (Linux keeps ru_maxrss across exec)
        timer = shutil.which("time") or "/usr/bin/time"
        rss_file = output.with_suffix(".rss")
        measured = [timer, "-f", "%M", "-o", str(rss_file), *argv] if Path(timer).exists() else argv
        # bytecode caching on, as an installed CLI has it (this machine's environment sets PYTHONDONTWRITEBYTECODE,
        # which would recompile the package in every evaluate process and not in the floor's)
        env = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}
        with open(output, "wb") as out:
            started = time.perf_counter()
            child = subprocess.Popen(measured, stdout=out, stderr=subprocess.DEVNULL, env=env)
            _, status, usage = os.wait4(child.pid, 0)
            self.seconds = time.perf_counter() - started
        if os.waitstatus_to_exitcode(status) not in (0, 1):
            raise RuntimeError(f"{argv[:3]} failed: exit {os.waitstatus_to_exitcode(status)}")
        peak_kb = usage.ru_maxrss
        if measured is not argv:
            peak_kb = int(rss_file.read_text().split()[-1])
        self.rss_mb = peak_kb / 1024
        self.load = load
        busy = _machine_busy() - busy_before if busy_before is not None else None
        self.others = None if busy is None else max(0.0, (busy - usage.ru_utime - usage.ru_stime) / self.seconds)

    def note(self) -> str:
        others = f"{self.others:4.2f}" if self.others is not None else "  ? "
        return f"{self.rss_mb:6.0f} MB   load {self.load:4.2f}, others {others} cores"


def _machine_busy() -> float | None:
    """CPU seconds the whole machine has been busy (all cores), from /proc/stat; None elsewhere."""
    from identity_auditor.archive.pool import cpu_ticks

    ticks = cpu_ticks()
    if ticks is None:
        return None
    idle, total = ticks
    return (total - idle) / os.sysconf("SC_CLK_TCK")


BUSY = 0.3  # cores used by others during a run, past which its figure is not to be trusted


def _replay_archive(label: str, folder: Path, files: list[Path], records: int, *, goal: float, work: Path) -> None:
    from identity_auditor.archive import pool, reader

    compressed = sum(path.stat().st_size for path in files)
    cli = [str(ROOT / ".venv" / "bin" / "identity-auditor"), "evaluate", str(folder), "--format", "jsonl"]
    commands = {
        "floor": [sys.executable, "-c", _FLOOR, str(folder)],
        "jobs 1": [*cli, "--jobs", "1"],
        "default": cli,
    }
    best: dict[str, Run] = {}
    for round_ in range(REPLAY_ROUNDS):  # alternating: each figure sees the same machine
        for name, argv in commands.items():
            run = Run(argv, work / f"{name}.out")
            if name not in best or run.seconds < best[name].seconds:
                best[name] = run
    outputs = {name: (work / f"{name}.out").read_bytes() for name in ("jobs 1", "default")}
    chosen = pool.auto_jobs(reader.plan_inputs([str(folder)]).items)
    triple = Run([*cli[:2], str(folder), str(folder), str(folder), *cli[3:], "--jobs", "1"], work / "triple.out")
    jq = shutil.which("jq")
    jq_run = None
    if jq:
        filter_ = ('.Records[] | select(.eventName == "ConsoleLogin" and .responseElements.ConsoleLogin == "Success"'
                   ' and (.additionalEventData.MFAUsed // "No") != "Yes") | .eventID')
        # one gzip and one jq process over the whole archive (gzip -dc reads concatenated members)
        jq_run = Run(["bash", "-O", "globstar", "-c", f"cat {folder}/**/*.gz | gzip -dc | {jq} -c '{filter_}'"],
                     work / "jq.out")
    identical = _as_a_full_parse(folder, outputs["jobs 1"])

    floor = best["floor"].seconds
    print(f"\nReplay of {records:,} records in {len(files):,} gzipped {label} ({compressed / 1e6:.1f} MB gz); whole "
          f"processes, best of {REPLAY_ROUNDS} alternating runs")

    def line(text: str, run: Run, extra: str = "") -> None:
        print(f"  {text:<40}{records / run.seconds:10,.0f} records/s  {floor / run.seconds:5.2f}x the floor  "
              f"{run.note()}{extra}")

    line("floor: gunzip + orjson.loads, gc off", best["floor"])
    line("evaluate --jobs 1, every rule", best["jobs 1"], f"   (goal >= {goal}x the floor)")
    line(f"evaluate, --jobs left out ({chosen} now)", best["default"],
         f"   {best['jobs 1'].seconds / best['default'].seconds:.2f}x --jobs 1 (goal >= 1.0x: never slower)")
    if jq_run:
        line("jq, one rule (console login without MFA)", jq_run)
    else:
        print("  jq not installed (apt-get install jq): one-rule jq comparison skipped")
    growth = triple.rss_mb / best["jobs 1"].rss_mb - 1
    print(f"  peak RSS of evaluate --jobs 1: {best['jobs 1'].rss_mb:.0f} MB at 1x the archive, {triple.rss_mb:.0f} MB "
          f"at 3x ({growth:+.0%}, goal within 10%)")
    print(f"  where evaluate --jobs 1 spends it (in-process): {_where_the_time_goes(folder)}")
    found = outputs["jobs 1"].count(b"\n")
    print(f"  findings: {found:,}; the same as a full parse of every record: "
          f"{identical}; --jobs 1 and --jobs left out identical: {outputs['jobs 1'] == outputs['default']}")
    runs = [*best.values(), triple, *([jq_run] if jq_run else [])]
    busy = max((run.others or 0.0) for run in runs)
    if busy > BUSY:
        print(f"  WARNING: the machine was busy (other processes used up to {busy:.2f} cores during a run, load "
              f"average up to {max(run.load for run in runs):.2f}): these figures are not to be trusted")


def _as_a_full_parse(folder: Path, output: bytes) -> bool:
    """Whether evaluate's findings (its JSON Lines ``output``) are, in order, those of every record parsed whole
    (the reader without its prefilter), event rules then sequences."""
    from identity_auditor.archive import reader
    from identity_auditor.model.contract import Context
    from identity_auditor.model.policy import DEFAULT_POLICY

    now = datetime.now(timezone.utc)
    whole = reader.Replayer(now=now, prefilter=False)
    findings, steps = [], []
    for source in reader.plan_inputs([str(folder)]).sources:
        result = whole.run(source)
        findings += result.findings
        steps += result.steps
    findings += reader.sequence_findings(steps, Context(now=now, policy=DEFAULT_POLICY))[0]
    shown = [json.loads(line) for line in output.splitlines()]
    key = ("finding_id", "rule_id", "event_id", "severity", "description")
    return [tuple(line[k] for k in key) for line in shown] == [
        tuple(json.loads(json.dumps(f.summary(), default=str))[k] for k in key) for f in findings]


def _timed(fn) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


if __name__ == "__main__":
    cold_imports()
    warm_handler()
    per_event()
    replay()
