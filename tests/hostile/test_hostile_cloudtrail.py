"""Hostile and malformed events through the CloudTrailEvaluator Lambda handler (functions/cloudtrail_evaluator).

Every sample of events/cloudtrail is mutated (hostile_cases: missing fields, wrong types, huge and
hostile strings, nested nulls, deep nesting, masked ids, unknown fields) and so is its EventBridge
envelope; hypothesis adds arbitrary JSON at arbitrary places and whole generated records. For each
event the handler, with its sinks off, either

* evaluates it: no rule raised (``ruleErrors`` empty), every finding is valid ASFF, and a mutation of a
  field no rule reads gives exactly the findings the manifest lists for the sample; or
* raises a clear error: a ``ValueError`` (pydantic's ``ValidationError`` is one), never an
  ``AttributeError``/``TypeError``/``KeyError``/``IndexError``/``RecursionError`` from our code, whose
  message names the record (its ``eventID`` when it has a readable one, else ``eventSource`` and
  ``eventName``, else the envelope id). Raising fails the invocation, so Lambda retries it and then
  sends the original payload to the function's failure destination (the DLQ): an event that cannot be
  parsed must raise, never return success.

A rule that raises (a bug) must not hide the other rules' findings: checked with a broken rule added
in front of the registry, on mutated events.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from datetime import datetime, timezone

import pytest
from asff_validator import asff_problems
from hostile_cases import (
    NOT_EVENTS,
    TRUTHY_WRONG_TYPES,
    count,
    dotted,
    envelope_mutations,
    get,
    hypothesis_settings,
    json_values,
    paths,
    pick,
    record_mutations,
    type_sweep,
)
from hypothesis import given
from hypothesis import strategies as st
from identity_auditor.engine.events import Engine
from identity_auditor.engine.sequences import MemoryStore, SequenceEngine
from identity_auditor.engine.registry import REGISTRY, Registry, Rule
from identity_auditor.model.contract import ANY, Trigger
from identity_auditor.sinks.asff import to_asff
from pydantic import ValidationError
from support import MANIFEST, PRODUCT_ARN, ROOT, load_handler_module, load_sample, sample_names

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish:UserWarning")

SUITE = "cloudtrail handler"
SAMPLES = sample_names()
EXPECTED = {name: {(rule, severity) for rule, severity in rules.items()}
            for name, rules in json.loads(MANIFEST.read_text()).items()}
# Fields no rule reads and the model ignores: any value there leaves the findings as they were.
UNMODELLED = {"managementEvent", "eventCategory", "tlsDetails", "sessionCredentialFromConsole"}
# Modelled text fields no rule decides on: any text there leaves the findings as they were.
INERT_TEXT = {"userAgent", "requestID", "eventVersion"}
# ...except for the rules that do read one of them (each says so in its docstring): their findings may change.
READ_BY = {"userAgent": {"iam_mfa_device_enabled_outside_console"},
           "sessionCredentialFromConsole": {"iam_mfa_device_enabled_outside_console"}}
CRASHES = (AttributeError, TypeError, KeyError, IndexError, RecursionError, UnicodeError, AssertionError)
NOW = datetime(2026, 11, 22, tzinfo=timezone.utc)
SINK_VARIABLES = ("FINDINGS_TOPIC_ARN", "IDEMPOTENCY_TABLE", "POLICY_SSM_PARAMETER", "POLICY_APPCONFIG",
                  "SECURITY_HUB_PRODUCT_ARN", "FINDINGS_QUEUE_URL")


class CapturingEngine(Engine):
    """The registry's engine, keeping the last evaluation (the handler returns only finding ids)."""

    last = None

    def evaluate(self, record, ctx, **where):
        self.last = super().evaluate(record, ctx, **where)
        return self.last


@pytest.fixture(scope="module")
def app():
    """The handler module, cold-started with its sinks off (no Security Hub, no topic, no table)."""
    with pytest.MonkeyPatch.context() as env:
        for name in SINK_VARIABLES:
            env.delenv(name, raising=False)
        env.setenv("SECURITY_HUB_ENABLED", "false")
        module = load_handler_module("hostile_cloudtrail_evaluator_app")
        module.ENGINE = CapturingEngine()
        yield module


