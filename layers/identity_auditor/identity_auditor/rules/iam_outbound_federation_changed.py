"""IAM outbound identity federation was turned on or off for the account: whether its IAM principals can
get JSON Web Tokens (``sts:GetWebIdentityToken``) that external services accept as proof of identity.

Decisions (spec/rules.md §A third wave; the feature from the IAM API reference (2025):
``EnableOutboundWebIdentityFederation`` and ``DisableOutboundWebIdentityFederation`` take no parameters, Enable
returns ``IssuerIdentifier``, the account's unique issuer URL (``https://<id>.tokens.sts.global.api.aws`` in
AWS's example), rendered by CloudTrail like other IAM responses (lowerCamelCase ``issuerIdentifier``; the key
is looked up case-insensitively); no public CloudTrail sample was found):
- Success only (no ``errorCode``: enabling twice fails with ``FeatureEnabled``, disabling twice with
  ``FeatureDisabled``, and neither changes anything). MEDIUM for both. Identity Center's own calls are never
  findings.
- Enabling is a new federation trust leaving the account: any principal allowed
  ``sts:GetWebIdentityToken`` can then prove to external clouds and SaaS providers that it is this account's
  identity, which is how access to them gets set up. Disabling breaks the workloads that rely on it (tokens
  already issued stay valid until they expire). Both are worth a look; neither is an attack by itself.
- The resource is the account (AWS::::Account); the finding names the issuer URL when the record has it.
- Changes through CloudFormation are changes; callers the policy allow-lists for this rule are skipped.
"""

from __future__ import annotations

from identity_auditor.model.cloudtrail import CloudTrailRecord
from identity_auditor.model.contract import Context, RuleMeta, Severity, Trigger, Violation

META = RuleMeta(
    id="iam_outbound_federation_changed",
    title="IAM outbound identity federation changed",
    severity=Severity.MEDIUM,
    trigger=Trigger("iam.amazonaws.com",
                    ("EnableOutboundWebIdentityFederation", "DisableOutboundWebIdentityFederation")),
    resource_type="AwsAccount",
    finding_types=("TTPs/Persistence", "TTPs/Lateral Movement"),
    why=(
        "With outbound identity federation on, IAM principals can get signed tokens that external clouds and "
        "SaaS providers accept as this account's identities: a new trust that reaches outside AWS."
    ),
    remediation=(
        "Confirm the change with the account's owner. If enabling was not expected, disable it (aws iam "
        "disable-outbound-web-identity-federation), find who is allowed sts:GetWebIdentityToken and which "
        "external services trust the issuer URL, and review GetWebIdentityToken calls since the change."
    ),
    remediation_url="https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_providers_outbound_getting_started.html",
)


def evaluate(record: CloudTrailRecord, ctx: Context) -> Violation | None:
    if not record.succeeded or record.by_identity_center:
        return None
    account = record.account_id
    caller = record.user_identity.display_name
    issuer = record.response("issuerIdentifier")
    details = {"EventName": record.event_name}
    if issuer:
        details["IssuerIdentifier"] = str(issuer)
    if record.event_name == "EnableOutboundWebIdentityFederation":
        where = f" (issuer {issuer})" if issuer else ""
        description = (f"{caller} enabled outbound identity federation in account {account}{where}: its IAM "
                       "principals can now get tokens that external services trust.")
    else:
        description = (f"{caller} disabled outbound identity federation in account {account}: "
                       "sts:GetWebIdentityToken no longer issues tokens.")
    return Violation(description=description, resource_id=f"AWS::::Account:{account}", details=details)
