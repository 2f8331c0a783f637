"""Only the stack's EventBridge rules invoke the CloudTrail evaluator (issue 16, "a forged direct invoke").

Before, the evaluator's function policy held only Allow statements (``AWS::Lambda::Permission``), so any
principal of the account whose IAM policy allows ``lambda:InvokeFunction`` could hand it a made-up
``"source": "aws.iam"`` event (paged word for word) or a made-up heartbeat (hiding a broken pipeline). The
template now gives the function a full resource policy (``AWS::Lambda::ResourcePolicy``) with an explicit Deny.

moto does not evaluate Lambda resource policies, so these tests evaluate the deployed policy document itself, as
IAM does for the condition operators it uses (an explicit Deny wins; ``ArnNotLike`` on a key the request does not
carry is true; ARN patterns are globs), for the requests that matter: every rule of the template that targets the
evaluator (the default bus, the organisation bus, the heartbeat) is allowed and not denied; a role or user of the
account, a rule of another stack or account, and a service without a source are denied; a redrive principal named
in ``FindingsRedrivePrincipalArns`` is not denied (its own IAM policy must still allow the call).
"""

from __future__ import annotations

import fnmatch

import pytest
from support import load_template

TEMPLATE = load_template()
RESOURCES = TEMPLATE["Resources"]
STACK = "identity-auditor"
ACCOUNT = "123456789012"
REDRIVER = f"arn:aws:iam::{ACCOUNT}:role/security-oncall"
FUNCTION = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:{STACK}-cloudtrail-evaluator"
VALUES = {"AWS::Partition": "aws", "AWS::Region": "us-east-1", "AWS::AccountId": ACCOUNT, "AWS::StackName": STACK,
          "CloudTrailEvaluatorFunction.Arn": FUNCTION, "OrganizationEventBus.Name": f"{STACK}-organization"}


def resolve(node, *, redrivers: list[str]):
    """The template's intrinsics as CloudFormation resolves them for one deployment."""
    if isinstance(node, list):
        return [resolve(item, redrivers=redrivers) for item in node]
    if not isinstance(node, dict):
        return node
    if "Fn::Sub" in node:
        text = node["Fn::Sub"]
        for name, value in VALUES.items():
            text = text.replace("${" + name + "}", value)
        assert "${" not in text, text
        return text
    if "Fn::GetAtt" in node:
        return VALUES[".".join(node["Fn::GetAtt"])]
    if "Ref" in node:
        return {"FindingsRedrivePrincipalArns": redrivers}.get(node["Ref"], VALUES.get(node["Ref"], node["Ref"]))
    if "Fn::If" in node:
        condition, then, otherwise = node["Fn::If"]
        assert condition == "HasRedrivePrincipals", condition
        return resolve(then if redrivers else otherwise, redrivers=redrivers)
    return {key: resolve(value, redrivers=redrivers) for key, value in node.items()}


def policy(redrivers: list[str] | None = None) -> dict:
    [resource] = [res for res in RESOURCES.values() if res["Type"] == "AWS::Lambda::ResourcePolicy"
                  and res["Properties"]["ResourceArn"] == {"Fn::GetAtt": ["CloudTrailEvaluatorFunction", "Arn"]}]
    return resolve(resource["Properties"]["PolicyDocument"], redrivers=redrivers or [])


def _values(value) -> list:
    return value if isinstance(value, list) else [value]


def _condition_holds(condition: dict, request: dict) -> bool:
    for operator, keys in condition.items():
        for key, patterns in keys.items():
            present = request.get(key)
            matched = present is not None and any(fnmatch.fnmatchcase(present, p) if operator.startswith("Arn")
                                                  else present == p for p in _values(patterns))
            if operator in ("ArnLike", "StringEquals"):
                if not matched:
                    return False
            elif operator == "ArnNotLike":
                if matched:  # a key the request lacks satisfies ArnNotLike (IAM: negated operators)
                    return False
            else:
                raise AssertionError(f"operator {operator} is not evaluated by this test")
    return True


def _principal_matches(principal, request: dict) -> bool:
    if principal == "*":
        return True
    if "Service" in principal:
        return request.get("service") in _values(principal["Service"])
    return request.get("aws:PrincipalArn") in _values(principal.get("AWS"))


