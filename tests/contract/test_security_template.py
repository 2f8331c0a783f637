"""The auditor's own security, read from the template (design §5, issue 8 part 4).

Every check runs on template.yaml and on the template the SAM transform makes of it (what CloudFormation
deploys, with SAM-generated roles, queues and event-invoke configs; made offline by
scripts/sam_transform.py in .venv-sam). The checks go by resource type (tests/template_security.py), so a
topic, queue, table, log group, bucket, function or role added later is held to the same rules. The
negative cases below change a copy of the template and show that each check fails when it should.
"""

from __future__ import annotations

import copy
import json

import pytest
import template_security as sec
from support import load_template

RAW = load_template()


@pytest.fixture(params=["template.yaml", "sam-transformed"])
def template(request) -> dict:
    return copy.deepcopy(RAW) if request.param == "template.yaml" else json.loads(sec.transformed_template())


# -- the template as it is: every check passes ---------------------------------------------------------


def test_the_checks_have_something_to_check(template):
    """The stack has what the rest of the module checks (so a passing check is never a vacuous one)."""
    for kind in (
        "AWS::KMS::Key",
        "AWS::SNS::Topic",
        "AWS::SNS::TopicPolicy",
        "AWS::SQS::Queue",
        "AWS::SQS::QueuePolicy",
        "AWS::DynamoDB::Table",
        "AWS::Logs::LogGroup",
        "AWS::S3::Bucket",
        "AWS::IAM::Role",
    ):
        assert sec.of_type(template, kind), f"no {kind} in the template"
    services = {service for per_key in sec.required_key_services(template).values() for service in per_key}
    assert {"logs", "cloudwatch.amazonaws.com", "events.amazonaws.com"} <= services


def test_every_topic_is_encrypted_with_the_auditors_key(template):
    assert not sec.topic_encryption_problems(template)


def test_every_queue_is_encrypted_with_the_auditors_key(template):
    assert not sec.queue_encryption_problems(template)


def test_every_table_is_encrypted_with_the_auditors_key(template):
    assert not sec.table_encryption_problems(template)


def test_every_log_group_is_encrypted_or_says_why_not(template):
    assert not sec.log_group_problems(template)


def test_every_bucket_is_kms_encrypted_and_blocks_public_access(template):
    assert not sec.bucket_problems(template)


def test_every_function_environment_is_encrypted_with_a_key_its_role_can_use(template):
    assert not sec.function_environment_problems(template)


@pytest.mark.parametrize("resource_type", sorted(sec.POLICIES))
def test_resource_policies_deny_plain_http_and_admit_only_the_auditor(template, resource_type):
    assert not sec.resource_policy_problems(template, resource_type)


def test_topic_policies_name_every_publishing_role(template):
    assert not sec.topic_publisher_listing_problems(template)


def test_key_policy_lets_exactly_the_services_that_use_the_key_in_with_conditions(template):
    assert not sec.key_policy_problems(template)


def test_roles_that_write_or_read_encrypted_topics_and_queues_can_use_the_key(template):
    assert not sec.role_key_problems(template)


def test_lambda_destinations_are_writable_by_the_functions_role(template):
    assert not sec.destination_problems(template)


# -- negative cases: each check fails on a template that breaks its rule -------------------------------


def _first(template: dict, kind: str) -> dict:
    return next(iter(sec.of_type(template, kind).values()))


def _add(template: dict, name: str, kind: str, properties: dict, **extra) -> None:
    template["Resources"][name] = {"Type": kind, "Properties": properties, **extra}


def _key() -> dict:
    return {"Fn::GetAtt": [next(iter(sec.of_type(RAW, "AWS::KMS::Key"))), "Arn"]}


def _statements_of(template: dict, kind: str) -> list:
    return props_of(_first(template, kind))["PolicyDocument"]["Statement"]


def props_of(resource: dict) -> dict:
    return resource["Properties"]


