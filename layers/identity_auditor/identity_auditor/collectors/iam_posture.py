"""The IAM posture of one account as an :class:`~identity_auditor.model.snapshots.IamPosture`, read in one sweep.

Four parts, each read on its own (``parts`` chooses which; default all):

* ``"authorization"``: ``GetAccountAuthorizationDetails`` (``Filter`` User, Role, Group, LocalManagedPolicy,
  AWSManagedPolicy; 1,000 items a page, pages merged) -> the users, groups and roles
  (:class:`~identity_auditor.model.snapshots.IamPrincipal`: attached managed policy ARNs, inline policies with
  their documents, a user's groups, a user's or role's permissions boundary ARN) and the managed policies
  (:class:`~identity_auditor.model.snapshots.ManagedPolicy`: the default version's document,
  ``AttachmentCount``, ``aws_managed`` when the ARN's account field is ``aws``). Every managed policy the
  API lists is kept, attached or not: judging is the rules' business. The API sends documents URL-encoded
  and boto3 decodes them into dicts; what boto3 gives is kept (a document it could not decode stays the
  string it was, for the rules' ``parse_policy`` to report). A policy without ``PolicyName`` is named by
  the last segment of its ARN.
* ``"server_certificates"``: ``ListServerCertificates`` (paged) -> ``ServerCertificate`` (``Expiration``,
  ``UploadDate``).
* ``"saml_providers"``: ``ListSAMLProviders`` then one ``GetSAMLProvider`` per provider -> ``SamlProvider``
  with ``ValidUntil`` and the signing certificates of its metadata (:func:`saml_signing_certificates`). A
  provider deleted between the two calls (``NoSuchEntity``) is left out.
* ``"analyzers"``: ``ListAnalyzers`` in every region of ``analyzers`` (region -> an ``accessanalyzer``
  client of that region), every page (``nextToken``), without a ``type`` filter so that account and
  organisation analyzers (and the unused-access ones) all come back -> ``Analyzer``.

A part that fails (``AccessDenied`` or any other ``ClientError``, a ``CollectorError``, or a botocore error
such as an unreachable regional endpoint) is recorded in ``unavailable[part]`` as
``"<Operation>: <Code>: <message>"`` (``"analyzers:<region>"`` per region) and the other parts are still
read; the state engine does not run a rule that reads a missing part. A part that was not asked for is
recorded there too (``"not collected: ..."``), so that no rule can mistake "not read" for "nothing there".
Throttling and transient errors are retried by :class:`~identity_auditor.collectors.ApiCalls`, through which
every call goes (one instance, created when the caller gives none), so callers can count API calls.

Cost: one ``GetAccountAuthorizationDetails`` per 1,000 users + groups + roles + policies, one
``ListServerCertificates`` per 1,000 certificates, ``1 + providers`` SAML calls, one ``ListAnalyzers`` page
per region (more for many analyzers).

SAML metadata is parsed with the standard library's ElementTree, after refusing documents larger than
:data:`MAX_METADATA_BYTES` or carrying a DOCTYPE (which is where entity declarations, and with them entity
expansion attacks, live); certificates are loaded with ``cryptography`` (imported on first use, so that a
sweep without SAML providers does not pay for it), never parsed by hand.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Collection, Iterator, Mapping
from datetime import datetime, timezone
from types import MappingProxyType
from typing import Any
from xml.etree import ElementTree

from botocore.exceptions import BotoCoreError, ClientError

from identity_auditor.collectors import ApiCalls, CollectorError, error_code, why_unread
from identity_auditor.model.snapshots import (
    Analyzer,
    IamPosture,
    IamPrincipal,
    InlinePolicy,
    ManagedPolicy,
    SamlProvider,
    ServerCertificate,
    SigningCertificate,
)
from identity_auditor.model.text import clip

AUTHORIZATION = "authorization"
SERVER_CERTIFICATES = "server_certificates"
SAML_PROVIDERS = "saml_providers"
ANALYZERS = "analyzers"
PARTS = (AUTHORIZATION, SERVER_CERTIFICATES, SAML_PROVIDERS, ANALYZERS)

AUTHORIZATION_FILTER = ["User", "Role", "Group", "LocalManagedPolicy", "AWSManagedPolicy"]
MAX_METADATA_BYTES = 1024 * 1024  # 1 MiB: real IdP metadata is a few KiB
METADATA_NS = "urn:oasis:names:tc:SAML:2.0:metadata"
XMLDSIG_NS = "http://www.w3.org/2000/09/xmldsig#"
_IDP_DESCRIPTOR = f"{{{METADATA_NS}}}IDPSSODescriptor"
_KEY_DESCRIPTOR = f"{{{METADATA_NS}}}KeyDescriptor"
_X509_CERTIFICATE = f"{{{XMLDSIG_NS}}}X509Certificate"
_DOCTYPE = re.compile("<!DOCTYPE", re.IGNORECASE)
_REASON_LIMIT = 300  # characters of one reason in SamlProvider.unreadable

_ERRORS = (ClientError, BotoCoreError, CollectorError)


class _PartUnavailable(Exception):
    """A part could not be read; ``str()`` is ``"<Operation>: <Code>: <message>"``."""

    def __init__(self, message: str, cause: BaseException):
        super().__init__(message)
        self.cause = cause


def collect_iam_posture(
    iam: Any,
    *,
    account_id: str,
    partition: str,
    analyzers: Mapping[str, Any] | None = None,
    calls: ApiCalls | None = None,
    parts: Collection[str] | None = None,
) -> IamPosture:
    """The IAM posture of the account ``account_id`` (see the module docs for what each part reads).

    ``iam``: a boto3 IAM client of that account; ``analyzers``: region -> a boto3 ``accessanalyzer`` client
    of that region (the regions the sweep covers; none: no analyzer is read); ``calls`` counts and retries
    the requests and may be shared with other collectors; ``parts``: which of :data:`PARTS` to read
    (default all). Raises :class:`ValueError` for an unknown part; AWS errors never escape (they go to
    ``unavailable``).
    """
    wanted = set(PARTS if parts is None else parts)
    unknown = wanted - set(PARTS)
    if unknown:
        raise ValueError(f"unknown IAM posture part(s) {sorted(unknown)}; known: {', '.join(PARTS)}")
    calls = calls or ApiCalls()
    unavailable: dict[str, str] = {}
    found: dict[str, Any] = {}

    readers = ((AUTHORIZATION, lambda: _authorization(iam, calls)),
               (SERVER_CERTIFICATES, lambda: _server_certificates(iam, calls)),
               (SAML_PROVIDERS, lambda: _saml_providers(iam, calls)))
    for part, read in readers:
        if part not in wanted:
            unavailable[part] = "not collected: this part was not asked for"
            continue
        try:
            found[part] = read()
        except _PartUnavailable as failure:
            unavailable[part] = str(failure)

    by_region: dict[str, tuple[Analyzer, ...]] = {}
    for region, client in (analyzers or {}).items():
        key = f"{ANALYZERS}:{region}"
        if ANALYZERS not in wanted:
            unavailable[key] = "not collected: this part was not asked for"
            continue
        try:
            by_region[region] = _analyzers(client, region, calls)
        except _PartUnavailable as failure:
            unavailable[key] = str(failure)

    users, groups, roles, policies = found.get(AUTHORIZATION, ((), (), (), ()))
    return IamPosture(
        account_id=account_id,
        partition=partition,
        users=users,
        groups=groups,
        roles=roles,
        policies=policies,
        server_certificates=found.get(SERVER_CERTIFICATES, ()),
        saml_providers=found.get(SAML_PROVIDERS, ()),
        analyzers=MappingProxyType(by_region),
        unavailable=MappingProxyType(unavailable),
    )


# -- AWS calls, failures named by the operation ------------------------------------------------------------


def _operation_name(client: Any, method: str, error: BaseException) -> str:
    """The API name of the failed call (``GetSAMLProvider``), from the error or the client's model."""
    name = getattr(error, "operation_name", None)
    if isinstance(name, str) and name:
        return name
    mapping = getattr(getattr(client, "meta", None), "method_to_api_mapping", None) or {}
    return mapping.get(method, method)


