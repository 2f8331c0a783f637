"""template.yaml agrees with the rule registry and keeps the deployment safe (design §1, §5)."""

from __future__ import annotations

import json

import pytest
import yaml
from identity_auditor.deploy import generate
from identity_auditor.deploy.routes import config_rule_logical_id, logical_id
from identity_auditor.engine.registry import REGISTRY
from support import ROOT, canonical, evaluator_rules, load_template

TEMPLATE_PATH = ROOT / "template.yaml"
TEMPLATE = load_template()
RESOURCES: dict = TEMPLATE["Resources"]
RULES = evaluator_rules(TEMPLATE)
SCOPE_CONDITIONS = {"global": "InGlobalEventsRegion", "identity-center": "InIdentityCenterRegion", "regional": None}




def functions() -> dict[str, dict]:
    return {name: res for name, res in RESOURCES.items() if res.get("Type") == "AWS::Serverless::Function"}


def test_generated_blocks_are_up_to_date():
    """The EventBridge rules, the central bus rules and the AWS Config rules are what `make generate`
    writes: the check of `make generate CHECK=1`."""
    stale = generate.stale(ROOT, [generate.TEMPLATE])
    assert not stale, generate.report(stale)


def test_every_state_rule_has_its_config_rule():
    config_rules = {name for name, res in RESOURCES.items() if res.get("Type") == "AWS::Config::ConfigRule"}
    assert config_rules == {config_rule_logical_id(rule.meta.id) for rule in REGISTRY.state_rules()}
    for name in config_rules:
        properties = RESOURCES[name]["Properties"]
        assert properties["Source"]["Owner"] == "CUSTOM_LAMBDA"
        assert properties["InputParameters"]["ruleId"] in {rule.meta.id for rule in REGISTRY.state_rules()}


def test_eventbridge_patterns_equal_the_registry():
    template_patterns = [rule["Properties"]["EventPattern"] for rule in RULES.values()]
    generated = REGISTRY.event_patterns()
    assert sorted(map(canonical, template_patterns)) == sorted(map(canonical, generated)), (
        "The EventBridge patterns in template.yaml differ from the rule registry (run `make generate`):\n"
        + yaml.safe_dump(generated, sort_keys=False, default_flow_style=False, width=110)
    )


@pytest.mark.parametrize("route", REGISTRY.routes(), ids=lambda route: route.name)
def test_each_route_lives_in_the_region_its_events_reach(route):
    rule = RULES[logical_id(route)]
    assert rule.get("Condition") == SCOPE_CONDITIONS[route.scope]
    expected_state = "ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS" if route.all_management_events else "ENABLED"
    assert rule["Properties"]["State"] == expected_state


def test_iam_events_are_global_and_identity_center_events_are_in_its_home_region():
    scopes = {route.name: route.scope for route in REGISTRY.routes()}
    assert scopes["iam-api"] == "global"
    assert scopes["signin-console"] == "regional"
    for name, scope in scopes.items():
        if name.startswith(("sso-", "identitystore-")):
            # an account instance can be created in any region: those names have a route of their own everywhere
            assert scope == ("regional" if name.endswith("-anywhere") else "identity-center"), name
    assert scopes["sso-api-anywhere"] == "regional"


def test_rules_are_named_after_the_stack():
    # the evaluator's resource policy and the dead-letter queue's policy admit "rule/<stack name>-*"
    # (tests/contract/test_evaluator_invoke_policy.py evaluates the former for every rule)
    for name, rule in RULES.items():
        assert rule["Properties"]["Name"]["Fn::Sub"].startswith("${AWS::StackName}-"), name


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


def test_every_eventbridge_rule_has_a_dead_letter_queue_and_retry_policy():
    assert RULES
    for name, rule in RULES.items():
        for target in rule["Properties"]["Targets"]:
            assert target.get("DeadLetterConfig"), f"{name}: no DeadLetterConfig"
            assert target.get("RetryPolicy"), f"{name}: no RetryPolicy"


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


