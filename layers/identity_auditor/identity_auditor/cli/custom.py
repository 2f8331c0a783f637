"""Custom rules on the command line: ``--rules-dir DIR`` (default: ``IDENTITY_AUDITOR_RULES_DIR``) on the
commands that run or list rules, and ``identity-auditor test RULES_DIR``, which runs each custom rule on the
sample events it declares (``SAMPLES``), as the built-in rules are held to events/manifest.json.

Exit status of ``test``: 0 every sample gave what its rule declares; 1 some did not (each is named with
what was expected and what was found); 2 a rule file cannot be loaded (each bad file is named with why).
State rules have no event samples: each is a ``SKIP`` line ("not tested"), counted apart, not a failure.
See docs/custom-rules.md.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import IO

from identity_auditor.cli.output import EXIT_BAD_INPUT, EXIT_FAIL_ON, EXIT_OK
from identity_auditor.model.severity import Severity

ENVIRONMENT = "IDENTITY_AUDITOR_RULES_DIR"  # identity_auditor.engine.custom_rules.ENVIRONMENT (not imported: cheap)
COMMANDS_WITH_RULES = ("evaluate", "rules", "patterns", "audit-account", "policy")  # policy: its actions


def add_parser(commands) -> None:
    test_cmd = commands.add_parser(
        "test", help="run custom rules on the sample events they declare (SAMPLES); exit 1 on any failure",
        description="Load the custom rules of RULES_DIR (checked like the built-in rules), run each on the sample "
                    "events its SAMPLES names and print PASS or FAIL per sample. Exit 0 all passed, 1 a sample "
                    "failed, 2 a rule file cannot be loaded.")
    test_cmd.add_argument("rules_dir", metavar="RULES_DIR", help="a directory of custom rule modules")
    test_cmd.set_defaults(run=run_tests)


def add_rules_dir_option(commands) -> None:
    """``--rules-dir`` on every command that runs or lists rules (registered by cli/main.py)."""
    for name in COMMANDS_WITH_RULES:
        command = commands.choices.get(name)
        if command is not None:
            _add_rules_dir(command)


def _add_rules_dir(command: argparse.ArgumentParser) -> None:
    """On the command, or on each of its actions when it has some (``policy validate|show|schema``: a policy
    may configure custom rules, which are known only once loaded)."""
    actions = [action for action in command._actions if isinstance(action, argparse._SubParsersAction)]
    if actions:
        for child in dict.fromkeys(actions[0].choices.values()):
            _add_rules_dir(child)
        return
    command.add_argument(
        "--rules-dir", metavar="DIR", default=os.environ.get(ENVIRONMENT, ""),
        help=f"also load the custom rules of DIR (docs/custom-rules.md; default: ${ENVIRONMENT})")
    command.set_defaults(takes_rules_dir=True)


def use_rules_dir(args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    """After parsing (cli/main.py): load the custom rules of ``--rules-dir`` into the registry (empty: the built-in
    rules only), so that the command and its worker processes see them; a bad file is a usage error (exit 2)
    naming the file. A command without the option leaves the registry alone."""
    if not getattr(args, "takes_rules_dir", False):  # (`test RULES_DIR` loads its directory itself)
        return
    if not args.rules_dir:
        if "identity_auditor.engine.registry" in sys.modules:  # the engine is imported only when it is needed
            from identity_auditor.deploy import custom_rules

            custom_rules.install(None)
        os.environ.pop(ENVIRONMENT, None)
        args.rules_dir = None
        return
    from identity_auditor.deploy import custom_rules
    from identity_auditor.engine.custom_rules import RuleFileError

    try:
        custom_rules.install(args.rules_dir)
    except RuleFileError as error:
        parser.error(f"argument --rules-dir: {error}")
    args.rules_dir = os.environ[ENVIRONMENT] = str(Path(args.rules_dir).expanduser().resolve())  # for the workers


def run_tests(args: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    from identity_auditor.deploy import custom_rules
    from identity_auditor.engine.custom_rules import RuleFileError

    try:
        modules = custom_rules.load(args.rules_dir)
        custom_rules.install_modules(modules)
    except RuleFileError as error:
        err.write(f"identity-auditor test: {error}\n")
        return EXIT_BAD_INPUT
    root = Path(args.rules_dir).expanduser().resolve()
    counts = {"PASS": 0, "FAIL": 0, "SKIP": 0}
    for module in modules:
        for outcome, line in _test_rule(module, root):
            out.write(f"{outcome} {line}\n")
            counts[outcome] += 1
    skipped = f", {counts['SKIP']} not tested" if counts["SKIP"] else ""
    out.write(f"{counts['PASS']} passed, {counts['FAIL']} failed{skipped} ({len(modules)} "
              f"rule{'s' if len(modules) != 1 else ''} in {root})\n")
    return EXIT_FAIL_ON if counts["FAIL"] else EXIT_OK


def _test_rule(module, root: Path):
    """(PASS|FAIL|SKIP, line) for each sample of the rule, then for what its samples must cover: like the built-in
    rules (tests/contract/test_registry.py), a rule with triggers needs a sample that fires it and one of its
    event names that leaves it quiet. A state rule has no event samples: SKIP, said plainly."""
    from identity_auditor.engine.registry import REGISTRY

    rule = REGISTRY.get(module.META.id)
    name = rule.meta.id
    samples = getattr(module, "SAMPLES", None)
    if not rule.meta.triggers:
        yield "SKIP", (f"{name}: not tested: a state rule (evaluate_state) has no event samples; "
                       "test evaluate_state with your own unit tests")
        return
    if not isinstance(samples, dict) or not samples:
        yield "FAIL", (f"{name}: declares no SAMPLES (a dict of sample file, relative to {root}, to the severity "
                      "the rule must find on it or None where it must stay quiet)")
        return
    fired = quiet = 0
    for path, expected in samples.items():
        try:
            outcome, triggered = _run_sample(rule, root, path)
        except SampleError as error:
            yield "FAIL", f"{name} {path}: {error}"
            continue
        if isinstance(outcome, Exception):
            yield "FAIL", f"{name} {path}: the rule raised {type(outcome).__name__}: {outcome}"
            continue
        try:
            wanted = None if expected is None else Severity.parse(str(expected)).value
        except ValueError:
            yield "FAIL", (f"{name} {path}: expected severity {expected!r} is not one of "
                           f"{', '.join(s.value for s in Severity)} or None")
            continue
        found = outcome.value if outcome is not None else None
        fired += found is not None and found == wanted
        quiet += found is None and wanted is None and triggered
        if found == wanted:
            yield "PASS", f"{name} {path}: {'found ' + found if found else 'quiet'}, as declared"
        else:
            yield "FAIL", (f"{name} {path}: expected {wanted or 'no finding'}, found {found or 'no finding'}"
                          + ("" if triggered else " (the sample is none of the rule's trigger events)"))
    if not fired:
        yield "FAIL", f"{name}: no sample declares a finding (a sample the rule must fire on)"
    if not quiet:
        yield "FAIL", f"{name}: no sample of the rule's trigger events declares None (one it must stay quiet on)"


class SampleError(Exception):
    """A sample that cannot be read as an event."""


def _run_sample(rule, root: Path, relative: str):
    """The severity the rule finds on the sample (None: no finding) or the exception it raised, and whether the
    sample is one of the rule's trigger events."""
    from datetime import datetime, timezone

    from pydantic import ValidationError

    from identity_auditor.engine.events import Engine
    from identity_auditor.engine.registry import Registry
    from identity_auditor.model.cloudtrail import CloudTrailEvent, CloudTrailRecord, base_event_name
    from identity_auditor.model.contract import Context
    from identity_auditor.model.health import HealthEventError, health_envelope, is_health_event

    path = (root / str(relative)).resolve()
    if not path.is_relative_to(root):
        raise SampleError("outside the rules directory")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise SampleError(f"cannot be read as JSON: {error}") from None
    try:
        if is_health_event(data):
            data = health_envelope(data)
        if isinstance(data, dict) and "detail" in data:  # an EventBridge event, as in events/cloudtrail/
            event = CloudTrailEvent.model_validate(data)
            record, account, region = event.detail, event.account, event.region
        else:  # a CloudTrail record, as in a log file's Records
            record, account, region = CloudTrailRecord.model_validate(data), None, None
    except (ValidationError, HealthEventError, TypeError) as error:
        raise SampleError(f"not a CloudTrail event: {str(error).splitlines()[0]}") from None
    name = base_event_name(record.event_source, record.event_name)
    triggered = any(t.matches(record.event_source, name, record.user_identity.type) for t in rule.meta.triggers)
    ctx = Context(now=record.event_time or datetime.now(timezone.utc))
    evaluation = Engine(Registry([rule])).evaluate(record, ctx, account=account, region=region)
    if evaluation.failures:
        failure = evaluation.failures[0]
        return RuntimeError(failure.error), triggered
    findings = [finding for finding in evaluation.findings if finding.rule_id == rule.meta.id]
    return (findings[0].severity if findings else None), triggered
