"""events/manifest.json is the contract between the samples in events/cloudtrail/ and the rules.

Every sample runs through the handler-independent path (parse the envelope, evaluate the record) and
must produce exactly the findings its manifest entry names, no more: an unexpected firing by any rule
fails here. Every finding produced must be valid ASFF.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest
from asff_validator import assert_valid_asff, assert_valid_batch
from identity_auditor.engine.events import Engine, Evaluation
from identity_auditor.model.cloudtrail import CloudTrailEvent
from identity_auditor.model.contract import Context
from identity_auditor.sinks.asff import to_asff
from support import MANIFEST, load_sample, sample_names

NOW = datetime(2025, 3, 5, 12, 0, tzinfo=timezone.utc)
PRODUCT_ARN = "arn:aws:securityhub:us-east-1:123456789012:product/123456789012/default"
MANIFEST_DATA: dict[str, dict[str, str]] = json.loads(MANIFEST.read_text())
SAMPLES = sample_names()


def evaluate(name: str) -> tuple[CloudTrailEvent, Evaluation]:
    event = CloudTrailEvent.model_validate(load_sample(name))
    result = Engine().evaluate(event.detail, Context(now=NOW), account=event.account, region=event.region)
    return event, result


def test_every_sample_is_in_the_manifest_and_vice_versa():
    assert SAMPLES, "no samples in events/cloudtrail/"
    assert sorted(MANIFEST_DATA) == SAMPLES


def test_manifest_is_sorted_by_file_name():
    assert list(MANIFEST_DATA) == sorted(MANIFEST_DATA)


@pytest.mark.parametrize("name", SAMPLES)
def test_sample_produces_exactly_the_manifest_findings(name):
    _, result = evaluate(name)
    assert result.failures == []
    produced = {finding.rule_id: finding.severity.value for finding in result.findings}
    assert len(produced) == len(result.findings), "a rule produced more than one finding for one record"
    assert produced == MANIFEST_DATA[name]


@pytest.mark.parametrize("name", [name for name in SAMPLES if MANIFEST_DATA.get(name)])
def test_findings_are_valid_asff_with_deterministic_ids(name):
    event, first = evaluate(name)
    _, second = evaluate(name)
    assert [f.finding_id for f in first.findings] == [f.finding_id for f in second.findings]
    for finding in first.findings:
        assert event.detail.event_id and event.detail.event_id in finding.finding_id
        assert_valid_asff(to_asff(finding, product_arn=PRODUCT_ARN, updated_at=NOW))


def test_all_findings_together_are_valid_batches():
    batch = [
        to_asff(finding, product_arn=PRODUCT_ARN, updated_at=NOW)
        for name in SAMPLES
        for finding in evaluate(name)[1].findings
    ]
    assert len(batch) == sum(len(expected) for expected in MANIFEST_DATA.values())
    assert len({finding["Id"] for finding in batch}) == len(batch), "two samples share a finding Id"
    for start in range(0, len(batch), 100):  # as the publisher imports them: at most 100 a call
        assert_valid_batch(batch[start:start + 100])


# That every rule with CloudTrail triggers has a firing and a quiet sample here: tests/contract/test_registry.py.
