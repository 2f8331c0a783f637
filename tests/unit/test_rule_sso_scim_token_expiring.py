"""sso_scim_token_expiring: the AWS Health warning that Identity Center's SCIM token expires, read as a record;
HIGH within 14 days, MEDIUM further out or when no date is named; other Health events are not findings."""

from __future__ import annotations

import copy
import json
from datetime import datetime, timezone

import pytest
from asff_validator import assert_valid_asff
from identity_auditor.archive.inputs import Envelope, InputProblem, classify
from identity_auditor.engine.events import Engine
from identity_auditor.engine.registry import REGISTRY
from identity_auditor.model.cloudtrail import CloudTrailEvent
from identity_auditor.model.contract import Context
from identity_auditor.model.health import HealthEventError, health_envelope, health_record, health_time
from identity_auditor.rules import sso_scim_token_expiring as rule
from identity_auditor.sinks.asff import to_asff
from support import PRODUCT_ARN, ROOT

HEALTH = ROOT / "events" / "health"
NOW = datetime(2025, 3, 5, 12, 0, tzinfo=timezone.utc)


def sample(name: str) -> dict:
    return json.loads((HEALTH / f"{name}.json").read_text())


SOON = sample("sso_scim_token_expiring_in_10_days__constructed")
LATER = sample("sso_scim_token_expiring_in_86_days__constructed")
OTHER = sample("health_ec2_operational_issue__constructed")


def findings(envelope: dict, now: datetime = NOW) -> list:
    event = CloudTrailEvent.model_validate(health_envelope(envelope))
    result = Engine().evaluate(event.detail, Context(now=now), account=event.account, region=event.region)
    assert result.failures == []
    for finding in result.findings:
        assert_valid_asff(to_asff(finding, product_arn=PRODUCT_ARN, updated_at=now))
    return result.findings


def with_description(envelope: dict, text: str, **detail) -> dict:
    changed = copy.deepcopy(envelope)
    changed["detail"]["eventDescription"] = [{"language": "en_US", "latestDescription": text}]
    changed["detail"].update(detail)
    return changed


def test_a_token_expiring_within_14_days_is_high_and_names_the_date_and_instance():
    [finding] = findings(SOON)
    assert (finding.rule_id, finding.severity.value) == ("sso_scim_token_expiring", "HIGH")
    assert "expires on 2025-03-15 (10 days from now)" in finding.description
    assert finding.resource_id == "arn:aws:sso:::instance/ssoins-72230a4b5c6d7e8f"
    assert finding.details["ExpiresOn"] == "2025-03-15"
    assert finding.details["HealthEventArn"] == SOON["detail"]["eventArn"]
    assert (finding.account_id, finding.region, finding.event_source) == ("123456789012", "us-east-1",
                                                                          "health.amazonaws.com")
    assert finding.actor.invoked_by == "health.amazonaws.com"


def test_a_token_expiring_later_is_medium():
    [finding] = findings(LATER)
    assert finding.severity.value == "MEDIUM"
    assert "expires on 2025-05-30 (86 days from now)" in finding.description


@pytest.mark.parametrize(("days_left", "severity"), [(14, "HIGH"), (15, "MEDIUM"), (0, "HIGH"), (-2, "HIGH")])
def test_the_14_day_edge(days_left, severity):
    expiry = datetime(2025, 3, 5 + days_left, tzinfo=timezone.utc) if days_left >= 0 else datetime(2025, 3, 3,
                                                                                                   tzinfo=timezone.utc)
    envelope = with_description(SOON, f"Your SCIM access token will expire on {expiry.date().isoformat()}.")
    [finding] = findings(envelope)
    assert finding.severity.value == severity
    if days_left < 0:
        assert "expired on 2025-03-03" in finding.description


def test_a_written_out_date_is_read():
    [finding] = findings(with_description(SOON, "The token expires on March 12, 2025. Rotate it."))
    assert (finding.details["ExpiresOn"], finding.severity.value) == ("2025-03-12", "HIGH")


def test_a_scheduled_change_without_a_date_in_its_text_expires_at_its_start_time():
    envelope = with_description(SOON, "Your SCIM token expires soon.", eventTypeCategory="scheduledChange",
                                startTime="Thu, 13 Mar 2025 00:00:00 GMT")
    [finding] = findings(envelope)
    assert finding.details["ExpiresOn"] == "2025-03-13"


