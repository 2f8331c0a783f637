"""The CloudTrail evaluator's resource policy as CloudFormation deploys it, and Lambda's decision on an invoke.

moto does not evaluate Lambda resource policies; these helpers evaluate the deployed policy document itself, as IAM
does for the condition operators it uses (an explicit Deny wins; ``ArnNotLike`` on a key the request does not carry
is true; ARN patterns are globs). Used by the contract tests (tests/contract/test_evaluator_invoke_policy.py) and by
the reliability suite that plays Lambda's authorisation in front of the handler (tests/reliability/test_forged_invoke.py).
"""

from __future__ import annotations

import fnmatch

from support import load_template

TEMPLATE = load_template()
RESOURCES = TEMPLATE["Resources"]
STACK = "identity-auditor"
ACCOUNT = "123456789012"
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
