"""Settings, read once at cold start from the environment that template.yaml sets.

This is the only module that reads ``os.environ``. A bad value stops the cold start with a message
naming the variable, instead of failing later on the first finding.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass

from identity_auditor.model.deployment import AuditorResources

_TOPIC_ARN = re.compile(r"^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}$")
_QUEUE_URL = re.compile(r"^https?://[A-Za-z0-9.-]+(:\d+)?/\d{12}/[A-Za-z0-9_.-]{1,80}$")
_ROLE_NAME = re.compile(r"^(?:[\w+=,.@-]+/)*[\w+=,.@-]{1,64}$")
_ORGANIZATION_ID = re.compile(r"^o-[a-z0-9]{10,32}$")
_PRODUCT_ARN = re.compile(r"^arn:aws[a-z-]*:securityhub:[a-z0-9-]+:(\d{12})?:product/[^/]+/[^/]+$")
_KMS_KEY_ARN = re.compile(r"^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key/[A-Za-z0-9-]{1,64}$")


class SettingsError(ValueError):
    """A setting has a value the auditor cannot work with."""


ALERT_FORMATS = ("email", "chat")


@dataclass(frozen=True)
class Settings:
    findings_topic_arn: str | None = None
    security_hub_enabled: bool = True
    security_hub_product_arn: str | None = None
    alert_format: str = "email"  # "email": plain text; "chat": AWS Chatbot / Amazon Q custom notification JSON
    idempotency_table: str | None = None  # DynamoDB table for de-duplicating redelivered events
    policy_ssm_parameter: str | None = None  # SSM parameter holding the organisation policy document
    policy_appconfig: str | None = None  # "application/environment/profile" in AWS AppConfig
    findings_queue_url: str | None = None  # SQS queue of the publisher: evaluators enqueue, it imports and alerts
    member_role_name: str | None = None  # role in member accounts for work about them (organisation deployment)
    organization_id: str | None = None  # the deployment's AWS organisation (o-...): its accounts are trusted
    auditor_stack_name: str | None = None  # the stack: resources named "<stack>-..." are the auditor's own
    # ARN patterns of who deploys the stack (its CloudFormation service role, the pipeline); empty: any caller
    # through CloudFormation counts as the stack's own deployment
    auditor_deployers: tuple[str, ...] = ()
    # where Identity Center is administered (the management account or its delegated administrator) and its
    # home region, for the Identity Center posture rules; account None: the function's own account
    identity_center_account: str | None = None
    identity_center_region: str | None = None
    # the stack's HMAC KMS key (FindingsMacKey): the evaluators sign each findings-queue message with it, the
    # publisher verifies it (delivery/provenance.py); None (a local run): messages are neither signed nor checked
    findings_mac_key_arn: str | None = None
    auditor_key_arn: str | None = None  # the stack's data key (queues, topics, logs, environments)

    @property
    def auditor_resources(self) -> AuditorResources:
        """The auditor's own resources, as ``auditor_pipeline_tampered`` recognises them: everything named after
        the stack (functions, EventBridge rules and bus, and the topics and queues whose names CloudFormation
        generates as ``<stack>-<logical id>-<suffix>``), the findings topic and queue, its two KMS keys, the policy
        parameter, and the AppConfig application and profile of the policy (as configured: ids, or names)."""
        if not self.auditor_stack_name:
            return AuditorResources()
        arns = {item for item in (self.findings_topic_arn, self.findings_queue_url, self.findings_mac_key_arn,
                                  self.auditor_key_arn) if item}
        names = {self.policy_ssm_parameter} if self.policy_ssm_parameter else set()
        profiles = set()
        if self.policy_appconfig:  # records name the application and profile by id: configure ids to match
            application, _, profile = self.policy_appconfig.split("/")
            profiles.add((application, profile))
        return AuditorResources(arns=frozenset(arns), names=frozenset(names),
                                name_prefixes=(f"{self.auditor_stack_name}-",), appconfig_profiles=frozenset(profiles),
                                deployers=self.auditor_deployers)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        topic = env.get("FINDINGS_TOPIC_ARN", "").strip() or None
        if topic and not _TOPIC_ARN.match(topic):
            raise SettingsError(f"FINDINGS_TOPIC_ARN={topic!r} is not an SNS topic ARN")
        product = env.get("SECURITY_HUB_PRODUCT_ARN", "").strip() or None
        if product and not _PRODUCT_ARN.match(product):
            raise SettingsError(f"SECURITY_HUB_PRODUCT_ARN={product!r} is not a Security Hub product ARN")
        alert_format = env.get("ALERT_FORMAT", "").strip().lower() or "email"
        if alert_format not in ALERT_FORMATS:
            raise SettingsError(f"ALERT_FORMAT={alert_format!r} must be one of {', '.join(ALERT_FORMATS)}")
        appconfig = env.get("POLICY_APPCONFIG", "").strip() or None
        if appconfig and len([part for part in appconfig.split("/") if part]) != 3:
            raise SettingsError(f"POLICY_APPCONFIG={appconfig!r} must be application/environment/profile")
        queue = env.get("FINDINGS_QUEUE_URL", "").strip() or None
        if queue and not _QUEUE_URL.match(queue):
            raise SettingsError(f"FINDINGS_QUEUE_URL={queue!r} is not an SQS queue URL")
        member_role = env.get("MEMBER_ROLE_NAME", "").strip().strip("/") or None
        if member_role and not _ROLE_NAME.match(member_role):
            raise SettingsError(f"MEMBER_ROLE_NAME={member_role!r} is not an IAM role name")
        organization = env.get("ORGANIZATION_ID", "").strip() or None
        if organization and not _ORGANIZATION_ID.match(organization):
            raise SettingsError(f"ORGANIZATION_ID={organization!r} is not an AWS Organizations id (o-...)")
        center_account = env.get("IDENTITY_CENTER_ACCOUNT", "").strip() or None
        if center_account and not re.fullmatch(r"\d{12}", center_account):
            raise SettingsError(f"IDENTITY_CENTER_ACCOUNT={center_account!r} is not a 12-digit account id")
        center_region = env.get("IDENTITY_CENTER_REGION", "").strip() or None
        if center_region and not re.fullmatch(r"[a-z]{2}(-[a-z]+)+-\d", center_region):
            raise SettingsError(f"IDENTITY_CENTER_REGION={center_region!r} is not an AWS region")
        mac_key = env.get("FINDINGS_MAC_KEY_ARN", "").strip() or None
        if mac_key and not _KMS_KEY_ARN.match(mac_key):
            raise SettingsError(f"FINDINGS_MAC_KEY_ARN={mac_key!r} is not a KMS key ARN (arn:aws:kms:<region>:"
                                "<account>:key/<key id>)")
        return cls(
            findings_topic_arn=topic,
            security_hub_enabled=_flag(env, "SECURITY_HUB_ENABLED", default=True),
            security_hub_product_arn=product,
            alert_format=alert_format,
            idempotency_table=env.get("IDEMPOTENCY_TABLE", "").strip() or None,
            policy_ssm_parameter=env.get("POLICY_SSM_PARAMETER", "").strip() or None,
            policy_appconfig=appconfig,
            findings_queue_url=queue,
            member_role_name=member_role,
            organization_id=organization,
            auditor_stack_name=env.get("AUDITOR_STACK_NAME", "").strip() or None,
            auditor_deployers=tuple(item.strip() for item in env.get("AUDITOR_DEPLOYERS", "").split(",")
                                    if item.strip()),
            identity_center_account=center_account,
            identity_center_region=center_region,
            findings_mac_key_arn=mac_key,
            auditor_key_arn=env.get("AUDITOR_KEY_ARN", "").strip() or None,
        )


def _flag(env: Mapping[str, str], name: str, *, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in ("true", "1", "yes"):
        return True
    if raw in ("false", "0", "no"):
        return False
    raise SettingsError(f"{name}={raw!r} must be true or false")
