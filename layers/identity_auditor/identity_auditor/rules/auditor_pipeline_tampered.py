"""Someone other than the auditor's own CloudFormation deployment changed, disabled or deleted part of the auditor.

Decisions (spec/rules.md §A third wave; request shapes: Lambda from the real invictus records
``UpdateFunctionCode20150331v2`` (``functionName`` an ARN, ``functionArn`` with a version in the response),
``AddPermission20150331v2``, ``RemovePermission20150331v2`` and ``DeleteFunction20150331`` (``functionName`` a
name); SSM ``PutParameter`` / ``DeleteParameter`` from the real invictus records (``name``; the value is
``HIDDEN_DUE_TO_SECURITY_REASONS``); EventBridge ``PutRule`` from the EventBridge User Guide's CloudTrail example
(``name``, ``state``, ``eventPattern``, response ``ruleArn``), the other EventBridge calls with the API's names
in CloudTrail's lowerCamel case (``name`` / ``rule``, ``eventBusName``, ``ids``, ``targets``: no public record
shows them); SNS ``DeleteTopic`` (``topicArn``) from the SNS Developer Guide's CloudTrail example and
``Unsubscribe`` (``subscriptionArn``) from a public test event, ``SetTopicAttributes`` /
``SetSubscriptionAttributes`` with the API's ``attributeName`` / ``attributeValue``; SQS ``SetQueueAttributes``
(``queueUrl``, ``attributes``) from the SQS Developer Guide's CloudTrail example, ``DeleteQueue`` / ``PurgeQueue``
with ``queueUrl``; AppConfig ``StartDeployment`` with the API's ``applicationId``, ``environmentId``,
``configurationProfileId``, ``configurationVersion`` (response: ``deploymentNumber``); Lambda
``DeleteEventSourceMapping`` names only the mapping's UUID in the request, so its ``functionArn`` /
``eventSourceArn`` are read from the response (the API returns the mapping); Lambda ``PutResourcePolicy`` /
``DeleteResourcePolicy`` (the function's whole resource policy, whose Deny keeps everyone but the stack's rules
from invoking the evaluator) with the API's ``resourceArn`` and ``policy`` (no public record shows them); Lambda
``PublishVersion``, ``CreateAlias``, ``UpdateAlias`` (``functionName``, ``name``, ``functionVersion``) and
``CreateFunctionUrlConfig`` / ``UpdateFunctionUrlConfig`` (``functionName``, ``authType``) with the API's names:
the stack publishes no version, alias or URL of its functions, and each has a resource policy of its own, without
the function's Deny, through which a forged event could be handed in; CloudTrail leaves ``Environment`` out
of ``UpdateFunctionConfiguration`` records (Lambda Developer Guide), so a change of environment variables is seen
but not described; every key is looked up case-insensitively):
- Lambda event names carry the API version (``UpdateFunctionCode20150331v2``, ``PutFunctionConcurrency20171031``):
  the operation is the name without it (``base_event_name``).
- "The auditor's own resources" are what the deployment passes in ``ctx.auditor``
  (:class:`~identity_auditor.model.deployment.AuditorResources`). The record's identifiers are checked against
  it: the rule (its ARN, built from ``name`` and ``eventBusName`` when the response has none: a rule on one of the
  auditor's buses counts too), the function (``functionName`` as a name, ARN, partial ARN or with a qualifier;
  for an event source mapping also its queue), the topic (a subscription belongs to its topic), the queue (its
  URL), the SSM parameter (its name) and the AppConfig configuration profile (any environment: a deployment of the
  auditor's policy profile, or of any profile of an application the deployment lists). With an empty
  ``ctx.auditor`` (the CLI, which does not know the deployment) nothing is the auditor's and the rule never fires.
  A successful call whose record names no resource (``requestParameters`` null) is not a finding: nothing says it
  touched the auditor.
- The stack's own deployment is a call CloudFormation made (``userIdentity.invokedBy`` or ``sourceIPAddress``
  ``cloudformation.amazonaws.com``; StackSets deploy the forwarder the same way). CloudTrail does not name the
  stack, so when the deployment lists its deployers (``AuditorResources.deployers``: the stack's service role, the
  pipeline role) a CloudFormation call by anyone else (another stack adding a Lambda permission or a queue
  policy to the auditor's resources) is a finding. A session of the CloudFormation service role *without*
  ``invokedBy`` is that role's credentials used directly, not CloudFormation: a finding, unless the policy
  allow-lists the role for this rule (the engine applies ``rules.auditor_pipeline_tampered.allow``; use it also
  for the people who legitimately edit the policy parameter or deploy its AppConfig profile).
- Success only (no ``errorCode``): a failed ``DisableRule`` changed nothing. Identity Center's own calls never
  touch these resources and are skipped. CRITICAL always: every listed call can blind the auditor (rules,
  functions, event source mappings, topics, queues), silence its alerts (unsubscribing, filter policies, purges)
  or rewrite its policy (allow-lists and suppressions), and ``AddPermission`` / ``UpdateFunctionCode`` can plant
  code in a function that reads every identity event.
- A KMS ``CreateGrant`` that an AWS service made for itself while serving a call (``invokedBy`` the service, the
  grantee that service's own principal: DynamoDB for the de-duplication table, Lambda for the functions'
  encrypted settings) is what deploying and running the stack does: quiet. A grant to any other principal is a
  finding, whoever asked for it.
- The resource is the rule, function, topic, queue, parameter or profile, as an ARN built from the record when it
  gives only a name. Attribute values (policies) are clipped to 1,024 characters in the details.
"""

