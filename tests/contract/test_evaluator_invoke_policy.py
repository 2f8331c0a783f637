"""Only the stack's EventBridge rules invoke the CloudTrail evaluator (issue 16, "a forged direct invoke").

Before, the evaluator's function policy held only Allow statements (``AWS::Lambda::Permission``), so any
principal of the account whose IAM policy allows ``lambda:InvokeFunction`` could hand it a made-up
``"source": "aws.iam"`` event (paged word for word) or a made-up heartbeat (hiding a broken pipeline). The
template now gives the function a full resource policy (``AWS::Lambda::ResourcePolicy``) with an explicit Deny.

moto does not evaluate Lambda resource policies, so these tests evaluate the deployed policy document itself
(tests/invoke_policy.py) for the requests that matter: every rule of the template that targets the
evaluator (the default bus, the organisation bus, the heartbeat) is allowed and not denied; a role or user of the
account, a rule of another stack or account, and a service without a source are denied; a redrive principal named
in ``FindingsRedrivePrincipalArns`` is not denied (its own IAM policy must still allow the call).
"""

from __future__ import annotations

import pytest
from invoke_policy import ACCOUNT, RESOURCES, STACK, VALUES, decision, policy, resolve

REDRIVER = f"arn:aws:iam::{ACCOUNT}:role/security-oncall"


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


def test_a_redrive_principal_is_not_denied_only_when_named():
    request = {"aws:PrincipalArn": REDRIVER}
    assert decision(policy([REDRIVER]), request) == "NotAllowedHere"  # its own IAM policy decides
    assert decision(policy([]), request) == "Deny"
    assert decision(policy(["arn:aws:iam::*:role/other"]), request) == "Deny"