def _resources(which: str) -> dict:
    """template.yaml's resources, or those CloudFormation gets after the SAM transform (with the roles,
    permissions and event-source mappings SAM generates)."""
    if which == "template.yaml":
        return RESOURCES
    import template_security

    return json.loads(template_security.transformed_template())["Resources"]


TEMPLATES = ["template.yaml", "sam-transformed"]


@pytest.mark.parametrize("which", TEMPLATES)
def test_no_wildcard_actions_are_allowed(which):
    offending = []
    for name, resource in _resources(which).items():
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


# The only actions the auditor's roles may use on Resource "*": APIs without resource-level permissions.
RESOURCE_STAR_ALLOWED = {
    "iam:GenerateCredentialReport": "account-wide report, no resource-level permissions",
    "iam:GetCredentialReport": "account-wide report, no resource-level permissions",
    "iam:GetAccountSummary": "account-level, no resource-level permissions",
    "iam:GetAccountPasswordPolicy": "account-level, no resource-level permissions",
    "iam:ListVirtualMFADevices": "no resource-level permissions",
    "config:PutEvaluations": "no resource-level permissions",
    "config:GetResourceConfigHistory": "no resource-level permissions",
    "organizations:ListAccounts": "no resource-level permissions (the organisation's accounts: the zone of trust)",
    "organizations:ListPolicies": "no resource-level permissions (guardrail policy types)",
    "iam:GetAccountAuthorizationDetails": "account-wide, no resource-level permissions (the IAM posture sweep)",
    "iam:ListServerCertificates": "no resource-level permissions",
    "iam:ListSAMLProviders": "no resource-level permissions",
    "access-analyzer:ListAnalyzers": "no resource-level permissions",
    "sso:ListInstances": "no resource-level permissions (the instances a permission set or assignment belongs to)",
    "events:ListRules": "no resource-level permissions (the routing rules checked at each heartbeat)",
}


@pytest.mark.parametrize("which", TEMPLATES)
def test_resource_star_only_for_apis_without_resource_level_permissions(which):
    offending = []
    for name, resource in _resources(which).items():
        if resource.get("Type") == "AWS::KMS::Key":
            continue  # in a key policy "*" means this key
        for path, statement in _statements(resource, name):
            if statement.get("Effect") != "Allow" or "Principal" in statement:
                continue  # resource policies (topic, queue, bucket) name their own resource
            resources = statement.get("Resource")
            if "*" not in (resources if isinstance(resources, list) else [resources]):
                continue
            actions = statement.get("Action")
            for action in actions if isinstance(actions, list) else [actions]:
                if action not in RESOURCE_STAR_ALLOWED:
                    offending.append(f"{path}: {action} on Resource '*'")
    assert not offending, "Resource '*' for actions that support resource-level permissions:\n  " + "\n  ".join(
        offending
    )


def test_only_the_stacks_rules_and_functions_can_put_messages_on_the_events_dead_letter_queue():
    """Review of issue 16: `redrive --to-function` replays what this queue holds, so an explicit Deny keeps
    everyone else out (same-account principals included); no other queue may make it (or the findings queue)
    its dead-letter queue, as messages SQS moves skip the SendMessage Deny."""
    resources = load_template()["Resources"]
    statements = resources["DeadLetterQueuePolicy"]["Properties"]["PolicyDocument"]["Statement"]
    (deny,) = [s for s in statements if s.get("Sid") == "DenyOthersSending"]
    assert (deny["Effect"], deny["Principal"], deny["Action"]) == ("Deny", "*", "sqs:SendMessage")
    condition = deny["Condition"]
    assert condition["ArnNotLike"]["aws:SourceArn"] == {
        "Fn::Sub": "arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:rule/${AWS::StackName}-*"}
    roles = condition["ArnNotEquals"]["aws:PrincipalArn"]["Fn::If"]
    assert roles[0] == "ReconcileTrailEnabled"
    senders = {item["Fn::GetAtt"][0] for item in roles[1]}
    assert senders == {"CloudTrailEvaluatorRole", "ConfigRuleEvaluatorRole", "ReconcileTrailRole"}
    assert {item["Fn::GetAtt"][0] for item in roles[2]} == senders - {"ReconcileTrailRole"}
    # every function whose failures go to this queue is among the senders
    failing_to_it = {resource["Properties"]["Role"]["Fn::GetAtt"][0] for resource in resources.values()
                     if resource["Type"] == "AWS::Serverless::Function"
                     and resource["Properties"].get("EventInvokeConfig", {}).get("DestinationConfig", {})
                     .get("OnFailure", {}).get("Destination") == {"Fn::GetAtt": ["DeadLetterQueue", "Arn"]}}
    assert failing_to_it <= senders
    for queue in ("DeadLetterQueue", "FindingsQueue"):
        assert resources[queue]["Properties"]["RedriveAllowPolicy"] == {"redrivePermission": "denyAll"}


