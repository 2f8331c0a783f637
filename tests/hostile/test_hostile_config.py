"""Hostile and malformed AWS Config rule invocations through the ConfigRuleEvaluator Lambda handler
(functions/config_rule_evaluator), against an emulated account (moto: IAM, Config), sinks off.

Every sample of events/config is mutated, inside its JSON-string fields (``invokingEvent``,
``ruleParameters``) too, and those strings are themselves broken (truncated, not JSON, an array, nested
thousands deep, NaN, lone surrogates, double-encoded); hypothesis puts arbitrary JSON anywhere. For each
invocation the handler either

* evaluates it: no state rule raised, every evaluation went to PutEvaluations (validated by botocore and
  moto), every finding is valid ASFF; or
* raises a clear error: a ``ValueError`` (``ConfigEventError`` for the protocol) that is not a crash
  from our code (``AttributeError``, ``TypeError``, ``KeyError``, ``IndexError``, ``RecursionError``,
  ``UnicodeError``), on one printable line of bounded length, naming the field that is wrong (the
  invocation key it sits under, or its own name). Raising fails the invocation: Lambda retries it,
  then sends it to the failure destination.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import sys
from datetime import datetime, timezone

import boto3
import pytest
from asff_validator import asff_problems
from hostile_cases import (
    TRUTHY_WRONG_TYPES,
    WRONG_TYPES,
    config_encoded,
    config_mutations,
    config_view,
    count,
    dotted,
    generic_place,
    get,
    hypothesis_settings,
    json_values,
    paths,
    pick,
)
from hypothesis import given
from hypothesis import strategies as st
from identity_auditor.config_rule import adapter as config_adapter
from identity_auditor.sinks.asff import to_asff
from moto import mock_aws
from support import PRODUCT_ARN, ROOT

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish:UserWarning")

SUITE = "config handler"
HANDLER = ROOT / "functions" / "config_rule_evaluator" / "config_rule_evaluator.py"
SAMPLES = {path.name: json.loads(path.read_text()) for path in sorted((ROOT / "events" / "config").glob("*.json"))}
CRASHES = (AttributeError, TypeError, KeyError, IndexError, RecursionError, UnicodeError, AssertionError)
SINK_VARIABLES = ("FINDINGS_TOPIC_ARN", "IDEMPOTENCY_TABLE", "POLICY_SSM_PARAMETER", "POLICY_APPCONFIG",
                  "SECURITY_HUB_PRODUCT_ARN", "FINDINGS_QUEUE_URL")
MESSAGE_LIMIT = 1000
PERIODIC = "iam_access_key_not_rotated_periodic__constructed.json"
CHANGED = "iam_role_trust_policy_unsafe_role_changed__constructed.json"
NOW = datetime(2026, 6, 1, 6, tzinfo=timezone.utc)
TRUST_ANYONE = {"Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}]}


class RecordingConfig:
    """The Config client, answering PutEvaluations as TESTMODE would whatever the token (moto implements
    only TestMode=True): botocore still validates every evaluation against the API model, moto checks
    the rest. Keeps each request."""

    def __init__(self, client):
        self.client, self.puts = client, []

    def put_evaluations(self, **request):
        self.puts.append(request)
        return self.client.put_evaluations(**{**request, "TestMode": True})

    def __getattr__(self, name):
        return getattr(self.client, name)


class CapturingAdapter(config_adapter.ConfigAdapter):
    last = None

    def evaluate(self, *args, **kwargs):
        self.last = super().evaluate(*args, **kwargs)
        return self.last


@pytest.fixture(scope="module")
def app():
    """The Config handler, cold-started with its sinks off, in an account with a user without MFA (an
    access key and a console password), a role anyone may assume, and the root user."""
    with pytest.MonkeyPatch.context() as env, mock_aws():
        for name in SINK_VARIABLES:
            env.delenv(name, raising=False)
        env.setenv("SECURITY_HUB_ENABLED", "false")
        iam = boto3.client("iam", region_name="us-east-1")
        iam.create_user(UserName="alice")
        iam.create_access_key(UserName="alice")
        iam.create_login_profile(UserName="alice", Password="Correct-Horse-Battery-1")
        iam.create_role(RoleName="vendor-integration", AssumeRolePolicyDocument=json.dumps(TRUST_ANYONE))
        original = config_adapter.Clients.config
        env.setattr(config_adapter.Clients, "config",
                    property(lambda clients: clients.__dict__.setdefault("_recording", RecordingConfig(
                        original.func(clients)))))
        spec = importlib.util.spec_from_file_location("hostile_config_rule_evaluator_app", HANDLER)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        sys.modules[spec.name] = module
        module.ADAPTER = CapturingAdapter()
        yield module
        sys.modules.pop(spec.name, None)


def _names(where: str) -> set[str]:
    """Words an error about the field at ``where`` may name it by: the invocation key it is under, its
    own name and its parent's."""
    parts = [part for part in where.split(".") if not part.isdigit()]
    return {parts[0], *parts[-2:]} if parts else set()


