"""The streaming finding writers of :mod:`identity_auditor.cli.output`: each format written one finding at a
time gives exactly what the whole list gave, ASFF stays one valid JSON array, and a streaming writer keeps
nothing once a finding is written."""

from __future__ import annotations

import io
import json
from datetime import datetime, timezone

import pytest
from asff_validator import assert_valid_batch
from identity_auditor.cli.output import WRITERS, open_writer, write_findings
from identity_auditor.cli.table import render_table
from identity_auditor.engine.registry import REGISTRY
from identity_auditor.model.policy import DEFAULT_POLICY
from support import corpus_records


def corpus_findings():
    from identity_auditor.archive.reader import Replayer

    replayer = Replayer(policy=DEFAULT_POLICY, now=datetime(2024, 1, 1, tzinfo=timezone.utc))
    findings = replayer.read("corpus", json.dumps({"Records": corpus_records()}).encode()).findings
    assert len(findings) > 5
    return findings


@pytest.fixture(scope="module")
def findings():
    return corpus_findings()


def test_asff_streamed_is_the_json_array_of_every_document(findings):
    from identity_auditor.sinks.asff import default_product_arn, to_asff

    out = io.StringIO()
    sink = open_writer("asff", out)
    for finding in findings:
        sink.write(finding)
    sink.close()
    documents = json.loads(out.getvalue())
    assert_valid_batch(documents)
    expected = [to_asff(f, updated_at=sink.now, product_arn=default_product_arn(f.partition, f.region, f.account_id))
                for f in findings]
    # byte for byte what json.dump(list, indent=2) wrote before the writers streamed
    assert out.getvalue() == json.dumps(expected, indent=2) + "\n"


def test_asff_with_nothing_is_an_empty_array():
    out = io.StringIO()
    open_writer("asff", out).close()
    assert json.loads(out.getvalue()) == []


def test_jsonl_is_written_as_found_and_keeps_nothing(findings):
    out = io.StringIO()
    sink = open_writer("jsonl", out)
    sink.write(findings[0])
    assert json.loads(out.getvalue())["finding_id"] == findings[0].finding_id  # before close
    for finding in findings[1:]:
        sink.write(finding)
    sink.close()
    assert [json.loads(line)["finding_id"] for line in out.getvalue().splitlines()] == [
        f.finding_id for f in findings]
    assert not any(isinstance(value, list) for value in vars(sink).values())


def test_table_is_sorted_when_closed(findings):
    expected = io.StringIO()
    render_table(findings, expected)
    out = io.StringIO()
    write_findings("table", reversed(findings[::-1]), out)
    assert out.getvalue() == expected.getvalue()


def test_unknown_format_is_named():
    with pytest.raises(ValueError, match="unknown output format 'xml'"):
        open_writer("xml", io.StringIO())


def test_every_format_has_a_writer():
    assert {"table", "jsonl", "asff"} <= set(WRITERS)
    assert REGISTRY  # the findings above came from the one registry


def test_a_summary_is_what_asdict_gave(findings):
    """``Finding.summary`` copies one level instead of dataclasses.asdict's deep recursion: the same JSON."""
    from dataclasses import asdict

    for finding in findings:
        expected = asdict(finding)
        expected.update(severity=finding.severity.value, actor=finding.actor.arn or finding.actor.name,
                        event_time=finding.event_time.isoformat() if finding.event_time else None,
                        actor_detail=asdict(finding.actor), compliance=list(finding.compliance),
                        finding_types=list(finding.finding_types), suppression=None)
        assert json.dumps(finding.summary(), default=str) == json.dumps(expected, default=str)
