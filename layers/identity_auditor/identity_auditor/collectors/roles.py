"""IAM roles as :class:`~identity_auditor.model.snapshots.RoleSnapshot` objects, with their trust policy.

Three sources, one shape:

* :func:`role_from_configuration_item`: an AWS Config configuration item of type ``AWS::IAM::Role``,
  as delivered in a ``ConfigurationItemChangeNotification`` (``configuration`` is an object,
  ``awsAccountId``, ``ARN``) or returned by ``GetResourceConfigHistory`` / ``BatchGetResourceConfig``
  (``configuration`` is a JSON string, ``accountId``, ``arn``). No AWS call.
* :func:`collect_roles`: every role from ``ListRoles`` (1,000 per page; its answer already carries
  ``AssumeRolePolicyDocument``, so there are no per-role calls).
* :func:`collect_role`: one role from ``GetRole`` (``None`` when it does not exist).

The trust policy is decoded to a dict with :func:`identity_auditor.rules._lib.trust.parse_policy` (it arrives
URL-encoded from Config and the IAM API; boto3 already decodes IAM's answers). A document that is not
valid policy JSON is passed on as the string it was, for the rule to report; ``None`` when absent.
"""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from identity_auditor.collectors import ApiCalls, error_code
from identity_auditor.model.snapshots import RoleSnapshot
from identity_auditor.rules._lib.trust import parse_policy

ROLE_RESOURCE_TYPE = "AWS::IAM::Role"


def role_from_configuration_item(item: dict) -> RoleSnapshot:
    """The role described by an AWS Config configuration item (see the module docs for the shapes).

    Raises :class:`ValueError` for an item of another resource type or without a configuration
    (a deleted role: ``configurationItemStatus`` ``ResourceDeleted``), which has no trust policy to judge.
    """
    resource_type = item.get("resourceType")
    if resource_type not in (None, ROLE_RESOURCE_TYPE):
        raise ValueError(f"configuration item is a {resource_type}, not an {ROLE_RESOURCE_TYPE}")
    configuration = item.get("configuration")
    if isinstance(configuration, str):
        try:
            configuration = json.loads(configuration)
        except json.JSONDecodeError as error:
            raise ValueError(f"configuration item's configuration is not JSON: {error}") from None
    if not isinstance(configuration, dict):
        status = item.get("configurationItemStatus", "unknown status")
        raise ValueError(f"configuration item of {item.get('resourceName') or item.get('resourceId')!r} "
                         f"has no configuration ({status})")
    arn = _text(configuration.get("arn"), item.get("ARN"), item.get("arn")) or ""
    name = _text(configuration.get("roleName"), item.get("resourceName"))
    if not name or not arn:
        raise ValueError("configuration item names no role (configuration.roleName / configuration.arn)")
    return RoleSnapshot(
        name=name,
        arn=arn,
        path=_text(configuration.get("path")) or "/",
        role_id=_text(configuration.get("roleId"), item.get("resourceId")),
        trust_policy=trust_policy(configuration.get("assumeRolePolicyDocument")),
        account_id=_text(item.get("awsAccountId"), item.get("accountId")) or _account_of(arn),
    )


def _text(*values: Any) -> str | None:
    """The first value that is a non-empty string (a configuration item's fields are text; anything
    else in them is treated as absent)."""
    return next((value for value in values if isinstance(value, str) and value), None)


def collect_roles(iam: Any, *, calls: ApiCalls | None = None) -> list[RoleSnapshot]:
    """Every IAM role of the account, from paginated ``ListRoles`` (one call per 1,000 roles)."""
    calls = calls or ApiCalls()
    return [role_from_api(role) for page in calls.iam_pages(iam, "list_roles") for role in page.get("Roles", [])]


def collect_role(iam: Any, role_name: str, *, calls: ApiCalls | None = None) -> RoleSnapshot | None:
    """One role from ``GetRole``; ``None`` when IAM answers ``NoSuchEntity`` (it was deleted)."""
    calls = calls or ApiCalls()
    try:
        response = calls.call(iam, "get_role", RoleName=role_name)
    except ClientError as error:
        if error_code(error) == "NoSuchEntity":
            return None
        raise
    return role_from_api(response["Role"])


def role_from_api(role: dict) -> RoleSnapshot:
    """A role as the IAM API describes it (``ListRoles`` entry or ``GetRole``'s ``Role``)."""
    return RoleSnapshot(
        name=role["RoleName"],
        arn=role["Arn"],
        path=role.get("Path") or "/",
        role_id=role.get("RoleId"),
        trust_policy=trust_policy(role.get("AssumeRolePolicyDocument")),
        account_id=_account_of(role["Arn"]),
    )


def trust_policy(document: Any) -> dict | str | None:
    """A trust policy as a dict (from a dict, JSON or URL-encoded JSON); the raw string if it cannot
    be read as a policy; ``None`` when absent."""
    if document is None or document == "":
        return None
    try:
        return parse_policy(document)
    except ValueError:
        return document if isinstance(document, str) else json.dumps(document)


def _account_of(arn: str) -> str:
    parts = arn.split(":")
    return parts[4] if len(parts) > 4 else ""
