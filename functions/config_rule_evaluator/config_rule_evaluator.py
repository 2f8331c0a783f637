"""ConfigRuleEvaluator: AWS Config custom-rule invocations -> state rules -> PutEvaluations, Security Hub, SNS.

A thin adapter: :mod:`identity_auditor.config_rule.adapter` owns the Config protocol (parsing, the rule
from ``ruleParameters.ruleId``, message types, left scope and deletions, PutEvaluations in batches,
TESTMODE); every finding update (FAILED, PASSED, ARCHIVED) goes to Security Hub, and only violations
not alerted before page over SNS (:mod:`identity_auditor.delivery.alert_state`). An invocation that cannot be
handled fails loudly (Lambda retries, then the failure destination).
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.metrics import MetricUnit
from identity_auditor.delivery.context import ContextBuilder
from identity_auditor.config_rule.adapter import (
    Clients,
    ConfigAdapter,
    clients_for,
    parse_invocation,
    put_evaluations,
)
from identity_auditor.delivery.settings import Settings
from identity_auditor.policy import current_policy

logger = Logger()
metrics = Metrics()
copy_config_to_registered_loggers(source_logger=logger, include={"identity_auditor"})

SETTINGS = Settings.from_env()
CONTEXT = ContextBuilder.from_settings(SETTINGS)
ADAPTER = ConfigAdapter()
_wiring: dict = {}  # home, clients per region, sinks, alert state: built on the first invocation


current_policy(SETTINGS)  # cold start: an unreadable or invalid policy fails here, naming the bad key


def _wired(context, region: str | None, account: str | None = None) -> tuple:
    """``(home, clients for the Config rule's region, sinks, alert state)``; boto3 is imported here."""
    if "home" not in _wiring:
        from identity_auditor.aws.member_access import MemberAccess
        from identity_auditor.delivery.alert_state import AlertState
        from identity_auditor.delivery.wiring import build_sinks
        from identity_auditor.model.home import Home

        home = _wiring["home"] = Home.from_function_arn(context.invoked_function_arn)
        # An organisation rule's invocation about a member account reads IAM and answers Config there.
        _wiring["access"] = MemberAccess(SETTINGS.member_role_name, home_account=home.account,
                                         partition=home.partition, region=home.region)
        _wiring["sinks"] = build_sinks(SETTINGS, home, on_retry=lambda sink, attempt, left: metrics.add_metric(
            name=f"{sink}Retries", unit=MetricUnit.Count, value=1))
        table = SETTINGS.idempotency_table
        _wiring["alerts"] = AlertState(_clients(home.region).dynamodb, table) if table else None
        if table:
            from identity_auditor.delivery.sweep_ledger import SweepLedger

            ADAPTER.ledger = SweepLedger(_clients(home.region).dynamodb, table)
    home = _wiring["home"]
    return home, _clients(region or home.region, account), _wiring["sinks"], _wiring["alerts"]


def _clients(region: str, account: str | None = None) -> Clients:
    """The clients for the invocation's account and region: the member role's session for a member account
    of an organisation deployment, the function's own credentials otherwise (and for the alert state)."""
    access = _wiring.get("access")
    if access is None or not access.enabled_for(account):
        return clients_for(_wiring, region)
    return clients_for(_wiring, region, account, access.session(account))


def _sources(clients: Clients, home, context):
    """Where a sweep reads besides the invocation account's IAM: its Access Analyzer, Identity Center where it
    is administered (IDENTITY_CENTER_ACCOUNT / IDENTITY_CENTER_REGION, through the member role when that is
    another account) and the reserved roles of every account (through the member role)."""
    from identity_auditor.config_rule.sweep import Sources

    access = _wiring["access"]
    center_account = SETTINGS.identity_center_account or home.account
    center_region = SETTINGS.identity_center_region or home.region

    def in_account(account: str, region: str) -> Clients:
        session = access.session(account)
        if session is None and account != home.account:
            raise LookupError(f"no member role to read account {account} with (MemberRoleName)")
        return clients_for(_wiring, region, account if session is not None else None, session)

    return Sources(
        analyzers=lambda region: clients.accessanalyzer(region),
        identity_center=lambda: in_account(center_account, center_region).identity_center(center_region),
        identity_center_account=center_account,
        identity_center_region=center_region,
        member_iam=lambda account: in_account(account, home.region).iam,
        # stop reading 30 s before Lambda's timeout: evaluations and findings of what was read still go out
        deadline=time.monotonic() + context.get_remaining_time_in_millis() / 1000 - 30,
    )


def _evaluation_time(invocation) -> datetime:
    """The time the rules judge at: the Config notification's, the same for every retry of the invocation (its
    alerts then carry the same key, and a retry pages nobody twice), when it is within Lambda's 6 hours of retries;
    the clock's otherwise (an invocation cannot move the rules' "now" to make old keys look young)."""
    now = datetime.now(timezone.utc)
    when = invocation.notification_time
    if when is not None and now - timedelta(hours=7) <= when <= now + timedelta(minutes=5):
        return when
    return now


@logger.inject_lambda_context(correlation_id_path="configRuleName", clear_state=True)
@metrics.log_metrics
def handler(event: dict, context) -> dict:
    metrics.add_metric(name="ConfigInvocations", unit=MetricUnit.Count, value=1)
    invocation = parse_invocation(event)
    home, clients, sinks, alerts = _wired(context, invocation.region, invocation.account_id)
    ctx = CONTEXT.context(current_policy(SETTINGS), _evaluation_time(invocation), ("organization",))
    # only this stack's rules; a member account's ruleParameters are ignored (the organisation policy applies)
    run = ADAPTER.evaluate(invocation, ctx, clients, home, sources=_sources(clients, home, context),
                           stack_name=SETTINGS.auditor_stack_name)
    logger.append_keys(rule_id=run.rule_id, message_type=run.message_type, config_rule=invocation.config_rule_name)
    compliance = run.compliance()
    for value, count in compliance.items():
        metrics.add_metric(name=f"Evaluations{value.title().replace('_', '')}", unit=MetricUnit.Count, value=count)
    if run.failures:
        metrics.add_metric(name="RuleErrors", unit=MetricUnit.Count, value=len(run.failures))
    if run.not_run:  # a rule that could not judge (no permission, no instance, an account out of reach): alarmed
        metrics.add_metric(name="RulesNotRun", unit=MetricUnit.Count, value=len(run.not_run))
        logger.error("rule not run", extra={"not_run": [vars(entry) for entry in run.not_run]})
    if run.archived:
        metrics.add_metric(name="FindingsArchived", unit=MetricUnit.Count, value=run.archived)
    # every update, and each expired suppression once however many resources it matched
    findings = list({f.finding_id: f for evaluation in run.evaluations for f in evaluation.findings}.values())
    delivered: dict = {}
    try:
        calls = put_evaluations(clients.config, invocation, run.evaluations)
    finally:  # Security Hub and SNS get the findings even when Config refuses the evaluations
        if findings:
            from identity_auditor.delivery.alert_state import publish_state

            delivered = publish_state(sinks, findings, alerts)
    ADAPTER.remember(run)  # only once delivered: a retried sweep sends its archive updates again
    if run.ledger_error:
        metrics.add_metric(name="SweepLedgerErrors", unit=MetricUnit.Count, value=1)
    # Deployed, findings go to the findings queue and the publisher counts the alerts it sends ("Alerts").
    metrics.add_metric(name="FindingsQueued", unit=MetricUnit.Count, value=delivered.get("queue", 0))
    logger.info("evaluated", extra={"compliance": dict(compliance), "delivered": delivered,
                                    "api_calls": run.api_calls, "skipped": run.skipped, "note": run.note})
    return {
        "configRule": invocation.config_rule_name,
        "ruleId": run.rule_id,
        "messageType": run.message_type,
        "evaluations": len(run.evaluations),
        "compliance": dict(compliance),
        "putEvaluationsCalls": calls,
        "testMode": invocation.test_mode,
        "findings": len(findings),
        "delivered": delivered,
        "ruleErrors": [failure.rule_id for failure in run.failures],
        "apiCalls": run.api_calls,
        "skipped": run.skipped,
        "note": run.note,
        "notRun": [f"{entry.rule_id} in {entry.account}: {entry.reason}" for entry in run.not_run],
        "archived": run.archived,
    }
