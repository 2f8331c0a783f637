"""The organisation deployment is well-formed (issue 7): forwarder.yaml forwards exactly what the main template's
rules watch, from the same regions, to the central bus; the central bus admits the organisation only and feeds
the evaluator; the StackSet deploys the forwarder service-managed to OUs and regions from parameters; the
member role trusts only the auditor's roles and may do only what the auditor does there; and the defaults keep
the single-account deployment unchanged.
"""

from __future__ import annotations

import fnmatch
import json
import os
import subprocess
import textwrap

import pytest
from identity_auditor.deploy import generate
from identity_auditor.deploy.org_routes import (
    FORWARDER_CONDITIONS,
    central_logical_id,
    forwarder_logical_id,
)
from identity_auditor.deploy.routes import (
    config_rule_logical_id,
    logical_id,
    organization_config_rule_logical_id,
)
from identity_auditor.engine.registry import REGISTRY
from support import ROOT, canonical, evaluator_rules, load_template
from template_security import statements

FORWARDER_PATH = ROOT / "forwarder.yaml"
FORWARDER = load_template(FORWARDER_PATH)
FORWARDER_RESOURCES: dict = FORWARDER["Resources"]
MAIN = load_template()
MAIN_RESOURCES: dict = MAIN["Resources"]
ROUTES = REGISTRY.routes()
CENTRAL_ACCOUNT = "123456789012"
MEMBER_ACCOUNT = "210987654321"
CENTRAL_BUS = {"Fn::GetAtt": ["OrganizationEventBus", "Name"]}




# -- a small evaluator of CloudFormation conditions (Ref, Equals, Not, And, Or, Join, Condition) ------------------


def defaults(template: dict, **values) -> dict:
    """Parameter values: the template's defaults (CommaDelimitedList as lists), overridden by ``values``."""
    params = {}
    for name, spec in template.get("Parameters", {}).items():
        default = spec.get("Default")
        if spec.get("Type") == "CommaDelimitedList":
            default = [item.strip() for item in str(default or "").split(",")]
        params[name] = default
    params.update({"AWS::Region": "us-east-1", "AWS::AccountId": CENTRAL_ACCOUNT, "AWS::Partition": "aws"})
    params.update(values)
    return params


def evaluate(node, template: dict, params: dict):
    conditions = template.get("Conditions", {})
    if isinstance(node, dict) and len(node) == 1:
        ((key, value),) = node.items()
        if key == "Ref":
            return params[value]
        if key in ("Condition", "Fn::Condition"):
            return evaluate(conditions[value], template, params)
        if key == "Fn::Equals":
            first, second = (evaluate(item, template, params) for item in value)
            return first == second
        if key == "Fn::Not":
            return not evaluate(value[0], template, params)
        if key == "Fn::And":
            return all(evaluate(item, template, params) for item in value)
        if key == "Fn::Or":
            return any(evaluate(item, template, params) for item in value)
        if key == "Fn::Join":
            separator, items = value
            return separator.join(evaluate(items, template, params))
        if key == "Fn::If":
            condition, when_true, when_false = value
            chosen = when_true if evaluate({"Condition": condition}, template, params) else when_false
            return evaluate(chosen, template, params)
        raise NotImplementedError(key)
    return node


def created(template: dict, params: dict) -> set[str]:
    """The logical ids of the resources the template creates with these parameter values."""
    return {
        name for name, resource in template["Resources"].items()
        if "Condition" not in resource or evaluate({"Condition": resource["Condition"]}, template, params)
    }


def as_list(value) -> list:
    return value if isinstance(value, list) else [value]


def sub(node, **names) -> str:
    """A ``!Sub`` string with its ${...} references replaced by ``names`` (AWS::* pseudo parameters included)."""
    text = node["Fn::Sub"]
    values = {"AWS::Partition": "aws", "AWS::Region": "us-east-1", "AWS::AccountId": CENTRAL_ACCOUNT, **names}
    for name, value in values.items():
        text = text.replace("${" + name + "}", value)
    assert "${" not in text, text
    return text


# -- generated blocks ---------------------------------------------------------------------------------------------


def test_generated_forwarder_routes_are_up_to_date():
    """forwarder.yaml's rules are what `make generate` writes (the check of `make generate CHECK=1`); the
    central bus rules, a block of template.yaml, are checked with it by test_template.py."""
    stale = generate.stale(ROOT, [generate.FORWARDER])
    assert not stale, generate.report(stale)


