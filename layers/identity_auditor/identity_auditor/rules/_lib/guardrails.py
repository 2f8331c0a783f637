"""What ``security_tooling_disabled`` needs beside the model's readers: recognising identity-auditor's own Security
Hub findings by their Id."""

from __future__ import annotations

import re
from typing import Any

from identity_auditor.model.cloudtrail import as_text, lookup

# identity-auditor's finding Id (model/findings.py ``finding_id``): ``<rule id>/<account>/<region>/<16 hex>`` and, for
# event rules, ``/<event id>``. Rule ids are ``<domain>_<subject>_<condition>`` (lower case, digits, underscores).
# Account and region are copied from the record as given (possibly masked), so only "no slash" is required of them.
AUDITOR_FINDING_ID = re.compile(r"[a-z0-9]+(?:_[a-z0-9]+)+/[^/]+/[^/]+/[0-9a-f]{16}(?:/[^/]+)?", re.ASCII)
# Findings of AWS's own integrations (GuardDuty, Inspector, Security Hub controls, ...) are imported under
# ``product/aws/<service>``; identity-auditor imports under an account's ``product/<account>/default`` or a product
# ARN the deployment configures, which the rules do not know.
_AWS_PRODUCT = re.compile(r"^arn:[^:]*:securityhub:[^:]*:[^:]*:product/aws/", re.ASCII)


def is_auditor_finding(identifier: Any) -> bool:
    """A ``BatchUpdateFindings`` finding identifier (``{"Id": ..., "ProductArn": ...}``) names one of
    identity-auditor's findings: its Id has the auditor's shape and its product is not one of AWS's own
    integrations. The product ARN is otherwise not checked: the auditor imports under each account's default
    product or under a product ARN the deployment configures, which a rule cannot know."""
    finding_id = as_text(lookup(identifier, "Id"))
    if not AUDITOR_FINDING_ID.fullmatch(finding_id):
        return False
    return not _AWS_PRODUCT.match(as_text(lookup(identifier, "ProductArn")))
