"""iam_oidc_provider_changed: every OIDC provider change, through CloudFormation too, never failures."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from asff_validator import assert_valid_asff
from identity_auditor.engine.events import Engine
from identity_auditor.engine.registry import Registry, Rule
from identity_auditor.model.cloudtrail import CloudTrailRecord
from identity_auditor.model.contract import Context
from identity_auditor.model.policy import OrgPolicy
from identity_auditor.rules import iam_oidc_provider_changed as rule
from identity_auditor.rules import root_account_used
from identity_auditor.sinks.asff import to_asff
from support import changed, corpus_record, load_sample, run_rule

NOW = datetime(2026, 11, 22, tzinfo=timezone.utc)
PRODUCT_ARN = "arn:aws:securityhub:us-east-1:123456789012:product/123456789012/default"
GITHUB = "token.actions.githubusercontent.com"
GITHUB_ARN = f"arn:aws:iam::123837392027:oidc-provider/{GITHUB}"
# A real IAM write by bert-jan (invictus), re-shaped to the documented OIDC provider requests.
BERT = corpus_record("invictus", "CreateLoginProfile", eventID="f0d7bb15-75c8-4770-a500-92d1f71b948c")
CREATE = changed(BERT, eventName="CreateOpenIDConnectProvider",
                 requestParameters={"url": f"https://{GITHUB}", "clientIDList": ["sts.amazonaws.com"],
                                    "thumbprintList": ["6938fd4d98bab03faadb97b34396831e3780aea1"]},
                 responseElements={"openIDConnectProviderArn": GITHUB_ARN})
BY_ARN = {
    "DeleteOpenIDConnectProvider": {"openIDConnectProviderArn": GITHUB_ARN},
    "UpdateOpenIDConnectProviderThumbprint": {"openIDConnectProviderArn": GITHUB_ARN,
                                              "thumbprintList": ["1c58a3a8518e8759bf075b76b750d4f2df264fcd"]},
    "AddClientIDToOpenIDConnectProvider": {"openIDConnectProviderArn": GITHUB_ARN, "clientID": "attacker-audience"},
    "RemoveClientIDFromOpenIDConnectProvider": {"openIDConnectProviderArn": GITHUB_ARN, "clientID": "sts.amazonaws.com"},
}
ROOT_VIA_CLOUDFORMATION = load_sample("iam_create_open_id_connect_provider_root_via_cloudformation__constructed")["detail"]


def _asff(raw: dict, policy: OrgPolicy | None = None, *modules) -> list:
    ctx = Context(now=NOW, policy=policy or OrgPolicy())
    registry = Registry([Rule(m.META, m.evaluate) for m in (rule, *modules)])
    result = Engine(registry).evaluate(CloudTrailRecord.model_validate(raw), ctx)
    assert result.failures == []
    for finding in result.findings:
        assert_valid_asff(to_asff(finding, product_arn=PRODUCT_ARN, updated_at=NOW))
    return result.findings


def test_flags_a_new_provider_with_its_url_arn_and_audiences():
    violation = run_rule(rule, CREATE)
    assert violation.severity is None  # the rule's HIGH
    assert violation.resource_id == GITHUB_ARN
    assert violation.details == {"ProviderUrl": f"https://{GITHUB}", "ProviderArn": GITHUB_ARN,
                                 "ClientIds": "sts.amazonaws.com",
                                 "Thumbprints": "6938fd4d98bab03faadb97b34396831e3780aea1"}
    assert f"bert-jan created the OIDC identity provider https://{GITHUB} (client ids: sts.amazonaws.com)" \
        in violation.description
    [finding] = _asff(CREATE)
    assert (finding.severity.value, finding.resource_type) == ("HIGH", "Other")


@pytest.mark.parametrize("event_name", sorted(BY_ARN))
def test_every_change_by_arn_is_flagged_and_names_the_provider(event_name):
    record = changed(CREATE, eventName=event_name, requestParameters=BY_ARN[event_name], responseElements=None)
    violation = run_rule(rule, record)
    assert violation.resource_id == GITHUB_ARN
    assert violation.details["ProviderUrl"] == f"https://{GITHUB}"  # derived from the ARN
    if "clientID" in BY_ARN[event_name]:
        assert violation.details["ClientIds"] == BY_ARN[event_name]["clientID"]
    _asff(record)


def test_arn_is_derived_from_the_url_when_the_response_is_missing():
    assert run_rule(rule, changed(CREATE, responseElements=None)).resource_id == GITHUB_ARN


def test_ignores_failed_calls():
    failed = changed(CREATE, errorCode="EntityAlreadyExistsException", responseElements=None,
                     errorMessage=f"Provider with url https://{GITHUB} already exists.")
    assert run_rule(rule, failed) is None


def test_root_through_cloudformation_changes_a_provider_but_is_not_root_use():
    assert ROOT_VIA_CLOUDFORMATION["userIdentity"]["invokedBy"] == "cloudformation.amazonaws.com"
    findings = _asff(ROOT_VIA_CLOUDFORMATION, None, root_account_used)
    assert [(f.rule_id, f.severity.value) for f in findings] == [("iam_oidc_provider_changed", "HIGH")]


def test_allow_listed_pipeline_is_skipped():
    pipeline = {"type": "AssumedRole", "accountId": "123837392027",
                "arn": "arn:aws:sts::123837392027:assumed-role/platform-pipeline/eks-bootstrap",
                "sessionContext": {"sessionIssuer": {"type": "Role", "userName": "platform-pipeline",
                                                     "arn": "arn:aws:iam::123837392027:role/platform-pipeline"}}}
    record = changed(CREATE, userIdentity=pipeline)
    assert len(_asff(record)) == 1
    assert _asff(record, OrgPolicy(allow={rule.META.id: ("arn:aws:iam::*:role/platform-pipeline",)})) == []