def _printable(value: object) -> bool:
    return isinstance(value, str) and 0 < len(value) <= 80 and value.isprintable() and value.strip() == value


def assert_names_the_record(message: str, event: object) -> None:
    """The error message says which event failed: its eventID (as it is when printable, else at least
    escaped or by name); without one, its eventSource and eventName, or else the envelope id."""
    detail = event.get("detail") if isinstance(event, dict) else None
    if isinstance(detail, dict):
        event_id = detail.get("eventID")
        if _printable(event_id):
            assert event_id in message, message
        elif "eventID" in detail:
            escaped = repr(event_id[:20])[1:-1] if isinstance(event_id, str) else None
            assert "eventID" in message or (escaped and escaped in message), message
        else:
            names = [detail[key] for key in ("eventSource", "eventName") if _printable(detail.get(key))]
            envelope = [event["id"]] if _printable(event.get("id")) else []
            assert all(name in message for name in names) or any(name in message for name in envelope), message
    elif isinstance(event, dict):
        if _printable(event.get("id")):
            assert event["id"] in message, message
        assert "detail" in message, message
    elif isinstance(event, str):
        assert "Invalid JSON" in message or "not an EventBridge event" in message, message
    else:
        assert "not an EventBridge event object" in message, message


def invoke(app, event, lambda_context):
    """``(result, None)`` or ``(None, error)``; checks what every invocation must satisfy. Each case stands alone:
    the sequence state starts empty (steps of earlier cases would complete sequences here)."""
    app.ENGINE.last = None
    app.SEQUENCES = SequenceEngine(MemoryStore())
    try:
        result = app.handler(event, lambda_context)
    except Exception as error:  # the property: which errors, with which messages
        assert isinstance(error, ValueError) and not isinstance(error, CRASHES), repr(error)[:2000]
        assert_names_the_record(str(error), event)
        return None, error
    assert isinstance(result, dict) and app.ENGINE.last is not None
    evaluation = app.ENGINE.last
    assert result["ruleErrors"] == [], [failure.error for failure in evaluation.failures]
    assert result["findings"] == [finding.finding_id for finding in evaluation.findings]
    for finding in evaluation.findings:
        problems = asff_problems(to_asff(finding, product_arn=PRODUCT_ARN, updated_at=NOW))
        assert not problems, problems
    return evaluation, None


def rule_set(evaluation) -> set[tuple[str, str]]:
    return {(finding.rule_id, finding.severity.value) for finding in evaluation.findings}


def must_raise(where: str, what: str, event: dict) -> bool:
    """Mutations after which the event cannot be parsed: the invocation must fail (to the DLQ)."""
    if where in ("detail.eventSource", "detail.eventName"):
        return what == "deleted" or (what.startswith("type:") or what in ("deep", "wrapped-in-list"))
    if where in ("id", "detail-type", "source", "account", "time", "region", "detail"):
        return what == "deleted" or what in ("type:null", "type:list", "type:object", "type:list-of-null",
                                             "type:object-of-null", "type:list-of-str", "deep", "wrapped-in-list",
                                             "is-json-string", "truncated-json-string") or (
            where == "detail" and what.startswith(("type:", "str:")))
    return False


def unchanged(found: set, expected: set, where: str) -> bool:
    """The findings are the manifest's, but for the rules that read the mutated field (READ_BY)."""
    readers = READ_BY.get(where.split(".")[1] if where.startswith("detail.") else "", set())
    return {f for f in found if f[0] not in readers} == {f for f in expected if f[0] not in readers}


def keeps_findings(where: str, what: str) -> bool:
    """Mutations that cannot change what the rules find."""
    field = where.split(".")[1] if where.startswith("detail.") else None
    if what.startswith("unknown-"):
        return True
    if field in UNMODELLED:
        return True
    return field in INERT_TEXT and where.count(".") == 1 and (what.startswith("str:") or what in (
        "truncated", "suffix-control", "deleted", "type:null"))


