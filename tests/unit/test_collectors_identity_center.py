"""collect_identity_center: instance choice, permission sets, assignments, directory, reserved roles, parts,
errors and the number of API calls (the formula of the module docs).

Where the emulator stands in, and where it cannot:

* moto (``mock_aws``) runs sso-admin, identitystore, IAM and STS. Its sso-admin creates one ACTIVE instance
  per account and region by itself (``SSOAdminBackend.__init__``), names permission sets
  ``arn:aws:sso:::instance/ssoins-.../ps-...`` (AWS: ``...:permissionSet/ssoins-.../ps-...``), provisions a set
  to the caller's account only, and lacks ``GetPermissionsBoundaryForPermissionSet`` (NotImplementedError) and
  the ``ProvisioningStatus`` filter of ``ListAccountsForProvisionedPermissionSet`` (ignored: it would call every
  account outdated). :class:`MotoSsoAdmin` answers those two in the API reference's shapes: no boundary
  (``ResourceNotFoundException``) and no outdated account (moto provisions at once and never lets a set drift).
* moto's identitystore ``User`` has no ``ExternalIds`` at all (``CreateUser`` does not take them) and groups
  are created with ``[]``: a group's ``ExternalIds`` are set on the backend directly; users with
  ``ExternalIds`` come from a botocore ``Stubber``.
* botocore's ``Stubber`` (responses in the shapes of the IAM Identity Center and Identity Store API references)
  for everything moto cannot do: the permissions boundary (AWS managed ARN, customer managed reference, none),
  the ``ProvisioningStatus`` filter, ``NextToken`` pagination, ``AccessDeniedException`` on ``ListInstances``,
  no instance, several instances, and errors in one part. Reserved roles are moto IAM roles at
  ``/aws-reserved/sso.amazonaws.com/`` named ``AWSReservedSSO_<set>_<16 hex>``, in the home account and in a
  member account reached through the project's ``MemberAccess`` (moto STS); one member refuses the role.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber
from identity_auditor.aws.member_access import MemberAccess, MemberAccessError
from identity_auditor.aws.retry import RetryPolicy
from identity_auditor.collectors import ApiCalls
from identity_auditor.collectors.identity_center import PARTS, choose_instance, collect_identity_center
from identity_auditor.model.snapshots import (
    AccountAssignment,
    CustomerManagedPolicyReference,
    DirectoryPrincipal,
    InlinePolicy,
    PermissionSet,
    ReservedRole,
)
from moto import mock_aws

REGION = "us-east-1"
HOME = "123456789012"  # the management account (moto's default account)
MEMBER = "210987654321"
REFUSING = "444455556666"  # a member account whose auditor role cannot be assumed
MEMBER_ROLE = "IdentityAuditorMember"
NO_SLEEP = RetryPolicy(max_attempts=3, sleep=lambda seconds: None)

INSTANCE = "arn:aws:sso:::instance/ssoins-7223a8e5d2f3bd2c"
STORE = "d-9067642ac7"
PS_ADMIN = "arn:aws:sso:::permissionSet/ssoins-7223a8e5d2f3bd2c/ps-f1ab3a7d7c5e3b22"
PS_READ = "arn:aws:sso:::permissionSet/ssoins-7223a8e5d2f3bd2c/ps-2b6c1e0f9a8d7c65"
PS_POWER = "arn:aws:sso:::permissionSet/ssoins-7223a8e5d2f3bd2c/ps-9d8c7b6a5f4e3d21"
ALICE = "9067642ac7-3c1f5a2e-7b4d-4e8a-9f60-1d2c3b4a5e6f"
BOB = "9067642ac7-8e7d6c5b-4a39-4281-b7c6-d5e4f3a2b1c0"
ADMINS = "9067642ac7-a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d"
CREATED = datetime(2024, 3, 14, 9, 26, 53, tzinfo=timezone.utc)
# ExternalIds as a SCIM provisioner sets them; the Issuer and Id values are opaque text chosen by the IdP.
ALICE_EXTERNAL = {"Issuer": "https://scim.example-idp.com/aws", "Id": "00u1a2b3c4d5e6f7g8h9"}
ADMINS_EXTERNAL = {"Issuer": "https://scim.example-idp.com/aws", "Id": "00g9h8g7f6e5d4c3b2a1"}
READ_INLINE = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Deny", "Action": "aws-portal:*", "Resource": "*"}]})
RESERVED_PATH = "/aws-reserved/sso.amazonaws.com/"
TRUST_SAML = json.dumps({"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow",
    "Principal": {"Federated": f"arn:aws:iam::{HOME}:saml-provider/AWSSSO_5d1f2e3a4b5c6d7e_DO_NOT_DELETE"},
    "Action": ["sts:AssumeRoleWithSAML", "sts:TagSession"],
    "Condition": {"StringEquals": {"SAML:aud": "https://signin.aws.amazon.com/saml"}}}]})
S3_READ = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:Get*", "Resource": "*"}]}


def calls_formula(*, permission_sets: int, provisioned: int, user_pages: int = 1, group_pages: int = 1,
                  accounts_read: int = 0, extra_pages: int = 0) -> int:
    """The module docstring's formula: ListInstances + ListPermissionSets + 7 per set + one
    ListAccountAssignments per (set, provisioned account) + ListUsers / ListGroups pages + one
    GetAccountAuthorizationDetails per account read; ``extra_pages``: further pages of any list."""
    return 1 + 1 + 7 * permission_sets + provisioned + user_pages + group_pages + accounts_read + extra_pages


def client_error(code: str, message: str, operation: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message},
                        "ResponseMetadata": {"HTTPStatusCode": 400}}, operation)


# -- moto end to end --------------------------------------------------------------------------------------------


class MotoSsoAdmin:
    """moto's sso-admin client, with the two answers moto lacks given in the API reference's shapes."""

    def __init__(self, client: Any):
        self.client = client
        self.answered: list[str] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)

    def get_permissions_boundary_for_permission_set(self, **params: Any) -> dict:
        self.answered.append("get_permissions_boundary_for_permission_set")
        raise client_error("ResourceNotFoundException", "Could not find PermissionsBoundary for PermissionSet "
                           f"{params['PermissionSetArn']}", "GetPermissionsBoundaryForPermissionSet")

    def list_accounts_for_provisioned_permission_set(self, **params: Any) -> dict:
        if params.get("ProvisioningStatus") == "LATEST_PERMISSION_SET_NOT_PROVISIONED":
            self.answered.append("list_accounts_for_provisioned_permission_set")
            return {"AccountIds": []}
        return self.client.list_accounts_for_provisioned_permission_set(**params)


def wire(client: Any) -> list[str]:
    """The operations a boto3 client sends (moto answers them), in order."""
    sent: list[str] = []
    client.meta.events.register("before-call", lambda model, **_: sent.append(model.name))
    return sent


@pytest.fixture
def aws():
    with mock_aws():
        yield


def test_moto_instance_sets_assignments_directory_and_reserved_roles(aws):
    raw = boto3.client("sso-admin", region_name=REGION)
    sso = MotoSsoAdmin(raw)
    store_client = boto3.client("identitystore", region_name=REGION)
    iam = boto3.client("iam", region_name=REGION)
    instance = raw.list_instances()["Instances"][0]
    instance_arn, store = instance["InstanceArn"], instance["IdentityStoreId"]

    admin = raw.create_permission_set(InstanceArn=instance_arn, Name="AdministratorAccess", SessionDuration="PT1H",
                                      Description="Full access for the platform team")["PermissionSet"]
    raw.attach_managed_policy_to_permission_set(InstanceArn=instance_arn, PermissionSetArn=admin["PermissionSetArn"],
                                                ManagedPolicyArn="arn:aws:iam::aws:policy/AdministratorAccess")
    developer = raw.create_permission_set(InstanceArn=instance_arn, Name="Developer",
                                          SessionDuration="PT8H")["PermissionSet"]
    raw.attach_customer_managed_policy_reference_to_permission_set(
        InstanceArn=instance_arn, PermissionSetArn=developer["PermissionSetArn"],
        CustomerManagedPolicyReference={"Name": "DevTools", "Path": "/teams/"})
    raw.put_inline_policy_to_permission_set(InstanceArn=instance_arn, PermissionSetArn=developer["PermissionSetArn"],
                                            InlinePolicy=json.dumps(S3_READ))
    auditor = raw.create_permission_set(InstanceArn=instance_arn, Name="Auditor",
                                        SessionDuration="PT2H")["PermissionSet"]  # never provisioned
    for permission_set in (admin, developer):
        raw.provision_permission_set(InstanceArn=instance_arn, PermissionSetArn=permission_set["PermissionSetArn"],
                                     TargetType="AWS_ACCOUNT", TargetId=HOME)

    alice = store_client.create_user(IdentityStoreId=store, UserName="alice@example.com", DisplayName="Alice Doe",
                                      Name={"GivenName": "Alice", "FamilyName": "Doe"})["UserId"]
    admins = store_client.create_group(IdentityStoreId=store, DisplayName="PlatformAdmins")["GroupId"]
    developers = store_client.create_group(IdentityStoreId=store, DisplayName="Developers")["GroupId"]
    from moto.identitystore.models import identitystore_backends  # the only way to give a group ExternalIds

    groups = identitystore_backends[HOME][REGION].identity_stores[store].groups
    groups[developers] = groups[developers]._replace(ExternalIds=[ADMINS_EXTERNAL])

    for principal_type, principal_id, permission_set in (("GROUP", admins, admin), ("USER", alice, developer),
                                                         ("GROUP", developers, developer)):
        raw.create_account_assignment(InstanceArn=instance_arn, TargetId=HOME, TargetType="AWS_ACCOUNT",
                                      PermissionSetArn=permission_set["PermissionSetArn"],
                                      PrincipalType=principal_type, PrincipalId=principal_id)

    dev_tools = iam.create_policy(PolicyName="DevTools", Path="/teams/", PolicyDocument=json.dumps(S3_READ))
    iam.create_role(RoleName="AWSReservedSSO_AdministratorAccess_0123456789abcdef", Path=RESERVED_PATH,
                    AssumeRolePolicyDocument=TRUST_SAML)
    iam.create_role(RoleName="AWSReservedSSO_Developer_fedcba9876543210", Path=RESERVED_PATH,
                    AssumeRolePolicyDocument=TRUST_SAML,
                    PermissionsBoundary="arn:aws:iam::aws:policy/PowerUserAccess")
    iam.attach_role_policy(RoleName="AWSReservedSSO_Developer_fedcba9876543210",
                           PolicyArn=dev_tools["Policy"]["Arn"])
    iam.put_role_policy(RoleName="AWSReservedSSO_Developer_fedcba9876543210", PolicyName="AwsSSOInlinePolicy",
                        PolicyDocument=json.dumps(S3_READ))
    # A reserved role of an instance in another region (the region follows the path) and one kept by name only.
    iam.create_role(RoleName="AWSReservedSSO_Auditor_00ff00ff00ff00ff", Path=f"{RESERVED_PATH}eu-west-1/",
                    AssumeRolePolicyDocument=TRUST_SAML)
    iam.create_role(RoleName="AWSReservedSSO_Legacy_1122334455667788", Path="/",
                    AssumeRolePolicyDocument=TRUST_SAML)
    iam.create_role(RoleName="deploy", Path="/", AssumeRolePolicyDocument=TRUST_SAML)  # not reserved
    iam.create_role(RoleName="AWSServiceRoleForSSO", Path="/aws-service-role/sso.amazonaws.com/",
                    AssumeRolePolicyDocument=TRUST_SAML)  # Identity Center's service-linked role: not reserved

    sent_sso, sent_store, sent_iam = wire(raw), wire(store_client), wire(iam)
    asked: list[str] = []

    def member_iam(account: str) -> Any:
        asked.append(account)
        return iam

    calls = ApiCalls(NO_SLEEP)
    snapshot = collect_identity_center(sso, store_client, account_id=HOME, region=REGION, partition="aws",
                                       member_iam=member_iam, calls=calls)

    assert snapshot.instance_arn == instance_arn and snapshot.identity_store_id == store
    assert (snapshot.account_id, snapshot.region, snapshot.partition) == (HOME, REGION, "aws")
    assert dict(snapshot.unavailable) == {}
    assert snapshot.permission_sets == (
        PermissionSet(arn=admin["PermissionSetArn"], name="AdministratorAccess", session_duration="PT1H",
                      managed_policies=("arn:aws:iam::aws:policy/AdministratorAccess",),
                      provisioned_accounts=(HOME,), description="Full access for the platform team"),
        PermissionSet(arn=developer["PermissionSetArn"], name="Developer", session_duration="PT8H",
                      customer_managed=(CustomerManagedPolicyReference("DevTools", "/teams/"),),
                      inline_policy=json.dumps(S3_READ), provisioned_accounts=(HOME,)),
        PermissionSet(arn=auditor["PermissionSetArn"], name="Auditor", session_duration="PT2H"),
    )
    assert snapshot.assignments == (
        AccountAssignment(HOME, admin["PermissionSetArn"], "GROUP", admins),
        AccountAssignment(HOME, developer["PermissionSetArn"], "USER", alice),
        AccountAssignment(HOME, developer["PermissionSetArn"], "GROUP", developers),
    )
    assert snapshot.users == (DirectoryPrincipal("USER", alice, "alice@example.com", "Alice Doe"),)
    assert snapshot.groups == (
        DirectoryPrincipal("GROUP", admins, "PlatformAdmins"),
        DirectoryPrincipal("GROUP", developers, "Developers",
                           external_ids=((ADMINS_EXTERNAL["Issuer"], ADMINS_EXTERNAL["Id"]),)),
    )
    roles = f"arn:aws:iam::{HOME}:role"
    assert dict(snapshot.reserved_roles) == {HOME: (
        ReservedRole(HOME, "AWSReservedSSO_AdministratorAccess_0123456789abcdef",
                     f"{roles}{RESERVED_PATH}AWSReservedSSO_AdministratorAccess_0123456789abcdef"),
        ReservedRole(HOME, "AWSReservedSSO_Developer_fedcba9876543210",
                     f"{roles}{RESERVED_PATH}AWSReservedSSO_Developer_fedcba9876543210",
                     attached=(f"arn:aws:iam::{HOME}:policy/teams/DevTools",),
                     inline=(InlinePolicy("AwsSSOInlinePolicy", S3_READ),),
                     permissions_boundary="arn:aws:iam::aws:policy/PowerUserAccess"),
        ReservedRole(HOME, "AWSReservedSSO_Auditor_00ff00ff00ff00ff",
                     f"{roles}{RESERVED_PATH}eu-west-1/AWSReservedSSO_Auditor_00ff00ff00ff00ff"),
        ReservedRole(HOME, "AWSReservedSSO_Legacy_1122334455667788",
                     f"{roles}/AWSReservedSSO_Legacy_1122334455667788"),
    )}
    assert asked == [HOME]  # the instance's own account is asked for too

    expected = calls_formula(permission_sets=3, provisioned=2, accounts_read=1)
    assert expected == 28
    assert calls.total == expected == len(sent_sso) + len(sso.answered) + len(sent_store) + len(sent_iam)
    assert calls.by_operation["list_accounts_for_provisioned_permission_set"] == 6
    assert calls.by_operation["list_account_assignments"] == 2  # Auditor is provisioned nowhere
    assert sent_iam == ["GetAccountAuthorizationDetails"]


# -- stubbed sso-admin / identitystore ----------------------------------------------------------------------------


@pytest.fixture
def sso():
    client = boto3.client("sso-admin", region_name=REGION)
    with Stubber(client) as stubber:
        client.stubber = stubber
        yield client
        stubber.assert_no_pending_responses()


@pytest.fixture
def store():
    client = boto3.client("identitystore", region_name=REGION)
    with Stubber(client) as stubber:
        client.stubber = stubber
        yield client
        stubber.assert_no_pending_responses()


def paged(client: Any, operation: str, key: str, pages: list[list], **params: Any) -> None:
    """Queue ``pages`` of a NextToken-paged operation, expecting the collector's requests (MaxResults 100)."""
    token = None
    for index, items in enumerate(pages):
        last = index == len(pages) - 1
        response = {key: items, **({} if last else {"NextToken": f"{operation}-page-{index + 2}"})}
        client.stubber.add_response(operation, response,
                                    {**params, "MaxResults": 100, **({"NextToken": token} if token else {})})
        token = response.get("NextToken")


