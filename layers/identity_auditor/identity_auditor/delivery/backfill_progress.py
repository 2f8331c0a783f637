"""Which log files a backfill execution has already evaluated, so that a retried batch goes on where its earlier
attempts stopped instead of reading its first files again (the backfill function, functions/backfill_evaluator).

In the table the auditor already has for de-duplication (partition key ``id``, TTL attribute ``expiration``): one
item per (execution, log file), ``id`` = ``identity-auditor#backfill-file#<sha256 of the execution ARN, bucket, key
and size>``, holding the file's counts (what its summary reported) and an expiry :data:`KEEP` after it was
written. The execution is the child execution of the Distributed Map (``$$.Execution.Id``, passed by
statemachine/backfill.asl.json): Step Functions' retries of the batch run in that same execution, so they skip the
files it completed; another backfill execution over the same prefix (a rules change, a policy change) has other
ARNs and evaluates every file again.

Calls: one ``BatchGetItem`` (strongly consistent, at most 50 keys: the map's batch) per invocation, and, when the
batch is to run again (it raises PublishIncomplete or FilesFailed), one ``PutItem`` per file it evaluated to the
end: a batch that succeeds writes nothing. Both are an optimisation of progress, never of correctness (the
de-duplication records keep a file read twice from paging twice): a failed read evaluates every file, a failed
write leaves the file to be read again, each logged by the caller. An invocation killed before it returns (Lambda's
own timeout, out of memory) records nothing; the function stops starting files 45 s before its timeout so that
running out of time is not one of those.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterable
from typing import Any

KEY_PREFIX = "identity-auditor#backfill-file"
# Step Functions retries a batch within minutes (ASL Retry) and redrives a failed execution within 14 days of its
# end (developer guide, "Redriving executions"): markers outlive both, then DynamoDB deletes them.
KEEP_SECONDS = 15 * 24 * 3600
BATCH_GET_LIMIT = 100  # DynamoDB BatchGetItem: at most 100 keys per request
UNPROCESSED_ROUNDS = 3  # BatchGetItem may return some keys unprocessed (throughput): asked again this many times


def item_id(execution: str, bucket: str, key: str, size: int | None) -> str:
    digest = hashlib.sha256("\n".join((execution, bucket, key, str(size))).encode()).hexdigest()
    return f"{KEY_PREFIX}#{digest}"


class BackfillProgress:
    def __init__(self, table_name: str, client_factory: Callable[[], Any], *,
                 clock: Callable[[], float] = time.time):
        self.table_name = table_name
        self._client_factory = client_factory
        self._client: Any = None
        self._clock = clock

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = self._client_factory()
        return self._client

    def completed(self, ids: Iterable[str]) -> dict[str, dict[str, int]]:
        """The counts recorded for each of ``ids`` already completed (ids not completed are absent). Raises the
        client's error when DynamoDB refuses (the caller then evaluates every file)."""
        wanted = list(dict.fromkeys(ids))
        found: dict[str, dict[str, int]] = {}
        for start in range(0, len(wanted), BATCH_GET_LIMIT):
            keys = [{"id": {"S": identifier}} for identifier in wanted[start:start + BATCH_GET_LIMIT]]
            request = {self.table_name: {"Keys": keys, "ConsistentRead": True,
                                         "ProjectionExpression": "#i, #c", "ExpressionAttributeNames": {
                                             "#i": "id", "#c": "counts"}}}
            for _ in range(1 + UNPROCESSED_ROUNDS):
                answer = self.client.batch_get_item(RequestItems=request)
                for item in answer.get("Responses", {}).get(self.table_name, []):
                    found[item["id"]["S"]] = {name: int(value["N"])
                                              for name, value in item.get("counts", {}).get("M", {}).items()}
                request = answer.get("UnprocessedKeys") or {}
                if not request:
                    break
        return found

    def mark(self, identifier: str, counts: dict[str, int]) -> None:
        """Record the file as completed in this execution, with its summary's counts."""
        self.client.put_item(TableName=self.table_name, Item={
            "id": {"S": identifier},
            "counts": {"M": {name: {"N": str(int(value))} for name, value in counts.items()}},
            "expiration": {"N": str(int(self._clock()) + KEEP_SECONDS)},
        })

