"""``identity-auditor audit-account --organization``: the state sweep of every ACTIVE account of the AWS
organisation, from a laptop, as one result.

Run with credentials of the management account or of a delegated administrator of AWS Organizations
(``organizations:ListAccounts``, or ``ListChildren`` and ``ListAccountsForParent`` with ``--ous``) that may
assume the member role (``--role-name``; default the role the organisation deployment's forwarder creates in
every member account, whose read-identity-state policy is exactly what the sweep reads). The account of the
current credentials is swept with them. Accounts are swept ``--max-workers`` at a time; an account whose role
cannot be assumed or whose identity state cannot be read is named with AWS's answer and the others go on.
The findings of every account are printed together, then one summary and the rules not run in each account.

Progress goes to stderr: on a terminal a live display (accounts done and failed, time left), otherwise one
line per account, so that logs of a CI job say which account took how long.
"""

from __future__ import annotations

import argparse
import re
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import IO

from identity_auditor.aws.member_access import READER_ROLE_NAME
from identity_auditor.cli.sweep import AccountAudit, report, sweep_account
from identity_auditor.cli.output import EXIT_AWS_REFUSED, EXIT_BAD_INPUT
from identity_auditor.cli.table import console, is_terminal
from identity_auditor.model.text import clean


DEFAULT_WORKERS, MAX_WORKERS = 4, 32


_ACCOUNT_ID = re.compile(r"\d{12}")
_PARENT_ID = re.compile(r"ou-[0-9a-z]{4,32}-[0-9a-z]{8,32}|r-[0-9a-z]{4,32}")


def _ids(text: str, pattern: re.Pattern, what: str) -> list[str]:
    """A comma-separated list of ids, each matching ``pattern``, without duplicates, in the order given."""
    ids = [part.strip() for part in text.split(",") if part.strip()]
    bad = [part for part in ids if not pattern.fullmatch(part)]
    if bad or not ids:
        raise argparse.ArgumentTypeError(f"not {what}: {', '.join(bad) or repr(text)}")
    return list(dict.fromkeys(ids))


def account_ids(text: str) -> list[str]:
    return _ids(text, _ACCOUNT_ID, "12-digit account ids")


def parent_ids(text: str) -> list[str]:
    return _ids(text, _PARENT_ID, "organisational unit (ou-...) or root (r-...) ids")