# -- the forwarder's rules: the main template's patterns, states and regions ---------------------------------------


def forwarder_rules() -> dict[str, dict]:
    return {name: res for name, res in FORWARDER_RESOURCES.items() if res["Type"] == "AWS::Events::Rule"}


def test_forwarder_has_one_rule_per_route():
    assert set(forwarder_rules()) == {forwarder_logical_id(route) for route in ROUTES}


@pytest.mark.parametrize("route", ROUTES, ids=lambda route: route.name)
def test_forwarder_pattern_and_state_equal_the_registry_and_the_main_template(route):
    forwarded = FORWARDER_RESOURCES[forwarder_logical_id(route)]["Properties"]
    main = evaluator_rules(MAIN)[logical_id(route)]["Properties"]
    assert canonical(forwarded["EventPattern"]) == canonical(route.pattern) == canonical(main["EventPattern"])
    assert forwarded["State"] == main["State"]
    if route.all_management_events:  # root activity: read-only management events too, as in the main template
        assert forwarded["State"] == "ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS"


SCENARIOS = [  # (account, region): where a stack instance may run; Identity Center lives in eu-west-1
    (account, region)
    for account in (MEMBER_ACCOUNT, CENTRAL_ACCOUNT)
    for region in ("us-east-1", "eu-west-1", "ap-southeast-2")
]


@pytest.mark.parametrize("account,region", SCENARIOS)
def test_forwarder_rules_exist_where_the_main_templates_rules_do_and_only_in_member_accounts(account, region):
    common = {"AWS::Region": region, "IdentityCenterRegion": "eu-west-1"}
    forwarder = created(FORWARDER, defaults(FORWARDER, **common, **{
        "AWS::AccountId": account, "CentralAccountId": CENTRAL_ACCOUNT}))
    main = created(MAIN, defaults(MAIN, **common))
    for route in ROUTES:
        expected = account != CENTRAL_ACCOUNT and logical_id(route) in main
        assert (forwarder_logical_id(route) in forwarder) == expected, (route.name, account, region)
        assert FORWARDER_RESOURCES[forwarder_logical_id(route)]["Condition"] == FORWARDER_CONDITIONS[route.scope]


def test_forwarder_creates_nothing_in_the_central_account():
    """Nothing but the no-op handle CloudFormation needs to create a stack whose conditions leave no resource."""
    assert FORWARDER_RESOURCES["StackInstanceMarker"] == {"Type": "AWS::CloudFormation::WaitConditionHandle"}
    for region in ("us-east-1", "eu-west-1"):
        params = defaults(FORWARDER, **{"AWS::Region": region, "CentralAccountId": CENTRAL_ACCOUNT})
        assert created(FORWARDER, params) == {"StackInstanceMarker"}


@pytest.mark.parametrize("region", ["us-east-1", "eu-west-1"])
def test_member_role_is_created_once_per_account_in_the_global_events_region(region):
    params = defaults(FORWARDER, **{"AWS::Region": region, "AWS::AccountId": MEMBER_ACCOUNT,
                                    "CentralAccountId": CENTRAL_ACCOUNT})
    assert ("MemberRole" in created(FORWARDER, params)) == (region == "us-east-1")
    assert FORWARDER_RESOURCES["MemberRole"]["Properties"]["RoleName"] == {"Ref": "MemberRoleName"}
    assert FORWARDER["Parameters"]["MemberRoleName"]["Default"] == MAIN["Parameters"]["MemberRoleName"]["Default"]


@pytest.mark.parametrize("name", sorted(forwarder_rules()))
def test_forwarder_rules_target_the_central_bus_with_a_role_a_dead_letter_queue_and_retries(name):
    properties = FORWARDER_RESOURCES[name]["Properties"]
    assert "EventBusName" not in properties  # the member account's default bus, where CloudTrail delivers
    assert properties["Name"]["Fn::Sub"].startswith("${CentralStackName}-")
    (target,) = properties["Targets"]
    assert target["Arn"] == {"Ref": "CentralEventBusArn"}
    assert target["RoleArn"] == {"Fn::GetAtt": ["ForwarderRole", "Arn"]}  # required across regions
    assert target["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": ["DeadLetterQueue", "Arn"]}}
    assert target["RetryPolicy"] == {"MaximumRetryAttempts": 185, "MaximumEventAgeInSeconds": 86400}