def _unavailable(client: Any, method: str, error: BaseException) -> _PartUnavailable:
    return _PartUnavailable(why_unread(error, _operation_name(client, method, error)), error)


def _call(calls: ApiCalls, client: Any, method: str, **params: Any) -> dict:
    try:
        return calls.call(client, method, **params)
    except _ERRORS as error:
        raise _unavailable(client, method, error) from error


def _iam_pages(calls: ApiCalls, client: Any, method: str, **params: Any) -> Iterator[dict]:
    try:
        yield from calls.iam_pages(client, method, **params)
    except _ERRORS as error:
        raise _unavailable(client, method, error) from error


# -- authorization details --------------------------------------------------------------------------------


def _authorization(iam: Any, calls: ApiCalls) -> tuple[tuple[IamPrincipal, ...], tuple[IamPrincipal, ...],
                                                        tuple[IamPrincipal, ...], tuple[ManagedPolicy, ...]]:
    users: list[IamPrincipal] = []
    groups: list[IamPrincipal] = []
    roles: list[IamPrincipal] = []
    policies: list[ManagedPolicy] = []
    for page in _iam_pages(calls, iam, "get_account_authorization_details", Filter=list(AUTHORIZATION_FILTER)):
        users.extend(_principal("user", detail) for detail in page.get("UserDetailList", []))
        groups.extend(_principal("group", detail) for detail in page.get("GroupDetailList", []))
        roles.extend(_principal("role", detail) for detail in page.get("RoleDetailList", []))
        policies.extend(managed_policy(detail) for detail in page.get("Policies", []))
    return tuple(users), tuple(groups), tuple(roles), tuple(policies)