# -- the samples as they are: the harness sees what the manifest says ---------------------------------


@pytest.mark.parametrize("name", SAMPLES)
def test_every_sample_evaluates_to_its_manifest_entry(app, lambda_context, name):
    evaluation, error = invoke(app, load_sample(name), lambda_context)
    count(SUITE)
    assert error is None
    assert rule_set(evaluation) == EXPECTED[name]


# -- mutations of the record ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", SAMPLES)
def test_mutated_records_evaluate_or_fail_naming_the_record(app, lambda_context, sized, name):
    sample = load_sample(name)
    mutations = pick(record_mutations(sample), sized(3, 30), seed=f"record/{name}")
    for mutation in mutations:
        event = mutation.apply(sample)
        try:
            evaluation, error = invoke(app, event, lambda_context)
            if must_raise(mutation.where, mutation.what, event):
                assert error is not None, "an unparseable event must fail the invocation"
            if error is None and keeps_findings(mutation.where, mutation.what):
                assert unchanged(rule_set(evaluation), EXPECTED[name], mutation.where), rule_set(evaluation)
        except AssertionError as failure:
            raise AssertionError(f"{name} {mutation.name}: {failure}") from None
        count(SUITE)


def test_every_field_the_rules_read_with_a_value_of_the_wrong_type(app, lambda_context, full_size):
    """Each field of requestParameters, responseElements, additionalEventData, serviceEventDetails and
    userIdentity of every sample, set to a truthy value of the wrong type (a list, an object, a number,
    true): the rules must treat it as absent or unusable, never raise. The default size sweeps each
    distinct field once; the full size every field of every sample with every such type."""
    samples = {name: load_sample(name) for name in SAMPLES}
    for name, mutation in type_sweep(samples, TRUTHY_WRONG_TYPES, distinct=not full_size):
        try:
            invoke(app, mutation.apply(samples[name]), lambda_context)
        except AssertionError as failure:
            raise AssertionError(f"{name} {mutation.name}: {failure}") from None
        count(SUITE)


def test_inert_fields_keep_the_findings_whatever_they_hold(app, lambda_context, sized):
    """Every sample that has findings, every hostile value in every field no rule reads: same findings."""
    with_findings = [name for name in SAMPLES if EXPECTED[name]]
    cases = []
    for name in with_findings:
        sample = load_sample(name)
        cases += [(name, m) for m in record_mutations(sample) if keeps_findings(m.where, m.what)]
    for name, mutation in pick(cases, sized(80, 600), seed="inert"):
        evaluation, error = invoke(app, mutation.apply(load_sample(name)), lambda_context)
        assert error is None or mutation.where.split(".")[1] in INERT_TEXT, f"{name} {mutation.name}: {error}"
        if error is None:
            assert unchanged(rule_set(evaluation), EXPECTED[name], mutation.where), f"{name} {mutation.name}"
        count(SUITE)


# -- mutations of the envelope and invocations that are not events ---------------------------------------


@pytest.mark.parametrize("name", sorted({SAMPLES[0], "signin_console_login_iam_user_without_mfa.json",
                                         "iam_create_access_key_for_other_user.json",
                                         "sso_create_account_assignment_user__constructed.json"}))
def test_mutated_envelopes_evaluate_or_fail_naming_the_event(app, lambda_context, sized, name):
    sample = load_sample(name)
    for mutation in pick(envelope_mutations(sample), sized(15, 150), seed=f"envelope/{name}"):
        event = mutation.apply(sample)
        try:
            evaluation, error = invoke(app, event, lambda_context)
            if must_raise(mutation.where, mutation.what, event):
                assert error is not None, "an unparseable event must fail the invocation"
            elif error is None and mutation.where in ("version", "resources", "(root)"):
                assert rule_set(evaluation) == EXPECTED[name]
        except AssertionError as failure:
            raise AssertionError(f"{name} {mutation.name}: {failure}") from None
        count(SUITE)


