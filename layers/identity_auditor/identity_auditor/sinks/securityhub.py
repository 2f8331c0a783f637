"""AWS Security Hub sink: ``BatchImportFindings`` in batches of at most 100 findings and 6 MB.

Every finding is imported, suppressed ones too: :func:`~identity_auditor.sinks.asff.to_asff` creates those
with ``Workflow.Status = SUPPRESSED`` and a note of the reason, owner and expiry, so auditors see what
the organisation policy waived (the SNS sink, in contrast, does not alert on them).

Security Hub refuses an account's findings in two forms. A whole call fails with
``InvalidAccessException`` (HTTP 401) when the caller may not import there. And when Security Hub is
disabled in the account, or the finding provider's integration is not enabled, AWS documents
(user guide, "BatchImportFindings for finding providers") that the call succeeds (HTTP 200) with each
finding listed in ``FailedFindings`` under the error code ``InvalidAccess``. :func:`account_refused`
recognises both (and the access-denied codes), so the publisher treats them alike: another account, or
an alert without the import, rather than retries that cannot succeed.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timezone

from identity_auditor.aws.retry import Failure, Item, RetryPolicy, attempt, batched, deliver_all
from identity_auditor.model.findings import Finding
from identity_auditor.sinks.asff import to_asff

MAX_FINDINGS_PER_CALL = 100
MAX_BYTES_PER_CALL = 6 * 1024 * 1024 - 64 * 1024  # headroom for the request envelope
WHAT = "Security Hub BatchImportFindings"
# Codes that say "not in this account" rather than "not this finding": Security Hub (or the custom integration's
# import) disabled there, or the caller not allowed to import. ``InvalidAccess`` is the documented FailedFindings
# code; the others are the whole-call exceptions (and ``AccessDenied``, as FailedFindings also carry it).
REFUSAL_CODES = frozenset({"InvalidAccess", "InvalidAccessException", "AccessDenied", "AccessDeniedException",
                           "UnrecognizedClientException"})
# FailedFindings error codes that another attempt cannot fix.
PERMANENT_ERRORS = frozenset({"InvalidInput", "InvalidInputException"}) | REFUSAL_CODES


class SecurityHubSink:
    name = "securityhub"

    def __init__(
        self,
        client,
        *,
        product_arn: Callable[[Finding], str],
        policy: RetryPolicy | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
        on_retry: Callable[[int, int], None] | None = None,
    ):
        self.client = client
        self.product_arn = product_arn
        self.policy = policy or RetryPolicy()
        self.clock = clock
        self.on_retry = on_retry

    def publish(self, findings: Sequence[Finding]) -> int:
        now = self.clock()
        documents = [to_asff(f, product_arn=self.product_arn(f), updated_at=now) for f in findings]
        deliver_all(batches(documents), self._send, what=WHAT, policy=self.policy, on_retry=self.on_retry)
        return len(documents)

    def import_documents(self, documents: Sequence[dict], keep_going: Callable[[], bool] | None = None
                         ) -> dict[str, Failure]:
        """Import ASFF documents already rendered (the publisher's path); every batch is tried while
        ``keep_going()`` allows, and the failures of the findings not imported are returned by finding Id."""
        failed: dict[str, Failure] = {}
        for batch in batches(documents):
            if keep_going is not None and not keep_going():
                failed.update({item.key: Failure("not attempted: the invocation is about to time out")
                               for item in batch})
                continue
            failed.update(attempt(self._send, batch, what=WHAT, policy=self.policy, on_retry=self.on_retry,
                                  keep_going=keep_going))
        return failed

    def _send(self, pending: list[Item]) -> dict[str, Failure]:
        response = self.client.batch_import_findings(Findings=[item.payload for item in pending])
        return {
            failure.get("Id", "?"): Failure(
                f"{failure.get('ErrorCode', 'Error')}: {failure.get('ErrorMessage', '')}",
                retryable=failure.get("ErrorCode") not in PERMANENT_ERRORS,
            )
            for failure in response.get("FailedFindings") or []
        }


def batches(documents: Sequence[dict]) -> Iterator[list[Item]]:
    """Group ASFF documents into import calls within the count and size limits."""
    items = [Item(document["Id"], document) for document in documents]
    return batched(items, size_of=lambda item: len(json.dumps(item.payload, separators=(",", ":")).encode()),
                   max_items=MAX_FINDINGS_PER_CALL, max_bytes=MAX_BYTES_PER_CALL)


def account_refused(failure: Failure) -> bool:
    """Whether a finding failed because the account refused it (whole call or ``FailedFindings`` item),
    not because of what the finding says: importing it elsewhere, or later, is what can help."""
    return not failure.retryable and failure.reason.split(":", 1)[0].strip() in REFUSAL_CODES
