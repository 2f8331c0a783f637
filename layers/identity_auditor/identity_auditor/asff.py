"""Mapping findings to the AWS Security Finding Format (ASFF) for ``BatchImportFindings``.

:func:`to_asff` is pure: the same finding, product and time give the same document. Provider-owned
values (severity, types) are set both at the top level and in ``FindingProviderFields``; the
customer-owned fields (``Workflow``, ``Note``, ``UserDefinedFields``) are left alone so that triage
done in Security Hub survives a re-import of the same ``Id``. Every untrusted string is cleaned and
clipped to its ASFF limit.
"""

from __future__ import annotations

import ipaddress
import re
from datetime import datetime

from identity_auditor import PRODUCT_NAME, __version__
from identity_auditor.findings import Finding
from identity_auditor.text import clip, iso_utc

SCHEMA_VERSION = "2018-10-08"
_FIELD_PREFIX = f"{PRODUCT_NAME}/"
_COMPLIANCE_NAMES = {
    "CIS5": "CIS AWS Foundations Benchmark v5.0.0",
    "CIS3": "CIS AWS Foundations Benchmark v3.0.0",
    "FSBP": "AWS Foundational Security Best Practices",
}
_ACCOUNT = re.compile(r"^\d{12}$")
_HOSTNAME = re.compile(r"^[A-Za-z0-9.-]+\.[A-Za-z]{2,}$")


def default_product_arn(partition: str, region: str, account: str) -> str:
    """The product ARN every account can import its own findings under."""
    return f"arn:{partition}:securityhub:{region}:{account}:product/{account}/default"


def related_requirement(compliance_id: str) -> str:
    """``CIS5 4.2`` -> ``CIS AWS Foundations Benchmark v5.0.0/4.2``."""
    framework, _, control = compliance_id.partition(" ")
    return f"{_COMPLIANCE_NAMES.get(framework, framework)}/{control}" if control else compliance_id


def _account_of(product_arn: str) -> str:
    """The importing account (from the product ARN), for records whose account is masked."""
    parts = product_arn.split(":")
    return parts[4] if len(parts) > 4 and _ACCOUNT.match(parts[4]) else "000000000000"


def title_of(finding: Finding) -> str:
    subject = finding.details.get("RoleName") or finding.actor.name
    return clip(f"{finding.title}: {subject}", 256)


def to_asff(finding: Finding, *, product_arn: str, updated_at: datetime) -> dict:
    updated = iso_utc(updated_at)
    observed = iso_utc(finding.event_time) if finding.event_time else updated
    severity = {"Label": finding.severity.value, "Original": finding.severity.value}
    document: dict = {
        "SchemaVersion": SCHEMA_VERSION,
        "Id": clip(finding.finding_id, 512),
        "ProductArn": product_arn,
        "GeneratorId": finding.rule_id,
        "AwsAccountId": finding.account_id if _ACCOUNT.match(finding.account_id) else _account_of(product_arn),
        "Types": list(finding.finding_types),
        "FirstObservedAt": observed,
        "LastObservedAt": observed,
        "CreatedAt": min(observed, updated),
        "UpdatedAt": updated,
        "Severity": severity,
        "FindingProviderFields": {"Severity": dict(severity), "Types": list(finding.finding_types)},
        "Title": title_of(finding),
        "Description": clip(f"{finding.description} {finding.why}", 1024),
        "Remediation": {
            "Recommendation": {"Text": clip(finding.remediation, 512), "Url": finding.remediation_url}
        },
        "ProductFields": _product_fields(finding),
        "Resources": [
            {
                "Type": finding.resource_type,
                "Id": clip(finding.resource_id, 512),
                "Partition": finding.partition,
                "Region": clip(finding.region, 32),
            }
        ],
        "Compliance": {
            "Status": "FAILED",
            "RelatedRequirements": [related_requirement(c) for c in finding.compliance][:32],
        },
        "RecordState": "ACTIVE",
    }
    if finding.event_id:
        document["SourceUrl"] = cloudtrail_event_url(finding)
    action = _api_call_action(finding, observed)
    if action:
        document["Action"] = action
    return document


def cloudtrail_event_url(finding: Finding) -> str:
    region = finding.region if re.fullmatch(r"[a-z]{2}(-[a-z]+)+-\d", finding.region) else "us-east-1"
    domain = "console.amazonaws.cn" if finding.partition == "aws-cn" else "console.aws.amazon.com"
    if finding.partition == "aws-us-gov":
        domain = "console.amazonaws-us-gov.com"
    event = re.sub(r"[^A-Za-z0-9-]", "", finding.event_id or "")
    return f"https://{region}.{domain}/cloudtrailv2/home?region={region}#/events/{event}"


def _product_fields(finding: Finding) -> dict[str, str]:
    actor = finding.actor
    fields = {
        "ProviderName": PRODUCT_NAME,
        "ProviderVersion": __version__,
        "RecordedAccountId": finding.account_id,
        "RuleId": finding.rule_id,
        "EventId": finding.event_id,
        "EventName": finding.event_name,
        "EventSource": finding.event_source,
        "ActorType": actor.type,
        "ActorArn": actor.arn,
        "ActorName": actor.name,
        "SourceIPAddress": actor.source_ip,
        "UserAgent": actor.user_agent,
        "InvokedBy": actor.invoked_by,
    }
    fields.update({f"Detail/{key}": value for key, value in sorted(finding.details.items())})
    return {
        _FIELD_PREFIX + clip(key, 100): clip(value, 2048)
        for key, value in list(fields.items())[:50]
        if value not in (None, "")
    }


def _api_call_action(finding: Finding, observed: str) -> dict | None:
    call = {
        "Api": clip(finding.event_name, 128),
        "ServiceName": clip(finding.event_source, 128),
        "FirstSeen": observed,
        "LastSeen": observed,
    }
    source = (finding.actor.source_ip or "").strip()
    try:
        address = ipaddress.ip_address(source)
    except ValueError:
        address = None
    if address is not None and address.version == 4:
        call |= {"CallerType": "remoteip", "RemoteIpDetails": {"IpAddressV4": source}}
    elif address is None and _HOSTNAME.match(source):
        call |= {"CallerType": "domain", "DomainDetails": {"Domain": source}}
    else:
        return None
    return {"ActionType": "AWS_API_CALL", "AwsApiCallAction": call}
