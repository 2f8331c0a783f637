"""Where findings go. Each sink takes its boto3 client in the constructor and has ``publish(findings)``.

Sinks never drop a finding silently: what cannot be delivered after retries raises
:class:`SinkError`, so the Lambda invocation fails and the event reaches the failure destination (DLQ).
:func:`publish_all` tries every sink before raising, so a Security Hub outage does not also
silence the alerts.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Protocol

from identity_auditor.aws.retry import SinkError

__all__ = ["Sink", "SinkError", "publish_all"]

if TYPE_CHECKING:
    from identity_auditor.model.findings import Finding


class Sink(Protocol):
    name: str

    def publish(self, findings: Sequence[Finding]) -> int: ...


def publish_all(sinks: Iterable[Sink], findings: Sequence[Finding]) -> dict[str, int]:
    """Publish to every sink; raise one :class:`SinkError` naming every sink that failed (and carrying what the
    others delivered)."""
    delivered: dict[str, int] = {}
    errors: list[str] = []
    for sink in sinks:
        try:
            delivered[sink.name] = sink.publish(findings)
        except SinkError as error:
            errors.append(f"{sink.name}: {error}")
    if errors:
        raise SinkError("; ".join(errors), delivered)
    return delivered