def invoke(app, event, lambda_context, where: str | None = None):
    """``(run, None)`` or ``(None, error)``, checking what every invocation must satisfy."""
    app.ADAPTER.last = None
    try:
        result = app.handler(event, lambda_context)
    except Exception as error:  # the property: which errors, with which messages
        assert isinstance(error, ValueError) and not isinstance(error, CRASHES), repr(error)[:2000]
        assert type(error).__module__.startswith("identity_auditor"), repr(error)[:2000]
        message = str(error)
        assert message and len(message) <= MESSAGE_LIMIT and message.isprintable(), message[:2000]
        if where is not None and where != "(root)":
            assert any(name in message for name in _names(where)), f"{where}: {message}"
        return None, error
    run = app.ADAPTER.last
    assert run is not None and isinstance(result, dict)
    assert result["ruleErrors"] == [], [failure.error for failure in run.failures]
    assert result["evaluations"] == len(run.evaluations)
    for evaluation in run.evaluations:
        if evaluation.finding is not None:
            problems = asff_problems(to_asff(evaluation.finding, product_arn=PRODUCT_ARN, updated_at=NOW))
            assert not problems, problems
    return run, None


# -- the samples as they are ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_every_sample_is_evaluated(app, lambda_context, name):
    run, error = invoke(app, SAMPLES[name], lambda_context)
    count(SUITE)
    assert error is None and (run.evaluations or run.skipped)


# -- mutations ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_mutated_invocations_evaluate_or_fail_naming_the_field(app, lambda_context, sized, name):
    for mutation in pick(config_mutations(SAMPLES[name]), sized(14, 130), seed=f"config/{name}"):
        try:
            invoke(app, mutation.apply(SAMPLES[name]), lambda_context, mutation.where)
        except AssertionError as failure:
            raise AssertionError(f"{name} {mutation.name}: {failure}") from None
        count(SUITE)


def test_broken_json_strings(app, lambda_context, full_size):
    """``invokingEvent`` and ``ruleParameters`` truncated, not JSON, an array, null, nested 5,000 deep,
    with NaN or a lone surrogate, double-encoded: each fails naming the field, or is evaluated. The
    default size breaks a periodic and a change-triggered sample; the full size every sample."""
    for name in sorted(SAMPLES) if full_size else [PERIODIC, CHANGED]:
        for mutation in config_mutations(SAMPLES[name]):
            if not mutation.what.startswith("raw:"):
                continue
            try:
                invoke(app, mutation.apply(SAMPLES[name]), lambda_context, mutation.where)
            except AssertionError as failure:
                raise AssertionError(f"{name} {mutation.name}: {failure}") from None
            count(SUITE)


def test_every_field_with_a_value_of_the_wrong_type(app, lambda_context, full_size):
    """Every field of every sample (inside the JSON strings too) set to a truthy value of the wrong type.
    Default size: each distinct field (per message type) once, the type chosen in turn; full size: every
    field of every sample with every such type."""
    seen, turn = set(), 0
    for name, invocation in SAMPLES.items():
        view = config_view(invocation)
        for place in paths(view):
            if full_size:
                operators = TRUTHY_WRONG_TYPES
            else:
                key = (view["invokingEvent"].get("messageType"), generic_place(place))
                if key in seen:
                    continue
                seen.add(key)
                operators, turn = (TRUTHY_WRONG_TYPES[turn % len(TRUTHY_WRONG_TYPES)],), turn + 1
            for operator in operators:
                mutated = copy.deepcopy(view)
                get(mutated, place[:-1])[place[-1]] = copy.deepcopy(WRONG_TYPES[operator.split(":", 1)[1]])
                try:
                    invoke(app, config_encoded(mutated), lambda_context, dotted(place))
                except AssertionError as failure:
                    raise AssertionError(f"{name} {dotted(place)}:{operator}: {failure}") from None
                count(SUITE)


@pytest.mark.parametrize("payload", [None, [], "", "not json", 42, True, {}, {"Records": []},
                                     {"invokingEvent": None, "resultToken": "TESTMODE"}],
                         ids=["none", "list", "empty-string", "string", "number", "bool", "empty-object",
                              "cloudtrail-log", "null-invoking-event"])
def test_an_invocation_that_is_not_a_config_rule_invocation_fails(app, lambda_context, payload):
    run, error = invoke(app, payload, lambda_context)
    count(SUITE)
    assert error is not None, f"the handler returned instead of failing the invocation: {run}"


def test_a_cloudtrail_event_sent_to_the_config_handler_fails(app, lambda_context):
    event = json.loads((ROOT / "events" / "cloudtrail" / "iam_create_user.json").read_text())
    run, error = invoke(app, event, lambda_context)
    count(SUITE)
    assert error is not None and "invokingEvent" in str(error)


# -- hypothesis: arbitrary JSON anywhere -------------------------------------------------------------------


