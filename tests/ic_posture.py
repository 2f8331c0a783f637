"""Identity Center snapshots built by hand for the Identity Center posture rules' tests, in the shapes the
collector fills from real responses, and a run of one rule through the state engine.

Values follow the API reference's patterns (botocore's sso-admin and identitystore models): instance
``arn:aws:sso:::instance/ssoins-<16>``, permission set ``arn:aws:sso:::permissionSet/ssoins-<16>/ps-<16>``
(names ``[\\w+=,.@-]+``, at most 32 characters), identity store ``d-<10 hex>``, user and group ids
``<10 hex>-<uuid>``; ``ExternalIds`` are ``ListUsers``' (Issuer, Id) pairs. Reserved roles live under
``/aws-reserved/sso.amazonaws.com/<home region>/`` when the instance is not in us-east-1.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from types import MappingProxyType, ModuleType

from asff_validator import assert_valid_asff
from identity_auditor.engine.registry import Registry, Rule
from identity_auditor.engine.state import NotRun, StateEngine, StateEvaluation, posture_subject, state_finding_id
from identity_auditor.model.contract import Compliance, Context, RuleFailure, StateResult
from identity_auditor.model.home import Home
from identity_auditor.model.policy import OrgPolicy
from identity_auditor.model.snapshots import (
    AccountAssignment,
    DirectoryPrincipal,
    IdentityCenterSnapshot,
    InlinePolicy,
    PermissionSet,
    ReservedRole,
)
from identity_auditor.sinks.asff import to_asff

ACCOUNT = "111122223333"  # the management account, which holds the instance
MEMBER = "444455556666"
OTHER_MEMBER = "777788889999"
REGION = "eu-west-1"  # Identity Center's home region: findings are filed there
SWEEP_REGION = "us-east-1"  # where the sweep runs (the engine's own ``where``)
NOW = datetime(2026, 3, 2, 6, 0, tzinfo=timezone.utc)
INSTANCE = "arn:aws:sso:::instance/ssoins-7223a8e5d2f3bd2c"
STORE = "d-9067642ac7"
HOME = Home(ACCOUNT, REGION, "aws")
PRODUCT_ARN = f"arn:aws:securityhub:{REGION}:{ACCOUNT}:product/{ACCOUNT}/default"
ISSUER = "https://scim.aws.com/1223122"
ADMIN_POLICY = "arn:aws:iam::aws:policy/AdministratorAccess"
READ_ONLY_POLICY = "arn:aws:iam::aws:policy/ReadOnlyAccess"
BILLING_POLICY = "arn:aws:iam::aws:policy/job-function/Billing"
ALLOW_ALL = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
DENY_IAM = {"Version": "2012-10-17",
            "Statement": [{"Sid": "NoIam", "Effect": "Deny", "Action": "iam:*", "Resource": "*"}]}


def ps_arn(ps_id: str) -> str:
    return f"arn:aws:sso:::permissionSet/ssoins-7223a8e5d2f3bd2c/{ps_id}"


ADMIN = PermissionSet(ps_arn("ps-f1ab3a7d7c5e3b22"), "AdministratorAccess", "PT1H",
                      managed_policies=(ADMIN_POLICY,), provisioned_accounts=(MEMBER, OTHER_MEMBER))
READ_ONLY = PermissionSet(ps_arn("ps-2a9c4e61b0d7f835"), "ReadOnly", "PT8H",
                          managed_policies=(READ_ONLY_POLICY,), provisioned_accounts=(MEMBER,))

JANE_ID = "906722b2be-e30a5ad0-4c1f-4b6e-8a41-2f3d5c7e9b10"
OMAR_ID = "906722b2be-7c41d2e9-0b8a-4f35-9d26-1e5a7c3b8f04"
BREAK_GLASS_ID = "906722b2be-a3f08c61-5d2e-4b97-8c10-6e4f2a9d7b35"
GROUP_ID = "906722b2be-5f1d9c3a-2e84-4a6b-b7c0-9d3e1f8a2c46"
JANE = DirectoryPrincipal("USER", JANE_ID, "jane@example.com", "Jane Doe", ((ISSUER, "00u1ab2cd3EF4gh5i6j7"),))
OMAR = DirectoryPrincipal("USER", OMAR_ID, "omar@example.com", "Omar Haddad")  # made by hand: no ExternalIds
BREAK_GLASS = DirectoryPrincipal("USER", BREAK_GLASS_ID, "breakglass-01", "Break Glass 01")
PLATFORM = DirectoryPrincipal("GROUP", GROUP_ID, "platform-engineers", "", ((ISSUER, "00g9zy8xw7VU6ts5r4q3"),))


def user_assignment(permission_set: PermissionSet, user_id: str, account: str = MEMBER) -> AccountAssignment:
    return AccountAssignment(account, permission_set.arn, "USER", user_id)


def group_assignment(permission_set: PermissionSet, group_id: str = GROUP_ID,
                     account: str = MEMBER) -> AccountAssignment:
    return AccountAssignment(account, permission_set.arn, "GROUP", group_id)


def reserved_role(account: str, set_name: str, suffix: str, *, attached: tuple[str, ...] = (),
                  inline: tuple[InlinePolicy, ...] = (), boundary: str | None = None) -> ReservedRole:
    name = f"AWSReservedSSO_{set_name}_{suffix}"
    return ReservedRole(account, name, f"arn:aws:iam::{account}:role/aws-reserved/sso.amazonaws.com/{REGION}/{name}",
                        attached, inline, boundary)


def snapshot(*, instance_arn: str | None = INSTANCE, unavailable: dict[str, str] | None = None,
             reserved_roles: dict | None = None, **fields) -> IdentityCenterSnapshot:
    return IdentityCenterSnapshot(
        account_id=ACCOUNT, region=REGION, partition="aws", instance_arn=instance_arn,
        identity_store_id=STORE if instance_arn else None,
        reserved_roles=MappingProxyType(dict(reserved_roles or {})),
        unavailable=MappingProxyType(dict(unavailable or {})), **fields)


def context(**policy) -> Context:
    return Context(now=NOW, policy=OrgPolicy(**policy))


def results(module: ModuleType, snap: IdentityCenterSnapshot, ctx: Context | None = None) -> list[StateResult]:
    """The rule's results, a single one as a list of one, each checked against the contract."""
    result = module.evaluate_state(snap, ctx or context())
    items = [result] if isinstance(result, StateResult) else list(result)
    for item in items:
        assert 0 < len(item.annotation) <= 256, item.annotation
        assert (item.violation is not None) == (item.compliance is Compliance.NON_COMPLIANT)
        if item.violation is not None:
            assert item.violation.resource_id == item.resource.key
            assert item.resource.config_type == "AWS::::Account" and item.resource.config_id == ACCOUNT
    keys = [item.resource.key for item in items if item.resource is not None]
    assert len(keys) == len(set(keys)), "two results for one resource"
    return items