def instance(arn: str = INSTANCE, owner: str = HOME, status: str = "ACTIVE", store_id: str | None = STORE) -> dict:
    """An entry of ``ListInstances`` (API reference: InstanceMetadata)."""
    return {"InstanceArn": arn, "OwnerAccountId": owner, "Status": status, "CreatedDate": CREATED,
            **({"IdentityStoreId": store_id,
                "IdentityStoreArn": f"arn:aws:identitystore::{owner}:identitystore/{store_id}"} if store_id else {})}


def permission_set(sso: Any, arn: str, *, name: str, duration: str | None, description: str | None = None,
                   managed: list[list[str]] = ([],), customer: list[dict] = (), inline: str = "",
                   boundary: dict | str | None = None, accounts: list[list[str]] = ([],),
                   outdated: list[str] = ()) -> None:
    """Queue the seven reads of one permission set, in the collector's order."""
    ids = {"InstanceArn": INSTANCE, "PermissionSetArn": arn}
    described = {"Name": name, "PermissionSetArn": arn, "CreatedDate": CREATED,
                 **({"SessionDuration": duration} if duration else {}),
                 **({"Description": description} if description else {})}
    sso.stubber.add_response("describe_permission_set", {"PermissionSet": described}, ids)
    paged(sso, "list_managed_policies_in_permission_set", "AttachedManagedPolicies",
          [[{"Name": policy.rsplit("/", 1)[-1], "Arn": policy} for policy in page] for page in managed], **ids)
    paged(sso, "list_customer_managed_policy_references_in_permission_set", "CustomerManagedPolicyReferences",
          [list(customer)], **ids)
    # Identity Center answers InlinePolicy "" for a set without one (moto too: see the moto test), which the
    # service model's minimum length of 1 keeps the Stubber from replaying: the key is left out instead.
    sso.stubber.add_response("get_inline_policy_for_permission_set", {"InlinePolicy": inline} if inline else {}, ids)
    if boundary is None:
        sso.stubber.add_client_error("get_permissions_boundary_for_permission_set", "ResourceNotFoundException",
                                     "Could not find PermissionsBoundary for PermissionSet", 400, expected_params=ids)
    elif isinstance(boundary, str):
        sso.stubber.add_client_error("get_permissions_boundary_for_permission_set", boundary,
                                     "User is not authorized to perform: sso:GetPermissionsBoundaryForPermissionSet",
                                     400, expected_params=ids)
        return
    else:
        sso.stubber.add_response("get_permissions_boundary_for_permission_set", {"PermissionsBoundary": boundary}, ids)
    paged(sso, "list_accounts_for_provisioned_permission_set", "AccountIds", accounts, **ids)
    paged(sso, "list_accounts_for_provisioned_permission_set", "AccountIds", [list(outdated)],
          ProvisioningStatus="LATEST_PERMISSION_SET_NOT_PROVISIONED", **ids)


