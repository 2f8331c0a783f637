"""An emulated organisation with IAM and Identity Center posture to judge: for `make demo`, `make bench`
(bench_sweep.py) and the functional tests of `audit-account`. Runs against moto (in-process, `mock_aws` or
a ThreadedMotoServer started by this process).

moto 5.2 lacks a few things AWS does, and :func:`emulator_gaps` fills them, in AWS's response shapes, for as
long as the ``with`` block runs:

* sso-admin: ``Get/PutPermissionsBoundaryForPermissionSet`` are not implemented; ``ListAccountsForProvisioned
  PermissionSet`` ignores ``ProvisioningStatus`` and lists only the caller's account, whereas AWS provisions a
  permission set into every account it is assigned in (``CreateAccountAssignment``);
* identitystore: a user has no ``ExternalIds`` (a SCIM provisioner sets them; ``CreateUser`` cannot): ``ListUsers``
  adds those of :data:`SCIM_USERS`;
* Access Analyzer is not emulated at all: ``ListAnalyzers`` is answered from :data:`ANALYZERS` (region ->
  analyzers) by a hook on botocore's client, so every client this process makes sees it.

:func:`build_world` creates the world the README's demo describes; :func:`build_sized_world` one of a given
size for the sweep benchmark.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from datetime import datetime, timezone

ANALYZERS: dict[str, list[dict]] = {}  # region -> ListAnalyzers' "analyzers" entries
OUTDATED: dict[str, set[str]] = {}  # permission set ARN -> accounts running an older version of it
SCIM_USERS: dict[str, list[dict]] = {}  # identity store user id -> the ExternalIds its SCIM provisioner set
_BOUNDARIES: dict[tuple[str, str], dict] = {}
ADMIN = "arn:aws:iam::aws:policy/AdministratorAccess"
READ_ONLY = "arn:aws:iam::aws:policy/ReadOnlyAccess"
ADMIN_DOCUMENT = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}


@contextlib.contextmanager
def emulator_gaps() -> Iterator[None]:
    """Fill moto's gaps (module docstring) while the block runs; restores moto on exit."""
    from botocore.client import BaseClient
    from moto.identitystore.models import IdentityStoreBackend
    from moto.ssoadmin.models import SSOAdminBackend
    from moto.ssoadmin.responses import SSOAdminResponse

    original_call = BaseClient._make_api_call
    original_accounts = SSOAdminBackend.list_accounts_for_provisioned_permission_set
    original_response = SSOAdminResponse.list_accounts_for_provisioned_permission_set
    original_users = IdentityStoreBackend.list_users

    def list_users(backend, *args, **kwargs):
        answer = original_users(backend, *args, **kwargs)
        users, rest = (answer[0], answer[1:]) if isinstance(answer, tuple) else (answer, None)
        users = [{**user, "ExternalIds": SCIM_USERS[user["UserId"]]} if user["UserId"] in SCIM_USERS else user
                 for user in users]
        return (users, *rest) if rest is not None else users

    def make_api_call(client, operation, params):
        if client.meta.service_model.service_name == "accessanalyzer" and operation == "ListAnalyzers":
            return {"analyzers": [dict(entry) for entry in ANALYZERS.get(client.meta.region_name, [])]}
        return original_call(client, operation, params)

    def provisioned(backend, instance_arn, permission_set_arn):
        accounts = set(original_accounts(backend, instance_arn, permission_set_arn))
        accounts |= {a.target_id for a in backend.account_assignments
                     if a.instance_arn == instance_arn and a.permission_set_arn == permission_set_arn}
        return sorted(accounts)

    def accounts_response(response):
        params = json.loads(response.body)
        accounts = response.ssoadmin_backend.list_accounts_for_provisioned_permission_set(
            instance_arn=params.get("InstanceArn"), permission_set_arn=params.get("PermissionSetArn"))
        if params.get("ProvisioningStatus") == "LATEST_PERMISSION_SET_NOT_PROVISIONED":
            accounts = [a for a in accounts if a in OUTDATED.get(params.get("PermissionSetArn"), set())]
        elif params.get("ProvisioningStatus") == "LATEST_PERMISSION_SET_PROVISIONED":
            accounts = [a for a in accounts if a not in OUTDATED.get(params.get("PermissionSetArn"), set())]
        return json.dumps({"AccountIds": accounts})

    def get_boundary(response):
        params = json.loads(response.body)
        boundary = _BOUNDARIES.get((params.get("InstanceArn"), params.get("PermissionSetArn")))
        if boundary is None:
            from moto.core.exceptions import JsonRESTError

            raise JsonRESTError("ResourceNotFoundException", "The permissions boundary was not found.")
        return json.dumps({"PermissionsBoundary": boundary})

    def put_boundary(response):
        params = json.loads(response.body)
        _BOUNDARIES[(params.get("InstanceArn"), params.get("PermissionSetArn"))] = params["PermissionsBoundary"]
        return "{}"

    BaseClient._make_api_call = make_api_call
    SSOAdminBackend.list_accounts_for_provisioned_permission_set = provisioned
    SSOAdminResponse.list_accounts_for_provisioned_permission_set = accounts_response
    SSOAdminResponse.get_permissions_boundary_for_permission_set = get_boundary
    SSOAdminResponse.put_permissions_boundary_to_permission_set = put_boundary
    IdentityStoreBackend.list_users = list_users
    try:
        yield
    finally:
        BaseClient._make_api_call = original_call
        SSOAdminBackend.list_accounts_for_provisioned_permission_set = original_accounts
        SSOAdminResponse.list_accounts_for_provisioned_permission_set = original_response
        IdentityStoreBackend.list_users = original_users
        del SSOAdminResponse.get_permissions_boundary_for_permission_set
        del SSOAdminResponse.put_permissions_boundary_to_permission_set
        ANALYZERS.clear()
        OUTDATED.clear()
        SCIM_USERS.clear()
        _BOUNDARIES.clear()


