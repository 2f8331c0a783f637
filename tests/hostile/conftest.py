"""The hostile-input suite (issue 8 part 3): its size, its case counter and the handler fixtures.

Size: ``pytest`` runs a deterministic subset (about 2,000 cases, for ``make test``); ``pytest --full``
runs the full size (over 10,000). Every case is counted with ``hostile_cases.count``; the terminal
summary prints the totals per suite, so a run says how many cases it checked::

    hostile input: 2,346 cases (cli 189, cloudtrail handler 1,225, config handler 356, output 576) [default size; ...]
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from hostile_cases import CASES  # noqa: E402


def pytest_terminal_summary(terminalreporter) -> None:
    if not CASES:
        return
    parts = ", ".join(f"{suite} {cases:,}" for suite, cases in sorted(CASES.items()))
    full = terminalreporter.config.getoption("full", default=False)
    size = "full size" if full else "default size; --full for the full size"
    terminalreporter.write_line(f"hostile input: {sum(CASES.values()):,} cases ({parts}) [{size}]")


@pytest.fixture(scope="session")
def sized(full_size):
    """``sized(default, full)``: the number of cases of a test at this run's size."""
    return lambda default, full: full if full_size else default