def test_only_the_auditors_functions_can_write_the_de_duplication_table():
    """Review of issue 16: whether a violation pages is decided by what the table holds. Its resource policy denies
    writes to every principal outside the stack's role path, and every role the template lets write it is there."""
    resources = load_template()["Resources"]
    table = resources["IdempotencyTable"]["Properties"]
    (deny,) = table["ResourcePolicy"]["PolicyDocument"]["Statement"]
    assert (deny["Effect"], deny["Principal"], deny["Resource"]) == ("Deny", "*", "*")
    assert {"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem"} <= set(
        deny["Action"])
    path = "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/identity-auditor/${AWS::StackName}/*"
    assert deny["Condition"] == {"ArnNotLike": {"aws:PrincipalArn": {"Fn::Sub": path}}}
    writes = {"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem"}
    writers = set()
    for name, resource in resources.items():
        if resource["Type"] != "AWS::IAM::Role":
            continue
        for policy in resource["Properties"].get("Policies", []):
            for statement in policy["PolicyDocument"]["Statement"]:
                statement = statement["Fn::If"][1] if "Fn::If" in statement else statement
                actions = statement.get("Action", [])
                actions = [actions] if isinstance(actions, str) else actions
                if set(actions) & writes and "IdempotencyTable" in str(statement.get("Resource")):
                    writers.add(name)
    assert {"CloudTrailEvaluatorRole", "ConfigRuleEvaluatorRole", "FindingsPublisherRole",
            "BackfillEvaluatorRole"} <= writers
    for name in writers:
        assert resources[name]["Properties"]["Path"] == {"Fn::Sub": "/identity-auditor/${AWS::StackName}/"}, name


@pytest.mark.parametrize("name", sorted(functions()))
def test_functions_write_no_platform_lines_and_honour_the_log_level(name):
    """Issue 18: Lambda's START/END/REPORT lines were half of what a quiet event wrote to CloudWatch Logs. The JSON
    log format lets SystemLogLevel drop them; the application level follows the LogLevel parameter, every value."""
    globals_ = (TEMPLATE.get("Globals") or {}).get("Function", {})
    # SAM merges the Globals' LoggingConfig with the function's (its LogGroup)
    config = {**globals_.get("LoggingConfig", {}), **functions()[name]["Properties"].get("LoggingConfig", {})}
    assert (config["LogFormat"], config["SystemLogLevel"]) == ("JSON", "WARN")
    assert config["ApplicationLogLevel"] == {"Fn::FindInMap": ["LambdaLogLevel", {"Ref": "LogLevel"}, "Level"]}
    levels = TEMPLATE["Mappings"]["LambdaLogLevel"]
    assert set(levels) == set(TEMPLATE["Parameters"]["LogLevel"]["AllowedValues"])
    # EMF metric lines carry no "level": Lambda takes them as INFO, so a level above INFO would drop every metric
    # and silence the alarms on them (review of issue 18); DEBUG stays reachable
    assert {name: entry["Level"] for name, entry in levels.items()} == {
        "DEBUG": "DEBUG", "INFO": "INFO", "WARNING": "INFO", "ERROR": "INFO"}
