"""The vocabulary every layer shares: CloudTrail records, state snapshots, the rule contract, the
organisation-policy value object, findings, and text helpers. Imports nothing of ours above it."""
