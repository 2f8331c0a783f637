"""Custom rules on a workstation: a rules directory loaded, checked against the full rule contract (ASFF resource
types from the botocore model included) and put into the registry, for the command line (``--rules-dir``,
``IDENTITY_AUDITOR_RULES_DIR``, ``identity-auditor test``) and ``make generate`` (``custom_rules/`` of the
repository, whose triggers become EventBridge routes of the deployment). See docs/custom-rules.md."""

from __future__ import annotations

import functools
from pathlib import Path
from types import ModuleType

from identity_auditor.engine import custom_rules
from identity_auditor.engine.registry import TAKEN_IDS, Registry, use_custom_rules

REPOSITORY_DIR = "custom_rules"  # the repository's folder that `sam build` packages into the Lambda layer


@functools.cache
def asff_resource_types() -> frozenset[str]:
    """ASFF resource type names: the botocore model's ``ResourceDetails`` members, plus AwsAccount and Other."""
    import botocore.session

    model = botocore.session.get_session().get_service_model("securityhub")
    return frozenset(model.shape_for("ResourceDetails").members) | {"AwsAccount", "Other"}


def load(directory: str | Path) -> tuple[ModuleType, ...]:
    """The custom rules of ``directory``, checked like the built-in rules (RuleFileError naming each bad file)."""
    return custom_rules.load_directory(directory, TAKEN_IDS, asff_resource_types())


def install(directory: str | Path | None) -> Registry:
    """The registry with the custom rules of ``directory`` (``None``: the built-in rules only)."""
    return install_modules(load(directory) if directory is not None else ())


def install_modules(modules: tuple[ModuleType, ...]) -> Registry:
    """The registry with the custom rule ``modules`` (of :func:`load`)."""
    return use_custom_rules(modules)
