"""``--format ocsf`` and ``findings.ocsf.json``: the findings as OCSF 1.5.0 events (a JSON array), built and
validated with the ``py-ocsf-models`` library (a CLI-only dependency: the Lambda layer never carries it).

* a finding about an event (``evaluate``, the CloudTrail path) is a **Detection Finding** (``class_uid``
  2004): ``finding_info`` (uid: the finding Id Security Hub knows, title, description, types, the rule as
  ``analytic``), ``cloud`` (AWS, account, region), ``resources``, ``remediation``, ``api.operation`` (the
  CloudTrail event name) and ``metadata.event_code``;
* a state result (``audit-account``) is a **Compliance Finding** (``class_uid`` 2003) whose ``compliance``
  names the standards (CIS AWS Foundations Benchmark v5.0.0 and v3.0.0, AWS Foundational Security Best
  Practices), one ``checks`` entry per control (``uid`` 1.4, IAM.5) and the verdict (``status_id`` 1 Pass,
  3 Fail).

``severity_id`` is ASFF's label mapped one to one (Informational 1 ... Critical 5); ``status_id`` is New,
Suppressed (the organisation policy suppressed it), Resolved (a PASSED state result) or Archived.
``time`` is milliseconds since the epoch: the event's time, or the audit's for a state result.

py-ocsf-models 0.10.0 does not model OCSF's ``actor``, ``src_endpoint`` or ``http_request`` objects, so who
acted (the person, the ARN, the source IP, the user agent: the same keys as ``--format jsonl``'s
``actor_detail``) and the rule's details go under ``unmapped``, the place OCSF gives to what a source
knows and the schema does not model.
"""

from __future__ import annotations

from dataclasses import asdict

from identity_auditor import PRODUCT_NAME, __version__
from identity_auditor.cli.output import JsonArrayWriter, writer
from identity_auditor.cli.reports.summary import FRAMEWORKS, is_state, parse_ref
from identity_auditor.model.severity import Severity
from identity_auditor.model.text import as_utc

SEVERITY_IDS = {Severity.INFORMATIONAL: 1, Severity.LOW: 2, Severity.MEDIUM: 3, Severity.HIGH: 4,
                Severity.CRITICAL: 5}
ANALYTIC_RULE = 1  # OCSF analytic type_id 1: Rule


def _millis(moment) -> int | None:
    return int(as_utc(moment).timestamp() * 1000) if moment is not None else None


def _common(finding) -> dict:
    """The attributes both classes share, as keyword arguments of the library's models."""
    from py_ocsf_models.events.findings.activity_id import ActivityID
    from py_ocsf_models.events.findings.severity_id import SeverityID
    from py_ocsf_models.events.findings.status_id import StatusID
    from py_ocsf_models.objects.account import Account, TypeID
    from py_ocsf_models.objects.analytic import Analytic
    from py_ocsf_models.objects.cloud import Cloud
    from py_ocsf_models.objects.finding_info import FindingInformation
    from py_ocsf_models.objects.metadata import Metadata
    from py_ocsf_models.objects.product import Product
    from py_ocsf_models.objects.remediation import Remediation
    from py_ocsf_models.objects.resource_details import ResourceDetails

    if finding.suppression is not None:
        status = StatusID.Suppressed
    elif finding.record_state == "ARCHIVED":
        status = StatusID.Archived
    elif finding.compliance_status == "PASSED":
        status = StatusID.Resolved
    else:
        status = StatusID.New
    severity = SeverityID(SEVERITY_IDS[finding.severity])
    when = _millis(finding.event_time)
    unmapped: dict = {}
    if finding.details:
        unmapped["details"] = dict(finding.details)
    if finding.suppression is not None:
        why = finding.suppression
        unmapped["suppression"] = {"reason": why.reason, "owner": why.owner, "expires": why.expires.isoformat(),
                                   "pattern": why.pattern}
    return dict(
        activity_id=ActivityID.Create,
        activity_name=ActivityID.Create.name,
        message=finding.description,
        metadata=Metadata(
            product=Product(name=PRODUCT_NAME, vendor_name=PRODUCT_NAME, version=__version__, lang="en"),
            event_code=finding.event_name,
            uid=finding.finding_id,
            profiles=["cloud"],
        ),
        severity_id=severity,
        severity=severity.name,
        status_id=status,
        status=status.name,
        finding_info=FindingInformation(
            uid=finding.finding_id,
            title=finding.title,
            desc=finding.description,
            types=list(finding.finding_types) or None,
            analytic=Analytic(uid=finding.rule_id, name=finding.rule_id, type_id=ANALYTIC_RULE, type="Rule",
                              desc=finding.why),
            first_seen_time=when,
            last_seen_time=when,
        ),
        cloud=Cloud(provider="AWS", region=finding.region,
                    account=Account(uid=finding.account_id, name=finding.account_id, type_id=TypeID.AWS_Account,
                                    type="AWS Account")),
        resources=[ResourceDetails(uid=finding.resource_id, type=finding.resource_type, name=finding.subject,
                                   region=finding.region, cloud_partition=finding.partition)],
        remediation=Remediation(desc=finding.remediation,
                                references=[finding.remediation_url] if finding.remediation_url else None),
        time=when if when is not None else 0,
        unmapped=unmapped or None,
    )


