"""What the last periodic sweep of a rule judged, so that the next one archives what disappeared.

A periodic state rule judges the resources that exist; a deleted IAM user, a removed Identity Center
assignment or a deleted permission set is simply not judged again, and without this its last FAILED
finding would stay open in Security Hub forever. After each complete sweep the Config function records
every resource it judged (finding Id -> where and what, :func:`identity_auditor.engine.state.ledger_entry`);
the next sweep archives (``RecordState=ARCHIVED``) the findings of those it no longer sees
(:meth:`identity_auditor.engine.state.StateEngine.vanished`).

Storage: the de-duplication table (``settings.idempotency_table``), key ``id`` =
``sweep#<rule id>#<account>#<region>``, the entries as zlib-compressed JSON in a binary attribute, split
over several items (``...#1``, ``...#2``) when they outgrow :data:`CHUNK_BYTES` (a DynamoDB item holds at
most 400 KB). The head item is written last and names the number of chunks, so a reader never sees a
head without its chunks. Items expire after ``ttl_seconds`` (35 days): a rule whose sweeps stopped for that
long starts over, archiving nothing it cannot know about.

A ledger that cannot be read or written never stops a sweep's findings: :class:`SweepLedgerError` is raised
for the caller to log and count; the sweep then archives nothing this time (a stale finding beats a wrong
archive).
"""

from __future__ import annotations

import json
import time
import zlib
from collections.abc import Callable

PREFIX = "sweep#"
TTL_SECONDS = 35 * 24 * 3600
CHUNK_BYTES = 350_000


class SweepLedgerError(RuntimeError):
    """The sweep ledger could not be read or written; the message names the item and DynamoDB's answer."""


class SweepLedger:
    def __init__(self, dynamodb, table_name: str, *, ttl_seconds: int = TTL_SECONDS,
                 clock: Callable[[], float] = time.time):
        self.dynamodb = dynamodb
        self.table_name = table_name
        self.ttl_seconds = ttl_seconds
        self.clock = clock

    @staticmethod
    def key(rule_id: str, account: str, region: str) -> str:
        return f"{PREFIX}{rule_id}#{account}#{region}"

    def load(self, rule_id: str, account: str, region: str) -> dict[str, dict]:
        """The entries of the last sweep (finding Id -> entry); empty when there was none (or it expired)."""
        from botocore.exceptions import BotoCoreError, ClientError

        key = self.key(rule_id, account, region)
        try:
            head = self._get(key)
            if head is None or int(head.get("expiration", {}).get("N", "0")) <= self.clock():
                return {}
            blobs = [head["entries"]["B"]]
            for index in range(1, int(head["chunks"]["N"])):
                chunk = self._get(f"{key}#{index}")
                if chunk is None:
                    raise SweepLedgerError(f"sweep ledger {key}: chunk {index} is missing")
                blobs.append(chunk["entries"]["B"])
            return json.loads(zlib.decompress(b"".join(blobs)))
        except (BotoCoreError, ClientError) as error:
            raise SweepLedgerError(f"sweep ledger {key} could not be read: {error}") from error
        except (KeyError, ValueError, zlib.error) as error:
            raise SweepLedgerError(f"sweep ledger {key} is unreadable: {type(error).__name__}: {error}") from error

    def save(self, rule_id: str, account: str, region: str, entries: dict[str, dict]) -> int:
        """Record this sweep's entries; returns the number of items written."""
        from botocore.exceptions import BotoCoreError, ClientError

        key = self.key(rule_id, account, region)
        blob = zlib.compress(json.dumps(entries, sort_keys=True, separators=(",", ":")).encode(), 6)
        chunks = [blob[start:start + CHUNK_BYTES] for start in range(0, len(blob), CHUNK_BYTES)] or [b""]
        expiration = str(int(self.clock()) + self.ttl_seconds)
        try:
            for index in range(len(chunks) - 1, -1, -1):  # the head (index 0) last
                item = {"id": {"S": key if index == 0 else f"{key}#{index}"}, "entries": {"B": chunks[index]},
                        "expiration": {"N": expiration}}
                if index == 0:
                    item["chunks"] = {"N": str(len(chunks))}
                    item["resources"] = {"N": str(len(entries))}
                self.dynamodb.put_item(TableName=self.table_name, Item=item)
        except (BotoCoreError, ClientError) as error:
            raise SweepLedgerError(f"sweep ledger {key} could not be written: {error}") from error
        return len(chunks)

    def _get(self, key: str) -> dict | None:
        response = self.dynamodb.get_item(TableName=self.table_name, Key={"id": {"S": key}}, ConsistentRead=True)
        return response.get("Item")


__all__ = ["CHUNK_BYTES", "PREFIX", "TTL_SECONDS", "SweepLedger", "SweepLedgerError"]
