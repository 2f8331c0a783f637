"""AuditorResources: which identifiers, as CloudTrail records give them, name one of the auditor's own resources."""

from __future__ import annotations

import pytest
from identity_auditor.model.deployment import AuditorResources, queue_arn

ACCOUNT = "123837392027"
STACK = AuditorResources(name_prefixes=("identity-auditor-",))
EXACT = AuditorResources(
    arns=frozenset({
        f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:evaluator",
        f"arn:aws:sns:us-east-1:{ACCOUNT}:findings",
        f"https://sqs.us-east-1.amazonaws.com/{ACCOUNT}/findings-queue",  # a URL stands for its queue's ARN
        f"arn:aws:events:us-east-1:{ACCOUNT}:event-bus/auditor-bus",
        f"arn:aws:events:us-east-1:{ACCOUNT}:rule/iam-route",
        f"arn:aws:ssm:us-east-1:{ACCOUNT}:parameter/security/policy",
        f"arn:aws:appconfig:us-east-1:{ACCOUNT}:application/abc1234/configurationprofile/xyz9876",
        f"arn:aws:appconfig:eu-west-1:{ACCOUNT}:application/dedic01",
    }),
    names=frozenset({"/identity-auditor/policy"}),
)


@pytest.mark.parametrize("identifier", [
    "identity-auditor-cloudtrail-evaluator",  # Lambda functionName as a name
    f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:identity-auditor-cloudtrail-evaluator",
    f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:identity-auditor-cloudtrail-evaluator:2",  # a version
    f"{ACCOUNT}:function:identity-auditor-cloudtrail-evaluator",  # a partial ARN
    "identity-auditor-cloudtrail-evaluator:live",  # name:alias
    "identity-auditor-iam-api",  # an EventBridge rule named <stack>-<route>
    f"arn:aws:events:us-east-1:{ACCOUNT}:rule/identity-auditor-iam-api",
    f"arn:aws:events:us-east-1:{ACCOUNT}:rule/identity-auditor-organization/identity-auditor-iam-api",
    f"arn:aws:events:us-east-1:{ACCOUNT}:rule/identity-auditor-organization/someone-elses-rule",  # on the bus
    f"arn:aws:sns:us-east-1:{ACCOUNT}:identity-auditor-FindingsTopic-8K2J4H6G1F3D",  # CloudFormation's name
    f"arn:aws:sns:us-east-1:{ACCOUNT}:identity-auditor-FindingsTopic-8K2J4H6G1F3D:c3019def-3714-403e-ba29-eb14079d5c69",
    f"https://sqs.us-east-1.amazonaws.com/{ACCOUNT}/identity-auditor-FindingsQueue-3N5B7V9C2X4Z",
    f"https://sqs.us-east-1.amazonaws.com/{ACCOUNT}/identity-auditor-FindingsQueue-3N5B7V9C2X4Z/",
    "arn:aws:sqs:eu-west-1:999999999999:identity-auditor-DeadLetterQueue-1A2B",  # names hold in every account
])
def test_name_prefix_owns_what_the_stack_names(identifier):
    assert STACK.owns(identifier)


@pytest.mark.parametrize("identifier", [
    "payments-orders", "identity-auditor", "identityauditor-x", "x-identity-auditor-y",
    f"https://sqs.us-east-1.amazonaws.com/{ACCOUNT}/payments-orders",
    f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:stratus-red-team-olc-func-xhfgzaowxc:1",
    f"arn:aws:events:us-east-1:{ACCOUNT}:rule/other-bus/identity",
    "/identity-auditor-x/policy",  # an SSM path is not a name the prefix covers
    "", None, 42, ["identity-auditor-x"],
])
def test_name_prefix_does_not_own_other_names_or_junk(identifier):
    assert not STACK.owns(identifier)


@pytest.mark.parametrize("identifier", [
    f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:evaluator",
    f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:evaluator:$LATEST",
    f"arn:aws:sns:us-east-1:{ACCOUNT}:findings:0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0",  # its subscription
    f"arn:aws:sqs:us-east-1:{ACCOUNT}:findings-queue",
    f"https://sqs.us-east-1.amazonaws.com/{ACCOUNT}/findings-queue",
    f"https://us-east-1.queue.amazonaws.com/{ACCOUNT}/findings-queue",  # the legacy URL
    f"arn:aws:events:us-east-1:{ACCOUNT}:rule/auditor-bus/any-rule",  # a rule on its bus
    f"arn:aws:events:us-east-1:{ACCOUNT}:rule/iam-route",
    f"arn:aws:ssm:us-east-1:{ACCOUNT}:parameter/security/policy",
    "/identity-auditor/policy", "identity-auditor/policy",
    f"arn:aws:appconfig:us-east-1:{ACCOUNT}:application/abc1234/configurationprofile/xyz9876",
    f"arn:aws:appconfig:eu-west-1:{ACCOUNT}:application/dedic01/configurationprofile/any0001",  # its application
])
def test_exact_entries_own_their_resource_and_what_it_contains(identifier):
    assert EXACT.owns(identifier)