def detection_finding(finding):
    """An event's finding as an OCSF Detection Finding (class 2004), validated by the library's model."""
    from py_ocsf_models.events.findings.detection_finding import DetectionFinding
    from py_ocsf_models.events.findings.detection_finding_type_id import DetectionFindingTypeID
    from py_ocsf_models.objects.api import API

    fields = _common(finding)
    actor = finding.actor
    fields["unmapped"] = {**(fields["unmapped"] or {}), "actor": {"person": actor.person, **asdict(actor)}}
    if finding.sequence_steps:
        fields["unmapped"]["sequence_steps"] = list(finding.sequence_steps)
    return DetectionFinding(
        **fields,
        class_name="Detection Finding",
        type_uid=DetectionFindingTypeID.Create,
        type_name="Detection Finding: Create",
        api=API(operation=finding.event_name),
    )


def compliance_finding(finding):
    """A state result as an OCSF Compliance Finding (class 2003), validated by the library's model."""
    from py_ocsf_models.events.findings.compliance_finding import ComplianceFinding
    from py_ocsf_models.events.findings.compliance_finding_type_id import ComplianceFindingTypeID
    from py_ocsf_models.objects.check import Check
    from py_ocsf_models.objects.compliance import Compliance
    from py_ocsf_models.objects.compliance_status import StatusID as ComplianceStatusID

    if finding.compliance_status == "PASSED":
        verdict = ComplianceStatusID.Pass
    elif finding.compliance_status == "FAILED":
        verdict = ComplianceStatusID.Fail
    else:  # NOT_AVAILABLE: nothing in scope, or the resource is gone
        verdict = ComplianceStatusID.Unknown
    refs = [parsed for parsed in map(parse_ref, finding.compliance) if parsed]
    standards = list(dict.fromkeys(FRAMEWORKS.get(framework, framework) for framework, _ in refs))
    fields = _common(finding)
    fields.pop("cloud")  # Compliance Finding in py-ocsf-models has no cloud attribute: the resource says where
    fields["resources"][0].data = {"account_id": finding.account_id}
    return ComplianceFinding(
        **fields,
        class_name="Compliance Finding",
        type_uid=ComplianceFindingTypeID.Create,
        type_name="Compliance Finding: Create",
        compliance=Compliance(
            control=finding.rule_id,
            desc=finding.why,
            requirements=list(finding.compliance) or None,
            standards=standards or None,
            status_id=verdict,
            checks=[Check(uid=control, name=finding.title, standards=[FRAMEWORKS.get(framework, framework)],
                          status=verdict.name, status_id=verdict) for framework, control in refs] or None,
        ),
    )


def to_ocsf(finding) -> dict:
    """One finding as an OCSF event (JSON-ready dict): Compliance Finding for a state result, else Detection."""
    event = compliance_finding(finding) if is_state(finding) else detection_finding(finding)
    return event.model_dump(mode="json", exclude_none=True)


@writer("ocsf")
class OcsfWriter(JsonArrayWriter):
    """A JSON array of OCSF events, one element per :meth:`write` (nothing kept)."""

    ensure_ascii = False

    def document(self, finding) -> dict:
        return to_ocsf(finding)
