"""Parsing an AWS Config custom-rule invocation, and what it asks for: the message type, the state rule
(``ruleParameters.ruleId``) and the rule parameters that override the organisation policy.

``invokingEvent`` and ``ruleParameters`` arrive as JSON *strings* (objects are accepted too, as
``sam local invoke`` users sometimes write them); anything this function cannot use raises
:class:`ConfigEventError` with a message saying what and why, so the invocation fails loudly.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import Any

from identity_auditor.engine.registry import REGISTRY, Registry, Rule
from identity_auditor.model.contract import Context

logger = logging.getLogger(__name__)

CHANGE = "ConfigurationItemChangeNotification"
OVERSIZED = "OversizedConfigurationItemChangeNotification"
SCHEDULED = "ScheduledNotification"
MESSAGE_TYPES = (CHANGE, OVERSIZED, SCHEDULED)
DELETED = frozenset({"ResourceDeleted", "ResourceDeletedNotRecorded"})
TEST_TOKEN = "TESTMODE"
POLICY_PARAMETERS = ("access_key_max_age_days", "credentials_unused_days")  # int OrgPolicy fields
MAX_DAYS = 3650
_REGION = re.compile(r"[a-z]{2}(-[a-z]+)+-\d{1,2}", re.ASCII)
_PARTITION = re.compile(r"aws(-[a-z]+)*", re.ASCII)


class ConfigEventError(ValueError):
    """The invocation is not a Config rule invocation this function can handle; says why."""


@dataclass(frozen=True)
class Invocation:
    message_type: str
    rule_parameters: dict[str, Any]
    result_token: str
    event_left_scope: bool
    config_rule_name: str
    account_id: str | None
    region: str | None  # of the Config rule (from its ARN): where evaluations and findings belong
    partition: str | None
    item: dict[str, Any] | None  # configurationItem, or configurationItemSummary (oversized)
    notification_time: datetime | None

    @property
    def test_mode(self) -> bool:
        return self.result_token == TEST_TOKEN


def parse_invocation(event: Any) -> Invocation:
    if not isinstance(event, dict):
        raise ConfigEventError(f"a Config rule invocation is a JSON object, not {type(event).__name__}")
    invoking = _json_field(event, "invokingEvent", required=True)
    parameters = _json_field(event, "ruleParameters", required=False)
    token = event.get("resultToken")
    if not isinstance(token, str) or not token.strip():
        raise ConfigEventError("the invocation has no resultToken")
    message_type = invoking.get("messageType")
    if not isinstance(message_type, str) or message_type not in MESSAGE_TYPES:
        raise ConfigEventError(f"invokingEvent.messageType {shown(message_type)} is not one of "
                               f"{', '.join(MESSAGE_TYPES)}")
    item = None
    if message_type != SCHEDULED:
        key = "configurationItem" if message_type == CHANGE else "configurationItemSummary"
        item = invoking.get(key)
        if not isinstance(item, dict) or not all(isinstance(item.get(name), str) and item[name].strip()
                                                 for name in ("resourceType", "resourceId")):
            raise ConfigEventError(f"a {message_type} needs invokingEvent.{key} with resourceType and resourceId")
    left = event.get("eventLeftScope", False)
    if isinstance(left, str) and left.lower() in ("true", "false"):
        left = left.lower() == "true"
    if not isinstance(left, bool):
        raise ConfigEventError(f"eventLeftScope {shown(left)} is not true or false")
    accounts = (("accountId", event.get("accountId")),
                ("invokingEvent.awsAccountId", invoking.get("awsAccountId")),
                ("the configuration item's awsAccountId", (item or {}).get("awsAccountId")))
    for name, value in accounts:
        if value is not None and not isinstance(value, str):
            raise ConfigEventError(f"{name} {shown(value)} is not an account id")
    rule_arn = event.get("configRuleArn")
    if rule_arn is not None and not isinstance(rule_arn, str):
        raise ConfigEventError(f"configRuleArn {shown(rule_arn)} is not a Config rule ARN")
    arn = (rule_arn or "").split(":")
    region = arn[3] if len(arn) > 5 and arn[3] else None
    partition = arn[1] if len(arn) > 5 and arn[1] else None
    if (region is not None and not _REGION.fullmatch(region)) or (partition is not None
                                                                  and not _PARTITION.fullmatch(partition)):
        raise ConfigEventError(f"configRuleArn {shown(rule_arn)} is not a Config rule ARN "
                               "(arn:<partition>:config:<region>:<account>:config-rule/<id>)")
    return Invocation(
        message_type=message_type,
        rule_parameters=parameters,
        result_token=token,
        event_left_scope=left,
        config_rule_name=str(event.get("configRuleName") or ""),
        account_id=next((value for _, value in accounts if value), None),
        region=region,
        partition=partition,
        item=item,
        notification_time=parse_time(invoking.get("notificationCreationTime")),
    )


def shown(value: Any, limit: int = 80) -> str:
    """A value from the invocation as an error message shows it: ``repr`` (control, bidi and other
    invisible characters escaped), at most ``limit`` characters; containers only by their type."""
    if isinstance(value, str):
        return repr(value[:limit]) + ("…" if len(value) > limit else "")
    if value is None or isinstance(value, (bool, int, float)):
        return repr(value)[:limit]
    return f"<{type(value).__name__}>"


def _json_field(event: dict, name: str, *, required: bool) -> dict:
    raw = event.get(name)
    if raw is None or raw == "":
        if required:
            raise ConfigEventError(f"the invocation has no {name}")
        return {}
    try:
        value = json.loads(raw) if isinstance(raw, str) else raw
    except json.JSONDecodeError as error:
        raise ConfigEventError(f"{name} is not valid JSON: {error}") from None
    except RecursionError:
        raise ConfigEventError(f"{name} is nested too deeply to be a Config document") from None
    if not isinstance(value, dict):
        raise ConfigEventError(f"{name} is not a JSON object")
    return value


def parse_time(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def select_rule(invocation: Invocation, registry: Registry = REGISTRY) -> Rule:
    """The state rule named by ``ruleParameters.ruleId``."""
    ids = sorted(rule.meta.id for rule in registry.state_rules())
    # the list in full while it is short; beyond that, where to read it (an error message stays readable)
    known = (", ".join(ids) if len(ids) <= 12 else
             f"the {len(ids)} state rule ids, {', '.join(ids[:3])}, ... (`identity-auditor rules` lists them)") or "(none)"
    rule_id = invocation.rule_parameters.get("ruleId")
    if not isinstance(rule_id, str) or not rule_id.strip():
        raise ConfigEventError(f"Config rule {invocation.config_rule_name!r}: ruleParameters has no ruleId; "
                               f"set its input parameters to {{\"ruleId\": \"<one of {known}>\"}}")
    rule = next((r for r in registry.state_rules() if r.meta.id == rule_id.strip()), None)
    if rule is None or rule.evaluate_state is None:
        raise ConfigEventError(f"ruleParameters.ruleId {shown(rule_id)} is not a state rule; "
                               f"expected one of {known}")
    return rule


def apply_parameters(ctx: Context, parameters: dict[str, Any], rule: Rule) -> tuple[Context, str]:
    """The context under the rule parameters' overrides, and a note naming any value not used (which
    goes into every annotation; the policy's value applies instead)."""
    changes, problems = {}, []
    for key, raw in parameters.items():
        if key == "ruleId":
            continue
        if key not in POLICY_PARAMETERS:
            logger.warning("rule parameter %s of %s is not known; ignored", shown(key), rule.meta.id,
                           extra={"rule_id": rule.meta.id, "parameter": key})
            continue
        value = _days(raw)
        if value is None:
            default = getattr(ctx.policy, key)
            problems.append(f"{key}={shown(raw, 20)} invalid, used {default}")
            logger.warning("rule parameter %s=%s of %s is not a whole number of days (1-%d); using %s",
                           key, shown(raw), rule.meta.id, MAX_DAYS, default,
                           extra={"rule_id": rule.meta.id, "parameter": key})
        else:
            changes[key] = value
    if changes:
        ctx = replace(ctx, policy=replace(ctx.policy, **changes))
    return ctx, f"(ruleParameters: {'; '.join(problems)})" if problems else ""


def _days(raw: Any) -> int | None:
    if isinstance(raw, bool):
        return None
    if isinstance(raw, str) and raw.strip().isdigit():
        raw = int(raw.strip())
    return raw if isinstance(raw, int) and 1 <= raw <= MAX_DAYS else None
