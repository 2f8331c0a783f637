"""``make generate``: every file derived from the rule registry, rewritten or checked in one place.

The derived files, and what of each is generated:

- ``template.yaml``: three marked blocks, the EventBridge rules of the default bus ("event routes",
  :func:`identity_auditor.deploy.routes.render`), the rules on the organisation's central event bus
  ("organization event routes", :func:`identity_auditor.deploy.org_routes.render_central`) and the AWS
  Config rules of the state rules ("config rules", :func:`identity_auditor.deploy.routes.render_config_rules`);
- ``forwarder.yaml``: one marked block, the member accounts' forwarding rules ("forwarder routes",
  :func:`identity_auditor.deploy.org_routes.render_forwarder`);
- ``README.md``: one marked block, the rule table ("rules", :func:`identity_auditor.deploy.catalogue.readme_block`);
- ``policy.schema.json``: the whole file (:func:`identity_auditor.policy.loader.schema_text`).

The registry here is the built-in rules plus the repository's custom rules (``custom_rules/``, which ``sam build``
packages into the layer; docs/custom-rules.md): run ``make generate`` after adding or changing one.

``make generate`` (``python -m identity_auditor.deploy.generate``) writes them; ``make generate CHECK=1``
(``--check``) writes nothing, names each stale file with a short unified diff and exits 1. The contract
tests call :func:`stale`, the same check, so "up to date" has one definition.

A block is found by its markers: the BEGIN line is recognised by its text up to `` (`` (so rewording
the parenthesis, as :data:`BLOCKS` does, regenerates cleanly) and the END line exactly.
"""

from __future__ import annotations

import argparse
import difflib
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from identity_auditor.deploy import catalogue, custom_rules, org_routes, routes
from identity_auditor.engine.custom_rules import RuleFileError
from identity_auditor.engine.registry import BUILT_IN, REGISTRY

TEMPLATE = "template.yaml"
FORWARDER = "forwarder.yaml"
README = "README.md"
SCHEMA = "policy.schema.json"
DERIVED = (TEMPLATE, FORWARDER, README, SCHEMA)
DIFF_LINES = 40  # of each stale file's diff in check mode


def _default_root() -> Path:
    """The repository: four levels above this file in a checkout (editable install), else the working directory."""
    checkout = Path(__file__).resolve().parents[4]
    return checkout if (checkout / TEMPLATE).is_file() else Path.cwd()


ROOT = _default_root()


@dataclass(frozen=True)
class Block:
    """A generated block of a file: from its BEGIN line through its END line, both included."""

    file: str
    begin: str
    end: str
    render: Callable[[], str]  # the whole block, markers included, ending with a newline


BLOCKS: tuple[Block, ...] = (
    Block(TEMPLATE, routes.BEGIN, routes.END, lambda: routes.render(REGISTRY.routes())),
    Block(TEMPLATE, org_routes.CENTRAL_BEGIN, org_routes.CENTRAL_END,
          lambda: org_routes.render_central(REGISTRY.routes())),
    Block(TEMPLATE, routes.CONFIG_BEGIN, routes.CONFIG_END,
          lambda: routes.render_config_rules(REGISTRY.state_rules())),
    Block(FORWARDER, org_routes.FORWARDER_BEGIN, org_routes.FORWARDER_END,
          lambda: org_routes.render_forwarder(REGISTRY.routes())),
    Block(README, catalogue.README_BEGIN, catalogue.README_END, lambda: catalogue.readme_block(REGISTRY)),
)


def _schema_text() -> str:
    from identity_auditor.policy.loader import schema_text  # pydantic models: only when needed

    return schema_text()


WHOLE_FILES: dict[str, Callable[[], str]] = {SCHEMA: _schema_text}


class GenerateError(Exception):
    """A derived file whose generated block cannot be found (markers edited or removed)."""


def _span(text: str, block: Block) -> tuple[int, int]:
    """Where the block is in ``text``: the start of its BEGIN line, the end of its END line (newline included)."""
    key = block.begin.split(" (", 1)[0]
    begins = list(re.finditer(rf"^{re.escape(key)}(?: \(.*)?$", text, flags=re.MULTILINE))
    if len(begins) != 1:
        raise GenerateError(
            f"{block.file}: expected one line starting {key.strip()!r}, found {len(begins)}: "
            "restore the generated block's markers, then run `make generate`"
        )
    end = re.compile(rf"^{re.escape(block.end)}$\n?", flags=re.MULTILINE).search(text, begins[0].end())
    if end is None:
        raise GenerateError(f"{block.file}: no {block.end.strip()!r} line after {key.strip()!r}")
    return begins[0].start(), end.end()