def assignments(sso: Any, permission_set_arn: str, account: str, pages: list[list[tuple[str, str]]]) -> None:
    paged(sso, "list_account_assignments", "AccountAssignments",
          [[{"AccountId": account, "PermissionSetArn": permission_set_arn, "PrincipalType": kind, "PrincipalId": pid}
            for kind, pid in page] for page in pages],
          InstanceArn=INSTANCE, AccountId=account, PermissionSetArn=permission_set_arn)


def users(store: Any, pages: list[list[dict]]) -> None:
    paged(store, "list_users", "Users", pages, IdentityStoreId=STORE)


def groups(store: Any, pages: list[list[dict]]) -> None:
    paged(store, "list_groups", "Groups", pages, IdentityStoreId=STORE)


def user_item(user_id: str, user_name: str, display: str, external: list[dict] | None = None) -> dict:
    """A ``User`` of ``ListUsers`` (Identity Store API reference)."""
    return {"IdentityStoreId": STORE, "UserId": user_id, "UserArn": f"arn:aws:identitystore:::user/{user_id}",
            "Revision": "4", "UserName": user_name, "DisplayName": display,
            "Name": {"GivenName": display.split()[0], "FamilyName": display.split()[-1]},
            "Emails": [{"Value": user_name, "Type": "work", "Primary": True}],
            **({"ExternalIds": external} if external is not None else {})}


