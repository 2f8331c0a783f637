"""identity-auditor: event-driven compliance auditing for AWS identity.

CloudTrail events (through EventBridge) are parsed into :mod:`identity_auditor.model.cloudtrail`, evaluated by the
pure rules in :mod:`identity_auditor.rules` (listed once in :mod:`identity_auditor.engine.registry`) through
:mod:`identity_auditor.engine.events`, turned into findings (:mod:`identity_auditor.model.findings`) and published by
the sinks in :mod:`identity_auditor.sinks` to AWS Security Hub and Amazon SNS.
"""

__version__ = "0.1.0"
PRODUCT_NAME = "identity-auditor"
