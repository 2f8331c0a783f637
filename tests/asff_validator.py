"""Strict AWS Security Finding Format (ASFF) validator for the test-suite.

moto's Security Hub stores whatever BatchImportFindings is given, so tests need their own strict check.
Each problem names its JSON path (e.g. ``Resources[0].Type: required``). Checked:

* structure, driven by the botocore ``securityhub`` model (``AwsSecurityFinding``): required members,
  unknown keys, Python types, enums, ``min``/``max``/``pattern``; members the model documents as
  Security Hub timestamps must be RFC 3339 with a zone;
* documented limits the model lacks: lengths, counts, sizes, ProductArn, timestamp order, control chars;
* the "Types taxonomy for ASFF" (namespace/category[/classifier]) in Types and FindingProviderFields.Types;
* ``Resources[].Type`` among the model's ``ResourceDetails`` members (plus ``AwsAccount``, ``Other``)
  and ``Resources[].Partition`` in aws/aws-cn/aws-us-gov.
"""

from __future__ import annotations

import functools
import json
import re
from collections import Counter
from datetime import datetime

import botocore.session
from identity_auditor.deploy.custom_rules import asff_resource_types

SCHEMA_VERSION = "2018-10-08"
MAX_FINDING_BYTES = 240 * 1024
MAX_BATCH_BYTES = 6 * 1024 * 1024
MAX_BATCH_FINDINGS = 100

# The Types taxonomy for ASFF and its standards classifiers: the rule contract's (one copy).
from identity_auditor.model.rule_checks import STANDARDS_CLASSIFIERS, TAXONOMY  # noqa: E402,F401

SEVERITY_LABELS = ["INFORMATIONAL", "LOW", "MEDIUM", "HIGH", "CRITICAL"]
# Also enums in today's model; repeated so that a model change cannot loosen them.
ENUMS = {
    "Severity.Label": SEVERITY_LABELS,
    "FindingProviderFields.Severity.Label": SEVERITY_LABELS,
    "Compliance.Status": ["PASSED", "WARNING", "FAILED", "NOT_AVAILABLE"],
    "RecordState": ["ACTIVE", "ARCHIVED"],
    "Workflow.Status": ["NEW", "NOTIFIED", "RESOLVED", "SUPPRESSED"],
}
# path -> maximum characters (strings) or entries (lists, maps)
MAXIMUM = {
    "Id": 512, "GeneratorId": 512, "Title": 256, "Description": 1024, "Remediation.Recommendation.Text": 512,
    "Resources": 32, "Types": 50, "FindingProviderFields.Types": 50, "ProductFields": 50,
    "UserDefinedFields": 50, "Compliance.RelatedRequirements": 32,
}
PARTITIONS = {"aws", "aws-cn", "aws-us-gov"}
PRODUCT_ARN = re.compile(r"arn:aws[a-z-]*:securityhub:[a-z0-9-]+:(\d{12})?:product/[^/\s]+/[^/\s]+")
TIMESTAMP = re.compile(
    r"(?P<main>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?P<frac>\.\d{1,9})?(?P<zone>Z|[+-]\d\d(:?\d\d)?)")
# The model types ASFF timestamps as plain strings; their documentation points at the timestamp rules.
TIMESTAMP_DOC = re.compile(r"#timestamps|RFC 3339")
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")  # tab and newline allowed...
TITLE_CONTROL = re.compile(r"[\x00-\x1f\x7f]")  # ...except in Title
PY_TYPES = {"integer": int, "long": int, "double": (int, float), "float": (int, float), "boolean": bool}


@functools.cache
def _model():
    return botocore.session.get_session().get_service_model("securityhub")


def resource_types() -> frozenset[str]:
    """ASFF resource type names: the model's ResourceDetails members, plus AwsAccount and Other."""
    return asff_resource_types()


def parse_timestamp(value) -> datetime | None:
    """Parse an ASFF timestamp (RFC 3339 with a zone, offset within 18 hours); None if it is not one."""
    match = TIMESTAMP.fullmatch(value) if isinstance(value, str) else None
    if not match:
        return None
    zone = match["zone"].replace("Z", "+00:00")
    if ":" not in zone:  # +05 or +0530
        zone = f"{zone[:3]}:{zone[3:] or '00'}"
    try:  # datetime keeps microseconds only
        parsed = datetime.fromisoformat(match["main"] + (match["frac"] or "")[:7] + zone)
    except ValueError:
        return None
    return parsed if abs(parsed.utcoffset().total_seconds()) <= 18 * 3600 else None


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _range(amount, shape, path: str, problems: list[str], unit: str = "") -> None:
    low, high, what = shape.metadata.get("min"), shape.metadata.get("max"), f"{amount} {unit}".strip()
    if low is not None and amount < low:
        problems.append(f"{path}: {what} is below the minimum {low}")
    if high is not None and amount > high:
        problems.append(f"{path}: {what} is above the maximum {high}")


