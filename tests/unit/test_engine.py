"""The engine runs every matching rule, isolates a failing rule, and fills findings per spec §D."""

from __future__ import annotations

import logging
from datetime import datetime, timezone

from identity_auditor.engine.events import Engine
from identity_auditor.engine.registry import REGISTRY, Registry, Rule
from identity_auditor.model.cloudtrail import CloudTrailRecord
from identity_auditor.model.contract import Context, RuleMeta, Severity, Trigger, Violation
from identity_auditor.model.findings import finding_id
from support import corpus_record

NOW = Context(now=datetime(2026, 11, 22, tzinfo=timezone.utc))
KEY_FOR_OTHER = CloudTrailRecord.model_validate(
    corpus_record("invictus", "CreateAccessKey", eventID="64b7de64-bf53-47ae-b7e3-d30cb1b5136e")
)


def _meta(rule_id: str) -> RuleMeta:
    base = REGISTRY.get("iam_access_key_created").meta
    return RuleMeta(**{**base.__dict__, "id": rule_id, "trigger": Trigger("iam.amazonaws.com", ("CreateAccessKey",))})


def _broken(record, ctx):
    raise KeyError("boom")


def test_failing_rule_is_logged_counted_and_does_not_stop_the_others(caplog):
    engine = Engine(Registry([Rule(_meta("test_broken_rule"), _broken), REGISTRY.get("iam_access_key_created")]))
    with caplog.at_level(logging.ERROR, logger="identity_auditor.engine.events"):
        result = engine.evaluate(KEY_FOR_OTHER, NOW)
    assert [f.rule_id for f in result.findings] == ["iam_access_key_created"]
    assert [(f.rule_id, f.subject) for f in result.failures] == [("test_broken_rule", KEY_FOR_OTHER.event_id)]
    assert "KeyError" in result.failures[0].error
    logged = [r for r in caplog.records if getattr(r, "rule_id", None) == "test_broken_rule"]
    assert logged and logged[0].event_id == KEY_FOR_OTHER.event_id and logged[0].exc_info


def _exits(record, ctx):
    raise SystemExit(0)


def test_a_rule_that_exits_is_a_failure_not_the_end_of_the_evaluation():
    """Review of issue 17: a (custom) rule calling sys.exit() ended the evaluation, silently dropping every other
    rule's findings (the CLI printed nothing and exited 0)."""
    engine = Engine(Registry([Rule(_meta("test_exiting_rule"), _exits), REGISTRY.get("iam_access_key_created")]))
    result = engine.evaluate(KEY_FOR_OTHER, NOW)
    assert [f.rule_id for f in result.findings] == ["iam_access_key_created"]
    assert [(f.rule_id, f.error) for f in result.failures] == [("test_exiting_rule", "SystemExit: 0")]


def test_every_matching_rule_runs():
    second = Rule(_meta("test_second_rule"), lambda record, ctx: Violation("second", "res"))
    engine = Engine(Registry([REGISTRY.get("iam_access_key_created"), second]))
    result = engine.evaluate(KEY_FOR_OTHER, NOW)
    assert result.rules_run == 2
    assert sorted(f.rule_id for f in result.findings) == ["iam_access_key_created", "test_second_rule"]


def test_unwatched_events_run_no_rule():
    record = CloudTrailRecord.model_validate(corpus_record("invictus", "GetUser"))
    result = Engine().evaluate(record, NOW)
    assert result.rules_run == 0 and not result.findings


