"""Custom rules: the organisation's own rule modules, loaded next to the built-in ones without a fork.

A custom rule is a Python module like a built-in rule (``META`` and ``evaluate`` and/or ``evaluate_state``,
held to the same contract: :func:`identity_auditor.model.rule_checks.rule_problems`), in a directory of its own
(docs/custom-rules.md). Each is imported as ``identity_auditor_custom_rules.<file name>``, the package name it
has in the Lambda layer too (``custom_rules/`` of the repository, copied in at ``sam build``), so a rule can
share helpers with its neighbours (``from identity_auditor_custom_rules._helpers import ...``; files starting
with ``_`` are not rules).

Where they come from: the command line's ``--rules-dir`` (or ``IDENTITY_AUDITOR_RULES_DIR``) through
:func:`load_directory`; in Lambda, the installed package through :func:`load_package`. A file that cannot be a
rule (a syntax error, an exception at import, no ``META``, a bad trigger, an id a built-in rule or sequence already has)
stops the load with a :class:`RuleFileError` naming each such file and what is wrong with it.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import traceback
from collections.abc import Collection, Iterable
from pathlib import Path
from types import ModuleType

from identity_auditor.model.contract import RULE_ERRORS
from identity_auditor.model.rule_checks import rule_problems

PACKAGE = "identity_auditor_custom_rules"
ENVIRONMENT = "IDENTITY_AUDITOR_RULES_DIR"  # the command line's default for --rules-dir


class RuleFileError(ValueError):
    """Custom rule files that cannot be loaded: the message names each file and what is wrong with it."""


def load_directory(directory: str | Path, builtin_ids: Collection[str],
                   resource_types: Collection[str] | None = None) -> tuple[ModuleType, ...]:
    """The rule modules of ``directory`` (every ``*.py`` not starting with ``_``, by name), checked.

    Loaded afresh each time (a previous load's modules are forgotten), as package :data:`PACKAGE`."""
    root = Path(directory).expanduser()
    if not root.is_dir():
        raise RuleFileError(f"custom rules directory {str(directory)!r} does not exist or is not a directory")
    root = root.resolve()
    _forget()
    init = root / "__init__.py"
    spec = importlib.util.spec_from_file_location(
        PACKAGE, init if init.is_file() else None, submodule_search_locations=[str(root)])
    package = importlib.util.module_from_spec(spec) if spec else ModuleType(PACKAGE)
    package.__path__ = [str(root)]
    sys.modules[PACKAGE] = package
    problems: list[str] = []
    if init.is_file():
        try:
            spec.loader.exec_module(package)
        except RULE_ERRORS as error:  # anything a file does at import (sys.exit() too) is its file's problem
            problems.append(f"{init}: {_import_error(error, init)}")
    modules = _checked(_rule_files([root]), builtin_ids, resource_types, problems)
    if problems:
        _forget()
    _raise_if(problems, f"custom rules in {root}")
    if not modules:
        raise RuleFileError(f"custom rules directory {root} has no rule files (*.py not starting with '_')")
    return modules


def load_package(builtin_ids: Collection[str], resource_types: Collection[str] | None = None) -> tuple[ModuleType, ...]:
    """The rule modules of the installed package :data:`PACKAGE` (the Lambda layer's), checked; none if it
    is not installed."""
    try:
        spec = importlib.util.find_spec(PACKAGE)
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        return ()
    try:
        package = importlib.import_module(PACKAGE)
    except RULE_ERRORS as error:  # the package's __init__.py is the user's file too
        init = Path(spec.origin or PACKAGE)
        _raise_if([f"{init}: {_import_error(error, init)}"], f"custom rules of package {PACKAGE}")
    problems: list[str] = []
    modules = _checked(_rule_files(Path(location) for location in package.__path__), builtin_ids, resource_types,
                       problems)
    _raise_if(problems, f"custom rules of package {PACKAGE}")
    return modules


def _rule_files(locations: Iterable[Path]) -> list[tuple[str, Path]]:
    """(module name, path) of every rule file: ``*.py`` not starting with ``_``, by name."""
    return sorted((path.stem, path) for location in locations for path in location.glob("*.py")
                  if not path.name.startswith("_"))


def _raise_if(problems: list[str], where: str) -> None:
    """A :class:`RuleFileError` naming every file of ``problems`` and what is wrong with it, when there is one."""
    if problems:
        raise RuleFileError(f"{where} cannot be loaded:\n" + "\n".join(f"  {problem}" for problem in problems))


def _checked(files: Iterable[tuple[str, Path]], builtin_ids: Collection[str],
             resource_types: Collection[str] | None, problems: list[str]) -> tuple[ModuleType, ...]:
    modules = []
    for stem, path in files:
        if not stem.isidentifier():
            problems.append(f"{path}: {stem!r} is not a Python module name (use lower_case_with_underscores)")
            continue
        try:
            module = importlib.import_module(f"{PACKAGE}.{stem}")
        except RULE_ERRORS as error:  # a syntax error, an import error, sys.exit() at import
            problems.append(f"{path}: {_import_error(error, path)}")
            continue
        found = rule_problems(module, resource_types)
        rule_id = getattr(getattr(module, "META", None), "id", None)
        if not found and rule_id in builtin_ids:
            found = [f"rule id {rule_id!r} is a built-in rule's or sequence's id: give the custom rule another id "
                     "(and its file that name); to change the built-in rule's behaviour use the organisation policy"]
        problems.extend(f"{path}: {problem}" for problem in found)
        modules.append(module)
    return tuple(modules)


def _import_error(error: BaseException, path: Path) -> str:
    if isinstance(error, SyntaxError):
        return f"syntax error on line {error.lineno}: {error.msg}"
    frames = [frame for frame in traceback.extract_tb(error.__traceback__) if frame.filename == str(path)]
    where = f" (line {frames[-1].lineno})" if frames else ""
    return f"importing it raised {type(error).__name__}{where}: {error}"


def _forget() -> None:
    for name in [name for name in sys.modules if name == PACKAGE or name.startswith(PACKAGE + ".")]:
        del sys.modules[name]
