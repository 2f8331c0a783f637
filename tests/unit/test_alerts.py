"""The e-mail alert: what happened, who, from where, where, when, why it matters, what to do, a link to
the finding in Security Hub and a console deep link for the resource; links built only from validated,
percent-encoded parts, so a hostile id cannot change the host, add query parameters or leave the
filter it sits in. Also ``render`` and the SNS size limit.

Findings come from real invictus CloudTrail records (tests/support.py); hostile variants are those
records with attacker-controlled fields replaced.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import functools
import re
from datetime import datetime, timezone
from urllib.parse import parse_qs, urlsplit

import pytest
import support
from identity_auditor.model.findings import Finding
from identity_auditor.sinks import alerts
from identity_auditor.sinks.alerts import chat
from identity_auditor.sinks.asff import securityhub_finding_url

NOW = datetime(2023, 7, 10, 13, 0, tzinfo=timezone.utc)
ACCOUNT = "123837392027"
LOGIN_WITHOUT_MFA = "70e5932e-9022-4b38-837e-ca10dad94eb7"
KEY_FOR_OTHER_USER = "64b7de64-bf53-47ae-b7e3-d30cb1b5136e"
TRAIL_STOPPED = "076e96d5-2983-473f-920a-2fc2d7e02777"
USER = "stratus-red-team-nmfalu-gfjyeaypjt"
ID_FILTER = "\\operator\\:EQUALS\\:"  # the console's findings filter, decoded
URL = re.compile(r"https?://\S+")


@functools.cache
def _records() -> dict[str, dict]:
    return {record["eventID"]: record for record in support.corpus_records("invictus")}


def finding_for(event_id: str, **record_changes) -> Finding:
    raw = copy.deepcopy(_records()[event_id])
    raw.update(record_changes)
    (finding,) = support.findings_from(raw, NOW)
    return finding


def reserved_role_finding() -> Finding:
    """The real AttachRolePolicy record, made a person in an Identity Center session changing a
    reserved role (the shape design.md §3 describes): an AwsIamRole finding."""
    raw = next(copy.deepcopy(r) for r in _records().values() if r["eventName"] == "AttachRolePolicy")
    raw["requestParameters"]["roleName"] = "AWSReservedSSO_ReadOnlyAccess_89abcdef01234567"
    raw["userIdentity"] = {
        "type": "AssumedRole",
        "principalId": "AROATFQR7NSCEXAMPLE01:jane@example.com",
        "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/AWSReservedSSO_AdministratorAccess_0123456789abcdef/"
        "jane@example.com",
        "accountId": ACCOUNT,
        "sessionContext": {"sessionIssuer": {
            "type": "Role",
            "arn": f"arn:aws:iam::{ACCOUNT}:role/aws-reserved/sso.amazonaws.com/"
                   "AWSReservedSSO_AdministratorAccess_0123456789abcdef",
            "userName": "AWSReservedSSO_AdministratorAccess_0123456789abcdef"}},
    }
    (finding,) = support.findings_from(raw, NOW)
    assert finding.resource_type == "AwsIamRole"
    return finding


def line(message: str, start: str) -> str:
    matching = [each for each in message.splitlines() if each.startswith(start)]
    assert len(matching) == 1, f"expected one line starting {start!r} in:\n{message}"
    return matching[0]


def link(message: str, start: str) -> str:
    (url,) = URL.findall(line(message, start))
    return url


def searched_id(url: str) -> str:
    """The finding id a Security Hub findings link filters on: the fragment's ``search`` parameter is
    itself a query string of filters, ``Id=\\operator\\:EQUALS\\:<id>``, hence encoded twice."""
    parts = urlsplit(url)
    route, _, query = parts.fragment.partition("?")
    assert route == "/findings"
    assert list(parse_qs(query, strict_parsing=True)) == ["search"]
    (search,) = parse_qs(query, strict_parsing=True)["search"]
    filters = parse_qs(search, strict_parsing=True)
    assert list(filters) == ["Id"], filters  # one filter: nothing can add another
    (value,) = filters["Id"]
    assert value.startswith(ID_FILTER), value
    return value[len(ID_FILTER):]


# -- the e-mail body -------------------------------------------------------------------------------


def test_email_body_answers_what_who_where_when_why_and_what_to_do():
    finding = finding_for(LOGIN_WITHOUT_MFA)
    message = alerts.body(finding)

    assert message.splitlines()[0] == "HIGH: Console login without MFA"
    expected = {
        "What happened:": f"IAM user {USER} signed in to the console of account {ACCOUNT} without MFA.",
        "Who:": f"{USER} (IAMUser)",
        "From:": "192.168.10.20 with stratus-red-team_",
        "Where:": f"account {ACCOUNT}, region us-east-1",
        "When:": "2023-07-10T12:23:15Z",
        "Resource:": f"AwsIamUser arn:aws:iam::{ACCOUNT}:user/{USER}",
        "Why it matters:": "A password alone protects this console session.",
        "What to do:": "Enable MFA for the user",
        "Guide:": "https://docs.aws.amazon.com/",
        "Security Hub:": "https://us-east-1.console.aws.amazon.com/securityhub/home?region=us-east-1#/findings",
        "Console:": f"https://console.aws.amazon.com/iam/home#/users/details/{USER}",
    }
    for start, content in expected.items():
        assert content in line(message, start), start
    # the lines the functional test and subscribers already rely on stay as they were
    assert f"Who:           {USER} (IAMUser)" in message
    assert f"Security Hub finding: {finding.finding_id}\n" in message
    assert f"#/events/{LOGIN_WITHOUT_MFA}" in message


def test_security_hub_link_opens_the_finding_in_the_home_region():
    finding = finding_for(LOGIN_WITHOUT_MFA)
    default = link(alerts.body(finding), "Security Hub:")
    home = link(alerts.body(finding, home_region="eu-west-1", home_partition="aws"), "Security Hub:")

    assert urlsplit(default).netloc == "us-east-1.console.aws.amazon.com"  # the finding's region
    parts = urlsplit(home)
    assert (parts.scheme, parts.netloc, parts.path) == ("https", "eu-west-1.console.aws.amazon.com",
                                                        "/securityhub/home")
    assert parse_qs(parts.query) == {"region": ["eu-west-1"]}
    assert searched_id(home) == finding.finding_id
    assert home == securityhub_finding_url(finding.finding_id, "eu-west-1", "aws")


@pytest.mark.parametrize(
    ("partition", "region", "host"),
    [
        ("aws", "us-east-1", "us-east-1.console.aws.amazon.com"),
        ("aws-us-gov", "us-gov-west-1", "us-gov-west-1.console.amazonaws-us-gov.com"),
        ("aws-cn", "cn-north-1", "cn-north-1.console.amazonaws.cn"),
        ("aws", "evil.example.com/", "us-east-1.console.aws.amazon.com"),
        ("evil.example.com", "us-east-1", "us-east-1.console.aws.amazon.com"),
    ],
)
def test_security_hub_link_host_comes_from_the_partition_and_a_valid_region_only(partition, region, host):
    url = securityhub_finding_url("rule/123456789012/us-east-1/abc", region, partition)
    assert urlsplit(url).netloc == host
    assert searched_id(url) == "rule/123456789012/us-east-1/abc"


@pytest.mark.parametrize(
    "hostile_id",
    [
        "x&region=eu-west-1&search=Id%3Devil",
        "x#/findings?search=Severity",
        "x?y=1 @evil.example.com/\\..\\",
        "x%26region%3Devil%2Fand%25252F",
        "x\\operator\\:PREFIX\\:",
        "\r\n<script>alert(1)</script>",
    ],
)
def test_a_hostile_finding_id_stays_inside_the_id_filter(hostile_id):
    url = securityhub_finding_url(hostile_id, "us-east-1", "aws")
    parts = urlsplit(url)
    assert parts.netloc == "us-east-1.console.aws.amazon.com" and parts.path == "/securityhub/home"
    assert parse_qs(parts.query) == {"region": ["us-east-1"]}
    route, _, query = parts.fragment.partition("?")
    assert route == "/findings" and list(parse_qs(query)) == ["search"]
    prefix = ("https://us-east-1.console.aws.amazon.com/securityhub/home?region=us-east-1"
              "#/findings?search=Id%3D%255Coperator%255C%253AEQUALS%255C%253A")
    assert url.startswith(prefix)
    assert re.fullmatch(r"[A-Za-z0-9%._~-]+", url[len(prefix):])  # nothing raw after the filter
    assert searched_id(url) == alerts.clean(hostile_id, 512)  # the id as imported into Security Hub


def test_console_link_for_an_iam_user_an_access_key_owner_and_a_role():
    user = link(alerts.body(finding_for(LOGIN_WITHOUT_MFA)), "Console:")
    key = link(alerts.body(finding_for(KEY_FOR_OTHER_USER)), "Console:")
    role = link(alerts.body(reserved_role_finding()), "Console:")

    assert user == f"https://console.aws.amazon.com/iam/home#/users/details/{USER}"
    assert key == "https://console.aws.amazon.com/iam/home#/users/details/stratus-red-team-backdoor-u-user"
    assert role == ("https://console.aws.amazon.com/iam/home#/roles/details/"
                    "AWSReservedSSO_ReadOnlyAccess_89abcdef01234567")


def test_console_link_for_other_resources_is_the_cloudtrail_event():
    finding = finding_for(TRAIL_STOPPED)
    assert finding.resource_type == "AwsCloudTrailTrail"
    url = link(alerts.body(finding), "Console:")
    assert url == f"https://us-east-1.console.aws.amazon.com/cloudtrailv2/home?region=us-east-1#/events/{TRAIL_STOPPED}"
    no_event = dataclasses.replace(finding, event_id=None)
    assert link(alerts.body(no_event), "Console:") == (
        "https://us-east-1.console.aws.amazon.com/cloudtrailv2/home?region=us-east-1#/events")


@pytest.mark.parametrize(
    "resource_id",
    [
        f"arn:aws:iam::{ACCOUNT}:user/x?region=evil#/users",
        f"arn:aws:iam::{ACCOUNT}:user/../../@evil.example.com/",
        f"arn:aws:iam::{ACCOUNT}:user/a b\r\nConsole: https://evil.example.com/",
        f"arn:aws:iam::{ACCOUNT}:user/" + "x" * 300,
        "https://evil.example.com/?a=b",
    ],
)
def test_a_hostile_resource_id_cannot_reshape_the_console_link(resource_id):
    finding = dataclasses.replace(finding_for(LOGIN_WITHOUT_MFA), resource_id=resource_id,
                                  event_id="abc?x=1#@evil.example.com/")
    message = alerts.body(finding)
    url = link(message, "Console:")
    parts = urlsplit(url)
    assert parts.scheme == "https"
    assert parts.netloc in ("console.aws.amazon.com", "us-east-1.console.aws.amazon.com")
    assert parse_qs(parts.query) in ({}, {"region": ["us-east-1"]})
    # the only places an id reaches: an IAM name of [\w+=,.@-] percent-encoded, or the event id's [A-Za-z0-9-]
    assert re.fullmatch(r"/iam/home#/users/details/[A-Za-z0-9%._~-]+|/cloudtrailv2/home\?region=us-east-1"
                        r"#/events/[A-Za-z0-9-]*", url.split(parts.netloc, 1)[1]), url
    assert sum(each.startswith("Console:") for each in message.splitlines()) == 1


def test_iam_names_in_links_are_percent_encoded():
    finding = dataclasses.replace(finding_for(LOGIN_WITHOUT_MFA),
                                  resource_id=f"arn:aws:iam::{ACCOUNT}:user/team/ops+admin=x,y@corp")
    assert link(alerts.body(finding), "Console:") == (
        "https://console.aws.amazon.com/iam/home#/users/details/ops%2Badmin%3Dx%2Cy%40corp")


def test_invisible_and_unencodable_characters_are_removed_from_the_body():
    raw_name = "adm\u202eniag\u200b\ud800in"
    finding = dataclasses.replace(finding_for(LOGIN_WITHOUT_MFA),
                                  actor=dataclasses.replace(finding_for(LOGIN_WITHOUT_MFA).actor, name=raw_name))
    message = alerts.body(finding)
    message.encode("utf-8")  # no lone surrogate left
    assert "\u202e" not in message and "\u200b" not in message
    assert "Who:           admniag\ufffdin (IAMUser)" in message


@pytest.mark.parametrize("hidden", ["\u00ad", "\u061c", "\u180e", "\u115f", "\u1160", "\u3164", "\uffa0", "\u206a",
                                    "\U000e0041\U000e0042", "\U000e007f"],
                         ids=["soft-hyphen", "arabic-letter-mark", "mongolian-vowel-separator", "hangul-choseong-filler",
                              "hangul-jungseong-filler", "hangul-filler", "halfwidth-hangul-filler", "inhibit-swapping",
                              "tag-letters", "cancel-tag"])
def test_characters_that_render_as_nothing_are_removed_from_subject_and_body(hidden):
    """A name padded or split with characters a mail client shows as nothing (or as blank space) cannot hide
    or disguise who acted: they are removed from the subject and the body."""
    finding = dataclasses.replace(finding_for(LOGIN_WITHOUT_MFA), actor=dataclasses.replace(
        finding_for(LOGIN_WITHOUT_MFA).actor, name=f"ad{hidden}min"))
    assert hidden not in alerts.body(finding)
    assert "Who:           admin (IAMUser)" in alerts.body(finding)
    assert "admin" in alerts.subject(finding)


def test_email_body_stays_within_the_sns_message_limit():
    fat = {f"Evidence{index:04d}": "x" * 5000 for index in range(1000)}  # ~5 MB of evidence
    finding = dataclasses.replace(finding_for(LOGIN_WITHOUT_MFA), details=fat)
    message = alerts.body(finding)
    assert len(message.encode("utf-8")) <= alerts.MESSAGE_LIMIT
    for start in ("What to do:", "Security Hub:", "Console:", "Security Hub finding:"):
        line(message, start)


# -- render ----------------------------------------------------------------------------------------


def test_render_chooses_the_format():
    finding = finding_for(LOGIN_WITHOUT_MFA)
    email = alerts.render(finding, "email", home_region="eu-west-1")
    in_chat = alerts.render(finding, "chat", home_region="eu-west-1")

    assert email == (alerts.subject(finding), alerts.body(finding, home_region="eu-west-1"))
    assert in_chat == (alerts.subject(finding), chat.chat_message(finding, home_region="eu-west-1"))
    assert alerts.render(finding) == alerts.render(finding, "email")
    with pytest.raises(ValueError, match="slack"):
        alerts.render(finding, "slack")


def test_state_finding_alert_names_the_resource_and_no_caller():
    from datetime import datetime, timezone

    from identity_auditor.engine.registry import REGISTRY
    from identity_auditor.model.contract import Violation
    from identity_auditor.model.findings import build_state_finding

    meta = REGISTRY.get("iam_access_key_not_rotated").meta
    violation = Violation(
        description="IAM user deploy-bot has an active access key created 2026-05-01, 205 days ago (limit 90).",
        resource_id="arn:aws:iam::123456789012:user/deploy-bot",
        subject="deploy-bot",
    )
    finding = build_state_finding(meta, violation, account="123456789012", region="us-east-1", partition="aws",
                                  observed_at=datetime(2026, 11, 22, tzinfo=timezone.utc))
    assert alerts.subject(finding) == "[MEDIUM] " + meta.title + ": deploy-bot in 123456789012"
    text = alerts.body(finding)
    assert "Who:" not in text and "From:" not in text and "CloudTrail event:" not in text
    assert "Evaluated by: AWS Config" in text and "deploy-bot" in text


# -- the actor for a person to read (Actor.short_name) and the subject line ---------------------------------
# Identity Center sessions come from the samples in events/cloudtrail (tests/corpus holds no AWSReservedSSO
# session); IAM users, root, an EC2 instance role session and an Identity Center sign-in from tests/corpus.

SSO_ARN = ("arn:aws:sts::111122223333:assumed-role/AWSReservedSSO_AdministratorAccess_0123456789abcdef/"
           "jane@example.com")
JANE = "jane@example.com (AWSReservedSSO_AdministratorAccess)"
LONG_SESSION = "jane.maria.van-der-berg.security-engineering-oncall1@example.com"  # 64: STS's longest


def actor_of(record: dict):
    """The actor a finding about ``record`` carries (built as every event finding is)."""
    from identity_auditor.engine.registry import REGISTRY
    from identity_auditor.model.cloudtrail import CloudTrailRecord
    from identity_auditor.model.contract import Violation
    from identity_auditor.model.findings import build_finding

    meta = REGISTRY.get("iam_user_created").meta
    parsed = CloudTrailRecord.model_validate(record)
    return build_finding(meta, Violation(description="d", resource_id="r"), parsed).actor


def sample_finding(name: str) -> Finding:
    (finding,) = support.findings_from(support.load_sample(name)["detail"], NOW)
    return finding


def with_session(finding: Finding, session: str) -> Finding:
    arn = SSO_ARN.replace("jane@example.com", session)
    return dataclasses.replace(finding, actor=dataclasses.replace(finding.actor, arn=arn))


def test_short_name_puts_the_person_of_an_identity_center_session_first():
    actor = sample_finding("sso_create_account_assignment_user__constructed.json").actor
    assert actor.arn == SSO_ARN
    assert actor.name == "AWSReservedSSO_AdministratorAccess_0123456789abcdef/jane@example.com"  # as before
    assert (actor.person, actor.role) == ("jane@example.com", "AWSReservedSSO_AdministratorAccess")
    assert actor.short_name() == actor.short_name(64) == JANE
    # In less room the role gives way, never the person: its prefix, then its end, then all of it.
    assert actor.short_name(40) == "jane@example.com (AdministratorAccess)"
    assert actor.short_name(32) == "jane@example.com (Administrato…)"
    assert actor.short_name(32, ellipsis="...") == "jane@example.com (Administra...)"
    assert actor.short_name(20) == actor.short_name(16) == "jane@example.com"


def test_short_name_of_other_role_sessions_names_the_session_then_the_role():
    stolen = next(r for r in _records().values() if "steal-credentials-role/i-" in r["userIdentity"].get("arn", ""))
    actor = actor_of(stolen)
    assert actor.short_name() == "i-0dbc91f429e48eeed (stratus-red-team-ec2-steal-credentials-role)"
    assert actor.short_name(30) == "i-0dbc91f429e48eeed (stratus…)"


def test_short_name_of_iam_users_root_and_identity_center_users_is_their_name():
    iam_user = _records()[KEY_FOR_OTHER_USER]
    root = next(r for r in support.corpus_records("aws-docs/cloudtrail") if r["userIdentity"]["type"] == "Root")
    sign_in = support.corpus_record("aws-docs/identity-center-2023", "CreateToken")
    for record, name in ((iam_user, "bert-jan"), (root, "root"), (sign_in, "bobsmith@example.com")):
        actor = actor_of(record)
        assert (actor.role, actor.person, actor.short_name(), actor.short_name(32)) == (None, name, name, name)
    assert actor_of(iam_user).short_name(5) == "bert…"  # no person to keep whole past the limit


def test_short_name_keeps_a_long_session_name_whole_and_drops_the_role():
    actor = with_session(sample_finding("sso_create_account_assignment_user__constructed.json"), LONG_SESSION).actor
    assert len(actor.person) == 64 and actor.person == LONG_SESSION
    assert actor.short_name(64) == LONG_SESSION
    assert actor.short_name(80) == f"{LONG_SESSION} (Administrato…)"
    assert actor.short_name() == f"{LONG_SESSION} (AWSReservedSSO_AdministratorAccess)"


def test_subject_names_the_person_and_the_permission_set():
    saml = sample_finding("iam_update_saml_provider_identity_center_by_human__constructed.json")
    assignment = sample_finding("sso_create_account_assignment_user__constructed.json")
    assert alerts.subject(saml) == (
        "[HIGH] IAM SAML identity provider changed: jane@example.com (AdministratorAccess) in 111122223333")
    assert alerts.subject(assignment) == (
        "[HIGH] Identity Center account assignment changed: jane@example.com (Administra...) in 111122223333")
    root = next(f for f in support.findings_from(
        support.load_sample("iam_create_access_key_root_for_itself__constructed.json")["detail"], NOW)
        if f.rule_id == "iam_access_key_created")
    assert alerts.subject(root) == "[CRITICAL] IAM access key created: root in 111122223333"


def test_subject_keeps_the_person_whole_when_the_title_is_long():
    finding = sample_finding("sso_directory_enable_external_idp_configuration__constructed.json")
    assert len(finding.title) > 55 and finding.severity.value == "CRITICAL"
    assert alerts.subject(finding) == (
        "[CRITICAL] Identity Center identity source or sign-in settings...: jane@example.com in 111122223333")
    longest = alerts.subject(with_session(finding, LONG_SESSION))
    assert longest == f"[CRITICAL] Identity Center i...: {LONG_SESSION}"
    assert len(longest) < 100 and longest.isascii()


def test_subject_cleans_a_hostile_session_name():
    finding = sample_finding("sso_create_account_assignment_user__constructed.json")
    text = alerts.subject(with_session(finding, "eve\r\nSubject: all clear\u202e\x1b[31m\ud800"))
    assert re.fullmatch(r"[\x20-\x7e]{1,99}", text), text
    assert text.startswith("[HIGH] Identity Center account assignment changed: eve  Subject: all clear")


def test_the_who_line_names_the_person_first_in_both_formats():
    """E-mail and chat: "Who" reads `jane@example.com (AWSReservedSSO_AdministratorAccess)`; the full session
    ARN follows, so nothing is lost."""
    finding = sample_finding("sso_create_account_assignment_user__constructed.json")
    body = alerts.body(finding)
    assert f"Who:           {JANE} (AssumedRole)" in body
    assert SSO_ARN in body
    description = json.loads(alerts.render(finding, "chat")[1])["content"]["description"]
    assert "*Who:* jane" in description and "*Who:* AWSReserved" not in description
