"""``identity-auditor evaluate``: CloudTrail records, log files, directories, S3 prefixes or stdin through
the rules (:mod:`identity_auditor.archive.reader`, on every core with :mod:`identity_auditor.archive.pool`), the findings printed and optionally published."""

from __future__ import annotations

import argparse
from collections import Counter
from datetime import datetime, timezone
from typing import IO, TYPE_CHECKING

from identity_auditor.cli import reports
from identity_auditor.cli.output import (
    EXIT_AWS_REFUSED,
    EXIT_BAD_INPUT,
    EXIT_FAIL_ON,
    EXIT_OK,
    EXIT_RULE_ERROR,
    WRITERS,
    Listing,
    Progress,
    fails,
    name_list,
    policy_option,
    severity,
    summary_line,
    open_writer,
)
from identity_auditor.model.severity import Severity
from identity_auditor.model.text import clean

if TYPE_CHECKING:
    from identity_auditor.archive.inputs import InputProblem
    from identity_auditor.model.findings import Finding

# Each command imports what it runs inside its function: `identity-auditor --version`, `rules` or a usage error
# never pay for boto3, pydantic models or the engine.


def _jobs(text: str) -> int:
    try:
        jobs = int(text)
    except ValueError:
        jobs = -1
    if jobs < 0:
        raise argparse.ArgumentTypeError(f"invalid job count {text!r}: expected 0 (every core) or more")
    return jobs


def _moment(text: str, *, end: bool) -> datetime:
    from identity_auditor.archive.reader import parse_moment

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
    return name_list(text, SINKS, "sink")


def _topic_arn(text: str) -> str:
    from identity_auditor.delivery.settings import Settings, SettingsError

    try:
        Settings.from_env({"FINDINGS_TOPIC_ARN": text})
    except SettingsError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an SNS topic ARN") from None
    return text.strip()


def add_parser(commands) -> None:
    evaluate_cmd = commands.add_parser(
        "evaluate",
        help="evaluate CloudTrail records or EventBridge events from files, directories, S3 or stdin",
        description="Evaluate events: EventBridge envelopes, CloudTrail records, CloudTrail log files "
        "({\"Records\": [...]}, plain or .gz), JSON arrays, JSON Lines, directories (recursive), "
        "s3://bucket/prefix (every .json/.gz object under it; AWS credentials from the standard chain), "
        "- for stdin. Only the records some rule listens to are validated and evaluated.",
    )
    evaluate_cmd.add_argument("paths", nargs="+", metavar="PATH")
    evaluate_cmd.add_argument("--format", choices=tuple(WRITERS), default="table")
    reports.add_arguments(evaluate_cmd)
    evaluate_cmd.add_argument("--min-severity", type=severity, default=Severity.INFORMATIONAL, metavar="S",
                              help="show findings of this severity and above")
    evaluate_cmd.add_argument("--fail-on", type=severity, default=None, metavar="S",
                              help="exit 1 when any finding (shown or not) has this severity or above")
    evaluate_cmd.add_argument("--product-arn", default=None,
                              help="Security Hub product ARN for --format asff and --sink securityhub "
                                   "(default: each finding's account's default product; for --sink, "
                                   "SECURITY_HUB_PRODUCT_ARN or the publishing account's)")
    evaluate_cmd.add_argument("--policy", default=None, metavar="FILE",
                              help="organisation policy (YAML or JSON) to evaluate under (default: the "
                                   "packaged default: nothing allow-listed, nothing suppressed)")
    evaluate_cmd.add_argument("--jobs", "-j", type=_jobs, default=None, metavar="N",
                              help="worker processes (default: chosen from the input's size and the cores the load "
                                   "average leaves free, 1 for small inputs or a busy machine; 0: one per "
                                   "core; 1: this process only); the output is the same whatever N")
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
    evaluate_cmd.set_defaults(run=run)


