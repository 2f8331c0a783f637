"""``identity-auditor completion bash|zsh|fish``: a shell completion script generated from the command's own
argument parser (``shtab``, a CLI-only dependency), so it always knows every command and option of this version.

    bash:  identity-auditor completion bash > ~/.local/share/bash-completion/completions/identity-auditor
    zsh:   identity-auditor completion zsh > "${fpath[1]}/_identity-auditor"
    fish:  identity-auditor completion fish > ~/.config/fish/completions/identity-auditor.fish
"""

from __future__ import annotations

import argparse
from typing import IO

from identity_auditor.cli.output import EXIT_OK

SHELLS = ("bash", "zsh", "fish")


def add_parser(commands) -> None:
    completion = commands.add_parser(
        "completion",
        help="print a shell completion script (bash, zsh or fish)",
        description="Print the completion script for SHELL on stdout; see the command's documentation for where "
        "each shell reads it.",
    )
    completion.add_argument("shell", choices=SHELLS, metavar="SHELL", help="bash, zsh or fish")
    completion.set_defaults(run=run)


def run(args: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    import shtab

    _complete_paths(args.root_parser, shtab)
    out.write(shtab.complete(args.root_parser, shell=args.shell))
    out.write("\n")
    return EXIT_OK


def _complete_paths(parser: argparse.ArgumentParser, shtab) -> None:
    """Arguments that name files (``PATH``, ``FILE``) complete file names."""
    for action in parser._actions:  # argparse has no public walk of its arguments
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                _complete_paths(sub, shtab)
        elif str(action.metavar or action.dest).upper().startswith(("PATH", "FILE")):
            action.complete = shtab.FILE
