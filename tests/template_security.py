"""Security checks over a CloudFormation/SAM template held as plain data (see support.load_template).

Each ``*_problems(template)`` returns what is wrong, one line per problem, so that a test asserts an empty
list and a negative test asserts the problem a mutation causes. The checks go by resource type, never by
logical id: a resource added later is checked like the ones there now. They understand the long form of
the intrinsics (``Ref``, ``Fn::GetAtt``, ``Fn::Sub``, ``Fn::If``), as load_template and the SAM transform
produce it.
"""

from __future__ import annotations

import fnmatch
import functools
import json
import os
import re
import subprocess
from collections.abc import Iterator

import pytest
from support import ROOT

NO_VALUE = {"Ref": "AWS::NoValue"}
OWN_SCOPE_KEYS = {"aws:sourcearn", "aws:sourceaccount"}  # what restricts a service or "*" principal
KEY_SERVICE_SCOPE_KEYS = OWN_SCOPE_KEYS | {
    "kms:encryptioncontext:aws:logs:arn",
    "kms:viaservice",
    "kms:calleraccount",
}


# -- reading the template -----------------------------------------------------------------------------


def of_type(template: dict, *types: str) -> dict[str, dict]:
    return {name: res for name, res in template.get("Resources", {}).items() if res.get("Type") in types}


def props(resource: dict) -> dict:
    return resource.get("Properties") or {}


def listed(value) -> list:
    """A value as a list, with Fn::If expanded to both branches and AWS::NoValue dropped."""
    items = value if isinstance(value, list) else [value]
    result = []
    for item in items:
        if isinstance(item, dict) and set(item) == {"Fn::If"}:
            result.extend(listed(item["Fn::If"][1]) + listed(item["Fn::If"][2]))
        elif item != NO_VALUE and item is not None:
            result.append(item)
    return result


_SUB_NAME = re.compile(r"\$\{([A-Za-z0-9]+)(?:\.[A-Za-z0-9.]+)?\}")


def refs(node) -> set[str]:
    """Logical ids (not pseudo parameters) that node refers to through Ref, Fn::GetAtt or Fn::Sub."""
    found: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "Ref" and isinstance(value, str):
                found.add(value)
            elif key == "Fn::GetAtt":
                found.add(value[0] if isinstance(value, list) else str(value).split(".")[0])
            elif key == "Fn::Sub":
                text, variables = (value[0], value[1]) if isinstance(value, list) else (value, {})
                found |= {name for name in _SUB_NAME.findall(text) if name not in variables}
                found |= refs(variables)
            else:
                found |= refs(value)
    elif isinstance(node, list):
        for item in node:
            found |= refs(item)
    return {name for name in found if not name.startswith("AWS::")}


def own_keys(template: dict, node) -> set[str]:
    """The template's KMS keys that node names (directly or through one of the template's aliases)."""
    keys = set(of_type(template, "AWS::KMS::Key"))
    aliases = {
        name: refs(props(res).get("TargetKeyId"))
        for name, res in of_type(template, "AWS::KMS::Alias").items()
    }
    named = refs(node)
    return (named & keys) | {key for alias in named & set(aliases) for key in aliases[alias] & keys}


def statements(node) -> Iterator[dict]:
    """Every IAM policy statement (a mapping with Effect and Action/NotAction) anywhere under node."""
    if isinstance(node, dict):
        if "Effect" in node and ("Action" in node or "NotAction" in node):
            yield node
        for value in node.values():
            yield from statements(value)
    elif isinstance(node, list):
        for value in node:
            yield from statements(value)


def actions_match(statement: dict, action: str) -> bool:
    return any(
        isinstance(pattern, str) and fnmatch.fnmatchcase(action.lower(), pattern.lower())
        for pattern in listed(statement.get("Action"))
    )


def condition_keys(statement: dict) -> dict[str, object]:
    """Condition key (lower case) -> its value(s), whatever the operator."""
    result: dict[str, object] = {}
    for operator in (statement.get("Condition") or {}).values():
        if isinstance(operator, dict):
            result.update({key.lower(): value for key, value in operator.items()})
    return result


def mentions_own_account(template: dict, value) -> bool:
    """The value names this account (AWS::AccountId) or one of the template's own resources."""
    return "AWS::AccountId" in json.dumps(value) or bool(refs(value) & set(template.get("Resources", {})))


