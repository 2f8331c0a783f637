"""A Cognito identity pool was created or updated with guest (unauthenticated) access turned on.

Decisions (spec/rules.md §A, second wave):
- Field name and case follow what CloudTrail records, not the spec's ``AllowUnauthenticatedIdentities``
  (the API member name): AWS's published CreateIdentityPool record (Amazon Cognito developer guide,
  "Understanding Amazon Cognito sign-in events") carries ``requestParameters.allowUnauthenticatedIdentities``
  as a JSON boolean, and the same value in ``responseElements``. The request is read first, then the
  response; the string ``"true"`` is accepted too.
- Successful calls only. ``UpdateIdentityPool`` is a full replacement (the flag is required), so every
  update of a pool that keeps guest access re-states it and fires again: each is a fresh decision to
  hand out anonymous AWS credentials.
- The unauthenticated role (set by ``SetIdentityPoolRoles``) decides what guests may do; it is not in
  these records, so the finding says "guest access" and not what it grants. ``allowClassicFlow`` (the
  basic flow) is reported in the details when present, because it lets guests reach the role directly.
- A call made by an AWS service on someone's behalf (``userIdentity.invokedBy``, e.g. CloudFormation or
  Amplify) changes nothing: the pool hands out guest credentials either way.
- Resource type ``Other``, the identity pool's ARN built from ``identityPoolId`` (CreateIdentityPool's
  response, UpdateIdentityPool's request).
"""

from __future__ import annotations

from typing import Any

from identity_auditor.model.cloudtrail import CloudTrailRecord
from identity_auditor.model.contract import Context, RuleMeta, Severity, Trigger, Violation

META = RuleMeta(
    id="cognito_identity_pool_guest_access_enabled",
    title="Cognito identity pool allows guest access",
    severity=Severity.MEDIUM,
    trigger=Trigger("cognito-identity.amazonaws.com", ("CreateIdentityPool", "UpdateIdentityPool")),
    resource_type="Other",
    finding_types=("Software and Configuration Checks/AWS Security Best Practices", "TTPs/Initial Access"),
    why=(
        "Anyone who knows an identity pool's id (it is usually shipped inside a web or mobile app) can get "
        "AWS credentials for its unauthenticated role without signing in."
    ),
    remediation=(
        "Confirm that the application needs guest users. If not, turn off unauthenticated identities (aws "
        "cognito-identity update-identity-pool --no-allow-unauthenticated-identities). If it does, keep the "
        "unauthenticated role's policy to the minimum, leave the basic (classic) flow off, and review the "
        "role's use in CloudTrail."
    ),
    remediation_url="https://docs.aws.amazon.com/cognitoidentity/latest/APIReference/API_UpdateIdentityPool.html",
    compliance=(),
)


def evaluate(record: CloudTrailRecord, ctx: Context) -> Violation | None:
    if not record.succeeded:
        return None
    response = record.response_elements or {}
    allowed = record.request("allowUnauthenticatedIdentities")
    if allowed is None:
        allowed = response.get("allowUnauthenticatedIdentities")
    if not _is_true(allowed):
        return None
    pool_id = record.request("identityPoolId") or response.get("identityPoolId")
    pool_name = record.request("identityPoolName") or response.get("identityPoolName")
    label = str(pool_name or pool_id or "unknown")
    verb = "created" if record.event_name == "CreateIdentityPool" else "updated"
    details = {"IdentityPoolId": str(pool_id or ""), "IdentityPoolName": str(pool_name or "")}
    classic = record.request("allowClassicFlow")
    if classic is not None:
        details["AllowClassicFlow"] = str(classic).lower()
    if pool_id and record.aws_region:
        region, account = record.aws_region, record.account_id
        resource = f"arn:{record.partition}:cognito-identity:{region}:{account}:identitypool/{pool_id}"
    else:
        resource = label
    return Violation(
        description=(
            f"{record.caller} {verb} Cognito identity pool {label} in account "
            f"{record.account_id} ({record.aws_region or 'unknown Region'}) with guest access turned on: "
            "anyone who knows the pool id can get AWS credentials for its unauthenticated role, if one is "
            "set."
        ),
        resource_id=resource,
        details={key: value for key, value in details.items() if value},
    )


def _is_true(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")
