"""The deployment's sequence store (:class:`~identity_auditor.engine.sequences.SequenceStore`): DynamoDB, in the
table the auditor already has for de-duplication (partition key ``id``, TTL attribute ``expiration``).

One item per (sequence, key), ``id`` = ``identity-auditor#sequence#<sequence id>#<hash of the key>``, holding the
key's steps (a list: event id, step name, time, account, region, facts), the marks of what it already raised (a
string set) and its expiry (the newest step's time or now, whichever is later, plus the window and an hour, so
DynamoDB deletes a key's state once no step of it can matter).

Calls: one ``UpdateItem`` per step (``list_append`` with ``ReturnValues=ALL_NEW`` returns every kept step in the
same call), and one more when a sequence completes (``ADD`` to the raised set, ``ReturnValues=UPDATED_OLD`` says
whether it was there). A key holds at most :data:`~identity_auditor.engine.sequences.MAX_STEPS_PER_KEY` steps
(items stay far below DynamoDB's 400 KB): when an append would pass that, the item is read and rewritten with
its steps de-duplicated, those outside the window dropped, and then the oldest, keeping the newest
``max_steps`` as the memory store does (a ``GetItem`` and a conditional ``PutItem`` on the version read; a
concurrent writer makes it retry): a key at its cap costs those two calls more per step. Failures
raise :class:`~identity_auditor.engine.sequences.SequenceStoreError` naming the call and the error.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

from identity_auditor.engine.sequences import MAX_STEPS_PER_KEY, SequenceStoreError, in_window
from identity_auditor.model.sequence import Step

KEY_PREFIX = "identity-auditor#sequence"
MARGIN = timedelta(hours=1)


class DynamoDbSequenceStore:
    def __init__(self, table_name: str, client_factory: Callable[[], Any], *, max_steps: int = MAX_STEPS_PER_KEY,
                 clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc)):
        self.table_name = table_name
        self._client_factory = client_factory
        self._client: Any = None
        self.max_steps = max_steps
        self._clock = clock
        self.calls = 0

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = self._client_factory()
        return self._client

    def add(self, sequence_id: str, key: str, step: Step, *, window: timedelta) -> tuple[list[Step], frozenset[str]]:
        item_id = _item_id(sequence_id, key)
        expires = int((max(step.time, self._clock()) + window + MARGIN).timestamp())
        try:
            answer = self._call("update_item", TableName=self.table_name, Key={"id": {"S": item_id}},
                                UpdateExpression="SET #s = list_append(if_not_exists(#s, :none), :new), "
                                                 "#e = :e, #v = if_not_exists(#v, :zero) + :one",
                                ConditionExpression="attribute_not_exists(#s) OR size(#s) < :cap",
                                ExpressionAttributeNames={"#s": "steps", "#e": "expiration", "#v": "version"},
                                ExpressionAttributeValues={":none": {"L": []}, ":new": {"L": [_to_item(step)]},
                                                           ":e": {"N": str(expires)}, ":cap": {"N": str(self.max_steps)},
                                                           ":zero": {"N": "0"}, ":one": {"N": "1"}},
                                ReturnValues="ALL_NEW")
        except _Full:
            return self._compact(item_id, step, window, expires)
        attributes = answer["Attributes"]
        steps = [_from_item(entry) for entry in attributes.get("steps", {}).get("L", [])]
        return in_window(_unique(steps), step, window), frozenset(attributes.get("raised", {}).get("SS", []))

    def mark_raised(self, sequence_id: str, key: str, marks: frozenset[str]) -> None:
        self._call("update_item", TableName=self.table_name, Key={"id": {"S": _item_id(sequence_id, key)}},
                   UpdateExpression="ADD #r :marks", ExpressionAttributeNames={"#r": "raised"},
                   ExpressionAttributeValues={":marks": {"SS": sorted(marks)}})

    def _compact(self, item_id: str, step: Step, window: timedelta, expires: int) -> list[Step]:
        for _ in range(5):
            item = self._call("get_item", TableName=self.table_name, Key={"id": {"S": item_id}},
                              ConsistentRead=True).get("Item", {})
            steps = _unique([_from_item(e) for e in item.get("steps", {}).get("L", [])] + [step])
            newest = max(s.time for s in steps)
            kept = sorted((s for s in steps if newest - s.time <= window or s.identity == step.identity),
                          key=lambda s: (s.time, s.event_id, s.name))[-self.max_steps:]
            version = item.get("version", {}).get("N", "0")
            replacement = {**item, "id": {"S": item_id}, "steps": {"L": [_to_item(s) for s in kept]},
                           "expiration": {"N": str(expires)}, "version": {"N": str(int(version) + 1)}}
            try:
                self._call("put_item", TableName=self.table_name, Item=replacement,
                           ConditionExpression="attribute_not_exists(#v) OR #v = :v",
                           ExpressionAttributeNames={"#v": "version"}, ExpressionAttributeValues={":v": {"N": version}})
            except _Full:
                continue  # someone else wrote the item meanwhile: read it again
            return in_window(kept, step, window), frozenset(item.get("raised", {}).get("SS", []))
        raise SequenceStoreError(f"DynamoDB table {self.table_name}: item {item_id} kept changing while it was "
                                 "being compacted")

    def _call(self, operation: str, **params: Any) -> dict:
        self.calls += 1
        try:
            return getattr(self.client, operation)(**params)
        except Exception as error:  # botocore's errors, without importing botocore before it is needed
            code = getattr(error, "response", {}).get("Error", {}).get("Code")
            if code == "ConditionalCheckFailedException":
                raise _Full from None
            raise SequenceStoreError(f"DynamoDB {operation} on table {self.table_name} failed: "
                                     f"{code or type(error).__name__}: {error}") from error


class _Full(Exception):
    """The conditional write found the key at its cap (or changed by another writer)."""


def _item_id(sequence_id: str, key: str) -> str:
    return f"{KEY_PREFIX}#{sequence_id}#{hashlib.sha256(key.encode('utf-8', 'surrogatepass')).hexdigest()[:32]}"


def _to_item(step: Step) -> dict:
    return {"M": {"e": {"S": step.event_id or "-"}, "n": {"S": step.name}, "t": {"S": step.time.isoformat()},
                  "a": {"S": step.account or ""}, "r": {"S": step.region or ""},
                  "f": {"M": {k: {"S": str(v)[:256]} for k, v in step.facts.items()}}}}


def _from_item(entry: dict) -> Step:
    fields = entry["M"]
    return Step(name=fields["n"]["S"], event_id=fields["e"]["S"], time=datetime.fromisoformat(fields["t"]["S"]),
                facts={k: v["S"] for k, v in fields.get("f", {}).get("M", {}).items()},
                account=fields.get("a", {}).get("S") or None, region=fields.get("r", {}).get("S") or None)


def _unique(steps: list[Step]) -> list[Step]:
    return list({step.identity: step for step in reversed(steps)}.values())
