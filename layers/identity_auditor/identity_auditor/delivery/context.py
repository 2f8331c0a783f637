"""What the evaluators tell the rules besides the record and the policy (:class:`~identity_auditor.model.contract.
Context`): the organisation's accounts, Organizations policy types, and the auditor's own resources.

Looked up only for the events whose rules read them (``RuleMeta.uses``, asked of the registry), so an event
no such rule wants costs nothing, and never raised: what cannot be read is passed on as unknown (see
:mod:`identity_auditor.collectors.organization`), and the rules say so in their findings.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from identity_auditor.delivery.settings import Settings
from identity_auditor.engine.registry import REGISTRY, Registry
from identity_auditor.model.cloudtrail import CloudTrailRecord
from identity_auditor.model.contract import Context
from identity_auditor.model.deployment import AuditorResources, policy_ids_to_look_up
from identity_auditor.model.policy import OrgPolicy

if TYPE_CHECKING:  # imported when the deployment names its organisation: botocore is not loaded for nothing
    from identity_auditor.collectors.organization import OrganizationReader


class ContextBuilder:
    def __init__(self, *, reader: OrganizationReader | None = None, auditor: AuditorResources = AuditorResources(),
                 registry: Registry = REGISTRY):
        self.reader = reader
        self.auditor = auditor
        self.registry = registry

    @classmethod
    def from_settings(cls, settings: Settings, *, client_factory: Callable[[], Any] | None = None) -> ContextBuilder:
        """The builder of a deployment: the organisation is read only when it names one (``OrganizationId``)."""
        reader = None
        if settings.organization_id:
            from identity_auditor.collectors.organization import OrganizationReader

            reader = OrganizationReader(settings.organization_id, client_factory or _organizations_client)
        return cls(reader=reader, auditor=settings.auditor_resources)

    def for_record(self, record: CloudTrailRecord, policy: OrgPolicy, now: datetime) -> Context:
        uses = self.registry.uses(record.event_source, record.event_name, record.user_identity.type)
        return self.context(policy, now, uses, policy_ids_to_look_up(record.event_source, record.event_name,
                                                                     record.request_parameters))

    def context(self, policy: OrgPolicy, now: datetime, uses: frozenset[str] | tuple[str, ...] = (),
                policy_ids: tuple[str, ...] = ()) -> Context:
        organization = self.reader.organization() if self.reader and "organization" in uses else None
        types = self.reader.policy_types(policy_ids) if self.reader and "policy_types" in uses and policy_ids else {}
        return Context(now=now, policy=policy, organization=organization, policy_types=types, auditor=self.auditor)


def _organizations_client() -> Any:
    import boto3

    return boto3.client("organizations")
