"""One IAM Identity Center instance as an :class:`~identity_auditor.model.snapshots.IdentityCenterSnapshot`.

Read in the instance's home region by the management account or the delegated administrator: the
permission sets (with their policies, boundary and provisioning), the account assignments, the identity
store's users and groups, and the ``AWSReservedSSO_*`` roles that provisioning created in each account
(read in that account through ``member_iam``). No judgement is made here; the posture rules decide.

Decisions:

* **Which instance.** ``ListInstances`` (paged) may answer none (``instance_arn`` ``None``, nothing else is
  read, nothing is unavailable: the rules are not applicable), one (that one, whatever its status) or
  several (an organisation instance plus account instances): then the one whose ``OwnerAccountId`` is
  ``account_id`` (the account administers it; an ``ACTIVE`` one first when it owns several), else the first
  ``ACTIVE`` one (a delegated administrator sees the organisation instance, owned by the management
  account), else the first listed. An error of ``ListInstances`` (``AccessDeniedException`` outside the
  management / delegated-admin account) -> ``unavailable["instance"]`` and nothing else is read.
* **Parts.** ``parts`` names what to read among :data:`PARTS` (default all). ``permission_sets`` is read
  whenever ``assignments`` or ``reserved_roles`` is asked (both start from the sets). ``reserved_roles`` is
  read only with a ``member_iam``. A part that is not read is listed in ``unavailable`` as
  ``"not collected: ..."``, so a rule reading it is not run rather than passing on an empty tuple.
* **Errors.** A ``ClientError`` in a part makes that part unavailable as a whole
  (``unavailable[part] = "<Operation>: <Code>: <message>"``, its tuple empty, never half read) and the other
  parts are still read. Permission sets that cannot be read also make ``assignments`` (and
  ``reserved_roles``) unavailable: their accounts come from the sets. ``GetPermissionsBoundaryForPermissionSet``
  answers ``ResourceNotFoundException`` for a set without a boundary: that is "no boundary", not an error.
* **Reserved roles.** For every account that any permission set is provisioned to (sorted; the instance's
  own account too: ``member_iam`` is asked for it like any other and the caller decides how to reach it),
  one ``GetAccountAuthorizationDetails`` with ``Filter=["Role"]`` (1,000 roles a page), keeping the roles
  whose path starts with ``/aws-reserved/sso.amazonaws.com/`` (a region may follow) or whose name starts
  with ``AWSReservedSSO_``. An account whose client cannot be had (``member_iam`` raises anything: a
  :class:`~identity_auditor.aws.member_access.MemberAccessError`, an STS ``ClientError``, the sweep's
  ``LookupError`` for an account it has no way into) or whose roles cannot be listed (``ClientError``,
  network) -> ``unavailable["reserved_roles:<account>"]``; the others go on. An account read without
  reserved roles maps to ``()``.
* **Documents as returned.** A permission set's inline policy is kept as the JSON text Identity Center
  returns (``""`` -> ``None``), a reserved role's inline documents as boto3 decoded them; rules parse
  both with ``rules._lib.trust.parse_policy``.
* **Users and groups.** ``name`` is a user's ``UserName`` (``display_name`` its ``DisplayName``) and a
  group's ``DisplayName``; ``ExternalIds`` become ``(Issuer, Id)`` pairs (absent -> ``()``).

Cost: every call goes through ``calls`` (:class:`~identity_auditor.collectors.ApiCalls`: counted, throttling
retried). With every page holding its 100 items (1,000 for IAM), and PS permission sets::

    calls = 1                                   ListInstances
          + ceil(PS / 100) (at least 1)          ListPermissionSets
          + 7 x PS                               Describe, ListManagedPolicies, ListCustomerManagedPolicyReferences,
                                                 GetInlinePolicy, GetPermissionsBoundary,
                                                 ListAccountsForProvisionedPermissionSet (all; outdated)
          + sum over PS of provisioned accounts  ListAccountAssignments (one page up to 100 assignments)
          + pages of users + pages of groups     ListUsers, ListGroups (at least 1 each)
          + per account read, 1-2                GetAccountAuthorizationDetails pages (1,000 roles a page)

Each further page of any list adds one call; retries count too. ``member_iam``'s own calls (AssumeRole)
are not counted here.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from types import MappingProxyType
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from identity_auditor.collectors import ApiCalls, CollectorError, error_code, why_unread
from identity_auditor.model.cloudtrail import is_reserved_sso_role
from identity_auditor.model.snapshots import (
    AccountAssignment,
    CustomerManagedPolicyReference,
    DirectoryPrincipal,
    IdentityCenterSnapshot,
    InlinePolicy,
    PermissionSet,
    ReservedRole,
)

PARTS = ("permission_sets", "assignments", "users", "groups", "reserved_roles")
PAGE_SIZE = 100  # the largest MaxResults the sso-admin and identitystore list operations accept
OUTDATED = "LATEST_PERMISSION_SET_NOT_PROVISIONED"
ACTIVE = "ACTIVE"


def collect_identity_center(
    sso_admin: Any,
    identitystore: Any,
    *,
    account_id: str,
    region: str,
    partition: str,
    member_iam: Callable[[str], Any] | None = None,
    calls: ApiCalls | None = None,
    parts: Collection[str] | None = None,
) -> IdentityCenterSnapshot:
    """The Identity Center instance that ``account_id`` reads in ``region`` (see the module docs).

    ``sso_admin`` and ``identitystore`` are boto3 clients of that account and region; ``member_iam(account)``
    returns an IAM client in ``account`` or raises when it cannot (``None``: reserved roles are not read);
    ``calls`` counts and retries the requests (shareable with other collectors); ``parts`` selects what is
    read among :data:`PARTS` (default all). Raises :class:`ValueError` for an unknown part.
    """
    calls = calls or ApiCalls()
    wanted = set(PARTS if parts is None else parts)
    unknown = wanted - set(PARTS)
    if unknown:
        raise ValueError(f"unknown Identity Center parts {sorted(unknown)}; known: {', '.join(PARTS)}")
    unavailable: dict[str, str] = {}

    def snapshot(**values: Any) -> IdentityCenterSnapshot:
        return IdentityCenterSnapshot(account_id=account_id, region=region, partition=partition,
                                      unavailable=MappingProxyType(unavailable), **values)

    try:
        instances = _items(calls, sso_admin, "list_instances", "Instances")
    except (ClientError, BotoCoreError, CollectorError) as error:
        unavailable["instance"] = why_unread(error)
        return snapshot(instance_arn=None)
    instance = choose_instance(instances, account_id)
    if instance is None:
        return snapshot(instance_arn=None)
    instance_arn = instance["InstanceArn"]
    store_id = instance.get("IdentityStoreId") or None

    if "reserved_roles" in wanted and member_iam is None:
        wanted.discard("reserved_roles")
        unavailable["reserved_roles"] = "not collected: no access to the accounts' IAM was given (member_iam)"
    for part in PARTS:
        if part not in wanted and part not in unavailable and not (
                part == "permission_sets" and wanted & {"assignments", "reserved_roles"}):
            unavailable[part] = "not collected: not asked for"

    permission_sets: tuple[PermissionSet, ...] = ()
    if wanted & {"permission_sets", "assignments", "reserved_roles"}:
        try:
            permission_sets = tuple(read_permission_set(calls, sso_admin, instance_arn, arn) for arn in
                                    _items(calls, sso_admin, "list_permission_sets", "PermissionSets",
                                           InstanceArn=instance_arn))
        except (ClientError, BotoCoreError, CollectorError) as error:  # network, time budget: that part
            unavailable["permission_sets"] = why_unread(error)
            for part in ("assignments", "reserved_roles"):
                if part in wanted:
                    unavailable[part] = f"not read: the permission sets could not be read ({why_unread(error)})"
            wanted -= {"assignments", "reserved_roles"}

    assignments: tuple[AccountAssignment, ...] = ()
    if "assignments" in wanted:
        try:
            assignments = tuple(read_assignments(calls, sso_admin, instance_arn, permission_sets))
        except (ClientError, BotoCoreError, CollectorError) as error:  # network, time budget: that part
            unavailable["assignments"] = why_unread(error)

    principals: dict[str, tuple[DirectoryPrincipal, ...]] = {"users": (), "groups": ()}
    for part, operation, key, convert in (("users", "list_users", "Users", user),
                                          ("groups", "list_groups", "Groups", group)):
        if part not in wanted:
            continue
        if not store_id:
            unavailable[part] = f"not read: instance {instance_arn} names no identity store"
            continue
        try:
            principals[part] = tuple(convert(item) for item in
                                     _items(calls, identitystore, operation, key, IdentityStoreId=store_id))
        except (ClientError, BotoCoreError, CollectorError) as error:  # network, time budget: that part
            unavailable[part] = why_unread(error)

    reserved: dict[str, tuple[ReservedRole, ...]] = {}
    documents: dict[str, Any] = {}
    references = {reference for ps in permission_sets
                  for reference in (*ps.customer_managed, *((ps.boundary_customer,) if ps.boundary_customer else ()))}
    if "reserved_roles" in wanted and member_iam is not None:
        for account in sorted({account for ps in permission_sets for account in ps.provisioned_accounts}):
            try:
                iam = member_iam(account)
            except Exception as error:  # noqa: BLE001 (the caller's way in, whatever it raises: that account only)
                unavailable[f"reserved_roles:{account}"] = why_unread(error)
                continue
            try:
                referenced = {reference.arn_in(partition, account) for reference in references}
                reserved[account] = read_reserved_roles(calls, iam, account, referenced, documents)
            except (ClientError, BotoCoreError, CollectorError) as error:
                unavailable[f"reserved_roles:{account}"] = why_unread(error)

    return snapshot(
        instance_arn=instance_arn,
        identity_store_id=store_id,
        permission_sets=permission_sets,
        assignments=assignments,
        users=principals["users"],
        groups=principals["groups"],
        reserved_roles=MappingProxyType(reserved),
        customer_policies=MappingProxyType(documents),
    )


def choose_instance(instances: list[dict], account_id: str) -> dict | None:
    """The instance to read among ``ListInstances``' answer (see the module docs); ``None`` when there is none."""
    if len(instances) <= 1:
        return instances[0] if instances else None
    owned = [instance for instance in instances if instance.get("OwnerAccountId") == account_id]
    if owned:
        return next((instance for instance in owned if instance.get("Status") == ACTIVE), owned[0])
    return next((instance for instance in instances if instance.get("Status") == ACTIVE), instances[0])


