"""``identity-auditor policy validate|show|schema``: the organisation policy document.

Exit status: 0 valid; 2 a policy is invalid or unreadable (the message names each bad key with its path
and value).
"""

from __future__ import annotations

import argparse
from datetime import datetime, timezone
from typing import IO

from identity_auditor.cli.output import EXIT_BAD_INPUT, EXIT_OK

# Each command imports what it runs inside its function: `identity-auditor --version`, `rules` or a usage error
# never pay for boto3, pydantic models or the engine.


def add_parser(commands) -> None:
    policy_cmd = commands.add_parser(
        "policy", help="validate, show or describe the organisation policy document",
        description="The organisation policy: per rule enabled / severity / allow / suppress, and the global "
        "settings (README, \"Organisation policy\"; the schema: `identity-auditor policy schema`). See "
        "examples/policy.example.yaml.",
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
    policy_cmd.set_defaults(run=run)


def run(args: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    from identity_auditor.policy import loader as policy_loader
    from identity_auditor.policy.document import PolicyError, dump_policy, summary

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
