"""Counting the AWS API calls an evaluation costs."""

from __future__ import annotations

import itertools

_ids = itertools.count()


class CallCounter:
    """Counts the API calls made through a botocore client (its ``before-call`` event: one per call,
    retries not included) while the ``with`` block runs. A client without botocore events counts 0."""

    def __init__(self, client):
        self.calls = 0
        self._events = getattr(getattr(client, "meta", None), "events", None)
        self._id = f"identity-auditor-call-counter-{next(_ids)}"

    def _count(self, **_kwargs) -> None:
        self.calls += 1

    def __enter__(self) -> CallCounter:
        if self._events is not None:
            self._events.register("before-call", self._count, unique_id=self._id)
        return self

    def __exit__(self, *exc) -> None:
        if self._events is not None:
            self._events.unregister("before-call", unique_id=self._id)