def read_permission_set(calls: ApiCalls, sso_admin: Any, instance_arn: str, arn: str) -> PermissionSet:
    """One permission set: seven calls (one page each for up to 100 policies / references / accounts)."""
    ids = {"InstanceArn": instance_arn, "PermissionSetArn": arn}
    described = calls.call(sso_admin, "describe_permission_set", **ids)["PermissionSet"]
    managed = _items(calls, sso_admin, "list_managed_policies_in_permission_set", "AttachedManagedPolicies", **ids)
    customer = _items(calls, sso_admin, "list_customer_managed_policy_references_in_permission_set",
                      "CustomerManagedPolicyReferences", **ids)
    inline = calls.call(sso_admin, "get_inline_policy_for_permission_set", **ids).get("InlinePolicy") or None
    boundary_managed, boundary_customer = _boundary(calls, sso_admin, ids)
    accounts = _items(calls, sso_admin, "list_accounts_for_provisioned_permission_set", "AccountIds", **ids)
    outdated = _items(calls, sso_admin, "list_accounts_for_provisioned_permission_set", "AccountIds",
                      ProvisioningStatus=OUTDATED, **ids)
    duration = described.get("SessionDuration")
    return PermissionSet(
        arn=arn,
        name=described.get("Name") or "",
        session_duration=str(duration) if duration not in (None, "") else None,
        managed_policies=tuple(policy["Arn"] for policy in managed),
        customer_managed=tuple(_reference(reference) for reference in customer),
        inline_policy=inline,
        boundary_managed=boundary_managed,
        boundary_customer=boundary_customer,
        provisioned_accounts=tuple(accounts),
        outdated_accounts=tuple(outdated),
        description=described.get("Description") or "",
    )


