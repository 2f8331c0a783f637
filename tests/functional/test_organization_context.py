"""What the evaluators tell the rules of the organisation, against moto's Organizations: every account of the
organisation read once an hour with ListAccounts, a refusal degrading to "could not be read" (and said in the
findings) instead of failing the event, policy types read with DescribePolicy and cached, and nothing looked up
for events whose rules do not need it."""

from __future__ import annotations

from datetime import datetime, timezone

import boto3
import pytest
from botocore.exceptions import ClientError
from identity_auditor.aws.retry import RetryPolicy
from identity_auditor.collectors import ApiCalls
from identity_auditor.collectors.organization import ACCOUNTS_TTL, REFUSAL_TTL, OrganizationReader
from identity_auditor.delivery.context import ContextBuilder
from identity_auditor.delivery.settings import Settings, SettingsError
from identity_auditor.engine.events import Engine
from identity_auditor.model.cloudtrail import CloudTrailRecord
from identity_auditor.model.policy import OrgPolicy
from moto import mock_aws
from support import corpus_record

NOW = datetime(2026, 11, 22, tzinfo=timezone.utc)
BACKDOOR = corpus_record("invictus", "UpdateAssumeRolePolicy", eventID="d96d75c7-e715-44ff-9735-9dc51afbd774")
FOREIGN = "193672423079"


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def organization():
    with mock_aws():
        client = boto3.client("organizations", region_name="us-east-1")
        org_id = client.create_organization(FeatureSet="ALL")["Organization"]["Id"]
        member = client.create_account(AccountName="workloads", Email="workloads@example.com")
        member_id = client.describe_create_account_status(
            CreateAccountRequestId=member["CreateAccountStatus"]["Id"])["CreateAccountStatus"]["AccountId"]
        scp = client.create_policy(Name="deny-leave", Description="guardrail", Type="SERVICE_CONTROL_POLICY",
                                   Content='{"Version":"2012-10-17","Statement":[{"Effect":"Deny",'
                                           '"Action":"organizations:LeaveOrganization","Resource":"*"}]}')
        tags = client.create_policy(Name="tags", Description="tag policy", Type="TAG_POLICY", Content="{}")
        yield {"client": client, "id": org_id, "member": member_id,
               "scp": scp["Policy"]["PolicySummary"]["Id"], "tag": tags["Policy"]["PolicySummary"]["Id"]}


def reader(organization, clock=None, client=None) -> OrganizationReader:
    made = []

    def factory():
        made.append(1)
        return client or organization["client"]

    result = OrganizationReader(organization["id"], factory, clock=clock or Clock(),
                                calls=ApiCalls(RetryPolicy(max_attempts=1, sleep=lambda _: None)))
    result.made = made
    return result


def test_every_account_is_read_and_cached_for_an_hour(organization):
    clock = Clock()
    org_reader = reader(organization, clock)
    first = org_reader.organization()
    assert first.readable and first.id == organization["id"]
    assert organization["member"] in first.accounts and len(first.accounts) == 2
    clock.now += ACCOUNTS_TTL - 1
    assert org_reader.organization() is first and org_reader.calls.by_operation["list_accounts"] == 1
    clock.now += 2
    org_reader.organization()
    assert org_reader.calls.by_operation["list_accounts"] == 2


class Refusing:
    def list_accounts(self, **_):
        raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": "not allowed"}}, "ListAccounts")

    def describe_policy(self, **_):
        raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": "not allowed"}}, "DescribePolicy")

    def list_policies(self, **_):
        raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": "not allowed"}}, "ListPolicies")


def test_a_refusal_is_a_problem_not_an_error_and_is_retried_after_five_minutes(organization, caplog):
    clock = Clock()
    org_reader = reader(organization, clock, client=Refusing())
    unread = org_reader.organization()
    assert not unread.readable and unread.accounts == frozenset()
    assert unread.problem == "organizations:ListAccounts failed (AccessDeniedException: not allowed)"
    assert "could not be read" in caplog.text
    clock.now += REFUSAL_TTL - 1
    org_reader.organization()
    assert org_reader.calls.total == 1
    clock.now += 2
    org_reader.organization()
    assert org_reader.calls.total == 2