def group_item(group_id: str, display: str, external: list[dict] | None = None) -> dict:
    return {"IdentityStoreId": STORE, "GroupId": group_id, "GroupArn": f"arn:aws:identitystore:::group/{group_id}",
            "Revision": "2", "DisplayName": display,
            **({"ExternalIds": external} if external is not None else {})}


class RefusingSts:
    """moto's STS, except that the auditor role of ``REFUSING`` cannot be assumed (as when the StackSet never
    reached that account): STS answers AccessDenied and ``MemberAccess`` raises ``MemberAccessError``."""

    def __init__(self):
        self.sts = boto3.client("sts", region_name=REGION)

    def assume_role(self, **params: Any) -> dict:
        if f"::{REFUSING}:" in params["RoleArn"]:
            raise client_error("AccessDenied", f"User: arn:aws:sts::{HOME}:assumed-role/identity-auditor/audit is "
                               f"not authorized to perform: sts:AssumeRole on resource: {params['RoleArn']}",
                               "AssumeRole")
        return self.sts.assume_role(**params)


def test_members_pagination_boundaries_outdated_accounts_and_a_refused_member(aws, sso, store):
    access = MemberAccess(MEMBER_ROLE, home_account=HOME, region=REGION, sts_client=RefusingSts)

    def member_iam(account: str) -> Any:
        return (access.session(account) or boto3.Session()).client("iam", region_name=REGION)

    member = member_iam(MEMBER)
    member.create_role(RoleName="AWSReservedSSO_AdministratorAccess_a1b2c3d4e5f60718", Path=RESERVED_PATH,
                       AssumeRolePolicyDocument=TRUST_SAML)
    member.create_role(RoleName="AWSReservedSSO_ReadOnly_0f1e2d3c4b5a6978", Path=RESERVED_PATH,
                       AssumeRolePolicyDocument=TRUST_SAML,
                       PermissionsBoundary=f"arn:aws:iam::{MEMBER}:policy/DeveloperBoundary")
    member.create_role(RoleName="ci-deployer", Path="/", AssumeRolePolicyDocument=TRUST_SAML)
    boto3.client("iam", region_name=REGION).create_role(RoleName="break-glass", AssumeRolePolicyDocument=TRUST_SAML)

    paged(sso, "list_instances", "Instances", [[instance()]])
    paged(sso, "list_permission_sets", "PermissionSets", [[PS_ADMIN], [PS_READ, PS_POWER]], InstanceArn=INSTANCE)
    permission_set(sso, PS_ADMIN, name="AdministratorAccess", duration="PT1H", description="Break-glass admins",
                   managed=[["arn:aws:iam::aws:policy/AdministratorAccess"]],
                   accounts=[[HOME], [MEMBER]], outdated=[MEMBER])
    permission_set(sso, PS_READ, name="ReadOnly", duration="PT12H",
                   managed=[["arn:aws:iam::aws:policy/ReadOnlyAccess"]],
                   customer=[{"Name": "DenyBilling", "Path": "/guardrails/"}], inline=READ_INLINE,
                   boundary={"CustomerManagedPolicyReference": {"Name": "DeveloperBoundary", "Path": "/"}},
                   accounts=[[MEMBER, REFUSING]])
    permission_set(sso, PS_POWER, name="PowerUser", duration=None,
                   boundary={"ManagedPolicyArn": "arn:aws:iam::aws:policy/PowerUserAccess"})
    assignments(sso, PS_ADMIN, HOME, [[("GROUP", ADMINS)]])
    assignments(sso, PS_ADMIN, MEMBER, [[("USER", BOB)], [("GROUP", ADMINS)]])
    assignments(sso, PS_READ, MEMBER, [[("GROUP", ADMINS)]])
    assignments(sso, PS_READ, REFUSING, [[("USER", ALICE)]])
    users(store, [[user_item(ALICE, "alice@example.com", "Alice Doe", [ALICE_EXTERNAL])],
                  [user_item(BOB, "bob@example.com", "Bob Roe")]])
    groups(store, [[group_item(ADMINS, "PlatformAdmins", [ADMINS_EXTERNAL])]])

    calls = ApiCalls(NO_SLEEP)
    snapshot = collect_identity_center(sso, store, account_id=HOME, region=REGION, partition="aws",
                                       member_iam=member_iam, calls=calls)

    assert snapshot.instance_arn == INSTANCE and snapshot.identity_store_id == STORE
    assert snapshot.permission_sets == (
        PermissionSet(arn=PS_ADMIN, name="AdministratorAccess", session_duration="PT1H",
                      managed_policies=("arn:aws:iam::aws:policy/AdministratorAccess",),
                      provisioned_accounts=(HOME, MEMBER), outdated_accounts=(MEMBER,),
                      description="Break-glass admins"),
        PermissionSet(arn=PS_READ, name="ReadOnly", session_duration="PT12H",
                      managed_policies=("arn:aws:iam::aws:policy/ReadOnlyAccess",),
                      customer_managed=(CustomerManagedPolicyReference("DenyBilling", "/guardrails/"),),
                      inline_policy=READ_INLINE,
                      boundary_customer=CustomerManagedPolicyReference("DeveloperBoundary", "/"),
                      provisioned_accounts=(MEMBER, REFUSING)),
        PermissionSet(arn=PS_POWER, name="PowerUser", session_duration=None,
                      boundary_managed="arn:aws:iam::aws:policy/PowerUserAccess"),
    )
    assert snapshot.assignments == (
        AccountAssignment(HOME, PS_ADMIN, "GROUP", ADMINS),
        AccountAssignment(MEMBER, PS_ADMIN, "USER", BOB),
        AccountAssignment(MEMBER, PS_ADMIN, "GROUP", ADMINS),
        AccountAssignment(MEMBER, PS_READ, "GROUP", ADMINS),
        AccountAssignment(REFUSING, PS_READ, "USER", ALICE),
    )
    assert snapshot.users == (
        DirectoryPrincipal("USER", ALICE, "alice@example.com", "Alice Doe",
                           ((ALICE_EXTERNAL["Issuer"], ALICE_EXTERNAL["Id"]),)),
        DirectoryPrincipal("USER", BOB, "bob@example.com", "Bob Roe", ()),  # made by hand: no ExternalIds
    )
    assert snapshot.groups == (DirectoryPrincipal("GROUP", ADMINS, "PlatformAdmins", "",
                                                  ((ADMINS_EXTERNAL["Issuer"], ADMINS_EXTERNAL["Id"]),)),)
    member_roles = f"arn:aws:iam::{MEMBER}:role{RESERVED_PATH}"
    assert dict(snapshot.reserved_roles) == {
        HOME: (),  # read: the home account's only role is not a reserved one
        MEMBER: (
            ReservedRole(MEMBER, "AWSReservedSSO_AdministratorAccess_a1b2c3d4e5f60718",
                         f"{member_roles}AWSReservedSSO_AdministratorAccess_a1b2c3d4e5f60718"),
            ReservedRole(MEMBER, "AWSReservedSSO_ReadOnly_0f1e2d3c4b5a6978",
                         f"{member_roles}AWSReservedSSO_ReadOnly_0f1e2d3c4b5a6978",
                         permissions_boundary=f"arn:aws:iam::{MEMBER}:policy/DeveloperBoundary"),
        ),
    }
    role = f"arn:aws:iam::{REFUSING}:role/{MEMBER_ROLE}"
    assert dict(snapshot.unavailable) == {f"reserved_roles:{REFUSING}": (
        f"MemberAccessError: cannot assume {role}: An error occurred (AccessDenied) when calling the AssumeRole "
        f"operation: User: arn:aws:sts::{HOME}:assumed-role/identity-auditor/audit is not authorized to perform: "
        f"sts:AssumeRole on resource: {role}")}
    assert calls.total == calls_formula(permission_sets=3, provisioned=4, user_pages=2, accounts_read=2,
                                        extra_pages=3) == 35  # PS page 2, accounts page 2, assignments page 2
    assert calls.by_operation["get_account_authorization_details"] == 2