def render(file: str, current: str) -> str:
    """``file``'s text as ``make generate`` writes it, given its text now (``current``)."""
    if file in WHOLE_FILES:
        return WHOLE_FILES[file]()
    text = current
    for block in BLOCKS:
        if block.file == file:
            start, stop = _span(text, block)
            text = text[:start] + block.render() + text[stop:]
    return text


@dataclass(frozen=True)
class Stale:
    file: str
    diff: str  # unified diff from the file in the tree to the generated one, at most DIFF_LINES lines

    def __str__(self) -> str:
        return f"{self.file} is stale (differs from what the rule registry generates):\n{self.diff}"


def _diff(file: str, old: str, new: str) -> str:
    lines = list(difflib.unified_diff(old.splitlines(keepends=True), new.splitlines(keepends=True),
                                      fromfile=f"{file} (in the tree)", tofile=f"{file} (generated)", n=1))
    shown = [line if line.endswith("\n") else line + "\n" for line in lines[:DIFF_LINES]]
    if len(lines) > DIFF_LINES:
        shown.append(f"... ({len(lines) - DIFF_LINES} more diff lines)\n")
    return "".join(shown)


def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8") if path.exists() else ""


def use_rules_of(root: Path) -> list[str]:
    """Make the registry the built-in rules plus the custom rules of ``root/custom_rules`` when that folder
    exists (what ``sam build`` packages into the layer); their ids."""
    custom = root / custom_rules.REPOSITORY_DIR
    custom_rules.install(custom if custom.is_dir() else None)
    return [rule.meta.id for rule in REGISTRY.rules[len(BUILT_IN):]]


def stale(root: Path = ROOT, files: Sequence[str] = DERIVED) -> list[Stale]:
    """The derived files (of ``files``) whose text differs from what the registry generates (with the custom
    rules of ``root/custom_rules``); nothing is written."""
    use_rules_of(root)
    found = []
    for file in files:
        current = _read(root / file)
        expected = render(file, current)
        if expected != current:
            found.append(Stale(file, _diff(file, current, expected)))
    return found


def report(found: Sequence[Stale]) -> str:
    """What check mode prints (and the contract tests show) for stale files."""
    names = ", ".join(item.file for item in found)
    return "".join(f"{item}\n" for item in found) + f"stale: {names}: run `make generate`\n"


def generate(root: Path = ROOT, *, check: bool = False, out: IO[str] | None = None,
             err: IO[str] | None = None) -> int:
    """Write every derived file (0), or with ``check`` report the stale ones (1 if any, else 0).

    The registry is the built-in rules plus the custom rules of ``root/custom_rules`` when that folder exists
    (the ones ``sam build`` packages into the layer), so that their triggers get EventBridge routes."""
    out = out or sys.stdout
    err = err or sys.stderr
    custom = use_rules_of(root)
    if custom:
        out.write(f"custom rules of {root / custom_rules.REPOSITORY_DIR}: {', '.join(custom)}\n")
    if check:
        found = stale(root)
        if found:
            err.write(report(found))
            return 1
        out.write(f"up to date: {', '.join(DERIVED)}\n")
        return 0
    for file in DERIVED:
        path = root / file
        current = _read(path)
        updated = render(file, current)
        if updated != current:
            path.write_text(updated, encoding="utf-8")
        out.write(f"{file}: {'regenerated' if updated != current else 'already up to date'}\n")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m identity_auditor.deploy.generate",
        description=f"Rewrite the files derived from the rule registry: {', '.join(DERIVED)}.",
    )
    parser.add_argument("--check", action="store_true",
                        help="write nothing; name each stale file with a diff and exit 1 if any is stale")
    parser.add_argument("--root", type=Path, default=ROOT, help=f"the repository (default: {ROOT})")
    args = parser.parse_args(argv)
    try:
        return generate(args.root, check=args.check)
    except (GenerateError, RuleFileError) as error:
        print(f"make generate: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
