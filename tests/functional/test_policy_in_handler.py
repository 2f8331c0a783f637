"""The deployed path of the organisation policy: a document in SSM Parameter Store (moto) read by the
real handler. A pipeline role allow-listed for permission-set changes pages no one, a person does;
a suppressed finding reaches Security Hub as SUPPRESSED and pages no one; a bad document fails the
cold start naming the key."""

from __future__ import annotations

import copy
from datetime import date

import boto3
import pytest
from identity_auditor.policy.document import PolicyError
from support import ROOT, load_handler_module, load_sample

PARAMETER = "/identity-auditor/policy"
ATTACH_ADMIN = "sso_attach_managed_policy_to_permission_set_administrator_access__constructed.json"
PIPELINE_ROLE = "arn:aws:iam::111122223333:role/identity-center-terraform-pipeline"


def by_pipeline(event: dict) -> dict:
    event = copy.deepcopy(event)
    identity = event["detail"]["userIdentity"]
    identity["arn"] = "arn:aws:sts::111122223333:assumed-role/identity-center-terraform-pipeline/terraform-run-8812"
    identity["sessionContext"]["sessionIssuer"].update(arn=PIPELINE_ROLE, userName="identity-center-terraform-pipeline")
    event["detail"]["eventID"] = "5d0c9a57-1f7e-4a8e-9b1c-6f2e4d3a8b90"  # another event
    return event


@pytest.fixture
def with_policy(account, monkeypatch):
    from aws_lambda_powertools.utilities import parameters

    parameters.clear_caches()  # each test is a new deployment: nothing fetched before counts

    def publish(text: str):
        boto3.client("ssm", region_name="us-east-1").put_parameter(Name=PARAMETER, Value=text, Type="String",
                                                                   Overwrite=True)
        monkeypatch.setenv("POLICY_SSM_PARAMETER", PARAMETER)
        return load_handler_module()

    return publish


def test_allow_listed_pipeline_pages_no_one_and_a_person_does(with_policy, account, lambda_context):
    module = with_policy((ROOT / "examples" / "policy.example.yaml").read_text())
    person = load_sample(ATTACH_ADMIN)
    assert module.handler(by_pipeline(person), lambda_context)["findings"] == []
    assert account.alerts() == []
    assert len(module.handler(person, lambda_context)["findings"]) == 1
    assert [alert["MessageAttributes"]["rule_id"]["Value"] for alert in account.alerts()] == [
        "sso_permission_set_changed"
    ]


def test_suppressed_finding_is_imported_as_suppressed_and_pages_no_one(with_policy, account, lambda_context):
    expires = date.today().replace(year=date.today().year + 1).isoformat()
    module = with_policy(
        "version: 1\nrules:\n  sso_permission_set_changed:\n    suppress:\n"
        "      - principal: 'arn:aws:sts::111122223333:assumed-role/AWSReservedSSO_AdministratorAccess_*'\n"
        f"        reason: quarterly access review\n        owner: secops@example.com\n        expires: {expires}\n"
    )
    result = module.handler(load_sample(ATTACH_ADMIN), lambda_context)
    assert len(result["findings"]) == 1
    (finding,) = account.findings()
    assert finding["Workflow"]["Status"] == "SUPPRESSED"
    assert "quarterly access review" in finding["Note"]["Text"] and expires in finding["Note"]["Text"]
    assert account.alerts() == []


def test_a_bad_policy_fails_the_cold_start_naming_the_key(with_policy):
    with pytest.raises(PolicyError, match="rules.sso_permission_set_changed.severity"):
        with_policy("version: 1\nrules:\n  sso_permission_set_changed:\n    severity: URGENT\n")