_DETAIL_FIELDS = {  # kind -> (name, unique id, inline policy list) fields of its GetAccountAuthorizationDetails entry
    "user": ("UserName", "UserId", "UserPolicyList"),
    "group": ("GroupName", "GroupId", "GroupPolicyList"),
    "role": ("RoleName", "RoleId", "RolePolicyList"),
}


def _principal(kind: str, detail: dict) -> IamPrincipal:
    """A ``UserDetail``, ``GroupDetail`` or ``RoleDetail`` entry as an :class:`IamPrincipal`."""
    name_field, id_field, inline_field = _DETAIL_FIELDS[kind]
    boundary = detail.get("PermissionsBoundary") or {}
    return IamPrincipal(
        kind=kind,
        name=detail[name_field],
        arn=detail["Arn"],
        principal_id=detail.get(id_field),
        path=detail.get("Path") or "/",
        attached=tuple(policy["PolicyArn"] for policy in detail.get("AttachedManagedPolicies", [])
                       if policy.get("PolicyArn")),
        inline=tuple(InlinePolicy(policy["PolicyName"], policy.get("PolicyDocument"))
                     for policy in detail.get(inline_field, [])),
        groups=tuple(detail.get("GroupList", [])) if kind == "user" else (),
        permissions_boundary=boundary.get("PermissionsBoundaryArn") or None,
    )


def managed_policy(detail: dict) -> ManagedPolicy:
    """A ``ManagedPolicyDetail`` entry as a :class:`ManagedPolicy` (its default version's document)."""
    arn = detail["Arn"]
    return ManagedPolicy(
        arn=arn,
        name=detail.get("PolicyName") or arn.rsplit("/", 1)[-1],
        policy_id=detail.get("PolicyId"),
        path=detail.get("Path") or "/",
        attachment_count=int(detail.get("AttachmentCount") or 0),
        document=_default_document(detail),
        aws_managed=_arn_account(arn) == "aws",
    )


def _default_document(detail: dict) -> dict | str | None:
    """The document of the version marked ``IsDefaultVersion`` (or, failing that, ``DefaultVersionId``)."""
    versions = detail.get("PolicyVersionList", [])
    default = next((version for version in versions if version.get("IsDefaultVersion")), None)
    if default is None:
        default = next((version for version in versions
                        if version.get("VersionId") and version.get("VersionId") == detail.get("DefaultVersionId")),
                       None)
    return None if default is None else default.get("Document")


def _arn_account(arn: str) -> str:
    fields = arn.split(":")
    return fields[4] if len(fields) > 5 else ""


# -- server certificates ----------------------------------------------------------------------------------


def _server_certificates(iam: Any, calls: ApiCalls) -> tuple[ServerCertificate, ...]:
    return tuple(
        ServerCertificate(
            name=metadata["ServerCertificateName"],
            arn=metadata["Arn"],
            certificate_id=metadata.get("ServerCertificateId"),
            path=metadata.get("Path") or "/",
            expiration=_utc(metadata.get("Expiration")),
            uploaded=_utc(metadata.get("UploadDate")),
        )
        for page in _iam_pages(calls, iam, "list_server_certificates")
        for metadata in page.get("ServerCertificateMetadataList", [])
    )


# -- SAML providers ---------------------------------------------------------------------------------------


def _saml_providers(iam: Any, calls: ApiCalls) -> tuple[SamlProvider, ...]:
    providers = []
    for listed in _call(calls, iam, "list_saml_providers").get("SAMLProviderList", []):
        arn = listed["Arn"]
        try:
            detail = _call(calls, iam, "get_saml_provider", SAMLProviderArn=arn)
        except _PartUnavailable as failure:
            if isinstance(failure.cause, ClientError) and error_code(failure.cause) == "NoSuchEntity":
                continue  # deleted since it was listed
            raise
        certificates, unreadable = saml_signing_certificates(detail.get("SAMLMetadataDocument"))
        providers.append(SamlProvider(
            arn=arn,
            name=arn.split(":saml-provider/", 1)[-1],
            valid_until=_utc(detail.get("ValidUntil", listed.get("ValidUntil"))),
            certificates=certificates,
            unreadable=unreadable,
        ))
    return tuple(providers)


