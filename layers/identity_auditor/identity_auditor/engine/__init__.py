"""Runs the registered rules: the registry, the event engine, the state engine and the one application
of the organisation policy both use."""