def _boundary(calls: ApiCalls, sso_admin: Any,
              ids: dict[str, str]) -> tuple[str | None, CustomerManagedPolicyReference | None]:
    """The permissions boundary: (AWS managed policy ARN, customer managed reference), both ``None`` when the
    set has none (Identity Center answers ``ResourceNotFoundException``)."""
    try:
        boundary = calls.call(sso_admin, "get_permissions_boundary_for_permission_set", **ids).get(
            "PermissionsBoundary") or {}
    except ClientError as error:
        if error_code(error) == "ResourceNotFoundException":
            return None, None
        raise
    reference = boundary.get("CustomerManagedPolicyReference")
    return boundary.get("ManagedPolicyArn") or None, _reference(reference) if reference else None


def _reference(reference: dict) -> CustomerManagedPolicyReference:
    return CustomerManagedPolicyReference(name=reference["Name"], path=reference.get("Path") or "/")


def read_assignments(calls: ApiCalls, sso_admin: Any, instance_arn: str,
                     permission_sets: tuple[PermissionSet, ...]) -> list[AccountAssignment]:
    """Every account assignment: ``ListAccountAssignments`` per permission set and account it is provisioned to."""
    assignments = []
    for permission_set in permission_sets:
        for account in permission_set.provisioned_accounts:
            for item in _items(calls, sso_admin, "list_account_assignments", "AccountAssignments",
                               InstanceArn=instance_arn, AccountId=account, PermissionSetArn=permission_set.arn):
                assignments.append(AccountAssignment(
                    account_id=item.get("AccountId") or account,
                    permission_set_arn=item.get("PermissionSetArn") or permission_set.arn,
                    principal_type=item["PrincipalType"],
                    principal_id=item["PrincipalId"],
                ))
    return assignments


def user(item: dict) -> DirectoryPrincipal:
    """An identity store ``User`` (``ListUsers``)."""
    return DirectoryPrincipal(kind="USER", principal_id=item["UserId"], name=item.get("UserName") or "",
                              display_name=item.get("DisplayName") or "", external_ids=_external_ids(item))