def test_forwarding_and_central_rule_names_fit_in_64_characters():
    longest_stack_name = "a" * 43  # CentralStackName's AllowedPattern (the main stack's function names)
    for rule in forwarder_rules().values():
        assert len(sub(rule["Properties"]["Name"], CentralStackName=longest_stack_name)) <= 64
    for rule in central_rules().values():
        assert len(sub(rule["Properties"]["Name"], **{"AWS::StackName": longest_stack_name})) <= 64


# -- the forwarder's roles and queue: least privilege ---------------------------------------------------------------


def test_forwarder_role_may_only_put_events_on_the_central_bus():
    role = FORWARDER_RESOURCES["ForwarderRole"]["Properties"]
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "events.amazonaws.com"}
    assert trust["Action"] == "sts:AssumeRole"
    (statement,) = list(statements(role["Policies"]))
    assert statement["Action"] == "events:PutEvents"
    assert statement["Resource"] == {"Ref": "CentralEventBusArn"}


def test_member_role_trusts_only_the_auditors_roles_in_the_central_account():
    """By their exact ARNs (issue 16, point 8): a path prefix would trust any role someone creates under it."""
    role = FORWARDER_RESOURCES["MemberRole"]["Properties"]
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Effect"] == "Allow" and trust["Action"] == "sts:AssumeRole"
    assert sub(trust["Principal"]["AWS"], CentralAccountId="999988887777") == "arn:aws:iam::999988887777:root"
    assert trust["Condition"] == {"ArnEquals": {"aws:PrincipalArn": {"Ref": "AuditorRoleArns"}}}
    passed = {parameter["ParameterKey"]: parameter["ParameterValue"]
              for parameter in MAIN_RESOURCES["ForwarderStackSet"]["Properties"]["Parameters"]}
    assert passed["AuditorRoleArns"] == {"Fn::Join": [",", [{"Fn::GetAtt": ["ConfigRuleEvaluatorRole", "Arn"]},
                                                            {"Fn::GetAtt": ["FindingsPublisherRole", "Arn"]}]]}
    # the same value is an output, for the forwarder deployed by hand in the management account
    assert MAIN["Outputs"]["AuditorRoleArns"]["Value"] == passed["AuditorRoleArns"]
    assert role["MaxSessionDuration"] == 3600


@pytest.mark.parametrize("name", ["FindingsPublisherRole", "ConfigRuleEvaluatorRole"])
def test_the_roles_that_assume_the_member_role_live_under_the_path_it_trusts(name):
    assert MAIN_RESOURCES[name]["Properties"]["Path"] == {"Fn::Sub": "/identity-auditor/${AWS::StackName}/"}


def _policy(role: dict, name: str) -> list[dict]:
    (policy,) = [policy for policy in role["Properties"]["Policies"] if policy["PolicyName"] == name]
    return policy["PolicyDocument"]["Statement"]


def test_member_role_reads_what_the_config_evaluator_reads_and_imports_only_its_own_findings():
    member = FORWARDER_RESOURCES["MemberRole"]
    evaluator_reads = [statement for statement in _policy(MAIN_RESOURCES["ConfigRuleEvaluatorRole"], "read-identity-state")
                       if "Fn::If" not in statement]  # the conditional AssumeRole is the central side's
    assert _policy(member, "read-identity-state") == evaluator_reads
    # Identity Center is read through the member role when IdentityCenterAccountId is another account
    center = MAIN_RESOURCES["ConfigRuleEvaluatorIdentityCenterPolicy"]
    assert center["Condition"] == "DeployIdentityCenterRules"
    assert center["Properties"]["RoleName"] == {"Ref": "ConfigRuleEvaluatorRole"}
    assert _policy(member, "read-identity-center") == center["Properties"]["PolicyDocument"]["Statement"]
    assert "config:PutEvaluations" in evaluator_reads[0]["Action"]  # an organisation rule's result token
    (import_findings,) = _policy(member, "import-findings")
    assert import_findings["Action"] == "securityhub:BatchImportFindings"
    assert sub(import_findings["Resource"], **{"AWS::AccountId": MEMBER_ACCOUNT}) == (
        f"arn:aws:securityhub:*:{MEMBER_ACCOUNT}:product/{MEMBER_ACCOUNT}/default")


