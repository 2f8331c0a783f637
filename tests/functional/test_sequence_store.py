"""The deployment's sequence store against moto's DynamoDB: the same answers as the memory store (steps once,
in time order, within the window around the new one), one UpdateItem per step, the raised marks, the cap per key
(compaction keeps the newest, inside the window), TTL past the window, and errors named."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import boto3
import pytest
from identity_auditor.delivery.sequence_store import DynamoDbSequenceStore, _item_id
from identity_auditor.engine.sequences import MemoryStore, SequenceStoreError
from identity_auditor.model.sequence import Step
from moto import mock_aws

T0 = datetime(2026, 11, 21, 9, 0, tzinfo=timezone.utc)
WINDOW = timedelta(minutes=15)
TABLE = "identity-auditor-idempotency"


def step(minute: float, name: str = "failed", event: str | None = None) -> Step:
    return Step(name, event or f"e-{minute:05.1f}", T0 + timedelta(minutes=minute), {"ip": "192.0.2.1", "user": "jane"},
                account="123456789012", region="us-east-1")


@pytest.fixture
def client():
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        dynamodb.create_table(TableName=TABLE, KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                              AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                              BillingMode="PAY_PER_REQUEST")
        yield dynamodb


def store(client, **kwargs) -> DynamoDbSequenceStore:
    return DynamoDbSequenceStore(TABLE, lambda: client, clock=lambda: T0, **kwargs)


def test_the_same_answers_as_the_memory_store(client):
    dynamo, memory = store(client), MemoryStore()
    arrivals = [step(5), step(1), step(5), step(20), step(14), step(30, "success")]  # out of order, one twice
    for arriving in arrivals:
        assert dynamo.add("seq", "k", arriving, window=WINDOW) == memory.add("seq", "k", arriving, window=WINDOW)
    steps, raised = dynamo.add("seq", "k", step(16), window=WINDOW)
    assert [s.event_id for s in steps] == ["e-001.0", "e-005.0", "e-014.0", "e-016.0", "e-020.0", "e-030.0"]
    assert steps[0].facts == {"ip": "192.0.2.1", "user": "jane"} and steps[0].account == "123456789012"
    assert raised == frozenset()
    assert dynamo.calls == len(arrivals) + 1  # one UpdateItem per step


def test_raised_marks_are_remembered_per_key(client):
    dynamo = store(client)
    dynamo.add("seq", "k", step(1), window=WINDOW)
    dynamo.mark_raised("seq", "k", frozenset({"e-001.0#failed#HIGH"}))
    assert dynamo.add("seq", "k", step(2), window=WINDOW)[1] == {"e-001.0#failed#HIGH"}
    assert dynamo.add("seq", "other", step(2), window=WINDOW)[1] == frozenset()


def test_the_item_expires_a_window_and_an_hour_after_its_newest_step(client):
    dynamo = store(client)
    dynamo.add("seq", "k", step(100), window=WINDOW)
    item = client.get_item(TableName=TABLE, Key={"id": {"S": _item_id("seq", "k")}})["Item"]
    expected = T0 + timedelta(minutes=100) + WINDOW + timedelta(hours=1)
    assert int(item["expiration"]["N"]) == int(expected.timestamp())
    assert item["id"]["S"].startswith("identity-auditor#sequence#seq#")


def test_at_the_cap_the_key_is_compacted_to_its_newest_steps_inside_the_window(client):
    dynamo = store(client, max_steps=10)
    for minute in range(10):
        dynamo.add("seq", "k", step(minute), window=timedelta(hours=1))
    steps, _ = dynamo.add("seq", "k", step(10), window=timedelta(hours=1))  # the 11th: past the cap
    memory = MemoryStore(max_steps=10)
    for minute in range(11):
        expected, _ = memory.add("seq", "k", step(minute), window=timedelta(hours=1))
    assert steps == expected  # the newest ten, as the memory store keeps them (the oldest went)
    assert [s.event_id for s in steps] == [f"e-{m:05.1f}" for m in range(1, 11)]
    item = client.get_item(TableName=TABLE, Key={"id": {"S": _item_id("seq", "k")}})["Item"]
    assert len(item["steps"]["L"]) == 10 and item["version"]["N"] == "11"
    assert [s.event_id for s in dynamo.add("seq", "k", step(11), window=timedelta(hours=1))[0]][-1] == "e-011.0"


def test_errors_are_named(client):
    missing = DynamoDbSequenceStore("no-such-table", lambda: client)
    with pytest.raises(SequenceStoreError, match="DynamoDB update_item on table no-such-table failed: "
                                                 "ResourceNotFoundException"):
        missing.add("seq", "k", step(1), window=WINDOW)
