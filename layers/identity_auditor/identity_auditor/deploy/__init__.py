"""Build-time only (not in the Lambda layer): the EventBridge routes, template and organisation
generators, and the rule catalogue."""