def _is_key_root_admin(statement: dict) -> bool:
    principal = statement.get("Principal")
    aws = principal.get("AWS") if isinstance(principal, dict) else None
    return isinstance(aws, dict) and aws.get("Fn::Sub", "").endswith(":root") and statement["Action"] == "kms:*"


def test_forwarder_allows_no_wildcard_actions_and_resource_star_only_where_the_main_template_does():
    main_star = {
        action for role in ("ConfigRuleEvaluatorRole", "ConfigRuleEvaluatorIdentityCenterPolicy")
        for statement in statements(MAIN_RESOURCES[role])
        if statement.get("Resource") == "*" for action in as_list(statement["Action"])
    }
    offending = []
    for name, resource in FORWARDER_RESOURCES.items():
        for statement in statements(resource):
            if statement["Effect"] != "Allow" or _is_key_root_admin(statement):
                continue
            assert "NotAction" not in statement, name
            for action in as_list(statement["Action"]):
                if action == "*" or action.endswith(":*"):
                    offending.append(f"{name}: {action}")
                in_key_policy = resource["Type"] == "AWS::KMS::Key"  # "*" there means the key itself
                if "*" in as_list(statement.get("Resource")) and not in_key_policy and action not in main_star:
                    offending.append(f"{name}: {action} on Resource '*'")
    assert not offending, offending


