"""What the deployment knows about where it runs, beyond the organisation policy: its AWS organisation (the
zone of trust of spec §A), the types of Organizations policies named by id in a record, and the auditor's
own resources. The handlers (or the CLI) look these up before any rule runs and pass them in
:class:`~identity_auditor.model.contract.Context`, so the rules stay pure: a rule never calls AWS.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from fnmatch import fnmatchcase


@dataclass(frozen=True)
class Organization:
    """The AWS organisation the deployment belongs to, as far as it could read it.

    ``accounts`` are every account of the organisation (Organizations ``ListAccounts``) when ``problem``
    is ``None``; when they could not be read, ``problem`` says why (a finding repeats it, with how to widen
    the zone of trust) and ``accounts`` is empty. ``id`` is the organisation id (``o-…``), when known: a
    trust policy condition ``aws:PrincipalOrgID`` equal to it keeps a principal inside the zone."""

    id: str | None = None
    accounts: frozenset[str] = frozenset()
    problem: str | None = None

    @property
    def readable(self) -> bool:
        return self.problem is None


@dataclass(frozen=True)
class AuditorResources:
    """The auditor's own resources (its EventBridge rules and bus, functions, topics, queues, policy parameter and
    AppConfig profile), as the deployment names them, and who deploys them.

    ``arns``: exact ARNs (a Lambda ARN without its version or alias, a topic, queue, rule, event bus, SSM parameter,
    AppConfig application or configuration profile; an SQS queue URL is taken as its queue's ARN). An exact ARN
    owns what lies inside it: a topic its subscriptions, an event bus its rules, an AppConfig application its
    profiles and environments. ``names``: exact names in any account (a function, queue, topic or rule name, an
    SSM parameter name such as ``/identity-auditor/policy``). ``name_prefixes``: names starting with them, in any
    account (``<stack name>-``: the functions and rules, which the template names after the stack, the topics and
    queues, whose names CloudFormation generates as ``<stack name>-<logical id>-<suffix>``, and the forwarder's
    rules in member accounts). ``deployers``: ARN patterns (``fnmatch``) of the principals that deploy the stack
    through CloudFormation (its service role, or the pipeline or people that run ``sam deploy`` without one);
    empty: any call CloudFormation makes counts as the stack's own.

    Empty (the CLI, which does not know the deployment): nothing is one of the auditor's own resources.
    """

    arns: frozenset[str] = frozenset()
    names: frozenset[str] = frozenset()
    name_prefixes: tuple[str, ...] = ()
    deployers: tuple[str, ...] = ()
    # (application, configuration profile) of the AppConfig policy source, as configured (ids, which is what
    # records carry): matched only against AppConfig ARNs, in any account and region
    appconfig_profiles: frozenset[tuple[str, str]] = frozenset()
    _exact_arns: frozenset[str] = field(init=False, repr=False, compare=False, default=frozenset())
    _exact_names: frozenset[str] = field(init=False, repr=False, compare=False, default=frozenset())

    def __post_init__(self):
        object.__setattr__(self, "arns", frozenset(self.arns))
        object.__setattr__(self, "names", frozenset(self.names))
        object.__setattr__(self, "name_prefixes", tuple(self.name_prefixes))
        object.__setattr__(self, "deployers", tuple(self.deployers))
        arns: set[str] = set()
        names: set[str] = set()
        for entry in (*self.arns, *self.names):
            if not isinstance(entry, str) or not entry.strip():
                continue
            canonical = _canonical_arn(entry)
            if canonical:
                arns.add(canonical)
            else:
                names.add(_normal_name(entry))
        object.__setattr__(self, "_exact_arns", frozenset(arns))
        object.__setattr__(self, "_exact_names", frozenset(names))

    @property
    def known(self) -> bool:
        """The deployment named at least one resource (otherwise :meth:`owns` is always false)."""
        return bool(self._exact_arns or self._exact_names or any(self.name_prefixes) or self.appconfig_profiles)

    def owns(self, identifier: str | None) -> bool:
        """``identifier``, as a record names a resource, is (in) one of the auditor's resources. Understood: ARNs
        of any service (a Lambda ARN with a version or alias, an SNS subscription ARN ``<topic ARN>:<id>``, an
        EventBridge rule ARN ``rule/<bus>/<name>`` on a named bus, an SSM parameter ARN, AppConfig ARNs), an SQS
        queue URL, a partial Lambda ARN ``<account>:function:<name>``, a Lambda ``<name>:<qualifier>``, an SSM
        parameter name with or without its leading ``/``, and plain names."""
        if not identifier or not isinstance(identifier, str) or not self.known:
            return False
        if self.appconfig_profiles and ":appconfig:" in identifier:
            segments = identifier.split(":", 5)[-1].split("/")
            if len(segments) >= 4 and (segments[1], segments[3]) in self.appconfig_profiles:
                return True
        arns, names = _forms(identifier.strip())
        if arns & self._exact_arns or names & self._exact_names:
            return True
        prefixes = [prefix for prefix in self.name_prefixes if isinstance(prefix, str) and prefix]
        return any(name.startswith(prefix) for name in names for prefix in prefixes)

    def deploys(self, *caller_arns: str | None) -> bool:
        """A caller (its session and issuing role ARNs) is one of the stack's deployers: always true when the
        deployment named none."""
        if not self.deployers:
            return True
        return any(
            fnmatchcase(arn, pattern) for arn in caller_arns if arn for pattern in self.deployers if pattern
        )


def queue_arn(url: str | None) -> str | None:
    """The ARN of the SQS queue a queue URL names (``https://sqs.<region>.amazonaws.com/<account>/<name>``, the
    legacy ``https://<region>.queue.amazonaws.com/...`` and ``https://queue.amazonaws.com/...`` forms, and the
    China partition's ``amazonaws.com.cn``), or ``None`` when ``url`` is not one."""
    if not isinstance(url, str) or "://" not in url:
        return None
    host, _, path = url.strip().split("://", 1)[1].partition("/")
    segments = [segment for segment in path.split("/") if segment]
    if len(segments) != 2 or not segments[1]:
        return None
    account, name = segments
    labels = host.lower().split(".")
    region = next((label for label in labels if _REGION.fullmatch(label)), "us-east-1")
    partition = "aws-cn" if host.lower().endswith(".cn") else "aws-us-gov" if region.startswith("us-gov-") else "aws"
    return f"arn:{partition}:sqs:{region}:{account}:{name}"


_REGION = re.compile(r"[a-z]{2}(-[a-z]+)+-\d+", re.ASCII)


def _normal_name(name: str) -> str:
    """A name as :meth:`AuditorResources.owns` compares it: an SSM parameter path always with its leading ``/``."""
    name = name.strip()
    return "/" + name.lstrip("/") if "/" in name else name


def _canonical_arn(entry: str) -> str | None:
    """The ARN a deployment entry stands for (a Lambda ARN without its qualifier, a queue URL as its queue's ARN),
    or ``None`` for a name."""
    entry = entry.strip().rstrip("/")
    if entry.startswith("arn:"):
        parts = entry.split(":")
        if len(parts) >= 7 and parts[2] == "lambda" and parts[5] == "function":
            return ":".join(parts[:7])
        return entry
    return queue_arn(entry)


def _forms(identifier: str) -> tuple[set[str], set[str]]:
    """Every ARN and name under which the deployment may list the resource ``identifier`` names, or a resource
    that contains it."""
    value = identifier.rstrip("/")
    arns: set[str] = set()
    names: set[str] = set()
    if value.startswith("arn:"):
        parts = value.split(":", 5)
        if len(parts) < 6:
            return {value}, set()
        _, partition, service, region, account, resource = parts
        base = f"arn:{partition}:{service}:{region}:{account}:"
        arns.add(value)
        if service == "lambda" and resource.startswith("function:"):
            name = resource.split(":")[1]
            arns.add(f"{base}function:{name}")
            names.add(name)
        elif service == "sns":
            topic = resource.split(":", 1)[0]  # a subscription ARN is <topic ARN>:<subscription id>
            arns.add(base + topic)
            names.add(topic)
        elif service == "events":
            kind, _, path = resource.partition("/")
            segments = path.split("/")
            names.add(segments[-1])
            if kind == "rule" and len(segments) == 2:  # rule/<bus>/<rule>: a rule on a named bus
                arns.add(f"{base}event-bus/{segments[0]}")
                names.add(segments[0])
        elif service == "ssm" and resource.startswith("parameter/"):
            names.add(resource[len("parameter"):])  # the ARN of /a/b is ...:parameter/a/b
        elif service == "appconfig":  # application/<id>[/configurationprofile/<id> | /environment/<id>]
            segments = resource.split("/")
            arns.update(base + "/".join(segments[:end]) for end in range(2, len(segments), 2))
        else:
            names.add(re.split(r"[/:]", resource)[-1])
        return arns, {name for name in names if name}
    url_arn = queue_arn(value)
    if url_arn:
        return {url_arn}, {url_arn.rsplit(":", 1)[-1]}
    if ":function:" in value:  # a partial Lambda ARN: <account>:function:<name>[:<qualifier>]
        return set(), {value.split(":function:", 1)[1].split(":", 1)[0]}
    names.add(_normal_name(value))
    if ":" in value:  # a Lambda <name>:<version or alias>
        names.add(value.split(":", 1)[0])
    return arns, {name for name in names if name}


# Organizations policy types (DescribePolicy ``PolicySummary.Type``) that are guardrails.
GUARDRAIL_POLICY_TYPES = frozenset({"SERVICE_CONTROL_POLICY", "RESOURCE_CONTROL_POLICY"})


# Records naming an Organizations policy by id only, whose type the deployment looks up for the rules.
_POLICY_ID_EVENTS = frozenset({"DetachPolicy", "DeletePolicy"})


def policy_ids_to_look_up(event_source: str, event_name: str, request: dict | None) -> tuple[str, ...]:
    """The Organizations policy ids of a record whose type the rules need (``DetachPolicy`` /
    ``DeletePolicy`` carry only ``policyId``); ``()`` for any other record."""
    if event_source != "organizations.amazonaws.com" or event_name not in _POLICY_ID_EVENTS:
        return ()
    policy_id = (request or {}).get("policyId")
    return (policy_id,) if isinstance(policy_id, str) and policy_id else ()


CONFIG_RULE_SUFFIX = 36  # 64 characters of an organisation rule's name, less a stack name of 27 and "-"


def config_rule_suffix(rule_id: str) -> str:
    """The rule's part of its AWS Config rule names (``<stack>-<suffix>``): the id with dashes, or, for an id too
    long to fit beside a 27-character stack name, its first words and a short hash (the rule id itself is in the
    rule's InputParameters)."""
    name = rule_id.replace("_", "-")
    if len(name) <= CONFIG_RULE_SUFFIX:
        return name
    digest = hashlib.sha256(rule_id.encode()).hexdigest()[:6]
    return f"{name[:CONFIG_RULE_SUFFIX - 7].rstrip('-')}-{digest}"
