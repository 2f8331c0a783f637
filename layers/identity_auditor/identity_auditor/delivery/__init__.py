"""The deployed path around the engine: settings, wiring, the findings queue's publisher, page-once
state and de-duplication of redelivered events."""