def checkov_skip_reason(resource: dict, check_id: str) -> str:
    for skip in ((resource.get("Metadata") or {}).get("checkov") or {}).get("skip") or []:
        if isinstance(skip, dict) and skip.get("id") == check_id:
            return str(skip.get("comment") or "").strip()
    return ""


def principals(statement: dict) -> tuple[list, list, list]:
    """(wildcards, AWS principals, service principals) of a statement; anything else counts as AWS."""
    principal = statement.get("Principal")
    if principal == "*":
        return ["*"], [], []
    principal = principal if isinstance(principal, dict) else {"AWS": principal}
    aws = listed(principal.get("AWS"))
    others = [value for key, value in principal.items() if key not in ("AWS", "Service")]
    return (
        [p for p in aws if p == "*"],
        [p for p in aws if p != "*"] + others,
        listed(principal.get("Service")),
    )


# -- encryption at rest -------------------------------------------------------------------------------


def branches(node) -> list:
    """The values node can take: both branches of an Fn::If (recursively), else node itself."""
    if isinstance(node, dict) and set(node) == {"Fn::If"}:
        return branches(node["Fn::If"][1]) + branches(node["Fn::If"][2])
    return [node]


def _key_problem(template: dict, name: str, label: str, node) -> list[str]:
    """Every value the property can take (each Fn::If branch) names one of the template's keys."""
    return [
        f"{name}: {label} is {json.dumps(value)}, not the auditor's KMS key"
        for value in branches(node)
        if not own_keys(template, value)
    ]


def topic_encryption_problems(template: dict) -> list[str]:
    return [
        problem
        for name, res in of_type(template, "AWS::SNS::Topic").items()
        for problem in _key_problem(template, name, "KmsMasterKeyId", props(res).get("KmsMasterKeyId"))
    ]


def queue_encryption_problems(template: dict) -> list[str]:
    """Customer-managed key only: SqsManagedSseEnabled (SSE-SQS) is not the auditor's key."""
    return [
        problem
        for name, res in of_type(template, "AWS::SQS::Queue").items()
        for problem in _key_problem(template, name, "KmsMasterKeyId", props(res).get("KmsMasterKeyId"))
    ]


def table_encryption_problems(template: dict) -> list[str]:
    problems = []
    for name, res in of_type(template, "AWS::DynamoDB::Table").items():
        sse = props(res).get("SSESpecification") or {}
        if sse.get("SSEEnabled") not in (True, "true") or sse.get("SSEType") != "KMS":
            problems.append(f"{name}: SSESpecification is not SSEEnabled with SSEType KMS")
        problems += _key_problem(template, name, "SSESpecification.KMSMasterKeyId", sse.get("KMSMasterKeyId"))
    return problems


def log_group_problems(template: dict) -> list[str]:
    """Encrypted with the auditor's key, or a written reason (a checkov CKV_AWS_158 skip with a comment)."""
    return [
        f"{name}: no KmsKeyId of the auditor's key and no written reason (checkov skip CKV_AWS_158 + comment)"
        for name, res in of_type(template, "AWS::Logs::LogGroup").items()
        if not own_keys(template, props(res).get("KmsKeyId")) and not checkov_skip_reason(res, "CKV_AWS_158")
    ]


def bucket_problems(template: dict) -> list[str]:
    problems = []
    for name, res in of_type(template, "AWS::S3::Bucket").items():
        rules = (props(res).get("BucketEncryption") or {}).get("ServerSideEncryptionConfiguration") or []
        defaults = [rule.get("ServerSideEncryptionByDefault") or {} for rule in listed(rules)]
        if not any(
            d.get("SSEAlgorithm") in ("aws:kms", "aws:kms:dsse")
            and all(own_keys(template, value) for value in branches(d.get("KMSMasterKeyID")))
            for d in defaults
        ):
            problems.append(f"{name}: not encrypted with SSE-KMS under the auditor's key")
        block = props(res).get("PublicAccessBlockConfiguration") or {}
        flags = ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets")
        if not all(block.get(flag) in (True, "true") for flag in flags):
            problems.append(f"{name}: PublicAccessBlockConfiguration does not set all of {', '.join(flags)}")
    return problems


def function_environment_problems(template: dict) -> list[str]:
    """Environment variables under the auditor's key, which the function's role can use."""
    defaults = (template.get("Globals") or {}).get("Function") or {}
    problems = []
    for name, res in of_type(template, "AWS::Serverless::Function", "AWS::Lambda::Function").items():
        key = props(res).get("KmsKeyArn", defaults.get("KmsKeyArn") if "Serverless" in res["Type"] else None)
        problems += _key_problem(template, name, "KmsKeyArn", key)
        for role in refs(props(res).get("Role")) & set(of_type(template, "AWS::IAM::Role")):
            for missing in _missing_key_actions(template, role, own_keys(template, key), ["kms:Decrypt"]):
                problems.append(f"{name}: its role {role} lacks {missing} (environment encryption)")
    return problems