# -- the instance ---------------------------------------------------------------------------------------------------

ORG = "arn:aws:sso:::instance/ssoins-7223a8e5d2f3bd2c"
OWN = "arn:aws:sso:::instance/ssoins-68042c5b3e7a9f10"
OTHER = "arn:aws:sso:::instance/ssoins-1f2e3d4c5b6a7980"
MANAGEMENT = "999988887777"


@pytest.mark.parametrize(("instances", "expected"), [
    ([], None),
    ([instance(ORG, MANAGEMENT, "CREATE_IN_PROGRESS")], ORG),  # the only one, whatever its status
    ([instance(ORG, MANAGEMENT), instance(OWN, HOME)], OWN),  # the one this account owns
    ([instance(OWN, HOME, "CREATE_FAILED"), instance(ORG, MANAGEMENT)], OWN),  # owned beats ACTIVE
    ([instance(OTHER, HOME, "DELETE_IN_PROGRESS"), instance(OWN, HOME)], OWN),  # owned and ACTIVE first
    ([instance(OTHER, MEMBER, "CREATE_IN_PROGRESS"), instance(ORG, MANAGEMENT)], ORG),  # else the first ACTIVE
    ([instance(OTHER, MEMBER, "CREATE_FAILED"), instance(ORG, MANAGEMENT, "DELETE_IN_PROGRESS")], OTHER),
])
def test_choose_instance(instances, expected):
    chosen = choose_instance(instances, HOME)
    assert (chosen or {}).get("InstanceArn") == expected


