"""What ``organizations_guardrail_changed`` and ``security_tooling_disabled`` share: nested request and response
fields read ignoring case, and recognising identity-auditor's own Security Hub findings by their Id."""

from __future__ import annotations

import re
from typing import Any

# identity-auditor's finding Id (model/findings.py ``finding_id``): ``<rule id>/<account>/<region>/<16 hex>`` and, for
# event rules, ``/<event id>``. Rule ids are ``<domain>_<subject>_<condition>`` (lower case, digits, underscores).
# Account and region are copied from the record as given (possibly masked), so only "no slash" is required of them.
AUDITOR_FINDING_ID = re.compile(r"[a-z0-9]+(?:_[a-z0-9]+)+/[^/]+/[^/]+/[0-9a-f]{16}(?:/[^/]+)?", re.ASCII)
# Findings of AWS's own integrations (GuardDuty, Inspector, Security Hub controls, ...) are imported under
# ``product/aws/<service>``; identity-auditor imports under an account's ``product/<account>/default`` or a product
# ARN the deployment configures, which the rules do not know.
_AWS_PRODUCT = re.compile(r"^arn:[^:]*:securityhub:[^:]*:[^:]*:product/aws/", re.ASCII)


def field(block: Any, *path: str) -> Any:
    """A nested field (``FindingFieldsUpdate`` -> ``Workflow`` -> ``Status``), each key matched exactly first, then
    ignoring case (CloudTrail keeps each service's own casing); ``None`` when any step is absent or not an object."""
    for key in path:
        if not isinstance(block, dict):
            return None
        if key in block:
            block = block[key]
            continue
        folded = key.lower()
        block = next((value for name, value in block.items() if isinstance(name, str) and name.lower() == folded), None)
    return block


def text(value: Any) -> str:
    """``value`` when it is a string, else ``""`` (records can carry anything)."""
    return value if isinstance(value, str) else ""


def is_auditor_finding(identifier: Any) -> bool:
    """A ``BatchUpdateFindings`` finding identifier (``{"Id": ..., "ProductArn": ...}``) names one of
    identity-auditor's findings: its Id has the auditor's shape and its product is not one of AWS's own
    integrations. The product ARN is otherwise not checked: the auditor imports under each account's default
    product or under a product ARN the deployment configures, which a rule cannot know."""
    finding_id = text(field(identifier, "Id"))
    if not AUDITOR_FINDING_ID.fullmatch(finding_id):
        return False
    return not _AWS_PRODUCT.match(text(field(identifier, "ProductArn")))