def test_forwarder_dead_letter_queue_is_encrypted_and_takes_only_this_stacks_rules():
    queue = FORWARDER_RESOURCES["DeadLetterQueue"]["Properties"]
    assert queue["KmsMasterKeyId"] == {"Fn::If": ["UseKmsKey", {"Ref": "DeadLetterKey"}, {"Ref": "AWS::NoValue"}]}
    assert queue["SqsManagedSseEnabled"] == {"Fn::If": ["UseKmsKey", {"Ref": "AWS::NoValue"}, True]}
    assert FORWARDER["Parameters"]["DeadLetterQueueEncryption"]["Default"] == "KMS"
    allow, deny = FORWARDER_RESOURCES["DeadLetterQueuePolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert allow["Principal"] == {"Service": "events.amazonaws.com"} and allow["Action"] == "sqs:SendMessage"
    pattern = sub(allow["Condition"]["ArnLike"]["aws:SourceArn"], CentralStackName="identity-auditor")
    for rule in forwarder_rules().values():
        name = sub(rule["Properties"]["Name"], CentralStackName="identity-auditor")
        assert fnmatch.fnmatch(f"arn:aws:events:us-east-1:{CENTRAL_ACCOUNT}:rule/{name}", pattern)
    assert deny["Effect"] == "Deny" and deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    key_statements = FORWARDER_RESOURCES["DeadLetterKey"]["Properties"]["KeyPolicy"]["Statement"]
    (service,) = [statement for statement in key_statements if not _is_key_root_admin(statement)]
    assert service["Principal"] == {"Service": "events.amazonaws.com"}
    assert service["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}


# -- the central bus (template.yaml, OrganizationId) ----------------------------------------------------------------


def test_central_bus_policy_admits_only_the_organization():
    policy = MAIN_RESOURCES["OrganizationEventBusPolicy"]
    assert policy["Condition"] == "HasOrganization"
    assert policy["Properties"]["EventBusName"] == CENTRAL_BUS
    statement = policy["Properties"]["Statement"]
    assert statement["Effect"] == "Allow"
    assert statement["Action"] == "events:PutEvents"
    assert statement["Resource"] == {"Fn::GetAtt": ["OrganizationEventBus", "Arn"]}
    assert statement["Condition"] == {"StringEquals": {"aws:PrincipalOrgID": {"Ref": "OrganizationId"}}}
    assert MAIN_RESOURCES["OrganizationEventBus"]["Condition"] == "HasOrganization"
    assert MAIN["Parameters"]["OrganizationId"]["AllowedPattern"] == "^$|^o-[a-z0-9]{10,32}$"


def central_rules() -> dict[str, dict]:
    return {name: res for name, res in MAIN_RESOURCES.items()
            if res["Type"] == "AWS::Events::Rule" and res["Properties"].get("EventBusName") == CENTRAL_BUS}


def test_central_bus_has_one_rule_per_route_with_the_registrys_pattern():
    assert set(central_rules()) == {central_logical_id(route) for route in ROUTES}
    for route in ROUTES:
        rule = MAIN_RESOURCES[central_logical_id(route)]
        assert rule["Condition"] == "HasOrganization"  # every route: the forwarders chose the regions
        assert canonical(rule["Properties"]["EventPattern"]) == canonical(route.pattern)
        assert rule["Properties"]["State"] == "ENABLED"
        (target,) = rule["Properties"]["Targets"]
        assert target["Arn"] == {"Fn::GetAtt": ["CloudTrailEvaluatorFunction", "Arn"]}
        assert target["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": ["DeadLetterQueue", "Arn"]}}
        assert target["RetryPolicy"] == {"MaximumRetryAttempts": 185, "MaximumEventAgeInSeconds": 86400}


def test_central_bus_rules_may_invoke_the_evaluator_and_use_the_dead_letter_queue():
    bus = sub(MAIN_RESOURCES["OrganizationEventBus"]["Properties"]["Name"], **{"AWS::StackName": "identity-auditor"})
    [permission] = [s for s in statements(MAIN_RESOURCES["CloudTrailEvaluatorResourcePolicy"]) if s["Effect"] == "Allow"]
    assert permission["Principal"] == {"Service": "events.amazonaws.com"}
    assert permission["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
    allowed = sub(permission["Condition"]["ArnLike"]["aws:SourceArn"], **{"AWS::StackName": "identity-auditor"})
    (queue_statement,) = [statement for statement in statements(MAIN_RESOURCES["DeadLetterQueuePolicy"])
                          if statement["Effect"] == "Allow" and statement["Action"] == "sqs:SendMessage"
                          and statement["Principal"] == {"Service": "events.amazonaws.com"}]
    dead_letters = sub(queue_statement["Condition"]["ArnLike"]["aws:SourceArn"], **{"AWS::StackName": "identity-auditor"})
    for rule in central_rules().values():
        name = sub(rule["Properties"]["Name"], **{"AWS::StackName": "identity-auditor"})
        arn = f"arn:aws:events:us-east-1:{CENTRAL_ACCOUNT}:rule/{bus}/{name}"
        assert fnmatch.fnmatch(arn, allowed), arn
        assert fnmatch.fnmatch(arn, dead_letters), arn  # the bus name starts with the stack name


# -- the StackSet ---------------------------------------------------------------------------------------------------


def test_stack_set_deploys_the_forwarder_service_managed_to_the_ous_and_regions_of_the_parameters():
    stack_set = MAIN_RESOURCES["ForwarderStackSet"]
    assert stack_set["Condition"] == "DeployForwarders"
    properties = stack_set["Properties"]
    assert properties["TemplateURL"] == "forwarder.yaml" and FORWARDER_PATH.is_file()
    assert properties["PermissionModel"] == "SERVICE_MANAGED"
    assert properties["AutoDeployment"] == {"Enabled": True, "RetainStacksOnAccountRemoval": False}
    assert properties["CallAs"] == {"Ref": "StackSetCallAs"}
    assert MAIN["Parameters"]["StackSetCallAs"]["AllowedValues"] == ["DELEGATED_ADMIN", "SELF"]
    assert "CAPABILITY_NAMED_IAM" in properties["Capabilities"]  # the member role's fixed name
    (group,) = properties["StackInstancesGroup"]
    assert group["DeploymentTargets"] == {"OrganizationalUnitIds": {"Ref": "OrganizationalUnitIds"}}
    assert group["Regions"] == {"Ref": "ForwarderRegions"}
    preferences = properties["OperationPreferences"]
    assert preferences["RegionConcurrencyType"] == "PARALLEL"
    assert 0 < preferences["FailureTolerancePercentage"] < preferences["MaxConcurrentPercentage"] <= 100


def test_stack_set_passes_every_forwarder_parameter_it_needs():
    passed = {item["ParameterKey"]: item["ParameterValue"]
              for item in MAIN_RESOURCES["ForwarderStackSet"]["Properties"]["Parameters"]}
    forwarder_parameters = FORWARDER["Parameters"]
    assert set(passed) <= set(forwarder_parameters)
    assert {name for name, spec in forwarder_parameters.items() if "Default" not in spec} <= set(passed)
    assert passed["CentralEventBusArn"] == {"Fn::GetAtt": ["OrganizationEventBus", "Arn"]}
    assert passed["CentralAccountId"] == {"Ref": "AWS::AccountId"}
    assert passed["CentralStackName"] == {"Ref": "AWS::StackName"}
    for name in ("GlobalEventsRegion", "IdentityCenterRegion", "MemberRoleName"):
        assert passed[name] == {"Ref": name}
    assert passed["DeadLetterQueueEncryption"] == {"Ref": "ForwarderDeadLetterQueueEncryption"}
    assert MAIN["Parameters"]["ForwarderDeadLetterQueueEncryption"]["AllowedValues"] == \
        FORWARDER["Parameters"]["DeadLetterQueueEncryption"]["AllowedValues"]


@pytest.mark.parametrize("ous,regions,organization,expected", [
    ("", "", "", False),
    ("ou-ab12-cdef3456", "us-east-1,eu-west-1", "o-a1b2c3d4e5", True),
    ("ou-ab12-cdef3456", "", "o-a1b2c3d4e5", False),
    ("", "us-east-1", "o-a1b2c3d4e5", False),
])
def test_stack_set_is_created_only_with_the_organization_its_ous_and_regions(ous, regions, organization, expected):
    params = defaults(MAIN, OrganizationalUnitIds=ous.split(","), ForwarderRegions=regions.split(","),
                      OrganizationId=organization)
    assert ("ForwarderStackSet" in created(MAIN, params)) == expected


SAM_PYTHON = ROOT / ".venv-sam" / "bin" / "python"
EXPORT = textwrap.dedent("""
    import json, sys
    from samcli.lib.package.artifact_exporter import CloudFormationStackSetResource, Template
    from samcli.lib.package.uploaders import Uploaders

    class Bucket:  # records the upload instead of calling S3
        uploaded = []
        def upload(self, path, key):
            self.uploaded.append(path)
            return f"s3://example-bucket/{key}"
        def to_path_style_s3_url(self, key, version=None):
            return f"https://s3.us-east-1.amazonaws.com/example-bucket/{key}"

    bucket = Bucket()
    template = Template("template.yaml", sys.argv[1], Uploaders(bucket, None), None,
                        resources_to_export=frozenset([CloudFormationStackSetResource]))
    exported = template.export()
    print(json.dumps({"url": exported["Resources"]["ForwarderStackSet"]["Properties"]["TemplateURL"],
                      "uploaded": bucket.uploaded}))
""")


@pytest.mark.skipif(not SAM_PYTHON.exists(), reason="needs the SAM CLI virtualenv (.venv-sam: make sam-venv)")
def test_sam_deploy_uploads_forwarder_yaml_as_the_stack_sets_template():
    """`sam deploy` / `sam package` export a local TemplateURL of an AWS::CloudFormation::StackSet: the
    StackSet gets the forwarder as uploaded to the deployment bucket (run with SAM CLI's own exporter)."""
    environment = {**os.environ, "SAM_CLI_TELEMETRY": "0", "AWS_EC2_METADATA_DISABLED": "true"}
    result = subprocess.run([str(SAM_PYTHON), "-c", EXPORT, str(ROOT)], capture_output=True, text=True,
                            timeout=120, env=environment, check=True)
    exported = json.loads(result.stdout.strip().splitlines()[-1])
    assert exported["uploaded"] == [str(FORWARDER_PATH)]
    assert exported["url"].startswith("https://s3.us-east-1.amazonaws.com/example-bucket/")
    assert exported["url"].endswith(".template")


# -- state rules across the organisation and the auditor's side of the member role -----------------------------------


@pytest.mark.parametrize("rule", [rule for rule in REGISTRY.state_rules() if rule.meta.state.scope != "identity_center"],
                         ids=lambda rule: rule.meta.id)
def test_organization_config_rule_mirrors_the_account_rule(rule):
    account = MAIN_RESOURCES[config_rule_logical_id(rule.meta.id)]
    organization = MAIN_RESOURCES[organization_config_rule_logical_id(rule.meta.id)]
    assert account["Condition"] == "DeployAccountConfigRules"
    assert organization["Condition"] == "DeployOrganizationConfigRules"
    assert organization["DependsOn"] == "ConfigRuleEvaluatorOrganizationPermission"
    metadata = organization["Properties"]["OrganizationCustomRuleMetadata"]
    assert metadata["LambdaFunctionArn"] == account["Properties"]["Source"]["SourceIdentifier"]
    assert json.loads(metadata["InputParameters"]) == account["Properties"]["InputParameters"] == {"ruleId": rule.meta.id}
    details = account["Properties"]["Source"]["SourceDetails"]
    assert sorted(metadata["OrganizationConfigRuleTriggerTypes"]) == sorted(detail["MessageType"] for detail in details)
    assert metadata.get("MaximumExecutionFrequency") == next(
        (detail["MaximumExecutionFrequency"] for detail in details if "MaximumExecutionFrequency" in detail), None)
    assert metadata.get("ResourceTypesScope") == account["Properties"].get("Scope", {}).get("ComplianceResourceTypes")
    longest = "a" * 27  # the documented limit for ConfigRulesScope=organization
    assert len(sub(organization["Properties"]["OrganizationConfigRuleName"], **{"AWS::StackName": longest})) <= 64


@pytest.mark.parametrize("rule", [rule for rule in REGISTRY.state_rules() if rule.meta.state.scope == "identity_center"],
                         ids=lambda rule: rule.meta.id)
def test_identity_center_rules_run_once_in_this_stack_never_as_organisation_rules(rule):
    """The periodic sweep of the instance runs once, here; a rule also triggered by changes (reserved-role drift)
    gets an organisation rule with the change triggers only, so a role changed in any account is judged."""
    account = MAIN_RESOURCES[config_rule_logical_id(rule.meta.id)]
    assert account["Condition"] == "DeployIdentityCenterRules"
    messages = [detail["MessageType"] for detail in account["Properties"]["Source"]["SourceDetails"]]
    state = rule.meta.state
    if not state.change_triggered:
        assert organization_config_rule_logical_id(rule.meta.id) not in MAIN_RESOURCES
        assert messages == ["ScheduledNotification"]
        return
    changes = ["ConfigurationItemChangeNotification", "OversizedConfigurationItemChangeNotification"]
    assert messages == ["ScheduledNotification", *changes]
    assert account["Properties"]["Scope"] == {"ComplianceResourceTypes": [state.change_type]}
    organization = MAIN_RESOURCES[organization_config_rule_logical_id(rule.meta.id)]
    assert organization["Condition"] == "DeployOrganizationIdentityCenterRules"
    metadata = organization["Properties"]["OrganizationCustomRuleMetadata"]
    assert metadata["OrganizationConfigRuleTriggerTypes"] == changes and "MaximumExecutionFrequency" not in metadata
    assert metadata["ResourceTypesScope"] == [state.change_type]


def test_config_evaluator_may_be_invoked_by_config_in_the_organizations_accounts():
    permission = MAIN_RESOURCES["ConfigRuleEvaluatorOrganizationPermission"]
    assert permission["Condition"] == "DeployOrganizationConfigRules"
    properties = permission["Properties"]
    assert properties["Principal"] == "config.amazonaws.com"
    assert properties["FunctionName"] == {"Fn::GetAtt": ["ConfigRuleEvaluatorFunction", "Arn"]}
    assert properties["Action"] == "lambda:InvokeFunction"


def test_config_evaluator_assumes_the_member_role_only_in_accounts_of_the_organization():
    (assume,) = [statement["Fn::If"] for statement in _policy(MAIN_RESOURCES["ConfigRuleEvaluatorRole"], "read-identity-state")
                 if "Fn::If" in statement]
    condition, statement, otherwise = assume
    assert condition == "HasOrganization" and otherwise == {"Ref": "AWS::NoValue"}
    assert statement["Action"] == "sts:AssumeRole"
    assert sub(statement["Resource"], MemberRoleName="identity-auditor-member") == (
        "arn:aws:iam::*:role/identity-auditor-member")
    assert statement["Condition"] == {"StringEquals": {"aws:ResourceOrgID": {"Ref": "OrganizationId"}}}


def test_functions_learn_the_member_role_only_in_an_organization_deployment():
    variable = MAIN["Globals"]["Function"]["Environment"]["Variables"]["MEMBER_ROLE_NAME"]
    assert evaluate(variable, MAIN, defaults(MAIN)) == ""
    assert evaluate(variable, MAIN, defaults(MAIN, OrganizationId="o-a1b2c3d4e5")) == "identity-auditor-member"


# -- the defaults keep today's single-account deployment -------------------------------------------------------------


ORGANIZATION_ONLY = {"AWS::Events::EventBus", "AWS::Events::EventBusPolicy", "AWS::CloudFormation::StackSet",
                     "AWS::Config::OrganizationConfigRule"}


def test_defaults_create_no_organization_resource_and_keep_the_account_config_rules():
    params = defaults(MAIN)
    made = created(MAIN, params)
    organization = {name for name, res in MAIN_RESOURCES.items()
                    if res["Type"] in ORGANIZATION_ONLY or name in central_rules()
                    or name == "ConfigRuleEvaluatorOrganizationPermission"}
    assert organization and not organization & made
    assert {config_rule_logical_id(rule.meta.id) for rule in REGISTRY.state_rules()
            if rule.meta.state.scope != "identity_center"} <= made
    # Identity Center posture runs only where it is administered: DeployIdentityCenterRules=true
    assert not {config_rule_logical_id(rule.meta.id) for rule in REGISTRY.state_rules()
                if rule.meta.state.scope == "identity_center"} & made
    with_center = created(MAIN, {**params, "DeployIdentityCenterRules": "true"})
    assert {config_rule_logical_id(rule.meta.id) for rule in REGISTRY.state_rules()} <= with_center
    assert set(evaluator_rules(MAIN)) <= made  # us-east-1, the default GlobalEventsRegion and IdentityCenterRegion


def test_organization_settings_that_cannot_work_are_refused_before_deployment():
    rules = MAIN["Rules"]
    scope = rules["OrganizationRulesNeedTheOrganization"]
    assert scope["RuleCondition"] == {"Fn::Equals": [{"Ref": "ConfigRulesScope"}, "organization"]}
    assert scope["Assertions"][0]["Assert"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "OrganizationId"}, ""]}]}
    forwarders = rules["ForwardersNeedTheOrganizationAndRegions"]
    asserted = [assertion["Assert"] for assertion in forwarders["Assertions"]]
    assert {"Fn::Not": [{"Fn::Equals": [{"Ref": "OrganizationId"}, ""]}]} in asserted
    assert {"Fn::Not": [{"Fn::Contains": [{"Ref": "ForwarderRegions"}, ""]}]} in asserted
    # IAM events and the member role live in GlobalEventsRegion, Identity Center events in its region
    assert {"Fn::Contains": [{"Ref": "ForwarderRegions"}, {"Ref": "GlobalEventsRegion"}]} in asserted
    assert {"Fn::Contains": [{"Ref": "ForwarderRegions"}, {"Ref": "IdentityCenterRegion"}]} in asserted