def test_two_instances_over_two_pages_reads_the_owned_one_and_only_the_parts_asked(sso, store):
    own_store = "d-90670f3a21"
    paged(sso, "list_instances", "Instances", [[instance(ORG, MANAGEMENT)], [instance(OWN, HOME, store_id=own_store)]])
    bob = {**user_item(BOB, "bob@example.com", "Bob Roe"), "IdentityStoreId": own_store}
    paged(store, "list_users", "Users", [[bob]], IdentityStoreId=own_store)
    calls = ApiCalls(NO_SLEEP)
    snapshot = collect_identity_center(sso, store, account_id=HOME, region=REGION, partition="aws",
                                       member_iam=lambda account: pytest.fail("reserved roles were not asked"),
                                       calls=calls, parts={"users"})
    assert (snapshot.instance_arn, snapshot.identity_store_id) == (OWN, own_store)
    assert snapshot.users == (DirectoryPrincipal("USER", BOB, "bob@example.com", "Bob Roe"),)
    assert snapshot.permission_sets == () and snapshot.groups == () and dict(snapshot.reserved_roles) == {}
    assert dict(snapshot.unavailable) == {part: "not collected: not asked for" for part in PARTS if part != "users"}
    assert calls.total == 3


def test_access_denied_on_list_instances(sso, store):
    sso.stubber.add_client_error(
        "list_instances", "AccessDeniedException",
        f"User: arn:aws:sts::{MEMBER}:assumed-role/identity-auditor/audit is not authorized to perform: "
        "sso:ListInstances", 400, expected_params={"MaxResults": 100})
    calls = ApiCalls(NO_SLEEP)
    snapshot = collect_identity_center(sso, store, account_id=MEMBER, region=REGION, partition="aws",
                                       member_iam=lambda account: pytest.fail("nothing else is read"), calls=calls)
    assert snapshot.instance_arn is None
    assert dict(snapshot.unavailable) == {"instance": (
        f"ListInstances: AccessDeniedException: User: arn:aws:sts::{MEMBER}:assumed-role/identity-auditor/audit "
        "is not authorized to perform: sso:ListInstances")}
    assert snapshot.permission_sets == () and snapshot.users == ()
    assert calls.total == 1


def test_no_instance(sso, store):
    paged(sso, "list_instances", "Instances", [[]])
    calls = ApiCalls(NO_SLEEP)
    snapshot = collect_identity_center(sso, store, account_id=MEMBER, region="eu-west-1", partition="aws",
                                       member_iam=lambda account: pytest.fail("nothing else is read"), calls=calls)
    assert snapshot.instance_arn is None and snapshot.identity_store_id is None
    assert dict(snapshot.unavailable) == {} and dict(snapshot.reserved_roles) == {}
    assert (snapshot.account_id, snapshot.region) == (MEMBER, "eu-west-1")
    assert calls.total == 1