from __future__ import annotations

from typing import Any

from identity_auditor.model.cloudtrail import CloudTrailRecord, base_event_name
from identity_auditor.model.contract import Context, RuleMeta, Severity, Trigger, Violation
from identity_auditor.model.deployment import queue_arn

CLOUDFORMATION = "cloudformation.amazonaws.com"
_EVENTS = ("DisableRule", "DeleteRule", "RemoveTargets", "PutRule", "PutTargets")
_LAMBDA = (
    "DeleteFunction", "UpdateFunctionCode", "UpdateFunctionConfiguration", "PutFunctionConcurrency",
    "DeleteEventSourceMapping", "UpdateEventSourceMapping", "RemovePermission", "AddPermission",
    "PutResourcePolicy", "DeleteResourcePolicy", "PublishVersion", "CreateAlias", "UpdateAlias",
    "CreateFunctionUrlConfig", "UpdateFunctionUrlConfig",
)
# the stack's AWS Config rules (a rule's input parameters or its results decide what is compliant) and its
# CloudWatch alarms (the operations pages: heartbeat, forged findings, errors), named "<stack>-..." by the template
_CONFIG = ("PutConfigRule", "DeleteConfigRule", "DeleteEvaluationResults", "PutOrganizationConfigRule",
           "DeleteOrganizationConfigRule")
_ALARMS = ("DisableAlarmActions", "DeleteAlarms", "SetAlarmState", "PutMetricAlarm")
_SNS = ("Unsubscribe", "DeleteTopic", "SetTopicAttributes", "SetSubscriptionAttributes")
_SQS = ("DeleteQueue", "SetQueueAttributes", "PurgeQueue")
_SSM = ("PutParameter", "DeleteParameter")
# the auditor's keys: its data key (queues, topics, logs, environments) and the key whose MACs prove a finding
# came from the auditor; a key policy rewritten, the key disabled or deleted, or a grant to someone else is
# how its Deny statements are lifted (forged findings) or the auditor blinded
_KMS = ("PutKeyPolicy", "CreateGrant", "DisableKey", "ScheduleKeyDeletion", "DisableKeyRotation")
_MAX_VALUE = 1024