def _walk(value, shape, path: str, problems: list[str], timestamp: bool = False) -> None:
    """Check value against a botocore shape, recursively."""
    kind, got = shape.type_name, type(value).__name__
    if shape.metadata.get("document"):
        return  # free-form JSON
    if kind == "structure":
        if not isinstance(value, dict):
            return problems.append(f"{path}: expected object, got {got}")
        problems.extend(f"{_join(path, n)}: required" for n in shape.required_members if n not in value)
        for key, item in value.items():
            member = shape.members.get(key)
            if member is None:
                problems.append(f"{_join(path, key)}: unknown key")
            else:
                is_timestamp = bool(TIMESTAMP_DOC.search(member.documentation or ""))
                _walk(item, member, _join(path, key), problems, is_timestamp)
    elif kind in ("list", "map"):
        if not isinstance(value, list if kind == "list" else dict):
            return problems.append(f"{path}: expected {'array' if kind == 'list' else 'object'}, got {got}")
        _range(len(value), shape, path, problems, "entries")
        for i, item in enumerate(value) if kind == "list" else ():
            _walk(item, shape.member, f"{path}[{i}]", problems)
        for key, item in value.items() if kind == "map" else ():
            _walk(key, shape.key, f"{path}[{key!r}] (key)", problems)
            _walk(item, shape.value, f"{path}[{key!r}]", problems)
    elif kind in ("string", "timestamp"):
        if not isinstance(value, str):
            return problems.append(f"{path}: expected string, got {got}")
        enum, pattern = getattr(shape, "enum", None), shape.metadata.get("pattern")
        if enum and value not in enum:
            problems.append(f"{path}: {value!r} not one of {sorted(enum)}")
        _range(len(value), shape, path, problems, "characters")
        if pattern and not re.search(pattern, value):  # model patterns are unanchored
            problems.append(f"{path}: does not match pattern {pattern!r}")
        if (timestamp or kind == "timestamp") and parse_timestamp(value) is None:
            problems.append(f"{path}: {value!r} is not an RFC 3339 timestamp with a time zone")
        if (TITLE_CONTROL if path == "Title" else CONTROL).search(value):
            problems.append(f"{path}: contains a control character")
    elif kind in PY_TYPES:
        if isinstance(value, bool) != (kind == "boolean") or not isinstance(value, PY_TYPES[kind]):
            problems.append(f"{path}: expected {kind}, got {got}")
        elif kind != "boolean":
            _range(value, shape, path, problems)


def _get(finding: dict, path: str):
    for part in path.split("."):
        finding = finding.get(part) if isinstance(finding, dict) else None
    return finding


def _check_types(types, path: str, problems: list[str]) -> None:
    """Types entries follow the taxonomy: namespace/category[/classifier...]."""
    for i, entry in enumerate(types if isinstance(types, list) else []):
        if not isinstance(entry, str):
            continue  # reported by the structural walk
        parts, where = entry.split("/"), f"{path}[{i}]"
        if parts[0] not in TAXONOMY:
            problems.append(f"{where}: namespace {parts[0]!r} not one of {sorted(TAXONOMY)}")
        elif len(parts) < 2 or parts[1] not in TAXONOMY[parts[0]]:
            problems.append(f"{where}: category {(parts + [''])[1]!r} not valid for namespace {parts[0]!r}")
        elif not all(part.strip() for part in parts[2:]):
            problems.append(f"{where}: empty classifier")
        elif parts[1] == "Industry and Regulatory Standards" and len(parts) > 2 \
                and parts[2] not in STANDARDS_CLASSIFIERS:
            problems.append(f"{where}: classifier {parts[2]!r} is not a documented standard")


