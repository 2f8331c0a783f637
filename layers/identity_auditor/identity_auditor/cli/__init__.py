"""The ``identity-auditor`` command line: the same rules and findings as the Lambda functions, locally.

    identity-auditor evaluate PATH|s3://BUCKET/PREFIX... [--format table|jsonl|asff] [--min-severity S]
                              [--fail-on S] [--jobs N] [--since T] [--until T] [--sink securityhub,sns]
    identity-auditor rules [--format table|json|markdown]
    identity-auditor patterns
    identity-auditor policy validate FILE... | policy show [FILE] [--format yaml|json] | policy schema

Exit status of ``evaluate``: 0 done; 1 a finding reached ``--fail-on``; 2 some input could not be read
or is not a valid event (each problem is named on stderr, after every valid input was evaluated);
3 a rule failed on some record (a bug: please report it with the record), or ``--sink`` could not
publish the findings (they are still printed). ``evaluate --policy FILE`` evaluates under that
organisation policy (exit 2 when it is invalid). Files are evaluated on every core (``--jobs``), with
the same findings in the same order as on one; see :mod:`identity_auditor.archive.replay`.

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

from identity_auditor import __version__
from identity_auditor.archive.inputs import InputProblem
from identity_auditor.deploy import catalogue
from identity_auditor.engine.registry import REGISTRY
from identity_auditor.model.contract import Severity
from identity_auditor.model.findings import Finding
from identity_auditor.model.policy import DEFAULT_POLICY
from identity_auditor.model.text import clip
from identity_auditor.policy.document import PolicyError
from identity_auditor.sinks.asff import default_product_arn, to_asff

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
        from identity_auditor.cli import audit as audit_cli

        return audit_cli.run(args, out, err)
    if args.command == "redrive":
        from identity_auditor.cli import redrive

        return redrive.run(args, out, err)
    return list_rules(args, out)


def _severity(text: str) -> Severity:
    try:
        return Severity.parse(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _jobs(text: str) -> int:
    try:
        jobs = int(text)
    except ValueError:
        jobs = -1
    if jobs < 0:
        raise argparse.ArgumentTypeError(f"invalid job count {text!r}: expected 0 (every core) or more")
    return jobs


def _moment(text: str, *, end: bool) -> datetime:
    from identity_auditor.archive.replay import parse_moment

    try:
        return parse_moment(text, end=end)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"invalid time {text!r}: expected an ISO 8601 date or date-time, such as 2023-07-10, "
            "2023-07-10T12:00:00Z or 2023-07-10T14:00:00+02:00"
        ) from None


def _since(text: str) -> datetime:
    return _moment(text, end=False)


def _until(text: str) -> datetime:
    return _moment(text, end=True)  # the exclusive bound just after what the person wrote


SINKS = ("securityhub", "sns")


def _sinks(text: str) -> tuple[str, ...]:
    names = tuple(dict.fromkeys(part.strip().lower() for part in text.split(",") if part.strip()))
    unknown = [name for name in names if name not in SINKS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"invalid sink list {text!r}: expected a comma-separated list of "
                                         f"{', '.join(SINKS)}")
    return names


def _topic_arn(text: str) -> str:
    from identity_auditor.delivery.settings import Settings, SettingsError

    try:
        Settings.from_env({"FINDINGS_TOPIC_ARN": text})
    except SettingsError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an SNS topic ARN") from None
    return text.strip()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="identity-auditor",
        description="Audit AWS identity events (CloudTrail) against the organisation's rules.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    evaluate_cmd = commands.add_parser(
        "evaluate",
        help="evaluate CloudTrail records or EventBridge events from files, directories, S3 or stdin",
        description="Evaluate events: EventBridge envelopes, CloudTrail records, CloudTrail log files "
        "({\"Records\": [...]}, plain or .gz), JSON arrays, JSON Lines, directories (recursive), "
        "s3://bucket/prefix (every .json/.gz object under it; AWS credentials from the standard chain), "
        "- for stdin. Only the records some rule listens to are validated and evaluated.",
    )
    evaluate_cmd.add_argument("paths", nargs="+", metavar="PATH")
    evaluate_cmd.add_argument("--format", choices=("table", "jsonl", "asff"), default="table")
    evaluate_cmd.add_argument("--min-severity", type=_severity, default=Severity.INFORMATIONAL, metavar="S",
                              help="show findings of this severity and above")
    evaluate_cmd.add_argument("--fail-on", type=_severity, default=None, metavar="S",
                              help="exit 1 when any finding (shown or not) has this severity or above")
    evaluate_cmd.add_argument("--product-arn", default=None,
                              help="Security Hub product ARN for --format asff and --sink securityhub "
                                   "(default: each finding's account's default product; for --sink, "
                                   "SECURITY_HUB_PRODUCT_ARN or the publishing account's)")
    evaluate_cmd.add_argument("--policy", default=None, metavar="FILE",
                              help="organisation policy (YAML or JSON) to evaluate under (default: the "
                                   "packaged default: nothing allow-listed, nothing suppressed)")
    evaluate_cmd.add_argument("--jobs", "-j", type=_jobs, default=None, metavar="N",
                              help="worker processes (default, or 0: one per core; 1: this process only); "
                                   "the output is the same whatever N")
    evaluate_cmd.add_argument("--since", type=_since, default=None, metavar="T",
                              help="evaluate only records from this ISO 8601 date or date-time on (UTC unless "
                                   "an offset is given); the others are counted as skipped")
    evaluate_cmd.add_argument("--until", type=_until, default=None, metavar="T",
                              help="evaluate only records up to this date (inclusive: the whole day) or "
                                   "date-time (inclusive)")
    evaluate_cmd.add_argument("--sink", type=_sinks, default=(), metavar="SINKS",
                              help="also publish the findings: comma-separated securityhub, sns (every "
                                   "finding, not only those --min-severity shows, as the deployed auditor "
                                   "does; SNS skips suppressed ones). Account and region: the AWS "
                                   "credentials' (STS) and AWS_REGION")
    evaluate_cmd.add_argument("--topic-arn", type=_topic_arn, default=None, metavar="ARN",
                              help="SNS topic for --sink sns (default: FINDINGS_TOPIC_ARN)")
    rules_cmd = commands.add_parser("rules", help="list the rule catalogue")
    rules_cmd.add_argument("--format", choices=("table", "json", "markdown"), default="table")
    commands.add_parser(
        "patterns",
        help="print the EventBridge rules the deployment needs: pattern and where it lives (as in template.yaml)",
    )
    _policy_parser(commands)
    from identity_auditor.cli import audit as audit_cli

    audit_cli.add_parser(commands, _severity)
    from identity_auditor.cli import redrive

    redrive.add_parser(commands)
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
    from identity_auditor.policy import loader as policy_loader
    from identity_auditor.policy.document import dump_policy, summary

    try:
        if args.policy_command == "schema":
            out.write(policy_loader.schema_text())
        elif args.policy_command == "show":
            if args.file:
                policy, source = policy_loader.load_policy_file(args.file), args.file
            else:
                from identity_auditor.delivery.settings import Settings

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
    from identity_auditor.archive import replay

    policy = DEFAULT_POLICY
    if args.policy:
        from identity_auditor.policy.loader import load_policy_file

        try:
            policy = load_policy_file(args.policy)
        except PolicyError as error:
            err.write(f"identity-auditor: {error}\n")
            return EXIT_BAD_INPUT
    since, until = getattr(args, "since", None), getattr(args, "until", None)
    if since is not None and until is not None and since >= until:
        err.write("identity-auditor: --since must be before --until\n")
        return EXIT_BAD_INPUT
    settings = None
    if getattr(args, "sink", ()):
        try:
            settings = _sink_settings(args)
        except ValueError as error:  # SettingsError: a bad FINDINGS_TOPIC_ARN & co., or no topic for sns
            err.write(f"identity-auditor: {error}\n")
            return EXIT_BAD_INPUT
    window = replay.Window(since, until) if since is not None or until is not None else None
    findings: list[Finding] = []
    problems: list[InputProblem] = []
    rule_errors = records = skipped = outside = 0
    plan = replay.plan_inputs(args.paths, window=window)
    inputs = len(plan.sources)
    progress = _Progress(err, len(plan.items))
    results = replay.replay(plan, jobs=getattr(args, "jobs", None), window=window, policy=policy,
                            now=datetime.now(timezone.utc))
    for result in results:
        progress.step(result.source)
        problems.extend(result.problems)
        for failure in result.failures:
            rule_errors += 1
            err.write(f"identity-auditor: rule {failure.rule_id} failed on {failure.subject}: {failure.error}\n")
        findings.extend(result.findings)
        records += result.records
        skipped += result.not_cloudtrail
        outside += result.outside_window
    progress.done()

    shown = [f for f in findings if f.severity.rank >= args.min_severity.rank]
    _write(args, shown, out)
    for problem in problems:
        err.write(f"identity-auditor: {problem.origin}: {problem.message}\n")
    summary = _summary(shown, records, inputs, problems)
    if skipped:
        summary += f"; {skipped} event{'s' if skipped != 1 else ''} skipped (not CloudTrail records)"
    if outside:
        summary += f"; {outside} record{'s' if outside != 1 else ''} outside --since/--until skipped"
    if plan.pruned:
        summary += (f"; {plan.pruned} file{'s' if plan.pruned != 1 else ''} outside --since/--until not read "
                    "(CloudTrail date path)")
    (err if args.format != "table" else out).write(summary + "\n")

    published = True
    if settings is not None:
        published = _publish(settings, findings, err)

    if not published:
        return EXIT_RULE_ERROR
    if problems:
        return EXIT_BAD_INPUT
    if rule_errors:
        return EXIT_RULE_ERROR
    if args.fail_on and any(f.severity.rank >= args.fail_on.rank for f in findings):
        return EXIT_FAIL_ON
    return EXIT_OK


def _sink_settings(args: argparse.Namespace):
    """The sinks' settings: the environment's (SECURITY_HUB_PRODUCT_ARN, ALERT_FORMAT, FINDINGS_TOPIC_ARN)
    under the options; raises ValueError (SettingsError) when they are unusable."""
    from dataclasses import replace

    from identity_auditor.delivery.settings import Settings, SettingsError

    settings = Settings.from_env()
    topic = args.topic_arn or settings.findings_topic_arn
    if "sns" in args.sink and not topic:
        raise SettingsError("--sink sns needs a topic: --topic-arn ARN or FINDINGS_TOPIC_ARN")
    return replace(
        settings,
        findings_topic_arn=topic if "sns" in args.sink else None,
        security_hub_enabled="securityhub" in args.sink,
        security_hub_product_arn=args.product_arn or settings.security_hub_product_arn,
    )


def _publish(settings, findings: list[Finding], err: IO[str]) -> bool:
    """Publish to the sinks, into the account of the credentials (STS) and the session's region.
    Says what was delivered, or why not; False when something could not be delivered."""
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    from identity_auditor.delivery.wiring import build_sinks
    from identity_auditor.model.home import Home
    from identity_auditor.sinks import SinkError, publish_all

    names = [name for name, on in (("securityhub", settings.security_hub_enabled),
                                   ("sns", bool(settings.findings_topic_arn))) if on]
    if not findings:
        err.write(f"identity-auditor: no findings to publish to {', '.join(names)}\n")
        return True
    try:
        session = boto3.session.Session()
        region = session.region_name
        if not region:
            raise SinkError("no AWS region: set AWS_REGION or AWS_DEFAULT_REGION")
        account = session.client("sts", region_name=region).get_caller_identity()["Account"]
        home = Home(partition=session.get_partition_for_region(region), region=region, account=account)
        delivered = publish_all(build_sinks(settings, home), findings)
    except (SinkError, BotoCoreError, ClientError, ValueError) as error:
        err.write(f"identity-auditor: could not publish the findings: {error}\n")
        return False
    what = {"securityhub": "finding{} imported into Security Hub", "sns": "alert{} sent to SNS"}
    parts = [f"{count} " + what[name].format("" if count == 1 else "s") for name, count in delivered.items()]
    err.write(f"identity-auditor: {', '.join(parts)} ({account}, {region})\n")
    return True


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


def _first_errors(error, limit: int = 3) -> str:
    from identity_auditor.archive.replay import first_errors

    return first_errors(error, limit)


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
