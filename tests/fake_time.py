"""A fake clock for time-bound tests: virtual seconds that pass only when something sleeps or waits.

The reliability suites throttle and retry on purpose; on the real clock they would wait out every
backoff and every token-bucket refill. With :class:`FakeClock` the same waits happen, in the same order
and for the same (virtual) durations, but cost no wall-clock time:

* the project's own retries take ``sleep=clock.sleep`` (:class:`~identity_auditor.aws.retry.RetryPolicy`,
  ``AlertState``, the collectors' policies);
* the emulated quotas (``pipeline.TokenBucket``) take ``clock=clock``;
* botocore's retry backoff (``time.sleep`` in ``botocore.endpoint``) and its adaptive mode's client-side
  rate limiter (the token bucket's clock and its condition wait in ``botocore.retries.bucket``) are
  pointed at the clock by :func:`fake_botocore_time`, for one test (``monkeypatch``) only.
"""

from __future__ import annotations

import math
import threading
import time


class FakeClock:
    """Monotonic virtual time in seconds. ``clock()`` (or ``.time()``, ``.monotonic()``) reads it;
    ``clock.sleep(seconds)`` advances it at once and counts the sleep."""

    def __init__(self, start: float = 1_000_000.0):
        self.now = float(start)
        self.slept = 0.0  # virtual seconds spent sleeping or waiting
        self.sleeps = 0

    def __call__(self) -> float:
        return self.now

    def time(self) -> float:
        return self.now

    monotonic = time

    def sleep(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("sleep length must be non-negative")  # as time.sleep
        later = self.now + seconds
        if seconds > 0 and later == self.now:  # too short to show at this magnitude: as a real clock,
            later = math.nextafter(self.now, math.inf)  # a sleep always lets some time pass
        self.slept += later - self.now
        self.now = later
        self.sleeps += 1

    def advance(self, seconds: float) -> None:
        """Time passes without anyone sleeping (work that takes time)."""
        if seconds < 0:
            raise ValueError("time does not run backwards")
        self.now += seconds


class _TimeModule:
    """Stands in for the ``time`` module inside one library module: the clock's ``sleep``, ``time`` and
    ``monotonic``, the real module's everything else."""

    def __init__(self, clock: FakeClock):
        self._clock = clock
        self.sleep = clock.sleep
        self.time = clock.time
        self.monotonic = clock.monotonic

    def __getattr__(self, name: str):
        return getattr(time, name)


class _WaitOnClock(threading.Condition):
    """A condition whose timed ``wait`` lets the virtual time pass instead of the real one (botocore's
    token bucket waits for its refill this way; the publisher calls it from one thread)."""

    def __init__(self, lock, clock: FakeClock):
        super().__init__(lock)
        self._clock = clock

    def wait(self, timeout: float | None = None) -> bool:
        if timeout is None:
            raise AssertionError("an untimed wait would never end on a fake clock")
        self._clock.sleep(max(0.0, timeout))
        return False


class _ThreadingModule:
    def __init__(self, clock: FakeClock):
        self._clock = clock

    def Condition(self, lock=None):  # noqa: N802 (threading's name)
        return _WaitOnClock(lock, self._clock)

    def __getattr__(self, name: str):
        return getattr(threading, name)


def fake_botocore_time(monkeypatch, clock: FakeClock) -> FakeClock:
    """Point botocore's retry sleeps and its adaptive rate limiter at ``clock`` for the test.

    Clients created afterwards (the adaptive limiter is built with the client) wait on the fake clock;
    ``time.sleep`` itself, and every other library's clock, are left alone."""
    import botocore.endpoint
    import botocore.retries.bucket

    monkeypatch.setattr(botocore.endpoint, "time", _TimeModule(clock))
    monkeypatch.setattr(botocore.retries.bucket, "time", _TimeModule(clock))
    monkeypatch.setattr(botocore.retries.bucket, "threading", _ThreadingModule(clock))
    return clock


def fake_sqs_long_polling(monkeypatch, clock: FakeClock) -> FakeClock:
    """moto's ReceiveMessage long polling (``WaitTimeSeconds``) waits on ``clock``: the poll of an empty queue
    ends after its seconds of virtual time, at once. moto's SQS clock (its ``unix_time`` and
    ``unix_time_millis``, which tell when a poll ends and when an in-flight message is visible again) runs
    that much ahead of the one it had, so messages become visible during a wait as they would."""
    import moto.sqs.models as sqs

    start = clock()
    unix_time, unix_time_millis = sqs.unix_time, sqs.unix_time_millis

    def ahead() -> float:
        return clock() - start

    monkeypatch.setattr(sqs, "unix_time", lambda dt=None: unix_time(dt) if dt is not None else unix_time() + ahead())
    monkeypatch.setattr(sqs, "unix_time_millis", lambda dt=None: unix_time_millis(dt) if dt is not None
                        else unix_time_millis() + ahead() * 1000.0)

    def wait_for_messages(queue, timeout: float) -> None:  # in-process moto: no one can send during the wait
        clock.sleep(timeout)

    monkeypatch.setattr(sqs.Queue, "wait_for_messages", wait_for_messages)
    return clock
