"""No behaviour change: the findings on every sample in ``events/`` and on the vendored real corpus
(``tests/corpus``) are exactly those recorded in ``tests/golden/``: every ASFF field of every finding, in
order, and the run's summary line. Only ``UpdatedAt`` (the time of the run) is left out.

A change that alters findings on purpose (a new rule, a better description) regenerates the record:

    .venv/bin/python tests/contract/test_golden_findings.py --update

and the diff of ``tests/golden/`` is then reviewed like code.
"""

from __future__ import annotations

import contextlib
import io
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests" / "golden"
INPUTS = {"events": ["events/cloudtrail"], "corpus": ["tests/corpus"]}
VOLATILE = ("UpdatedAt",)  # the moment of the run; everything else is derived from the records


def run(paths: list[str]) -> tuple[list[dict], str]:
    """``identity-auditor evaluate PATHS --format asff`` in this process: the findings and the summary."""
    from identity_auditor.cli.main import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.chdir(ROOT), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["evaluate", *paths, "--format", "asff", "--jobs", "1"])
    findings = json.loads(out.getvalue())
    for finding in findings:
        for key in VOLATILE:
            finding.pop(key, None)
    summary = [line for line in err.getvalue().splitlines() if " findings (" in line or line.startswith("no findings")]
    return findings, f"exit {code}: {summary[-1] if summary else ''}"


@pytest.mark.parametrize("name", sorted(INPUTS))
def test_findings_are_unchanged(name):
    findings, summary = run(INPUTS[name])
    expected = json.loads((GOLDEN / f"{name}.json").read_text())
    assert summary == expected["summary"]
    assert [f["Id"] for f in findings] == [f["Id"] for f in expected["findings"]]
    for got, want in zip(findings, expected["findings"]):
        assert got == want, f"finding {want['Id']} changed"


if __name__ == "__main__":
    if sys.argv[1:] != ["--update"]:
        sys.exit("usage: test_golden_findings.py --update   (rewrites tests/golden/ from the current code)")
    GOLDEN.mkdir(exist_ok=True)
    for name, paths in INPUTS.items():
        findings, summary = run(paths)
        (GOLDEN / f"{name}.json").write_text(json.dumps({"summary": summary, "findings": findings}, indent=1,
                                                        sort_keys=True) + "\n")
        print(f"{name}: {len(findings)} findings, {summary}")
