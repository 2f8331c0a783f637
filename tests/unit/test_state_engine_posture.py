"""The state engine's posture path: a rule that judges many resources of one subject (the account's IAM
posture, the Identity Center instance), rules not run when their data could not be read, the archive of
what disappeared between two sweeps (the sweep ledger, in DynamoDB), and the Config adapter that ties
them together on a ScheduledNotification."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timezone
from types import MappingProxyType

import boto3
import pytest
from asff_validator import assert_valid_asff
from identity_auditor.config_rule.adapter import ConfigAdapter, parse_invocation, put_evaluations
from identity_auditor.config_rule.sweep import Collectors, Sources, audit_account
from identity_auditor.delivery.sweep_ledger import CHUNK_BYTES, SweepLedger, SweepLedgerError
from identity_auditor.engine.registry import Registry, Rule
from identity_auditor.engine.state import ACCOUNT, USER, StateEngine, ledger_entry, posture_subject
from identity_auditor.model.contract import (
    Compliance,
    Context,
    Resource,
    RuleMeta,
    Severity,
    StateResult,
    StateTrigger,
    Violation,
)
from identity_auditor.model.home import Home
from identity_auditor.model.snapshots import IamPosture, IamPrincipal, InlinePolicy
from identity_auditor.sinks.asff import to_asff
from moto import mock_aws

ACCOUNT_ID = "123456789012"
WHERE = Home(ACCOUNT_ID, "eu-west-1", "aws")
CTX = Context(now=datetime(2026, 12, 1, 6, tzinfo=timezone.utc))
PRODUCT = f"arn:aws:securityhub:eu-west-1:{ACCOUNT_ID}:product/{ACCOUNT_ID}/default"
TABLE = "identity-auditor-dedup"


def user(name: str, *, inline: bool = False) -> IamPrincipal:
    return IamPrincipal("user", name, f"arn:aws:iam::{ACCOUNT_ID}:user/{name}", f"AIDA{name.upper():0<17}"[:21], "/",
                        (), (InlinePolicy("extra", {"Version": "2012-10-17", "Statement": []}),) if inline else ())


def role(name: str, *, inline: bool = False) -> IamPrincipal:
    return IamPrincipal("role", name, f"arn:aws:iam::{ACCOUNT_ID}:role/{name}", "AROAEXAMPLE", "/", (),
                        (InlinePolicy("extra", {}),) if inline else ())


def posture(*principals: IamPrincipal, unavailable: dict | None = None) -> IamPosture:
    return IamPosture(ACCOUNT_ID, "aws", users=tuple(p for p in principals if p.kind == "user"),
                      roles=tuple(p for p in principals if p.kind == "role"),
                      unavailable=MappingProxyType(unavailable or {}))


def judge_inline(snapshot: IamPosture, ctx: Context) -> list[StateResult]:
    """A many-resource rule: users are told to Config as AWS::IAM::User, roles' inline policies through the
    account."""
    results = []
    for principal in snapshot.users:
        resource = Resource(USER, principal.principal_id, principal.name, principal.arn, "AwsIamUser")
        results.append(_verdict(principal, resource))
    for principal in snapshot.roles:
        for policy in principal.inline:
            resource = Resource(ACCOUNT, snapshot.account_id, f"role {principal.name} inline {policy.name}",
                                f"{principal.arn}/inline/{policy.name}", "AwsIamRole")
            results.append(_verdict(principal, resource))
    return results


def _verdict(principal: IamPrincipal, resource: Resource) -> StateResult:
    if principal.inline:
        return StateResult(Compliance.NON_COMPLIANT, f"{principal.name} has inline policies",
                           Violation(f"{principal.name} has an inline policy", resource.key,
                                     resource_type=resource.asff_type, subject=principal.name), resource)
    return StateResult(Compliance.COMPLIANT, f"{principal.name} has none", resource=resource)


META = RuleMeta(id="fake_posture_inline", title="Inline policies", severity=Severity.LOW, trigger=None,
                resource_type="AwsIamUser",
                finding_types=("Software and Configuration Checks/AWS Security Best Practices",), why="w",
                remediation="r", remediation_url="https://docs.aws.amazon.com/",
                state=StateTrigger(ACCOUNT, subject="iam_posture", reads=("authorization",)))
RULE = Rule(META, None, judge_inline)
ENGINE = StateEngine(Registry([RULE]))


def evaluate(snapshot: IamPosture, not_run=None, failures=None):
    return ENGINE.evaluate([RULE], [posture_subject(snapshot, "iam_posture")], CTX, WHERE, not_run=not_run,
                           failures=failures)


# -- many resources of one subject ----------------------------------------------------------------------


def test_each_resource_gets_its_own_finding_and_config_hears_of_users_and_of_the_account_summary():
    evaluations = evaluate(posture(user("alice", inline=True), user("bob"), role("deploy", inline=True)))
    by_name = {e.resource_name: e for e in evaluations}
    alice, bob = by_name["alice"], by_name["bob"]
    assert (alice.compliance, alice.finding.compliance_status, alice.finding.severity) == (
        Compliance.NON_COMPLIANT, "FAILED", Severity.LOW)
    assert (bob.compliance, bob.finding.compliance_status) == (Compliance.COMPLIANT, "PASSED")
    assert alice.finding.finding_id != bob.finding.finding_id
    # users are AWS Config resources: their own evaluation; the role's inline policy is summed in the account's
    assert [e.config_evaluation()["ComplianceResourceId"] for e in evaluations if e.reported] == [
        alice.resource_id, bob.resource_id, ACCOUNT_ID]
    inline = by_name["role deploy inline extra"]
    assert not inline.reported and inline.finding.compliance_status == "FAILED"
    summary = evaluations[-1]
    assert (summary.resource_type, summary.compliance, summary.finding) == (ACCOUNT, Compliance.NON_COMPLIANT, None)
    assert summary.annotation == "1 of 1 non-compliant: role deploy inline extra"
    finding = to_asff(inline.finding, product_arn=PRODUCT, updated_at=CTX.now)
    assert finding["Resources"][0] == {"Type": "AwsIamRole", "Id": f"arn:aws:iam::{ACCOUNT_ID}:role/deploy/inline/extra",
                                       "Partition": "aws", "Region": "eu-west-1"}
    assert_valid_asff(finding)


def test_a_fixed_resource_keeps_its_finding_id_and_passes():
    before = {e.resource_name: e for e in evaluate(posture(user("alice", inline=True)))}["alice"]
    after = {e.resource_name: e for e in evaluate(posture(user("alice")))}["alice"]
    assert before.finding.finding_id == after.finding.finding_id
    assert (before.finding.compliance_status, after.finding.compliance_status) == ("FAILED", "PASSED")


def test_nothing_to_judge_is_one_not_applicable_account_evaluation_without_finding():
    evaluations = evaluate(posture(role("plain")))
    assert [(e.resource_type, e.compliance, e.finding, e.annotation) for e in evaluations] == [
        (ACCOUNT, Compliance.NOT_APPLICABLE, None, "nothing to judge")]


def test_a_rule_whose_part_could_not_be_read_is_not_run_and_says_why():
    not_run = []
    evaluations = evaluate(posture(user("alice", inline=True),
                                   unavailable={"authorization": "GetAccountAuthorizationDetails: AccessDenied: no"}),
                           not_run=not_run)
    assert evaluations == []
    assert [(n.rule_id, n.account, n.reason) for n in not_run] == [
        ("fake_posture_inline", ACCOUNT_ID, "authorization: GetAccountAuthorizationDetails: AccessDenied: no")]


def test_a_many_resource_rule_must_name_each_resource():
    nameless = Rule(META, None, lambda snapshot, ctx: [StateResult(Compliance.COMPLIANT, "fine")])
    failures = []
    assert StateEngine(Registry([nameless])).evaluate(
        [nameless], [posture_subject(posture(), "iam_posture")], CTX, WHERE, failures=failures) == []
    assert failures[0].rule_id == "fake_posture_inline" and "must name each" in failures[0].error


# -- what disappeared ----------------------------------------------------------------------------------


def test_a_resource_gone_since_the_last_sweep_is_archived_under_its_old_finding_id():
    first = evaluate(posture(user("alice", inline=True), role("deploy", inline=True)))
    previous = {e.finding.finding_id: ledger_entry(e) for e in first if e.finding is not None}
    second = evaluate(posture(user("bob")))
    gone = ENGINE.vanished(RULE, previous, second, CTX)
    assert sorted((e.resource_name, e.finding.finding_id) for e in gone) == sorted(
        (e.resource_name, e.finding.finding_id) for e in first if e.finding is not None)
    for evaluation in gone:
        assert (evaluation.finding.record_state, evaluation.finding.compliance_status) == ("ARCHIVED", "NOT_AVAILABLE")
        assert evaluation.compliance is Compliance.NOT_APPLICABLE
        assert evaluation.annotation.endswith("no longer exists")
        assert_valid_asff(to_asff(evaluation.finding, product_arn=PRODUCT, updated_at=CTX.now))
    # the deleted user is an AWS Config resource (told NOT_APPLICABLE); the role's inline policy is not
    assert {e.resource_name: e.reported for e in gone} == {"alice": True, "role deploy inline extra": False}
    assert {e.resource_name: e.finding.resource_type for e in gone} == {
        "alice": "AwsIamUser", "role deploy inline extra": "AwsIamRole"}


# -- the ledger in DynamoDB -----------------------------------------------------------------------------


@pytest.fixture()
def dynamodb():
    with mock_aws():
        client = boto3.client("dynamodb", region_name="eu-west-1")
        client.create_table(TableName=TABLE, KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                            BillingMode="PAY_PER_REQUEST")
        yield client


def test_the_ledger_round_trips_and_expires(dynamodb):
    now = [1_000_000.0]
    ledger = SweepLedger(dynamodb, TABLE, ttl_seconds=100, clock=lambda: now[0])
    assert ledger.load("rule_a", ACCOUNT_ID, "eu-west-1") == {}
    entries = {"rule_a/x": {"name": "alice", "reported": True}}
    assert ledger.save("rule_a", ACCOUNT_ID, "eu-west-1", entries) == 1
    assert ledger.load("rule_a", ACCOUNT_ID, "eu-west-1") == entries
    assert ledger.load("rule_a", ACCOUNT_ID, "us-east-1") == {}  # per rule, account and region
    now[0] += 101
    assert ledger.load("rule_a", ACCOUNT_ID, "eu-west-1") == {}


def test_a_ledger_larger_than_an_item_is_split_and_read_whole(dynamodb):
    import os

    entries = {f"rule/{index}": {"noise": os.urandom(24).hex()} for index in range(12_000)}  # incompressible
    ledger = SweepLedger(dynamodb, TABLE)
    chunks = ledger.save("rule_b", ACCOUNT_ID, "eu-west-1", entries)
    assert chunks >= 2
    assert ledger.load("rule_b", ACCOUNT_ID, "eu-west-1") == entries
    dynamodb.delete_item(TableName=TABLE, Key={"id": {"S": f"{SweepLedger.key('rule_b', ACCOUNT_ID, 'eu-west-1')}#1"}})
    with pytest.raises(SweepLedgerError, match="chunk 1 is missing"):
        ledger.load("rule_b", ACCOUNT_ID, "eu-west-1")
    assert CHUNK_BYTES < 400_000


def test_a_ledger_dynamodb_refuses_raises_a_clear_error():
    with mock_aws():
        client = boto3.client("dynamodb", region_name="eu-west-1")  # no table
        with pytest.raises(SweepLedgerError, match="could not be read"):
            SweepLedger(client, "missing").load("rule_a", ACCOUNT_ID, "eu-west-1")
        with pytest.raises(SweepLedgerError, match="could not be written"):
            SweepLedger(client, "missing").save("rule_a", ACCOUNT_ID, "eu-west-1", {})


# -- the Config adapter: scheduled sweeps archive what is gone ------------------------------------------


class World:
    """The posture the fake collector returns; each sweep reads it anew."""

    def __init__(self, *principals):
        self.snapshot = posture(*principals)

    def collectors(self) -> Collectors:
        def posture_collector(iam, *, account_id, partition, analyzers, calls, parts):
            assert "authorization" in parts
            calls.total += 1
            return replace(self.snapshot, account_id=account_id)

        return Collectors(None, None, None, None, None, posture=posture_collector)


def scheduled() -> dict:
    return {"invokingEvent": json.dumps({"messageType": "ScheduledNotification", "awsAccountId": ACCOUNT_ID,
                                         "notificationCreationTime": "2026-12-01T06:00:00.000Z"}),
            "ruleParameters": json.dumps({"ruleId": "fake_posture_inline"}), "resultToken": "TESTMODE",
            "eventLeftScope": False, "configRuleName": "identity-auditor-fake", "accountId": ACCOUNT_ID,
            "configRuleArn": f"arn:aws:config:eu-west-1:{ACCOUNT_ID}:config-rule/config-rule-abc123"}


class Clients:
    iam = object()

    def accessanalyzer(self, region=None):
        raise AssertionError("the rule reads no analyzer")


def test_scheduled_sweeps_archive_the_findings_of_resources_that_are_gone(dynamodb):
    world = World(user("alice", inline=True), role("deploy", inline=True))
    adapter = ConfigAdapter(Registry([RULE]), world.collectors(), ledger=SweepLedger(dynamodb, TABLE))
    first = adapter.evaluate(parse_invocation(scheduled()), CTX, Clients(), WHERE)
    adapter.remember(first)
    assert (first.archived, first.ledger_error, first.not_run) == (0, "", [])
    failed = {e.finding.finding_id for e in first.evaluations if e.finding and e.finding.compliance_status == "FAILED"}
    assert len(failed) == 2

    world.snapshot = posture(user("bob"))  # alice deleted, the role's inline policy removed
    second = adapter.evaluate(parse_invocation(scheduled()), CTX, Clients(), WHERE)
    adapter.remember(second)
    archived = {e.finding.finding_id for e in second.evaluations if e.finding and e.finding.record_state == "ARCHIVED"}
    assert archived == failed and second.archived == 2
    config = put_evaluations(_Config(), parse_invocation(scheduled()), second.evaluations)
    assert config == 1

    third = adapter.evaluate(parse_invocation(scheduled()), CTX, Clients(), WHERE)
    assert third.archived == 0  # archived once, forgotten since


def test_a_sweep_whose_delivery_failed_archives_again_when_retried(dynamodb):
    world = World(user("alice", inline=True))
    adapter = ConfigAdapter(Registry([RULE]), world.collectors(), ledger=SweepLedger(dynamodb, TABLE))
    adapter.remember(adapter.evaluate(parse_invocation(scheduled()), CTX, Clients(), WHERE))
    world.snapshot = posture()
    failed = adapter.evaluate(parse_invocation(scheduled()), CTX, Clients(), WHERE)  # delivery raised: no remember
    retried = adapter.evaluate(parse_invocation(scheduled()), CTX, Clients(), WHERE)
    assert failed.archived == retried.archived == 1


def test_an_account_level_result_replaced_by_resources_is_archived_but_config_hears_only_the_new_summary(dynamodb):
    world = World(role("plain"))  # nothing to judge: one account-level NOT_APPLICABLE result, no finding
    account_rule = Rule(META, None, lambda snapshot, ctx: [StateResult(
        Compliance.COMPLIANT, "no inline policy anywhere",
        resource=Resource(ACCOUNT, snapshot.account_id, snapshot.account_id, f"AWS::::Account:{snapshot.account_id}"))]
        if not any(p.inline for p in snapshot.roles) else judge_inline(snapshot, ctx))
    adapter = ConfigAdapter(Registry([account_rule]), world.collectors(), ledger=SweepLedger(dynamodb, TABLE))
    adapter.remember(adapter.evaluate(parse_invocation(scheduled()), CTX, Clients(), WHERE))
    world.snapshot = posture(role("deploy", inline=True))
    run = adapter.evaluate(parse_invocation(scheduled()), CTX, Clients(), WHERE)
    assert run.archived == 1  # the account-level PASSED finding
    told = [(e["ComplianceResourceType"], e["ComplianceResourceId"], e["ComplianceType"])
            for e in (ev.config_evaluation() for ev in run.evaluations if ev.reported)]
    assert told == [(ACCOUNT, ACCOUNT_ID, "NON_COMPLIANT")]  # never also NOT_APPLICABLE for the same account


def test_a_sweep_that_could_not_read_archives_nothing_and_forgets_nothing(dynamodb):
    world = World(user("alice", inline=True))
    adapter = ConfigAdapter(Registry([RULE]), world.collectors(), ledger=SweepLedger(dynamodb, TABLE))
    adapter.remember(adapter.evaluate(parse_invocation(scheduled()), CTX, Clients(), WHERE))
    world.snapshot = posture(unavailable={"authorization": "GetAccountAuthorizationDetails: Throttling: slow down"})
    refused = adapter.evaluate(parse_invocation(scheduled()), CTX, Clients(), WHERE)
    adapter.remember(refused)
    assert refused.archived == 0 and [n.rule_id for n in refused.not_run] == ["fake_posture_inline"]
    # Config keeps its last word (a violation is never overwritten by "could not read"); the alarm says why
    assert refused.evaluations == []
    world.snapshot = posture()  # alice is gone now: the ledger still knew her
    later = adapter.evaluate(parse_invocation(scheduled()), CTX, Clients(), WHERE)
    assert later.archived == 1


def test_without_a_readable_ledger_the_sweep_still_delivers_and_says_so():
    with mock_aws():
        client = boto3.client("dynamodb", region_name="eu-west-1")  # no table: every read fails
        adapter = ConfigAdapter(Registry([RULE]), World(user("alice", inline=True)).collectors(),
                                ledger=SweepLedger(client, "missing"))
        run = adapter.evaluate(parse_invocation(scheduled()), CTX, Clients(), WHERE)
    assert "could not be read" in run.ledger_error and run.archived == 0
    assert any(e.finding and e.finding.compliance_status == "FAILED" for e in run.evaluations)


class _Config:
    def put_evaluations(self, **request):
        assert request["TestMode"] is True
        for evaluation in request["Evaluations"]:
            assert evaluation["ComplianceResourceType"] in (USER, ACCOUNT)
        return {"FailedEvaluations": []}


def test_sources_default_reads_no_identity_center_and_says_so():
    center = RuleMeta(id="fake_center", title="c", severity=Severity.LOW, trigger=None, resource_type="Other",
                      finding_types=("Software and Configuration Checks/AWS Security Best Practices",), why="w",
                      remediation="r", remediation_url="https://docs.aws.amazon.com/",
                      state=StateTrigger(ACCOUNT, subject="identity_center", reads=("instance",), scope="identity_center"))
    rule = Rule(center, None, lambda snapshot, ctx: StateResult(Compliance.COMPLIANT, "fine"))
    not_run = []
    evaluations, calls = audit_account(object(), account_id=ACCOUNT_ID, partition="aws", region="eu-west-1", ctx=CTX,
                                       rules=[rule], engine=StateEngine(Registry([rule])),
                                       collectors=Collectors(None, None, None, None, None), sources=Sources(),
                                       not_run=not_run)
    assert (evaluations, calls) == ([], 0)
    assert [(n.rule_id, n.absent) for n in not_run] == [("fake_center", False)]
    assert "Identity Center is not read from here" in not_run[0].reason


def test_what_an_unreadable_account_held_is_kept_and_the_rest_archived(dynamodb):
    member = "222233334444"
    elsewhere = IamPrincipal("role", "AWSReservedSSO_Admin_0123456789abcdef",
                             f"arn:aws:iam::{member}:role/AWSReservedSSO_Admin_0123456789abcdef", "AROAMEMBER", "/",
                             (), (InlinePolicy("extra", {}),))
    partial = Rule(replace(META, state=StateTrigger(ACCOUNT, subject="iam_posture",
                                                    reads=("authorization", "reserved_roles"))), None, judge_inline)
    world = World(role("deploy", inline=True), elsewhere)
    adapter = ConfigAdapter(Registry([partial]), world.collectors(), ledger=SweepLedger(dynamodb, TABLE))
    adapter.remember(adapter.evaluate(parse_invocation(scheduled()), CTX, Clients(), WHERE))

    # both fixed; the member account cannot be read this time
    world.snapshot = posture(unavailable={f"reserved_roles:{member}": "AssumeRole: AccessDenied: no"})
    run = adapter.evaluate(parse_invocation(scheduled()), CTX, Clients(), WHERE)
    adapter.remember(run)
    assert [(n.account, n.reason) for n in run.not_run] == [(member, f"reserved_roles:{member}: AssumeRole: "
                                                                     "AccessDenied: no")]
    assert [e.resource_name for e in run.evaluations if e.finding and e.finding.record_state == "ARCHIVED"] == [
        "role deploy inline extra"]

    world.snapshot = posture()  # readable again, and the drift there is gone too
    later = adapter.evaluate(parse_invocation(scheduled()), CTX, Clients(), WHERE)
    assert [e.resource_name for e in later.evaluations if e.finding and e.finding.record_state == "ARCHIVED"] == [
        "role AWSReservedSSO_Admin_0123456789abcdef inline extra"]


def test_a_sweep_out_of_time_reads_nothing_more_and_says_so():
    import time

    from identity_auditor.rules import iam_support_role_missing

    rule = Rule(iam_support_role_missing.META, None, iam_support_role_missing.evaluate_state)
    not_run = []
    with mock_aws():
        iam = boto3.client("iam", region_name="us-east-1")
        evaluations, calls = audit_account(iam, account_id=ACCOUNT_ID, partition="aws", region="us-east-1", ctx=CTX,
                                           rules=[rule], engine=StateEngine(Registry([rule])),
                                           sources=Sources(deadline=time.monotonic() - 1), not_run=not_run)
    assert (evaluations, calls) == ([], 0)
    assert [n.rule_id for n in not_run] == ["iam_support_role_missing"]
    assert "the sweep's time ran out after 0 API calls (before get_account_authorization_details)" in not_run[0].reason


# -- sso_reserved_role_drift, change-triggered: a role changed in a member account -----------------------------

def _role_item(name: str, *, account: str = "222233334444", attached=(), status: str = "OK", path=None) -> dict:
    from urllib.parse import quote

    path = path or ("/aws-reserved/sso.amazonaws.com/" if name.startswith("AWSReservedSSO_") else "/")
    arn = f"arn:aws:iam::{account}:role{path}{name}"
    return {
        "configuration": None if status != "OK" else {
            "path": path, "roleName": name, "roleId": "AROAMEMBERROLE0000001", "arn": arn,
            "assumeRolePolicyDocument": quote(json.dumps({"Version": "2012-10-17", "Statement": []})),
            "instanceProfileList": [], "rolePolicyList": [],
            "attachedManagedPolicies": [{"policyName": p.rsplit("/", 1)[-1], "policyArn": p} for p in attached],
            "permissionsBoundary": None, "tags": [], "roleLastUsed": None},
        "configurationItemCaptureTime": "2026-12-01T05:58:00.000Z", "awsAccountId": account,
        "configurationItemStatus": status, "resourceType": "AWS::IAM::Role", "resourceId": "AROAMEMBERROLE0000001",
        "resourceName": name, "ARN": arn, "awsRegion": "global"}


def _changed(item: dict) -> dict:
    return {"invokingEvent": json.dumps({"messageType": "ConfigurationItemChangeNotification",
                                         "configurationItem": item,
                                         "notificationCreationTime": "2026-12-01T06:00:00.000Z"}),
            "ruleParameters": json.dumps({"ruleId": "sso_reserved_role_drift"}), "resultToken": "TESTMODE",
            "eventLeftScope": False, "configRuleName": "identity-auditor-sso-reserved-role-drift",
            "accountId": item["awsAccountId"],
            "configRuleArn": f"arn:aws:config:eu-west-1:{item['awsAccountId']}:config-rule/config-rule-abc123"}


def _drift_adapter():
    from identity_auditor.model.snapshots import IdentityCenterSnapshot, PermissionSet
    from identity_auditor.rules import sso_reserved_role_drift

    rule = Rule(sso_reserved_role_drift.META, None, sso_reserved_role_drift.evaluate_state)
    admin = PermissionSet("arn:aws:sso:::permissionSet/ssoins-7223a8e5d2f3bd2c/ps-2a9c4e61b0d7f835",
                          "AdministratorAccess", "PT1H",
                          managed_policies=("arn:aws:iam::aws:policy/AdministratorAccess",),
                          provisioned_accounts=("222233334444",))
    asked = []

    def collect(sso_admin, identitystore, *, account_id, region, partition, member_iam, calls, parts):
        asked.append(parts)
        return IdentityCenterSnapshot(account_id, region, partition,
                                      "arn:aws:sso:::instance/ssoins-7223a8e5d2f3bd2c", "d-9067642ac7",
                                      permission_sets=(admin,), unavailable=MappingProxyType(
                                          {"reserved_roles": "not collected: this part was not asked for"}))

    sources = Sources(identity_center=lambda: (object(), object()), identity_center_account="111122223333",
                      identity_center_region="us-east-1")
    adapter = ConfigAdapter(Registry([rule]), Collectors(None, None, None, None, None, identity_center=collect))
    return adapter, rule, sources, asked


def test_a_reserved_role_changed_in_a_member_account_is_judged_against_its_permission_set():
    from identity_auditor.engine.state import state_finding_id

    adapter, rule, sources, asked = _drift_adapter()
    name = "AWSReservedSSO_AdministratorAccess_0f1e2d3c4b5a6978"
    item = _role_item(name, attached=("arn:aws:iam::aws:policy/AdministratorAccess",
                                      "arn:aws:iam::aws:policy/IAMFullAccess"))
    run = adapter.evaluate(parse_invocation(_changed(item)), CTX, Clients(), WHERE, sources=sources)
    (evaluation,) = run.evaluations
    assert asked == [("permission_sets",)] and not run.not_run
    assert (evaluation.resource_type, evaluation.resource_id, evaluation.compliance) == (
        "AWS::IAM::Role", "AROAMEMBERROLE0000001", Compliance.NON_COMPLIANT)
    assert "policy arn:aws:iam::aws:policy/IAMFullAccess added" in evaluation.finding.description
    # the periodic sweep's finding: filed where Identity Center is administered, keyed on the role ARN
    assert evaluation.finding.finding_id == state_finding_id(rule.meta.id, Home("111122223333", "us-east-1", "aws"),
                                                             item["ARN"])
    assert (evaluation.finding.account_id, evaluation.finding.severity) == ("111122223333", Severity.HIGH)

    fixed = _role_item(name, attached=("arn:aws:iam::aws:policy/AdministratorAccess",))
    (evaluation,) = adapter.evaluate(parse_invocation(_changed(fixed)), CTX, Clients(), WHERE, sources=sources).evaluations
    assert evaluation.compliance is Compliance.COMPLIANT and evaluation.finding.compliance_status == "PASSED"


def test_another_role_changed_is_not_judged_and_reads_nothing():
    adapter, _, sources, asked = _drift_adapter()
    run = adapter.evaluate(parse_invocation(_changed(_role_item("deploy"))), CTX, Clients(), WHERE, sources=sources)
    (evaluation,) = run.evaluations
    assert (evaluation.compliance, evaluation.finding, asked) == (Compliance.NOT_APPLICABLE, None, [])


def test_a_deleted_reserved_role_archives_its_finding():
    adapter, _, sources, asked = _drift_adapter()
    item = _role_item("AWSReservedSSO_AdministratorAccess_0f1e2d3c4b5a6978", status="ResourceDeleted",
                      path="/aws-reserved/sso.amazonaws.com/")
    (evaluation,) = adapter.evaluate(parse_invocation(_changed(item)), CTX, Clients(), WHERE,
                                     sources=sources).evaluations
    assert evaluation.finding.record_state == "ARCHIVED" and evaluation.resource_type == "AWS::IAM::Role"
    assert asked == []
