"""iam_user_created: the real invictus CreateUser records, break-glass users, failures, CloudFormation."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from identity_auditor.model.cloudtrail import CloudTrailRecord
from identity_auditor.model.contract import Context
from identity_auditor.model.policy import OrgPolicy
from identity_auditor.rules import iam_user_created as rule
from support import changed, corpus_record, corpus_records, load_sample, rule_findings, run_rule

NOW = datetime(2026, 11, 22, tzinfo=timezone.utc)
PRODUCT_ARN = "arn:aws:securityhub:us-east-1:123456789012:product/123456789012/default"
CREATE = corpus_record("invictus", "CreateUser", eventID="648d0a9c-6d07-4c99-bd4e-9a27b3ad45d2")
INVICTUS_CREATES = [r for r in corpus_records("invictus") if r["eventName"] == "CreateUser"]
VIA_CLOUDFORMATION = load_sample("iam_create_user_via_cloudformation__constructed")["detail"]


def _asff(raw: dict, policy: OrgPolicy | None = None) -> list:
    """This rule's findings through the engine, each checked as strict ASFF."""
    return rule_findings(rule, raw, policy)


def _with(raw: dict, policy: OrgPolicy):
    return rule.evaluate(CloudTrailRecord.model_validate(raw), Context(now=NOW, policy=policy))


def test_flags_real_create_user():
    violation = run_rule(rule, CREATE)
    assert violation.severity is None  # the rule's MEDIUM
    assert violation.resource_id == "arn:aws:iam::123837392027:user/stratus-red-team-backdoor-u-user"
    assert violation.details == {"UserName": "stratus-red-team-backdoor-u-user", "Path": "/"}
    assert "bert-jan created IAM user stratus-red-team-backdoor-u-user" in violation.description


@pytest.mark.parametrize("record", INVICTUS_CREATES, ids=lambda r: r["requestParameters"]["userName"])
def test_every_invictus_create_user_is_a_valid_medium_finding(record):
    [finding] = _asff(record)
    assert (finding.severity.value, finding.resource_type) == ("MEDIUM", "AwsIamUser")


def test_break_glass_users_by_name_or_path_are_not_findings():
    named = changed(CREATE, requestParameters={"userName": "breakglass-01", "path": "/"}, responseElements=None)
    assert _with(named, OrgPolicy(break_glass_users=("breakglass-*",))) is None
    pathed = changed(CREATE, requestParameters={"userName": "emergency", "path": "/break-glass/"},
                     responseElements=None)
    assert _with(pathed, OrgPolicy(break_glass_users=("/break-glass/*",))) is None
    assert _with(CREATE, OrgPolicy(break_glass_users=("breakglass-*", "/break-glass/*"))) is not None


def test_path_defaults_to_slash_and_shapes_the_arn():
    bare = changed(CREATE, requestParameters={"userName": "malicious-iam-user"}, responseElements=None)
    assert run_rule(rule, bare).resource_id == "arn:aws:iam::123837392027:user/malicious-iam-user"
    pathed = changed(bare, requestParameters={"userName": "svc", "path": "/apps/"})
    assert run_rule(rule, pathed).resource_id == "arn:aws:iam::123837392027:user/apps/svc"


def test_ignores_failed_call():
    failed = changed(CREATE, errorCode="EntityAlreadyExistsException", responseElements=None,
                     errorMessage="User with name stratus-red-team-backdoor-u-user already exists.")
    assert run_rule(rule, failed) is None


def test_cloudformation_invoked_create_is_still_a_finding_unless_the_caller_is_allow_listed():
    assert VIA_CLOUDFORMATION["userIdentity"]["invokedBy"] == "cloudformation.amazonaws.com"
    [finding] = _asff(VIA_CLOUDFORMATION)
    assert finding.resource_id == "arn:aws:iam::123837392027:user/app-reporting-user"
    pipeline = OrgPolicy(allow={rule.META.id: ("arn:aws:iam::*:role/cfn-deploy-role",)})
    assert _asff(VIA_CLOUDFORMATION, pipeline) == []
    assert len(_asff(CREATE, pipeline)) == 1  # bert-jan is not the pipeline