def group(item: dict) -> DirectoryPrincipal:
    """An identity store ``Group`` (``ListGroups``)."""
    return DirectoryPrincipal(kind="GROUP", principal_id=item["GroupId"], name=item.get("DisplayName") or "",
                              external_ids=_external_ids(item))


def _external_ids(item: dict) -> tuple[tuple[str, str], ...]:
    return tuple((external["Issuer"], external["Id"]) for external in item.get("ExternalIds") or ())


def is_reserved_role(role: dict) -> bool:
    """An IAM role that Identity Center provisioning created (``AWSReservedSSO_<set>_<hash>``; the spec's and
    the event rules' one test, :func:`~identity_auditor.model.cloudtrail.is_reserved_sso_role`)."""
    return is_reserved_sso_role(str(role.get("RoleName") or ""), str(role.get("Path") or ""))


def read_reserved_roles(calls: ApiCalls, iam: Any, account: str, referenced: Collection[str] = (),
                        documents: dict[str, Any] | None = None) -> tuple[ReservedRole, ...]:
    """The reserved roles of one account, from ``GetAccountAuthorizationDetails``; with ``referenced`` (the ARNs
    in this account of the customer managed policies permission sets refer to) the same call also reads those
    policies, whose default documents go into ``documents`` (policy ARN -> document)."""
    pages = list(calls.iam_pages(iam, "get_account_authorization_details",
                                 Filter=["Role", "LocalManagedPolicy"] if referenced else ["Role"]))
    if documents is not None and referenced:
        wanted = set(referenced)
        for page in pages:
            for policy in page.get("Policies") or ():
                if policy.get("Arn") in wanted:
                    documents[policy["Arn"]] = next(
                        (version.get("Document") for version in policy.get("PolicyVersionList") or ()
                         if version.get("IsDefaultVersion")), None)
    return tuple(
        ReservedRole(
            account_id=account,
            name=role["RoleName"],
            arn=role["Arn"],
            attached=tuple(policy["PolicyArn"] for policy in role.get("AttachedManagedPolicies") or ()),
            inline=tuple(InlinePolicy(name=policy["PolicyName"], document=policy.get("PolicyDocument"))
                         for policy in role.get("RolePolicyList") or ()),
            permissions_boundary=(role.get("PermissionsBoundary") or {}).get("PermissionsBoundaryArn") or None,
        )
        for page in pages
        for role in page.get("RoleDetailList") or ()
        if is_reserved_role(role)
    )


def reserved_role_from_item(item: dict) -> ReservedRole | None:
    """A reserved role as an AWS Config configuration item of ``AWS::IAM::Role`` describes it (its
    ``configuration``: ``attachedManagedPolicies``, ``rolePolicyList``, ``permissionsBoundary``, the same as
    ``GetRole`` in camelCase, documents URL-encoded); ``None`` when the role is not reserved, ``ValueError`` when
    the item has no configuration to read."""
    configuration = item.get("configuration")
    if isinstance(configuration, str):
        import json

        configuration = json.loads(configuration)
    if not isinstance(configuration, dict):
        raise ValueError(f"configuration item of {item.get('resourceName') or item.get('resourceId')!r} has no "
                         "configuration")
    name = configuration.get("roleName") or item.get("resourceName") or ""
    if not is_reserved_role({"RoleName": name, "Path": configuration.get("path") or "/"}):
        return None
    arn = configuration.get("arn") or item.get("ARN") or ""
    account = item.get("awsAccountId") or (arn.split(":")[4] if arn.count(":") >= 5 else "")
    boundary = configuration.get("permissionsBoundary") or {}
    return ReservedRole(
        account_id=account,
        name=name,
        arn=arn,
        attached=tuple(policy.get("policyArn") for policy in configuration.get("attachedManagedPolicies") or ()
                       if isinstance(policy, dict) and policy.get("policyArn")),
        # documents as Config gives them (URL-encoded JSON): the rules' parse_policy reads that shape
        inline=tuple(InlinePolicy(name=policy.get("policyName") or "", document=policy.get("policyDocument"))
                     for policy in configuration.get("rolePolicyList") or () if isinstance(policy, dict)),
        permissions_boundary=(boundary.get("permissionsBoundaryArn") if isinstance(boundary, dict) else None) or None,
    )


def _items(calls: ApiCalls, client: Any, operation: str, key: str, **params: Any) -> list:
    """Every item under ``key`` of a ``NextToken``-paged operation, :data:`PAGE_SIZE` a page."""
    return [item for page in calls.token_pages(client, operation, page_size=PAGE_SIZE, **params)
            for item in page.get(key) or ()]


__all__ = ["PARTS", "choose_instance", "collect_identity_center", "is_reserved_role", "read_assignments",
           "read_permission_set", "read_reserved_roles", "reserved_role_from_item"]
