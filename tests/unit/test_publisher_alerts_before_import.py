"""The publisher's pieces for alerts that do not wait for Security Hub: which failures mean "this account
refuses" (the whole-call exception and the per-finding ``InvalidAccess`` AWS documents), which findings no
account will take, the note an alert sent before its import carries in each format, the receive count the
handler reads, and how long an alert key is remembered. The scenarios end to end are in
tests/reliability/test_independent_alerts.py."""

from __future__ import annotations

import importlib.util
import json
from datetime import datetime, timezone

import pytest
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from botocore.exceptions import ClientError
from identity_auditor.aws.retry import RetryPolicy
from identity_auditor.delivery.publisher import ALERT_TTL_SECONDS, Publisher, not_in_security_hub
from identity_auditor.model.home import Home
from identity_auditor.sinks.alerts.chat import CHAT_DESCRIPTION_LIMIT, CHAT_STEP_LIMIT, CHAT_TITLE_LIMIT
from identity_auditor.sinks.queue import delivery
from identity_auditor.sinks.securityhub import SecurityHubSink, account_refused
from support import ROOT, findings_from, invictus_event, load_template

HOME = "123456789012"
MEMBER = "123837392027"
PRODUCT = f"arn:aws:securityhub:us-east-1:{HOME}:product/{HOME}/default"
NOW = datetime(2026, 11, 23, 1, 0, tzinfo=timezone.utc)
NO_WAIT = RetryPolicy(sleep=lambda seconds: None)


def a_delivery(alert_format: str = "email", *, page: bool = True):
    [finding] = findings_from(invictus_event("70e5932e-9022-4b38-837e-ca10dad94eb7")["detail"])
    return delivery(finding, product_arn=PRODUCT, updated_at=NOW, page=page, alert_format=alert_format)


# -- which failures are refusals by the account --------------------------------------------------------------


class FailingEach:
    """BatchImportFindings answering HTTP 200 with every finding in FailedFindings under ``code``."""

    def __init__(self, code: str):
        self.code, self.calls = code, 0

    def batch_import_findings(self, *, Findings):  # noqa: N803
        self.calls += 1
        return {"FailedCount": len(Findings), "SuccessCount": 0, "FailedFindings": [
            {"Id": f["Id"], "ErrorCode": self.code, "ErrorMessage": "Account is not subscribed to AWS Security Hub"}
            for f in Findings]}


class RefusingCall:
    def __init__(self, code: str = "InvalidAccessException", status: int = 401):
        self.code, self.status, self.calls = code, status, 0

    def batch_import_findings(self, *, Findings):  # noqa: N803
        self.calls += 1
        raise ClientError({"Error": {"Code": self.code, "Message": f"Account {HOME} is not subscribed to AWS "
                                                                   "Security Hub"},
                           "ResponseMetadata": {"HTTPStatusCode": self.status}}, "BatchImportFindings")


@pytest.mark.parametrize("code", ["InvalidAccess", "AccessDenied", "AccessDeniedException"])
def test_a_per_finding_refusal_is_an_account_refusal_and_is_not_retried(code):
    client = FailingEach(code)
    failed = SecurityHubSink(client, product_arn=lambda f: PRODUCT, policy=NO_WAIT).import_documents(
        [a_delivery().asff])
    [failure] = failed.values()
    assert account_refused(failure) and not failure.retryable
    assert client.calls == 1  # no retry can make a disabled Security Hub accept it


def test_a_whole_call_refusal_is_an_account_refusal():
    failed = SecurityHubSink(RefusingCall(), product_arn=lambda f: PRODUCT, policy=NO_WAIT).import_documents(
        [a_delivery().asff])
    assert all(account_refused(failure) for failure in failed.values())