def test_list_instances_throttled_then_answered(sso, store):
    sso.stubber.add_client_error("list_instances", "ThrottlingException", "Rate exceeded", 400,
                                 expected_params={"MaxResults": 100})
    paged(sso, "list_instances", "Instances", [[]])
    calls = ApiCalls(NO_SLEEP)
    snapshot = collect_identity_center(sso, store, account_id=HOME, region=REGION, partition="aws", calls=calls)
    assert snapshot.instance_arn is None and dict(snapshot.unavailable) == {}
    assert calls.total == 2


def test_instance_without_identity_store(sso, store):
    paged(sso, "list_instances", "Instances", [[instance(status="CREATE_IN_PROGRESS", store_id=None)]])
    snapshot = collect_identity_center(sso, store, account_id=HOME, region=REGION, partition="aws",
                                       parts={"users", "groups"})
    assert snapshot.instance_arn == INSTANCE and snapshot.identity_store_id is None
    assert snapshot.unavailable["users"] == snapshot.unavailable["groups"] == (
        f"not read: instance {INSTANCE} names no identity store")


# -- parts and errors ------------------------------------------------------------------------------------------------


def test_permission_sets_unreadable_make_assignments_and_reserved_roles_unreadable(sso, store):
    paged(sso, "list_instances", "Instances", [[instance()]])
    paged(sso, "list_permission_sets", "PermissionSets", [[PS_ADMIN, PS_READ]], InstanceArn=INSTANCE)
    permission_set(sso, PS_ADMIN, name="AdministratorAccess", duration="PT1H", accounts=[[HOME]])
    permission_set(sso, PS_READ, name="ReadOnly", duration="PT4H", boundary="AccessDeniedException")
    users(store, [[user_item(BOB, "bob@example.com", "Bob Roe")]])
    groups(store, [[]])
    calls = ApiCalls(NO_SLEEP)
    snapshot = collect_identity_center(sso, store, account_id=HOME, region=REGION, partition="aws",
                                       member_iam=lambda account: pytest.fail("no account is known"), calls=calls)
    why = ("GetPermissionsBoundaryForPermissionSet: AccessDeniedException: User is not authorized to perform: "
           "sso:GetPermissionsBoundaryForPermissionSet")
    assert dict(snapshot.unavailable) == {
        "permission_sets": why,  # never half read: the first set, read whole, is dropped too
        "assignments": f"not read: the permission sets could not be read ({why})",
        "reserved_roles": f"not read: the permission sets could not be read ({why})",
    }
    assert snapshot.permission_sets == () and snapshot.assignments == () and dict(snapshot.reserved_roles) == {}
    assert snapshot.users == (DirectoryPrincipal("USER", BOB, "bob@example.com", "Bob Roe"),)  # still read
    assert snapshot.groups == ()
    assert calls.total == 1 + 1 + 7 + 5 + 1 + 1


def test_errors_in_assignments_users_and_one_account_leave_the_other_parts(sso, store):
    paged(sso, "list_instances", "Instances", [[instance()]])
    paged(sso, "list_permission_sets", "PermissionSets", [[PS_ADMIN]], InstanceArn=INSTANCE)
    permission_set(sso, PS_ADMIN, name="AdministratorAccess", duration="PT1H", accounts=[[HOME, MEMBER]])
    assignments(sso, PS_ADMIN, HOME, [[("GROUP", ADMINS)]])
    sso.stubber.add_client_error("list_account_assignments", "AccessDeniedException", "not authorized", 400,
                                 expected_params={"InstanceArn": INSTANCE, "AccountId": MEMBER,
                                                  "PermissionSetArn": PS_ADMIN, "MaxResults": 100})
    store.stubber.add_client_error("list_users", "AccessDeniedException", "identitystore:ListUsers denied", 400,
                                   expected_params={"IdentityStoreId": STORE, "MaxResults": 100})
    groups(store, [[group_item(ADMINS, "PlatformAdmins")]])
    home_iam = boto3.client("iam", region_name=REGION)
    member_iam = boto3.client("iam", region_name=REGION)
    with Stubber(home_iam) as home_stub, Stubber(member_iam) as member_stub:
        home_stub.add_response("get_account_authorization_details", {
            "RoleDetailList": [{
                "Path": RESERVED_PATH, "RoleName": "AWSReservedSSO_AdministratorAccess_0123456789abcdef",
                "RoleId": "AROAZ3EXAMPLEROLEID01", "CreateDate": CREATED,
                "Arn": f"arn:aws:iam::{HOME}:role{RESERVED_PATH}AWSReservedSSO_AdministratorAccess_0123456789abcdef",
                "AttachedManagedPolicies": [{"PolicyName": "AdministratorAccess",
                                             "PolicyArn": "arn:aws:iam::aws:policy/AdministratorAccess"}],
                "RolePolicyList": []}],
            "IsTruncated": False}, {"Filter": ["Role"], "MaxItems": 1000})
        member_stub.add_client_error("get_account_authorization_details", "AccessDenied",
                                     "not authorized to perform: iam:GetAccountAuthorizationDetails", 403,
                                     expected_params={"Filter": ["Role"], "MaxItems": 1000})
        clients = {HOME: home_iam, MEMBER: member_iam}
        calls = ApiCalls(NO_SLEEP)
        snapshot = collect_identity_center(sso, store, account_id=HOME, region=REGION, partition="aws",
                                           member_iam=clients.__getitem__, calls=calls)
        home_stub.assert_no_pending_responses()
        member_stub.assert_no_pending_responses()
    assert dict(snapshot.unavailable) == {
        "assignments": "ListAccountAssignments: AccessDeniedException: not authorized",
        "users": "ListUsers: AccessDeniedException: identitystore:ListUsers denied",
        f"reserved_roles:{MEMBER}": ("GetAccountAuthorizationDetails: AccessDenied: not authorized to perform: "
                                     "iam:GetAccountAuthorizationDetails"),
    }
    assert snapshot.assignments == () and snapshot.users == ()
    assert [ps.arn for ps in snapshot.permission_sets] == [PS_ADMIN]
    assert snapshot.groups == (DirectoryPrincipal("GROUP", ADMINS, "PlatformAdmins"),)
    assert dict(snapshot.reserved_roles) == {HOME: (ReservedRole(
        HOME, "AWSReservedSSO_AdministratorAccess_0123456789abcdef",
        f"arn:aws:iam::{HOME}:role{RESERVED_PATH}AWSReservedSSO_AdministratorAccess_0123456789abcdef",
        attached=("arn:aws:iam::aws:policy/AdministratorAccess",)),)}
    assert calls.total == calls_formula(permission_sets=1, provisioned=2, accounts_read=2)