@pytest.mark.parametrize("kind", sorted(NOT_EVENTS))
def test_an_invocation_that_is_not_an_eventbridge_event_fails(app, lambda_context, kind):
    sample = load_sample("iam_create_access_key_for_other_user.json")
    payload = NOT_EVENTS[kind]
    if isinstance(payload, str):  # placeholders for what is built from a sample
        placeholders = {"LIST": [sample, sample], "RECORDS": {"Records": [sample["detail"]]}, "RAW": sample["detail"]}
        payload = placeholders.get(payload, payload)
    result, error = invoke(app, payload, lambda_context)
    count(SUITE)
    assert error is not None, f"{kind}: the handler returned {result!r} instead of failing the invocation"


# -- hypothesis: arbitrary JSON anywhere, and generated records -------------------------------------------


def test_arbitrary_json_at_any_place_of_any_sample(app, lambda_context, sized):
    samples = {name: load_sample(name) for name in SAMPLES}
    places = {name: [None, *paths(sample)] for name, sample in samples.items()}  # None: replace the detail

    @hypothesis_settings(sized(100, 800))
    @given(name=st.sampled_from(SAMPLES), index=st.integers(min_value=0, max_value=10_000), value=json_values)
    def check(name, index, value):
        event = copy.deepcopy(samples[name])
        place = places[name][index % len(places[name])]
        if place is None:
            event["detail"] = value
        else:
            get(event, place[:-1])[place[-1]] = value
        evaluation, error = invoke(app, event, lambda_context)
        if place is None:
            record = isinstance(value, dict) and all(isinstance(value.get(key), str)
                                                     for key in ("eventSource", "eventName"))
            assert record or error is not None, "a detail that is no CloudTrail record must fail the invocation"
        elif dotted(place) in ("detail.eventSource", "detail.eventName") and not isinstance(value, str):
            assert error is not None, "a record without a textual eventSource/eventName must fail"
        count(SUITE)

    check()


def _vocabulary() -> tuple[list[tuple[str, str]], list[str]]:
    """(eventSource, eventName) pairs the rules listen to, and every key the samples' records use."""
    pairs = sorted({(t.event_source, name) for rule in REGISTRY.rules for t in rule.meta.triggers
                    for name in t.event_names if t.event_source != ANY and name != ANY})
    keys: set[str] = set()
    for name in SAMPLES:
        for place in paths(load_sample(name)["detail"]):
            if isinstance(place[-1], str):
                keys.add(place[-1])
    return pairs, sorted(keys)


def test_generated_records_for_every_rule(app, lambda_context, sized):
    """Records built from scratch for the events the rules listen to, their blocks filled with arbitrary
    JSON under the keys real records use: rules meet every shape and type in their own fields."""
    pairs, keys = _vocabulary()
    envelope = load_sample("iam_create_access_key_for_other_user.json")
    block = st.dictionaries(st.sampled_from(keys), json_values, max_size=6)
    identity = st.fixed_dictionaries({}, optional={
        "type": st.sampled_from(["Root", "IAMUser", "AssumedRole", "FederatedUser", "AWSService",
                                 "IdentityCenterUser", "Unknown", "WebIdentityUser"]) | json_values,
        "arn": st.sampled_from(["arn:aws:iam::123456789012:root", "arn:aws:iam::123456789012:user/a",
                                "arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_Admin_1/u"]) | json_values,
        "userName": json_values, "invokedBy": json_values, "accountId": json_values,
        "sessionContext": json_values | st.fixed_dictionaries({"sessionIssuer": block, "attributes": block}),
    })

    @hypothesis_settings(sized(40, 300))
    @given(pair=st.sampled_from(pairs), identity=identity, request=block, response=block, extra=block,
           error=st.none() | json_values, event_id=st.none() | json_values)
    def check(pair, identity, request, response, extra, error, event_id):
        detail = {"eventSource": pair[0], "eventName": pair[1], "userIdentity": identity,
                  "requestParameters": request, "responseElements": response, "additionalEventData": extra,
                  "awsRegion": "us-east-1", "eventTime": "2026-11-22T10:00:00Z"}
        if error is not None:
            detail["errorCode"] = error
        if event_id is not None:
            detail["eventID"] = event_id
        invoke(app, {**envelope, "detail": detail}, lambda_context)
        count(SUITE)

    check()


