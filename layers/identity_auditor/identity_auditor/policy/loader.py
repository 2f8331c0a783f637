"""The organisation policy document: model and JSON Schema, parsing, error messages, and its sources.

A document is YAML or JSON (told apart by content), validated by :class:`PolicyDocument` (which
``policy.schema.json`` is generated from) and turned into the frozen
:class:`~identity_auditor.model.policy.OrgPolicy` the rules and the engine read. Any mistake raises
:class:`~identity_auditor.policy.document.PolicyError`, naming every bad key with its path and value:
``rules.sso_permission_set_changed.suppress[0].expires: 'next week' is not a date (YYYY-MM-DD)``.

:func:`load_policy` reads the SSM parameter or AppConfig profile the settings name, through Powertools
parameters (cached ``max_age`` seconds, imported only then: they import boto3), else the packaged
``default_policy.yaml``. Parsed documents are cached by a hash of their text. A bad document raises
(fail fast): the cold start, or the invocation that first sees a changed document, fails with the
message; EventBridge retries the event and finally parks it on the dead-letter queue, so nothing is
evaluated under a policy nobody meant.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from fnmatch import fnmatchcase
import sys
from datetime import date, datetime, timezone
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    ValidationError,
    create_model,
    field_validator,
    model_validator,
)

from identity_auditor.engine.registry import REGISTRY
from identity_auditor.model.contract import Severity
from identity_auditor.model.policy import ACCOUNT_PATTERN, ARN_PATTERN, DEFAULT_POLICY, OrgPolicy
from identity_auditor.policy.document import PolicyError, explain, from_document, summary

logger = logging.getLogger(__name__)

MAX_AGE_SECONDS = 300  # how long Powertools caches the fetched document
DEFAULT_SOURCE = "packaged default policy"
RULE_IDS = REGISTRY.policy_ids  # the rules, then the sequences (spec §E)
_TITLES = {**{rule.meta.id: rule.meta.title for rule in REGISTRY.rules},
           **{meta.id: f"{meta.title} (sequence)" for meta in REGISTRY.sequences}}


# -- the document model -----------------------------------------------------------------------------------

def _iso_date(value: Any) -> Any:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value  # from Python callers; our YAML loader keeps dates as text
    if isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value.strip()):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise ValueError("is not a date (YYYY-MM-DD)")


Text = Annotated[str, Field(min_length=1, json_schema_extra={"pattern": r"\S"})]  # the code strips blanks
Pattern = Text
ArnPattern = Annotated[str, Field(min_length=1, pattern=ARN_PATTERN)]
AccountId = Annotated[str, Field(pattern=ACCOUNT_PATTERN)]
IsoDate = Annotated[date, BeforeValidator(_iso_date)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class SuppressDocument(_Strict):
    model_config = ConfigDict(
        title="Suppression",
        json_schema_extra={"anyOf": [  # at least one pattern (the code says so in _needs_a_pattern)
            {"required": ["resource"], "properties": {"resource": {"type": "string"}}},
            {"required": ["principal"], "properties": {"principal": {"type": "string"}}},
        ]},
    )
    resource: Pattern | None = Field(None, description="Pattern matched against the finding's resource id "
                                                       "(ARN or name).")
    principal: ArnPattern | None = Field(None, description="ARN pattern matched against the caller's ARNs "
                                                           "(session ARN and issuing role ARN).")
    reason: Text = Field(description="Why these findings need no action.")
    owner: Text = Field(description="Who answers for the exception (person or team).")
    expires: IsoDate = Field(description="Last day (UTC) the suppression applies, YYYY-MM-DD; afterwards the "
                                         "findings are reported again and so is the expired entry.")

    @model_validator(mode="after")
    def _needs_a_pattern(self) -> SuppressDocument:
        if self.resource is None and self.principal is None:
            raise ValueError("needs a resource or a principal pattern (or both)")
        return self


# An assumed-role session ARN of a role nobody names: an allow pattern matching it with a session name taken from the
# pattern itself lets any role in (spec §C: a caller chooses its session name).
_PROBE = "arn:{partition}:sts::{account}:assumed-role/zz-any-role-zz/{session}"


def pins_no_role(pattern: str) -> bool:
    """The allow pattern can match the session of a role it does not name: what follows its last ``/`` (wildcards
    read as any text) taken as a session name of an unknown role, in the account the pattern names, matches it."""
    session = re.sub(r"\[[^\]]*\]|[*?]", "x", pattern.rsplit("/", 1)[-1]) or "x"
    fields = pattern.split(":")
    account = fields[4] if len(fields) > 5 and re.fullmatch(r"\d{12}", fields[4]) else "000000000000"
    return any(fnmatchcase(_PROBE.format(partition=partition, account=account, session=session), pattern)
               for partition in ("aws", "aws-cn", "aws-us-gov"))


class RuleSettings(_Strict):
    model_config = ConfigDict(title="RuleSettings")
    enabled: StrictBool = Field(True, description="false: the rule never runs.")
    severity: Severity | None = Field(
        None, description="Severity of every finding of this rule, replacing the rule's own.")
    allow: list[ArnPattern] = Field(
        default_factory=list,
        description="ARN patterns of trusted callers (e.g. the IaC pipeline role): no finding.")
    suppress: list[SuppressDocument] = Field(
        default_factory=list,
        description="Time-boxed exceptions: findings go to Security Hub as SUPPRESSED and page nobody.")

    @field_validator("allow")
    @classmethod
    def _allow_pins_a_role(cls, patterns: list[str]) -> list[str]:
        for pattern in patterns:
            if pins_no_role(pattern):
                raise ValueError(f"{pattern!r} matches the session of any role whose session name fits, and a caller "
                                 "chooses its session name: name the role (arn:aws:iam::<account>:role/<name>, or "
                                 "arn:aws:sts::<account>:assumed-role/<name>/<session>)")
        return patterns


Rules = create_model(
    "Rules",
    __base__=_Strict,
    **{rid: (RuleSettings | None, Field(None, description=_TITLES[rid])) for rid in RULE_IDS},
)


class SequenceSettings(_Strict):
    model_config = ConfigDict(title="SequenceSettings")
    window_minutes: StrictInt | None = Field(
        None, gt=0, le=7 * 24 * 60, description="How far apart the steps may be, in minutes (at most 7 days).")
    threshold: StrictInt | None = Field(None, gt=0, le=1000, description="How many steps a counting sequence needs.")


Sequences = create_model(
    "Sequences",
    __base__=_Strict,
    **{meta.id: (SequenceSettings | None, Field(None, description=f"{meta.title}: window "
                                                  f"{int(meta.window.total_seconds() // 60)} minutes"
                                                  + (f", threshold {meta.threshold}" if meta.threshold else "")))
       for meta in REGISTRY.sequences},
)


class PolicyDocument(_Strict):
    model_config = ConfigDict(title="identity-auditor organisation policy")
    version: Literal[1] = 1
    trusted_accounts: list[AccountId] = Field(
        default_factory=list, description="Accounts role trust policies may name; empty: not checked.")
    federated_accounts: list[AccountId] = Field(
        default_factory=list, description="Accounts whose people sign in through federation (no IAM users).")
    privileged_permission_sets: list[Pattern] = Field(
        default_factory=lambda: list(DEFAULT_POLICY.privileged_permission_sets),
        description="Permission set ARN or name patterns whose assignment is HIGH.")
    privileged_policies: list[ArnPattern] = Field(
        default_factory=lambda: list(DEFAULT_POLICY.privileged_policies),
        description="Managed policy ARN patterns that grant administrative power (iam_admin_policy_attached, "
                    "sts_federation_token_issued).")
    external_idp_scim: StrictBool = Field(
        DEFAULT_POLICY.external_idp_scim, description="An external IdP provisions Identity Center via SCIM.")
    break_glass_users: list[Pattern] = Field(
        default_factory=list, description="IAM user name or path patterns allowed to exist (break-glass).")
    access_key_max_age_days: StrictInt = Field(DEFAULT_POLICY.access_key_max_age_days, gt=0)
    credentials_unused_days: StrictInt = Field(DEFAULT_POLICY.credentials_unused_days, gt=0)
    max_session_hours: StrictInt = Field(
        DEFAULT_POLICY.max_session_hours, ge=1, le=12,
        description="Longest Identity Center permission set session, hours (sso_permission_set_session_too_long).")
    max_privileged_session_hours: StrictInt = Field(
        DEFAULT_POLICY.max_privileged_session_hours, ge=1, le=12,
        description="Longest session of a privileged permission set, hours.")
    saml_certificate_warning_days: StrictInt = Field(
        DEFAULT_POLICY.saml_certificate_warning_days, ge=0, le=3650,
        description="Report a SAML provider signing certificate this many days before it expires.")
    scim_group_external_ids: StrictBool = Field(
        DEFAULT_POLICY.scim_group_external_ids,
        description="The IdP sends externalId for groups too: identitystore_user_not_provisioned also reports "
                    "groups made by hand.")
    organization_analyzers: list[ArnPattern] = Field(
        default_factory=list,
        description="ARN patterns of the organisation's Access Analyzer analyzers, counted as present in member "
                    "accounts (access_analyzer_not_enabled).")
    rules: Rules = Field(default_factory=Rules, description="Per rule settings, by rule id.")  # type: ignore[valid-type]
    sequences: Sequences = Field(  # type: ignore[valid-type]
        default_factory=Sequences, description="Windows and thresholds of the sequences (spec §E), by sequence id.")


# -- text -> document -> policy -------------------------------------------------------------------------

def parse_document(text: str, source: str) -> Any:
    """JSON when the text is a JSON object, else YAML (safe loader); duplicate keys are errors."""
    text = text.lstrip("\ufeff")
    stripped = text.strip()
    if not stripped:
        return {}
    if stripped[0] == "{":
        try:
            return json.loads(stripped, object_pairs_hook=lambda pairs: _unique_pairs(pairs, source))
        except json.JSONDecodeError:
            pass  # a YAML flow mapping, or broken JSON: YAML reports where
    import yaml

    try:
        return yaml.load(text, Loader=_yaml_loader())  # noqa: S506 (a SafeLoader subclass)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise PolicyError(source, [f"YAML error{where}: {error.problem or error.context}"]) from None
    except yaml.YAMLError as error:
        raise PolicyError(source, [f"YAML error: {error}"]) from None


def _unique_pairs(pairs: list[tuple[str, Any]], source: str) -> dict:
    keys = [key for key, _ in pairs]
    for key in keys:
        if keys.count(key) > 1:
            raise PolicyError(source, [f"JSON error: duplicate key {key!r}"])
    return dict(pairs)


@cache
def _yaml_loader():
    import yaml

    class UniqueKeyLoader(yaml.SafeLoader):
        def construct_mapping(self, node, deep=False):
            self.flatten_mapping(node)
            seen = set()
            for key_node, _ in node.value:
                key = (key_node.tag, key_node.value) if isinstance(key_node, yaml.ScalarNode) else None
                if key in seen:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"duplicate key {key_node.value!r}", key_node.start_mark)
                seen.add(key)
            return super().construct_mapping(node, deep)

    # dates stay text, so that a bad one (2026-02-30) is reported by the model with its key
    UniqueKeyLoader.add_constructor("tag:yaml.org,2002:timestamp", lambda loader, node: node.value)
    return UniqueKeyLoader


def validate_document(data: Any, source: str) -> PolicyDocument:
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise PolicyError(source, [f"(document): a {type(data).__name__} is not a mapping of keys "
                                   f"({', '.join(PolicyDocument.model_fields)})"])
    try:
        return PolicyDocument.model_validate(data)
    except ValidationError as error:
        problems = [explain(item, rule_ids=RULE_IDS, known_keys=_keys_at) for item in error.errors()]
        raise PolicyError(source, problems) from None


def _keys_at(parent: tuple) -> list[str]:
    """The keys allowed in the mapping at ``parent`` (a location below ``rules`` or the top level)."""
    model = PolicyDocument if not parent else RuleSettings if len(parent) == 2 else SuppressDocument
    return list(model.model_fields)


_CACHE: dict[str, OrgPolicy] = {}  # sha256 of a document's text -> its policy (a few, newest last)


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def load_policy_text(text: str | bytes, *, source: str) -> OrgPolicy:
    """Parse and validate a document; an unchanged text is served from the cache without re-validation."""
    return _load(text, source)[0]


def _load(text: str | bytes, source: str) -> tuple[OrgPolicy, bool]:
    """The policy, and whether this text was new to the cache."""
    if isinstance(text, (bytes, bytearray)):
        try:
            text = bytes(text).decode("utf-8")
        except UnicodeDecodeError as error:
            raise PolicyError(source, [f"not UTF-8 text ({error.reason} at byte {error.start})"]) from None
    key = _digest(text)
    if key in _CACHE:
        return _CACHE[key], False
    policy = from_document(validate_document(parse_document(text, source), source))
    while len(_CACHE) >= 8:
        _CACHE.pop(next(iter(_CACHE)))
    _CACHE[key] = policy
    return policy, True


def load_policy_file(path: str | Path) -> OrgPolicy:
    """A policy file (``-``: standard input); a missing or unreadable file is a :class:`PolicyError` too."""
    try:
        text = sys.stdin.read() if str(path) == "-" else Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or str(error)
        raise PolicyError(str(path), [reason], heading="cannot read the organisation policy") from None
    return load_policy_text(text, source=str(path))


@cache
def default_policy_text() -> str:
    return resources.files("identity_auditor.policy").joinpath("default_policy.yaml").read_text(encoding="utf-8")


def load_policy(settings, *, max_age: int = MAX_AGE_SECONDS) -> OrgPolicy:
    """The organisation policy the settings name (SSM parameter, AppConfig profile) or the packaged
    default. Call it per invocation: fetches are cached ``max_age`` seconds, parses by content hash."""
    text, source = _fetch(settings, max_age)
    policy, new = _load(text, source)
    if new:
        today = datetime.now(timezone.utc).date()
        logger.info("organisation policy loaded from %s: %s", source, summary(policy, today),
                    extra={"policy_source": source})
        for rule_id, index, entry in policy.expired_suppressions(today):
            expires = entry.expires.isoformat()
            logger.warning("policy suppression rules.%s.suppress[%d] (owner %s) expired on %s and no longer "
                           "applies", rule_id, index, entry.owner, expires,
                           extra={"rule_id": rule_id, "suppress_index": index,
                                  "suppression_owner": entry.owner, "suppression_expires": expires})
    return policy


def policy_source(settings) -> str:
    if settings.policy_ssm_parameter:
        return f"ssm:{settings.policy_ssm_parameter}"
    if settings.policy_appconfig:
        return f"appconfig:{settings.policy_appconfig}"
    return DEFAULT_SOURCE


def _fetch(settings, max_age: int) -> tuple[str | bytes, str]:
    if settings.policy_ssm_parameter and settings.policy_appconfig:
        raise PolicyError("settings", ["POLICY_SSM_PARAMETER and POLICY_APPCONFIG are both set: set one"],
                          heading="cannot choose the organisation policy")
    source = policy_source(settings)
    if source == DEFAULT_SOURCE:
        return default_policy_text(), source
    from aws_lambda_powertools.utilities import parameters
    from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError

    try:
        if settings.policy_ssm_parameter:
            value = parameters.get_parameter(settings.policy_ssm_parameter, max_age=max_age, decrypt=True)
        else:
            application, environment, profile = [p for p in settings.policy_appconfig.split("/") if p]
            value = parameters.get_app_config(name=profile, environment=environment, application=application,
                                              max_age=max_age)
    except GetParameterError as error:
        raise PolicyError(source, [str(error)], heading="cannot read the organisation policy") from error
    if not isinstance(value, (str, bytes, bytearray)):
        raise PolicyError(source, [f"expected a text document, got {type(value).__name__}"])
    return value, source


def policy_schema() -> dict:
    """The JSON Schema of the document (``policy.schema.json`` at the repository root is this, verbatim)."""
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **PolicyDocument.model_json_schema()}


def schema_text() -> str:
    return json.dumps(policy_schema(), indent=2) + "\n"