# -- resource policies --------------------------------------------------------------------------------

POLICIES = {  # resource type -> (policy type, property naming the resources, action that must need TLS)
    "AWS::SNS::Topic": ("AWS::SNS::TopicPolicy", "Topics", "sns:Publish"),
    "AWS::SQS::Queue": ("AWS::SQS::QueuePolicy", "Queues", "sqs:SendMessage"),
    "AWS::S3::Bucket": ("AWS::S3::BucketPolicy", "Bucket", "s3:GetObject"),
}


def _denies_without_tls(statement: dict, action: str) -> bool:
    secure = {
        key.lower(): value for key, value in ((statement.get("Condition") or {}).get("Bool") or {}).items()
    }
    wildcards, _, _ = principals(statement)
    return (
        statement.get("Effect") == "Deny"
        and wildcards == ["*"]
        and actions_match(statement, action)
        and str(secure.get("aws:securetransport")).lower() == "false"
    )


def principal_problems(template: dict, where: str, statement: dict) -> list[str]:
    """An Allow in a resource policy admits only the template's own roles, or services (or "*") restricted by
    aws:SourceArn / aws:SourceAccount to this account or its resources."""
    if statement.get("Effect") != "Allow":
        return []
    sid = f"{where} {statement.get('Sid', '(no Sid)')}"
    wildcards, aws, services = principals(statement)
    roles = set(of_type(template, "AWS::IAM::Role"))
    problems = [
        f"{sid}: principal {json.dumps(principal)} is not one of the template's roles (Fn::GetAtt <Role>.Arn)"
        for principal in aws
        if not (
            isinstance(principal, dict)
            and "Fn::GetAtt" in principal
            and refs(principal)
            and refs(principal) <= roles
        )
    ]
    if wildcards or services:
        scope = {key: value for key, value in condition_keys(statement).items() if key in OWN_SCOPE_KEYS}
        if not scope or not all(mentions_own_account(template, value) for value in scope.values()):
            problems.append(
                f"{sid}: {wildcards + services} without aws:SourceArn/aws:SourceAccount of this account"
            )
    return problems


def resource_policy_problems(template: dict, resource_type: str) -> list[str]:
    """Every resource of the type has a policy; each policy denies requests without TLS and allows only
    the auditor's own roles and account-restricted services."""
    policy_type, targets_property, action = POLICIES[resource_type]
    problems, covered = [], set()
    for name, policy in of_type(template, policy_type).items():
        covered |= refs(props(policy).get(targets_property))
        document = props(policy).get("PolicyDocument") or {}
        if not any(_denies_without_tls(statement, action) for statement in statements(document)):
            problems.append(
                f"{name}: no Deny of {action} (or broader) for '*' when aws:SecureTransport is false"
            )
        for statement in statements(document):
            problems += principal_problems(template, name, statement)
    problems += [
        f"{name}: no {policy_type} (nothing denies requests without TLS)"
        for name in of_type(template, resource_type)
        if name not in covered
    ]
    return problems


def topic_publisher_listing_problems(template: dict) -> list[str]:
    """A topic policy that names its publishing roles names all of them: every role of the template whose
    identity policy allows sns:Publish on the topic (so the list never goes stale)."""
    problems = []
    for name, policy in of_type(template, "AWS::SNS::TopicPolicy").items():
        named = {
            role
            for statement in statements(props(policy).get("PolicyDocument"))
            if statement.get("Effect") == "Allow" and actions_match(statement, "sns:Publish")
            for principal in principals(statement)[1]
            for role in refs(principal)
        }
        if not named:
            continue
        for topic in refs(props(policy).get("Topics")):
            for role in sorted(_roles_allowed(template, "sns:Publish", topic) - named):
                problems.append(
                    f"{name}: {role} publishes to {topic} but is not among the policy's principals"
                )
    return problems


# -- the key policy and the roles that use the key ----------------------------------------------------