def test_finding_carries_what_spec_d_requires():
    (finding,) = Engine().evaluate(KEY_FOR_OTHER, NOW).findings
    assert finding.rule_id == "iam_access_key_created" and finding.title
    assert finding.severity is Severity.HIGH
    assert (finding.account_id, finding.region) == ("123837392027", "us-east-1")
    assert finding.event_time == datetime(2023, 7, 10, 12, 24, 29, tzinfo=timezone.utc)
    assert finding.event_id == "64b7de64-bf53-47ae-b7e3-d30cb1b5136e"
    assert finding.actor.arn == "arn:aws:iam::123837392027:user/bert-jan"
    assert finding.actor.name == "bert-jan"
    assert finding.actor.source_ip == "192.168.10.20"
    assert finding.actor.user_agent.startswith("stratus-red-team_")
    assert (finding.resource_type, finding.resource_id) == ("AwsIamAccessKey", "AKIATFQR7NSC3ZO6PKAZ")
    assert finding.remediation and finding.remediation_url.startswith("https://")
    assert finding.compliance == ("CIS5 1.10", "CIS3 1.11")
    assert finding.finding_id == finding_id("iam_access_key_created", "123837392027", "us-east-1",
                                            "AKIATFQR7NSC3ZO6PKAZ", finding.event_id)
    assert finding.finding_id.startswith("iam_access_key_created/123837392027/us-east-1/")
    assert finding.finding_id.endswith("/64b7de64-bf53-47ae-b7e3-d30cb1b5136e")


def test_record_without_event_id_gets_a_stable_hash_id():
    raw = corpus_record("invictus", "CreateAccessKey", eventID="64b7de64-bf53-47ae-b7e3-d30cb1b5136e")
    del raw["eventID"]
    record = CloudTrailRecord.model_validate(raw)
    first = Engine().evaluate(record, NOW).findings[0].finding_id
    again = Engine().evaluate(CloudTrailRecord.model_validate(raw), NOW).findings[0].finding_id
    assert first == again and "/record-" in first


def test_envelope_account_and_region_fill_what_the_record_lacks():
    raw = corpus_record("invictus", "CreateAccessKey", eventID="64b7de64-bf53-47ae-b7e3-d30cb1b5136e")
    del raw["recipientAccountId"], raw["awsRegion"]
    finding = Engine().evaluate(CloudTrailRecord.model_validate(raw), NOW, account="210987654321",
                                region="eu-west-1").findings[0]
    assert (finding.account_id, finding.region) == ("210987654321", "eu-west-1")


def test_the_cloudtrail_event_model_has_every_eventbridge_field_in_order():
    """CloudTrailEvent declares Powertools' EventBridgeModel fields itself (issue 18: importing the parser's
    models cost evaluate ~80 ms of start-up): the same names, aliases and order, and the same verdicts."""
    import pytest
    from aws_lambda_powertools.utilities.parser.models import EventBridgeModel
    from identity_auditor.model.cloudtrail import CloudTrailEvent
    from pydantic import ValidationError

    ours = [(name, field.alias) for name, field in CloudTrailEvent.model_fields.items()]
    theirs = [(name, field.alias) for name, field in EventBridgeModel.model_fields.items()]
    assert ours == theirs
    assert CloudTrailEvent.model_config.get("populate_by_name") is True
    scheduler = {"version": "0", "id": "x", "source": "aws.scheduler", "account": "1", "time": "2023-07-10T00:00:00Z",
                 "region": "us-east-1", "resources": [], "detail-type": "Scheduled Event", "detail": "{}"}
    assert EventBridgeModel.model_validate(scheduler).detail == {}
    with pytest.raises(ValidationError):  # {} is no CloudTrail record, but it got past the string rule as theirs
        CloudTrailEvent.model_validate(scheduler)


def test_a_record_without_event_id_and_a_lone_surrogate_still_gets_its_finding():
    """Found by the full-size hostile suite: a record with no eventID is identified by a hash of its fields, and
    pydantic's JSON dump of a lone surrogate ("\\ud800", which JSON's escape allows) raised UnicodeEncodeError, so
    the rule's finding was lost as a rule failure."""
    raw = corpus_record("invictus", "CreateAccessKey", eventID="64b7de64-bf53-47ae-b7e3-d30cb1b5136e")
    raw = {key: value for key, value in raw.items() if key != "eventID"}
    raw["additionalEventData"] = {"ARN": {"\ud800": None}}
    result = Engine().evaluate(CloudTrailRecord.model_validate(raw), NOW)
    assert result.failures == []
    assert [f.rule_id for f in result.findings] == ["iam_access_key_created"]
    again = Engine().evaluate(CloudTrailRecord.model_validate(raw), NOW)
    assert again.findings[0].finding_id == result.findings[0].finding_id  # the stand-in id is stable