META = RuleMeta(
    id="auditor_pipeline_tampered",
    title="Identity auditor's own resources tampered with",
    severity=Severity.CRITICAL,
    trigger=Trigger("events.amazonaws.com", _EVENTS),
    also=(
        Trigger("lambda.amazonaws.com", _LAMBDA),
        Trigger("sns.amazonaws.com", _SNS),
        Trigger("sqs.amazonaws.com", _SQS),
        Trigger("ssm.amazonaws.com", _SSM),
        Trigger("appconfig.amazonaws.com", ("StartDeployment",)),
        Trigger("kms.amazonaws.com", _KMS),
        Trigger("config.amazonaws.com", _CONFIG),
        Trigger("monitoring.amazonaws.com", _ALARMS),
    ),
    resource_type="Other",
    finding_types=("TTPs/Defense Evasion", "TTPs/Persistence"),
    why=(
        "The auditor only sees what its EventBridge rules route to its functions and only alerts through its "
        "queues and topics; changing them outside its CloudFormation stack is how an intruder silences it, and "
        "new code or permissions on its functions run with everything they read."
    ),
    remediation=(
        "Treat the caller as compromised until the change is explained. Restore the auditor by redeploying its "
        "stack (sam deploy, or aws cloudformation detect-stack-drift to see what changed), review the caller's "
        "other activity and the findings of the time the auditor was impaired, and protect the stack's resources "
        "with a service control policy that lets only the deployment role change them."
    ),
    remediation_url="https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/using-cfn-stack-drift.html",
    uses=("auditor",),  # without the deployment's resources (the CLI) it can never fire, and is not run
)


def evaluate(record: CloudTrailRecord, ctx: Context) -> Violation | None:
    if not record.succeeded or record.by_identity_center or not ctx.auditor.known:
        return None
    identity = record.user_identity
    if CLOUDFORMATION in (identity.invoked_by, record.source_ip_address) and ctx.auditor.deploys(*identity.arns):
        return None
    operation = base_event_name(record.event_source, record.event_name)
    target = _READERS.get(record.event_source, lambda *_: None)(record, operation)
    if target is None or not any(ctx.auditor.owns(identifier) for identifier in target.identifiers):
        return None
    via = " through CloudFormation" if CLOUDFORMATION in (identity.invoked_by, record.source_ip_address) else ""
    details = {key: value for key, value in target.details.items() if value}
    if via:  # CloudFormation, but not driven by one of the deployers the deployment lists
        details["InvokedBy"] = CLOUDFORMATION
    return Violation(
        description=(
            f"{identity.display_name}{via} {target.action}, one of identity-auditor's own resources, in account "
            f"{record.account_id} ({record.aws_region or 'unknown region'}): {target.impact}."
        ),
        resource_id=target.resource_id,
        resource_type=target.resource_type,
        details=details,
        subject=target.name,
    )


class _Target:
    """What a record changed: how to say it, why it matters, and the identifiers to match the auditor's against."""

    def __init__(self, *, action: str, impact: str, name: str, resource_id: str, resource_type: str,
                 identifiers: list[Any], details: dict[str, str]):
        self.action, self.impact, self.name = action, impact, name
        self.resource_id, self.resource_type = resource_id, resource_type
        self.identifiers = [value for value in identifiers if isinstance(value, str) and value]
        self.details = details


def _text(value: Any) -> str:
    """A request value as a detail string (lists joined, long values clipped)."""
    if value is None:
        return ""
    if isinstance(value, list):
        value = ", ".join(str(item) for item in value)
    elif isinstance(value, bool):
        value = str(value).lower()
    text = str(value)
    return text if len(text) <= _MAX_VALUE else text[: _MAX_VALUE - 1] + "…"


def _string(record: CloudTrailRecord, key: str, *, response: bool = False) -> str:
    value = record.response(key) if response else record.request(key)
    return value.strip() if isinstance(value, str) else ""


def _arn_base(record: CloudTrailRecord, service: str, account: str | None = None) -> str:
    return f"arn:{record.partition}:{service}:{record.aws_region or ''}:{account or record.account_id}:"


