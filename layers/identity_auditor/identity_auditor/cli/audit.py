"""``identity-auditor audit-account``: the state rules against the account of the current credentials.

The same sweep the AWS Config evaluator runs (``config_rule.sweep.audit_account``): one credential report,
the account summary and password policy, list pages of users and roles, the IAM posture (one
``GetAccountAuthorizationDetails``, server certificates, SAML providers, Access Analyzer in each region
of ``--regions``) and Identity Center (when the account administers it, in ``--identity-center-region``);
then every state rule. Uses the standard boto3 credential chain and honours ``AWS_ENDPOINT_URL`` (so it
runs against a moto server). Prints the NON_COMPLIANT findings with the same keys as ``evaluate``
(``event_id`` is null), and names every rule it could not run and why (a refused read, no Identity Center
instance, another account out of reach): never a silent pass.

``--organization`` sweeps every ACTIVE account of the organisation (or ``--accounts``, ``--ous``) through a role
assumed in each, in parallel, as one result: see :mod:`identity_auditor.cli.organization`.
"""

from __future__ import annotations

import argparse
import time
from typing import IO

from identity_auditor.cli import organization, reports
from identity_auditor.cli.output import EXIT_AWS_REFUSED, EXIT_BAD_INPUT, WRITERS, policy_option, severity
from identity_auditor.cli.sweep import report, sweep_account

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
    organization.add_arguments(audit)
    audit.set_defaults(run=run)


def run(args: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    from identity_auditor.engine.registry import REGISTRY

    if not args.organization and (args.accounts or args.ous or args.role_name or args.max_workers):
        err.write("identity-auditor: --accounts, --ous, --role-name and --max-workers go with --organization\n")
        return EXIT_BAD_INPUT
    known = {rule.meta.id for rule in REGISTRY.state_rules()}
    rules = [rule_id.strip() for rule_id in args.rules.split(",") if rule_id.strip()] if args.rules else None
    unknown = sorted(set(rules or ()) - known)
    if unknown:
        err.write(f"identity-auditor: unknown state rule id(s): {', '.join(unknown)}; "
                  f"known: {', '.join(sorted(known))}\n")
        return EXIT_BAD_INPUT
    policy = policy_option(args.policy, err)
    if policy is None:
        return EXIT_BAD_INPUT
    if args.organization:
        return organization.audit_organization(args, out, err, rules=rules, policy=policy)

    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    from identity_auditor.collectors import CollectorError

    session = boto3.session.Session()
    region = session.region_name or "us-east-1"
    started = time.perf_counter()
    try:
        identity = session.client("sts").get_caller_identity()
        audit = sweep_account(session, identity["Account"], identity.get("Arn"), region, args,
                              rules=rules, policy=policy)
    except (BotoCoreError, ClientError, CollectorError) as error:
        err.write(f"identity-auditor: {organization.why(error)[0]}\n")  # said as for an account of --organization
        return EXIT_AWS_REFUSED
    return report([audit], args, out, err, where=f"account {audit.account}",
                  seconds=time.perf_counter() - started)