def test_member_iam_errors_of_any_kind_only_mark_that_account(sso, store):
    paged(sso, "list_instances", "Instances", [[instance()]])
    paged(sso, "list_permission_sets", "PermissionSets", [[PS_ADMIN]], InstanceArn=INSTANCE)
    permission_set(sso, PS_ADMIN, name="AdministratorAccess", duration="PT1H", accounts=[[REFUSING, MEMBER, HOME]])

    def member_iam(account: str) -> Any:
        if account == MEMBER:
            raise client_error("RegionDisabledException", "STS is not activated in this region", "AssumeRole")
        if account == HOME:  # as the sweep's member_iam says for an account it has no way into
            raise LookupError(f"no role to read account {account} with")
        raise MemberAccessError(f"cannot assume arn:aws:iam::{account}:role/{MEMBER_ROLE}: AccessDenied")

    snapshot = collect_identity_center(sso, store, account_id=HOME, region=REGION, partition="aws",
                                       member_iam=member_iam, parts={"reserved_roles"})
    assert dict(snapshot.unavailable) == {
        "assignments": "not collected: not asked for", "users": "not collected: not asked for",
        "groups": "not collected: not asked for",
        f"reserved_roles:{HOME}": f"LookupError: no role to read account {HOME} with",
        f"reserved_roles:{MEMBER}": "AssumeRole: RegionDisabledException: STS is not activated in this region",
        f"reserved_roles:{REFUSING}": (f"MemberAccessError: cannot assume arn:aws:iam::{REFUSING}:role/{MEMBER_ROLE}: "
                                       "AccessDenied"),
    }  # permission_sets were read (reserved roles need them), so they are not listed
    assert [ps.provisioned_accounts for ps in snapshot.permission_sets] == [(REFUSING, MEMBER, HOME)]
    assert dict(snapshot.reserved_roles) == {}


def test_assignments_alone_read_the_permission_sets_and_no_member_access_means_no_reserved_roles(sso, store):
    paged(sso, "list_instances", "Instances", [[instance()]])
    paged(sso, "list_permission_sets", "PermissionSets", [[PS_READ]], InstanceArn=INSTANCE)
    permission_set(sso, PS_READ, name="ReadOnly", duration="PT4H", accounts=[[MEMBER]])
    assignments(sso, PS_READ, MEMBER, [[("GROUP", ADMINS)]])
    calls = ApiCalls(NO_SLEEP)
    snapshot = collect_identity_center(sso, store, account_id=HOME, region=REGION, partition="aws", calls=calls,
                                       parts={"assignments", "reserved_roles"})  # member_iam: None
    assert snapshot.assignments == (AccountAssignment(MEMBER, PS_READ, "GROUP", ADMINS),)
    assert [ps.name for ps in snapshot.permission_sets] == ["ReadOnly"]
    assert dict(snapshot.unavailable) == {
        "reserved_roles": "not collected: no access to the accounts' IAM was given (member_iam)",
        "users": "not collected: not asked for", "groups": "not collected: not asked for"}
    assert calls.total == 1 + 1 + 7 + 1


def test_unknown_part(sso, store):
    with pytest.raises(ValueError, match="unknown Identity Center parts \\['roles'\\]"):
        collect_identity_center(sso, store, account_id=HOME, region=REGION, partition="aws", parts={"users", "roles"})


def test_the_customer_managed_policies_permission_sets_refer_to_are_read_with_the_reserved_roles():
    """One GetAccountAuthorizationDetails per account (Role + LocalManagedPolicy) gives the roles and the
    documents of the referenced policies as created there; unreferenced policies are not kept."""
    from identity_auditor.collectors.identity_center import read_reserved_roles

    admin = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
    with mock_aws():
        iam = boto3.client("iam", region_name="us-east-1")
        referenced = iam.create_policy(PolicyName="OrgAdmin", Path="/platform/", PolicyDocument=json.dumps(admin))
        iam.create_policy(PolicyName="Unrelated", PolicyDocument=json.dumps(admin))
        iam.create_role(RoleName="AWSReservedSSO_OrgAdmin_0123456789abcdef", Path="/aws-reserved/sso.amazonaws.com/",
                        AssumeRolePolicyDocument="{}")
        calls, documents = ApiCalls(), {}
        roles = read_reserved_roles(calls, iam, "123456789012", {referenced["Policy"]["Arn"]}, documents)
    assert [role.name for role in roles] == ["AWSReservedSSO_OrgAdmin_0123456789abcdef"]
    assert documents == {referenced["Policy"]["Arn"]: admin} and calls.total == 1
