"""make bench: the all-in cost of one CloudTrail event in the deployment, from what the evaluator really writes.

Runs the real CloudTrail handler (functions/cloudtrail_evaluator) in a fresh process, at the template's log level,
with its EMF metrics on, over every record of the corpus (tests/corpus) that the deployed EventBridge patterns
admit (the registry's triggers: what the rules want), each wrapped as EventBridge delivers it. It counts the bytes
the function writes to its log (stdout and stderr: JSON log lines, EMF metric documents, warnings) and adds the
bytes Lambda itself writes per invocation (START / END / REPORT lines), unless the function's ``LoggingConfig``
in template.yaml sets a ``SystemLogLevel`` above INFO, which drops them. From those bytes, the measured duration
per event and the template's memory size it prints the cost per million admitted events:

- Lambda: $0.20 per million requests, $0.0000133334 per GB-second on arm64 (us-east-1), each invocation billed
  in whole milliseconds at the template's default ``FunctionMemorySize``;
- CloudWatch Logs: $0.50 per GB ingested (standard class, us-east-1; storage at $0.03 per GB-month is left out:
  it depends on ``LogRetentionDays``);
- EventBridge: events AWS services put on the default bus, and their delivery by rules, are free; in an
  organisation deployment each event a member account forwards to the central bus is a delivery to another
  account ($0.05 per million, 64 KB chunks), and half of them (an assumption) cross a region ($0.02 per GB of
  inter-region transfer, about 1.5 KB an event), printed as a second total;
- what only events with findings cost (a de-duplication write, a findings-queue message, the publisher) is printed
  separately, per finding.

Prices: :mod:`identity_auditor.archive.cost` (Lambda, CloudWatch Logs), and the EventBridge and data transfer figures
below, from the AWS pricing pages (us-east-1) the deployment guide cites.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from identity_auditor.archive.cost import MB_PER_VCPU as FULL_VCPU_MB  # noqa: E402 (the project's prices, once)
from identity_auditor.archive.cost import PRICE_LAMBDA_GB_SECOND_ARM64 as LAMBDA_GB_SECOND_ARM64  # noqa: E402
from identity_auditor.archive.cost import PRICE_LAMBDA_REQUEST as LAMBDA_REQUEST  # noqa: E402
from identity_auditor.archive.cost import PRICE_LOGS_GB as LOGS_PER_GB  # noqa: E402

EVENTBRIDGE_CROSS_ACCOUNT = 0.05 / 1_000_000  # USD per event a member account forwards to the central bus
INTER_REGION = 0.5 * 1.5e3 / 1e9 * 0.02  # USD per event: half of them cross a region, ~1.5 KB, $0.02 per GB
DYNAMODB_WRITE = 1.25 / 1_000_000  # on-demand write request unit
SQS_REQUEST = 0.40 / 1_000_000  # standard queue, per request
# What Lambda writes per invocation in its text format (request id and figures of a typical warm invocation).
PLATFORM_LINES = (
    "START RequestId: 3f1c2a9e-8d6b-4c1e-9f7a-2b5d8e0c4a11 Version: $LATEST\n"
    "END RequestId: 3f1c2a9e-8d6b-4c1e-9f7a-2b5d8e0c4a11\n"
    "REPORT RequestId: 3f1c2a9e-8d6b-4c1e-9f7a-2b5d8e0c4a11\tDuration: 1.23 ms\tBilled Duration: 2 ms\t"
    "Memory Size: 256 MB\tMax Memory Used: 98 MB\t\n"
)

_CHILD = r"""
import json, os, sys, tempfile, time
import cloudtrail_evaluator as app

from support import FakeLambdaContext as Context  # the tests' Lambda context: the evaluator's name, 256 MB

def captured(run):
    # what the function writes to file descriptors 1 and 2, whoever writes it: Powertools' Logger keeps the stdout it
    # found at import (a contextlib.redirect_stdout would not see its lines), EMF documents are printed
    sys.stdout.flush(); sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 1); os.dup2(sink.fileno(), 2)
        try:
            result = run()
        finally:
            sys.stdout.flush(); sys.stderr.flush()
            os.dup2(saved[0], 1); os.dup2(saved[1], 2)
        sink.seek(0)
        return result, sink.read()

events = [json.loads(line) for line in open(sys.argv[1])]
# warm up as a function instance is after its first events: first-call imports and caches, and the sinks its first
# finding builds (boto3 imported then: ~0.1 s once per instance, which would otherwise be spread over the measured
# events); not a whole pass, which would leave the sequences it completes out of the measured one
captured(lambda: [app.handler(event, Context()) for event in events[:20]] + [app.DELIVERY.sinks(Context())])

def measured():
    per_event = []  # (findings, bytes written) of each event
    durations = []  # seconds of each invocation: Lambda bills each one, rounded up
    written = 0
    for event in events:
        started = time.perf_counter()
        found = len(app.handler(event, Context())["findings"])
        durations.append(time.perf_counter() - started)
        sys.stdout.flush(); sys.stderr.flush()
        size = os.fstat(1).st_size
        per_event.append((found, size - written))
        written = size
    return per_event, durations

(per_event, durations), written = captured(measured)
print(json.dumps({"events": len(events), "findings": sum(found for found, _ in per_event), "durations": durations,
                  "log_bytes": len(written), "quiet_events": sum(1 for found, _ in per_event if not found),
                  "quiet_bytes": sum(size for found, size in per_event if not found),
                  "sample": written[:600].decode(errors="replace")}))
