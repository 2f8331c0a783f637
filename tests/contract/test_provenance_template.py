"""Only the auditor writes findings, as template.yaml deploys it (issue 16; delivery/provenance.py).

Explicit Deny statements bind every principal of the account, whatever its IAM policies allow (``sqs:*``,
``kms:*``): the findings queue takes messages from the evaluators' roles only (and the principals the operator
names for redrives), the HMAC key makes MACs for the evaluators' roles only and checks them for the
publisher's role only (and those principals). "The evaluators' roles" is read from the template: every role
allowed ``sqs:SendMessage`` on the findings queue, so an evaluator added later and left out of the Deny lists
fails here. Each check runs on template.yaml and on the template after the SAM transform; the negative cases
change a copy and show the check fails.
"""

from __future__ import annotations

import copy
import json

import pytest
import template_security as sec
from identity_auditor.delivery.provenance import FORGED_FINDINGS_METRIC
from support import load_template

RAW = load_template()
QUEUE = "FindingsQueue"
KEY_VARIABLE = "FINDINGS_MAC_KEY_ARN"  # what delivery/settings.py reads
REDRIVE_PARAMETER = "FindingsRedrivePrincipalArns"


@pytest.fixture(params=["template.yaml", "sam-transformed"])
def template(request) -> dict:
    return copy.deepcopy(RAW) if request.param == "template.yaml" else json.loads(sec.transformed_template())


def mac_keys(template: dict) -> dict[str, dict]:
    return {name: res for name, res in sec.of_type(template, "AWS::KMS::Key").items()
            if sec.props(res).get("KeyUsage") == "GENERATE_VERIFY_MAC"}


def evaluator_roles(template: dict) -> set[str]:
    return sec._roles_allowed(template, "sqs:SendMessage", QUEUE)


def publisher_roles(template: dict) -> set[str]:
    return sec._roles_allowed(template, "sqs:ReceiveMessage", QUEUE)


def principal_arns(condition: dict, operator: str) -> list:
    """The aws:PrincipalArn values of one condition operator (Fn::If in the list expanded)."""
    values = {key.lower(): value for key, value in (condition.get(operator) or {}).items()}
    return sec.listed(values.get("aws:principalarn"))


def deny_problems(template: dict, where: str, statement: dict, allowed: set[str]) -> list[str]:
    """A Deny for "*" unless aws:PrincipalArn is one of ``allowed`` roles (or, optionally, a principal of the
    redrive parameter); nothing else in the condition that could exempt anyone else."""
    problems = []
    if sec.principals(statement)[0] != ["*"]:
        problems.append(f"{where}: the Deny is not for every principal (\"*\")")
    for condition in sec.branches(statement.get("Condition")):  # each side of an Fn::If
        condition = condition if isinstance(condition, dict) else {}
        if set(condition) - {"ArnNotEquals", "ArnNotLike"}:
            problems.append(f"{where}: condition operators {sorted(set(condition))} may exempt other principals")
        exempt = {role for arn in principal_arns(condition, "ArnNotEquals") for role in sec.refs(arn)}
        if exempt != allowed:
            problems.append(f"{where}: exempts {sorted(exempt)}, the roles that need it are {sorted(allowed)}")
        like = principal_arns(condition, "ArnNotLike")
        if like and like != [{"Ref": REDRIVE_PARAMETER}]:
            problems.append(f"{where}: ArnNotLike exempts {json.dumps(like)}, not the {REDRIVE_PARAMETER} only")
    return problems


def _by_principal(statement: dict) -> bool:
    """The statement's condition (either side of an Fn::If) is about who calls (aws:PrincipalArn)."""
    return any(isinstance(condition, dict) and "aws:principalarn" in sec.condition_keys({"Condition": condition})
               for condition in sec.branches(statement.get("Condition")))


def _account_root(principal) -> bool:
    text = principal.get("Fn::Sub") if isinstance(principal, dict) else principal
    return isinstance(text, str) and text.endswith(":iam::${AWS::AccountId}:root")


def _denies(document, action: str) -> list[dict]:
    return [s for s in sec.statements(document) if s.get("Effect") == "Deny" and sec.actions_match(s, action)]


# -- the checks ---------------------------------------------------------------------------------------


