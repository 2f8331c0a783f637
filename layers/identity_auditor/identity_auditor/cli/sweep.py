"""The state sweep of one account for the CLI (:func:`sweep_account`) and the printing of one or many accounts'
results with their exit status (:func:`report`): shared by ``audit-account`` and its ``--organization`` mode."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import IO

from identity_auditor.cli import reports
from identity_auditor.cli.output import (
    EXIT_AWS_REFUSED,
    EXIT_BAD_INPUT,
    EXIT_FAIL_ON,
    EXIT_OK,
    EXIT_RULE_ERROR,
    fails,
    write_findings,
)


@dataclass
class AccountAudit:
    """What the sweep of one account gave: its evaluations, the rules it could not run and why, its cost."""

    account: str
    evaluations: list = field(default_factory=list)
    not_run: list = field(default_factory=list)
    api_calls: int = 0


def sweep_account(session, account: str, caller_arn: str | None, region: str, args: argparse.Namespace, *,
                  rules: list[str] | None, policy, organization=None, now: datetime | None = None,
                  member_iam=None) -> AccountAudit:
    """The state sweep of ``account`` with ``session``'s credentials (the CLI's own, or a member role's);
    raises what AWS answered when the account's identity state cannot be read at all. ``organization``: the
    accounts of the organisation, when known (the zone of trust of role trust policies); ``now``: the moment the
    result is as of (default: when the sweep starts); ``member_iam(account)``: an IAM client in another account,
    for the reserved roles of the accounts Identity Center provisions (default: this account's only)."""
    from identity_auditor.config_rule.sweep import Sources, audit_account
    from identity_auditor.model.cloudtrail import partition_of
    from identity_auditor.model.contract import Context

    regions = tuple(name.strip() for name in (args.regions or "").split(",") if name.strip())
    center_region = args.identity_center_region or region
    sources = Sources(
        analyzers=lambda name: session.client("accessanalyzer", region_name=name),
        analyzer_regions=regions or (region,),
        identity_center=lambda: (session.client("sso-admin", region_name=center_region),
                                 session.client("identitystore", region_name=center_region)),
        identity_center_region=center_region,
        member_iam=member_iam,
    )
    audit = AccountAudit(account)
    audit.evaluations, audit.api_calls = audit_account(
        session.client("iam", region_name=region),
        account_id=account,
        partition=partition_of(caller_arn, region),
        region=region,
        ctx=Context(now=now or datetime.now(timezone.utc), policy=policy, organization=organization),
        rules=rules,
        sources=sources,
        not_run=audit.not_run,
    )
    return audit


def report(audits: list[AccountAudit], args: argparse.Namespace, out: IO[str], err: IO[str], *, where: str,
           seconds: float, unread: Sequence[str] = (), bug: bool = False) -> int:
    """Print the findings of ``audits`` in ``args.format``, the summary and every rule not run; the exit status
    (the highest that applies): 1 a finding at ``--fail-on``, 2 a report ``--output-dir`` could not write, 3 a bug, 4 an account or a part of one that
    could not be read (``unread``: one line per account not read, saying why; or a rule not run for a reason other
    than a missing Identity Center instance). The reports (``--output-dir``) list the same gaps and show no control
    as passing over them."""
    from identity_auditor.model.contract import Compliance

    evaluations = [e for audit in audits for e in audit.evaluations]
    not_run = [entry for audit in audits for entry in audit.not_run]
    failed = list({f.finding_id: f for e in evaluations if e.compliance is Compliance.NON_COMPLIANT
                   for f in e.findings}.values())  # an expired suppression is one finding, however many it matched
    shown = [f for f in failed if args.min_severity is None or f.severity.rank >= args.min_severity.rank]
    if getattr(args, "evidence", False):  # --evidence: the COMPLIANT results as PASSED findings, after the failures
        shown += reports.passed_findings(evaluations)
    write_findings(args.format, shown, out, product_arn=args.product_arn)
    missing = [entry for entry in not_run if not entry.absent]
    coverage = reports.Coverage(
        gaps=tuple(unread) + tuple(f"{entry.rule_id} not run in account {entry.account}: {entry.reason}"
                                   for entry in missing),
        rules_not_run=frozenset(entry.rule_id for entry in missing), accounts_unread=len(unread))
    reported = reports.write_for_command(args, shown, err, state_results=evaluations,
                                         title=f"identity-auditor audit-account: {where}", scope=where,
                                         coverage=coverage)
    judged = [e for e in evaluations if e.finding is not None]  # not the accounts' summing Config evaluations
    counts = {c: sum(1 for e in judged if e.compliance is c) for c in Compliance}
    summary = (
        f"{counts[Compliance.NON_COMPLIANT]} non-compliant, {counts[Compliance.COMPLIANT]} compliant, "
        f"{counts[Compliance.NOT_APPLICABLE]} not applicable evaluations in {where} "
        f"({sum(audit.api_calls for audit in audits)} API calls, {seconds:.1f} s)"
    )
    (err if args.format != "table" else out).write(summary + "\n")
    absent = [entry for entry in not_run if entry.absent]
    for entry in not_run:  # always on stderr: a machine reading stdout must not mistake it for a finding
        if not entry.absent or len(audits) == 1:
            err.write(f"identity-auditor: not run: {entry.rule_id} in account {entry.account}: {entry.reason}\n")
    if absent and len(audits) > 1:  # most accounts of an organisation hold no Identity Center instance: one line
        accounts = sorted({entry.account for entry in absent})
        err.write(f"identity-auditor: not run in {len(accounts)} account(s) that hold no Identity Center instance "
                  f"(run them where Identity Center is administered, with --identity-center-region): "
                  f"{', '.join(sorted({entry.rule_id for entry in absent}))}; accounts: {', '.join(accounts)}\n")
    # no Identity Center instance is what most accounts are (the message says where to run it); a refused read
    # or an account out of reach means the audit is incomplete
    incomplete = bool(unread or missing)
    return max(EXIT_FAIL_ON if fails(failed, args.fail_on) else EXIT_OK, EXIT_RULE_ERROR if bug else EXIT_OK,
               EXIT_AWS_REFUSED if incomplete else EXIT_OK, EXIT_OK if reported else EXIT_BAD_INPUT)