def _key_statements(template: dict) -> list:
    return props_of(_first(template, "AWS::KMS::Key"))["KeyPolicy"]["Statement"]


def _without_service(template: dict, prefix: str) -> None:
    for statement in _key_statements(template):
        if not isinstance(statement.get("Principal"), dict) or "Service" not in statement["Principal"]:
            continue
        services = [s for s in sec.listed(statement["Principal"]["Service"]) if prefix not in json.dumps(s)]
        statement["Principal"]["Service"] = services or "none.example.com"


def _open_allow(**principal_and_condition) -> dict:
    return {
        "Sid": "Injected",
        "Effect": "Allow",
        "Action": ["sns:Publish", "sqs:SendMessage"],
        "Resource": "*",
        **principal_and_condition,
    }


MUTATIONS = {
    # name: (change to a copy of template.yaml, check that must then report a problem)
    "topic-without-key": (
        lambda t: _add(t, "PlainTopic", "AWS::SNS::Topic", {}),
        sec.topic_encryption_problems,
    ),
    "topic-with-aws-managed-key": (
        lambda t: _add(t, "AwsKeyTopic", "AWS::SNS::Topic", {"KmsMasterKeyId": "alias/aws/sns"}),
        sec.topic_encryption_problems,
    ),
    "queue-with-sse-sqs-only": (
        lambda t: _add(t, "SseSqsQueue", "AWS::SQS::Queue", {"SqsManagedSseEnabled": True}),
        sec.queue_encryption_problems,
    ),
    "queue-with-the-key-in-one-branch-only": (
        lambda t: _add(
            t,
            "SometimesQueue",
            "AWS::SQS::Queue",
            {
                "KmsMasterKeyId": {
                    "Fn::If": ["IsSecurityHubEnabled", {"Ref": "AuditorKey"}, {"Ref": "AWS::NoValue"}]
                }
            },
        ),
        sec.queue_encryption_problems,
    ),
    "table-with-aws-owned-key": (
        lambda t: props_of(_first(t, "AWS::DynamoDB::Table")).update(SSESpecification={"SSEEnabled": False}),
        sec.table_encryption_problems,
    ),
    "table-with-aws-managed-kms-key": (
        lambda t: props_of(_first(t, "AWS::DynamoDB::Table")).update(
            SSESpecification={"SSEEnabled": True, "SSEType": "KMS"}
        ),
        sec.table_encryption_problems,
    ),
    "log-group-without-key": (
        lambda t: props_of(_first(t, "AWS::Logs::LogGroup")).pop("KmsKeyId"),
        sec.log_group_problems,
    ),
    "log-group-skip-without-reason": (
        lambda t: _add(
            t,
            "PlainLogGroup",
            "AWS::Logs::LogGroup",
            {},
            Metadata={"checkov": {"skip": [{"id": "CKV_AWS_158", "comment": " "}]}},
        ),
        sec.log_group_problems,
    ),
    "bucket-with-sse-s3": (
        lambda t: _add(
            t,
            "SseS3Bucket",
            "AWS::S3::Bucket",
            {
                "BucketEncryption": {
                    "ServerSideEncryptionConfiguration": [
                        {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
                    ]
                }
            },
        ),
        sec.bucket_problems,
    ),
    "bucket-without-public-access-block": (
        lambda t: props_of(_first(t, "AWS::S3::Bucket")).pop("PublicAccessBlockConfiguration"),
        sec.bucket_problems,
    ),
    "bucket-without-policy": (
        lambda t: [t["Resources"].pop(n) for n in list(sec.of_type(t, "AWS::S3::BucketPolicy"))],
        lambda t: sec.resource_policy_problems(t, "AWS::S3::Bucket"),
    ),
    "function-environment-without-key": (
        lambda t: t["Globals"]["Function"].pop("KmsKeyArn"),
        sec.function_environment_problems,
    ),
    "topic-without-policy": (
        lambda t: _add(t, "UnguardedTopic", "AWS::SNS::Topic", {"KmsMasterKeyId": {"Ref": "AuditorKey"}}),
        lambda t: sec.resource_policy_problems(t, "AWS::SNS::Topic"),
    ),
    "topic-policy-without-tls-deny": (
        lambda t: _statements_of(t, "AWS::SNS::TopicPolicy").__setitem__(
            slice(None), [s for s in _statements_of(t, "AWS::SNS::TopicPolicy") if s["Effect"] != "Deny"]
        ),
        lambda t: sec.resource_policy_problems(t, "AWS::SNS::Topic"),
    ),
    "topic-policy-allows-anyone": (
        lambda t: _statements_of(t, "AWS::SNS::TopicPolicy").append(_open_allow(Principal="*")),
        lambda t: sec.resource_policy_problems(t, "AWS::SNS::Topic"),
    ),
    "topic-policy-allows-the-whole-account": (
        lambda t: _statements_of(t, "AWS::SNS::TopicPolicy").append(
            _open_allow(Principal={"AWS": {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"}})
        ),
        lambda t: sec.resource_policy_problems(t, "AWS::SNS::Topic"),
    ),
    "topic-policy-allows-a-service-for-any-account": (
        lambda t: _statements_of(t, "AWS::SNS::TopicPolicy").append(
            _open_allow(Principal={"Service": "events.amazonaws.com"})
        ),
        lambda t: sec.resource_policy_problems(t, "AWS::SNS::Topic"),
    ),
    "topic-policy-omits-a-publishing-role": (
        lambda t: _add(
            t,
            "ExtraPublisherRole",
            "AWS::IAM::Role",
            {
                "Policies": [
                    {
                        "PolicyName": "p",
                        "PolicyDocument": {
                            "Statement": [
                                {
                                    "Effect": "Allow",
                                    "Action": "sns:Publish",
                                    "Resource": {"Ref": "FindingsTopic"},
                                }
                            ]
                        },
                    }
                ]
            },
        ),
        sec.topic_publisher_listing_problems,
    ),
    "queue-policy-allows-another-account": (
        lambda t: _statements_of(t, "AWS::SQS::QueuePolicy").append(
            _open_allow(Principal={"AWS": "arn:aws:iam::111122223333:root"})
        ),
        lambda t: sec.resource_policy_problems(t, "AWS::SQS::Queue"),
    ),
    "queue-policy-allows-anyone-of-any-account": (
        lambda t: _statements_of(t, "AWS::SQS::QueuePolicy").append(
            _open_allow(Principal="*", Condition={"StringEquals": {"aws:SourceAccount": "111122223333"}})
        ),
        lambda t: sec.resource_policy_problems(t, "AWS::SQS::Queue"),
    ),
    "key-policy-without-logs": (lambda t: _without_service(t, "logs."), sec.key_policy_problems),
    "key-policy-without-events": (lambda t: _without_service(t, "events."), sec.key_policy_problems),
    "key-policy-without-cloudwatch": (lambda t: _without_service(t, "cloudwatch."), sec.key_policy_problems),
    "key-policy-service-without-condition": (
        lambda t: [s.pop("Condition", None) for s in _key_statements(t)],
        sec.key_policy_problems,
    ),
    "key-policy-open-to-everyone": (
        lambda t: _key_statements(t).append(
            {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "kms:Decrypt", "Resource": "*"}
        ),
        sec.key_policy_problems,
    ),
    "log-group-outside-the-key-policys-log-groups": (
        lambda t: _add(
            t, "OtherLogGroup", "AWS::Logs::LogGroup", {"LogGroupName": "/other/app", "KmsKeyId": _key()}
        ),
        sec.key_policy_problems,
    ),
    "encrypted-queue-subscribed-but-sns-may-not-use-the-key": (
        lambda t: (
            _without_service(t, "sns."),
            _add(
                t,
                "AlertQueueSubscription",
                "AWS::SNS::Subscription",
                {
                    "Protocol": "sqs",
                    "TopicArn": {"Ref": "FindingsTopic"},
                    "Endpoint": {"Fn::GetAtt": [next(iter(sec.of_type(t, "AWS::SQS::Queue"))), "Arn"]},
                },
            ),
        ),
        sec.key_policy_problems,
    ),
    "role-sends-to-encrypted-queue-without-the-key": (
        lambda t: _add(
            t,
            "KeylessSenderRole",
            "AWS::IAM::Role",
            {
                "Policies": [
                    {
                        "PolicyName": "p",
                        "PolicyDocument": {
                            "Statement": [
                                {
                                    "Effect": "Allow",
                                    "Action": "sqs:SendMessage",
                                    "Resource": {
                                        "Fn::GetAtt": [next(iter(sec.of_type(t, "AWS::SQS::Queue"))), "Arn"]
                                    },
                                }
                            ]
                        },
                    }
                ]
            },
        ),
        sec.role_key_problems,
    ),
    "function-destination-its-role-cannot-write": (
        lambda t: (
            _add(t, "KeylessRole", "AWS::IAM::Role", {}),
            _add(
                t,
                "KeylessFunction",
                "AWS::Serverless::Function",
                {
                    "Role": {"Fn::GetAtt": ["KeylessRole", "Arn"]},
                    "EventInvokeConfig": {
                        "DestinationConfig": {
                            "OnFailure": {
                                "Type": "SQS",
                                "Destination": {
                                    "Fn::GetAtt": [next(iter(sec.of_type(t, "AWS::SQS::Queue"))), "Arn"]
                                },
                            }
                        }
                    },
                },
            ),
        ),
        sec.destination_problems,
    ),
}


@pytest.mark.parametrize("name", sorted(MUTATIONS))
def test_each_check_fails_on_a_template_that_breaks_its_rule(name):
    mutate, check = MUTATIONS[name]
    template = copy.deepcopy(RAW)
    assert not check(template), "the unchanged template must pass first"
    mutate(template)
    assert check(template), f"{check.__name__} accepted a template with {name}"


def test_a_log_group_may_stay_unencrypted_with_a_written_reason():
    template = copy.deepcopy(RAW)
    _add(
        template,
        "ReasonedLogGroup",
        "AWS::Logs::LogGroup",
        {},
        Metadata={"checkov": {"skip": [{"id": "CKV_AWS_158", "comment": "holds only AWS-published data"}]}},
    )
    assert not sec.log_group_problems(template)


def test_a_service_or_star_restricted_to_this_account_is_admitted():
    template = copy.deepcopy(RAW)
    _statements_of(template, "AWS::SQS::QueuePolicy").append(
        _open_allow(
            Principal="*", Condition={"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}
        )
    )
    assert not sec.resource_policy_problems(template, "AWS::SQS::Queue")


def test_the_transformed_template_catches_what_sam_generates(tmp_path):
    """A queue that SAM makes (an OnFailure destination without a Destination) exists only after the
    transform: unencrypted there, and invisible in template.yaml."""
    template = copy.deepcopy(RAW)
    template["Resources"]["GeneratedDestinationFunction"] = {
        "Type": "AWS::Serverless::Function",
        "Properties": {
            "CodeUri": "functions/cloudtrail_evaluator/",
            "Handler": "app.handler",
            "Role": {"Fn::GetAtt": ["CloudTrailEvaluatorRole", "Arn"]},
            "EventInvokeConfig": {"DestinationConfig": {"OnFailure": {"Type": "SQS"}}},
        },
    }
    path = tmp_path / "template.json"
    path.write_text(json.dumps(template))
    assert not sec.queue_encryption_problems(template)
    problems = sec.queue_encryption_problems(sec.sam_transformed(path))
    assert problems and all("GeneratedDestinationFunction" in problem for problem in problems), problems
