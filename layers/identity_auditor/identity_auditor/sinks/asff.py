"""Mapping findings to the AWS Security Finding Format (ASFF) for ``BatchImportFindings``.

:func:`to_asff` is pure: the same finding, product and time give the same document. Provider-owned
values (severity, types) are set both at the top level and in ``FindingProviderFields``; the
customer-owned fields (``Workflow``, ``Note``, ``UserDefinedFields``) are left alone so that triage
done in Security Hub survives a re-import of the same ``Id``. The one exception is a finding the
organisation policy suppresses: it is created with ``Workflow.Status = SUPPRESSED`` and a ``Note``
saying why, by whom and until when (Security Hub applies both only when it creates the finding; a
re-import leaves the customer's triage alone). Every untrusted string is cleaned and clipped to its
ASFF limit.

:func:`securityhub_finding_url` and :func:`cloudtrail_event_url` build console links from safe,
URL-encoded parts only.
"""

from __future__ import annotations

import ipaddress
import json
import re
from datetime import datetime
from typing import TYPE_CHECKING
from urllib.parse import quote

from identity_auditor import PRODUCT_NAME, __version__
from identity_auditor.model.text import clip, iso_utc

if TYPE_CHECKING:
    from identity_auditor.model.findings import Finding

SCHEMA_VERSION = "2018-10-08"
_FIELD_PREFIX = f"{PRODUCT_NAME}/"
_COMPLIANCE_NAMES = {
    "CIS5": "CIS AWS Foundations Benchmark v5.0.0",
    "CIS3": "CIS AWS Foundations Benchmark v3.0.0",
    "FSBP": "AWS Foundational Security Best Practices",
}
_ACCOUNT = re.compile(r"^\d{12}$")
_HOSTNAME = re.compile(r"^[A-Za-z0-9.-]+\.[A-Za-z]{2,}$")
_REGION = re.compile(r"[a-z]{2}(-[a-z]+)+-\d{1,2}")
_PARTITION = re.compile(r"aws(-[a-z]+)*")
_ASFF_PARTITIONS = ("aws", "aws-cn", "aws-us-gov")  # Resources[].Partition (others have no Security Hub)
_CONSOLE_DOMAINS = {
    "aws": "console.aws.amazon.com",
    "aws-cn": "console.amazonaws.cn",
    "aws-us-gov": "console.amazonaws-us-gov.com",
}
NOTE_AUTHOR = PRODUCT_NAME  # Note.UpdatedBy of a suppressed finding
# ProductName and CompanyName (1..128 characters): Security Hub fills them in itself for integrated products and
# refuses them in BatchImportFindings "except for a custom integration" (ASFF reference, ProductName and
# CompanyName), which the account's default product we import under is. Set, they name the tool in the console's
# "Product name" / "Company name" columns and filters instead of the default product's generic values.
ASFF_PRODUCT_NAME = PRODUCT_NAME
ASFF_COMPANY_NAME = PRODUCT_NAME  # an open-source tool run by the account's owner: no vendor to name
_NOTE_LIMIT = 512  # Note.Text and Note.UpdatedBy: at most 512 characters
MAX_FINDING_BYTES = 240 * 1024  # BatchImportFindings: one finding, as serialized (JSON, \u-escaped)
# ProductFields values are clipped to 2048 characters; when a finding would still be over the size limit
# (many long values of characters that JSON escapes as \uXXXX\uXXXX: 12 bytes each), to these.
_PRODUCT_FIELD_SHRINK = (512, 128, 32)
# The console's findings search, filtered on ``Id EQUALS <id>``: the search value is itself
# URL-encoded inside the (encoded) fragment, so the id is encoded twice.
_FINDINGS_SEARCH_BY_ID = "#/findings?search=Id%3D%255Coperator%255C%253AEQUALS%255C%253A"


def default_product_arn(partition: str, region: str, account: str) -> str:
    """The product ARN every account can import its own findings under. Values that cannot be in one
    (a masked account, an unknown region, as records can carry) become ``000000000000``, ``us-east-1``
    and ``aws``: the ARN stays well-formed, and no account's product is named by mistake."""
    account = account if _ACCOUNT.match(account or "") else "000000000000"
    partition = partition if _PARTITION.fullmatch(partition or "") else "aws"
    return f"arn:{partition}:securityhub:{safe_region(region)}:{account}:product/{account}/default"


def related_requirement(compliance_id: str) -> str:
    """``CIS5 4.2`` -> ``CIS AWS Foundations Benchmark v5.0.0/4.2``."""
    framework, _, control = compliance_id.partition(" ")
    return f"{_COMPLIANCE_NAMES.get(framework, framework)}/{control}" if control else compliance_id


def _account_of(product_arn: str) -> str:
    """The importing account (from the product ARN), for records whose account is masked."""
    parts = product_arn.split(":")
    return parts[4] if len(parts) > 4 and _ACCOUNT.match(parts[4]) else "000000000000"


def title_of(finding: Finding) -> str:
    subject = finding.subject or finding.actor.name
    return clip(f"{finding.title}: {subject}", 256)