def test_the_reader_role_reads_what_the_member_role_reads_and_writes_nothing():
    """`audit-account --organization` from the central account: the reader role exists only when principals are
    named, trusts exactly them (central account, ArnLike on their ARNs) and has the member role's read statements
    without config:PutEvaluations and without the Security Hub import."""
    reader, member = FORWARDER_RESOURCES["AuditReaderRole"], FORWARDER_RESOURCES["MemberRole"]
    assert reader["Condition"] == "CreateAuditReaderRole"
    assert FORWARDER["Conditions"]["CreateAuditReaderRole"] == {
        "Fn::And": [{"Condition": "CreateMemberRole"}, {"Condition": "HasAuditReaders"}]}
    assert reader["Properties"]["RoleName"] == {"Fn::Sub": "${MemberRoleName}-reader"}
    (trust,) = reader["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"AWS": {"Fn::Sub": "arn:${AWS::Partition}:iam::${CentralAccountId}:root"}}
    assert trust["Condition"] == {"ArnLike": {"aws:PrincipalArn": {"Ref": "AuditReaderPrincipalArns"}}}
    member_reads = _policy(member, "read-identity-state")
    expected = [dict(statement, Action=[action for action in statement["Action"] if action != "config:PutEvaluations"])
                if isinstance(statement["Action"], list) else statement for statement in member_reads]
    assert _policy(reader, "read-identity-state") == expected
    assert _policy(reader, "read-identity-center") == _policy(member, "read-identity-center")
    names = {policy["PolicyName"] for policy in reader["Properties"]["Policies"]}
    assert names == {"read-identity-state", "read-identity-center"}
    writes = [action for policy in reader["Properties"]["Policies"] for statement in policy["PolicyDocument"]["Statement"]
              for action in (statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]])
              if not action.split(":")[1].startswith(("Get", "List", "Describe", "Generate"))]
    assert writes == []
    # the main stack passes the principals on to every stack instance
    stackset = MAIN_RESOURCES["ForwarderStackSet"]["Properties"]["Parameters"]
    assert {"ParameterKey": "AuditReaderPrincipalArns",
            "ParameterValue": {"Fn::Join": [",", {"Ref": "AuditReaderPrincipalArns"}]}} in stackset
