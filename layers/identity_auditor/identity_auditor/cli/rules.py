"""``identity-auditor rules`` (the catalogue) and ``identity-auditor patterns`` (the EventBridge rules the
deployment needs, as in template.yaml)."""

from __future__ import annotations

import argparse
import json
from typing import IO

from identity_auditor.cli.output import EXIT_OK


def add_parser(commands) -> None:
    rules_cmd = commands.add_parser("rules", help="list the rule catalogue")
    rules_cmd.add_argument("--format", choices=("table", "json", "markdown"), default="table")
    rules_cmd.set_defaults(run=list_rules)
    patterns_cmd = commands.add_parser(
        "patterns",
        help="print the EventBridge rules the deployment needs: pattern and where it lives (as in template.yaml)",
    )
    patterns_cmd.set_defaults(run=print_routes)


def list_rules(args: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    from identity_auditor.deploy import catalogue
    from identity_auditor.engine.registry import REGISTRY

    if args.format == "json":
        json.dump([catalogue.as_dict(rule) for rule in REGISTRY.rules], out, indent=2)
        out.write("\n")
    elif args.format == "markdown":
        out.write(catalogue.markdown(REGISTRY))
    else:
        out.write(catalogue.table(REGISTRY))
    return EXIT_OK


def print_routes(args: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    from identity_auditor.engine.registry import REGISTRY

    routes = [
        {"name": r.name, "scope": r.scope, "all_management_events": r.all_management_events, "pattern": r.pattern}
        for r in REGISTRY.routes()
    ]
    json.dump(routes, out, indent=2)
    out.write("\n")
    return EXIT_OK