def to_asff(finding: Finding, *, product_arn: str, updated_at: datetime) -> dict:
    updated = iso_utc(updated_at)
    observed = iso_utc(finding.event_time) if finding.event_time else updated
    severity = {"Label": finding.severity.value, "Original": finding.severity.value}
    document: dict = {
        "SchemaVersion": SCHEMA_VERSION,
        "Id": clip(finding.finding_id, 512),
        "ProductArn": product_arn,
        "ProductName": ASFF_PRODUCT_NAME,
        "CompanyName": ASFF_COMPANY_NAME,
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
                "Id": _nonblank(clip(finding.resource_id, 512)),
                "Partition": finding.partition if finding.partition in _ASFF_PARTITIONS else "aws",
                "Region": _nonblank(clip(finding.resource_region or finding.region, 32)),
            }
        ],
        "Compliance": {
            "Status": finding.compliance_status,
            "RelatedRequirements": [related_requirement(c) for c in finding.compliance][:32],
        },
        "RecordState": finding.record_state,
    }
    if finding.event_id:
        document["SourceUrl"] = cloudtrail_event_url(finding)
    action = _api_call_action(finding, observed)
    if action:
        document["Action"] = action
    if finding.suppression is not None:
        # Only honoured when Security Hub creates the finding; afterwards these are the customer's.
        document["Workflow"] = {"Status": "SUPPRESSED"}
        document["Note"] = {"Text": suppression_note(finding), "UpdatedBy": NOTE_AUTHOR, "UpdatedAt": updated}
    return _within_size(document)


def _within_size(document: dict) -> dict:
    """The document, its ProductFields values clipped shorter while it serializes (as botocore sends it)
    to more than :data:`MAX_FINDING_BYTES`: Security Hub would refuse the whole finding."""
    for limit in _PRODUCT_FIELD_SHRINK:
        if len(json.dumps(document, separators=(",", ":")).encode()) <= MAX_FINDING_BYTES:
            break
        fields = document["ProductFields"]
        document["ProductFields"] = {key: clip(value, limit) for key, value in fields.items()}
    return document


def _nonblank(text: str) -> str:
    """ASFF rejects blank strings where it wants a value (pattern ``.*\\S.*``): ``unknown`` instead."""
    return text if text.strip() else "unknown"


def suppression_note(finding: Finding) -> str:
    """``Suppressed by organisation policy: <reason> (owner <owner>, expires <date>, matched <pattern>)``,
    cleaned and within the 512 characters of ``Note.Text``; the owner and expiry always survive the
    clipping of a long reason or pattern."""
    suppression = finding.suppression
    if suppression is None:
        return ""
    expires = suppression.expires
    expires = expires.isoformat() if hasattr(expires, "isoformat") else clip(expires, 32)
    owner = clip(suppression.owner, 100) or "unknown"
    pattern = clip(suppression.pattern, 120) or "-"
    head = "Suppressed by organisation policy: "
    tail = f" (owner {owner}, expires {expires}, matched {pattern})"
    reason = clip(suppression.reason, max(_NOTE_LIMIT - len(head) - len(tail), 1)) or "no reason given"
    return clip(head + reason + tail, _NOTE_LIMIT)


def safe_region(region: str | None) -> str:
    """``region`` if it looks like an AWS region, else ``us-east-1`` (links never carry other text)."""
    return region if region and _REGION.fullmatch(region) else "us-east-1"


def console_origin(partition: str | None, region: str | None = None) -> str:
    """``https://<region>.console.aws.amazon.com`` (or the partition's console); no region: global."""
    domain = _CONSOLE_DOMAINS.get(partition or "aws", _CONSOLE_DOMAINS["aws"])
    return f"https://{safe_region(region)}.{domain}" if region is not None else f"https://{domain}"


def cloudtrail_event_url(finding: Finding) -> str:
    region = safe_region(finding.region)
    event = re.sub(r"[^A-Za-z0-9-]", "", finding.event_id or "")[:128]  # CloudTrail's ids are UUIDs
    return f"{console_origin(finding.partition, region)}/cloudtrailv2/home?region={region}#/events/{event}"


def securityhub_finding_url(finding_id: str, region: str, partition: str = "aws") -> str:
    """The Security Hub (CSPM) console's findings page in ``region``, filtered on this finding's ``Id``.

    The console has no documented per-finding deep link; the findings search with the filter
    ``Id EQUALS <id>`` opens a list holding exactly that finding. ``region`` is where the finding was
    imported (the auditor's home region). The id is percent-encoded twice (it sits in an encoded search
    inside the URL fragment), so no character of it can end the filter, add a parameter or reach the host.
    """
    region = safe_region(region)
    encoded = quote(quote(clip(finding_id, 512), safe=""), safe="")
    origin = console_origin(partition, region)
    return f"{origin}/securityhub/home?region={region}{_FINDINGS_SEARCH_BY_ID}{encoded}"


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
    cleaned = {_FIELD_PREFIX + clip(key, 100): clip(value, 2048) for key, value in fields.items()
               if value is not None}
    return dict([(key, value) for key, value in cleaned.items() if value.strip()][:50])


def _api_call_action(finding: Finding, observed: str) -> dict | None:
    call = {
        "Api": clip(finding.event_name, 128),
        "ServiceName": clip(finding.event_source, 128),
        "FirstSeen": observed,
        "LastSeen": observed,
    }
    if not (call["Api"].strip() and call["ServiceName"].strip()):
        return None  # ASFF wants both; a record without them has no API call to describe
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