def test_policy_types_are_read_cached_and_failures_left_out(organization):
    org_reader = reader(organization)
    ids = [organization["scp"], organization["tag"], "p-doesnotexist1"]
    assert org_reader.policy_types(ids) == {organization["scp"]: "SERVICE_CONTROL_POLICY",
                                            organization["tag"]: "TAG_POLICY"}
    org_reader.policy_types(ids[:2])
    # the SCP came from ListPolicies (no DescribePolicy), the tag policy and the unknown id were described once
    assert org_reader.calls.by_operation["describe_policy"] == 2
    assert org_reader.calls.by_operation["list_policies"] == 2  # one per guardrail type, once an hour
    assert reader(organization, client=Refusing()).policy_types(ids) == {}


def test_a_deleted_guardrail_is_still_known_from_the_hourly_list(organization):
    org_reader = reader(organization)
    assert org_reader.policy_types(["p-other"]) == {}  # primes the list of guardrail policies
    organization["client"].delete_policy(PolicyId=organization["scp"])
    assert org_reader.policy_types([organization["scp"]]) == {organization["scp"]: "SERVICE_CONTROL_POLICY"}


def builder(organization, **kwargs) -> ContextBuilder:
    settings = Settings(organization_id=organization["id"])
    made = []

    def factory():
        made.append(1)
        return organization["client"]

    result = ContextBuilder.from_settings(settings, client_factory=factory)
    result.made = made
    return result


def test_the_organisation_is_looked_up_only_for_events_whose_rules_read_it(organization):
    context = builder(organization)
    quiet = CloudTrailRecord.model_validate(corpus_record("invictus", "CreateLoginProfile"))
    assert context.for_record(quiet, OrgPolicy(), NOW).organization is None
    assert context.made == []  # no client, no boto3 call
    ctx = context.for_record(CloudTrailRecord.model_validate(BACKDOOR), OrgPolicy(), NOW)
    assert ctx.organization is not None and organization["member"] in ctx.organization.accounts


def test_a_role_trusted_by_an_organisation_account_is_no_finding_when_the_organisation_is_known(organization):
    member = organization["member"]
    record = CloudTrailRecord.model_validate({**BACKDOOR, "requestParameters": {
        "roleName": "deploy", "policyDocument": '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":'
        f'{{"AWS":"arn:aws:iam::{member}:root"}},"Action":"sts:AssumeRole"}}]}}'}})
    context = builder(organization)
    assert [f.rule_id for f in Engine().evaluate(record, context.for_record(record, OrgPolicy(), NOW)).findings] == []
    unknown = ContextBuilder.from_settings(Settings())
    [finding] = Engine().evaluate(record, unknown.for_record(record, OrgPolicy(), NOW)).findings
    assert finding.rule_id == "iam_role_trust_policy_unsafe" and finding.details["OutsideAccounts"] == member
    backdoor = CloudTrailRecord.model_validate(BACKDOOR)
    [finding] = Engine().evaluate(backdoor, context.for_record(backdoor, OrgPolicy(), NOW)).findings
    assert finding.details["OutsideAccounts"] == FOREIGN
    assert finding.details["ZoneOfTrust"].endswith(f"the 2 accounts of {organization['id']}")


def test_a_deployment_without_an_organisation_never_calls_organizations():
    context = ContextBuilder.from_settings(Settings(), client_factory=lambda: pytest.fail("no client expected"))
    ctx = context.for_record(CloudTrailRecord.model_validate(BACKDOOR), OrgPolicy(), NOW)
    assert ctx.organization is None and ctx.policy_types == {}


def test_organization_id_setting_is_validated():
    assert Settings.from_env({"ORGANIZATION_ID": "o-a1b2c3d4e5"}).organization_id == "o-a1b2c3d4e5"
    with pytest.raises(SettingsError, match="ORGANIZATION_ID='r-abcd' is not an AWS Organizations id"):
        Settings.from_env({"ORGANIZATION_ID": "r-abcd"})
