"""A trust of an AWS Managed Microsoft AD directory was created, deleted or changed.

A forest or external trust lets the principals of another Active Directory domain authenticate to this
one (or the reverse), so a new or widened trust is a new way in; a deleted one can break sign-in.

Decisions (spec/rules.md §A, second wave):
- Trigger ``CreateTrust``, ``DeleteTrust``, ``UpdateTrust``; successful calls only. ``VerifyTrust`` is
  not in the trigger: it changes nothing, and its failures are not findings.
- Request fields follow CloudTrail's lowerCamel rendering of the Directory Service API members (as
  ``directoryId`` in AWS's published ds records): ``directoryId``, ``remoteDomainName``,
  ``trustDirection``, ``trustType``, ``selectiveAuth`` on CreateTrust; ``trustId`` on DeleteTrust and
  UpdateTrust (and in the responses). Only the fields present are reported; the trust password is
  never recorded by CloudTrail (``HIDDEN_DUE_TO_SECURITY_REASONS``) and never copied.
- MEDIUM for all three, as the spec says; the direction and selective authentication setting are in
  the details for triage.
- A call made by an AWS service on someone's behalf (``userIdentity.invokedBy``, e.g. CloudFormation)
  changes nothing: the trust exists either way. Only explicit allow-list entries (engine) excuse a caller.
- Resource type ``Other``, identified by the trust id (in CreateTrust's response and in the other
  requests) so that the create, update and delete of one trust point at the same resource; the
  directory's ARN when no trust id was recorded.
"""

from __future__ import annotations

from identity_auditor.model.cloudtrail import CloudTrailRecord
from identity_auditor.model.contract import Context, RuleMeta, Severity, Trigger, Violation

_VERBS = {"CreateTrust": "created", "DeleteTrust": "deleted", "UpdateTrust": "updated"}
_DETAILS = {
    "directoryId": "DirectoryId",
    "remoteDomainName": "RemoteDomainName",
    "trustDirection": "TrustDirection",
    "trustType": "TrustType",
    "selectiveAuth": "SelectiveAuth",
}

META = RuleMeta(
    id="ds_directory_trust_changed",
    title="Directory Service trust relationship changed",
    severity=Severity.MEDIUM,
    trigger=Trigger("ds.amazonaws.com", tuple(_VERBS)),
    resource_type="Other",
    finding_types=("TTPs/Persistence", "Software and Configuration Checks/AWS Security Best Practices"),
    why=(
        "A directory trust lets users of another Active Directory domain sign in here, or users here sign in "
        "there. A trust nobody planned is a lasting path into the directory and what it protects."
    ),
    remediation=(
        "Confirm the change with the directory owners. If it was not planned, delete the trust (aws ds "
        "delete-trust) and review who in the remote domain could use it; prefer one-way trusts with "
        "selective authentication enabled, and restrict ds:CreateTrust and ds:UpdateTrust to administrators."
    ),
    remediation_url="https://docs.aws.amazon.com/directoryservice/latest/admin-guide/ms_ad_setup_trust.html",
    compliance=(),
)


def evaluate(record: CloudTrailRecord, ctx: Context) -> Violation | None:
    if not record.succeeded or record.event_name not in _VERBS:
        return None
    details = {label: str(record.request(key)) for key, label in _DETAILS.items() if record.request(key)}
    trust_id = record.request("trustId") or (record.response_elements or {}).get("trustId")
    if trust_id:
        details["TrustId"] = str(trust_id)
    directory = details.get("DirectoryId")
    remote = details.get("RemoteDomainName")
    subject = f"a trust with {remote}" if remote else f"trust {trust_id or 'unknown'}"
    where = f"directory {directory}" if directory else "an AWS Managed Microsoft AD directory"
    direction = f" ({details['TrustDirection']})" if "TrustDirection" in details else ""
    if trust_id or not (directory and record.aws_region):
        resource = str(trust_id or directory or "unknown")
    else:
        resource = f"arn:{record.partition}:ds:{record.aws_region}:{record.account_id}:directory/{directory}"
    return Violation(
        description=(
            f"{record.caller} {_VERBS[record.event_name]} {subject}{direction} on {where} "
            f"in account {record.account_id} ({record.aws_region or 'unknown Region'})."
        ),
        resource_id=resource,
        details=details,
    )