def role_statements(template: dict, role: str) -> list[dict]:
    """Allow statements of a role: its inline policies and the template's policies attached to it."""
    found = list(statements(props(template["Resources"][role]).get("Policies")))
    for res in of_type(template, "AWS::IAM::Policy", "AWS::IAM::ManagedPolicy").values():
        if role in refs(props(res).get("Roles")):
            found += list(statements(props(res).get("PolicyDocument")))
    return [statement for statement in found if statement.get("Effect") == "Allow"]


def _allows(template: dict, statement: dict, action: str, resource: str) -> bool:
    targets = listed(statement.get("Resource"))
    return actions_match(statement, action) and (
        "*" in targets or resource in refs(targets) or resource in own_keys(template, targets)
    )


def _roles_allowed(template: dict, action: str, resource: str) -> set[str]:
    return {
        role
        for role in of_type(template, "AWS::IAM::Role")
        if any(
            _allows(template, statement, action, resource) for statement in role_statements(template, role)
        )
    }


def _missing_key_actions(template: dict, role: str, keys: set[str], actions: list[str]) -> list[str]:
    return [
        f"{action} on {key}"
        for key in sorted(keys)
        for action in actions
        if not any(_allows(template, statement, action, key) for statement in role_statements(template, role))
    ]


def encrypted_by(template: dict) -> dict[str, set[str]]:
    """Topic and queue logical id -> the auditor's keys that encrypt it."""
    return {
        name: own_keys(template, props(res).get("KmsMasterKeyId"))
        for name, res in of_type(template, "AWS::SNS::Topic", "AWS::SQS::Queue").items()
    }


def role_key_problems(template: dict) -> list[str]:
    """A role that writes to an encrypted topic or queue can make data keys with its key and decrypt them;
    a role that reads an encrypted queue can decrypt."""
    uses = [
        ("sns:Publish", ["kms:GenerateDataKey", "kms:Decrypt"]),
        ("sqs:SendMessage", ["kms:GenerateDataKey", "kms:Decrypt"]),
        ("sqs:ReceiveMessage", ["kms:Decrypt"]),
    ]
    problems = []
    for resource, keys in encrypted_by(template).items():
        for action, needed in uses:
            for role in sorted(_roles_allowed(template, action, resource)):
                problems += [
                    f"{role}: {action} on {resource} but no {m}"
                    for m in _missing_key_actions(template, role, keys, needed)
                ]
    return problems


def required_key_services(template: dict) -> dict[str, dict[str, list[str]]]:
    """Key -> service -> why: the AWS services that must be able to use each of the auditor's keys."""
    needed: dict[str, dict[str, list[str]]] = {}
    encrypted = encrypted_by(template)

    def need(keys: set[str], service: str, why: str) -> None:
        for key in keys:
            reasons = needed.setdefault(key, {}).setdefault(service, [])
            if why not in reasons:
                reasons.append(why)

    for name, res in of_type(template, "AWS::Logs::LogGroup").items():
        need(own_keys(template, props(res).get("KmsKeyId")), "logs", name)
    for name, res in of_type(template, "AWS::CloudWatch::Alarm").items():
        for prop in ("AlarmActions", "OKActions", "InsufficientDataActions"):
            for target in refs(props(res).get(prop)) & set(encrypted):
                need(encrypted[target], "cloudwatch.amazonaws.com", f"{name} -> {target}")
    for name, res in of_type(template, "AWS::Events::Rule").items():
        for target in listed(props(res).get("Targets")):
            for dest in refs([target.get("Arn"), target.get("DeadLetterConfig")]) & set(encrypted):
                need(encrypted[dest], "events.amazonaws.com", f"{name} -> {dest}")
    for name, res in of_type(template, "AWS::SNS::Subscription").items():
        if props(res).get("Protocol") == "sqs":
            for queue in refs(props(res).get("Endpoint")) & set(encrypted):
                need(encrypted[queue], "sns.amazonaws.com", f"{name} -> {queue}")
    return needed


def _service_names(statement: dict) -> list[str]:
    """Service principals as text (a !Sub "logs.${AWS::Region}.${AWS::URLSuffix}" becomes "logs....")."""
    names = []
    for service in principals(statement)[2]:
        text = service.get("Fn::Sub") if isinstance(service, dict) else service
        names.append(text if isinstance(text, str) else json.dumps(service))
    return names


def _log_group_glob(statement: dict) -> str | None:
    pattern = condition_keys(statement).get("kms:encryptioncontext:aws:logs:arn")
    text = pattern.get("Fn::Sub") if isinstance(pattern, dict) else pattern
    return text.split(":log-group:", 1)[1] if isinstance(text, str) and ":log-group:" in text else None


