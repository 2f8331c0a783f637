"""Page once per violation: which state findings were already alerted, so that a daily sweep pages (SNS)
only for new or changed violations, while Security Hub still receives every update.

One DynamoDB item per alerted finding, in the de-duplication table (``settings.idempotency_table``;
key ``id`` = ``alert#<finding id>``, TTL attribute ``expiration``), holding a fingerprint of what was
said: the severity and the description with its numbers blanked (``key is 91 days old`` and ``key is 92
days old`` are the same violation; a severity change, or different words, is a new one).

Per sweep: ``BatchGetItem`` of every evaluated finding's key (100 keys a call), then for each FAILED
finding without a live item of the same fingerprint an alert, and, once it was queued or sent, a conditional
``PutItem`` that remembers it; for each PASSED or ARCHIVED finding that still has an item a ``BatchWriteItem``
delete (so a recurrence pages again). Calls: one read per 100 findings, one write per new, changed or resolved
violation; none per unchanged one.

Items expire after ``ttl_seconds`` (30 days): a violation still open then pages once more, as a
reminder. An alert that was not queued is not remembered, so the retry pages it; a key DynamoDB would not read
(``UnprocessedKeys`` after retries) counts as never alerted: a duplicate page beats a missed one.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timezone

from identity_auditor.model.findings import Finding
from identity_auditor.sinks import Sink, SinkError

logger = logging.getLogger(__name__)

PREFIX = "alert#"
TTL_SECONDS = 30 * 24 * 3600
MAX_KEYS_PER_READ = 100
MAX_WRITES_PER_BATCH = 25
PAGING_SINKS = frozenset({"sns"})  # sinks that page people; the others receive every finding update
_NUMBERS = re.compile(r"\d+")


def fingerprint(finding: Finding) -> str:
    text = f"{finding.severity.value}|{_NUMBERS.sub('#', finding.description)}"
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def pages(finding: Finding) -> bool:
    """A finding that would page someone: FAILED, ACTIVE and not suppressed by the organisation policy."""
    return finding.compliance_status == "FAILED" and finding.record_state == "ACTIVE" and finding.suppression is None


class AlertState:
    def __init__(
        self,
        dynamodb,
        table_name: str,
        *,
        ttl_seconds: int = TTL_SECONDS,
        clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
        max_attempts: int = 5,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.dynamodb = dynamodb
        self.table_name = table_name
        self.ttl_seconds = ttl_seconds
        self.clock = clock
        self.max_attempts = max_attempts
        self.sleep = sleep
        self.calls = 0

    def new_violations(self, findings: Sequence[Finding]) -> list[Finding]:
        """Claim and return the findings to page; clear the items of resolved ones (:meth:`candidates`, then
        :meth:`remember`, for a caller with nothing to do in between)."""
        candidates, resolved = self.candidates(findings)
        return self.remember(candidates, resolved)

    def candidates(self, findings: Sequence[Finding]) -> tuple[list[Finding], list[str]]:
        """The findings to page (not alerted before with the same fingerprint, or the alert expired) and the
        finding Ids of violations now resolved, without changing anything: the caller queues the alerts first
        and :meth:`remember` s them after, so a timeout in between pages again rather than never."""
        unique = list({finding.finding_id: finding for finding in findings}.values())
        now = int(self.clock().timestamp())
        stored = self._read([f.finding_id for f in unique])
        candidates, resolved = [], []
        for finding in unique:
            item = stored.get(finding.finding_id)
            live = item is not None and int(item.get("expiration", {}).get("N", "0")) > now
            if pages(finding):
                if not (live and item.get("fingerprint", {}).get("S") == fingerprint(finding)):
                    candidates.append(finding)
            elif finding.compliance_status != "FAILED" and item is not None:
                resolved.append(finding.finding_id)
        return candidates, resolved

    def remember(self, alerted: Sequence[Finding], resolved: Sequence[str] = ()) -> list[Finding]:
        """Record the alerts sent (conditional writes: of two invocations racing, one claims each) and forget
        the resolved violations; returns the findings this call claimed."""
        now = int(self.clock().timestamp())
        claimed = [finding for finding in alerted if self._claim(finding, now)]
        self._delete(list(resolved))
        return claimed

    # -- DynamoDB --------------------------------------------------------------------------------------

    def _read(self, ids: list[str]) -> dict[str, dict]:
        found: dict[str, dict] = {}
        for start in range(0, len(ids), MAX_KEYS_PER_READ):
            request = {self.table_name: {
                "Keys": [{"id": {"S": PREFIX + finding_id}} for finding_id in ids[start:start + MAX_KEYS_PER_READ]],
                "ProjectionExpression": "id, fingerprint, expiration",
                "ConsistentRead": True,
            }}
            for attempt in range(self.max_attempts):
                self.calls += 1
                response = self.dynamodb.batch_get_item(RequestItems=request)
                for item in response.get("Responses", {}).get(self.table_name, []):
                    found[item["id"]["S"][len(PREFIX):]] = item
                request = response.get("UnprocessedKeys") or {}
                if not request:
                    break
                self.sleep(min(0.05 * 2**attempt, 1.0))
            if request:
                logger.warning("DynamoDB did not read %d alert keys; treating them as never alerted",
                               len(request[self.table_name]["Keys"]))
        return found

    def _claim(self, finding: Finding, now: int) -> bool:
        from botocore.exceptions import ClientError

        self.calls += 1
        try:
            self.dynamodb.put_item(
                TableName=self.table_name,
                Item={
                    "id": {"S": PREFIX + finding.finding_id},
                    "fingerprint": {"S": fingerprint(finding)},
                    "expiration": {"N": str(now + self.ttl_seconds)},
                    "rule_id": {"S": finding.rule_id},
                    "resource_id": {"S": finding.resource_id[:1024] or "-"},
                    "severity": {"S": finding.severity.value},
                    "alerted_at": {"N": str(now)},
                },
                ConditionExpression="attribute_not_exists(id) OR fingerprint <> :fp OR expiration <= :now",
                ExpressionAttributeValues={":fp": {"S": fingerprint(finding)}, ":now": {"N": str(now)}},
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise
            return False  # another invocation alerted the same violation a moment ago
        return True

    def _delete(self, ids: list[str]) -> None:
        for start in range(0, len(ids), MAX_WRITES_PER_BATCH):
            request = {self.table_name: [
                {"DeleteRequest": {"Key": {"id": {"S": PREFIX + finding_id}}}}
                for finding_id in ids[start:start + MAX_WRITES_PER_BATCH]
            ]}
            for attempt in range(self.max_attempts):
                self.calls += 1
                request = self.dynamodb.batch_write_item(RequestItems=request).get("UnprocessedItems") or {}
                if not request:
                    break
                self.sleep(min(0.05 * 2**attempt, 1.0))
            if request:  # a stale item only means one missed page on recurrence until it expires
                logger.warning("DynamoDB did not delete %d alert items", len(request[self.table_name]))


def publish_state(sinks: Sequence[Sink], findings: Sequence[Finding], state: AlertState | None) -> dict[str, int]:
    """Every finding update to Security Hub (and any non-paging sink); to SNS only the violations not
    alerted before (all unsuppressed FAILED ones when there is no alert state). A sink that carries
    alerts itself (the findings queue) gets every update with the ones to page marked. Every sink is tried
    before a :class:`SinkError` naming the failed ones is raised; so is an unavailable alert state
    (nothing is paged then: the retry of the invocation pages what is new).

    Queue first, remember after (issue 16, point 5): the alert state is written only once the alerts are
    queued or sent, so an invocation that times out in between pages again on its retry, never not at all.
    A retry that queues the same alert again pages once: a state finding's alert key names the Config
    invocation (its notification time, the same for every retry), and the publisher sends each key once."""
    paging = [sink for sink in sinks if sink.name in PAGING_SINKS or getattr(sink, "carries_alerts", False)]
    new, resolved, errors = [], [], []
    if paging:
        try:
            if state is not None:
                new, resolved = state.candidates(findings)
            else:
                new = [f for f in findings if pages(f)]
        except Exception as error:  # DynamoDB down or denied: update Security Hub, page nobody, fail loudly
            logger.exception("alert state unavailable; no alert sent, the invocation fails for a retry")
            errors.append(f"alert state: {type(error).__name__}: {error}")
    delivered: dict[str, int] = {}
    undelivered: set[str] = set()
    for sink in sinks:
        try:
            if getattr(sink, "carries_alerts", False):
                delivered[sink.name] = sink.publish(list(findings), alerts=new) if findings else 0
            else:
                batch = new if sink in paging else list(findings)
                delivered[sink.name] = sink.publish(batch) if batch else 0
        except SinkError as error:
            errors.append(f"{sink.name}: {error}")
            if sink in paging:
                # Remember only the alerts that went out (a queue names those it did not take); the others
                # are not remembered, so the retry pages them.
                undelivered |= set(getattr(error, "undelivered", None) or [f.finding_id for f in new])
    if state is not None and paging and (new or resolved):
        try:
            state.remember([finding for finding in new if finding.finding_id not in undelivered], resolved)
        except Exception as error:  # queued but not remembered: the retry queues again, the alert key pages once
            logger.exception("could not remember the alerts sent")
            errors.append(f"alert state: {type(error).__name__}: {error}")
    if errors:
        raise SinkError("; ".join(errors))
    return delivered
