"""The backfill's cost formula (identity_auditor.archive.cost) and the settings scripts/bench_cost.py reads from the
template: issue 18 item 7's target of $0.10 per million records, for busy (1,000-record) and quiet (50-record) log
files."""

from __future__ import annotations

import importlib.util

import pytest
from identity_auditor.archive.cost import Backfill, backfill_cost
from support import ROOT


def bench_cost():
    spec = importlib.util.spec_from_file_location("bench_cost", ROOT / "scripts" / "bench_cost.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_formula_counts_transitions_invocations_and_requests():
    settings = Backfill(files_per_batch=50, memory_mb=256, child_states=1, parent_states=2, s3_wait_seconds=0.03,
                        log_bytes_per_invocation=2000)
    cost = backfill_cost(settings, files=20_000, records_per_file=50, cpu_seconds_per_file=0.0005)
    assert (cost.batches, cost.transitions, cost.s3_gets, cost.s3_lists) == (400, 400 * 2 + 3, 20_000, 20)
    assert cost.dollars["stepFunctions"] == pytest.approx(803 * 0.025 / 1000)
    seconds = 20_000 * (0.03 + 0.0005 / (256 / 1769))
    assert cost.lambda_seconds == pytest.approx(seconds)
    assert cost.dollars["lambda"] == pytest.approx(400 * 0.2e-6 + seconds * 0.25 * 0.0000133334)
    assert cost.dollars["s3"] == pytest.approx(20_000 * 0.0004e-3 + 20 * 0.005e-3 + 2 * 0.005e-3)
    assert cost.dollars["logs"] == pytest.approx(400 * 2000 / 1e9 * 0.5)
    # the progress records: a strongly consistent read per file (on demand, us-east-1; writes only on retries)
    assert cost.dollars["dynamodb"] == pytest.approx(20_000 * 0.125 / 1e6)
    assert cost.records == 1_000_000 and cost.per_million_records() == pytest.approx(cost.total)


def test_the_template_batches_files_and_the_cost_is_within_the_target():
    """From the template's actual settings: $0.97 per million 53-record files with a child execution per file
    (issue 18), within $0.10 for 50- and 1,000-record files with the map's batches."""
    settings, timeout = bench_cost().template_settings()
    assert settings.files_per_batch > 1 and (settings.child_states, settings.parent_states) == (1, 2)
    assert timeout == 300 and settings.memory_mb == 256
    for records_per_file, cpu in ((50, 0.002), (1000, 0.035)):  # README's earlier measure: 34 us per record
        files = 1_000_000 // records_per_file
        cost = backfill_cost(settings, files=files, records_per_file=records_per_file, cpu_seconds_per_file=cpu)
        assert cost.per_million_records() <= 0.10, records_per_file
        one_per_child = backfill_cost(Backfill(**{**settings.__dict__, "files_per_batch": 1}), files=files,
                                      records_per_file=records_per_file, cpu_seconds_per_file=cpu)
        assert one_per_child.per_million_records() > 5 * cost.per_million_records()
        # a batch of such files finishes well within the function's timeout (files left are retried anyway)
        assert settings.files_per_batch * (settings.s3_wait_seconds + cpu / (256 / 1769)) < timeout / 4


def test_the_reconciliation_cost_uses_the_maps_batches_and_the_functions_memory():
    from identity_auditor.archive import reconcile

    settings, _ = bench_cost().template_settings()
    assert (reconcile.FILES_PER_BATCH, reconcile.MEMORY_MB) == (settings.files_per_batch, settings.memory_mb)
