"""make bench: what the backfill costs per million CloudTrail records, from the deployment's own settings.

The settings are read from template.yaml (the backfill function's memory, its timeout) and
statemachine/backfill.asl.json (files per child execution: ItemBatcher.MaxItemsPerBatch; the states a child
execution and the parent execution enter); the evaluation of one log file is measured here (CPU time of the
backfill's reader and every rule over a gzipped file of real records, the invictus corpus with fresh event ids);
the formula and the us-east-1 list prices are identity_auditor.archive.cost's (its docstring has both, with the
pricing pages they come from). Printed for log files of 1,000 records (a busy account) and of 50 (a quiet one),
with the assumptions; exits 1 when a figure is over the target of $0.10 per million records (issue 18).

    python scripts/bench_cost.py [RECORDS_PER_FILE ...]        (default: 1000 50)
"""

from __future__ import annotations

import gzip
import json
import os
import sys
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "layers" / "identity_auditor"))  # this tree's package, not an installed one
from support import load_template  # noqa: E402  (template.yaml with CloudFormation's short-form tags)

from identity_auditor.archive.cost import (  # noqa: E402
    MB_PER_VCPU,
    PRICES_AS_OF,
    Backfill,
    backfill_cost,
)

ASL = ROOT / "statemachine" / "backfill.asl.json"
CORPUS = ROOT / "tests" / "corpus" / "invictus"
TARGET = 0.10  # USD per million records (issue 18, "Done when")
RECORDS_MEASURED = 20_000  # records read per measure (each file size), three rounds


def _path(states: dict, start: str) -> list[str]:
    """The states an execution enters from ``start`` (Next after Next, to the End)."""
    path, name = [], start
    while name is not None:
        path.append(name)
        name = states[name].get("Next")
    return path


def _value(template: dict, value):
    """A property's value: a number, or the default of the parameter it references."""
    if isinstance(value, dict) and "Ref" in value:
        return template["Parameters"][value["Ref"]]["Default"]
    return value


def template_settings() -> tuple[Backfill, int]:
    """(the cost settings, the function's timeout in seconds), from template.yaml and the state machine."""
    template = load_template()
    function = template["Resources"]["BackfillEvaluatorFunction"]["Properties"]
    defaults = template.get("Globals", {}).get("Function", {})
    memory = int(_value(template, function.get("MemorySize", defaults.get("MemorySize", 128))))
    timeout = int(_value(template, function.get("Timeout", defaults.get("Timeout", 3))))
    definition = json.loads(ASL.read_text())
    parent = _path(definition["States"], definition["StartAt"])
    (map_name,) = [name for name in parent if definition["States"][name]["Type"] == "Map"]
    map_state = definition["States"][map_name]
    processor = map_state["ItemProcessor"]
    batch = map_state.get("ItemBatcher", {}).get("MaxItemsPerBatch", 1)  # no batcher: one file per child
    return Backfill(files_per_batch=int(batch), memory_mb=memory,
                    child_states=len(_path(processor["States"], processor["StartAt"])),
                    parent_states=len(parent)), timeout


def _files(records_per_file: int, count: int) -> list[bytes]:
    """``count`` gzipped log files of real records (the corpus, cycled, each record with a fresh event id)."""
    records = [record for path in sorted(CORPUS.glob("*.json")) for record in json.loads(path.read_text())["Records"]]
    files, index = [], 0
    for _ in range(count):
        chunk = []
        for _ in range(records_per_file):
            chunk.append({**records[index % len(records)], "eventID": str(uuid.uuid4())})
            index += 1
        files.append(gzip.compress(json.dumps({"Records": chunk}).encode(), 6))
    return files