def _reserved_role(iam, account: str, permission_set: str, suffix: str, policies: list[str]) -> str:
    """The role Identity Center provisions for a permission set (moto provisions none): its name, path, trust."""
    name = f"AWSReservedSSO_{permission_set}_{suffix}"
    trust = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Federated": f"arn:aws:iam::{account}:saml-provider/AWSSSO_0123456789abcdef_DO_NOT_DELETE"},
        "Action": ["sts:AssumeRoleWithSAML", "sts:TagSession"],
        "Condition": {"StringEquals": {"SAML:aud": "https://signin.aws.amazon.com/saml"}}}]}
    iam.create_role(RoleName=name, Path="/aws-reserved/sso.amazonaws.com/", AssumeRolePolicyDocument=json.dumps(trust))
    for arn in policies:
        iam.attach_role_policy(RoleName=name, PolicyArn=arn)
    return name


def build_world(session, account: str, region: str) -> dict:
    """The demo's organisation, in the account of ``session`` (which administers Identity Center):

    IAM posture: ``deploy-bot`` has a policy attached directly, ``LegacyAdmin`` (a customer managed ``*`` on
    ``*``) is attached to a role, nobody holds ``AWSSupportAccess``, ``intern`` holds
    ``AWSCloudShellFullAccess``, an Access Analyzer is ACTIVE in the region.
    Identity Center: ``Developers`` (ReadOnlyAccess, 8 h) assigned to a group (compliant); ``AdministratorAccess``
    (12 h) assigned directly to ``jane@example.com`` (HIGH) and its session too long (MEDIUM: privileged); its
    reserved role drifted (an extra policy attached by hand: HIGH); ``contractor@example.com`` made by hand in a
    directory that Entra ID provisions over SCIM (MEDIUM); ``jane`` and the group came over SCIM.
    Returns the ids a test asserts against."""
    iam = session.client("iam")
    iam.create_user(UserName="deploy-bot")
    iam.attach_user_policy(UserName="deploy-bot", PolicyArn=READ_ONLY)
    legacy = iam.create_policy(PolicyName="LegacyAdmin", PolicyDocument=json.dumps(ADMIN_DOCUMENT))["Policy"]["Arn"]
    iam.create_role(RoleName="legacy-ops", AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{account}:root"}, "Action": "sts:AssumeRole"}]}))
    iam.attach_role_policy(RoleName="legacy-ops", PolicyArn=legacy)
    iam.create_group(GroupName="interns")
    iam.create_user(UserName="intern")
    iam.add_user_to_group(GroupName="interns", UserName="intern")
    iam.attach_group_policy(GroupName="interns", PolicyArn="arn:aws:iam::aws:policy/AWSCloudShellFullAccess")
    ANALYZERS[region] = [{"arn": f"arn:aws:access-analyzer:{region}:{account}:analyzer/account-analyzer",
                          "name": "account-analyzer", "type": "ACCOUNT", "status": "ACTIVE",
                          "createdAt": datetime(2026, 1, 5, tzinfo=timezone.utc)}]

    sso = session.client("sso-admin", region_name=region)
    store = session.client("identitystore", region_name=region)
    (instance,) = sso.list_instances()["Instances"]
    instance_arn, store_id = instance["InstanceArn"], instance["IdentityStoreId"]
    developers = sso.create_permission_set(Name="Developers", InstanceArn=instance_arn, SessionDuration="PT8H")
    developers = developers["PermissionSet"]["PermissionSetArn"]
    sso.attach_managed_policy_to_permission_set(InstanceArn=instance_arn, PermissionSetArn=developers,
                                                ManagedPolicyArn=READ_ONLY)
    admins = sso.create_permission_set(Name="AdministratorAccess", InstanceArn=instance_arn, SessionDuration="PT12H")
    admins = admins["PermissionSet"]["PermissionSetArn"]
    sso.attach_managed_policy_to_permission_set(InstanceArn=instance_arn, PermissionSetArn=admins,
                                                ManagedPolicyArn=ADMIN)
    jane = store.create_user(IdentityStoreId=store_id, UserName="jane@example.com", DisplayName="Jane Doe",
                             Name={"GivenName": "Jane", "FamilyName": "Doe"})["UserId"]
    contractor = store.create_user(IdentityStoreId=store_id, UserName="contractor@example.com",
                                   DisplayName="Contractor", Name={"GivenName": "Con", "FamilyName": "Tractor"})["UserId"]
    group = store.create_group(IdentityStoreId=store_id, DisplayName="aws-developers")["GroupId"]
    _scim(store_id, region, account, users={jane: "5f1c4a8e-entra-jane"}, groups={group: "0b7e-entra-aws-developers"})
    sso.create_account_assignment(InstanceArn=instance_arn, TargetId=account, TargetType="AWS_ACCOUNT",
                                  PermissionSetArn=developers, PrincipalType="GROUP", PrincipalId=group)
    sso.create_account_assignment(InstanceArn=instance_arn, TargetId=account, TargetType="AWS_ACCOUNT",
                                  PermissionSetArn=admins, PrincipalType="USER", PrincipalId=jane)
    _reserved_role(iam, account, "Developers", "1a2b3c4d5e6f7a8b", [READ_ONLY])
    drifted = _reserved_role(iam, account, "AdministratorAccess", "9f8e7d6c5b4a3f2e", [ADMIN])
    iam.attach_role_policy(RoleName=drifted, PolicyArn="arn:aws:iam::aws:policy/IAMFullAccess")  # by hand
    return {"instance": instance_arn, "developers": developers, "admins": admins, "jane": jane,
            "contractor": contractor, "group": group, "drifted_role": drifted}


def _scim(store_id: str, region: str, account: str, *, users: dict[str, str], groups: dict[str, str]) -> None:
    """What a SCIM provisioner leaves on users and groups (``ExternalIds``), which the identity store API cannot
    set by hand (that is the point): users through :data:`SCIM_USERS`, groups in moto's store directly."""
    from moto.identitystore.models import identitystore_backends

    store = identitystore_backends[account][region].identity_stores[store_id]
    for user_id, external in users.items():
        SCIM_USERS[user_id] = [{"Issuer": "https://scim.example.com/entra", "Id": external}]
    for group_id, external in groups.items():
        group = store.groups[group_id]
        store.groups[group_id] = group._replace(ExternalIds=[{"Issuer": "https://scim.example.com/entra",
                                                              "Id": external}])


def build_sized_world(session, account: str, region: str, *, permission_sets: int, accounts: int, users: int) -> None:
    """``permission_sets`` sets, each assigned in ``accounts`` accounts to one group and to one user; ``users``
    directory users (for the benchmark of one Identity Center sweep's API calls)."""
    sso = session.client("sso-admin", region_name=region)
    store = session.client("identitystore", region_name=region)
    (instance,) = sso.list_instances()["Instances"]
    instance_arn, store_id = instance["InstanceArn"], instance["IdentityStoreId"]
    people = [store.create_user(IdentityStoreId=store_id, UserName=f"user{index:05d}@example.com",
                                DisplayName=f"User {index}", Name={"GivenName": "U", "FamilyName": str(index)})["UserId"]
              for index in range(users)]
    group = store.create_group(IdentityStoreId=store_id, DisplayName="everyone")["GroupId"]
    targets = [account] + [f"{200000000000 + index:012d}" for index in range(accounts - 1)]
    for index in range(permission_sets):
        arn = sso.create_permission_set(Name=f"Set{index:03d}", InstanceArn=instance_arn,
                                        SessionDuration="PT4H")["PermissionSet"]["PermissionSetArn"]
        sso.attach_managed_policy_to_permission_set(InstanceArn=instance_arn, PermissionSetArn=arn,
                                                    ManagedPolicyArn=READ_ONLY)
        for target in targets:
            sso.create_account_assignment(InstanceArn=instance_arn, TargetId=target, TargetType="AWS_ACCOUNT",
                                          PermissionSetArn=arn, PrincipalType="GROUP", PrincipalId=group)
            sso.create_account_assignment(InstanceArn=instance_arn, TargetId=target, TargetType="AWS_ACCOUNT",
                                          PermissionSetArn=arn, PrincipalType="USER",
                                          PrincipalId=people[index % len(people)] if people else group)
