"""audit_account: the full sweep of an account (the Config function's scheduled path and the CLI's
audit-account). Fake collectors prove what is collected for which rules; moto with the real collectors
and the real state rules proves the sweep end to end and that its API calls do not grow with users."""

from __future__ import annotations

import importlib
import json
from collections import Counter
from datetime import datetime, timezone

import boto3
import pytest
from asff_validator import assert_valid_asff
from freezegun import freeze_time
from identity_auditor.aws.calls import CallCounter
from identity_auditor.config_rule.sweep import Collectors, audit_account
from identity_auditor.engine.registry import Registry, Rule
from identity_auditor.engine.state import ACCOUNT, ROLE, USER, StateEngine
from identity_auditor.model.contract import Compliance, Context, RuleMeta, Severity, StateResult, StateTrigger
from identity_auditor.model.policy import OrgPolicy
from identity_auditor.model.snapshots import (
    ROOT_USER,
    AccessKeyState,
    AccountSnapshot,
    CredentialReportRow,
    RoleSnapshot,
)
from identity_auditor.sinks.asff import to_asff
from moto import mock_aws

ACCOUNT_ID = "123456789012"
PRODUCT = f"arn:aws:securityhub:us-east-1:{ACCOUNT_ID}:product/{ACCOUNT_ID}/default"
STATE_RULES = (
    "iam_user_console_access_without_mfa", "iam_access_key_not_rotated", "iam_credentials_unused",
    "iam_user_multiple_active_access_keys", "root_access_key_present", "root_mfa_not_enabled",
    "root_hardware_mfa_not_enabled", "iam_password_policy_weak", "iam_user_in_federated_account",
    "iam_role_trust_policy_unsafe",
)
NO_KEY = AccessKeyState(False, None, None)


def frozen(moment: str):
    # Powertools' parser imports its pydantic models lazily: freezegun must not look into it.
    return freeze_time(moment, ignore=["aws_lambda_powertools"])


def real_registry() -> Registry:
    modules = [importlib.import_module(f"identity_auditor.rules.{rule_id}") for rule_id in STATE_RULES]
    return Registry([Rule(m.META, getattr(m, "evaluate", None), m.evaluate_state) for m in modules])


# -- fakes --------------------------------------------------------------------------------------------


def row(name: str) -> CredentialReportRow:
    return CredentialReportRow(name, f"arn:aws:iam::{ACCOUNT_ID}:user/{name}" if name != ROOT_USER else
                               f"arn:aws:iam::{ACCOUNT_ID}:root", None, True, None, None, False, (NO_KEY, NO_KEY))


class FakeCollectors:
    def __init__(self, users=("alice", "bob")):
        self.calls = Counter()
        self.users = users

    def report(self, iam):
        collectors = self

        class Report:
            def rows(self):
                collectors.calls["report"] += 1
                return [row(ROOT_USER)] + [row(name) for name in collectors.users]

        return Report()

    def account(self, iam, *, account_id, partition, report_rows):
        self.calls["account"] += 1
        root = next(r for r in report_rows if r.is_root)
        return AccountSnapshot(account_id, partition, {"AccountMFAEnabled": 0}, None, root=root)

    def roles(self, iam):
        self.calls["roles"] += 1
        return [RoleSnapshot("deploy", f"arn:aws:iam::{ACCOUNT_ID}:role/deploy", "/", "AROAX", {}, ACCOUNT_ID)]

    def collectors(self) -> Collectors:
        return Collectors(self.report, self.account, self.roles, lambda iam, name: None, lambda item: None)


def fake_rule(rule_id: str, resource_type: str) -> Rule:
    meta = RuleMeta(id=rule_id, title=rule_id, severity=Severity.LOW, trigger=None, resource_type="Other",
                    finding_types=("Software and Configuration Checks/AWS Security Best Practices",), why="w",
                    remediation="r", remediation_url="https://docs.aws.amazon.com/", state=StateTrigger(resource_type))
    return Rule(meta, None, lambda subject, ctx: StateResult(Compliance.COMPLIANT, f"{rule_id} fine"))


FAKES = Registry([fake_rule("fake_user", USER), fake_rule("fake_account", ACCOUNT), fake_rule("fake_role", ROLE)])
CTX = Context(now=datetime(2026, 6, 1, tzinfo=timezone.utc))


def sweep(rules=None, fakes=None, **kwargs):
    fakes = fakes or FakeCollectors()
    evaluations, calls = audit_account(object(), account_id=ACCOUNT_ID, partition="aws", region="us-east-1",
                                       ctx=kwargs.pop("ctx", CTX), rules=rules, collectors=fakes.collectors(),
                                       engine=StateEngine(FAKES), **kwargs)
    return evaluations, fakes.calls


