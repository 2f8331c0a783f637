"""``identity-auditor audit-account``: the state rules against the account of the current credentials.

The same sweep the AWS Config evaluator runs (``config_rule.sweep.audit_account``): one credential report,
the account summary and password policy, list pages of users and roles, the IAM posture (one
``GetAccountAuthorizationDetails``, server certificates, SAML providers, Access Analyzer in each region
of ``--regions``) and Identity Center (when the account administers it, in ``--identity-center-region``);
then every state rule. Uses the standard boto3 credential chain and honours ``AWS_ENDPOINT_URL`` (so it
runs against a moto server). Prints the NON_COMPLIANT findings with the same keys as ``evaluate``
(``event_id`` is null), and names every rule it could not run and why (a refused read, no Identity Center
instance, another account out of reach): never a silent pass.
"""

from __future__ import annotations

import argparse
import time
from datetime import datetime, timezone
from typing import IO

from identity_auditor.cli import reports
from identity_auditor.cli.output import (
    EXIT_AWS_REFUSED,
    EXIT_BAD_INPUT,
    EXIT_FAIL_ON,
    EXIT_OK,
    WRITERS,
    fails,
    severity,
    write_findings,
)

# Each command imports what it runs inside its function: `identity-auditor --version`, `rules` or a usage error
# never pay for boto3, pydantic models or the engine.


def add_parser(commands) -> None:
    audit = commands.add_parser(
        "audit-account",
        help="run the state rules (AWS Config path) against the account of the current credentials",
        description="Evaluate identity state: MFA, access key age, unused credentials, root, password policy, "
        "IAM users in federated accounts, role trust policies. Read-only IAM calls; no Config or Security Hub.",
    )
    audit.add_argument("--rules", default=None, metavar="ID,ID",
                       help="only these state rule ids (comma-separated); default: all")
    audit.add_argument("--format", choices=tuple(WRITERS), default="table")
    audit.add_argument("--evidence", action="store_true",
                       help="also output the COMPLIANT results (PASSED, with what was checked) as evidence")
    reports.add_arguments(audit)
    audit.add_argument("--min-severity", type=severity, default=None, metavar="S")
    audit.add_argument("--fail-on", type=severity, default=None, metavar="S")
    audit.add_argument("--policy", default=None, metavar="FILE", help="organisation policy document to apply")
    audit.add_argument("--product-arn", default=None, help="Security Hub product ARN for --format asff")
    audit.add_argument("--regions", default=None, metavar="R,R",
                       help="regions whose Access Analyzer analyzers are judged; default: the session's region")
    audit.add_argument("--identity-center-region", default=None, metavar="R",
                       help="home region of IAM Identity Center; default: the session's region")
    audit.set_defaults(run=run)


def run(args: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    import boto3

    from identity_auditor.config_rule.sweep import audit_account
    from identity_auditor.engine.registry import REGISTRY
    from identity_auditor.model.cloudtrail import partition_of
    from identity_auditor.model.contract import Compliance, Context
    from identity_auditor.model.policy import DEFAULT_POLICY

    known = {rule.meta.id for rule in REGISTRY.state_rules()}
    rules = [rule_id.strip() for rule_id in args.rules.split(",") if rule_id.strip()] if args.rules else None
    unknown = sorted(set(rules or ()) - known)
    if unknown:
        err.write(f"identity-auditor: unknown state rule id(s): {', '.join(unknown)}; "
                  f"known: {', '.join(sorted(known))}\n")
        return EXIT_BAD_INPUT
    policy = DEFAULT_POLICY
    if args.policy:
        from identity_auditor.policy.document import PolicyError
        from identity_auditor.policy.loader import load_policy_file

        try:
            policy = load_policy_file(args.policy)
        except (OSError, PolicyError) as error:
            err.write(f"identity-auditor: {error}\n")
            return EXIT_BAD_INPUT

    from botocore.exceptions import BotoCoreError, ClientError

    from identity_auditor.collectors import CollectorError

    from identity_auditor.config_rule.sweep import Sources

    session = boto3.session.Session()
    region = session.region_name or "us-east-1"
    regions = tuple(name.strip() for name in (args.regions or "").split(",") if name.strip())
    not_run: list = []
    started = time.perf_counter()
    try:
        identity = session.client("sts").get_caller_identity()
        iam = session.client("iam")
        center_region = args.identity_center_region or region
        sources = Sources(
            analyzers=lambda name: session.client("accessanalyzer", region_name=name),
            analyzer_regions=regions or (region,),
            identity_center=lambda: (session.client("sso-admin", region_name=center_region),
                                     session.client("identitystore", region_name=center_region)),
            identity_center_region=center_region,
        )
        evaluations, api_calls = audit_account(
            iam,
            account_id=identity["Account"],
            partition=partition_of(identity.get("Arn"), region),
            region=region,
            ctx=Context(now=datetime.now(timezone.utc), policy=policy),
            rules=rules,
            sources=sources,
            not_run=not_run,
        )
    except (BotoCoreError, ClientError, CollectorError) as error:
        err.write(f"identity-auditor: cannot read the account's identity state: {error}\n")
        return EXIT_AWS_REFUSED
    elapsed = time.perf_counter() - started
    failed = list({f.finding_id: f for e in evaluations if e.compliance is Compliance.NON_COMPLIANT
                   for f in e.findings}.values())  # an expired suppression is one finding, however many it matched
    shown = [f for f in failed if args.min_severity is None or f.severity.rank >= args.min_severity.rank]
    shown += _evidence(args, evaluations)
    write_findings(args.format, shown, out, product_arn=args.product_arn)
    reported = reports.write_for_command(args, shown, err, state_results=evaluations,
                                         title=f"identity-auditor audit-account {identity['Account']}",
                                         scope=f"account {identity['Account']}, {region}")
    judged = [e for e in evaluations if e.finding is not None]  # not the accounts' summing Config evaluations
    counts = {c: sum(1 for e in judged if e.compliance is c) for c in Compliance}
    summary = (
        f"{counts[Compliance.NON_COMPLIANT]} non-compliant, {counts[Compliance.COMPLIANT]} compliant, "
        f"{counts[Compliance.NOT_APPLICABLE]} not applicable evaluations in account {identity['Account']} "
        f"({api_calls} API calls, {elapsed:.1f} s)"
    )
    (err if args.format != "table" else out).write(summary + "\n")
    for entry in not_run:  # always on stderr: a machine reading stdout must not mistake it for a finding
        err.write(f"identity-auditor: not run: {entry.rule_id} in account {entry.account}: {entry.reason}\n")
    if not reported:
        return EXIT_BAD_INPUT
    if fails(failed, args.fail_on):
        return EXIT_FAIL_ON
    # no Identity Center instance is what most accounts are (the message says where to run it); a refused read
    # or an account out of reach means the audit is incomplete
    if any(not entry.absent for entry in not_run):
        return EXIT_AWS_REFUSED
    return EXIT_OK


def _evidence(args: argparse.Namespace, evaluations) -> list:
    """``--evidence``: the PASSED findings of the COMPLIANT results (description: what was checked), after
    the failures; none without the option."""
    if not getattr(args, "evidence", False):
        return []
    return reports.passed_findings(evaluations)
