"""The publisher's work on one batch of queued findings: import, then alert, or alert without the import.

1. **Address** each finding. Security Hub accepts a custom integration's finding only from the account
   in its ``AwsAccountId``, under that account's default product. A finding about the auditor's own
   account is imported with the function's credentials; one about a member account through the member
   role the forwarder StackSet creates (``MEMBER_ROLE_NAME``, :mod:`identity_auditor.aws.member_access`), so
   it lives in that account's Security Hub and reaches the delegated administrator through Security
   Hub's own aggregation. Without a member role, when the role cannot be assumed, or when the member
   account refuses the import (a whole call refused with ``InvalidAccessException``, or, as AWS documents
   for Security Hub disabled or the integration off there, HTTP 200 with every finding in
   ``FailedFindings`` as ``InvalidAccess``), the finding is imported into the auditor's account instead,
   with the member account kept in ``ProductFields.RecordedAccountId`` and the resource: nothing is
   dropped for want of a role, and a member admin cannot silence their account's findings by switching
   Security Hub off.
2. **Import** up to 100 findings (and 6 MB) per ``BatchImportFindings`` call, one call sequence per
   account. The client uses botocore's adaptive retry mode (client-side rate limiting under
   throttling); throttled, failed (5xx) and transiently ``FailedFindings`` items are retried with
   jittered backoff; what is still not imported is reported per message, so the batch processor returns
   exactly those messages to the queue.
3. **Alert** for each imported finding that pages, once per ``alert_key`` (Powertools idempotency on
   the de-duplication table): a message delivered again, or a batch retried after a timeout, re-imports
   (Security Hub updates the finding in place, keyed on its Id) but never pages twice.
4. **Alert without the import** when Security Hub cannot take a finding that pages: the handler calls
   :meth:`Publisher.alert_before_import` at once when every account the finding could go to refused it
   (``Outcome.refused``: Security Hub disabled, its import turned off or not allowed), and otherwise
   from the message's second receive on (throttled, down, a finding it rejects). The alert says that
   the finding is not in Security Hub yet and why. It takes the same ``alert_key``, so the import that
   succeeds later, or a redrive from the dead-letter queue, pages nobody again; the message itself still
   returns to the queue until the import succeeds. The key is kept :data:`ALERT_TTL_SECONDS`, longer
   than a message can wait on the findings queue and its dead-letter queue and be redriven.
5. **Heartbeats** (:mod:`identity_auditor.delivery.heartbeat`), once their MAC verified, are never imported:
   :meth:`Publisher.heartbeat` publishes each to the findings topic with the ``heartbeat`` message attribute (the
   alert e-mail subscription's filter policy excludes it) and returns SNS's message id, so that the handler counts
   ``HeartbeatsDelivered`` only for what SNS accepted. Not de-duplicated: each scheduled event is one heartbeat.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from identity_auditor.delivery.dedup import ALERT_KEY, ALERT_KEY_PREFIX, Deduplicator
from identity_auditor.model.home import Home
from identity_auditor.sinks.asff import default_product_arn
from identity_auditor.sinks.queue import Delivery

if TYPE_CHECKING:
    from identity_auditor.aws.retry import Failure
    from identity_auditor.delivery.heartbeat import Heartbeat

RESERVE_MS = 45_000  # time kept for the alerts and the batch response (the function's timeout is 120 s)
# How long an alert key is remembered: a message lives 14 days (from its first send) on the findings queue and
# its dead-letter queue, and a redrive sends it again for up to 14 more; an alert sent before the import must
# not page again when either delivers it. (Event findings' keys name the event: a new event is a new key.)
ALERT_TTL_SECONDS = 30 * 24 * 3600
NOTE_REASON_LIMIT = 300  # characters of Security Hub's error message quoted in an alert

logger = logging.getLogger(__name__)


class PublishError(RuntimeError):
    """A queued finding was not imported or its alert not sent; the message goes back to the queue."""


@dataclass
class Outcome:
    """What one batch did: for metrics and logs, the messages to return and the alerts sent without the import."""

    imported: int = 0
    fallbacks: int = 0  # findings about member accounts imported into the auditor's account
    not_imported: dict[str, str] = field(default_factory=dict)  # message id -> "finding id: reason"
    reasons: dict[str, str] = field(default_factory=dict)  # message id -> why it was not imported (for its alert)
    # messages whose finding every account it could go to refused (Security Hub disabled or the import not
    # allowed there): retrying within minutes cannot help, so their alerts go out on this receive
    refused: set[str] = field(default_factory=set)

    def failed(self, message_id: str, finding_id: str, reason: str, *, refused: bool = False) -> None:
        self.not_imported[message_id] = f"{finding_id}: {reason}"
        self.reasons[message_id] = reason
        if refused:
            self.refused.add(message_id)


class Publisher:
    def __init__(
        self,
        home: Home,
        *,
        securityhub: Callable[[str], object],
        sns: Callable[[], object] | None,
        topic_arn: str | None,
        member_access=None,
        product_arn: str | None = None,
        dedup_table: str | None = None,
        imports: bool = True,
        on_retry: Callable[[int, int], None] | None = None,
        retry_policy=None,
    ):
        """``securityhub(account)`` gives the Security Hub client for importing into ``account`` (the home
        account's own client, or one from the member role's session); ``sns()`` the SNS client."""
        self.home = home
        self._securityhub = securityhub
        self._sns_factory = sns
        self._sns = None
        self.topic_arn = topic_arn
        self.member_access = member_access
        self.product_arn = product_arn or default_product_arn(home.partition, home.region, home.account)
        self.alerts_once = Deduplicator(dedup_table, key_prefix=ALERT_KEY_PREFIX, event_key=ALERT_KEY,
                                        ttl_seconds=ALERT_TTL_SECONDS)
        self.on_retry = on_retry
        self.retry_policy = retry_policy
        self.imports = imports  # False (SecurityHubEnabled=false): no member role is assumed for nothing
        self._keep_going: Callable[[], bool] | None = None

    # -- import ----------------------------------------------------------------------------------------

    def import_findings(self, deliveries: Mapping[str, Delivery], *,
                        time_left_ms: Callable[[], int] | None = None) -> Outcome:
        """Import every delivery's finding; ``Outcome.not_imported`` names the messages to retry.

        With ``time_left_ms`` (the Lambda context's), no import call starts and no retry waits once less
        than :data:`RESERVE_MS` is left: what is not imported by then returns to the queue, and what was
        imported is alerted and deleted, instead of the whole batch timing out and coming back."""
        self._keep_going = (lambda: time_left_ms() > RESERVE_MS) if time_left_ms else None
        outcome = Outcome()
        targets: dict[str, str | None] = {}  # the account a finding about each account goes to, once a batch
        by_account: dict[str, dict[str, tuple[dict, list[str]]]] = {}
        for message_id, delivery in deliveries.items():
            if delivery.account_id not in targets:
                targets[delivery.account_id] = self._target(delivery.account_id)
            account = targets[delivery.account_id]
            if account is None:
                outcome.failed(message_id, delivery.finding_id, f"the member role of {delivery.account_id} is not "
                                                                "available now; retried later")
                continue
            if self.imports and account != delivery.account_id and self.member_access is not None \
                    and self.member_access.enabled_for(delivery.account_id):
                outcome.fallbacks += 1  # a member's finding imported here: its role is missing or refused
            document = self.address(delivery.asff, account)
            same = by_account.setdefault(account, {}).get(document["Id"])
            if same is None or document.get("UpdatedAt", "") >= same[0].get("UpdatedAt", ""):
                # the same finding twice in one batch: import the newest version once, for both messages
                by_account[account][document["Id"]] = (document, (same[1] if same else []) + [message_id])
            else:
                same[1].append(message_id)
        from identity_auditor.sinks.securityhub import account_refused

        for account, documents in by_account.items():
            failed = self._import(account, [document for document, _ in documents.values()])
            refused = {finding_id for finding_id, failure in failed.items() if account_refused(failure)}
            if account != self.home.account and refused:
                # The member account refuses the findings (Security Hub or the integration not enabled there,
                # the role lacks the permission), for the whole call or each finding: import here rather
                # than leave them to the dead letters.
                logger.warning("member account refused the import; importing into the auditor's account instead",
                               extra={"member_account": account, "findings": len(refused),
                                      "error": next(failed[i].reason for i in refused)})
                outcome.fallbacks += sum(len(documents[i][1]) for i in refused)
                again = self._import(self.home.account, [self.address(documents[i][0], self.home.account)
                                                         for i in refused])
                failed = {**{i: f for i, f in failed.items() if i not in refused}, **again}
                refused = {finding_id for finding_id, failure in again.items() if account_refused(failure)}
            if refused:  # the auditor's own account refused too: no account is left to import into
                logger.error("Security Hub refused the import in the auditor's account; the findings that page are "
                             "alerted without it and all return to the queue",
                             extra={"account": self.home.account, "findings": len(refused),
                                    "error": next(failed[i].reason for i in refused)})
            for finding_id, (_, message_ids) in documents.items():
                if finding_id in failed:
                    for message_id in message_ids:
                        outcome.failed(message_id, finding_id, failed[finding_id].reason,
                                       refused=finding_id in refused)
                else:
                    outcome.imported += len(message_ids)
        return outcome

    def _target(self, account: str) -> str | None:
        """The account to import a finding about ``account`` into; ``None``: not now (retry the message)."""
        if not self.imports or self.member_access is None or not self.member_access.enabled_for(account):
            return self.home.account
        from identity_auditor.aws.member_access import MemberAccessError

        try:
            self.member_access.session(account)
            return account
        except MemberAccessError as error:
            if not error.permanent:  # STS throttled or unreachable: the next receive tries again
                logger.warning("member role not available now; the findings return to the queue",
                               extra={"member_account": account, "error": str(error)})
                return None
            # the role is missing or refused: import centrally rather than lose the finding
            logger.warning("member role not usable; importing into the auditor's account instead",
                           extra={"member_account": account, "error": str(error)})
            return self.home.account

    def address(self, document: dict, account: str) -> dict:
        """The ASFF document as imported into ``account`` (its product, its account id)."""
        product = self.product_arn if account == self.home.account else default_product_arn(
            self.home.partition, self.home.region, account)
        return {**document, "AwsAccountId": account, "ProductArn": product}

    def _import(self, account: str, documents: list[dict]) -> dict[str, Failure]:
        """Import into ``account``; the failures of what was not imported, by finding Id."""
        from identity_auditor.aws.retry import Failure
        from identity_auditor.sinks.securityhub import SecurityHubSink

        try:
            client = self._securityhub(account)
        except Exception as error:
            return {document["Id"]: Failure(f"no Security Hub client for {account}: {error}") for document in documents}
        sink = SecurityHubSink(client, product_arn=lambda finding: self.product_arn, policy=self.retry_policy,
                               on_retry=self.on_retry)
        return sink.import_documents(documents, keep_going=self._keep_going)

    # -- alert -----------------------------------------------------------------------------------------

    def alert(self, delivery: Delivery, context=None) -> str | None:
        """Send the delivery's alert once per ``alert_key``; the SNS message id (``None``: nothing to send)."""
        if delivery.alert is None or not self.topic_arn or self._sns_factory is None:
            return None
        result = self.alerts_once.publish_once(
            {ALERT_KEY: delivery.alert_key}, context, lambda: {"MessageId": self._publish(delivery.alert)})
        return result.get("MessageId") if isinstance(result, dict) else None

    def alert_before_import(self, delivery: Delivery, why: str, *, refused: bool = False, context=None) -> bool:
        """Send the delivery's alert although its finding is not in Security Hub, saying so and ``why``; once
        per ``alert_key``, shared with :meth:`alert`. True when it was sent now (False: nothing to send, or
        sent before, by an earlier receive or after an import)."""
        if delivery.alert is None or not self.topic_arn or self._sns_factory is None:
            return False
        sent: list[str] = []

        def publish() -> dict:
            sent.append(self._publish(not_in_security_hub(delivery.alert, why, refused=refused)))
            return {"MessageId": sent[-1]}

        self.alerts_once.publish_once({ALERT_KEY: delivery.alert_key}, context, publish)
        return bool(sent)

    def heartbeat(self, heartbeat: Heartbeat) -> str | None:
        """Publish the heartbeat to the findings topic, marked as a test; SNS's message id (``None``: no topic
        configured, nothing published). SNS errors are raised: the message returns to the queue."""
        if not self.topic_arn or self._sns_factory is None:
            return None
        return self._publish(heartbeat.alert())

    def confirmed_email_subscriptions(self) -> int:
        """How many e-mail subscriptions of the findings topic are confirmed (``ListSubscriptionsByTopic``; a pending
        one has no subscription ARN yet), counted at each heartbeat: an address unsubscribed with its e-mail's link
        leaves no CloudTrail record, so this count is how its disappearance is noticed (AlertSubscriptionMissingAlarm)."""
        if not self.topic_arn or self._sns_factory is None:
            return 0
        if self._sns is None:
            self._sns = self._sns_factory()
        from identity_auditor.collectors import ApiCalls

        return sum(1 for page in ApiCalls().token_pages(self._sns, "list_subscriptions_by_topic",
                                                        TopicArn=self.topic_arn)
                   for item in page.get("Subscriptions", [])
                   if item.get("Protocol") in ("email", "email-json")
                   and str(item.get("SubscriptionArn", "")).startswith("arn:"))

    def _publish(self, alert: dict) -> str:
        if self._sns is None:
            self._sns = self._sns_factory()
        response = self._sns.publish(TopicArn=self.topic_arn, Subject=alert["Subject"], Message=alert["Message"],
                                     MessageAttributes=alert.get("MessageAttributes") or {})
        return response["MessageId"]


def not_in_security_hub(alert: dict, why: str, *, refused: bool) -> dict:
    """The queued alert (SNS Publish arguments) with a note that its finding is not in Security Hub (yet) and
    why, in the alert's own format: plain text on top of an e-mail alert; in a chat notification the title
    and the top of the description (the first next step when the description has no room). Security Hub's
    error message is cleaned and clipped like any value from outside (Markdown-inert in chat)."""
    import json

    from identity_auditor.model.text import clean, clip
    from identity_auditor.sinks.alerts import MESSAGE_LIMIT
    from identity_auditor.sinks.alerts.chat import CHAT_DESCRIPTION_LIMIT, CHAT_STEP_LIMIT, CHAT_TITLE_LIMIT, md

    if refused:
        head, label = "NOT IN SECURITY HUB", "Not in Security Hub"
        what = ("Security Hub refused this finding in every account it could go to (Security Hub or its import of "
                "findings turned off, or the import not allowed), so this alert was sent without it.")
    else:
        head, label = "NOT YET IN SECURITY HUB", "Not yet in Security Hub"
        what = "Security Hub has not accepted this finding yet, so this alert was sent without waiting for it."
    after = ("The import is retried; its Security Hub link works once it succeeds. If it keeps failing, the finding "
             "waits whole on the findings dead-letter queue for identity-auditor redrive. "
             "This alert is not sent again.")
    message = alert["Message"]
    try:
        document = json.loads(message)
    except ValueError:
        document = None
    if isinstance(document, dict) and document.get("source") == "custom" and isinstance(document.get("content"), dict):
        content = document["content"]
        note = f"*{head}:* {what} *Why:* {md(why, NOTE_REASON_LIMIT)}. {after}"
        content["title"] = clip(f"[{label}] {content.get('title', '')}", CHAT_TITLE_LIMIT).strip()
        description = content.get("description", "")
        if len(note) + 1 + len(description) <= CHAT_DESCRIPTION_LIMIT:
            content["description"] = f"{note}\n{description}"
        else:  # a description already at its bound keeps its links: the note leads the next steps instead
            content["nextSteps"] = [clip(note, CHAT_STEP_LIMIT), *(content.get("nextSteps") or [])]
        noted = json.dumps(document, ensure_ascii=False, separators=(",", ":"))
    else:
        noted = f"{head}: {what}\nWhy: {clean(why, NOTE_REASON_LIMIT)}\n{after}\n\n{message}"
        if len(noted.encode("utf-8")) > MESSAGE_LIMIT:  # never past SNS's limit: the note matters more than the tail
            noted = noted.encode("utf-8")[:MESSAGE_LIMIT].decode("utf-8", errors="ignore")
    return {**alert, "Message": noted}