def key_problems(template: dict) -> list[str]:
    keys = mac_keys(template)
    if len(keys) != 1:
        return [f"expected one HMAC key (KeyUsage GENERATE_VERIFY_MAC), found {sorted(keys)}"]
    [(name, key)] = keys.items()
    properties = sec.props(key)
    problems = []
    if properties.get("KeySpec") != "HMAC_256":
        problems.append(f"{name}: KeySpec {properties.get('KeySpec')!r}, not HMAC_256 (HMAC_SHA_256)")
    if properties.get("EnableKeyRotation") in (True, "true"):
        problems.append(f"{name}: EnableKeyRotation: KMS refuses automatic rotation for HMAC keys")
    if "HMAC" not in sec.checkov_skip_reason(key, "CKV_AWS_7"):
        problems.append(f"{name}: checkov CKV_AWS_7 (rotation) is not skipped with the HMAC reason")
    policy = properties.get("KeyPolicy")
    for action, allowed in (("kms:GenerateMac", evaluator_roles(template)), ("kms:VerifyMac", publisher_roles(template))):
        denies = _denies(policy, action)
        if not denies:
            problems.append(f"{name}: no Deny of {action} for the principals that must not use it")
        for statement in denies:
            problems += deny_problems(template, f"{name} {statement.get('Sid')}", statement, allowed)
    for statement in sec.statements(policy):
        if statement.get("Effect") == "Deny" and sec.actions_match(statement, "kms:PutKeyPolicy"):
            problems.append(f"{name} {statement.get('Sid')}: denies kms:PutKeyPolicy (the key becomes unmanageable)")
        if statement.get("Effect") == "Allow" and any(not _account_root(principal)
                                                       for principal in sec.principals(statement)[1]):
            problems.append(f"{name} {statement.get('Sid')}: an Allow besides the account's own administration")
    return problems


def role_problems(template: dict) -> list[str]:
    """IAM lets exactly the evaluators make MACs and exactly the publisher check them, with HMAC_SHA_256."""
    keys = set(mac_keys(template))
    problems = []
    for action, expected in (("kms:GenerateMac", evaluator_roles(template)), ("kms:VerifyMac", publisher_roles(template))):
        allowed = {role for key in keys for role in sec._roles_allowed(template, action, key)}
        if allowed != expected:
            problems.append(f"{action} allowed to {sorted(allowed)}, must be exactly {sorted(expected)}")
        for role in allowed:
            for statement in sec.role_statements(template, role):
                if sec.actions_match(statement, action) and \
                        sec.condition_keys(statement).get("kms:macalgorithm") != "HMAC_SHA_256":
                    problems.append(f"{role}: {action} without kms:MacAlgorithm HMAC_SHA_256")
    return problems


def queue_problems(template: dict) -> list[str]:
    evaluators = evaluator_roles(template)
    problems = []
    found = False
    for name, policy in sec.of_type(template, "AWS::SQS::QueuePolicy").items():
        for statement in _denies(sec.props(policy).get("PolicyDocument"), "sqs:SendMessage"):
            if QUEUE not in sec.refs(statement.get("Resource")) or not _by_principal(statement):
                continue  # the TLS Deny (every principal, plain HTTP)
            found = True
            where = f"{name} {statement.get('Sid')}"
            if sec.listed(statement.get("Action")) != ["sqs:SendMessage"]:
                problems.append(f"{where}: denies {statement.get('Action')}, not sending only (the account must "
                                "keep managing the queue and its policy)")
            problems += deny_problems(template, where, statement, evaluators)
    if not found:
        problems.append(f"no queue policy denies sqs:SendMessage on {QUEUE} to all but the evaluators' roles")
    return problems


def environment_problems(template: dict) -> list[str]:
    """Every function that writes to or reads the findings queue knows the key."""
    [key] = mac_keys(template) or [None]
    defaults = (((template.get("Globals") or {}).get("Function") or {}).get("Environment") or {}).get("Variables") or {}
    users = evaluator_roles(template) | publisher_roles(template)
    problems = []
    for name, res in sec.of_type(template, "AWS::Serverless::Function", "AWS::Lambda::Function").items():
        if not sec.refs(sec.props(res).get("Role")) & users:
            continue
        variables = {**defaults, **((sec.props(res).get("Environment") or {}).get("Variables") or {})}
        if variables.get(KEY_VARIABLE) != {"Fn::GetAtt": [key, "Arn"]}:
            problems.append(f"{name}: {KEY_VARIABLE} is {json.dumps(variables.get(KEY_VARIABLE))}, not {key}'s ARN")
    return problems


def alarm_problems(template: dict) -> list[str]:
    alarms = [res for res in sec.of_type(template, "AWS::CloudWatch::Alarm").values()
              if sec.props(res).get("MetricName") == FORGED_FINDINGS_METRIC]
    if not alarms:
        return [f"no alarm on the publisher's {FORGED_FINDINGS_METRIC} metric"]
    problems = []
    for alarm in alarms:
        p = sec.props(alarm)
        if p.get("Namespace") != "IdentityAuditor" or "OperationsTopic" not in sec.refs(p.get("AlarmActions")):
            problems.append(f"{FORGED_FINDINGS_METRIC} alarm: not in IdentityAuditor or not to the OperationsTopic")
        if p.get("ComparisonOperator") != "GreaterThanThreshold" or int(p.get("Threshold", -1)) != 0:
            problems.append(f"{FORGED_FINDINGS_METRIC} alarm: does not fire on the first refused message")
    return problems


