"""A member account's administrator points a Config rule of their own at the central evaluator (issue 16,
point 4): the organisation rules' Lambda permission cannot be narrowed to the organisation's own rules, so
the function must refuse what is not one of its stack's rules and must not let a member account loosen the
organisation policy through ``ruleParameters``. Otherwise a rule with ``access_key_max_age_days: 3650`` makes
the same finding Id PASSED and silences the violation.

The member account's sweep is emulated in the single moto account of the pipeline (no member role is
configured, so the function reads its own credentials); what matters is the invocation's ``accountId``
and ``ruleParameters``, which are the member's to choose.
"""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from freezegun import freeze_time
from pipeline import record_ledger
from config_sweeps import PERIODIC_KEYS, SWEEP, users_with_old_keys

MEMBER = "444455556666"


def invocation(*, account: str, parameters: dict, name: str) -> dict:
    event = json.loads(PERIODIC_KEYS.read_text())
    invoking = json.loads(event["invokingEvent"])
    invoking["awsAccountId"] = account
    return {**event, "invokingEvent": json.dumps(invoking), "accountId": account, "configRuleName": name,
            "ruleParameters": json.dumps(parameters),
            "configRuleArn": f"arn:aws:config:us-east-1:{account}:config-rule/config-rule-r0gue1"}


def findings(account) -> dict[str, str]:
    return {f["Id"]: f["Compliance"]["Status"] for page in account.securityhub.get_paginator("get_findings").paginate()
            for f in page["Findings"]}


def test_a_member_accounts_lax_rule_parameters_cannot_turn_a_violation_into_passed(
        config_app, pipeline, account, lambda_context, monkeypatch):
    monkeypatch.setattr(config_app, "SETTINGS", replace(config_app.SETTINGS, auditor_stack_name="identity-auditor"))
    users = users_with_old_keys(3)  # keys created 2026-01-05: 147 days old at the sweep
    genuine = invocation(account=MEMBER, parameters={"ruleId": "iam_access_key_not_rotated"},
                         name="OrgConfigRule-identity-auditor-iam-access-key-not-rotated-a1b2c3d4")
    rogue = {**genuine, "ruleParameters": json.dumps({"ruleId": "iam_access_key_not_rotated",
                                                      "access_key_max_age_days": "3650"})}
    with freeze_time(SWEEP, ignore=["aws_lambda_powertools"]):
        config_app.handler(genuine, lambda_context)
        result = config_app.handler(rogue, lambda_context)
    with freeze_time(SWEEP, tick=True, ignore=["aws_lambda_powertools"]):
        pipeline.drain()
    statuses = findings(account)
    assert len(statuses) == len(users) and set(statuses.values()) == {"FAILED"}
    assert result["compliance"] == {"NON_COMPLIANT": len(users)}
    assert "ruleParameters access_key_max_age_days of account 444455556666 ignored" in result["note"]
    record_ledger(f"rogue member rule with access_key_max_age_days=3650: {len(users)} violations in -> "
                  f"{len(users)} FAILED findings out, 0 turned PASSED")


@pytest.mark.parametrize("name", ["my-own-rule", "identity-auditor-iam-credentials-unused",
                                  "OrgConfigRule-other-stack-iam-access-key-not-rotated-a1b2c3d4"])
def test_a_rule_that_is_not_the_stacks_is_refused(config_app, pipeline, account, lambda_context, monkeypatch, name):
    from identity_auditor.config_rule.invocation import ConfigEventError

    monkeypatch.setattr(config_app, "SETTINGS", replace(config_app.SETTINGS, auditor_stack_name="identity-auditor"))
    users_with_old_keys(1)
    with freeze_time(SWEEP, ignore=["aws_lambda_powertools"]), pytest.raises(ConfigEventError, match="refused"):
        config_app.handler(invocation(account=MEMBER, parameters={"ruleId": "iam_access_key_not_rotated"}, name=name),
                    lambda_context)
    with freeze_time(SWEEP, tick=True, ignore=["aws_lambda_powertools"]):
        pipeline.drain()
    assert findings(account) == {}
    record_ledger(f"Config rule {name!r} not of the stack: 1 invocation in -> refused, 0 findings out")


def test_the_stacks_own_rule_in_its_own_account_keeps_its_parameters(config_app, pipeline, account, lambda_context,
                                                                     monkeypatch):
    monkeypatch.setattr(config_app, "SETTINGS", replace(config_app.SETTINGS, auditor_stack_name="identity-auditor"))
    users_with_old_keys(2)
    own = invocation(account="123456789012", parameters={"ruleId": "iam_access_key_not_rotated",
                                                         "access_key_max_age_days": "3650"},
                     name="identity-auditor-iam-access-key-not-rotated")
    with freeze_time(SWEEP, ignore=["aws_lambda_powertools"]):
        result = config_app.handler(own, lambda_context)
    assert result["compliance"] == {"COMPLIANT": 2} and "ignored" not in result["note"]


def test_a_look_alike_rule_in_the_auditors_own_account_cannot_loosen_the_thresholds(
        config_app, pipeline, account, lambda_context, monkeypatch):
    """Review of issue 16: a rule of the auditor's own account named around the stack's rule
    (``attacker-<stack>-<rule>-x``) with lax parameters used to turn FAILED into PASSED there too."""
    monkeypatch.setattr(config_app, "SETTINGS", replace(config_app.SETTINGS, auditor_stack_name="identity-auditor"))
    users = users_with_old_keys(3)
    look_alike = invocation(account="123456789012", parameters={"ruleId": "iam_access_key_not_rotated",
                                                                "access_key_max_age_days": "3650"},
                            name="attacker-identity-auditor-iam-access-key-not-rotated-x")
    with freeze_time(SWEEP, ignore=["aws_lambda_powertools"]):
        result = config_app.handler(look_alike, lambda_context)
    assert result["compliance"] == {"NON_COMPLIANT": len(users)}
    assert "of rule attacker-identity-auditor-iam-access-key-not-rotated-x ignored" in result["note"]
    record_ledger(f"look-alike rule in the auditor's account with access_key_max_age_days=3650: {len(users)} "
                  f"violations in -> {len(users)} FAILED out")