# -- EventBridge --------------------------------------------------------------------------------------------------

_RULE_VERBS = {
    "DisableRule": ("disabled the EventBridge rule", "the events it routes no longer reach the auditor"),
    "DeleteRule": ("deleted the EventBridge rule", "the events it routed no longer reach the auditor"),
    "RemoveTargets": ("removed targets from the EventBridge rule",
                      "the events it matches may no longer reach the auditor"),
    "PutRule": ("created or changed the EventBridge rule",
                "its pattern and state decide which events the auditor sees"),
    "PutTargets": ("changed the targets of the EventBridge rule",
                   "the events it matches may now go elsewhere, or nowhere"),
}


def _events(record: CloudTrailRecord, operation: str) -> _Target | None:
    name = _string(record, "rule" if operation in ("RemoveTargets", "PutTargets") else "name")
    bus = _string(record, "eventBusName")
    bus_name = bus.rsplit("/", 1)[-1] if bus.startswith("arn:") else bus
    response_arn = _string(record, "ruleArn", response=True)
    if not name and not response_arn:
        return None
    path = f"{bus_name}/{name}" if bus_name and bus_name != "default" else name
    rule_arn = response_arn or f"{_arn_base(record, 'events')}rule/{path}"
    verb, impact = _RULE_VERBS.get(operation, ("changed the EventBridge rule", "it routes the auditor's events"))
    state = _string(record, "state")
    if operation == "PutRule" and state.upper() == "DISABLED":
        impact = "it is now disabled, so the events it routes no longer reach the auditor"
    targets = record.request("targets")
    target_arns = [t.get("arn") or t.get("Arn") for t in targets if isinstance(t, dict)] if isinstance(
        targets, list) else []
    details = {"RuleName": name or rule_arn.rsplit("/", 1)[-1], "RuleArn": rule_arn, "EventBusName": bus,
               "State": state, "EventPattern": _text(record.request("eventPattern")),
               "TargetIds": _text(record.request("ids")), "TargetArns": _text([arn for arn in target_arns if arn])}
    return _Target(action=f"{verb} {name or rule_arn}", impact=impact, name=name or rule_arn,
                   resource_id=rule_arn, resource_type="Other", identifiers=[response_arn, rule_arn],
                   details=details)


# -- Lambda -------------------------------------------------------------------------------------------------------

def _function_arn(record: CloudTrailRecord, value: str) -> str:
    """A full, unqualified function ARN from a name, a partial ARN or a full ARN (with or without a qualifier)."""
    if value.startswith("arn:"):
        parts = value.split(":")
        return ":".join(parts[:7]) if len(parts) >= 7 else value
    if ":function:" in value:
        account, _, rest = value.partition(":function:")
        return f"{_arn_base(record, 'lambda', account)}function:{rest.split(':', 1)[0]}"
    return f"{_arn_base(record, 'lambda')}function:{value.split(':', 1)[0]}"