def test_arbitrary_json_at_any_place_of_any_invocation(app, lambda_context, sized):
    views = {name: config_view(invocation) for name, invocation in SAMPLES.items()}
    places = {name: list(paths(view)) for name, view in views.items()}
    names = sorted(SAMPLES)

    @hypothesis_settings(sized(50, 400))
    @given(name=st.sampled_from(names), index=st.integers(min_value=0, max_value=10_000), value=json_values)
    def check(name, index, value):
        view = copy.deepcopy(views[name])
        place = places[name][index % len(places[name])]
        get(view, place[:-1])[place[-1]] = value
        invoke(app, config_encoded(view), lambda_context, dotted(place))
        count(SUITE)

    check()


# -- regressions ------------------------------------------------------------------------------------------


def _changed(name: str, **fields) -> dict:
    """A sample with fields of its invocation, or of its decoded invokingEvent (``item__<key>`` for the
    configuration item or summary, ``configuration__<key>`` for the item's configuration), replaced."""
    view = config_view(SAMPLES[name])
    invoking = view["invokingEvent"]
    item = invoking.get("configurationItem") or invoking.get("configurationItemSummary") or {}
    for key, value in fields.items():
        if key.startswith("item__"):
            item[key[6:]] = value
        elif key.startswith("configuration__"):
            item["configuration"][key[15:]] = value
        else:
            view[key] = value
    return config_encoded(view)


def test_deeply_nested_json_strings_fail_as_config_errors(app, lambda_context):
    """json.loads raised RecursionError (not a ValueError) for an invokingEvent nested 5,000 deep."""
    for key in ("invokingEvent", "ruleParameters"):
        _, error = invoke(app, {**SAMPLES[PERIODIC], key: "[" * 5000 + "]" * 5000}, lambda_context, key)
        assert isinstance(error, config_adapter.ConfigEventError) and "nested too deeply" in str(error)
        count(SUITE)


@pytest.mark.parametrize("fields, where", [
    ({"accountId": 123456789012}, "accountId"),  # was a TypeError in to_asff (re.match on an int)
    ({"accountId": ["123456789012"]}, "accountId"),
    ({"item__awsAccountId": {"id": 1}}, "awsAccountId"),  # was a TypeError (unhashable) in the state rule
    ({"item__resourceId": 42}, "resourceId"),  # was botocore's ParamValidationError at PutEvaluations
    ({"item__resourceType": ["AWS::IAM::Role"]}, "resourceType"),
    ({"configRuleArn": "arn:aws:config:evil\u202e:123456789012:config-rule/x"}, "configRuleArn"),
    ({"configRuleArn": "arn:aws.evil/x:config:us-east-1:123456789012:config-rule/x"}, "configRuleArn"),
    ({"configRuleArn": 5}, "configRuleArn"),
], ids=["account-number", "account-list", "item-account-object", "resource-id-number", "resource-type-list",
        "rule-arn-region", "rule-arn-partition", "rule-arn-number"])
def test_wrong_typed_identifiers_fail_naming_the_field(app, lambda_context, fields, where):
    _, error = invoke(app, _changed(CHANGED, **fields), lambda_context, where)
    assert isinstance(error, config_adapter.ConfigEventError) and where in str(error)
    count(SUITE)


@pytest.mark.parametrize("status", [["ResourceDeleted"], {"status": "OK"}, 7])
def test_a_configuration_item_status_of_the_wrong_type_is_not_a_deletion(app, lambda_context, status):
    """``status in DELETED`` (a frozenset) raised TypeError for a list or an object."""
    run, error = invoke(app, _changed(CHANGED, item__configurationItemStatus=status), lambda_context)
    assert error is None and [e.compliance.value for e in run.evaluations] == ["NON_COMPLIANT"]
    count(SUITE)


@pytest.mark.parametrize("field, value", [("arn", 5), ("arn", ["x"]), ("roleName", {"x": 1}), ("path", 3),
                                          ("roleId", True)])
def test_wrong_typed_role_configuration_values_count_as_absent(app, lambda_context, field, value):
    """The collector copied them into the role snapshot: the trust rule then failed (AttributeError)."""
    run, error = invoke(app, _changed(CHANGED, **{f"configuration__{field}": value}), lambda_context)
    assert error is None and run.failures == []
    count(SUITE)


def test_an_oversized_item_whose_name_is_no_iam_name_fails_before_calling_iam(app, lambda_context):
    """The name went to GetRole: a lone surrogate made botocore raise UnicodeEncodeError."""
    event = _changed("iam_role_trust_policy_unsafe_oversized__constructed.json", item__resourceName="a\ud800b")
    _, error = invoke(app, event, lambda_context, "resourceName")
    assert isinstance(error, config_adapter.ConfigEventError) and "is not an IAM role name" in str(error)
    count(SUITE)


def test_error_messages_quote_values_short_and_escaped(app, lambda_context):
    """Values were quoted whole: a 70,000-character ruleId made a 70 KB error message."""
    for fields in ({"ruleParameters": {"ruleId": "x\n\u202e" * 30_000}}, {"eventLeftScope": "y" * 70_000}):
        _, error = invoke(app, _changed(PERIODIC, **fields), lambda_context, next(iter(fields)))
        assert isinstance(error, config_adapter.ConfigEventError) and len(str(error)) < 600
        count(SUITE)
