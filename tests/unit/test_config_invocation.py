"""Parsing AWS Config rule invocations: the real published shapes (corpus: AWS docs, Powertools, SAM
CLI) and our samples in events/config; the rule from ruleParameters.ruleId; rule parameter overrides."""

from __future__ import annotations

import copy
import json
import logging
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

import pytest
from identity_auditor.config_rule.invocation import (
    CHANGE,
    OVERSIZED,
    SCHEDULED,
    ConfigEventError,
    apply_parameters,
    parse_invocation,
    parse_time,
    select_rule,
)
from identity_auditor.engine.registry import Registry, Rule
from identity_auditor.model.contract import Compliance, Context, RuleMeta, Severity, StateResult, StateTrigger
from identity_auditor.model.policy import OrgPolicy
from support import CORPUS, ROOT

CONFIG_CORPUS = sorted([*(CORPUS / "config-events").rglob("*.json"), *(CORPUS / "aws-docs" / "config").glob("e*.json")])
SAMPLES = sorted((ROOT / "events" / "config").glob("*.json"))


def load(path: Path) -> dict:
    return json.loads(path.read_text())


def corpus(name: str) -> dict:
    return load(next(path for path in CONFIG_CORPUS if path.name == name))


def rule(rule_id: str, parameters: tuple[str, ...] = ()) -> Rule:
    meta = RuleMeta(id=rule_id, title=rule_id, severity=Severity.LOW, trigger=None, resource_type="AwsIamUser",
                    finding_types=("Software and Configuration Checks/AWS Security Best Practices",), why="w",
                    remediation="r", remediation_url="https://docs.aws.amazon.com/",
                    state=StateTrigger("AWS::IAM::User"), parameters=parameters)
    return Rule(meta, None, lambda subject, ctx: StateResult(Compliance.COMPLIANT, "fine"))


KEYS = rule("iam_access_key_not_rotated", ("access_key_max_age_days",))
REGISTRY = Registry([KEYS, rule("iam_credentials_unused", ("credentials_unused_days",)),
                     Rule(replace(KEYS.meta, id="event_only", state=None), lambda record, ctx: None)])


def test_the_corpus_holds_every_message_type():
    assert len(CONFIG_CORPUS) >= 9


@pytest.mark.parametrize("path", [p for p in CONFIG_CORPUS if "Nxotification" not in p.read_text()],
                         ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_real_invocation_parses(path):
    event = load(path)
    invocation = parse_invocation(event)
    invoking = json.loads(event["invokingEvent"])
    assert invocation.message_type == invoking["messageType"]
    assert invocation.result_token == event["resultToken"]
    assert invocation.event_left_scope is False
    assert invocation.rule_parameters == json.loads(event["ruleParameters"])
    assert invocation.account_id == event["accountId"]
    assert invocation.region == event["configRuleArn"].split(":")[3] and invocation.partition == "aws"
    assert not invocation.test_mode
    if invocation.message_type == SCHEDULED:
        assert invocation.item is None and invocation.notification_time is not None
    else:
        assert invocation.item["resourceId"] and invocation.item["resourceType"] == "AWS::EC2::Instance"
        assert ("configuration" in invocation.item) == (invocation.message_type == CHANGE)


def test_a_misspelt_message_type_in_the_powertools_example_is_a_clear_error():
    event = corpus("examples_event_sources_src_aws_config_rule_scheduled.json")
    with pytest.raises(ConfigEventError, match="'ScheduledNxotification' is not one of"):
        parse_invocation(event)


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.name)
def test_every_sample_parses_and_names_a_rule(path):
    event = load(path)
    invocation = parse_invocation(event)
    assert isinstance(event["invokingEvent"], str) and isinstance(event["ruleParameters"], str)
    assert invocation.test_mode  # usable with `sam local invoke` against a real account
    assert invocation.rule_parameters["ruleId"]
    assert set(event) >= set(corpus("evaluate-config_develop-rules_example-events__03.json"))  # the real keys


def test_oversized_and_left_scope_samples():
    oversized = parse_invocation(load(ROOT / "events/config/iam_role_trust_policy_unsafe_oversized__constructed.json"))
    assert oversized.message_type == OVERSIZED and oversized.item["resourceType"] == "AWS::IAM::Role"
    left = parse_invocation(load(ROOT / "events/config/iam_user_console_access_without_mfa_left_scope__constructed.json"))
    assert left.event_left_scope is True


def test_objects_instead_of_json_strings_are_accepted():
    event = corpus("PeriodicRule.rendered.json")
    event["invokingEvent"] = json.loads(event["invokingEvent"])
    event["ruleParameters"] = {"ruleId": "iam_access_key_not_rotated"}
    assert parse_invocation(event).rule_parameters == {"ruleId": "iam_access_key_not_rotated"}


