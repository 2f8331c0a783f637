"""Measure what the foundation promises, side by side in one run on this machine.

1. Cold import of the CloudTrailEvaluator handler module in fresh processes, next to ``import boto3``
   alone (goal: <= 1.3x). boto3 is imported by the handler only when an event produced a finding, so
   the first finding's cost is shown too.
2. Per-event evaluation cost over the real invictus archive: parse + every registered rule, next to the
   floor of parsing the same records with ``json.loads`` (ratio).

Run: ``make bench`` (or ``.venv/bin/python scripts/bench.py``).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT.parent / "shared" / "corpus" / "invictus"
HANDLER_DIR = ROOT / "functions" / "cloudtrail_evaluator"
RUNS = int(os.environ.get("BENCH_RUNS", "21"))


def _fresh(*snippets: str) -> list[float]:
    """Wall time (s) of a fresh interpreter running each snippet, minus an empty interpreter's: the
    snippets run interleaved, ``RUNS`` times each, and the median of each is kept (robust to a busy
    machine, and fair: every snippet sees the same conditions)."""
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "PYTHONPATH": str(HANDLER_DIR)}

    def once(snippet: str) -> float:
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", snippet], check=True, env=env)
        return time.perf_counter() - started

    codes = ("pass", *snippets)
    for code in codes:
        once(code)  # warm the file cache
    times: dict[str, list[float]] = {code: [] for code in codes}
    for _ in range(RUNS):
        for code in codes:
            times[code].append(once(code))
    baseline = statistics.median(times["pass"])
    return [statistics.median(times[code]) - baseline for code in snippets]


def cold_imports() -> None:
    boto3_alone, handler, first_finding = _fresh(
        "import boto3",
        "import app",
        "import app, boto3; boto3.client('securityhub', region_name='us-east-1'); "
        "boto3.client('sns', region_name='us-east-1')",
    )
    print("Cold import (fresh processes, median of %d, interpreter start-up subtracted)" % RUNS)
    print(f"  import boto3 alone                         {boto3_alone * 1000:7.1f} ms")
    print(f"  import handler module (app)                {handler * 1000:7.1f} ms   ratio {handler / boto3_alone:.2f}x (goal <= 1.3x)")
    print(f"  handler + boto3 + two clients (1st finding){first_finding * 1000:7.1f} ms   ratio {first_finding / boto3_alone:.2f}x")


def per_event() -> None:
    from identity_auditor.contract import Context
    from identity_auditor.engine import Engine
    from identity_auditor.inputs import as_eventbridge
    from identity_auditor.models import CloudTrailEvent

    texts = [json.dumps(as_eventbridge(r)) for p in sorted(CORPUS.glob("*.json")) for r in json.loads(p.read_text())["Records"]]
    engine, ctx = Engine(), Context(now=datetime.now(timezone.utc))

    def floor() -> None:
        for text in texts:
            json.loads(text)

    def full() -> None:
        for text in texts:
            event = json.loads(text)
            detail = event["detail"]
            if engine.registry.wants(detail["eventSource"], detail["eventName"]):
                parsed = CloudTrailEvent.model_validate(event)
                engine.evaluate(parsed.detail, ctx, account=parsed.account, region=parsed.region)

    def watched_only() -> None:
        for text in texts:
            parsed = CloudTrailEvent.model_validate_json(text)
            engine.evaluate(parsed.detail, ctx, account=parsed.account, region=parsed.region)

    def best(fn) -> float:
        return min(_timed(fn) for _ in range(5)) / len(texts)

    floor_s, full_s, all_s = best(floor), best(full), best(watched_only)
    print(f"\nPer-event cost over {len(texts)} real records (invictus), best of 5")
    print(f"  floor: json.loads                          {floor_s * 1e6:7.1f} us/event")
    print(f"  CLI path: parse, filter, rules             {full_s * 1e6:7.1f} us/event   ratio {full_s / floor_s:.1f}x")
    print(f"  Lambda path: full model parse + rules      {all_s * 1e6:7.1f} us/event   ratio {all_s / floor_s:.1f}x")


def _timed(fn) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


if __name__ == "__main__":
    cold_imports()
    per_event()
