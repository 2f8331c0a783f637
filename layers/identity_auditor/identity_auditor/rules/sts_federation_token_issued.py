"""An IAM user (or root) minted federation credentials with sts:GetFederationToken, which outlive its access key.

Decisions (spec/rules.md §A third wave; record shape from the real ``GetFederationToken`` detonation
record published by Stratus Red Team, technique ``aws.persistence.sts-federation-token``: request
``name``, ``policy`` (the session policy as a JSON string), ``durationSeconds``; response
``credentials.accessKeyId``, ``federatedUser.arn`` / ``federatedUserId``, ``packedPolicySize``; that
record is ``readOnly: false``, so the ordinary write-event route sees it. ``policyArns`` is read as the
API names it (``PolicyArns`` list of ``{"arn": ...}``; no public record with it was found), keys looked
up case-insensitively):
- Success only, and only IAM users and root: the STS API reference says GetFederationToken "must be
  called by using the long-term AWS security credentials of an IAM user" (root may call it, not
  recommended); AWS refuses role and other temporary sessions, so no record with another caller type can
  be a success. Identity Center's own calls are never findings.
- MEDIUM: the federated session keeps working for up to 36 hours after the user's access key is
  deactivated or deleted (it is cut only by changing the user's permissions or deleting the user).
- HIGH when the session policy grants administrative power, judged by
  :func:`identity_auditor.rules._lib.permissions.admin_grant` (shared with ``iam_admin_policy_attached``): an
  ``Allow`` whose ``Action`` covers every IAM action (``*``, ``iam:*``, ``*:*``) on every resource or every
  IAM resource of an account, or an ``Allow`` with ``NotAction`` on every resource (see that module for
  ``NotResource`` and conditions). ``iam:*`` counts although federated sessions cannot call IAM through the
  API: they can through the console (GetSigninToken), the usual attacker path. HIGH also when a
  ``policyArns`` entry is in the policy's ``privileged_policies`` (``ctx.policy.is_privileged_policy``).
  The session's real power is the intersection with the user's own policies: a ``*`` session policy asks
  for everything the user has.
- No session policy: still MEDIUM (the reference says such a session has no permissions, but the token is
  the persistence step; the finding says none was passed). A session policy ``admin_grant`` cannot read (not
  JSON, no ``Statement``, or an unreadable part that could be the grant) is HIGH and says so: AWS accepted
  it, so it is a policy the parser did not expect, and it may grant everything.
- Root calling it gives this finding and ``root_account_used``'s. The resource is the IAM user whose
  credentials minted the token (the user to restrict or delete), or the account for root.
"""

from __future__ import annotations

from identity_auditor.model.cloudtrail import CloudTrailRecord
from identity_auditor.model.contract import Context, RuleMeta, Severity, Trigger, Violation
from identity_auditor.rules._lib.permissions import admin_grant

META = RuleMeta(
    id="sts_federation_token_issued",
    title="STS federation token issued",
    severity=Severity.MEDIUM,
    trigger=Trigger("sts.amazonaws.com", ("GetFederationToken",)),
    resource_type="AwsIamUser",
    finding_types=("TTPs/Persistence", "TTPs/Privilege Escalation"),
    why=(
        "A federation token is a second set of credentials minted from an IAM user's access key. It keeps "
        "working for up to 36 hours after that key is deactivated, and can be turned into a console sign-in: "
        "a common way for an intruder to keep access."
    ),
    remediation=(
        "Confirm the caller expected to mint federation tokens. If not, deactivate the user's access keys and "
        "revoke the sessions: attach an inline policy that denies everything with a DateLessThan condition on "
        "aws:TokenIssueTime set to now (aws iam put-user-policy), or delete the user. Then review what the "
        "federated user (arn:aws:sts::ACCOUNT:federated-user/NAME) did in CloudTrail."
    ),
    remediation_url="https://docs.aws.amazon.com/IAM/latest/UserGuide/id_credentials_temp_control-access_disable-perms.html",
    severity_note="HIGH when the session policy allows * (or iam:*, or NotAction) on every resource or cannot be "
    "read, or a privileged managed policy is passed",
)

_CALLERS = ("IAMUser", "Root")


def _policy_arns(value) -> list[str]:
    """``policyArns`` as ARNs: a list of ``{"arn": ...}`` (the API's shape) or of strings."""
    entries = value if isinstance(value, list) else [value] if value else []
    arns = []
    for entry in entries:
        arn = next((v for k, v in entry.items() if k.lower() == "arn"), None) if isinstance(entry, dict) else entry
        if arn:
            arns.append(str(arn))
    return arns


def evaluate(record: CloudTrailRecord, ctx: Context) -> Violation | None:
    identity = record.user_identity
    if not record.succeeded or identity.type not in _CALLERS or record.by_identity_center:
        return None
    account = record.account_id
    name = record.request("name")
    federated = record.response("federatedUser")
    federated_arn = federated.get("arn") if isinstance(federated, dict) else None
    credentials = record.response("credentials")
    issued_key = credentials.get("accessKeyId") if isinstance(credentials, dict) else None

    reasons: list[str] = []
    policy = record.request("policy")
    if policy in (None, "", {}):
        session_policy = "none passed (the session has no permissions of its own)"
    else:
        try:
            grant = admin_grant(policy)
        except (ValueError, TypeError) as error:
            session_policy = f"could not be read ({str(error).replace('trust policy', 'policy')})"
            reasons.append("a session policy the auditor could not read")
        else:
            session_policy = grant or "grants no administrative power"
            if grant:
                reasons.append(f"a session policy whose {grant}")
    arns = _policy_arns(record.request("policyArns"))
    privileged = [arn for arn in arns if ctx.policy.is_privileged_policy(arn)]
    if privileged:
        reasons.append(f"the privileged managed policy {', '.join(privileged)}")

    if identity.type == "Root":
        who = f"The root user of account {account}"
        resource_id, resource_type = f"AWS::::Account:{account}", "AwsAccount"
    else:
        who = identity.display_name
        resource_id = identity.arn or f"arn:{record.partition}:iam::{account}:user/{identity.user_name or 'unknown'}"
        resource_type = None
    text = f"{who} minted a federation token for federated user {name or '(unnamed)'} in account {account}"
    text += f" with {' and '.join(reasons)}" if reasons else ""
    text += ": it keeps working after the caller's access key is deactivated."

    details = {
        "FederatedUser": str(name or ""),
        "FederatedUserArn": str(federated_arn or ""),
        "IssuedAccessKeyId": str(issued_key or ""),
        "DurationSeconds": str(record.request("durationSeconds") or ""),
        "SessionPolicy": session_policy,
        "PolicyArns": ", ".join(arns),
    }
    return Violation(
        description=text,
        resource_id=resource_id,
        resource_type=resource_type,
        severity=Severity.HIGH if reasons else None,
        details={key: value for key, value in details.items() if value},
    )
