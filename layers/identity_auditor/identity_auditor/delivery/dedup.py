"""Publish each CloudTrail event's findings once, however often the event is delivered.

EventBridge delivers at least once, Lambda retries failed asynchronous invocations, and an organisation
trail plus an account trail can deliver the same CloudTrail record in two envelopes. Powertools
idempotency, keyed on the record's ``eventID`` (not the envelope id; the whole record when it has no
``eventID``) and stored in DynamoDB, makes the
second delivery return the first one's result without importing or paging again. A failed publish
leaves no record behind, so the retry publishes for real.

Only events that produced findings reach this (most events break no rule and need no DynamoDB call);
boto3 and the persistence layer are imported on first use.
"""

from __future__ import annotations

from collections.abc import Callable

KEY_PREFIX = "identity-auditor#cloudtrail-event"  # shared by every function that publishes CloudTrail findings
EVENT_KEY = "detail.eventID || detail"  # the record's eventID; a record without one is keyed on its content
TTL_SECONDS = 48 * 3600  # longer than EventBridge's 24 h of retries plus Lambda's 6 h of async retries


ALERT_KEY_PREFIX = "identity-auditor#alert"  # the publisher: one SNS alert per delivery's alert_key
ALERT_KEY = "alert_key"


class Deduplicator:
    def __init__(self, table_name: str | None, *, ttl_seconds: int = TTL_SECONDS, key_prefix: str = KEY_PREFIX,
                 event_key: str = EVENT_KEY):
        self.table_name = table_name
        self.ttl_seconds = ttl_seconds
        self.key_prefix = key_prefix
        self.event_key = event_key
        self._guarded: Callable | None = None
        self._config = None
        self.store = None  # the Powertools persistence layer (its DynamoDB client), built on first use

    def publish_once(self, event: dict, context, publish: Callable[[], dict]) -> dict:
        """Run ``publish()`` unless this event (its key) was already published; return its result."""
        if not self.table_name:
            return publish()
        if self._guarded is None:
            self._build()
        if context is not None:
            self._config.register_lambda_context(context)
        return self._guarded(event=event, publish=publish)

    def _build(self) -> None:
        from aws_lambda_powertools.utilities.idempotency import (
            DynamoDBPersistenceLayer,
            IdempotencyConfig,
            idempotent_function,
        )

        self._config = IdempotencyConfig(
            event_key_jmespath=self.event_key,
            expires_after_seconds=self.ttl_seconds,
            raise_on_no_idempotency_key=False,  # an envelope without a record is still handled
        )
        store = self.store = DynamoDBPersistenceLayer(table_name=self.table_name)

        # One key prefix for the live evaluator and the backfill (Powertools' default is the function name):
        # an event either of them published is never paged again by the other.
        @idempotent_function(data_keyword_argument="event", persistence_store=store, config=self._config,
                             key_prefix=self.key_prefix)
        def guarded(event: dict, publish: Callable[[], dict]) -> dict:
            return publish()

        self._guarded = guarded