def key_policy_problems(template: dict) -> list[str]:
    """No open principal; every service statement restricted to this account or its resources; every
    service that uses a key (logs, CloudWatch alarms, EventBridge, SNS to encrypted queues) may use it."""
    problems = []
    needed = required_key_services(template)
    for key, res in of_type(template, "AWS::KMS::Key").items():
        allows = [s for s in statements(props(res).get("KeyPolicy")) if s.get("Effect") == "Allow"]
        for statement in allows:
            sid = f"{key} {statement.get('Sid', '(no Sid)')}"
            wildcards, aws, services = principals(statement)
            scope = {k: v for k, v in condition_keys(statement).items() if k in KEY_SERVICE_SCOPE_KEYS}
            if (wildcards or services) and not (
                scope and all(mentions_own_account(template, v) for v in scope.values())
            ):
                problems.append(
                    f"{sid}: {wildcards + services} without a condition restricting it to this account"
                )
            problems += [
                f"{sid}: principal {json.dumps(p)} is not of this account"
                for p in aws
                if not mentions_own_account(template, p)
            ]
        for service, why in sorted(needed.get(key, {}).items()):
            grants = [
                s
                for s in allows
                if any(n == service or n.startswith(f"{service}.") for n in _service_names(s))
            ]
            usable = [
                s
                for s in grants
                if actions_match(s, "kms:GenerateDataKey") and actions_match(s, "kms:Decrypt")
            ]
            if not usable:
                problems.append(
                    f"{key}: {service} cannot use it (kms:GenerateDataKey*, kms:Decrypt); needed by {why}"
                )
            if service == "logs":
                for group in why:
                    name = props(template["Resources"][group]).get("LogGroupName")
                    text = name.get("Fn::Sub") if isinstance(name, dict) else name
                    globs = [g for g in map(_log_group_glob, usable) if g]
                    if not isinstance(text, str) or not any(fnmatch.fnmatchcase(text, g) for g in globs):
                        problems.append(
                            f"{key}: no logs statement whose kms:EncryptionContext:aws:logs:arn "
                            f"covers {group} ({json.dumps(name)})"
                        )
    return problems


def destination_problems(template: dict) -> list[str]:
    """Lambda sends an asynchronous invocation's record to its destination with the function's role: that role
    may write to the (encrypted) queue or topic (role_key_problems then asks for the key)."""
    functions = of_type(template, "AWS::Serverless::Function", "AWS::Lambda::Function")
    configs = [(name, props(res).get("EventInvokeConfig")) for name, res in functions.items()]
    configs += [
        (function, props(res))
        for res in of_type(template, "AWS::Lambda::EventInvokeConfig").values()
        for function in refs(props(res).get("FunctionName")) & set(functions)
    ]
    encrypted = encrypted_by(template)
    problems = []
    for function, config in configs:
        roles = refs(props(functions[function]).get("Role")) & set(of_type(template, "AWS::IAM::Role"))
        for when, destination in ((config or {}).get("DestinationConfig") or {}).items():
            for target in refs((destination or {}).get("Destination")) & set(encrypted):
                topic = template["Resources"][target]["Type"] == "AWS::SNS::Topic"
                action = "sns:Publish" if topic else "sqs:SendMessage"
                problems += [
                    f"{function}: {when} destination {target}, but its role {role} has no {action} on it"
                    for role in sorted(roles - _roles_allowed(template, action, target))
                ]
    return problems


# -- the SAM-transformed template -----------------------------------------------------------------------

SAM_PYTHON = ROOT / ".venv-sam" / "bin" / "python"
TRANSFORM = ROOT / "scripts" / "sam_transform.py"
def sam_transformed(path=ROOT / "template.yaml") -> dict:
    """The SAM-transformed template (offline), or a skip when the SAM virtualenv is not installed
    (`make test` installs it; `make unit` alone may not have it)."""
    if not SAM_PYTHON.exists():
        pytest.skip("no .venv-sam (run `make sam-venv`): the SAM-transformed template cannot be made")
    env = {
        **os.environ,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
        "SAM_CLI_TELEMETRY": "0",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    }
    result = subprocess.run(
        [str(SAM_PYTHON), str(TRANSFORM), str(path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, f"the SAM transform failed:\n{result.stderr[-4000:]}"
    return json.loads(result.stdout)


@functools.cache
def transformed_template() -> str:
    """template.yaml after the SAM transform, as JSON text (made once per test run)."""
    return json.dumps(sam_transformed())
