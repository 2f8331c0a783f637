"""Collectors fetch, rules decide: the only code (besides the sinks) that calls AWS for state rules.

Each collector turns IAM API answers into the typed snapshots of :mod:`identity_auditor.model.snapshots`
and makes no judgement about them (no thresholds, no policy, no "compliant"):

* :class:`~identity_auditor.collectors.credential_report.CredentialReportCollector`: the IAM
  credential report (generate, poll, reuse for up to 4 hours) as ``CredentialReportRow`` objects;
* :func:`~identity_auditor.collectors.account.collect_account`: the account summary, the password
  policy and the root user's MFA kind as an ``AccountSnapshot``;
* :mod:`~identity_auditor.collectors.roles`: roles (``RoleSnapshot``) from ``ListRoles``,
  ``GetRole`` or an AWS Config configuration item.

Every boto3 client is passed in by the caller (never created here), so tests hand in moto-backed or
stubbed clients. Calls go through :class:`ApiCalls`, which retries throttling and transient errors
with the project's :class:`~identity_auditor.aws.retry.RetryPolicy` (injectable ``sleep``) and counts
every request, so callers can report how many AWS calls an evaluation cost.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from identity_auditor.aws.retry import RetryPolicy, is_retryable

IAM_PAGE_SIZE = 1000  # the largest MaxItems IAM list operations accept


class CollectorError(RuntimeError):
    """AWS state could not be collected; the message says what was asked and what AWS answered."""


def error_code(error: ClientError) -> str:
    """The AWS error code of a botocore ``ClientError`` (``""`` when absent)."""
    return error.response.get("Error", {}).get("Code", "")


def describe(error: BaseException) -> str:
    """``Code: message`` for a ``ClientError``; the exception's type and text otherwise."""
    if isinstance(error, ClientError):
        info = error.response.get("Error", {})
        return f"{info.get('Code', 'Error')}: {info.get('Message', str(error))}"
    return f"{type(error).__name__}: {error}"


class ApiCalls:
    """Makes AWS calls for the collectors: counts every request and retries the retryable ones.

    Throttling, ``LimitExceeded``, 5xx and network errors are retried up to ``policy.max_attempts``
    times with the policy's capped exponential backoff and jitter; any other error (``AccessDenied``,
    ``NoSuchEntity``...) is raised at once. After the last attempt the last error is raised unchanged, so
    callers can still tell a refusal (``LimitExceeded``) from anything else.

    ``total`` counts every request sent (retries included; botocore's own internal retries are not
    visible here); ``by_operation`` counts them per boto3 method name. One instance can be shared by
    several collectors to add up the cost of a whole evaluation.

    ``deadline`` (a ``time.monotonic()`` value): no call starts after it; :class:`CollectorError` says the
    sweep's time ran out, so that the part being read is reported as unread and the sweep still ends in
    time to answer (a Lambda function that times out answers nothing).
    """

    def __init__(self, policy: RetryPolicy | None = None, *, deadline: float | None = None,
                 clock: Callable[[], float] = time.monotonic):
        self.policy = policy or RetryPolicy()
        self.total = 0
        self.by_operation: Counter[str] = Counter()
        self.deadline = deadline
        self.clock = clock

    def call(self, client: Any, operation: str, **params: Any) -> dict:
        """``client.<operation>(**params)``, retried when AWS says to slow down or fails transiently."""
        if self.deadline is not None and self.clock() >= self.deadline:
            raise CollectorError(f"the sweep's time ran out after {self.total} API calls (before {operation}); "
                                 "the rest is read next time")
        attempts = max(1, self.policy.max_attempts)
        for attempt in range(1, attempts + 1):
            self.total += 1
            self.by_operation[operation] += 1
            try:
                return getattr(client, operation)(**params)
            except ClientError as error:
                if not is_retryable(error) or attempt == attempts:
                    raise
            except BotoCoreError:  # endpoint unreachable, read timeout after botocore's own retries
                if attempt == attempts:
                    raise
            self.policy.sleep(self.policy.delay(attempt))
        raise AssertionError("unreachable")  # pragma: no cover

    def token_pages(self, client: Any, operation: str, *, token: str = "NextToken", page_size: int | None = None,
                    size_name: str = "MaxResults", **params: Any) -> Iterator[dict]:
        """Every page of a token-paged operation (``NextToken`` in sso-admin and identitystore, ``nextToken`` in
        Access Analyzer), ``page_size`` items a page when given; each page is one counted, retried call."""
        following: str | None = None
        while True:
            request = dict(params, **({size_name: page_size} if page_size else {}))
            if following:
                request[token] = following
            page = self.call(client, operation, **request)
            yield page
            following = page.get(token)
            if not following:
                return

    def iam_pages(self, client: Any, operation: str, **params: Any) -> Iterator[dict]:
        """Every page of an IAM list operation (``Marker`` / ``IsTruncated`` pagination), asking for
        :data:`IAM_PAGE_SIZE` items per page; each page is one counted, individually retried call."""
        marker: str | None = None
        while True:
            request = dict(params, MaxItems=IAM_PAGE_SIZE)
            if marker:
                request["Marker"] = marker
            page = self.call(client, operation, **request)
            yield page
            marker = page.get("Marker")
            if not page.get("IsTruncated") or not marker:
                return


def why_unread(error: BaseException, operation: str | None = None) -> str:
    """Why a part could not be read: ``<Operation>: <Code>: <message>`` for an AWS error (``operation`` names the
    call when the error does not), else the exception's type and text (e.g. a role that could not be assumed)."""
    name = getattr(error, "operation_name", None) or operation
    return f"{name}: {describe(error)}" if name else describe(error)


__all__ = ["IAM_PAGE_SIZE", "ApiCalls", "CollectorError", "describe", "error_code", "why_unread"]