# -- one broken rule does not hide the others' findings, on mutated events too ----------------------------


def _broken(record, ctx):
    raise RuntimeError("hostile-suite rule bug")


BROKEN = Rule(meta=dataclasses.replace(REGISTRY.rules[0].meta, id="hostile_broken_rule", trigger=Trigger(ANY, ANY),
                                       also=()), evaluate=_broken)


def test_a_rule_that_raises_on_every_event_hides_no_finding(app, lambda_context, sized):
    with_findings = [name for name in SAMPLES if EXPECTED[name]]
    cases = [(name, m) for name in with_findings for m in record_mutations(load_sample(name))]
    healthy = app.ENGINE
    broken = CapturingEngine(Registry([BROKEN, *REGISTRY.rules]))  # the broken rule runs first
    try:
        for name, mutation in pick(cases, sized(40, 300), seed="broken-rule"):
            event = mutation.apply(load_sample(name))
            app.ENGINE = healthy
            expected, error = invoke(app, event, lambda_context)
            app.ENGINE = broken
            try:
                result = app.handler(event, lambda_context)
            except ValueError as raised:
                assert error is not None and type(raised) is type(error), f"{name} {mutation.name}"
            else:
                assert error is None, f"{name} {mutation.name}"
                assert result["ruleErrors"] == ["hostile_broken_rule"]
                assert result["findings"] == [finding.finding_id for finding in expected.findings]
            count(SUITE)
    finally:
        app.ENGINE = healthy


# -- regressions ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("damage, named", [
    (lambda event: event["detail"].pop("eventName"), ["64b7de64-bf53-47ae-b7e3-d30cb1b5136e", "iam.amazonaws.com"]),
    (lambda event: event["detail"].update(eventTime=["yesterday"]), ["64b7de64-bf53-47ae-b7e3-d30cb1b5136e",
                                                                     "CreateAccessKey", "eventTime"]),
    (lambda event: event["detail"].pop("eventID") and event["detail"].update(userAgent=5),
     ["fa8ef915-17ff-466f-9ad6-5aec84c6fa4a", "without eventID", "CreateAccessKey", "userAgent"]),
    (lambda event: event.update(detail="{}"), ["fa8ef915-17ff-466f-9ad6-5aec84c6fa4a", "a string as detail"]),
], ids=["no-event-name", "bad-time", "no-event-id", "detail-is-a-string"])
def test_the_error_of_a_malformed_event_names_the_record(app, lambda_context, damage, named):
    """pydantic's message named the field but not the record: the Lambda error (and so the alarm and the
    DLQ triage) did not say which event failed. The first error now names it; the others follow."""
    event = load_sample("iam_create_access_key_for_other_user.json")
    damage(event)
    _, error = invoke(app, event, lambda_context)
    assert isinstance(error, ValidationError)
    first_line = str(error).splitlines()[1]
    assert all(text in str(error) for text in named), str(error)
    assert named[0] in first_line
    count(SUITE)


def test_hostile_record_values_reach_the_error_message_escaped_and_short(app, lambda_context):
    event = load_sample("iam_create_access_key_for_other_user.json")
    event["detail"]["eventID"] = "x\n\x1b[31m\u202e" * 20_000
    event["detail"]["eventTime"] = {"not": "a time"}  # text that is no time is evaluated all the same
    _, error = invoke(app, event, lambda_context)
    first = error.errors()[0]["msg"]
    assert first.isprintable() and len(first) < 300 and "\\x1b[31m\\u202e" in first
    count(SUITE)


