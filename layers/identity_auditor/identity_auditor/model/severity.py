"""Severity: the five ASFF labels, ordered."""

from __future__ import annotations

from enum import Enum


class Severity(str, Enum):
    """ASFF severity labels, ordered."""

    INFORMATIONAL = "INFORMATIONAL"
    LOW = "LOW"
    MEDIUM = "MEDIUM"
    HIGH = "HIGH"
    CRITICAL = "CRITICAL"

    @property
    def rank(self) -> int:
        return _RANKS[self]

    @classmethod
    def parse(cls, text: str) -> Severity:
        try:
            return cls(text.strip().upper())
        except ValueError:
            names = ", ".join(s.value.lower() for s in cls)
            raise ValueError(f"unknown severity {text!r}; expected one of {names}") from None


_RANKS = {severity: rank for rank, severity in enumerate(Severity)}  # INFORMATIONAL 0 ... CRITICAL 4