def run(args: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    from identity_auditor.archive import pool, reader
    from identity_auditor.model.contract import Context

    policy = policy_option(args.policy, err)
    if policy is None:
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
    window = reader.Window(since, until) if since is not None or until is not None else None
    # findings are written as they are found and then forgotten: memory does not grow with the archive (only
    # --sink keeps them, to publish every one at the end)
    kept: list[Finding] | None = [] if settings is not None else None
    counts: Counter[Severity] = Counter()
    failed = False
    sink = reports.tee(open_writer(args.format, out, product_arn=args.product_arn), args, err,
                       title="identity-auditor evaluate", scope=reports.scope_of(args.paths))

    def found(batch: list[Finding]) -> None:
        nonlocal failed
        for finding in batch:
            failed = failed or fails((finding,), args.fail_on)
            if finding.severity.rank >= args.min_severity.rank:
                counts[finding.severity] += 1
                sink.write(finding)
        if kept is not None:
            kept.extend(batch)

    problems: list[InputProblem] = []
    rule_errors = records = skipped = outside = 0
    listing = Listing(err)
    plan = reader.plan_inputs(args.paths, window=window, progress=listing.step)
    listing.done()
    inputs = plan.source_count
    progress = Progress(err, len(plan.items))
    now = datetime.now(timezone.utc)
    results = pool.replay(plan, jobs=getattr(args, "jobs", None), window=window, policy=policy, now=now)
    ctx = Context(now=now, policy=policy)
    steps = reader.StepSpool(ctx)  # observed as read, on disk until judged: memory does not grow with the archive
    for result in results:
        progress.step(result.source)
        problems.extend(result.problems)
        for failure in result.failures:
            rule_errors += 1
            err.write(f"identity-auditor: rule {failure.rule_id} failed on {clean(failure.subject, 1000)}: "
                      f"{clean(failure.error, 1000)}\n")
        found(result.findings)
        steps.extend(result.steps)
        records += result.records
        skipped += result.not_cloudtrail
        outside += result.outside_window
    progress.done()
    sequences, sequence_failures = reader.sequence_findings(steps, ctx)
    steps.close()
    found(sequences)
    for failure in sequence_failures:
        rule_errors += 1
        err.write(f"identity-auditor: sequence {failure.rule_id} failed on {clean(failure.subject, 1000)}: "
                  f"{clean(failure.error, 1000)}\n")
    sink.close()

    for problem in problems:
        # file names, S3 keys and messages quoting records reach a terminal: no escapes, no bidi tricks
        err.write(f"identity-auditor: {clean(problem.origin, 1000)}: {clean(problem.message, 1000)}\n")
    summary = summary_line(counts, records, inputs, problems)
    if skipped:
        summary += f"; {skipped} event{'s' if skipped != 1 else ''} skipped (not CloudTrail records)"
    if outside:
        summary += f"; {outside} record{'s' if outside != 1 else ''} outside --since/--until skipped"
    if plan.pruned:
        summary += (f"; {plan.pruned} file{'s' if plan.pruned != 1 else ''} outside --since/--until not read "
                    "(CloudTrail date path)")
    if plan.unlisted_folders:
        summary += (f"; {plan.unlisted_folders} S3 date folder{'s' if plan.unlisted_folders != 1 else ''} outside "
                    "--since/--until not listed")
    (err if args.format != "table" else out).write(summary + "\n")

    published = True
    if settings is not None:
        published = _publish(settings, kept, err)

    if not published:
        return EXIT_AWS_REFUSED
    if rule_errors:
        return EXIT_RULE_ERROR
    if problems or reports.failed(sink):  # a report that could not be written: the output is incomplete
        return EXIT_BAD_INPUT
    if failed:
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
        done = getattr(error, "delivered", None)  # what the sinks that worked took: a rerun would repeat it
        err.write(f"identity-auditor: could not publish the findings: {error}"
                  + (f" (delivered all the same: {_delivered(done)})" if done else "") + "\n")
        return False
    err.write(f"identity-auditor: {_delivered(delivered)} ({account}, {region})\n")
    return True


def _delivered(delivered: dict[str, int]) -> str:
    what = {"securityhub": "finding{} imported into Security Hub", "sns": "alert{} sent to SNS"}
    return ", ".join(f"{count} " + what.get(name, f"{name} message{{}}").format("" if count == 1 else "s")
                     for name, count in delivered.items())
