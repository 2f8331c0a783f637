"""sts_root_session_assumed: every successful AssumeRoot, severity by task policy."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from asff_validator import assert_valid_asff
from identity_auditor.engine.events import Engine
from identity_auditor.engine.registry import REGISTRY, Registry, Rule
from identity_auditor.model.cloudtrail import CloudTrailRecord
from identity_auditor.model.contract import Context
from identity_auditor.model.policy import OrgPolicy
from identity_auditor.rules import sts_root_session_assumed as rule
from identity_auditor.sinks.asff import to_asff
from support import changed, load_sample, run_rule

NOW = datetime(2026, 11, 22, tzinfo=timezone.utc)
PRODUCT_ARN = "arn:aws:securityhub:us-east-1:123456789012:product/123456789012/default"
SAMPLES = {
    "IAMCreateRootUserPassword": ("sts_assume_root_iam_create_root_user_password__constructed", "HIGH"),
    "IAMDeleteRootUserCredentials": ("sts_assume_root_iam_delete_root_user_credentials__constructed", "MEDIUM"),
    "S3UnlockBucketPolicy": ("sts_assume_root_s3_unlock_bucket_policy__constructed", "MEDIUM"),
    "SQSUnlockQueuePolicy": ("sts_assume_root_sqs_unlock_queue_policy__constructed", "MEDIUM"),
    "IAMAuditRootUserCredentials": ("sts_assume_root_iam_audit_root_user_credentials__constructed", "LOW"),
}
S3_UNLOCK = load_sample(SAMPLES["S3UnlockBucketPolicy"][0])["detail"]
FAILED = load_sample("sts_assume_root_failed__constructed")["detail"]


def _asff(raw: dict, policy: OrgPolicy | None = None, registry: Registry | None = None) -> list:
    result = Engine(registry or Registry([Rule(rule.META, rule.evaluate)])).evaluate(
        CloudTrailRecord.model_validate(raw), Context(now=NOW, policy=policy or OrgPolicy()))
    assert result.failures == []
    for finding in result.findings:
        assert_valid_asff(to_asff(finding, product_arn=PRODUCT_ARN, updated_at=NOW))
    return result.findings


def _severity(violation) -> str:
    return (violation.severity or rule.META.severity).value


def _with_task(value) -> dict:
    return changed(S3_UNLOCK, requestParameters={"targetPrincipal": "222222222222", "taskPolicyArn": value})


@pytest.mark.parametrize("task", sorted(SAMPLES))
def test_each_task_policy_has_its_severity(task):
    name, severity = SAMPLES[task]
    raw = load_sample(name)["detail"]
    violation = run_rule(rule, raw)
    assert violation.details["TaskPolicy"] == task
    assert violation.details["TaskPolicyArn"] == f"arn:aws:iam::aws:policy/root-task/{task}"
    [finding] = _asff(raw)
    assert finding.severity.value == severity
    assert finding.resource_type == "AwsAccount" and finding.resource_id == "AWS::::Account:222222222222"


def test_finding_names_the_target_account_task_and_session_key():
    violation = run_rule(rule, S3_UNLOCK)
    assert violation.description == (
        "JohnDoe/JohnRole1 (account 111111111111) assumed the root user of member account 222222222222 with "
        "task policy S3UnlockBucketPolicy: the session can read, change or delete an S3 bucket policy (to unlock a "
        "bucket that denies everyone).")
    assert violation.details["TargetAccount"] == "222222222222"
    assert "TargetPrincipal" not in violation.details  # an account id: nothing more to say
    assert violation.details["IssuedAccessKeyId"] == "ASIAIOSFODNN7EXAMPL3"


def test_target_given_as_a_principal_arn_names_its_account():
    record = changed(S3_UNLOCK, requestParameters={**S3_UNLOCK["requestParameters"],
                                                   "targetPrincipal": "arn:aws:iam::333333333333:root"})
    violation = run_rule(rule, record)
    assert violation.resource_id == "AWS::::Account:333333333333"
    assert violation.details["TargetPrincipal"] == "arn:aws:iam::333333333333:root"


def test_task_policy_as_a_bare_arn_string_is_read_too():
    violation = run_rule(rule, _with_task("arn:aws:iam::aws:policy/root-task/IAMCreateRootUserPassword"))
    assert _severity(violation) == "HIGH" and violation.details["TaskPolicy"] == "IAMCreateRootUserPassword"


@pytest.mark.parametrize("value", [{"arn": "arn:aws:iam::aws:policy/root-task/IAMSomethingNew"},
                                   "arn:aws:iam::aws:policy/AdministratorAccess"], ids=["new-task", "not-a-task"])
def test_unknown_task_policy_is_high(value):
    violation = run_rule(rule, _with_task(value))
    assert _severity(violation) == "HIGH"
    assert "a task this rule does not know" in violation.description


@pytest.mark.parametrize("request_parameters", [None, {}, {"targetPrincipal": "222222222222"},
                                                {"taskPolicyArn": {}}], ids=["absent", "empty", "no-task", "task-no-arn"])
def test_missing_parameters_give_a_high_finding_without_crashing(request_parameters):
    record = changed(S3_UNLOCK, requestParameters=request_parameters)  # None: the field is absent
    violation = run_rule(rule, record)
    assert _severity(violation) == "HIGH"
    assert "task policy (not in the record)" in violation.description
    _asff(record)


def test_missing_target_names_an_unknown_account():
    record = changed(S3_UNLOCK, requestParameters={"taskPolicyArn": S3_UNLOCK["requestParameters"]["taskPolicyArn"]})
    violation = run_rule(rule, record)
    assert violation.resource_id == "AWS::::Account:unknown" and "member account (unknown)" in violation.description


def test_ignores_failed_calls_and_identity_center():
    assert FAILED["errorCode"] == "AccessDenied"
    assert run_rule(rule, FAILED) is None
    assert run_rule(rule, changed(S3_UNLOCK, sourceIPAddress="sso.amazonaws.com")) is None


def test_allow_listed_caller_is_skipped():
    assert len(_asff(S3_UNLOCK)) == 1
    policy = OrgPolicy(allow={rule.META.id: ("arn:aws:iam::111111111111:role/JohnDoe",)})  # the session's role
    assert _asff(S3_UNLOCK, policy) == []


def test_only_this_rule_fires_on_the_caller_record_which_carries_the_assumed_root_flag():
    # AWS's example flags the caller's AssumedRole record with assumedRoot: it is no root use.
    assert S3_UNLOCK["userIdentity"]["sessionContext"]["assumedRoot"] == "true"
    findings = _asff(S3_UNLOCK, registry=REGISTRY)
    assert [(f.rule_id, f.severity.value) for f in findings] == [("sts_root_session_assumed", "MEDIUM")]


def test_route_admits_read_only_events_in_every_region():
    [route] = Registry([Rule(rule.META, rule.evaluate)]).routes()
    assert route.all_management_events and route.scope == "regional"
    assert route.pattern["detail"] == {"eventSource": ["sts.amazonaws.com"], "eventName": ["AssumeRoot"]}
