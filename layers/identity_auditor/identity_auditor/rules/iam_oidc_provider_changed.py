"""An IAM OpenID Connect (OIDC) identity provider was created, deleted or had its trust changed.

Decisions (spec/rules.md §A; no public CloudTrail sample exists, so the request shapes come from the
IAM API reference as CloudTrail renders them: ``CreateOpenIDConnectProvider`` ``url``,
``clientIDList``, ``thumbprintList`` with ``openIDConnectProviderArn`` in the response; the other
calls name ``openIDConnectProviderArn`` plus ``clientID`` or ``thumbprintList``; keys are looked up
case-insensitively):
- Success only (no ``errorCode``); HIGH for every change, including removing a client id (it can cut
  off a deployment pipeline) and deleting a provider.
- A change made through CloudFormation (``AWS::IAM::OIDCProvider``) is still a change; only callers
  the policy allow-lists for this rule (e.g. the platform pipeline that registers EKS clusters) are
  skipped.
- The finding names the provider (URL and ARN, which are derived from each other when only one is in
  the record) and the client ids (audiences) and thumbprints the call set.
"""

from __future__ import annotations

from identity_auditor.model.cloudtrail import CloudTrailRecord
from identity_auditor.model.contract import Context, RuleMeta, Severity, Trigger, Violation

_VERBS = {
    "CreateOpenIDConnectProvider": "created",
    "DeleteOpenIDConnectProvider": "deleted",
    "UpdateOpenIDConnectProviderThumbprint": "replaced the certificate thumbprints of",
    "AddClientIDToOpenIDConnectProvider": "added a client id to",
    "RemoveClientIDFromOpenIDConnectProvider": "removed a client id from",
}

META = RuleMeta(
    id="iam_oidc_provider_changed",
    title="IAM OIDC identity provider changed",
    severity=Severity.HIGH,
    trigger=Trigger("iam.amazonaws.com", tuple(_VERBS)),
    resource_type="Other",
    finding_types=(
        "TTPs/Persistence",
        "Software and Configuration Checks/Industry and Regulatory Standards/CIS AWS Foundations Benchmark",
    ),
    why=(
        "An OIDC provider decides whose web identity tokens AWS accepts (CI/CD systems, Kubernetes). A new "
        "provider or audience lets workloads outside the account assume the roles that trust it."
    ),
    remediation=(
        "Confirm the change with the team that owns the provider. If it is not expected, delete the provider "
        "or revert the client id or thumbprint, find the roles whose trust policy names it, check that they "
        "pin aud and sub conditions, and review AssumeRoleWithWebIdentity calls since the change."
    ),
    remediation_url="https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_providers_create_oidc.html",
    compliance=("CIS5 1.20", "CIS3 1.21"),
)


def _joined(value) -> str:
    return ", ".join(str(item) for item in value) if isinstance(value, list) else str(value or "")


def evaluate(record: CloudTrailRecord, ctx: Context) -> Violation | None:
    if not record.succeeded:
        return None
    account = record.account_id
    arn = record.request("openIDConnectProviderArn") or record.response("openIDConnectProviderArn")
    url = str(record.request("url") or "")
    host = url.split("://", 1)[-1].rstrip("/")
    if not arn and host:
        arn = f"arn:{record.partition}:iam::{account}:oidc-provider/{host}"
    if not url and isinstance(arn, str) and "oidc-provider/" in arn:
        url = "https://" + arn.split("oidc-provider/", 1)[1]
    clients = _joined(record.request("clientIDList") or record.request("clientID"))
    details = {"ProviderUrl": url, "ProviderArn": str(arn or ""), "ClientIds": clients}
    if record.request("thumbprintList"):
        details["Thumbprints"] = _joined(record.request("thumbprintList"))
    audience = f" (client ids: {clients})" if clients else ""
    return Violation(
        description=(
            f"{record.user_identity.display_name} {_VERBS.get(record.event_name, 'changed')} the OIDC identity "
            f"provider {url or arn or '(unknown)'}{audience} in account {account}."
        ),
        resource_id=str(arn or url or f"arn:{record.partition}:iam::{account}:oidc-provider/unknown"),
        details={key: value for key, value in details.items() if value},
    )
