"""IAM principals named in IAM API records, for ``iam_admin_policy_attached`` and ``iam_permissions_boundary_removed``:
which roles those rules leave alone, and the ARN a finding names.
"""

from __future__ import annotations

from typing import Any

from identity_auditor.model.cloudtrail import CloudTrailRecord, is_reserved_sso_role

SERVICE_LINKED_PREFIX = "AWSServiceRoleFor"
SERVICE_LINKED_PATH = "/aws-service-role/"


def is_service_linked_role(name: str | None, path: Any = None) -> bool:
    """A role an AWS service owns: its name starts ``AWSServiceRoleFor``, or (when the record shows it) its path
    starts ``/aws-service-role/``."""
    return (isinstance(name, str) and name.startswith(SERVICE_LINKED_PREFIX)) or (
        isinstance(path, str) and path.startswith(SERVICE_LINKED_PATH))


def is_exempt_role(name: str | None, path: Any = None) -> bool:
    """Identity Center reserved roles (``sso_reserved_role_modified`` reports changes to them) and service-linked
    roles."""
    return is_reserved_sso_role(name, path if isinstance(path, str) else None) or is_service_linked_role(name, path)


def principal_arn(record: CloudTrailRecord, kind: str, name: str) -> str:
    """``arn:<partition>:iam::<account>:<kind>/<name>`` from the record's account (as recorded: possibly masked).
    These records carry no path, so a principal under a path is named without it."""
    return f"arn:{record.partition}:iam::{record.account_id}:{kind}/{name}"
