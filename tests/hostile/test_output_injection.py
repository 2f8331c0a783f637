"""Strings from events cannot inject into the e-mail alert, the chat alert or the ASFF finding.

Findings come from the real samples with hostile text (hostile_cases.HOSTILE_STRINGS: control and bidi
characters, zero-width characters, lone surrogates, line breaks with fake headers, Markdown links and
mentions, HTML, huge and huge-unicode values) put in every field of the record, and from hypothesis,
which puts arbitrary text into every event-derived field of a finding. Each goes through the pure
renderers (``asff.to_asff``, ``alerts.render`` for ``email`` and ``chat``), and:

* ASFF: valid by the strict validator (tests/asff_validator.py: every limit, enum and pattern, no
  control characters, at most 240 KB), and no lone surrogate in any string;
* the SNS subject: printable ASCII only, fewer than 100 characters;
* the e-mail body: valid UTF-8 of at most 256 KB, no control character but the line feed, no invisible
  character, and every line one of the template's lines (a value cannot start a line of its own);
* the chat message: JSON of the custom-notification shape within its bounds, every description line one
  of the template's labelled lines, and Markdown-inert: once the template's own labels and links are
  taken out, no character that starts a link, mention, emphasis, code, heading, quote or table is left,
  and no ``://`` that a client would auto-link;
* the SNS message attributes: short, printable.

The regression tests at the end pin the bugs this suite found.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import re
from datetime import datetime, timezone

import pytest
from asff_validator import assert_valid_asff
from hostile_cases import (
    HOSTILE_STRINGS,
    count,
    hostile_text,
    hypothesis_settings,
    paths,
    pick,
    record_mutations,
)
from hypothesis import given
from hypothesis import strategies as st
from identity_auditor.engine.events import Engine
from identity_auditor.model.cloudtrail import CloudTrailEvent
from identity_auditor.model.contract import Context
from identity_auditor.sinks import alerts
from identity_auditor.sinks.asff import default_product_arn, to_asff
from support import PRODUCT_ARN, load_sample, sample_names

SUITE = "output"
NOW = datetime(2026, 11, 22, tzinfo=timezone.utc)
ENGINE = Engine()
SNS_LIMIT = 256 * 1024
CONTROL_BUT_LINE_FEED = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029]")
INVISIBLE = re.compile("[\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]")
SURROGATE = re.compile("[\ud800-\udfff]")
EMAIL_LINES = re.compile(
    r"(INFORMATIONAL|LOW|MEDIUM|HIGH|CRITICAL): .*|What happened: .*|Who:           .*|               .*"
    r"|From:          .*|Where:         account .*|When:          .*|Resource:      .*|  \S.*"
    r"|Why it matters: .*|What to do: .*|Guide: https://.*|Security Hub:  https://.*|Console:       https://.*"
    r"|CloudTrail event: .*|Evaluated by: AWS Config .*|Security Hub finding: .*|Rule: .*|")
CHAT_LINES = re.compile(r"\*(What happened|Who|From|Where|When|Resource|Why it matters|Security Hub|Console|Rule):\* .*"
                        r"|• .*")
CHAT_LABEL = re.compile(r"^\*(What happened|Who|From|Where|When|Resource|Why it matters|Security Hub|Console|Rule"
                        r"|What to do):\* ", re.MULTILINE)
OUR_LINK = re.compile(r"https://[A-Za-z0-9.-]+\.(amazon\.com|amazonaws\.cn|amazonaws-us-gov\.com)"
                      r"(/[A-Za-z0-9._~%/#?=&+-]*)?")
MARKUP = set("*`[]<>|~&@\\#")
TOKEN = re.compile(r"[A-Za-z0-9_.:/=+,-]+")


def findings_of(event: dict) -> list:
    parsed = CloudTrailEvent.model_validate(event)
    result = ENGINE.evaluate(parsed.detail, Context(now=NOW), account=parsed.account, region=parsed.region)
    assert not result.failures, result.failures
    return result.findings


def _strings(value):
    if isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)
    elif isinstance(value, str):
        yield value


def check_asff(finding) -> None:
    document = to_asff(finding, product_arn=PRODUCT_ARN, updated_at=NOW)
    assert_valid_asff(document)
    assert not any(SURROGATE.search(text) for text in _strings(document))
    local = to_asff(finding, product_arn=default_product_arn(finding.partition, finding.region, finding.account_id),
                    updated_at=NOW)  # as `identity-auditor evaluate --format asff` writes it
    assert_valid_asff(local)


def check_email(finding) -> None:
    subject, body = alerts.render(finding, "email")
    assert len(subject) < 100 and re.fullmatch(r"[\x20-\x7e]+", subject), subject
    assert len(body.encode("utf-8")) <= SNS_LIMIT
    assert not CONTROL_BUT_LINE_FEED.search(body) and not INVISIBLE.search(body)
    for line in body.splitlines():
        assert EMAIL_LINES.fullmatch(line), f"a line the template does not write: {line[:200]!r}"


def check_chat(finding) -> None:
    subject, message = alerts.render(finding, "chat")
    assert len(subject) < 100 and re.fullmatch(r"[\x20-\x7e]+", subject), subject
    assert len(message.encode("utf-8")) <= SNS_LIMIT
    document = json.loads(message)
    assert (document["version"], document["source"]) == ("1.0", "custom")
    content, metadata = document["content"], document["metadata"]
    assert content["textType"] == "client-markdown" and content["description"].strip()
    assert len(content["title"]) <= 250 and len(content["description"]) <= 4000
    assert all(len(step) <= 600 for step in content["nextSteps"])
    for line in content["description"].splitlines():
        assert CHAT_LINES.fullmatch(line), f"a line the template does not write: {line[:200]!r}"
    rendered = [content["title"], content["description"], *content["nextSteps"], metadata["summary"],
                *metadata["relatedResources"]]
    for text in rendered:
        assert not CONTROL_BUT_LINE_FEED.search(text) and not INVISIBLE.search(text) and not SURROGATE.search(text)
        inert = OUR_LINK.sub("", CHAT_LABEL.sub("", text))
        assert not MARKUP & set(inert), f"markup left in {inert[:300]!r}"
        assert "://" not in inert, inert[:300]
    for token in [document["id"], metadata["threadId"], metadata["eventType"], *content["keywords"],
                  *metadata["additionalContext"].values()]:
        assert TOKEN.fullmatch(token), token[:200]


def check_attributes(finding) -> None:
    for name, attribute in alerts.attributes(finding).items():
        value = attribute["StringValue"]
        assert value and len(value) <= 100, (name, value)
        assert not re.search("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]", value), (name, value)
        assert not INVISIBLE.search(value), (name, value)


def check_outputs(finding) -> None:
    check_asff(finding)
    check_email(finding)
    check_chat(finding)
    check_attributes(finding)


# -- findings from hostile records --------------------------------------------------------------------------


def _hostile_text_cases() -> list[tuple[str, object]]:
    """(label, mutation) for every sample with findings: every field of the record set to each hostile
    string (and the originals with hostile suffixes or truncated)."""
    cases = []
    for name in sample_names():
        sample = load_sample(name)
        if not findings_of(sample):
            continue
        for mutation in record_mutations(sample):
            if mutation.what.startswith("str:") or mutation.what in ("suffix-control", "truncated"):
                cases.append((f"{name} {mutation.name}", sample, mutation))
    return cases


def test_hostile_text_in_any_field_of_a_record_stays_out_of_every_output(sized):
    checked = 0
    for label, sample, mutation in pick(_hostile_text_cases(), sized(330, 2400), seed="output"):
        try:
            findings = findings_of(mutation.apply(sample))
        except ValueError:
            continue  # not a valid event any more (e.g. a hostile eventTime): nothing is rendered
        try:
            for finding in findings:
                check_outputs(finding)
        except AssertionError as failure:
            raise AssertionError(f"{label}: {failure}") from None
        checked += 1
        count(SUITE)
    assert checked > sized(250, 1800)  # most mutations leave a valid event with findings to render


def test_every_field_hostile_at_once(full_size):
    """Every text field of each sample with findings holds the same hostile string at once (default size:
    three of the hostile strings per sample, in turn; full size: each of them)."""
    labels = sorted(HOSTILE_STRINGS)
    for number, name in enumerate(sample_names()):
        sample = load_sample(name)
        if not findings_of(sample):
            continue
        chosen = labels if full_size else [labels[(3 * number + turn) % len(labels)] for turn in range(3)]
        for label in chosen:
            text = HOSTILE_STRINGS[label]
            event = copy.deepcopy(sample)
            for place in paths(event["detail"]):
                parent = event["detail"]
                for part in place[:-1]:
                    parent = parent[part]
                if isinstance(parent[place[-1]], str) and place[-1] not in (
                        "eventSource", "eventName", "eventTime", "type", "eventType"):
                    parent[place[-1]] = text[:2100]
            for finding in findings_of(event):
                try:
                    check_outputs(finding)
                except AssertionError as failure:
                    raise AssertionError(f"{name} every field {label}: {failure}") from None
            count(SUITE)


# -- hypothesis: arbitrary text in every event-derived field of a finding ------------------------------------


def test_arbitrary_text_in_every_field_of_a_finding(sized):
    bases = [finding for name in sample_names() for finding in findings_of(load_sample(name))]
    keys = sorted({key for finding in bases for key in finding.details})
    text = hostile_text | st.text(max_size=3000)

    @hypothesis_settings(sized(130, 1000))
    @given(base=st.sampled_from(bases), name=text, arn=st.none() | text, kind=st.none() | text,
           address=st.none() | text, agent=st.none() | text, account=text, region=text, resource=text,
           description=text, subject=st.none() | text, event_id=st.none() | text,
           details=st.dictionaries(st.sampled_from(keys), text, max_size=8),  # rules name their details
           partition=st.sampled_from(["aws", "aws-cn", "aws-us-gov", "aws-iso", "evil\u202e", ""]))
    def check(base, name, arn, kind, address, agent, account, region, resource, description, subject,
              event_id, details, partition):
        actor = dataclasses.replace(base.actor, name=name, arn=arn, type=kind, source_ip=address, user_agent=agent)
        finding = dataclasses.replace(base, actor=actor, account_id=account, region=region, resource_id=resource,
                                      description=description, subject=subject, event_id=event_id,
                                      details=details, partition=partition,
                                      finding_id=f"{base.rule_id}/{account}/{region}/x/{event_id}")
        check_outputs(finding)
        count(SUITE)

    check()


# -- the outputs show hostile values, inert ------------------------------------------------------------------


def test_a_hostile_user_name_is_shown_in_every_output_but_inert_in_chat():
    sample = load_sample("signin_console_login_iam_user_without_mfa.json")
    sample["detail"]["userIdentity"]["userName"] = HOSTILE_STRINGS["markdown"]
    (finding,) = findings_of(sample)
    check_outputs(finding)
    _, body = alerts.render(finding, "email")
    _, message = alerts.render(finding, "chat")
    assert "[click](https://evil.example/x)" in body  # e-mail is plain text: the exact value
    title = json.loads(message)["content"]["title"]
    assert "\uff3bclick\uff3d\uff08https:\u2215\u2215evil.example/x\uff09" in title and "\uff20channel" in title
    assert "<!here>" not in message and "@channel" not in message
    count(SUITE)


# -- regressions ---------------------------------------------------------------------------------------------


def _sample_finding(name: str = "iam_create_access_key_for_other_user.json", **detail):
    sample = load_sample(name)
    sample["detail"].update(detail)
    (finding,) = findings_of(sample)
    return finding


def test_lone_surrogates_in_the_event_id_account_or_region_do_not_break_the_alert_links():
    """The Security Hub link quoted the finding id, which carries the record's eventID, account and region,
    as UTF-8: a lone surrogate (a valid "\\ud800" escape in the event's JSON) raised UnicodeEncodeError and
    the alert, so the whole invocation, failed."""
    for field in ("eventID", "recipientAccountId", "awsRegion"):
        finding = _sample_finding(**{field: "a\ud800b"})
        check_outputs(finding)
        assert "a%25EF%25BF%25BDb" in alerts.securityhub_link(finding)  # U+FFFD, percent-encoded twice
        count(SUITE)


@pytest.mark.parametrize("field", ["awsRegion", "userAgent", "sourceIPAddress", "eventID", "recipientAccountId"])
def test_blank_values_from_the_record_are_left_out_of_asff(field):
    """ASFF refuses whitespace-only values where it wants text (pattern .*\\S.*): Resources[].Region,
    Resources[].Id and ProductFields values were copied as they were."""
    finding = _sample_finding(**{field: " \t "})
    check_asff(finding)
    count(SUITE)


def test_a_blank_resource_id_and_event_name_keep_the_finding_valid():
    sample = load_sample("cloudtrail_put_event_selectors_no_management_events.json")
    sample["detail"]["responseElements"]["trailARN"] = "  "
    (finding,) = findings_of(sample)
    check_asff(finding)
    root = load_sample("iam_create_access_key_root_for_itself__constructed.json")
    root["detail"]["eventName"] = ""  # root_account_used listens to every event name
    for finding in findings_of(root):
        document = to_asff(finding, product_arn=PRODUCT_ARN, updated_at=NOW)
        assert_valid_asff(document)
        assert "Action" not in document
    count(SUITE, 2)


def test_an_arn_with_a_foreign_partition_does_not_reach_asff():
    """The partition was taken from the caller's ARN as written: ``arn:evil:...`` gave an ASFF
    Resources[].Partition that Security Hub refuses, and console links for no partition."""
    sample = load_sample("iam_create_access_key_for_other_user.json")
    sample["detail"]["userIdentity"]["arn"] = "arn:evil\u202e:iam::123837392027:user/bert-jan"
    (finding,) = findings_of(sample)
    assert finding.partition == "aws"
    document = to_asff(finding, product_arn=PRODUCT_ARN, updated_at=NOW)
    assert document["Resources"][0]["Partition"] == "aws"
    check_outputs(dataclasses.replace(finding, partition="aws-iso"))  # a real partition Security Hub lacks
    count(SUITE, 2)


def test_long_non_ascii_values_keep_the_finding_under_the_asff_size_limit():
    """Values of astral characters (12 bytes each once JSON-escaped, as botocore sends them) in every field
    made a finding from a 230 KB event over Security Hub's 240 KB: it would be refused."""
    sample = load_sample("sso_attach_managed_policy_to_permission_set_administrator_access__constructed.json")
    for place in paths(sample["detail"]):
        parent = sample["detail"]
        for part in place[:-1]:
            parent = parent[part]
        if isinstance(parent[place[-1]], str) and place[-1] not in ("eventSource", "eventName", "eventTime", "type"):
            parent[place[-1]] = "\U0001f600" * 2100
    assert len(json.dumps(sample, ensure_ascii=False).encode()) < 256 * 1024  # EventBridge would deliver it
    (finding,) = findings_of(sample)
    document = to_asff(finding, product_arn=PRODUCT_ARN, updated_at=NOW)
    assert_valid_asff(document)
    assert len(json.dumps(document, separators=(",", ":")).encode()) <= 240 * 1024
    count(SUITE)


def test_the_default_product_arn_of_a_masked_account_is_well_formed():
    """``evaluate --format asff`` built each finding's product ARN from its account as recorded: a masked
    account (HIDDEN_DUE_TO_SECURITY_REASONS) gave a ProductArn Security Hub refuses."""
    for account, region in (("HIDDEN_DUE_TO_SECURITY_REASONS", "us-east-1"), ("", "unknown"),
                            ("12345678901", "eu-west-1\n")):
        arn = default_product_arn("aws", region, account)
        assert arn.startswith("arn:aws:securityhub:") and re.fullmatch(
            r"arn:aws:securityhub:[a-z0-9-]+:\d{12}:product/\d{12}/default", arn), arn
    assert default_product_arn("aws-cn", "cn-north-1", "123456789012") == \
        "arn:aws-cn:securityhub:cn-north-1:123456789012:product/123456789012/default"
    count(SUITE)


def test_chat_links_are_whole_or_left_out_never_cut():
    """The chat description was clipped as a whole at 4,000 characters: long values pushed the Security
    Hub and console links past the cut, which left half a URL (leading nowhere) at the end."""
    sample = load_sample("cognito_create_identity_pool_guest_access.json")
    for place in paths(sample["detail"]):
        parent = sample["detail"]
        for part in place[:-1]:
            parent = parent[part]
        if isinstance(parent[place[-1]], str) and place[-1] not in (
                "eventSource", "eventName", "eventTime", "type", "eventID", "recipientAccountId", "awsRegion"):
            parent[place[-1]] = "x\n" * 1050  # every value long, but the finding id (event, account, region)
    (finding,) = findings_of(sample)
    lines = json.loads(alerts.render(finding, "chat")[1])["content"]["description"].splitlines()
    assert f"*Security Hub:* {alerts.securityhub_link(finding)}" in lines
    assert f"*Console:* {alerts.console_link(finding)}" in lines
    assert lines[-1] == f"*Rule:* {finding.rule_id}"
    # a finding id of 500 non-ASCII characters makes a link of thousands: left out, not cut
    hostile = dataclasses.replace(finding, finding_id=f"{finding.rule_id}/" + "\u202e\u00e9" * 250)
    document = json.loads(alerts.render(hostile, "chat")[1])
    assert not any(line.startswith("*Security Hub:*") for line in document["content"]["description"].splitlines())
    assert all("\u2026" not in step for step in document["content"]["nextSteps"][1:])
    check_chat(hostile)
    count(SUITE, 2)