def test_every_user_the_account_and_every_role_from_one_report():
    evaluations, calls = sweep()
    assert [(e.rule_id, e.resource_name) for e in evaluations] == [
        ("fake_user", "alice"), ("fake_user", "bob"), ("fake_account", ACCOUNT_ID), ("fake_role", "deploy")]
    assert calls == {"report": 1, "account": 1, "roles": 1}  # the root row is not an AWS::IAM::User


@pytest.mark.parametrize("rules, expected", [
    (["fake_user"], {"report": 1}),
    (["fake_account"], {"report": 1, "account": 1}),  # the root row comes from the credential report
    (["fake_role"], {"roles": 1}),
])
def test_only_what_the_requested_rules_judge_is_collected(rules, expected):
    evaluations, calls = sweep(rules)
    assert calls == expected
    assert {e.rule_id for e in evaluations} == set(rules)


def test_disabled_rules_are_not_run_nor_collected_for():
    evaluations, calls = sweep(ctx=Context(now=CTX.now, policy=OrgPolicy(disabled=frozenset({"fake_role"}))))
    assert "fake_role" not in {e.rule_id for e in evaluations} and "roles" not in calls


def test_call_counter_counts_botocore_calls_and_ignores_other_clients():
    with mock_aws():
        iam = boto3.client("iam", region_name="us-east-1")
        with CallCounter(iam) as counter:
            iam.list_users()
            iam.list_roles()
        iam.list_users()  # after the block: not counted
        assert counter.calls == 2
    with CallCounter(object()) as counter:
        pass
    assert counter.calls == 0


# -- moto, real collectors and rules ---------------------------------------------------------------------

TRUST_ANY = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}]})
TRUST_LAMBDA = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]})


def populate(iam, users: int) -> None:
    for number in range(users):
        name = f"user{number:03d}"
        iam.create_user(UserName=name)
        iam.create_access_key(UserName=name)
        if number % 2 == 0:
            iam.create_login_profile(UserName=name, Password="Correct-Horse-Battery-1")
    iam.create_role(RoleName="vendor", AssumeRolePolicyDocument=TRUST_ANY)
    iam.create_role(RoleName="worker", AssumeRolePolicyDocument=TRUST_LAMBDA)


def audit_moto(users: int):
    with mock_aws():
        iam = boto3.client("iam", region_name="us-east-1")
        with frozen("2026-01-05T10:00:00Z"):
            populate(iam, users)
        with frozen("2026-06-01T06:00:00Z"):
            ctx = Context(now=datetime.now(timezone.utc))
            return audit_account(iam, account_id=ACCOUNT_ID, partition="aws", region="us-east-1", ctx=ctx,
                                 engine=StateEngine(real_registry()))


def test_the_full_sweep_with_the_real_collectors_and_rules():
    evaluations, calls = audit_moto(4)
    by_rule = Counter(e.rule_id for e in evaluations)
    user_rules = [r for r in STATE_RULES if r.startswith("iam_user") or r in ("iam_access_key_not_rotated",
                                                                                 "iam_credentials_unused")]
    assert all(by_rule[r] == 4 for r in user_rules)
    assert all(by_rule[r] == 1 for r in STATE_RULES if r.startswith("root_") or r == "iam_password_policy_weak")
    assert by_rule["iam_role_trust_policy_unsafe"] == 2
    verdicts = {(e.rule_id, e.resource_name): e.compliance for e in evaluations}
    assert verdicts[("iam_access_key_not_rotated", "user000")] is Compliance.NON_COMPLIANT  # 147 days old
    assert verdicts[("iam_user_console_access_without_mfa", "user000")] is Compliance.NON_COMPLIANT
    assert verdicts[("iam_user_console_access_without_mfa", "user001")] is Compliance.COMPLIANT  # no password
    assert verdicts[("iam_role_trust_policy_unsafe", "vendor")] is Compliance.NON_COMPLIANT
    assert verdicts[("iam_role_trust_policy_unsafe", "worker")] is Compliance.COMPLIANT
    assert verdicts[("root_mfa_not_enabled", ACCOUNT_ID)] is Compliance.NON_COMPLIANT
    for evaluation in evaluations:
        assert len(evaluation.annotation) <= 256
        assert_valid_asff(to_asff(evaluation.finding, product_arn=PRODUCT, updated_at=evaluation.ordering_timestamp))
    account = next(e for e in evaluations if e.rule_id == "root_mfa_not_enabled")
    assert (account.resource_type, account.resource_id) == ("AWS::::Account", ACCOUNT_ID)
    assert calls > 0


def test_api_calls_do_not_grow_with_the_number_of_users():
    _, few = audit_moto(3)
    _, many = audit_moto(60)
    assert few == many  # one credential report, one ListUsers page, one ListRoles page, account reads
