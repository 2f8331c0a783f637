"""template.yaml agrees with the rule registry and keeps the deployment safe (design §1, §5)."""

from __future__ import annotations

import json

import pytest
import yaml
from support import load_template

from identity_auditor.registry import REGISTRY

FUNCTION = "CloudTrailEvaluatorFunction"
EVENTBRIDGE_EVENT_TYPES = ("EventBridgeRule", "CloudWatchEvent")


TEMPLATE = load_template()
RESOURCES: dict = TEMPLATE["Resources"]


def canonical(pattern) -> str:
    """An EventBridge pattern as a comparable string, keys and value lists sorted (order is irrelevant)."""

    def normal(node):
        if isinstance(node, dict):
            return {key: normal(value) for key, value in node.items()}
        if isinstance(node, list):
            return sorted((normal(item) for item in node), key=lambda item: json.dumps(item, sort_keys=True))
        return node

    return json.dumps(normal(pattern), sort_keys=True)


def eventbridge_events(function: dict) -> dict[str, dict]:
    events = function.get("Properties", {}).get("Events", {}) or {}
    return {name: event for name, event in events.items() if event.get("Type") in EVENTBRIDGE_EVENT_TYPES}


def functions() -> dict[str, dict]:
    return {name: res for name, res in RESOURCES.items() if res.get("Type") == "AWS::Serverless::Function"}


def test_eventbridge_patterns_equal_the_registry():
    events = eventbridge_events(RESOURCES[FUNCTION]).values()
    template_patterns = [event["Properties"]["Pattern"] for event in events]
    generated = REGISTRY.event_patterns()
    assert sorted(map(canonical, template_patterns)) == sorted(map(canonical, generated)), (
        f"The EventBridge patterns of {FUNCTION} in template.yaml differ from the rule registry. "
        "Generated patterns (`identity-auditor patterns`), one per Events entry:\n"
        + yaml.safe_dump(generated, sort_keys=False, default_flow_style=False, width=110)
    )


@pytest.mark.parametrize("name", sorted(functions()))
def test_functions_run_python313_on_arm64(name):
    globals_ = (TEMPLATE.get("Globals") or {}).get("Function", {})
    properties = functions()[name]["Properties"]
    assert properties.get("Runtime", globals_.get("Runtime")) == "python3.13"
    assert properties.get("Architectures", globals_.get("Architectures")) == ["arm64"]


def test_layers_build_for_arm64():
    layers = [res for res in RESOURCES.values() if res.get("Type") == "AWS::Serverless::LayerVersion"]
    assert layers
    for layer in layers:
        assert (layer.get("Metadata") or {}).get("BuildArchitecture") == "arm64"


def test_queues_and_topics_are_encrypted():
    kinds = ("AWS::SQS::Queue", "AWS::SNS::Topic")
    encrypted = [res for res in RESOURCES.values() if res.get("Type") in kinds]
    assert len(encrypted) >= 2, "expected the dead-letter queue and the findings topic"
    for resource in encrypted:
        assert resource.get("Properties", {}).get("KmsMasterKeyId")


def test_every_eventbridge_event_has_a_dead_letter_queue_and_retry_policy():
    events = {(fn, ev): e for fn, res in functions().items() for ev, e in eventbridge_events(res).items()}
    assert events
    for (function, event), definition in events.items():
        properties = definition["Properties"]
        assert properties.get("DeadLetterConfig"), f"{function}.{event}: no DeadLetterConfig"
        assert properties.get("RetryPolicy"), f"{function}.{event}: no RetryPolicy"


def _statements(node, path: str):
    """Every IAM policy statement (a mapping with Effect) anywhere under node, with where it is."""
    if isinstance(node, dict):
        if "Effect" in node and ("Action" in node or "NotAction" in node):
            yield path, node
        for key, value in node.items():
            yield from _statements(value, f"{path}.{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _statements(value, f"{path}[{index}]")


def _is_key_root_admin(resource: dict, path: str, statement: dict) -> bool:
    """The KMS key policy's standard statement delegating the key to the account's IAM (root principal)."""
    principal = statement.get("Principal")
    aws = principal.get("AWS") if isinstance(principal, dict) else None
    if isinstance(aws, dict):  # !Sub "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"
        aws = aws.get("Fn::Sub")
    return (
        resource.get("Type") == "AWS::KMS::Key"
        and ".KeyPolicy." in path
        and isinstance(aws, str)
        and aws.endswith(":root")
    )


def test_no_wildcard_actions_are_allowed():
    offending = []
    for name, resource in RESOURCES.items():
        for path, statement in _statements(resource, name):
            if statement.get("Effect") != "Allow" or _is_key_root_admin(resource, path, statement):
                continue
            if "NotAction" in statement:
                offending.append(f"{path}: Allow with NotAction")
            actions = statement.get("Action")
            for action in actions if isinstance(actions, list) else [actions]:
                if isinstance(action, str) and (action == "*" or action.endswith(":*")):
                    offending.append(f"{path}: Allow {action}")
    assert not offending, "wildcard actions:\n  " + "\n  ".join(offending)