@pytest.mark.parametrize("change, message", [
    ({"invokingEvent": None}, "no invokingEvent"),
    ({"invokingEvent": "{not json"}, "invokingEvent is not valid JSON"),
    ({"invokingEvent": "[1, 2]"}, "invokingEvent is not a JSON object"),
    ({"ruleParameters": "\"x\""}, "ruleParameters is not a JSON object"),
    ({"resultToken": ""}, "no resultToken"),
    ({"eventLeftScope": "maybe"}, "eventLeftScope 'maybe' is not true or false"),
    ({"invokingEvent": json.dumps({"messageType": CHANGE})}, "needs invokingEvent.configurationItem"),
    ({"invokingEvent": json.dumps({"messageType": OVERSIZED, "configurationItemSummary": {"resourceId": "x"}})},
     "configurationItemSummary with resourceType"),
])
def test_unusable_invocations_fail_with_a_clear_message(change, message):
    event = {**corpus("ConfigurationItemChangeNotification.rendered.json"), **change}
    with pytest.raises(ConfigEventError, match=message):
        parse_invocation(event)
    with pytest.raises(ConfigEventError, match="JSON object"):
        parse_invocation([event])


def test_missing_rule_parameters_and_string_booleans():
    event = corpus("PeriodicRule.rendered.json")
    del event["ruleParameters"]
    event["eventLeftScope"] = "True"
    invocation = parse_invocation(event)
    assert invocation.rule_parameters == {} and invocation.event_left_scope is True


def test_times_in_every_published_format():
    assert parse_time("1970-01-01T00:00:00.0Z") == datetime(1970, 1, 1, tzinfo=timezone.utc)  # SAM CLI
    assert parse_time("2016-02-17T01:36:34.043Z").microsecond == 43000
    assert parse_time(datetime(2026, 1, 1)).tzinfo is timezone.utc  # boto3 answers
    assert parse_time(None) is None and parse_time("soon") is None


def with_parameters(parameters: dict, name: str = "PeriodicRule.rendered.json"):
    event = corpus(name)
    event["ruleParameters"] = json.dumps(parameters)
    return parse_invocation(event)


def test_the_rule_comes_from_rule_parameters():
    assert select_rule(with_parameters({"ruleId": "iam_access_key_not_rotated"}), REGISTRY) is KEYS
    assert select_rule(with_parameters({"ruleId": " iam_access_key_not_rotated "}), REGISTRY) is KEYS


@pytest.mark.parametrize("parameters, message", [
    ({}, r"ruleParameters has no ruleId; set its input parameters to \{\"ruleId\": \"<one of iam_access_key"),
    ({"ruleId": "nope"}, "'nope' is not a state rule; expected one of iam_access_key_not_rotated, iam_cred"),
    ({"ruleId": "event_only"}, "'event_only' is not a state rule"),
    ({"ruleId": 7}, "has no ruleId"),
])
def test_an_unknown_or_missing_rule_is_a_clear_error(parameters, message):
    with pytest.raises(ConfigEventError, match=message):
        select_rule(with_parameters(parameters), REGISTRY)


CTX = Context(now=datetime(2026, 6, 1, tzinfo=timezone.utc), policy=OrgPolicy(access_key_max_age_days=90))


@pytest.mark.parametrize("raw, expected", [("30", 30), (" 120 ", 120), (60, 60), ("3650", 3650)])
def test_valid_overrides_replace_the_policy(raw, expected):
    ctx, note = apply_parameters(CTX, {"ruleId": "x", "access_key_max_age_days": raw}, KEYS)
    assert ctx.policy.access_key_max_age_days == expected and note == ""
    assert ctx.policy.credentials_unused_days == 45 and CTX.policy.access_key_max_age_days == 90  # frozen original


@pytest.mark.parametrize("raw", ["ninety", "", "0", "-5", 90.5, True, None, "3651", [90]])
def test_invalid_overrides_keep_the_default_and_say_so(raw, caplog):
    with caplog.at_level(logging.WARNING, logger="identity_auditor.config_rule.invocation"):
        ctx, note = apply_parameters(CTX, {"access_key_max_age_days": raw}, KEYS)
    assert ctx.policy.access_key_max_age_days == 90
    assert note.startswith("(ruleParameters: access_key_max_age_days=") and note.endswith("invalid, used 90)")
    assert "access_key_max_age_days" in caplog.text and "using 90" in caplog.text


def test_unknown_parameters_are_logged_and_ignored(caplog):
    parameters = {"desiredInstanceType": "t2.micro", "credentials_unused_days": "30"}
    with caplog.at_level(logging.WARNING, logger="identity_auditor.config_rule.invocation"):
        ctx, note = apply_parameters(CTX, copy.deepcopy(parameters), KEYS)
    assert note == "" and ctx.policy.credentials_unused_days == 30
    assert "desiredInstanceType" in caplog.text