def _lambda(record: CloudTrailRecord, operation: str) -> _Target | None:
    requested = _string(record, "functionName") or _string(record, "resourceArn")
    response_arn = _string(record, "functionArn", response=True)
    source_arn = _string(record, "eventSourceArn", response=True)
    mapping = _string(record, "uuid") or _string(record, "uuid", response=True)
    function_arn = _function_arn(record, response_arn or requested) if (response_arn or requested) else ""
    if not function_arn and not source_arn:
        return None
    function = function_arn.rsplit(":", 1)[-1] if function_arn else "(unknown function)"
    details = {"FunctionName": function, "FunctionArn": function_arn}
    if operation == "UpdateEventSourceMapping":
        enabled = _text(record.request("enabled"))
        details.update(EventSourceMappingUuid=mapping, EventSourceArn=source_arn, Enabled=enabled,
                       State=_text(record.response("state")))
        action = f"changed the event source mapping {mapping or '(unknown)'} of the Lambda function {function}"
        impact = ("it is disabled: queued findings are no longer published" if enabled == "false"
                  else "how the function receives what the queue holds changed")
    elif operation == "DeleteEventSourceMapping":
        details.update(EventSourceMappingUuid=mapping, EventSourceArn=source_arn)
        source = f" from {source_arn.rsplit(':', 1)[-1]}" if source_arn else ""
        action = (f"deleted the event source mapping {mapping or '(unknown)'}{source} of the Lambda function "
                  f"{function}")
        impact = "the function no longer receives what the queue holds (queued findings are not published)"
    elif operation == "AddPermission":
        principal = _text(record.request("principal"))
        details.update(StatementId=_text(record.request("statementId")), Principal=principal,
                       Action=_text(record.request("action")), SourceArn=_text(record.request("sourceArn")),
                       SourceAccount=_text(record.request("sourceAccount")),
                       PrincipalOrgId=_text(record.request("principalOrgID")))
        action = f"granted {principal or 'a principal'} permission on the Lambda function {function}"
        impact = "someone else can now invoke or manage a function that reads every identity event"
    elif operation == "RemovePermission":
        details["StatementId"] = _text(record.request("statementId"))
        statement = details["StatementId"] or "(unknown)"
        action = f"removed the permission statement {statement} from the Lambda function {function}"
        impact = "the service that invokes it (EventBridge, AWS Config) may no longer be allowed to"
    elif operation == "PutResourcePolicy":
        details["Policy"] = _text(record.request("policy"))
        action = f"replaced the resource policy of the Lambda function {function}"
        impact = ("its Deny may no longer keep others from invoking it: a forged event would be evaluated and "
                  "paged, a forged heartbeat would hide a broken pipeline")
    elif operation in ("PublishVersion", "CreateAlias", "UpdateAlias"):
        details.update(AliasName=_text(record.request("name")), FunctionVersion=_text(record.request("functionVersion")
                       or record.response("version")))
        what = "published a version" if operation == "PublishVersion" else "created or changed an alias"
        action = f"{what} of the Lambda function {function}"
        impact = ("a version or alias has a resource policy of its own, without the function's Deny: whoever may "
                  "invoke it can hand the auditor forged events")
    elif operation in ("CreateFunctionUrlConfig", "UpdateFunctionUrlConfig"):
        details["AuthType"] = _text(record.request("authType"))
        action = f"gave the Lambda function {function} a function URL"
        impact = "the function can now be invoked over HTTPS, outside the stack's EventBridge rules"
    elif operation == "DeleteResourcePolicy":
        action = f"deleted the resource policy of the Lambda function {function}"
        impact = "no rule may invoke it any more, and nothing keeps others from handing it forged events"
    elif operation == "PutFunctionConcurrency":
        reserved = _text(record.request("reservedConcurrentExecutions"))
        details["ReservedConcurrentExecutions"] = reserved
        action = f"set the reserved concurrency of the Lambda function {function} to {reserved or '(unknown)'}"
        impact = ("the function is throttled and no longer runs" if reserved == "0"
                  else "the function may be throttled while events arrive")
    elif operation == "UpdateFunctionCode":
        details.update(S3Bucket=_text(record.request("s3Bucket")), S3Key=_text(record.request("s3Key")),
                       ImageUri=_text(record.request("imageUri")),
                       CodeSha256=_text(record.response("codeSha256")))
        action = f"replaced the code of the Lambda function {function}"
        impact = "the auditor now runs code that was not deployed with its stack"
    elif operation == "UpdateFunctionConfiguration":
        changed = sorted(key for key in (record.request_parameters or {})
                         if key not in ("functionName", "fullyQualifiedArn"))
        details.update(ChangedSettings=", ".join(changed), Role=_text(record.request("role")),
                       Handler=_text(record.request("handler")), Layers=_text(record.request("layers")))
        action = f"changed the configuration of the Lambda function {function}"
        impact = "its role, handler, layers or settings are no longer those its stack deployed"
    else:  # DeleteFunction
        action = f"deleted the Lambda function {function}"
        impact = "the events it evaluated or the findings it published are no longer handled"
    identifiers = [requested, response_arn, function_arn]
    if operation in ("DeleteEventSourceMapping", "UpdateEventSourceMapping"):
        identifiers.append(source_arn)
    return _Target(action=action, impact=impact, name=function, resource_id=function_arn or source_arn,
                   resource_type="AwsLambdaFunction" if function_arn else "AwsSqsQueue",
                   identifiers=identifiers, details=details)


