"""The chat alert: an AWS Chatbot / Amazon Q Developer in chat applications custom notification.

The checker below is written from the documented event schema ("Custom notifications using Amazon Q
Developer in chat applications", docs.aws.amazon.com/chatbot/latest/adminguide/custom-notifs.html):

    {"version": String, "source": String, "id": String,
     "content": {"textType": String, "title": String, "description": String,
                 "nextSteps": [String, ...], "keywords": [String, ...]},
     "metadata": {"threadId": String, "summary": String, "eventType": String,
                  "relatedResources": [String, ...],
                  "additionalContext": {"customerProvidedKey1": String, ...}}}

version is required and must be "1.0"; source is required and must be "custom"; id is optional
(unique event identifier); textType is optional and only "client-markdown" is supported; the smallest
documented sample carries only version, source and content.description. The page gives no per-field
lengths: the bounds checked here are the auditor's own (chat.CHAT_*), plus SNS's 256 KB, plus the
custom-action variable rules (Chatbot API CustomActionAttachment.Variables: keys [A-Za-z0-9-_]{1,100},
values [\\x21-\\x7F], at most 1024) for additionalContext, whose values custom actions read.

A hostile finding (a 5,000-character unicode user name with line breaks, backticks, @here, a Markdown
link and ANSI escapes, from a real record) must not inject links, mentions or markup, nor break JSON.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import json
import re
from datetime import date, datetime, timezone

import pytest
import support
from identity_auditor.aws.retry import RetryPolicy
from identity_auditor.model.findings import Finding, Suppression
from identity_auditor.sinks.alerts import chat as chat_module
from identity_auditor.sinks.sns import SnsSink

NOW = datetime(2023, 7, 10, 13, 0, tzinfo=timezone.utc)
ACCOUNT = "123837392027"
LOGIN_WITHOUT_MFA = "70e5932e-9022-4b38-837e-ca10dad94eb7"
KEY_FOR_OTHER_USER = "64b7de64-bf53-47ae-b7e3-d30cb1b5136e"
TRAIL_STOPPED = "076e96d5-2983-473f-920a-2fc2d7e02777"
USER = "stratus-red-team-nmfalu-gfjyeaypjt"
TOPIC_ARN = "arn:aws:sns:us-east-1:123456789012:identity-auditor-findings"

HOSTILE_PIECE = (
    "Ünïcødé-用户-🔥\r\n`rm -rf /` ```code``` @here @channel <!here> <!channel> <@U012AB> "
    "[link](http://evil.example.com) <http://evil.example.com|click> ![img](http://evil/x.png) "
    "**bold** _it_ ~~s~~ # Heading\n> quote\n| a | b |\n&lt;!everyone&gt; \\*esc\\* "
    "\x1b[31mRED\x1b[0m\x00\x07\u2028\u202e\u200b"
)
HOSTILE_NAME = (HOSTILE_PIECE * (5000 // len(HOSTILE_PIECE) + 1))[:5000]

# -- the documented schema -------------------------------------------------------------------------

TOP_KEYS = {"version", "source", "id", "content", "metadata"}
CONTENT_KEYS = {"textType", "title", "description", "nextSteps", "keywords"}
METADATA_KEYS = {"threadId", "summary", "eventType", "relatedResources", "additionalContext"}
STRING_LISTS = {"content.nextSteps", "content.keywords", "metadata.relatedResources"}
SNS_MESSAGE_LIMIT = 256 * 1024
OUR_LIMITS = {"content.title": chat_module.CHAT_TITLE_LIMIT, "content.description": chat_module.CHAT_DESCRIPTION_LIMIT}


def custom_notification_problems(message: str) -> list[str]:
    """Every way ``message`` departs from the documented custom-notification shape (and our bounds)."""
    problems: list[str] = []
    if len(message.encode("utf-8")) > SNS_MESSAGE_LIMIT:
        problems.append("message: over the 256 KB SNS limit")
    try:
        document = json.loads(message)
    except ValueError as error:
        return [f"message: not JSON ({error})"]
    if not isinstance(document, dict):
        return ["message: not a JSON object"]
    problems += [f"{key}: unknown key" for key in set(document) - TOP_KEYS]
    if document.get("version") != "1.0":
        problems.append(f"version: must be '1.0', got {document.get('version')!r}")
    if document.get("source") != "custom":
        problems.append(f"source: must be 'custom', got {document.get('source')!r}")
    if "id" in document and not isinstance(document["id"], str):
        problems.append("id: must be a string")
    for section, keys in (("content", CONTENT_KEYS), ("metadata", METADATA_KEYS)):
        value = document.get(section, {})
        if not isinstance(value, dict):
            problems.append(f"{section}: must be an object")
            continue
        problems += [f"{section}.{key}: unknown key" for key in set(value) - keys]
        for key, item in value.items():
            path = f"{section}.{key}"
            if path in STRING_LISTS:
                if not (isinstance(item, list) and all(isinstance(entry, str) for entry in item)):
                    problems.append(f"{path}: must be a list of strings")
            elif path == "metadata.additionalContext":
                if not isinstance(item, dict):
                    problems.append(f"{path}: must be an object")
                    continue
                for name, text in item.items():
                    if not re.fullmatch(r"[A-Za-z0-9_-]{1,100}", name):
                        problems.append(f"{path}.{name}: key is not a custom-action variable name")
                    if not (isinstance(text, str) and re.fullmatch(r"[\x21-\x7f]{0,1024}", text)):
                        problems.append(f"{path}.{name}: value is not a custom-action variable value")
            elif not isinstance(item, str):
                problems.append(f"{path}: must be a string")
            elif path in OUR_LIMITS and len(item) > OUR_LIMITS[path]:
                problems.append(f"{path}: {len(item)} characters, over our bound {OUR_LIMITS[path]}")
    content = document.get("content")
    if not isinstance(content, dict) or not isinstance(content.get("description"), str) \
            or not content["description"].strip():
        problems.append("content.description: required (every documented sample has it)")
    elif content.get("textType", "client-markdown") != "client-markdown":
        problems.append("content.textType: only 'client-markdown' is supported")
    for step in (content or {}).get("nextSteps") or []:
        if isinstance(step, str) and len(step) > chat_module.CHAT_STEP_LIMIT:
            problems.append(f"content.nextSteps: a step of {len(step)} characters")
    return problems


def assert_valid_custom_notification(message: str) -> dict:
    problems = custom_notification_problems(message)
    assert not problems, "invalid custom notification:\n  " + "\n  ".join(problems)
    return json.loads(message)


def rendered_texts(document: dict) -> list[str]:
    """Every string a chat client may render."""
    content, metadata = document["content"], document["metadata"]
    return [content["title"], content["description"], *content["nextSteps"], *content["keywords"],
            metadata["summary"], *metadata["relatedResources"]]


# -- findings --------------------------------------------------------------------------------------


@functools.cache
def _records() -> dict[str, dict]:
    return {record["eventID"]: record for record in support.corpus_records("invictus")}


def finding_for(event_id: str) -> Finding:
    (finding,) = support.findings_from(copy.deepcopy(_records()[event_id]), NOW)
    return finding


def hostile_finding() -> Finding:
    """The real no-MFA console login with every attacker-influenced string made hostile."""
    raw = copy.deepcopy(_records()[LOGIN_WITHOUT_MFA])
    raw["userIdentity"]["userName"] = HOSTILE_NAME
    raw["userIdentity"]["arn"] = f"arn:aws:iam::{ACCOUNT}:user/{HOSTILE_NAME}"
    raw["userAgent"] = "Mozilla/5.0 [x](https://evil.example.com) @channel\r\n`code`" * 40
    raw["sourceIPAddress"] = "192.168.10.20\r\n*From:* <!here>"
    raw["additionalEventData"]["LoginTo"] = "[Open](javascript:alert(1)) <https://evil.example.com|AWS>"
    (finding,) = support.findings_from(raw, NOW)
    assert finding.actor.name == HOSTILE_NAME
    return finding


# -- tests -----------------------------------------------------------------------------------------


def test_checker_rejects_what_the_documentation_rules_out():
    good = {"version": "1.0", "source": "custom", "content": {"description": "x"}}
    assert custom_notification_problems(json.dumps(good)) == []
    for bad, problem in [
        ({**good, "version": "2.0"}, "version"),
        ({**good, "source": "aws.securityhub"}, "source"),
        ({"version": "1.0", "source": "custom", "content": {"title": "x"}}, "content.description"),
        ({**good, "content": {"description": "x", "textType": "markdown"}}, "textType"),
        ({**good, "content": {"description": "x", "nextSteps": "one"}}, "nextSteps"),
        ({**good, "metadata": {"additionalContext": {"k": "has space"}}}, "additionalContext"),
        ({**good, "extra": 1}, "extra"),
    ]:
        assert any(problem in p for p in custom_notification_problems(json.dumps(bad))), bad
    assert custom_notification_problems("{not json") == ["message: not JSON (Expecting property name "
                                                         "enclosed in double quotes: line 1 column 2 (char 1))"]


@pytest.mark.parametrize("event_id", [LOGIN_WITHOUT_MFA, KEY_FOR_OTHER_USER, TRAIL_STOPPED])
def test_chat_message_for_real_findings_follows_the_documented_schema(event_id):
    finding = finding_for(event_id)
    document = assert_valid_custom_notification(chat_module.chat_message(finding))

    assert document["version"] == "1.0" and document["source"] == "custom"
    assert document["id"] == finding.finding_id
    assert document["content"]["textType"] == "client-markdown"
    assert finding.title in document["content"]["title"]
    assert document["content"]["keywords"] == [finding.severity.value, finding.rule_id, ACCOUNT]
    metadata = document["metadata"]
    assert metadata["eventType"] == finding.rule_id
    assert metadata["threadId"] == "/".join(finding.finding_id.split("/")[:4])
    assert metadata["additionalContext"]["findingId"] == finding.finding_id
    assert metadata["additionalContext"]["severity"] == finding.severity.value
    assert finding.resource_id in metadata["relatedResources"]


def test_chat_message_says_what_who_where_when_why_what_to_do_with_both_links():
    finding = finding_for(LOGIN_WITHOUT_MFA)
    document = assert_valid_custom_notification(chat_module.chat_message(finding, home_region="eu-west-1"))

    description = document["content"]["description"]
    for label, content in {
        "*What happened:*": f"IAM user {USER} signed in",
        "*Who:*": f"{USER} (IAMUser)",
        "*From:*": "192.168.10.20",
        "*Where:*": f"account {ACCOUNT}, region us-east-1",
        "*When:*": "2023-07-10T12:23:15Z",
        "*Why it matters:*": "A password alone protects",
        "*Security Hub:*": "https://eu-west-1.console.aws.amazon.com/securityhub/home?region=eu-west-1#/findings",
        "*Console:*": f"https://console.aws.amazon.com/iam/home#/users/details/{USER}",
    }.items():
        (line,) = [each for each in description.splitlines() if each.startswith(label)]
        assert content in line, label
    steps = document["content"]["nextSteps"]
    assert steps[0].startswith("*What to do:* Confirm with the person")
    assert any(step.startswith("Open the finding in Security Hub: https://eu-west-1.console.aws.amazon.com/")
               for step in steps)
    assert f"Open in the console: https://console.aws.amazon.com/iam/home#/users/details/{USER}" in steps
    assert document["content"]["title"] == f":red_circle: HIGH: Console login without MFA by {USER}"


def test_hostile_finding_cannot_inject_links_mentions_or_markup():
    finding = hostile_finding()
    message = chat_module.chat_message(finding)
    document = assert_valid_custom_notification(message)

    assert json.loads(message) == document and "\x1b" not in message
    for text in rendered_texts(document):
        assert not re.search(r"[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029\u200b-\u200f\u202a-\u202e]", text)
        assert not re.search(r"\[[^\]]*\]\([^)]*\)", text), text[:200]  # Markdown link or image
        assert not re.search(r"<[^>]*>", text), text[:200]  # Slack <url|text>, <!here>, <@U…>, HTML
        assert not re.search(r"@(here|channel|everyone)\b|<!|<@", text, re.IGNORECASE)
        assert "`" not in text and "**" not in text and "~~" not in text and "&lt;" not in text
        assert "http://evil" not in text and "https://evil" not in text  # defanged: not auto-linked
        # the only links are ours
        for url in re.findall(r"https?://\S+", text):
            assert re.match(r"https://(us-east-1\.console\.aws\.amazon\.com/(securityhub|cloudtrailv2)/"
                            r"|console\.aws\.amazon\.com/iam/|docs\.aws\.amazon\.com/)", url), url
    # the structure survives: the same labelled lines as for the real finding, one each
    labels = [line.split(":", 1)[0] for line in document["content"]["description"].splitlines()]
    clean = assert_valid_custom_notification(chat_module.chat_message(finding_for(LOGIN_WITHOUT_MFA)))
    assert labels == [line.split(":", 1)[0] for line in clean["content"]["description"].splitlines()]
    assert len(document["content"]["nextSteps"]) == len(clean["content"]["nextSteps"])
    # and is bounded
    assert len(document["content"]["title"]) <= chat_module.CHAT_TITLE_LIMIT
    assert len(message.encode("utf-8")) < 16 * 1024


def test_hostile_values_stay_readable_as_look_alikes():
    text = chat_module.md("[link](http://evil) @here `x` *b* a_b _c_ <!channel>", 200)
    assert text == "［link］（http:∕∕evil） ＠here ˋxˋ ∗b∗ a_b ＿c＿ ‹!channel›"


def test_unencodable_and_invisible_characters_never_reach_the_json():
    base = finding_for(LOGIN_WITHOUT_MFA)
    finding = dataclasses.replace(base, actor=dataclasses.replace(base.actor, name="ad\ud800m\u202ein\ufeff"))
    message = chat_module.chat_message(finding)
    message.encode("utf-8")
    document = assert_valid_custom_notification(message)
    assert "ad\ufffdmin" in document["content"]["title"]


def test_huge_evidence_keeps_the_chat_message_small():
    base = finding_for(LOGIN_WITHOUT_MFA)
    finding = dataclasses.replace(base, description="d" * 100_000,
                                  details={f"Evidence{i:04d}": "x" * 5000 for i in range(1000)})
    message = chat_module.chat_message(finding)
    document = assert_valid_custom_notification(message)
    assert len(message.encode("utf-8")) < 16 * 1024
    assert sum(line.startswith("• ") for line in document["content"]["description"].splitlines()) <= 5


# -- through the SNS sink --------------------------------------------------------------------------


class FakeSns:
    def __init__(self):
        self.entries: list[dict] = []

    def publish_batch(self, *, TopicArn, PublishBatchRequestEntries):
        self.entries += copy.deepcopy(PublishBatchRequestEntries)
        return {"Successful": [{"Id": e["Id"], "MessageId": "m"} for e in PublishBatchRequestEntries], "Failed": []}


def test_sns_sink_in_chat_format_publishes_custom_notifications_with_the_same_attributes():
    findings = [finding_for(LOGIN_WITHOUT_MFA), finding_for(KEY_FOR_OTHER_USER), hostile_finding()]
    email, chat = FakeSns(), FakeSns()
    policy = RetryPolicy(sleep=lambda seconds: None)
    SnsSink(email, topic_arn=TOPIC_ARN, policy=policy).publish(findings)
    assert SnsSink(chat, topic_arn=TOPIC_ARN, policy=policy, alert_format="chat",
                   home_region="eu-west-1", home_partition="aws").publish(findings) == 3

    for sent, finding, plain in zip(chat.entries, findings, email.entries, strict=True):
        document = assert_valid_custom_notification(sent["Message"])
        assert document["id"] == chat_module._token(finding.finding_id, 512)
        assert "https://eu-west-1.console.aws.amazon.com/securityhub/" in document["content"]["description"]
        assert sent["Subject"] == plain["Subject"]
        assert sent["MessageAttributes"] == plain["MessageAttributes"]  # filter policies work either way


def test_sns_sink_in_chat_format_skips_suppressed_findings():
    findings = [finding_for(LOGIN_WITHOUT_MFA), finding_for(KEY_FOR_OTHER_USER)]
    findings[0] = dataclasses.replace(findings[0], suppression=Suppression(
        "break-glass user, reviewed monthly", "secops@example.com", date(2026, 12, 31), f"*:user/{USER}"))
    client = FakeSns()
    sink = SnsSink(client, topic_arn=TOPIC_ARN, policy=RetryPolicy(sleep=lambda s: None), alert_format="chat")

    assert sink.publish(findings) == 1
    (sent,) = client.entries
    assert json.loads(sent["Message"])["metadata"]["eventType"] == "iam_access_key_created"


def test_unknown_alert_format_is_refused():
    with pytest.raises(ValueError, match="teams"):
        SnsSink(FakeSns(), topic_arn=TOPIC_ARN, alert_format="teams")
