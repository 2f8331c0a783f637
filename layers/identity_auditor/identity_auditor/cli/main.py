"""The ``identity-auditor`` command line (one module per command in this package): the same rules and findings as the Lambda functions, locally.

    identity-auditor evaluate PATH|s3://BUCKET/PREFIX... [--format table|jsonl|asff] [--min-severity S]
                              [--fail-on S] [--jobs N] [--since T] [--until T] [--sink securityhub,sns]
    identity-auditor rules [--format table|json|markdown]
    identity-auditor patterns
    identity-auditor policy validate FILE... | policy show [FILE] [--format yaml|json] | policy schema
    identity-auditor audit-account [--organization [--accounts ID,ID] [--ous OU,OU] [--role-name R]]
    identity-auditor completion bash|zsh|fish
    identity-auditor test RULES_DIR            (custom rules on their samples; --rules-dir DIR on the others)

On a terminal the findings table and the organisation audit's progress are drawn with colours (severity), which
``NO_COLOR`` (any value) or ``--no-color`` turn off; piped or redirected, the output is plain text.

Exit status of ``evaluate``: 0 done; 1 a finding reached ``--fail-on``; 2 some input could not be read
or is not a valid event (each problem is named on stderr, after every valid input was evaluated);
3 a rule failed on some record (a bug: please report it with the record), or ``--sink`` could not
publish the findings (they are still printed). ``evaluate --policy FILE`` evaluates under that
organisation policy (exit 2 when it is invalid). Files are evaluated on every core (``--jobs``), with
the same findings in the same order as on one; see :mod:`identity_auditor.archive.pool`.

Exit status of ``policy``: 0 valid; 2 a policy is invalid or unreadable (the message names each bad
key with its path and value).
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import IO

from identity_auditor import __version__
from identity_auditor.cli import audit, completion, custom, evaluate, policy, redrive, rules
from identity_auditor.cli.output import EXIT_OK
from identity_auditor.cli.table import COLOR


def main(argv: list[str] | None = None, stdout: IO[str] | None = None, stderr: IO[str] | None = None) -> int:
    out, err = stdout or sys.stdout, stderr or sys.stderr
    command_line = parser()
    args = command_line.parse_args(argv)
    custom.use_rules_dir(args, command_line)
    color = COLOR.set(not getattr(args, "no_color", False))
    try:
        return args.run(args, out, err)
    except BrokenPipeError:  # output piped into head & co.: stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    finally:
        COLOR.reset(color)


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="identity-auditor",
        description="Audit AWS identity events (CloudTrail) against the organisation's rules.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    no_color = {"action": "store_true", "default": argparse.SUPPRESS,
                "help": "no colours on a terminal (as NO_COLOR=1 does)"}
    parser.add_argument("--no-color", **no_color)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in (evaluate, rules, policy, audit, redrive, custom, completion):
        command.add_parser(commands)
    custom.add_rules_dir_option(commands)
    for name, command in commands.choices.items():  # `--no-color` before or after the command
        if name != "completion":
            command.add_argument("--no-color", **no_color)
    parser.set_defaults(root_parser=parser)  # what `completion` describes
    return parser


if __name__ == "__main__":
    sys.exit(main())
