"""One module per rule; the module name is the rule id. The registry lists them all."""
