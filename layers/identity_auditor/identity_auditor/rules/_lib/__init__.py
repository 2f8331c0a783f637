"""Helpers shared by several rules (pure, like the rules)."""