# -- SNS, SQS, SSM, AppConfig ---------------------------------------------------------------------------------------

def _sns(record: CloudTrailRecord, operation: str) -> _Target | None:
    subscription = _string(record, "subscriptionArn")
    topic_arn = _string(record, "topicArn")
    if not topic_arn and subscription.count(":") >= 6:  # a subscription ARN is <topic ARN>:<subscription id>
        topic_arn = subscription.rsplit(":", 1)[0]
    if not topic_arn and not subscription:
        return None
    topic = topic_arn.rsplit(":", 1)[-1] if topic_arn else "(unknown topic)"
    attribute = _text(record.request("attributeName"))
    details = {"TopicArn": topic_arn, "SubscriptionArn": subscription, "AttributeName": attribute,
               "AttributeValue": _text(record.request("attributeValue"))}
    action, impact = {
        "Unsubscribe": (f"removed a subscription from the SNS topic {topic}",
                        "its alerts no longer reach that subscriber"),
        "DeleteTopic": (f"deleted the SNS topic {topic}", "the auditor's alerts no longer reach anyone"),
        "SetTopicAttributes": (f"changed the {attribute or 'attributes'} of the SNS topic {topic}",
                               "who may publish, subscribe or read its alerts, or their encryption, changed"),
        "SetSubscriptionAttributes": (f"changed the {attribute or 'attributes'} of a subscription to the SNS "
                                      f"topic {topic}", "a filter or delivery change can silence alerts"),
    }.get(operation, (f"changed the SNS topic {topic}", "it carries the auditor's alerts"))
    return _Target(action=action, impact=impact, name=topic, resource_id=topic_arn or subscription,
                   resource_type="AwsSnsTopic", identifiers=[subscription, topic_arn], details=details)


def _sqs(record: CloudTrailRecord, operation: str) -> _Target | None:
    url = _string(record, "queueUrl")
    if not url:
        return None
    arn = queue_arn(url) or url
    queue = url.rstrip("/").rsplit("/", 1)[-1]
    attributes = record.request("attributes")
    attributes = attributes if isinstance(attributes, dict) else {}
    details = {"QueueUrl": url, "QueueArn": arn if arn != url else "",
               "ChangedAttributes": ", ".join(sorted(attributes)),
               **{f"Attribute.{key}": _text(value) for key, value in sorted(attributes.items())
                  if key in ("Policy", "RedrivePolicy", "RedriveAllowPolicy", "KmsMasterKeyId")}}
    action, impact = {
        "DeleteQueue": (f"deleted the SQS queue {queue}", "the findings or failed events it held are lost"),
        "SetQueueAttributes": (f"changed the {details['ChangedAttributes'] or 'attributes'} of the SQS queue "
                               f"{queue}", "its access policy, retention or dead-letter handling is no longer "
                               "what its stack deployed"),
        "PurgeQueue": (f"purged the SQS queue {queue}", "every finding or failed event it held was deleted"),
    }.get(operation, (f"changed the SQS queue {queue}", "it carries the auditor's findings or failed events"))
    return _Target(action=action, impact=impact, name=queue, resource_id=arn, resource_type="AwsSqsQueue",
                   identifiers=[url, arn], details=details)