@pytest.mark.parametrize("code", ["InvalidInput", "InternalException", "InvalidAccessDenied", "Invalid"])
def test_other_failed_findings_are_not_refusals_of_the_account(code):
    failed = SecurityHubSink(FailingEach(code), product_arn=lambda f: PRODUCT, policy=NO_WAIT).import_documents(
        [a_delivery().asff])
    assert not any(account_refused(failure) for failure in failed.values())


# -- which findings no account will take -----------------------------------------------------------------


class Members:
    """Member access with every role usable (the session itself is not used by the fake clients)."""

    def enabled_for(self, account):
        return account != HOME

    def session(self, account):
        return object()


def publisher(clients: dict) -> Publisher:
    return Publisher(Home(HOME, "us-east-1", "aws"), securityhub=lambda account: clients[account], sns=None,
                     topic_arn=None, member_access=Members(), retry_policy=NO_WAIT)


class Accepting:
    def batch_import_findings(self, *, Findings):  # noqa: N803
        return {"FailedCount": 0, "SuccessCount": len(Findings), "FailedFindings": []}


def test_a_member_refusal_per_finding_falls_back_to_the_auditors_account():
    outcome = publisher({MEMBER: FailingEach("InvalidAccess"), HOME: Accepting()}).import_findings(
        {"m0": a_delivery()})
    assert (outcome.imported, outcome.fallbacks, outcome.not_imported, outcome.refused) == (1, 1, {}, set())


def test_refused_by_the_member_and_by_the_auditors_account_is_refused_everywhere():
    outcome = publisher({MEMBER: FailingEach("InvalidAccess"), HOME: RefusingCall()}).import_findings(
        {"m0": a_delivery()})
    assert outcome.imported == 0 and outcome.refused == {"m0"}
    assert outcome.reasons["m0"].startswith("InvalidAccessException: Account 123456789012 is not subscribed")


def test_an_outage_at_home_after_a_member_refusal_is_not_a_refusal_everywhere():
    outcome = publisher({MEMBER: FailingEach("InvalidAccess"), HOME: RefusingCall("ServiceUnavailableException",
                                                                                  503)}).import_findings(
        {"m0": a_delivery()})
    assert outcome.imported == 0 and outcome.refused == set() and "ServiceUnavailableException" in \
        outcome.reasons["m0"]


def test_a_finding_security_hub_rejects_is_not_a_refusal_of_the_account():
    outcome = publisher({MEMBER: FailingEach("InvalidInput"), HOME: RefusingCall()}).import_findings(
        {"m0": a_delivery()})
    assert outcome.fallbacks == 0 and outcome.refused == set() and "InvalidInput" in outcome.not_imported["m0"]


# -- the note --------------------------------------------------------------------------------------------


HOSTILE = "ServiceUnavailableException: down \x1b[31m [click](https://e.vil) @here\nSubject: forged\u202e"


def test_an_email_alert_says_first_that_its_finding_is_not_in_security_hub_and_why():
    alert = a_delivery().alert
    noted = not_in_security_hub(alert, HOSTILE, refused=False)
    head, why, after, blank, *rest = noted["Message"].split("\n")
    assert head.startswith("NOT YET IN SECURITY HUB: ") and why.startswith("Why: ServiceUnavailableException")
    assert "\x1b" not in why and "\u202e" not in why and "Subject: forged" in why  # one line, no escapes
    assert "not sent again" in after and blank == ""
    assert "\n".join(rest) == alert["Message"]  # the alert itself, unchanged below the note
    assert noted["Subject"] == alert["Subject"] and noted["MessageAttributes"] == alert["MessageAttributes"]
    assert not_in_security_hub(alert, "InvalidAccessException: x", refused=True)["Message"].startswith(
        "NOT IN SECURITY HUB: Security Hub refused this finding in every account")