@pytest.mark.parametrize("identifier", [
    # An exact ARN holds only in its account and Region: a bare name or partial ARN does not match it (the rule
    # completes them into ARNs with the record's account and Region first).
    "evaluator", f"{ACCOUNT}:function:evaluator", "/security/policy",
    "arn:aws:lambda:us-east-1:999999999999:function:evaluator",  # same name, other account
    f"arn:aws:lambda:eu-west-1:{ACCOUNT}:function:evaluator",  # other Region
    "https://sqs.us-east-1.amazonaws.com/999999999999/findings-queue",
    f"arn:aws:sns:us-east-1:{ACCOUNT}:findings-2",
    f"arn:aws:events:us-east-1:{ACCOUNT}:rule/iam-route-2",
    f"arn:aws:events:us-east-1:{ACCOUNT}:rule/other-bus/iam-route",  # same name on another bus
    "/security/policy-2", "/identity-auditor",
    f"arn:aws:appconfig:us-east-1:{ACCOUNT}:application/abc1234/configurationprofile/other01",  # another profile
    f"arn:aws:appconfig:us-east-1:{ACCOUNT}:application/abc1234",  # the application is more than the profile
])
def test_exact_entries_own_nothing_else(identifier):
    assert not EXACT.owns(identifier)


def test_empty_resources_own_nothing_and_are_not_known():
    empty = AuditorResources()
    assert not empty.known
    assert not empty.owns("identity-auditor-cloudtrail-evaluator")
    assert not AuditorResources(name_prefixes=("",)).owns("anything")  # an empty prefix is no prefix
    assert not AuditorResources(name_prefixes=("",)).known
    assert STACK.known and EXACT.known


def test_collections_are_frozen_so_the_context_stays_hashable():
    resources = AuditorResources(arns={"arn:aws:sns:us-east-1:1:t"}, names=["n"], name_prefixes=["p-"],
                                 deployers=["arn:aws:iam::*:role/deploy"])
    assert isinstance(resources.arns, frozenset) and isinstance(resources.names, frozenset)
    assert resources.name_prefixes == ("p-",) and resources.deployers == ("arn:aws:iam::*:role/deploy",)
    assert hash(resources) == hash(AuditorResources(arns=frozenset({"arn:aws:sns:us-east-1:1:t"}), names=frozenset({"n"}),
                                                    name_prefixes=("p-",), deployers=("arn:aws:iam::*:role/deploy",)))
    assert resources.owns("arn:aws:sns:us-east-1:1:t:sub-id") and resources.owns("n") and resources.owns("p-x")


def test_deployers_decide_who_deploys_and_anyone_does_when_none_are_listed():
    session = f"arn:aws:sts::{ACCOUNT}:assumed-role/cfn-deploy-role/AWSCloudFormation"
    role = f"arn:aws:iam::{ACCOUNT}:role/cfn-deploy-role"
    assert STACK.deploys(session, role)  # no deployers listed: any CloudFormation call is the stack's
    listed = AuditorResources(deployers=("arn:aws:iam::*:role/cfn-deploy-role",))
    assert listed.deploys(session, role)
    assert listed.deploys(None, role)
    assert not listed.deploys(f"arn:aws:iam::{ACCOUNT}:user/bert-jan")
    assert not listed.deploys()


@pytest.mark.parametrize(("url", "arn"), [
    (f"https://sqs.us-east-1.amazonaws.com/{ACCOUNT}/q", f"arn:aws:sqs:us-east-1:{ACCOUNT}:q"),
    (f"https://sqs.eu-west-1.amazonaws.com/{ACCOUNT}/q.fifo", f"arn:aws:sqs:eu-west-1:{ACCOUNT}:q.fifo"),
    (f"https://eu-west-1.queue.amazonaws.com/{ACCOUNT}/q", f"arn:aws:sqs:eu-west-1:{ACCOUNT}:q"),
    (f"https://queue.amazonaws.com/{ACCOUNT}/q", f"arn:aws:sqs:us-east-1:{ACCOUNT}:q"),
    (f"https://sqs.cn-north-1.amazonaws.com.cn/{ACCOUNT}/q", f"arn:aws-cn:sqs:cn-north-1:{ACCOUNT}:q"),
    (f"https://sqs.us-gov-west-1.amazonaws.com/{ACCOUNT}/q", f"arn:aws-us-gov:sqs:us-gov-west-1:{ACCOUNT}:q"),
    ("https://sqs.us-east-1.amazonaws.com/q", None), ("not a url", None), (None, None), ("", None),
])
def test_queue_arn_from_its_url(url, arn):
    assert queue_arn(url) == arn


def test_the_deployment_counts_its_two_kms_keys_among_its_own_resources():
    from identity_auditor.delivery.settings import Settings

    mac = "arn:aws:kms:us-east-1:123456789012:key/3c8f1e2a-7b4d-4e9f-a1c6-5d2e8f0b7a93"
    data = "arn:aws:kms:us-east-1:123456789012:key/0f9e8d7c-6b5a-4f3e-9d2c-1b0a9f8e7d6c"
    settings = Settings.from_env({"AUDITOR_STACK_NAME": "identity-auditor", "FINDINGS_MAC_KEY_ARN": mac,
                                  "AUDITOR_KEY_ARN": data})
    resources = settings.auditor_resources
    assert resources.owns(mac) and resources.owns(data)
    assert not resources.owns("arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555")