def _ssm(record: CloudTrailRecord, operation: str) -> _Target | None:
    name = _string(record, "name")
    if not name:
        return None
    arn = f"{_arn_base(record, 'ssm')}parameter{name if name.startswith('/') else '/' + name}"
    details = {"ParameterName": name, "ParameterArn": arn, "Type": _text(record.request("type")),
               "Overwrite": _text(record.request("overwrite")), "Version": _text(record.response("version"))}
    verb = "deleted" if operation == "DeleteParameter" else "wrote"
    return _Target(action=f"{verb} the SSM parameter {name}", name=name, resource_id=arn, resource_type="Other",
                   impact="it holds the auditor's organisation policy: allow-lists, suppressions and severities",
                   identifiers=[name, arn], details=details)


def _appconfig(record: CloudTrailRecord, operation: str) -> _Target | None:
    application = _string(record, "applicationId")
    profile = _string(record, "configurationProfileId")
    if not application or not profile:
        return None
    environment = _string(record, "environmentId")
    base = f"{_arn_base(record, 'appconfig')}application/{application}"
    profile_arn = f"{base}/configurationprofile/{profile}"
    version = _text(record.request("configurationVersion"))
    details = {"ApplicationId": application, "EnvironmentId": environment, "ConfigurationProfileId": profile,
               "ConfigurationProfileArn": profile_arn, "ConfigurationVersion": version,
               "DeploymentStrategyId": _text(record.request("deploymentStrategyId")),
               "DeploymentNumber": _text(record.response("deploymentNumber"))}
    return _Target(
        action=(f"deployed version {version or '(unknown)'} of the AppConfig configuration profile {profile} "
                f"(application {application}, environment {environment or '(unknown)'})"),
        impact="it holds the auditor's organisation policy: allow-lists, suppressions and severities",
        name=profile, resource_id=profile_arn, resource_type="Other", identifiers=[profile_arn], details=details)


def _config(record: CloudTrailRecord, operation: str) -> _Target | None:
    rule = record.request("configRule")
    name = (rule.get("configRuleName") if isinstance(rule, dict) else None) or _string(record, "configRuleName") \
        or _string(record, "organizationConfigRuleName")
    if not isinstance(name, str) or not name:
        return None
    parameters = _text(rule.get("inputParameters")) if isinstance(rule, dict) else ""
    action, impact = {
        "PutConfigRule": (f"changed the AWS Config rule {name}", "its input parameters, scope or function decide "
                          "what the auditor finds compliant"),
        "DeleteConfigRule": (f"deleted the AWS Config rule {name}", "the state it judged is no longer evaluated"),
        "DeleteEvaluationResults": (f"deleted the evaluation results of the AWS Config rule {name}",
                                    "its violations disappear from AWS Config until the next sweep"),
        "PutOrganizationConfigRule": (f"changed the AWS Config organisation rule {name}",
                                      "what every account's copy of the rule judges changed"),
        "DeleteOrganizationConfigRule": (f"deleted the AWS Config organisation rule {name}",
                                         "no account's state is judged by it any more"),
    }.get(operation, (f"changed the AWS Config rule {name}", "it judges identity state"))
    # the rule's name: its ARN (config-rule/config-rule-<id>) is not in the record
    return _Target(action=action, impact=impact, name=name, resource_id=name, resource_type="Other",
                   identifiers=[name], details={"ConfigRuleName": name, "InputParameters": parameters})


