"""The hostile-input suite (issue 8 part 3): its size, its case counter and the handler fixtures.

Size: ``pytest`` runs a deterministic subset (about 2,000 cases, for ``make test``); ``pytest --full``
runs the full size (over 10,000). Every case is counted with ``hostile_cases.count``; the terminal
summary (tests/conftest.py, which also gathers the counts from pytest-xdist's workers) prints the totals
per suite, so a run says how many cases it checked::

    hostile input: 2,346 cases (cli 189, cloudtrail handler 1,225, config handler 356, output 576) [default size; ...]
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import hostile_cases  # noqa: E402, F401 (the case counter, printed by tests/conftest.py's terminal summary)


@pytest.fixture(scope="session")
def sized(full_size):
    """``sized(default, full)``: the number of cases of a test at this run's size."""
    return lambda default, full: full if full_size else default