"""

def admitted_events() -> list[dict]:
    """Every corpus record the deployed patterns admit, as EventBridge delivers it."""
    from identity_auditor.archive.inputs import as_eventbridge
    from identity_auditor.engine.registry import REGISTRY
    from support import corpus_records

    events = []
    for record in corpus_records():
        event = as_eventbridge(record)
        detail = event["detail"]
        if REGISTRY.wants(detail.get("eventSource"), detail.get("eventName"),
                          (detail.get("userIdentity") or {}).get("type")):
            events.append(event)
    return events

def template_settings() -> tuple[int, dict]:
    from support import load_template

    template = load_template(ROOT / "template.yaml")
    memory = int(template["Parameters"]["FunctionMemorySize"]["Default"])
    # the function's LoggingConfig merged over the Globals' one, as SAM merges them
    globals_ = ((template.get("Globals") or {}).get("Function") or {}).get("LoggingConfig", {})
    logging_config = {**globals_,
                      **template["Resources"]["CloudTrailEvaluatorFunction"]["Properties"].get("LoggingConfig", {})}
    return memory, logging_config

def measure(path: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "functions" / "cloudtrail_evaluator"),
                                                         str(ROOT / "tests"), os.environ.get("PYTHONPATH", "")]),
           "FINDINGS_TOPIC_ARN": "", "SECURITY_HUB_ENABLED": "false", "IDEMPOTENCY_TABLE": "",
           "POWERTOOLS_SERVICE_NAME": "identity-auditor", "POWERTOOLS_METRICS_NAMESPACE": "IdentityAuditor",
           "POWERTOOLS_LOG_LEVEL": "INFO"}
    env.pop("POWERTOOLS_METRICS_DISABLED", None)
    output = subprocess.run([sys.executable, "-c", _CHILD, str(path)], check=True, env=env, capture_output=True,
                            text=True).stdout
    return json.loads(output.strip().splitlines()[-1])

def main() -> None:
    import tempfile

    events = admitted_events()
    memory, logging_config = template_settings()
    with tempfile.TemporaryDirectory() as work:
        path = Path(work) / "events.jsonl"
        path.write_text("".join(json.dumps(event) + "\n" for event in events))
        result = measure(path)
    n = result["events"]
    system_level = str(logging_config.get("SystemLogLevel", "INFO")).upper()
    platform = 0 if system_level in ("WARN", "ERROR", "FATAL") else len(PLATFORM_LINES.encode())
    log_bytes = result["log_bytes"] / n + platform
    per_event_ms = sum(result["durations"]) * 1000 / n
    # Lambda gives a function CPU in proportion to its memory (1,769 MB = one vCPU): this machine's full core
    # is faster than the function's share, so the measured time is scaled up before billing; each invocation is
    # billed in whole milliseconds, at least one
    scale = max(1.0, FULL_VCPU_MB / memory)
    share_ms = per_event_ms * scale
    billed_ms = sum(max(1, math.ceil(seconds * 1000 * scale)) for seconds in result["durations"]) / n
    lambda_cost = LAMBDA_REQUEST + billed_ms / 1000 * memory / 1024 * LAMBDA_GB_SECOND_ARM64
    logs_cost = log_bytes / 1e9 * LOGS_PER_GB
    total = 1e6 * (lambda_cost + logs_cost)
    print(f"All-in cost per million events the patterns admit ({n} corpus records, {result['findings']} findings;"
          f" template: {memory} MB, SystemLogLevel {system_level})")
    print(f"  log bytes per event: {result['log_bytes'] / n:7.1f} written by the function + {platform} by Lambda"
          f" = {log_bytes:.1f}")
    findings, quiet = result["findings"], result["quiet_events"]
    print(f"  {quiet} of the {n} events found nothing and wrote {result['quiet_bytes'] / max(quiet, 1):.0f} bytes each on"
          f" average (a sequence step's metric); the {findings} findings wrote "
          f"{(result['log_bytes'] - result['quiet_bytes']) / max(findings, 1):.0f} bytes each (their log lines and"
          f" metric documents): the corpus is attack-heavy, {(n - quiet) / n:.0%} of its admitted events found something")
    print(f"  duration per event {per_event_ms:.3f} ms on one core of this machine, {share_ms:.2f} ms at {memory} MB's"
          f" CPU share, billed {billed_ms:.2f} ms on average (each invocation rounded up to the millisecond)")
    print(f"  Lambda ${1e6 * lambda_cost:.3f} + CloudWatch Logs ${1e6 * logs_cost:.3f} + EventBridge $0.000 "
          f"= ${total:.3f} per million events (goal <= $0.30)")
    forwarded = 1e6 * (EVENTBRIDGE_CROSS_ACCOUNT + INTER_REGION)
    print(f"  organisation deployment: + ${forwarded:.3f} for forwarding (cross-account delivery, half of it "
          f"inter-region) = ${total + forwarded:.3f} per million events (goal <= $0.30)")
    per_finding = DYNAMODB_WRITE * 2 + SQS_REQUEST * 3 + LAMBDA_REQUEST
    print(f"  each finding also costs about ${1e6 * per_finding:.2f} per million findings (de-duplication writes, "
          f"findings-queue send/receive/delete, the publisher's share of invocations)")

if __name__ == "__main__":
    main()