CHECKS = [key_problems, role_problems, queue_problems, environment_problems, alarm_problems]


# -- the template as it is ----------------------------------------------------------------------------


def test_the_roles_are_the_ones_the_deployment_has(template):
    """The checks have something to check: the three evaluators and the publisher."""
    assert evaluator_roles(template) == {"CloudTrailEvaluatorRole", "ConfigRuleEvaluatorRole", "BackfillEvaluatorRole"}
    assert publisher_roles(template) == {"FindingsPublisherRole"}
    assert list(mac_keys(template)) == ["FindingsMacKey"]


@pytest.mark.parametrize("check", CHECKS, ids=lambda check: check.__name__)
def test_only_the_auditor_writes_findings(template, check):
    assert not check(template)


def test_the_operator_learns_the_key_for_redrive():
    assert RAW["Outputs"]["FindingsMacKeyArn"]["Value"] == {"Fn::GetAtt": ["FindingsMacKey", "Arn"]}
    parameter = RAW["Parameters"][REDRIVE_PARAMETER]
    assert parameter["Type"] == "CommaDelimitedList" and parameter["Default"] == ""


# -- negative cases: each check fails on a template that breaks its rule -------------------------------


def _key_statement(template: dict, sid: str) -> dict:
    policy = sec.props(template["Resources"]["FindingsMacKey"])["KeyPolicy"]
    return next(statement for statement in policy["Statement"] if statement.get("Sid") == sid)


def _queue_deny(template: dict) -> dict:
    policy = sec.props(template["Resources"]["FindingsQueuePolicy"])["PolicyDocument"]
    return next(s for s in policy["Statement"] if s.get("Sid") == "OnlyTheEvaluatorsQueueFindings")


def _new_sender(template: dict) -> None:
    """A fourth role that may send to the findings queue, left out of every Deny's exemptions."""
    template["Resources"]["HeartbeatRole"] = {"Type": "AWS::IAM::Role", "Properties": {"Policies": [{
        "PolicyName": "send", "PolicyDocument": {"Statement": [{
            "Effect": "Allow", "Action": "sqs:SendMessage", "Resource": {"Fn::GetAtt": [QUEUE, "Arn"]}}]}}]}}


MUTATIONS = {
    "rotation-turned-on": (lambda t: sec.props(t["Resources"]["FindingsMacKey"]).update(EnableKeyRotation=True),
                           key_problems),
    "generate-mac-deny-removed": (
        lambda t: sec.props(t["Resources"]["FindingsMacKey"])["KeyPolicy"]["Statement"].remove(
            _key_statement(t, "OnlyTheEvaluatorsSignFindings")), key_problems),
    "generate-mac-deny-exempts-a-tag": (
        lambda t: _key_statement(t, "OnlyTheEvaluatorsSignFindings")["Condition"].update(
            StringNotEquals={"aws:PrincipalTag/team": "security"}), key_problems),
    "verify-mac-open-to-an-evaluator": (
        lambda t: _key_statement(t, "OnlyThePublisherAndRedriveCheckFindings")["Condition"]["Fn::If"][2][
            "ArnNotEquals"]["aws:PrincipalArn"].append({"Fn::GetAtt": ["CloudTrailEvaluatorRole", "Arn"]}),
        key_problems),
    "queue-deny-also-locks-out-policy-changes": (
        lambda t: _queue_deny(t).update(Action=["sqs:SendMessage", "sqs:SetQueueAttributes"]), queue_problems),
    "queue-deny-removed": (
        lambda t: sec.props(t["Resources"]["FindingsQueuePolicy"])["PolicyDocument"]["Statement"].remove(
            _queue_deny(t)), queue_problems),
    "a-new-sender-not-exempted": (_new_sender, queue_problems),
    "publisher-without-the-key": (
        lambda t: sec.props(t["Resources"]["FindingsPublisherFunction"]).setdefault("Environment", {}).setdefault(
            "Variables", {}).update({KEY_VARIABLE: ""}), environment_problems),
    "iam-lets-the-publisher-sign": (
        lambda t: sec.props(t["Resources"]["SignFindingsPolicy"])["Roles"]["Fn::If"][2].append(
            {"Ref": "FindingsPublisherRole"}), role_problems),
    "alarm-removed": (lambda t: t["Resources"].pop("ForgedFindingsAlarm"), alarm_problems),
}


@pytest.mark.parametrize("name", sorted(MUTATIONS))
def test_each_check_fails_on_a_template_that_breaks_its_rule(name):
    mutate, check = MUTATIONS[name]
    template = copy.deepcopy(RAW)
    assert not check(template), "the unchanged template must pass first"
    mutate(template)
    assert check(template), f"{check.__name__} accepted a template with {name}"
