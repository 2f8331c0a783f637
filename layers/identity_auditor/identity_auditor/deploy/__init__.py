"""Build-time only (not in the Lambda layer): the EventBridge routes, template and organisation
generators, the rule catalogue, and :mod:`identity_auditor.deploy.generate` (``make generate``), which
writes or checks every file derived from the rule registry."""