def test_a_chat_alert_says_it_in_its_title_and_description_markdown_inert():
    alert = a_delivery("chat").alert
    noted = not_in_security_hub(alert, HOSTILE, refused=False)
    document, original = json.loads(noted["Message"]), json.loads(alert["Message"])
    content = document["content"]
    assert content["title"].startswith("[Not yet in Security Hub] ") and len(content["title"]) <= CHAT_TITLE_LIMIT
    note, rest = content["description"].split("\n", 1)
    assert note.startswith("*NOT YET IN SECURITY HUB:* ") and rest == original["content"]["description"]
    assert len(content["description"]) <= CHAT_DESCRIPTION_LIMIT
    assert "[click]" not in note and "https://e.vil" not in note and "@here" not in note and "\x1b" not in note
    assert content["nextSteps"] == original["content"]["nextSteps"]
    assert document["metadata"] == original["metadata"]


def test_a_chat_alert_with_a_full_description_carries_the_note_as_its_first_next_step():
    alert = a_delivery("chat").alert
    document = json.loads(alert["Message"])
    document["content"]["description"] = "x" * CHAT_DESCRIPTION_LIMIT
    full = {**alert, "Message": json.dumps(document)}
    content = json.loads(not_in_security_hub(full, HOSTILE, refused=True)["Message"])["content"]
    assert content["description"] == "x" * CHAT_DESCRIPTION_LIMIT
    assert content["nextSteps"][0].startswith("*NOT IN SECURITY HUB:* ")
    assert len(content["nextSteps"][0]) <= CHAT_STEP_LIMIT


def test_nothing_to_send_for_a_finding_that_does_not_page():
    class NoSns:
        def publish(self, **kwargs):
            raise AssertionError("a suppressed finding paged")

    quiet = Publisher(Home(HOME, "us-east-1", "aws"), securityhub=lambda account: None, sns=NoSns,
                      topic_arn="arn:aws:sns:us-east-1:123456789012:identity-auditor-findings")
    assert quiet.alert_before_import(a_delivery(page=False), "InvalidAccess: x", refused=True) is False


def test_an_alert_before_import_is_published_with_its_note():
    sent = []

    class Sns:
        def publish(self, **kwargs):
            sent.append(kwargs)
            return {"MessageId": "m-1"}

    topic = "arn:aws:sns:us-east-1:123456789012:identity-auditor-findings"
    loud = Publisher(Home(HOME, "us-east-1", "aws"), securityhub=lambda account: None, sns=Sns, topic_arn=topic)
    assert loud.alert_before_import(a_delivery(), "ThrottlingException: Rate exceeded") is True
    [call] = sent
    assert call["TopicArn"] == topic and call["Message"].startswith("NOT YET IN SECURITY HUB: ")


# -- the handler's receive count, and how long a page is remembered --------------------------------------


def _handler_module():
    spec = importlib.util.spec_from_file_location(
        "findings_publisher_receive_count", ROOT / "functions" / "findings_publisher" / "findings_publisher.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(("attributes", "count"), [
    ({"ApproximateReceiveCount": "1"}, 1), ({"ApproximateReceiveCount": "2"}, 2),
    ({"ApproximateReceiveCount": "11"}, 11), ({}, 1), ({"ApproximateReceiveCount": "x"}, 1),
    ({"ApproximateReceiveCount": "0"}, 1), (None, 1)])
def test_the_receive_count_comes_from_the_sqs_record(attributes, count):
    record = {"messageId": "m", "body": "{}"} | ({"attributes": attributes} if attributes is not None else {})
    module = _handler_module()
    assert module.receive_count(SQSRecord(record)) == count
    assert module.ALERT_AFTER_RECEIVES == 2


def test_an_alert_key_outlives_a_message_on_the_findings_queue_its_dead_letter_queue_and_a_redrive():
    resources = load_template()["Resources"]
    queue = int(resources["FindingsQueue"]["Properties"]["MessageRetentionPeriod"])
    dead = int(resources["FindingsDeadLetterQueue"]["Properties"]["MessageRetentionPeriod"])
    assert ALERT_TTL_SECONDS > queue + dead