def decision(document: dict, request: dict, resource: str = FUNCTION) -> str:
    """``Deny`` (explicit), ``Allow`` or ``NotAllowedHere`` (left to the caller's IAM policy) for lambda:InvokeFunction."""
    verdicts = set()
    for statement in document["Statement"]:
        if "lambda:InvokeFunction" not in _values(statement["Action"]):
            continue
        if not any(fnmatch.fnmatchcase(resource, pattern) for pattern in _values(statement["Resource"])):
            continue
        if _principal_matches(statement["Principal"], request) and _condition_holds(statement.get("Condition", {}),
                                                                                    request):
            verdicts.add(statement["Effect"])
    return "Deny" if "Deny" in verdicts else "Allow" if "Allow" in verdicts else "NotAllowedHere"


def rule_arns() -> dict[str, str]:
    """Every EventBridge rule of the template that targets the evaluator, by logical id, with its ARN."""
    arns = {}
    for name, res in RESOURCES.items():
        if res["Type"] != "AWS::Events::Rule":
            continue
        props = res["Properties"]
        if not any(target["Arn"] == {"Fn::GetAtt": ["CloudTrailEvaluatorFunction", "Arn"]}
                   for target in props["Targets"]):
            continue
        rule = resolve(props["Name"], redrivers=[])
        bus = props.get("EventBusName", "default")
        bus = VALUES["OrganizationEventBus.Name"] if bus == {"Fn::GetAtt": ["OrganizationEventBus", "Name"]} else bus
        path = rule if bus == "default" else f"{bus}/{rule}"
        arns[name] = f"arn:aws:events:us-east-1:{ACCOUNT}:rule/{path}"
    return arns


def test_the_evaluator_has_one_resource_policy_and_no_permission_resources_beside_it():
    # Lambda: mixing AWS::Lambda::Permission and AWS::Lambda::ResourcePolicy on one function overwrites statements
    assert not [name for name, res in RESOURCES.items() if res["Type"] == "AWS::Lambda::Permission"
                and res["Properties"]["FunctionName"] == {"Fn::GetAtt": ["CloudTrailEvaluatorFunction", "Arn"]}]
    assert policy()["Statement"]


@pytest.mark.parametrize("redrivers", [[], [REDRIVER]], ids=["no redrivers", "redrivers"])
def test_every_rule_that_targets_the_evaluator_may_invoke_it(redrivers):
    arns = rule_arns()
    assert {"HeartbeatRule", "IamApiRule", "OrganizationIamApiRule"} <= set(arns)
    document = policy(redrivers)
    for name, arn in arns.items():
        request = {"service": "events.amazonaws.com", "aws:SourceArn": arn, "aws:SourceAccount": ACCOUNT}
        assert decision(document, request) == "Allow", name


@pytest.mark.parametrize("request_", [
    pytest.param({"aws:PrincipalArn": f"arn:aws:iam::{ACCOUNT}:role/AdministratorAccess"}, id="admin role"),
    pytest.param({"aws:PrincipalArn": f"arn:aws:iam::{ACCOUNT}:user/ci-deployer"}, id="IAM user"),
    pytest.param({"aws:PrincipalArn": f"arn:aws:iam::{ACCOUNT}:role/identity-auditor/{STACK}/x"}, id="stack path"),
    pytest.param({"service": "events.amazonaws.com", "aws:SourceAccount": ACCOUNT,
                  "aws:SourceArn": f"arn:aws:events:us-east-1:{ACCOUNT}:rule/other-stack-iam-api"}, id="other rule"),
    pytest.param({"service": "events.amazonaws.com", "aws:SourceAccount": "999999999999",
                  "aws:SourceArn": f"arn:aws:events:us-east-1:999999999999:rule/{STACK}-iam-api"},
                 id="same name, other account"),
    pytest.param({"service": "s3.amazonaws.com", "aws:SourceAccount": ACCOUNT}, id="service without source"),
])
@pytest.mark.parametrize("redrivers", [[], [REDRIVER]], ids=["no redrivers", "redrivers"])
def test_a_direct_invoke_by_anyone_else_is_denied_explicitly(request_, redrivers):
    assert decision(policy(redrivers), request_) == "Deny"
    assert decision(policy(redrivers), request_, resource=f"{FUNCTION}:live") == "Deny"  # an alias or version too


def test_a_redrive_principal_is_not_denied_only_when_named():
    request = {"aws:PrincipalArn": REDRIVER}
    assert decision(policy([REDRIVER]), request) == "NotAllowedHere"  # its own IAM policy decides
    assert decision(policy([]), request) == "Deny"
    assert decision(policy(["arn:aws:iam::*:role/other"]), request) == "Deny"