def workers(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= MAX_WORKERS:
        raise argparse.ArgumentTypeError(f"a number from 1 to {MAX_WORKERS}, not {text!r}")
    return value




def add_arguments(audit: argparse.ArgumentParser) -> None:
    organization = audit.add_argument_group(
        "organisation", "audit every ACTIVE account of the AWS organisation from its management account (or a "
        "delegated administrator), through a role assumed in each; the account of the current credentials is "
        "audited with them")
    organization.add_argument("--organization", action="store_true",
                              help="every account of the organisation (organizations:ListAccounts)")
    organization.add_argument("--accounts", type=account_ids, default=None, metavar="ID,ID",
                              help="only these accounts of the organisation")
    organization.add_argument("--ous", type=parent_ids, default=None, metavar="OU,OU",
                              help="only the accounts under these organisational units (or root), at any depth")
    organization.add_argument("--role-name", default=None, metavar="NAME",
                              help=f"the role assumed in each account; default: {READER_ROLE_NAME}, the read-only role "
                              "the organisation deployment creates for the principals AuditReaderPrincipalArns names")
    organization.add_argument("--max-workers", type=workers, default=None, metavar="N",
                              help=f"accounts swept at the same time (1-{MAX_WORKERS}); default: {DEFAULT_WORKERS}")


@dataclass
class Outcome:
    """One account's sweep: its audit, or why it could not be done (``bug``: not AWS's answer but ours)."""

    account: str
    name: str
    audit: AccountAudit | None = None
    error: str | None = None
    bug: bool = False
    refused: bool = False  # STS refused the role (missing, not trusted, denied)
    seconds: float = 0.0


def audit_organization(args: argparse.Namespace, out: IO[str], err: IO[str], *, rules: list[str] | None,
                       policy) -> int:
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    from identity_auditor.aws.member_access import MemberAccess, MemberAccessError
    from identity_auditor.collectors import describe
    from identity_auditor.collectors.organization import OrganizationReader, active_accounts
    from identity_auditor.model.cloudtrail import partition_of

    session = boto3.session.Session()
    region = session.region_name or "us-east-1"
    started = time.perf_counter()
    try:
        identity = session.client("sts", region_name=region).get_caller_identity()
    except (BotoCoreError, ClientError) as error:
        err.write(f"identity-auditor: no usable AWS credentials: {describe(error)}\n")
        return EXIT_AWS_REFUSED
    client = session.client("organizations", region_name=region)
    try:
        # every account of the organisation, whatever its state, is inside the zone of trust of role trust policies
        whole = OrganizationReader(client.describe_organization()["Organization"]["Id"], lambda: client).organization()
        accounts = active_accounts(client, parents=args.ous or ())
    except (BotoCoreError, ClientError) as error:
        if isinstance(error, ClientError) and error.response.get("Error", {}).get("Code") == "ParentNotFoundException":
            err.write(f"identity-auditor: --ous names an organisational unit or root that the organisation does not "
                      f"hold: {describe(error)}\n")
            return EXIT_BAD_INPUT
        err.write("identity-auditor: cannot list the organisation's accounts (run it with credentials of the "
                  f"management account or of a delegated administrator of AWS Organizations): {describe(error)}\n")
        return EXIT_AWS_REFUSED
    if args.accounts:
        listed = {account["Id"] for account in accounts}
        outside = [account for account in args.accounts if account not in listed]
        if outside:
            err.write(f"identity-auditor: not an ACTIVE account of the organisation"
                      f"{' under ' + ', '.join(args.ous) if args.ous else ''}: {', '.join(outside)}\n")
            return EXIT_BAD_INPUT
        named = set(args.accounts)
        accounts = [account for account in accounts if account["Id"] in named]
    if not accounts:
        err.write(f"identity-auditor: no ACTIVE account under {', '.join(args.ous or ['the organisation'])}\n")
        return EXIT_BAD_INPUT

    now = datetime.now(timezone.utc)  # every account's result is as of the same moment
    own = identity["Account"]
    partition = partition_of(identity.get("Arn"), region)
    # boto3 sessions are not thread-safe: the STS client is made here, and each account's sweep has its own session
    sts = session.client("sts", region_name=region)
    access = MemberAccess(args.role_name or READER_ROLE_NAME, home_account=own, partition=partition,
                          region=region, sts_client=lambda: sts)

    def member_iam(account: str):
        """An IAM client in ``account`` for the Identity Center rules of the account that administers it (the
        reserved roles of every account a permission set is provisioned to): a session of its own, since the
        account's own sweep may be using the cached one in another thread."""
        assumed = access.session(account)
        if assumed is None:
            return boto3.session.Session(region_name=region).client("iam")
        frozen = assumed.get_credentials().get_frozen_credentials()
        return boto3.session.Session(aws_access_key_id=frozen.access_key, aws_secret_access_key=frozen.secret_key,
                                     aws_session_token=frozen.token, region_name=region).client("iam")

    def sweep(account: dict[str, str]) -> Outcome:
        outcome = Outcome(account["Id"], clean(account["Name"], 50))
        began = time.perf_counter()
        try:
            # the account of the current credentials is read with them (MemberAccess answers None for it)
            member = access.session(account["Id"]) or boto3.session.Session(region_name=region)
            outcome.audit = sweep_account(member, account["Id"], identity.get("Arn"), region, args,
                                          rules=rules, policy=policy, organization=whole, now=now,
                                          member_iam=member_iam)
        except Exception as error:  # noqa: BLE001 (each account's failure is named; the others go on)
            outcome.error, outcome.bug = why(error)
            outcome.refused = isinstance(error, MemberAccessError) and error.permanent
        outcome.seconds = time.perf_counter() - began
        return outcome

    outcomes = _run(accounts, sweep, args.max_workers or DEFAULT_WORKERS, err)
    order = {account["Id"]: index for index, account in enumerate(accounts)}
    outcomes.sort(key=lambda outcome: order[outcome.account])
    unread = [outcome for outcome in outcomes if outcome.audit is None]
    audits = [outcome.audit for outcome in outcomes if outcome.audit is not None]
    code = report(audits, args, out, err, where=f"{len(audits)} of {len(outcomes)} accounts",
                  seconds=time.perf_counter() - started,
                  unread=[f"account {outcome.account} ({outcome.name}) not audited: {outcome.error}"
                          for outcome in unread],
                  bug=any(outcome.bug for outcome in outcomes))
    for outcome in unread:  # last, where a person looks: which accounts the result does not cover
        err.write(f"identity-auditor: account {outcome.account} ({outcome.name}) not audited: {outcome.error}\n")
    if not args.role_name and any(outcome.refused for outcome in unread):
        err.write(f"identity-auditor: {READER_ROLE_NAME}, the read-only role the organisation deployment creates in "
                  "each account, trusts only the principals of the security account that the main stack's "
                  "AuditReaderPrincipalArns names (exists only when it names some): add yours and deploy, or name "
                  "with --role-name a role you may assume in every account (a read-only audit role your StackSets "
                  "create; OrganizationAccountAccessRole is an administrator role). The auditor's own member role "
                  "trusts only the auditor's functions\n")
    return code


def why(error: Exception) -> tuple[str, bool]:
    """What to say about an account that could not be swept, and whether it is a bug (exit 3) rather than AWS's
    answer (exit 4)."""
    from botocore.exceptions import BotoCoreError, ClientError

    from identity_auditor.aws.member_access import MemberAccessError
    from identity_auditor.collectors import CollectorError, describe

    if isinstance(error, MemberAccessError):
        return clean(error, 500), False
    if isinstance(error, (BotoCoreError, ClientError, CollectorError)):
        return f"cannot read the account's identity state: {clean(describe(error), 400)}", False
    return f"unexpected {type(error).__name__}: {clean(error, 300)} (a bug: please report it)", True


def _run(accounts: list[dict[str, str]], sweep, workers: int, err: IO[str]) -> list[Outcome]:
    """``sweep`` of each account, ``workers`` at a time, with the progress on ``err``."""
    outcomes: list[Outcome] = []
    pool = ThreadPoolExecutor(max_workers=min(workers, len(accounts)), thread_name_prefix="account")
    try:
        futures = [pool.submit(sweep, account) for account in accounts]
        if is_terminal(err):
            _live(futures, len(accounts), err, outcomes)
        else:
            for future in as_completed(futures):
                outcome = future.result()
                outcomes.append(outcome)
                err.write(_line(outcome, len(outcomes), len(accounts)) + "\n")
    except BaseException:  # Ctrl-C: the accounts not started yet are not started
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown()
    return outcomes


def _line(outcome: Outcome, done: int, total: int) -> str:
    head = f"identity-auditor: [{done}/{total}] account {outcome.account} ({outcome.name})"
    if outcome.audit is None:
        return f"{head} FAILED after {outcome.seconds:.1f} s: {outcome.error}"
    found = sum(1 for e in outcome.audit.evaluations if e.finding is not None and e.compliance.value == "NON_COMPLIANT")
    return (f"{head}: {found} non-compliant, {len(outcome.audit.not_run)} rule(s) not run "
            f"({outcome.audit.api_calls} API calls, {outcome.seconds:.1f} s)")


def _live(futures, total: int, err: IO[str], outcomes: list[Outcome]) -> None:
    """The live display on a terminal: a bar of the accounts done, how many failed, time spent and left; each
    failure printed above it as it happens."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )
    from rich.text import Text

    columns = (SpinnerColumn(), BarColumn(), MofNCompleteColumn(), TextColumn("accounts,"),
               TextColumn("{task.fields[failed]} failed,"), TimeElapsedColumn(), TextColumn("spent,"),
               TimeRemainingColumn(), TextColumn("left"))
    with Progress(*columns, console=console(err), transient=False) as progress:
        task = progress.add_task("accounts", total=total, failed=0)
        failed = 0
        for future in as_completed(futures):
            outcome = future.result()
            outcomes.append(outcome)
            if outcome.audit is None:
                failed += 1
                progress.console.print(Text(f"account {outcome.account} ({outcome.name}): {outcome.error}",
                                            style="red"))
            progress.update(task, advance=1, failed=failed)