@pytest.mark.parametrize("sample, field, value, rule", [
    ("iam_create_role_github_oidc_scoped__constructed.json", "path", ["/aws-reserved/sso.amazonaws.com/"],
     "sso_reserved_role_modified"),  # AttributeError: 'list' object has no attribute 'startswith'
    ("iam_create_saml_provider__constructed.json", "name", 5, "iam_saml_provider_changed"),  # TypeError in fnmatch
    ("iam_update_saml_provider_identity_center_by_human__constructed.json", "sAMLProviderArn", {"arn": None},
     "iam_saml_provider_changed"),  # AttributeError: 'dict' object has no attribute 'rsplit'
])
def test_rules_treat_request_values_of_the_wrong_type_as_absent(app, lambda_context, sample, field, value, rule):
    event = load_sample(sample)
    event["detail"]["requestParameters"][field] = value
    evaluation, error = invoke(app, event, lambda_context)  # asserts no rule raised
    assert error is None
    assert rule_set(evaluation) == EXPECTED[sample]  # the wrong-typed value changes nothing else
    count(SUITE)


# -- AWS Health events (sso_scim_token_expiring): read as records by the same handler ---------------------------

HEALTH_SAMPLES = sorted((ROOT / "events" / "health").glob("*.json"))


@pytest.mark.parametrize("path", HEALTH_SAMPLES, ids=lambda path: path.stem)
def test_mutated_health_events_evaluate_or_fail_with_a_clear_error(app, lambda_context, sized, path):
    """Every mutation of a Health event either evaluates (findings valid ASFF, no rule error) or fails the
    invocation with a ValueError (to the dead-letter queue) that names the event; never a crash."""
    sample = json.loads(path.read_text())
    for mutation in pick(record_mutations(sample) + envelope_mutations(sample), sized(20, 200),
                         seed=f"health/{path.name}"):
        event = mutation.apply(sample)
        app.ENGINE.last = None
        try:
            result = app.handler(event, lambda_context)
        except Exception as error:
            assert isinstance(error, ValueError) and not isinstance(error, CRASHES), (mutation.name, repr(error)[:500])
            envelope_id = event.get("id") if isinstance(event, dict) else None
            assert (not _printable(envelope_id) or envelope_id in str(error) or "health-" in str(error)
                    or "AWS Health" in str(error)), (mutation.name, str(error)[:500])
        else:
            assert result["ruleErrors"] == [], mutation.name
            for finding in app.ENGINE.last.findings:
                assert not asff_problems(to_asff(finding, product_arn=PRODUCT_ARN, updated_at=NOW)), mutation.name
        count(SUITE)


def test_a_record_whose_time_is_no_time_is_evaluated_and_says_so(app, lambda_context):
    """Issue 16, point 8: a record with an impossible eventTime (day 00) lost its findings (the invocation failed);
    it is evaluated without a time, and each finding says why it has none."""
    event = load_sample("iam_create_access_key_for_other_user.json")
    event["detail"]["eventTime"] = "2025-03-00T12:41:55Z"
    evaluation, error = invoke(app, event, lambda_context)
    assert error is None and rule_set(evaluation) == EXPECTED["iam_create_access_key_for_other_user.json"]
    assert all("'2025-03-00T12:41:55Z' is not a time" in f.details["EventTimeUnreadable"]
               for f in evaluation.findings)
    count(SUITE)


@pytest.mark.parametrize("time", ["9999-12-31T23:59:59Z", "0001-01-01T00:30:00+01:00"])
def test_a_time_at_the_ends_of_the_calendar_is_evaluated_without_it(app, lambda_context, time):
    """A time whose sequence window overflows the calendar (9999-12-31) failed every retry of the invocation (the
    store's window arithmetic), and one before year 1 in UTC crashed the ordering: evaluated without a time."""
    event = load_sample("signin_console_login_root_without_mfa.json")
    event["detail"]["eventTime"] = time
    evaluation, error = invoke(app, event, lambda_context)
    assert error is None and rule_set(evaluation) == EXPECTED["signin_console_login_root_without_mfa.json"]
    assert all(f"{time!r} is not a time" in f.details["EventTimeUnreadable"] for f in evaluation.findings)
    count(SUITE)
