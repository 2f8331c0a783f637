"""The ``identity-auditor`` command line: the same rules and findings as the Lambda functions, locally.

    identity-auditor evaluate PATH... [--format table|jsonl|asff] [--min-severity S] [--fail-on S]
    identity-auditor rules [--format table|json|markdown]
    identity-auditor patterns
    identity-auditor policy validate FILE... | policy show [FILE] [--format yaml|json] | policy schema

Exit status of ``evaluate``: 0 done; 1 a finding reached ``--fail-on``; 2 some input could not be read
or is not a valid event (each problem is named on stderr, after every valid input was evaluated);
3 a rule failed on some record (a bug: please report it with the record). ``evaluate --policy FILE``
evaluates under that organisation policy (exit 2 when it is invalid).

Exit status of ``policy``: 0 valid; 2 a policy is invalid or unreadable (the message names each bad
key with its path and value).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import Counter
from datetime import datetime, timezone
from typing import IO

from pydantic import ValidationError

from identity_auditor import __version__, catalogue
from identity_auditor.asff import default_product_arn, to_asff
from identity_auditor.contract import Context, Severity
from identity_auditor.engine import Engine
from identity_auditor.findings import Finding
from identity_auditor.inputs import InputProblem, NotCloudTrail, expand, read
from identity_auditor.models import CloudTrailEvent
from identity_auditor.policy import DEFAULT_POLICY, PolicyError
from identity_auditor.registry import REGISTRY
from identity_auditor.text import clip

EXIT_OK, EXIT_FAIL_ON, EXIT_BAD_INPUT, EXIT_RULE_ERROR = 0, 1, 2, 3


def main(argv: list[str] | None = None, stdout: IO[str] | None = None, stderr: IO[str] | None = None) -> int:
    out, err = stdout or sys.stdout, stderr or sys.stderr
    args = _parser().parse_args(argv)
    try:
        return _run(args, out, err)
    except BrokenPipeError:  # output piped into head & co.: stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK


def _run(args: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    if args.command == "evaluate":
        return evaluate(args, out, err)
    if args.command == "patterns":
        return print_routes(out)
    if args.command == "policy":
        return policy_command(args, out, err)
    if args.command == "audit-account":
        from identity_auditor import audit_cli

        return audit_cli.run(args, out, err)
    return list_rules(args, out)


def _severity(text: str) -> Severity:
    try:
        return Severity.parse(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="identity-auditor",
        description="Audit AWS identity events (CloudTrail) against the organisation's rules.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    evaluate_cmd = commands.add_parser(
        "evaluate",
        help="evaluate CloudTrail records or EventBridge events from files, directories or stdin",
        description="Evaluate events: EventBridge envelopes, CloudTrail records, CloudTrail log files "
        "({\"Records\": [...]}, plain or .gz), JSON arrays, JSON Lines, directories (recursive), - for stdin.",
    )
    evaluate_cmd.add_argument("paths", nargs="+", metavar="PATH")
    evaluate_cmd.add_argument("--format", choices=("table", "jsonl", "asff"), default="table")
    evaluate_cmd.add_argument("--min-severity", type=_severity, default=Severity.INFORMATIONAL, metavar="S",
                              help="show findings of this severity and above")
    evaluate_cmd.add_argument("--fail-on", type=_severity, default=None, metavar="S",
                              help="exit 1 when any finding (shown or not) has this severity or above")
    evaluate_cmd.add_argument("--product-arn", default=None,
                              help="Security Hub product ARN for --format asff (default: each finding's "
                                   "account's default product)")
    evaluate_cmd.add_argument("--policy", default=None, metavar="FILE",
                              help="organisation policy (YAML or JSON) to evaluate under (default: the "
                                   "packaged default: nothing allow-listed, nothing suppressed)")
    rules_cmd = commands.add_parser("rules", help="list the rule catalogue")
    rules_cmd.add_argument("--format", choices=("table", "json", "markdown"), default="table")
    commands.add_parser(
        "patterns",
        help="print the EventBridge rules the deployment needs: pattern and where it lives (as in template.yaml)",
    )
    _policy_parser(commands)
    from identity_auditor import audit_cli

    audit_cli.add_parser(commands, _severity)
    return parser


def _policy_parser(commands) -> None:
    policy_cmd = commands.add_parser(
        "policy", help="validate, show or describe the organisation policy document",
        description="The organisation policy: per rule enabled / severity / allow / suppress, and the global "
        "settings (spec/rules.md §C). See examples/policy.example.yaml.",
    )
    actions = policy_cmd.add_subparsers(dest="policy_command", required=True, metavar="ACTION")
    validate_cmd = actions.add_parser("validate", help="check policy files (YAML or JSON; - for stdin): "
                                      "exit 0 when valid, 2 naming every bad key")
    validate_cmd.add_argument("files", nargs="+", metavar="FILE")
    show_cmd = actions.add_parser("show", help="print the effective policy, every key with its value (FILE, or "
                                  "the source POLICY_SSM_PARAMETER / POLICY_APPCONFIG name, else the default)")
    show_cmd.add_argument("file", nargs="?", metavar="FILE")
    show_cmd.add_argument("--format", choices=("yaml", "json"), default="yaml")
    actions.add_parser("schema", help="print the policy document's JSON Schema (policy.schema.json)")


def policy_command(args: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    from identity_auditor import policy_loader
    from identity_auditor.policy import dump_policy, summary

    try:
        if args.policy_command == "schema":
            out.write(policy_loader.schema_text())
        elif args.policy_command == "show":
            if args.file:
                policy, source = policy_loader.load_policy_file(args.file), args.file
            else:
                from identity_auditor.settings import Settings

                settings = Settings.from_env()
                policy, source = policy_loader.load_policy(settings), policy_loader.policy_source(settings)
            out.write(dump_policy(policy, args.format, source=source))
        else:
            today, invalid = datetime.now(timezone.utc).date(), 0
            for name in args.files:
                try:
                    policy = policy_loader.load_policy_file(name)
                except PolicyError as error:
                    invalid += 1
                    err.write(f"identity-auditor: {error}\n")
                    continue
                out.write(f"{name}: valid organisation policy: {summary(policy, today)}\n")
                for rule_id, index, entry in policy.expired_suppressions(today):
                    err.write(f"identity-auditor: warning: {name}: rules.{rule_id}.suppress[{index}] (owner "
                              f"{entry.owner}) expired on {entry.expires.isoformat()} and no longer applies\n")
            return EXIT_BAD_INPUT if invalid else EXIT_OK
    except ValueError as error:  # PolicyError, or SettingsError for `show` from the environment
        err.write(f"identity-auditor: {error}\n")
        return EXIT_BAD_INPUT
    return EXIT_OK


def evaluate(args: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    engine = Engine()
    policy = DEFAULT_POLICY
    if args.policy:
        from identity_auditor.policy_loader import load_policy_file

        try:
            policy = load_policy_file(args.policy)
        except PolicyError as error:
            err.write(f"identity-auditor: {error}\n")
            return EXIT_BAD_INPUT
    ctx = Context(now=datetime.now(timezone.utc), policy=policy)
    findings: list[Finding] = []
    problems: list[InputProblem] = []
    rule_errors = 0
    records = 0
    skipped = 0
    paths = list(expand(args.paths))
    progress = _Progress(err, len(paths))
    for path in paths:
        progress.step(path)
        if isinstance(path, InputProblem):
            problems.append(path)
            continue
        for item in read(path):
            if isinstance(item, InputProblem):
                problems.append(item)
                continue
            if isinstance(item, NotCloudTrail):
                skipped += 1
                continue
            records += 1
            detail = item.event["detail"]
            identity = detail.get("userIdentity")
            identity_type = identity.get("type") if isinstance(identity, dict) else None
            if not engine.registry.wants(str(detail["eventSource"]), str(detail["eventName"]), identity_type):
                continue  # no rule listens to this event (EventBridge would not deliver it)
            try:
                event = CloudTrailEvent.model_validate(item.event)
            except ValidationError as error:
                problems.append(InputProblem(item.origin, "invalid event: " + _first_errors(error)))
                continue
            result = engine.evaluate(event.detail, ctx, account=event.account, region=event.region)
            for failure in result.failures:
                rule_errors += 1
                err.write(f"identity-auditor: rule {failure.rule_id} failed on {item.origin}: {failure.error}\n")
            findings.extend(result.findings)
    progress.done()

    shown = [f for f in findings if f.severity.rank >= args.min_severity.rank]
    _write(args, shown, out)
    for problem in problems:
        err.write(f"identity-auditor: {problem.origin}: {problem.message}\n")
    summary = _summary(shown, records, len([p for p in paths if not isinstance(p, InputProblem)]), problems)
    if skipped:
        summary += f"; {skipped} event{'s' if skipped != 1 else ''} skipped (not CloudTrail records)"
    (err if args.format != "table" else out).write(summary + "\n")

    if problems:
        return EXIT_BAD_INPUT
    if rule_errors:
        return EXIT_RULE_ERROR
    if args.fail_on and any(f.severity.rank >= args.fail_on.rank for f in findings):
        return EXIT_FAIL_ON
    return EXIT_OK


def _write(args: argparse.Namespace, findings: list[Finding], out: IO[str]) -> None:
    if args.format == "jsonl":
        for finding in findings:
            out.write(json.dumps(finding.summary(), default=str) + "\n")
    elif args.format == "asff":
        now = datetime.now(timezone.utc)
        documents = [
            to_asff(f, product_arn=args.product_arn or default_product_arn(f.partition, f.region, f.account_id),
                    updated_at=now)
            for f in findings
        ]
        json.dump(documents, out, indent=2)
        out.write("\n")
    else:
        _table(findings, out)


def _table(findings: list[Finding], out: IO[str]) -> None:
    if not findings:
        return
    header = ("SEVERITY", "RULE", "TIME", "ACCOUNT", "ACTOR", "RESOURCE")
    rows = [
        (
            f.severity.value,
            f.rule_id,
            f.event_time.strftime("%Y-%m-%dT%H:%M:%SZ") if f.event_time else "-",
            clip(f.account_id, 14),
            clip(f.actor.name, 32),
            clip(f.resource_id, 60),
        )
        for f in findings
    ]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    out.write("  ".join(h.ljust(w) for h, w in zip(header, widths)).rstrip() + "\n")
    for finding, row in zip(findings, rows):
        out.write("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() + "\n")
        out.write(f"    {clip(finding.description, 200)}\n")


def _summary(findings: list[Finding], records: int, files: int, problems: list[InputProblem]) -> str:
    counts = Counter(f.severity for f in findings)
    by_severity = ", ".join(f"{counts[s]} {s.value.lower()}" for s in reversed(Severity) if counts[s])
    text = f"{len(findings)} finding{'s' if len(findings) != 1 else ''}"
    text += f" ({by_severity})" if by_severity else ""
    text += f" in {records} record{'s' if records != 1 else ''} from {files} input{'s' if files != 1 else ''}"
    if problems:
        text += f"; {len(problems)} input problem{'s' if len(problems) != 1 else ''} (see above)"
    return text


def _first_errors(error: ValidationError, limit: int = 3) -> str:
    parts = []
    for item in error.errors()[:limit]:
        location = ".".join(str(part) for part in item.get("loc", ())) or "(event)"
        parts.append(f"{location}: {item.get('msg')}")
    more = len(error.errors()) - limit
    return "; ".join(parts) + (f"; and {more} more" if more > 0 else "")


def list_rules(args: argparse.Namespace, out: IO[str]) -> int:
    if args.format == "json":
        json.dump([catalogue.as_dict(rule) for rule in REGISTRY.rules], out, indent=2)
        out.write("\n")
    elif args.format == "markdown":
        out.write(catalogue.markdown(REGISTRY))
    else:
        out.write(catalogue.table(REGISTRY))
    return EXIT_OK


def print_routes(out: IO[str]) -> int:
    routes = [
        {"name": r.name, "scope": r.scope, "all_management_events": r.all_management_events, "pattern": r.pattern}
        for r in REGISTRY.routes()
    ]
    json.dump(routes, out, indent=2)
    out.write("\n")
    return EXIT_OK


class _Progress:
    """A one-line progress indicator on stderr, only when stderr is a terminal and there is much to read."""

    def __init__(self, stream: IO[str], total: int):
        self.stream, self.total, self.count = stream, total, 0
        self.enabled = total > 20 and getattr(stream, "isatty", lambda: False)()

    def step(self, path: object) -> None:
        self.count += 1
        if self.enabled:
            self.stream.write(f"\r  reading {self.count}/{self.total} files ")
            self.stream.flush()

    def done(self) -> None:
        if self.enabled:
            self.stream.write("\r" + " " * 40 + "\r")
            self.stream.flush()


if __name__ == "__main__":
    sys.exit(main())