def saml_signing_certificates(metadata: str | bytes | None) -> tuple[tuple[SigningCertificate, ...], str]:
    """The signing certificates of a SAML metadata document, and why (part of) it could not be read.

    Takes every ``ds:X509Certificate`` under a ``KeyDescriptor`` of an ``IDPSSODescriptor`` whose ``use`` is
    ``signing`` or absent (encryption keys, the document's own ``ds:Signature`` and WS-Federation
    ``RoleDescriptor`` keys are not what signs the SAML responses AWS checks), base64-decodes it and loads
    the DER with ``cryptography``; a certificate met twice is listed once. ``bytes`` must be UTF-8 (the IAM
    API's document is text); the DOCTYPE check is made on the text, so no encoding can hide one.

    Returns ``(certificates, "")`` when the whole document was read; otherwise the second item says why,
    one reason per problem joined
    with ``"; "``: the document is missing, too large (> :data:`MAX_METADATA_BYTES`), carries a DOCTYPE, is
    not XML, holds no signing certificate, or a certificate does not decode or load (that certificate is
    skipped, the others are kept). Pure: no AWS call.
    """
    if not metadata:
        return (), "no SAML metadata document"
    size = len(metadata) if isinstance(metadata, bytes) else len(metadata.encode("utf-8", "surrogatepass"))
    if size > MAX_METADATA_BYTES:
        return (), f"metadata document not read: {size} bytes, more than the {MAX_METADATA_BYTES} accepted"
    try:
        text = metadata.decode("utf-8") if isinstance(metadata, bytes) else metadata
    except UnicodeDecodeError as error:
        return (), clip(f"metadata document not read: not UTF-8 ({error})", _REASON_LIMIT)
    if _DOCTYPE.search(text):
        return (), "metadata document not read: it carries a DOCTYPE (entity declarations are refused)"
    try:
        root = ElementTree.fromstring(text)
    except (ElementTree.ParseError, UnicodeError) as error:
        return (), clip(f"metadata document is not XML: {error}", _REASON_LIMIT)

    certificates: list[SigningCertificate] = []
    problems: list[str] = []
    seen: set[str] = set()
    found = 0
    for descriptor in root.iter(_IDP_DESCRIPTOR):
        for key in descriptor.findall(_KEY_DESCRIPTOR):
            if key.get("use", "signing") != "signing":
                continue
            for element in key.iter(_X509_CERTIFICATE):
                found += 1
                certificate, problem = _signing_certificate(element.text or "", found)
                if problem:
                    problems.append(problem)
                elif certificate is not None and certificate.sha256 not in seen:
                    seen.add(certificate.sha256)
                    certificates.append(certificate)
    if not found:
        problems.append("no signing certificate in the metadata "
                        "(IDPSSODescriptor/KeyDescriptor/KeyInfo/X509Data/X509Certificate)")
    return tuple(certificates), "; ".join(problems)


def _signing_certificate(text: str, number: int) -> tuple[SigningCertificate | None, str]:
    """One ``X509Certificate`` element's text (base64 of the DER) loaded; or why it could not be."""
    from cryptography import x509  # noqa: PLC0415 - on first use: cold starts without SAML skip it
    from cryptography.hazmat.primitives import hashes  # noqa: PLC0415

    try:
        der = base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError) as error:
        return None, clip(f"signing certificate {number} is not base64: {error}", _REASON_LIMIT)
    if not der:
        return None, f"signing certificate {number} is empty"
    try:
        certificate = x509.load_der_x509_certificate(der)
        return SigningCertificate(
            subject=certificate.subject.rfc4514_string(),
            not_after=certificate.not_valid_after_utc,
            sha256=certificate.fingerprint(hashes.SHA256()).hex(),
        ), ""
    except ValueError as error:
        return None, clip(f"signing certificate {number} could not be loaded: {error}", _REASON_LIMIT)


# -- Access Analyzer --------------------------------------------------------------------------------------


def _analyzers(client: Any, region: str, calls: ApiCalls) -> tuple[Analyzer, ...]:
    try:
        return tuple(Analyzer(arn=item["arn"], name=item["name"], type=item["type"], status=item["status"],
                              region=region)
                     for page in calls.token_pages(client, "list_analyzers", token="nextToken")
                     for item in page.get("analyzers", []))
    except _ERRORS as error:
        raise _unavailable(client, "list_analyzers", error) from error


def _utc(value: Any) -> datetime | None:
    """A timestamp as an aware UTC datetime (a naive one is taken as UTC); ``None`` when absent."""
    if not isinstance(value, datetime):
        return None
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


__all__ = [
    "ANALYZERS",
    "AUTHORIZATION",
    "MAX_METADATA_BYTES",
    "PARTS",
    "SAML_PROVIDERS",
    "SERVER_CERTIFICATES",
    "collect_iam_posture",
    "managed_policy",
    "saml_signing_certificates",
]
