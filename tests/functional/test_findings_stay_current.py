"""Findings in Security Hub stay current (issue 17 item 3): a long-lived violation is re-imported by every periodic
sweep with a fresh ``UpdatedAt``, and pages nobody again.

The OCSF-based Security Hub deletes an active finding that is not updated for 90 days (Security Hub user guide,
"OCSF findings in Security Hub": active findings "are automatically deleted if they aren't updated in 90 days",
judged on ``finding_info.modified_time_dt``, which an ASFF import's ``UpdatedAt`` sets). Every state rule is
therefore periodic in AWS Config (``ConfigEvaluationFrequency``: at most 24 hours, so N = 1 day, far under 90)
and a sweep imports every judged resource's finding, unchanged ones included. Paging is the alert state's
(identity_auditor.delivery.alert_state): an unchanged violation does not page again within its 30-day reminder.

``iam_role_trust_policy_unsafe`` was only change-triggered: an unsafe role nobody touches again was never judged
again, so its finding would have been deleted after 90 days while the role stayed open to anyone.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from datetime import datetime, timedelta

import boto3
from freezegun import freeze_time
from identity_auditor.engine.registry import REGISTRY
from support import ROOT, load_template

PERIODIC = json.loads((ROOT / "events" / "config" / "iam_access_key_not_rotated_periodic__constructed.json").read_text())
RETENTION_DAYS = 90  # Security Hub (OCSF): active findings not updated for 90 days are deleted
FREQUENCY_HOURS = {"One_Hour": 1, "Three_Hours": 3, "Six_Hours": 6, "Twelve_Hours": 12, "TwentyFour_Hours": 24}
OPEN_TRUST = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}]}


def load_app(name: str):
    """The Config function's module, imported afresh and listed in sys.modules (freezegun then stops its clock too)."""
    spec = importlib.util.spec_from_file_location(name, ROOT / "functions" / "config_rule_evaluator" /
                                                  "config_rule_evaluator.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    sys.modules[name] = module
    return module


def periodic(rule_id: str, when: datetime) -> dict:
    """A ScheduledNotification of the rule's Config rule, as AWS Config sends it at ``when``."""
    invoking = json.loads(PERIODIC["invokingEvent"])
    invoking["notificationCreationTime"] = when.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    return {**PERIODIC, "invokingEvent": json.dumps(invoking), "ruleParameters": json.dumps({"ruleId": rule_id}),
            "configRuleName": f"identity-auditor-{rule_id.replace('_', '-')}"}


def scheduled(rule_id: str) -> bool:
    """Whether the deployment's AWS Config rule for ``rule_id`` is run on a schedule (template.yaml)."""
    for resource in load_template()["Resources"].values():
        if resource["Type"] == "AWS::Config::ConfigRule" and rule_id in json.dumps(resource["Properties"]):
            return any(d["MessageType"] == "ScheduledNotification" for d in resource["Properties"]["Source"]["SourceDetails"])
    raise LookupError(rule_id)


def test_an_unsafe_role_nobody_changes_is_re_asserted_by_every_sweep_and_pages_once(account, lambda_context):
    """The role is created (Config's change notification), then never changes: from then on the rule is invoked
    only as template.yaml schedules it. Its finding must never go 90 days without an update."""
    rule = "iam_role_trust_policy_unsafe"
    created = json.loads((ROOT / "events" / "config" / f"{rule}_role_changed__constructed.json").read_text())
    start = datetime.fromisoformat(json.loads(created["invokingEvent"])["notificationCreationTime"].replace("Z", "+00:00"))
    with freeze_time(start - timedelta(minutes=5), ignore=["aws_lambda_powertools"]):
        boto3.client("iam", region_name="us-east-1").create_role(
            RoleName="vendor-integration", AssumeRolePolicyDocument=json.dumps(OPEN_TRUST))
    app = load_app("config_rule_evaluator_current")
    with freeze_time(start, ignore=["aws_lambda_powertools"]):
        assert app.handler(created, lambda_context)["compliance"] == {"NON_COMPLIANT": 1}
        pages = [len(account.alerts())]
    days = (1, 29, 60, 89, 120)
    for day in days:
        when = start + timedelta(days=day)
        with freeze_time(when, ignore=["aws_lambda_powertools"]):
            if scheduled(rule):  # what AWS Config sends for a role that does not change
                assert app.handler(periodic(rule, when), lambda_context)["compliance"] == {"NON_COMPLIANT": 1}
            pages.append(len(account.alerts()))
            [finding] = [f for f in account.findings() if f["GeneratorId"] == rule]
        assert (finding["Compliance"]["Status"], finding["RecordState"]) == ("FAILED", "ACTIVE")
        updated = datetime.fromisoformat(finding["UpdatedAt"].replace("Z", "+00:00"))
        assert updated == when, f"day {day}: last updated {updated:%Y-%m-%d}, deleted by Security Hub after 90 days"
    assert len({f["Id"] for f in account.findings()}) == 1  # one finding, updated in place
    # paged when found; the re-imports page nobody: the only other pages are the alert state's reminder once the
    # last alert is 30 days old (day 60 and day 120; day 89 is 29 days after the reminder of day 60)
    assert pages == [1, 0, 0, 1, 0, 1]


def test_every_state_rule_is_re_asserted_far_more_often_than_security_hub_forgets():
    """Each state rule's AWS Config rule has a periodic trigger at ConfigEvaluationFrequency, whose every allowed value
    is at most a day: an unchanged finding is re-imported at least daily, 90 times within Security Hub's 90 days."""
    template = load_template()
    frequency = template["Parameters"]["ConfigEvaluationFrequency"]
    assert max(FREQUENCY_HOURS[value] for value in frequency["AllowedValues"]) <= 24 < RETENTION_DAYS * 24 / 30
    periodic_rules = set()
    for resource in template["Resources"].values():
        if resource["Type"] != "AWS::Config::ConfigRule":
            continue
        properties = resource["Properties"]
        rule_id = json.loads(properties["InputParameters"])["ruleId"] if isinstance(
            properties.get("InputParameters"), str) else properties["InputParameters"]["ruleId"]
        for detail in properties["Source"]["SourceDetails"]:
            if detail["MessageType"] == "ScheduledNotification":
                assert detail["MaximumExecutionFrequency"] == {"Ref": "ConfigEvaluationFrequency"}, rule_id
                periodic_rules.add(rule_id)
    state_rules = {rule.meta.id for rule in REGISTRY.state_rules()}
    assert {rule.meta.id for rule in REGISTRY.state_rules() if not rule.meta.state.periodic} == set()
    assert periodic_rules == state_rules
