"""The heartbeat: a synthetic message through the whole delivery path, so that silence is noticed.

An auditor that stops paging looks exactly like an account where nothing happens. So the stack's scheduled
EventBridge rule ``<stack>-heartbeat`` (every ``HeartbeatMinutes``, 30 by default) invokes the CloudTrail
evaluator; the evaluator recognises that one event exactly (:func:`is_heartbeat`) and queues a
:class:`Heartbeat` on the findings queue, signed like every findings message; the publisher checks the MAC,
never imports it into Security Hub, publishes it to the findings topic with the message attribute
:data:`HEARTBEAT_ATTRIBUTE` (the alert e-mail subscription's filter policy excludes it, so nobody is paged every
30 minutes) and only after SNS accepted it counts ``HeartbeatsDelivered``. The alarm ``HeartbeatMissingAlarm``
fires when that count stays below one for two heartbeat periods, missing data included: a disabled or deleted
rule, an evaluator that cannot queue, a publisher that cannot verify or publish all look the same, and page the
operations topic.

Recognition is exact on purpose: source ``aws.events``, detail-type ``Scheduled Event``, the stack's own rule
ARN as the only resource, the function's own account and region, and an empty ``detail``. Anything else, a
direct invoke that imitates it with another rule's ARN included, is an ordinary event and goes through the
CloudTrail path (where a scheduled event is refused as not a CloudTrail event): the heartbeat cannot be used
to make the evaluator skip a real event.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone

from identity_auditor.model.home import Home

HEARTBEAT_RULE_SUFFIX = "-heartbeat"  # template.yaml: HeartbeatRule's Name is "${AWS::StackName}-heartbeat"
HEARTBEAT_ATTRIBUTE = "heartbeat"  # the SNS message attribute the alert e-mail's filter policy excludes
HEARTBEATS_DELIVERED_METRIC = "HeartbeatsDelivered"  # counted by the publisher once SNS accepted the heartbeat
HEARTBEATS_QUEUED_METRIC = "HeartbeatsQueued"  # counted by the evaluator once the findings queue took it
KIND = "heartbeat"
VERSION = 1
SCHEDULED_SOURCE = "aws.events"
SCHEDULED_DETAIL_TYPE = "Scheduled Event"


ROUTING_RULES_OFF_METRIC = "RoutingRulesOff"  # the stack's routing rules disabled or missing, at each heartbeat
ORGANIZATION_BUS_SUFFIX = "-organization"  # template.yaml: OrganizationEventBus is "${AWS::StackName}-organization"


def routing_rules_off(events, stack_name: str, routes, *, organization: bool = False) -> list[str]:
    """The stack's EventBridge routing rules that do not deliver: ``DISABLED``, or missing among those every region
    has (``regional`` routes on the default bus; every route on the organisation's bus). Checked at each heartbeat,
    because a disabled rule cannot report itself: the rule that routes EventBridge's own events may be the first
    an intruder disables. ``events``: an EventBridge client of the function's region; ``routes``: the registry's."""
    from identity_auditor.collectors import ApiCalls

    def listed(bus: str) -> dict[str, str]:
        return {rule["Name"]: rule.get("State", "")
                for page in ApiCalls().token_pages(events, "list_rules", NamePrefix=f"{stack_name}-", EventBusName=bus)
                for rule in page.get("Rules", [])}

    problems = []
    buses = [("default", {route.name for route in routes if route.scope == "regional"})]
    if organization:
        buses.append((f"{stack_name}{ORGANIZATION_BUS_SUFFIX}", {route.name for route in routes}))
    for bus, expected in buses:
        rules = listed(bus)
        problems += [f"{name} ({bus}: {state})" for name, state in sorted(rules.items())
                     if state.upper() == "DISABLED"]
        problems += [f"{stack_name}-{name} ({bus}: missing)" for name in sorted(expected)
                     if f"{stack_name}-{name}" not in rules]
    return problems


class HeartbeatError(ValueError):
    """A findings-queue message that says it is a heartbeat but is not one this publisher reads."""


def heartbeat_rule_arn(stack_name: str | None, home: Home) -> str | None:
    """The ARN of the stack's heartbeat rule on the default event bus; ``None`` without a stack (a local run)."""
    if not stack_name:
        return None
    return f"arn:{home.partition}:events:{home.region}:{home.account}:rule/{stack_name}{HEARTBEAT_RULE_SUFFIX}"


def is_heartbeat(event: object, rule_arn: str | None, home: Home) -> bool:
    """True only for the scheduled event of the stack's own heartbeat rule, as EventBridge sends it."""
    return (
        rule_arn is not None
        and isinstance(event, dict)
        and event.get("source") == SCHEDULED_SOURCE
        and event.get("detail-type") == SCHEDULED_DETAIL_TYPE
        and event.get("resources") == [rule_arn]
        and event.get("account") == home.account
        and event.get("region") == home.region
        and event.get("detail") == {}
    )


@dataclass(frozen=True)
class Heartbeat:
    """One heartbeat on the findings queue: which scheduled event it comes from and when it was queued."""

    event_id: str
    account_id: str
    region: str
    rule_arn: str
    scheduled_at: str  # the scheduled event's time
    queued_at: str

    @classmethod
    def from_event(cls, event: dict, now: datetime | None = None) -> Heartbeat:
        now = now or datetime.now(timezone.utc)
        return cls(event_id=str(event.get("id") or ""), account_id=str(event["account"]), region=str(event["region"]),
                   rule_arn=str(event["resources"][0]), scheduled_at=str(event.get("time") or ""),
                   queued_at=now.strftime("%Y-%m-%dT%H:%M:%SZ"))

    def to_json(self) -> str:
        return json.dumps({"v": VERSION, "kind": KIND, "event_id": self.event_id, "account_id": self.account_id,
                           "region": self.region, "rule_arn": self.rule_arn, "scheduled_at": self.scheduled_at,
                           "queued_at": self.queued_at}, separators=(",", ":"))

    @classmethod
    def from_json(cls, body: str) -> Heartbeat:
        try:
            data = json.loads(body)
        except (TypeError, ValueError) as error:
            raise HeartbeatError(f"not JSON: {error}") from None
        if not isinstance(data, dict) or data.get("kind") != KIND:
            raise HeartbeatError("not a heartbeat")
        if data.get("v") != VERSION:
            raise HeartbeatError(f"unknown heartbeat version {data.get('v')!r} (this publisher reads {VERSION})")
        fields = ("event_id", "account_id", "region", "rule_arn", "scheduled_at", "queued_at")
        if not all(isinstance(data.get(name), str) for name in fields):
            raise HeartbeatError(f"a heartbeat needs the string fields {', '.join(fields)}")
        return cls(**{name: data[name] for name in fields})

    def alert(self) -> dict:
        """The SNS Publish arguments: marked as a test in the subject, the text and the message attributes."""
        message = (
            "TEST MESSAGE - not a finding, nothing to do.\n\n"
            "identity-auditor's heartbeat went through the whole delivery path: the scheduled rule "
            f"{self.rule_arn} invoked the CloudTrail evaluator, which queued this message on the findings queue "
            "(signed), and the findings publisher verified it and published it here. It is not imported into "
            "Security Hub. The alarm HeartbeatMissingAlarm tells the operations topic when heartbeats stop.\n\n"
            f"Account: {self.account_id}\nRegion: {self.region}\nScheduled: {self.scheduled_at}\n"
            f"Queued: {self.queued_at}\nEvent: {self.event_id}\n\n"
            f'Subscriptions that should not receive it filter on the message attribute "{HEARTBEAT_ATTRIBUTE}": '
            f'{{"{HEARTBEAT_ATTRIBUTE}": [{{"exists": false}}]}}.'
        )
        return {
            "Subject": "[identity-auditor] Heartbeat (test message, not a finding)",
            "Message": message,
            "MessageAttributes": {
                HEARTBEAT_ATTRIBUTE: {"DataType": "String", "StringValue": "true"},
                "account_id": {"DataType": "String", "StringValue": self.account_id},
            },
        }


def is_heartbeat_message(body: object) -> bool:
    """Whether a findings-queue body claims to be a heartbeat (checked before it is read as a finding)."""
    if not isinstance(body, str) or f'"kind":"{KIND}"' not in body:
        return False
    try:
        data = json.loads(body)
    except ValueError:
        return False
    return isinstance(data, dict) and data.get("kind") == KIND