def single(module: ModuleType, snap: IdentityCenterSnapshot, ctx: Context | None = None) -> StateResult:
    items = results(module, snap, ctx)
    assert len(items) == 1 and items[0].resource is None, "expected one account-level result"
    return items[0]


def by_key(items: list[StateResult]) -> dict[str, StateResult]:
    return {item.resource.key: item for item in items}


@dataclass
class Sweep:
    evaluations: list[StateEvaluation]
    not_run: list[NotRun]
    failures: list[RuleFailure]

    def by_key(self) -> dict[str, StateEvaluation]:
        """The evaluations with a finding, by resource key (the summing account evaluation has none)."""
        return {e.key: e for e in self.evaluations if e.finding is not None}

    @property
    def summary(self) -> StateEvaluation:
        """The ``AWS::::Account`` evaluation that tells AWS Config about the resources it does not record."""
        (found,) = [e for e in self.evaluations if e.finding is None]
        assert found.resource_type == "AWS::::Account" and found.resource_id == ACCOUNT and found.reported
        return found


def sweep(module: ModuleType, snap: IdentityCenterSnapshot, ctx: Context | None = None) -> Sweep:
    """The rule run by the state engine, as the sweep runs it: a registry of this rule only, the instance as an
    ``identity_center`` subject filed in Identity Center's region."""
    ctx = ctx or context()
    engine = StateEngine(Registry([Rule(module.META, None, module.evaluate_state)]))
    not_run: list[NotRun] = []
    failures: list[RuleFailure] = []
    evaluations = engine.evaluate(engine.rules([module.META.id], ctx),
                                  [posture_subject(snap, "identity_center", HOME)], ctx,
                                  Home(ACCOUNT, SWEEP_REGION, "aws"), not_run=not_run, failures=failures)
    assert not failures, failures
    return Sweep(evaluations, not_run, failures)


def finding_id(module: ModuleType, key: str) -> str:
    return state_finding_id(module.META.id, HOME, key)


def asff(evaluation: StateEvaluation) -> dict:
    """The evaluation's finding as strict, valid ASFF."""
    document = to_asff(evaluation.finding, product_arn=PRODUCT_ARN, updated_at=NOW)
    assert_valid_asff(document)
    return document