def _alarms(record: CloudTrailRecord, operation: str) -> _Target | None:
    names = record.request("alarmNames")
    names = [n for n in names if isinstance(n, str)] if isinstance(names, list) else []
    single = _string(record, "alarmName")
    names = names or ([single] if single else [])
    if not names:
        return None
    shown = ", ".join(names)
    action, impact = {
        "DisableAlarmActions": (f"disabled the actions of the CloudWatch alarm(s) {shown}",
                                "the auditor's own failures no longer reach operations"),
        "DeleteAlarms": (f"deleted the CloudWatch alarm(s) {shown}", "the auditor's own failures are no longer "
                         "watched"),
        "SetAlarmState": (f"set the state of the CloudWatch alarm {shown}", "a forced OK hides a real failure until "
                          "the next evaluation"),
        "PutMetricAlarm": (f"changed the CloudWatch alarm {shown}", "its threshold, missing-data policy or "
                           "actions decide whether operations hear of a failure"),
    }.get(operation, (f"changed the CloudWatch alarm(s) {shown}", "they watch the auditor"))
    arn = f"{_arn_base(record, 'cloudwatch')}alarm:{names[0]}"
    return _Target(action=action, impact=impact, name=names[0], resource_id=arn, resource_type="Other",
                   identifiers=names, details={"AlarmNames": shown,
                                               "StateValue": _text(record.request("stateValue"))})


_KEY_VERBS = {
    "PutKeyPolicy": ("rewrote the key policy of", "its Deny statements decide who can read the auditor's data and "
                     "who can sign findings as the auditor"),
    "CreateGrant": ("granted access to", "the grantee can use the key as the auditor does (a grant on the findings "
                    "key lets it sign forged findings)"),
    "DisableKey": ("disabled", "the auditor can no longer read or write its queues, topics and logs, or sign its "
                   "findings: alerts stop"),
    "ScheduleKeyDeletion": ("scheduled the deletion of", "once deleted, everything encrypted under it is lost and "
                            "the auditor stops; cancel it with aws kms cancel-key-deletion within the window"),
    "DisableKeyRotation": ("disabled the rotation of", "the key's material is no longer rotated yearly"),
}


def _service_grant(record: CloudTrailRecord, operation: str) -> bool:
    """A ``CreateGrant`` an AWS service made for itself while serving a call (``invokedBy`` the service, the
    grantee its own service principal, e.g. DynamoDB or Lambda encrypting the auditor's table or function settings
    with the auditor's key): what deploying and running the stack does, not a grant to someone."""
    invoked_by = (record.user_identity.invoked_by or "").lower()
    grantee = _string(record, "granteePrincipal").lower()
    service = invoked_by.removesuffix(".amazonaws.com")
    return (operation == "CreateGrant" and invoked_by.endswith(".amazonaws.com") and invoked_by != CLOUDFORMATION
            and bool(service) and grantee.startswith(f"{service}.") and grantee.endswith(".amazonaws.com"))


def _kms(record: CloudTrailRecord, operation: str) -> _Target | None:
    if _service_grant(record, operation):
        return None
    key = _string(record, "keyId")
    response_key = _string(record, "keyId", response=True)
    if not key and not response_key:
        return None
    key_arn = response_key if response_key.startswith("arn:") else (
        key if key.startswith("arn:") else f"{_arn_base(record, 'kms')}key/{key}")
    verb, impact = _KEY_VERBS.get(operation, ("changed", "it protects the auditor's data and findings"))
    details = {"KeyId": key, "KeyArn": key_arn, "PendingWindowInDays": _text(record.request("pendingWindowInDays")),
               "GranteePrincipal": _text(record.request("granteePrincipal")),
               "Operations": _text(record.request("operations")), "PolicyName": _text(record.request("policyName")),
               "Policy": _text(record.request("policy"))}
    return _Target(action=f"{verb} the KMS key {key_arn}", impact=impact, name=key_arn.rsplit("/", 1)[-1],
                   resource_id=key_arn, resource_type="AwsKmsKey", identifiers=[key_arn, response_key],
                   details=details)


_READERS = {
    "events.amazonaws.com": _events,
    "lambda.amazonaws.com": _lambda,
    "sns.amazonaws.com": _sns,
    "sqs.amazonaws.com": _sqs,
    "ssm.amazonaws.com": _ssm,
    "appconfig.amazonaws.com": _appconfig,
    "kms.amazonaws.com": _kms,
    "config.amazonaws.com": _config,
    "monitoring.amazonaws.com": _alarms,
}
