"""The EventBridge patterns deployed by template.yaml admit exactly the events the rules want.

Matching uses moto's implementation of EventBridge pattern matching (``moto.events.models.EventPattern``;
moto's ``test_event_pattern`` API is a stub, design §3).
"""

from __future__ import annotations

import copy
import json

import pytest
from identity_auditor.archive.inputs import as_eventbridge
from identity_auditor.engine.registry import REGISTRY
from identity_auditor.model.cloudtrail import API_CALL, CONSOLE_SIGN_IN, SERVICE_EVENT
from moto.events.models import EventPattern
from support import MANIFEST, corpus_records, evaluator_rules, load_sample, sample_names


def template_patterns() -> list[EventPattern]:
    patterns = [rule["Properties"]["EventPattern"] for rule in evaluator_rules().values()]
    assert patterns, "template.yaml has no EventBridge patterns"
    return [EventPattern.load(json.dumps(pattern)) for pattern in patterns]


PATTERNS = template_patterns()
MANIFEST_DATA: dict[str, dict[str, str]] = json.loads(MANIFEST.read_text())


def matched(event: dict) -> bool:
    return any(pattern.matches_event(event) for pattern in PATTERNS)


def wanted(event: dict) -> bool:
    detail = event["detail"]
    return REGISTRY.wants(detail["eventSource"], detail["eventName"], (detail.get("userIdentity") or {}).get("type"))


@pytest.mark.parametrize("name", [name for name in sample_names() if MANIFEST_DATA.get(name)])
def test_samples_with_findings_reach_the_function(name):
    assert matched(load_sample(name))


@pytest.mark.parametrize("name", sample_names())
def test_samples_are_matched_iff_a_rule_wants_them(name):
    event = load_sample(name)
    assert matched(event) == wanted(event)


def test_samples_no_rule_listens_to_are_not_matched():
    unwanted = [name for name in sample_names() if not wanted(load_sample(name))]
    assert {"ec2_start_instances.json"} <= set(unwanted)
    assert not [name for name in unwanted if matched(load_sample(name))]


def test_real_corpus_records_are_matched_iff_a_rule_wants_them():
    records = corpus_records("invictus")
    assert len(records) > 1000
    wrong = [
        f"{record['eventSource']} {record['eventName']} {record.get('eventID')}: matched={matched(event)}"
        for record in records
        for event in [as_eventbridge(record)]
        if matched(event) != wanted(event)
    ]
    assert not wrong, "\n".join(wrong[:20])
    assert any(wanted(as_eventbridge(record)) for record in records), "the corpus exercises no pattern"


def _changed(name: str, detail_type: str | None = None, **detail) -> dict:
    event = copy.deepcopy(load_sample(name))
    if detail_type is not None:
        event["detail-type"] = detail_type
    event["detail"].update(detail)
    return event


@pytest.mark.parametrize(
    "event",
    [
        _changed("iam_create_access_key_for_other_user.json", SERVICE_EVENT),
        _changed("iam_create_access_key_for_other_user.json", CONSOLE_SIGN_IN),
        _changed("signin_console_login_iam_user_without_mfa.json", API_CALL),
        _changed("iam_create_access_key_for_other_user.json", eventSource="sts.amazonaws.com"),
        _changed("signin_console_login_iam_user_without_mfa.json", eventSource="iam.amazonaws.com"),
        _changed("iam_create_access_key_for_other_user.json", eventName="createaccesskey"),
        _changed("iam_attach_role_policy_ordinary_role.json", eventName="ListAttachedRolePolicies"),
    ],
    ids=[
        "api-call-as-service-event",
        "api-call-as-console-sign-in",
        "console-login-as-api-call",
        "create-access-key-from-sts",
        "console-login-from-iam",
        "event-name-wrong-case",
        "unwanted-iam-event-name",
    ],
)
def test_near_misses_are_not_matched(event):
    assert not matched(event)


@pytest.mark.parametrize("name", [name for name in sample_names() if MANIFEST_DATA.get(name)])
def test_a_forged_event_with_a_custom_source_reaches_no_rule(name):
    """PutEvents refuses aws.* sources to everyone but AWS; a copy of a real event under any other source
    (what a principal allowed on the organisation's central bus could send) must match nothing."""
    forged = load_sample(name)
    assert matched(forged)
    for source in ("custom.iam", "iam", "aws", "awsx.iam", "AWS.iam"):
        assert not matched({**forged, "source": source}), source


def test_every_template_rule_admits_only_aws_sources():
    from support import ROOT, load_template

    for path in (ROOT / "template.yaml", ROOT / "forwarder.yaml"):
        rules = {name: resource for name, resource in load_template(path)["Resources"].items()
                 if resource["Type"] == "AWS::Events::Rule"}
        assert rules
        for name, rule in rules.items():
            if "EventPattern" not in rule["Properties"]:  # schedules: the heartbeat's, the trail reconciliation's
                assert name in {"HeartbeatRule", "ReconcileTrailSchedule"} and rule["Properties"].get(
                    "ScheduleExpression"), f"{path.name}: {name}"
                continue
            assert rule["Properties"]["EventPattern"]["source"] == [{"prefix": "aws."}], f"{path.name}: {name}"