def cpu_seconds_per_file(records_per_file: int) -> float:
    """CPU seconds (this process, so other work on the machine does not count) to read and evaluate one file,
    as the backfill does: its reader, every registered rule, a context per record; the fewest of three rounds."""
    from identity_auditor.archive.reader import Replayer
    from identity_auditor.engine.events import Engine
    from identity_auditor.engine.registry import REGISTRY
    from identity_auditor.model.contract import Context

    now = datetime.now(timezone.utc)
    context = Context(now=now)
    replayer = Replayer(now=now, engine=Engine(REGISTRY), deliver=lambda origin, envelope, findings: None,
                        context=lambda record: context)
    count = max(3, RECORDS_MEASURED // records_per_file)
    files = _files(records_per_file, count)
    replayer.read("warm-up", files[0])
    rounds = []
    for _ in range(3):
        started = time.process_time()
        for index, data in enumerate(files):
            replayer.read(f"file-{index}", data)
        rounds.append((time.process_time() - started) / count)
    return min(rounds)


def main(argv: list[str]) -> int:
    sizes = [int(arg) for arg in argv] or [1000, 50]
    settings, timeout = template_settings()
    share = min(settings.memory_mb / MB_PER_VCPU, 1.0)
    print(f"Backfill cost per million CloudTrail records (us-east-1 list prices of {PRICES_AS_OF}; "
          f"identity_auditor/archive/cost.py)")
    print(f"  template: {settings.files_per_batch} log files per child execution (ItemBatcher), "
          f"{settings.child_states} state(s) per child + 1 transition to start it, function {settings.memory_mb} MB "
          f"arm64 ({share:.3f} of a vCPU), timeout {timeout} s; load average {os.getloadavg()[0]:.2f}")
    print(f"  {'records/file':>12} {'files':>9} {'batches':>8} {'transitions':>11} {'StepFns':>9} {'Lambda':>9} "
          f"{'S3':>9} {'DynamoDB':>9} {'logs':>9} {'total':>9} {'1 file/child':>12} {'batch time':>10}")
    over = False
    for size in sizes:
        cpu = cpu_seconds_per_file(size)
        files = -(-1_000_000 // size)
        cost = backfill_cost(settings, files=files, records_per_file=size, cpu_seconds_per_file=cpu)
        unbatched = backfill_cost(Backfill(**{**settings.__dict__, "files_per_batch": 1}), files=files,
                                  records_per_file=size, cpu_seconds_per_file=cpu)
        scale = 1_000_000 / cost.records
        batch_seconds = settings.files_per_batch * (settings.s3_wait_seconds + cpu / share)
        d = {name: value * scale for name, value in cost.dollars.items()}
        print(f"  {size:>12,} {files:>9,} {cost.batches:>8,} {cost.transitions:>11,} ${d['stepFunctions']:>8.4f} "
              f"${d['lambda']:>8.4f} ${d['s3']:>8.4f} ${d['dynamodb']:>8.4f} ${d['logs']:>8.4f} "
              f"${cost.per_million_records():>8.4f} "
              f"${unbatched.per_million_records():>11.4f} {batch_seconds:>8.1f} s")
        print(f"  {'':>12} measured: {cpu * 1000:.2f} ms of CPU per file on one vCPU ({cpu / size * 1e6:.1f} us per "
              f"record); an SSE-KMS trail without an S3 Bucket Key adds ${cost.kms_without_bucket_key * scale:.4f} "
              "(one KMS Decrypt per file)")
        over |= cost.per_million_records() > TARGET
        if batch_seconds > timeout * 0.5:
            print(f"  WARNING: a batch of {size}-record files takes {batch_seconds:.0f} s, over half the function's "
                  f"{timeout} s timeout (files left when time runs out are retried with the batch)")
    print(f"  assumptions: {settings.s3_wait_seconds * 1000:.0f} ms of S3 wait per file (not measurable offline), "
          f"{settings.log_bytes_per_invocation:,} log bytes per invocation, one DynamoDB read unit per file "
          "(the progress records a retried batch continues from), no retries (each adds one transition, and a "
          "read unit per file of its batch and a write unit per file it completed), no findings (each costs what the live path's does: "
          "docs/deployment.md), free tiers left out")
    print(f"  target: <= ${TARGET:.2f} per million records: {'OVER' if over else 'met'}")
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