def _documented_limits(finding: dict, problems: list[str]) -> None:
    """Security Hub rules that the botocore model does not carry."""
    if finding.get("SchemaVersion", SCHEMA_VERSION) != SCHEMA_VERSION:
        problems.append(f"SchemaVersion: must be {SCHEMA_VERSION!r}")
    for path in ("Id", "GeneratorId", "AwsAccountId"):
        if isinstance(finding.get(path), str) and not finding[path].strip():
            problems.append(f"{path}: must not be empty")
    severity = finding.get("Severity")
    if not isinstance(severity, dict) or not (severity.get("Label") or "Normalized" in severity):
        problems.append("Severity.Label: required (a finding without Label or Normalized is rejected)")
    account = finding.get("AwsAccountId")
    if isinstance(account, str) and account.strip() and not re.fullmatch(r"\d{12}", account):
        problems.append(f"AwsAccountId: {account!r} is not a 12-digit account id")
    for path, limit in MAXIMUM.items():
        value = _get(finding, path)
        unit = "characters" if isinstance(value, str) else "entries"
        if isinstance(value, (str, list, dict)) and len(value) > limit:
            problems.append(f"{path}: {len(value)} {unit} is above the maximum {limit}")
    if finding.get("Resources") == []:
        problems.append("Resources: must contain at least 1 resource")
    if finding.get("Types") in (None, []):
        problems.append("Types: must contain 1 to 50 entries")
    fields = finding.get("ProductFields")
    for key, value in fields.items() if isinstance(fields, dict) else ():
        if isinstance(key, str) and len(key) > 128:
            problems.append(f"ProductFields[{key!r}] (key): {len(key)} characters is above the maximum 128")
        if isinstance(value, str) and len(value) > 2048:
            problems.append(f"ProductFields[{key!r}]: {len(value)} characters is above the maximum 2048")
    for path, allowed in ENUMS.items():
        value = _get(finding, path)
        if value is not None and value not in allowed:
            problems.append(f"{path}: {value!r} not one of {sorted(allowed)}")
    url = _get(finding, "Remediation.Recommendation.Url")
    if url is not None and not (isinstance(url, str) and re.match(r"https://[^/\s]+", url)):
        problems.append(f"Remediation.Recommendation.Url: {url!r} is not an https URL")
    arn = finding.get("ProductArn")
    if isinstance(arn, str) and not PRODUCT_ARN.fullmatch(arn):
        problems.append(f"ProductArn: {arn!r} is not arn:<partition>:securityhub:<region>:<account>"
                        ":product/<company>/<product>")
    for earlier, later in (("CreatedAt", "UpdatedAt"), ("FirstObservedAt", "LastObservedAt")):
        start, end = parse_timestamp(finding.get(earlier)), parse_timestamp(finding.get(later))
        if start and end and end < start:
            problems.append(f"{later}: earlier than {earlier}")
    _check_types(finding.get("Types"), "Types", problems)
    _check_types(_get(finding, "FindingProviderFields.Types"), "FindingProviderFields.Types", problems)
    resources = finding.get("Resources")
    for i, resource in enumerate(resources if isinstance(resources, list) else []):
        rtype, partition = _get(resource, "Type"), _get(resource, "Partition")
        if isinstance(rtype, str) and rtype not in resource_types():
            problems.append(f"Resources[{i}].Type: {rtype!r} is not an ASFF resource type")
        if partition is not None and partition not in PARTITIONS:
            problems.append(f"Resources[{i}].Partition: {partition!r} not one of {sorted(PARTITIONS)}")
    try:
        size = len(json.dumps(finding, separators=(",", ":")).encode())
    except (TypeError, ValueError) as exc:
        return problems.append(f"finding: not JSON-serializable ({exc})")
    if size > MAX_FINDING_BYTES:
        problems.append(f"finding: {size} bytes serialized is above the maximum {MAX_FINDING_BYTES}")


def asff_problems(finding: dict) -> list[str]:
    """Every problem with one ASFF finding; an empty list means it is valid."""
    if not isinstance(finding, dict):
        return [f"finding: expected object, got {type(finding).__name__}"]
    problems: list[str] = []
    _walk(finding, _model().shape_for("AwsSecurityFinding"), "", problems)
    _documented_limits(finding, problems)
    return list(dict.fromkeys(problems))  # both passes can report the same fact


def assert_valid_asff(finding: dict) -> None:
    """Raise AssertionError listing every problem with the finding."""
    problems = asff_problems(finding)
    assert not problems, "invalid ASFF finding:\n  " + "\n  ".join(problems)


def assert_valid_batch(findings: list[dict]) -> None:
    """Each finding valid, plus BatchImportFindings limits: <= 100 findings, <= 6 MB, unique Ids."""
    assert isinstance(findings, list), f"findings: expected a list, got {type(findings).__name__}"
    problems = [f"[{i}].{problem}" for i, one in enumerate(findings) for problem in asff_problems(one)]
    if len(findings) > MAX_BATCH_FINDINGS:
        problems.append(f"batch: {len(findings)} findings is above the maximum {MAX_BATCH_FINDINGS}")
    try:
        size = len(json.dumps(findings, separators=(",", ":")).encode())
    except (TypeError, ValueError):
        size = 0  # already reported per finding
    if size > MAX_BATCH_BYTES:
        problems.append(f"batch: {size} bytes serialized is above the maximum {MAX_BATCH_BYTES}")
    ids = Counter(finding.get("Id") for finding in findings if isinstance(finding, dict))
    problems.extend(f"batch: duplicate Id {id_!r} ({n} findings)" for id_, n in ids.items() if n > 1)
    assert not problems, "invalid ASFF batch:\n  " + "\n  ".join(problems)
