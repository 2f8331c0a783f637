"""Batch delivery with retries: throttling, server and network errors and transient per-item failures
are retried with capped exponential backoff and full jitter; whatever is still undelivered is raised,
never dropped. Failures that retrying cannot fix (invalid input, access denied) stop the retries early."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # botocore is imported when something is sent, not when a handler starts
    from botocore.exceptions import ClientError


RETRYABLE_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "TooManyRequestsException",
        "LimitExceededException",
        "LimitExceeded",
        "RequestLimitExceeded",
        "InternalException",
        "InternalError",
        "InternalFailure",
        "ServiceUnavailable",
        "KMSThrottlingException",
    }
)


class SinkError(RuntimeError):
    """Findings could not be delivered; the message says which and why. ``delivered``: what the other sinks of
    the same :func:`~identity_auditor.sinks.publish_all` took (sink name -> count), so that it can be said too."""

    def __init__(self, message: str, delivered: dict[str, int] | None = None):
        super().__init__(message)
        self.delivered = dict(delivered or {})


@dataclass(frozen=True)
class Item:
    key: str
    payload: Any


@dataclass(frozen=True)
class Failure:
    reason: str
    retryable: bool = True
    cause: BaseException | None = None  # the exception behind a whole-call failure


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 6
    base_delay: float = 0.2
    max_delay: float = 5.0
    sleep: Callable[[float], None] = time.sleep

    def delay(self, attempt: int) -> float:
        return random.uniform(0, min(self.max_delay, self.base_delay * 2**attempt))


def is_retryable(error: ClientError) -> bool:
    code = error.response.get("Error", {}).get("Code", "")
    status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
    return code in RETRYABLE_CODES or status >= 500 or status == 429


def attempt(
    send: Callable[[list[Item]], dict[str, Failure]],
    items: Sequence[Item],
    *,
    what: str,
    policy: RetryPolicy,
    on_retry: Callable[[int, int], None] | None = None,
    keep_going: Callable[[], bool] | None = None,
) -> dict[str, Failure]:
    """Call ``send(pending)`` (which returns a :class:`Failure` for each item that failed) until every
    item is delivered, only permanent failures remain, ``policy.max_attempts`` is reached, or
    ``keep_going()`` says there is no time for another attempt; return the failures of the items still
    undelivered (empty when all were delivered)."""
    from botocore.exceptions import BotoCoreError, ClientError

    pending = list(items)
    failed: dict[str, Failure] = {}
    for number in range(1, policy.max_attempts + 1):
        try:
            failed = send(pending)
        except ClientError as error:
            if not is_retryable(error):
                return {item.key: Failure(f"{_describe(error)} (not retryable)", False, error) for item in pending}
            failed = {item.key: Failure(_describe(error), True, error) for item in pending}
        except BotoCoreError as error:  # endpoint unreachable, timeouts after botocore's own retries
            failed = {item.key: Failure(f"{type(error).__name__}: {error}", True, error) for item in pending}
        pending = [item for item in pending if item.key in failed]
        if not pending:
            return {}
        if not any(failed[item.key].retryable for item in pending):
            break
        if keep_going is not None and not keep_going():
            break
        if number < policy.max_attempts:
            if on_retry:
                on_retry(number, len(pending))
            policy.sleep(policy.delay(number))
    return {item.key: failed[item.key] for item in pending}


def deliver(
    send: Callable[[list[Item]], dict[str, Failure]],
    items: Sequence[Item],
    *,
    what: str,
    policy: RetryPolicy,
    on_retry: Callable[[int, int], None] | None = None,
) -> None:
    """:func:`attempt`, raising one :class:`SinkError` that names what was not delivered and why."""
    failed = attempt(send, items, what=what, policy=policy, on_retry=on_retry)
    if failed:
        reasons = "; ".join(f"{key}: {failure.reason}" for key, failure in list(failed.items())[:10])
        more = f" (and {len(failed) - 10} more)" if len(failed) > 10 else ""
        cause = next((failure.cause for failure in failed.values() if failure.cause is not None), None)
        raise SinkError(f"{what}: {len(failed)} of {len(items)} not delivered: {reasons}{more}") from cause


def batched(items: Sequence[Item], *, size_of: Callable[[Item], int], max_items: int, max_bytes: int):
    """Group items into calls of at most ``max_items`` items and ``max_bytes`` bytes (an item larger
    than ``max_bytes`` travels alone, and the service says whether it fits)."""
    batch: list[Item] = []
    size = 0
    for item in items:
        length = size_of(item)
        if batch and (len(batch) == max_items or size + length > max_bytes):
            yield batch
            batch, size = [], 0
        batch.append(item)
        size += length
    if batch:
        yield batch


def deliver_all(batches, send, *, what: str, policy: RetryPolicy, on_retry=None) -> None:
    """Deliver every batch, even after one failed; then raise one error naming all that failed."""
    errors: list[SinkError] = []
    for batch in batches:
        try:
            deliver(send, batch, what=what, policy=policy, on_retry=on_retry)
        except SinkError as error:
            errors.append(error)
    if len(errors) == 1:
        raise errors[0]
    if errors:
        raise SinkError(" | ".join(str(error) for error in errors)) from errors[0]


def _describe(error: ClientError) -> str:
    info = error.response.get("Error", {})
    return f"{info.get('Code', 'Error')}: {info.get('Message', str(error))}"
