"""The architecture, checked: packages import only the layers below them and form no import cycle
(import-linter's contracts in pyproject.toml), the Lambda layer ships neither the CLI nor the build-time
generators and has every third-party package its modules import, and rules read no clock or environment.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "layers" / "identity_auditor" / "identity_auditor"
FUNCTIONS = ROOT / "functions"
NOT_IN_LAYER = ("cli", "deploy")  # removed from the layer by layers/identity_auditor/Makefile
LAMBDA_RUNTIME = {"boto3", "botocore"}  # the python3.13 runtime provides them


def _imports(path: Path) -> set[str]:
    """Every module a file imports, at any depth (inside functions too)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def test_import_contracts_hold():
    """`lint-imports` with the contracts in pyproject.toml: layers, pure rules, no cycles."""
    command = Path(sys.executable).parent / "lint-imports"
    run = subprocess.run([str(command), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, f"an import breaks the architecture:\n{run.stdout}{run.stderr}"
    assert "0 broken" in run.stdout


@pytest.mark.parametrize("handler", sorted(FUNCTIONS.glob("*/*.py")), ids=lambda p: p.parent.name)
def test_handlers_import_nothing_the_layer_leaves_out(handler):
    assert handler.stem == handler.parent.name, "a handler module is named after its function"
    shipped_without = {f"identity_auditor.{name}" for name in NOT_IN_LAYER}
    bad = sorted(m for m in _imports(handler) if any(m == s or m.startswith(s + ".") for s in shipped_without))
    assert not bad, f"{handler.name} imports {bad}, which the Lambda layer does not ship"


def test_the_layer_installs_every_package_its_modules_import():
    requirements = (ROOT / "layers" / "identity_auditor" / "requirements.txt").read_text()
    installed = {re.split(r"[\[=<>~ ]", line.strip(), maxsplit=1)[0].lower().replace("-", "_")
                 for line in requirements.splitlines() if line.strip() and not line.startswith("#")}
    # import names of what the requirements install (and pydantic_core, which pydantic brings)
    names = {*installed, "yaml" if "pyyaml" in installed else "", "pydantic_core" if "pydantic" in installed else ""}
    stdlib = set(sys.stdlib_module_names)
    missing = {}
    for path in PACKAGE.rglob("*.py"):
        if path.relative_to(PACKAGE).parts[0] in NOT_IN_LAYER:
            continue
        for module in _imports(path):
            top = module.split(".")[0]
            if top in stdlib or top == "identity_auditor" or top in LAMBDA_RUNTIME or top in names:
                continue
            missing.setdefault(top, []).append(str(path.relative_to(PACKAGE)))
    assert not missing, f"imported in the layer but not in layers/identity_auditor/requirements.txt: {missing}"


def test_the_layer_build_leaves_out_the_cli_and_the_generators():
    makefile = (ROOT / "layers" / "identity_auditor" / "Makefile").read_text()
    for name in NOT_IN_LAYER:
        assert f'"$(ARTIFACTS_DIR)/python/identity_auditor/{name}"' in makefile


CLOCK_OR_ENVIRONMENT = re.compile(r"\b(datetime\.now|datetime\.utcnow|date\.today|time\.time|os\.environ|getenv)\b")


@pytest.mark.parametrize("rule", sorted((PACKAGE / "rules").rglob("*.py")), ids=lambda p: p.stem)
def test_rules_read_no_clock_and_no_environment(rule):
    """``ctx.now`` is the only time a rule knows, and the policy its only setting."""
    code = "\n".join(line for line in rule.read_text().splitlines() if not line.lstrip().startswith("#"))
    assert not CLOCK_OR_ENVIRONMENT.findall(code), f"{rule.name} reads the clock or the environment"