def test_no_date_at_all_is_still_a_finding_at_medium_and_says_so():
    [finding] = findings(with_description(SOON, "Your SCIM token expires soon."))
    assert finding.severity.value == "MEDIUM"
    assert "names no date" in finding.description


def test_an_impossible_date_in_the_text_is_skipped_not_raised():
    [finding] = findings(with_description(SOON, "Token 2025-02-30 expires on 2025-03-20."))
    assert finding.details["ExpiresOn"] == "2025-03-20"


def test_other_health_events_are_not_findings():
    assert findings(OTHER) == []


def test_an_update_of_the_same_health_event_updates_the_same_finding():
    update = copy.deepcopy(SOON)
    update["id"] = "8d1c2b3a-0000-4000-8000-000000000001"
    update["detail"]["statusCode"] = "closed"
    update["detail"]["lastUpdatedTime"] = "Thu, 06 Mar 2025 09:00:00 GMT"
    assert findings(update)[0].finding_id == findings(SOON)[0].finding_id
    assert findings(LATER)[0].finding_id != findings(SOON)[0].finding_id


def test_the_organizational_view_files_the_finding_under_the_affected_account():
    org = copy.deepcopy(SOON)
    org["account"] = "999999999999"  # the management account receiving the organisation's events
    org["detail"]["affectedAccount"] = "123456789012"
    [finding] = findings(org)
    assert finding.account_id == "123456789012"


def test_the_record_made_of_a_health_event():
    record = health_record(SOON)
    assert (record["eventSource"], record["eventName"], record["eventType"]) == (
        "health.amazonaws.com", "AWS_IAMIDENTITYCENTER_SCIM_BEARER_TOKEN_EXPIRY_NOTIFICATION", "AwsServiceEvent")
    assert record["serviceEventDetails"] is SOON["detail"]
    assert record["eventTime"] == "2025-03-05T09:00:00+00:00"
    assert record["eventID"].startswith("health-") and len(record["eventID"]) == 39


def test_health_times():
    assert health_time("Wed, 05 Mar 2025 09:00:00 GMT") == datetime(2025, 3, 5, 9, tzinfo=timezone.utc)
    assert health_time("2025-03-05T09:00:00Z") == datetime(2025, 3, 5, 9, tzinfo=timezone.utc)
    assert health_time("not a time") is None and health_time(None) is None


@pytest.mark.parametrize(("broken", "message"), [({"detail": None}, "has no detail object"),
                                                 ({"detail": {"service": "SSO"}}, "has no eventTypeCode")])
def test_a_broken_health_event_is_refused_with_a_clear_message(broken, message):
    envelope = {**SOON, **broken}
    with pytest.raises(HealthEventError, match=message):
        health_envelope(envelope)
    problem = classify("file.json", envelope)
    assert isinstance(problem, InputProblem) and message in problem.message


def test_the_cli_reads_health_events_as_records():
    read = classify("file.json", SOON)
    assert isinstance(read, Envelope)
    assert read.event["detail"]["eventSource"] == "health.amazonaws.com"


def test_the_route_admits_only_the_health_event_types_the_rules_want():
    [route] = [r for r in REGISTRY.routes() if r.name == "health-events"]
    assert route.pattern == {"source": [{"prefix": "aws."}], "detail-type": ["AWS Health Event"],
                             "detail": {"eventTypeCode": [rule.EVENT_TYPE]}}
    assert route.scope == "regional"  # Health delivers an account's events in the region it names


@pytest.mark.parametrize(("text", "expected"), [
    ("Your SCIM token expires in 10 days on Sat Mar 15 09:00:00 UTC 2025.", "2025-03-15"),  # AWS's e-mail form
    ("The token expires on Mar 12 2025.", "2025-03-12"),
    ("The token expires on 12 March 2025.", "2025-03-12"),
    ("Your SCIM access token expires in 9 days.", "2025-03-14"),  # counted from lastUpdatedTime (Mar 5)
])
def test_the_date_forms_aws_notifications_use(text, expected):
    """Found by an adversarial review: the abbreviated form of AWS's notification e-mail was not read, so a token
    expiring in 10 days stayed MEDIUM."""
    [finding] = findings(with_description(SOON, text))
    assert (finding.details["ExpiresOn"], finding.severity.value) == (expected, "HIGH")
