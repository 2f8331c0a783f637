"""Typed models of what the auditor reads: CloudTrail records and the EventBridge envelopes around them.

Parsing happens once, at the edge (handler or CLI); past that, code works with these models and never
with raw dicts. The models follow the shapes in real records (see ``events/`` and the corpus): unknown
fields are ignored, optional fields may be missing or ``null``, and identifiers (accounts, regions,
addresses) are kept exactly as given, masked or not, because they are evidence, not input to validate.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_core import PydanticCustomError

# CloudTrail records as delivered to EventBridge carry one of these detail-types.
API_CALL = "AWS API Call via CloudTrail"
CONSOLE_SIGN_IN = "AWS Console Sign In via CloudTrail"
SERVICE_EVENT = "AWS Service Event via CloudTrail"

RESERVED_SSO_ROLE_PREFIX = "AWSReservedSSO_"
# what Identity Center appends to AWSReservedSSO_<permission set name>: "_" and 16 hexadecimal characters
RESERVED_SSO_ROLE_SUFFIX = r"_[0-9a-fA-F]{16}"
RESERVED_SSO_ROLE_PATH = "/aws-reserved/sso.amazonaws.com/"
IDENTITY_CENTER_SERVICE = "sso.amazonaws.com"
IDENTITY_CENTER_SERVICE_ROLE = "AWSServiceRoleForSSO"
ROOT_USER_NAME = "AWS ROOT USER"  # how CloudTrail names root in requestParameters.userName
# What CloudTrail writes instead of a value it will not show (a user name typed wrong at sign-in, a group's
# display name since July 2025, secrets in request parameters).
HIDDEN_VALUE = "HIDDEN_DUE_TO_SECURITY_REASONS"
IDENTITY_CENTER_USER = "IdentityCenterUser"
# The identity types of Identity Center's user records: ``IdentityCenterUser`` for signed-in users since July
# 2025; ``Unknown`` before, and still for unauthenticated sign-in steps (AWS Security Blog, "Important changes
# to CloudTrail events for AWS IAM Identity Center", 2024-11-19, updated 2025-11-26).
IDENTITY_CENTER_USER_TYPES = (IDENTITY_CENTER_USER, "Unknown")
_NOT_A_NAME = frozenset({"", "unknown", HIDDEN_VALUE.lower()})
_PARTITION = re.compile(r"aws(-[a-z]+)*", re.ASCII)
# Services whose CloudTrail event names carry the API version (``UpdateFunctionCode20150331v2``): rules and
# routes name the operation, records are matched after removing the suffix.
VERSIONED_EVENT_SOURCES = frozenset({"lambda.amazonaws.com"})
_API_VERSION_SUFFIX = re.compile(r"\d{8}(v\d+)?$", re.ASCII)
_RESERVED_SSO_PREFIX_FOLDED = RESERVED_SSO_ROLE_PREFIX.lower()
# how the ARNs of Identity Center's own service-linked role, and of its sessions, end or read
_IDENTITY_CENTER_ROLE_ARN_END = f":role/aws-service-role/sso.amazonaws.com/{IDENTITY_CENTER_SERVICE_ROLE}"
_IDENTITY_CENTER_SESSION = f":assumed-role/{IDENTITY_CENTER_SERVICE_ROLE}/"


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)


class SessionIssuer(_Model):
    type: str | None = None
    principal_id: str | None = Field(None, alias="principalId")
    arn: str | None = None
    account_id: str | None = Field(None, alias="accountId")
    user_name: str | None = Field(None, alias="userName")


class SessionAttributes(_Model):
    mfa_authenticated: str | None = Field(None, alias="mfaAuthenticated")
    creation_date: str | None = Field(None, alias="creationDate")


class SessionContext(_Model):
    session_issuer: SessionIssuer | None = Field(None, alias="sessionIssuer")
    attributes: SessionAttributes | None = None
    source_identity: str | None = Field(None, alias="sourceIdentity")
    # "true" on a root session that sts:AssumeRoot issued (centralised root access)
    assumed_root: str | None = Field(None, alias="assumedRoot")


class OnBehalfOf(_Model):
    """The workforce user a call was made for (2025 Identity Center records: ``userIdentity.type``
    ``IdentityCenterUser`` with no ``userName``; trusted identity propagation on role sessions).
    ``user_id`` is the Identity Center user id; ``subject`` / ``federated_provider_arn`` name the user of
    the IAM federation path."""

    user_id: str | None = Field(None, alias="userId")
    identity_store_arn: str | None = Field(None, alias="identityStoreArn")
    subject: str | None = None
    federated_provider_arn: str | None = Field(None, alias="federatedProviderArn")


class UserIdentity(_Model):
    type: str | None = None
    principal_id: str | None = Field(None, alias="principalId")
    arn: str | None = None
    account_id: str | None = Field(None, alias="accountId")
    access_key_id: str | None = Field(None, alias="accessKeyId")
    user_name: str | None = Field(None, alias="userName")
    invoked_by: str | None = Field(None, alias="invokedBy")
    session_context: SessionContext | None = Field(None, alias="sessionContext")
    on_behalf_of: OnBehalfOf | None = Field(None, alias="onBehalfOf")
    credential_id: str | None = Field(None, alias="credentialId")

    @property
    def assumed_root(self) -> bool:
        """A root session that ``sts:AssumeRoot`` issued (``sessionContext.assumedRoot == "true"``)."""
        context = self.session_context
        return bool(context and str(context.assumed_root or "").lower() == "true")

    @property
    def identity_center_user_id(self) -> str | None:
        """The Identity Center user the call was made by or for: ``onBehalfOf.userId`` (2025 shape)."""
        if self.on_behalf_of and self.on_behalf_of.user_id:
            return self.on_behalf_of.user_id
        return None

    @property
    def issuer(self) -> SessionIssuer | None:
        return self.session_context.session_issuer if self.session_context else None

    @property
    def mfa_authenticated(self) -> bool:
        attributes = self.session_context.attributes if self.session_context else None
        return bool(attributes and (attributes.mfa_authenticated or "").lower() == "true")

    @property
    def arns(self) -> tuple[str, ...]:
        """Every ARN that names the caller: the session or user ARN, and the issuing role's ARN (which
        is what an allow-list of role ARNs matches for an assumed-role session)."""
        issuer = self.issuer
        return tuple(arn for arn in (self.arn, issuer.arn if issuer else None) if arn)

    @property
    def display_name(self) -> str:
        """The name a person recognises: user name, role session, or the ARN. An Identity Center user
        without ``userName`` (the 2025 shape) is named by ``onBehalfOf.userId``; a placeholder user name
        (``HIDDEN_DUE_TO_SECURITY_REASONS``) gives way to that id when there is one.
        :attr:`CloudTrailRecord.actor_name` also reads the user name typed at sign-in."""
        if self.type == "Root":
            return "root"
        if named(self.user_name):
            return self.user_name
        if self.type in IDENTITY_CENTER_USER_TYPES and self.identity_center_user_id:
            return self.identity_center_user_id  # the 2025 shape names the user only here
        if self.user_name:
            return self.user_name
        if self.arn and "/" in self.arn:
            return self.arn.split("/", 1)[1]
        return self.arn or self.principal_id or self.type or "unknown"


# the times a record may carry (see CloudTrailRecord._in_utc): 8 days inside the calendar's ends, so that a time plus or
# minus a sequence's window (7 days at most, policy/loader.py) is still a time
_FIRST_TIME = datetime.min.replace(tzinfo=timezone.utc) + timedelta(days=8)
_LAST_TIME = datetime.max.replace(tzinfo=timezone.utc) - timedelta(days=8)


class CloudTrailRecord(_Model):
    """One CloudTrail record (the ``detail`` of an EventBridge CloudTrail event)."""

    event_version: str | None = Field(None, alias="eventVersion")
    user_identity: UserIdentity = Field(default_factory=UserIdentity, alias="userIdentity")
    event_time: datetime | None = Field(None, alias="eventTime")

    @field_validator("event_time", mode="after")
    @classmethod
    def _in_utc(cls, value: datetime | None) -> datetime | None:
        """CloudTrail writes UTC (``...Z``); a time without a zone is read as UTC, so that every time compares with
        every other (a naive one would crash the sequences' ordering). A time at the very ends of the calendar (in
        UTC before year 1, or within 8 days of its first or last day, where a sequence's window of up to 7 days
        around it cannot be computed) is no time: the record is evaluated without it, like any unreadable time."""
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        try:
            in_utc = value.astimezone(timezone.utc)
        except OverflowError:
            in_utc = None
        if in_utc is None or not _FIRST_TIME <= in_utc <= _LAST_TIME:
            raise ValueError("outside the calendar a time can be computed in")
        return value
    event_source: str = Field(alias="eventSource")
    event_name: str = Field(alias="eventName")
    aws_region: str | None = Field(None, alias="awsRegion")
    source_ip_address: str | None = Field(None, alias="sourceIPAddress")
    user_agent: str | None = Field(None, alias="userAgent")
    error_code: str | None = Field(None, alias="errorCode")
    error_message: str | None = Field(None, alias="errorMessage")
    request_parameters: dict[str, Any] | None = Field(None, alias="requestParameters")
    response_elements: dict[str, Any] | None = Field(None, alias="responseElements")
    additional_event_data: dict[str, Any] | None = Field(None, alias="additionalEventData")
    service_event_details: dict[str, Any] | None = Field(None, alias="serviceEventDetails")
    request_id: str | None = Field(None, alias="requestID")
    event_id: str | None = Field(None, alias="eventID")
    read_only: bool | None = Field(None, alias="readOnly")
    event_type: str | None = Field(None, alias="eventType")
    recipient_account_id: str | None = Field(None, alias="recipientAccountId")
    # an eventTime that is text but no time (e.g. day 00): kept as given, the record evaluated without a time
    event_time_unreadable: str | None = Field(None, alias="eventTimeUnreadable")

    @model_validator(mode="wrap")
    @classmethod
    def _evaluated_without_an_impossible_time(cls, data: Any, handler):
        """A record whose only fault is an ``eventTime`` that cannot be read as a time is still evaluated (its
        findings must not be lost for it): the time is left out and the text kept in ``event_time_unreadable``,
        which the findings report. Any other fault fails as before."""
        try:
            return handler(data)
        except ValidationError as error:
            time = data.get("eventTime") if isinstance(data, dict) else None
            if not isinstance(time, str) or any(tuple(e["loc"]) != ("eventTime",) for e in error.errors()):
                raise
            return handler({**data, "eventTime": None, "eventTimeUnreadable": time[:100]})
    # "true" on calls made with console credentials; kept as given (records are evidence, not input to validate)
    session_credential_from_console: Any = Field(None, alias="sessionCredentialFromConsole")

    # -- facts the rules share (the conventions of spec/rules.md) --------------------------------

    @property
    def succeeded(self) -> bool:
        """The call took effect: no ``errorCode`` and no ``"Failure"`` in the response or service details.

        Failed console logins and Identity Center credential checks carry ``errorMessage`` and a
        ``Failure`` value instead of an ``errorCode``.
        """
        if self.error_code:
            return False
        for block in (self.response_elements, self.service_event_details):
            if block and "Failure" in block.values():
                return False
        return True

    @property
    def by_identity_center(self) -> bool:
        """Identity Center acting on its own behalf (provisioning reserved roles, its SAML provider).

        A session is Identity Center's when its issuer is the service-linked role (whose ARN carries
        the ``/aws-service-role/sso.amazonaws.com/`` path, which no ordinary role can have); the
        session ARN, which has no path, is used only when the record has no session issuer.
        """
        identity = self.user_identity
        if IDENTITY_CENTER_SERVICE in (identity.invoked_by, self.source_ip_address):
            return True
        issuer = identity.issuer
        if issuer and issuer.arn:
            return issuer.arn.endswith(_IDENTITY_CENTER_ROLE_ARN_END)
        return _IDENTITY_CENTER_SESSION in (identity.arn or "")

    @property
    def typed_user_name(self) -> str | None:
        """The user name typed at an Identity Center sign-in (``additionalEventData.UserName`` of
        ``CredentialChallenge`` / ``UserAuthentication``), when it names someone: ``None`` for the
        placeholder ``HIDDEN_DUE_TO_SECURITY_REASONS`` (a name typed wrong), ``Unknown`` or blank."""
        return named(self.extra("UserName"))

    @property
    def actor_name(self) -> str:
        """Who made the call, as a person reads it: :attr:`UserIdentity.display_name`, except that an
        Identity Center user record without a user name (the 2025 shape: ``IdentityCenterUser``, only
        ``onBehalfOf.userId``) is named by the user name typed at sign-in when the record has a real one,
        and otherwise by the user id. Never blank when the record names the user in either place."""
        identity = self.user_identity
        if identity.type in IDENTITY_CENTER_USER_TYPES and not named(identity.user_name):
            typed = self.typed_user_name
            if typed:
                return typed
        return identity.display_name

    @property
    def caller(self) -> str:
        """Who made the call (:attr:`actor_name`), and the AWS service that made it for them
        (``invokedBy``), if any."""
        via = self.user_identity.invoked_by
        name = self.actor_name
        return f"{name} (via {via})" if via else name

    @property
    def acts_on_other_user(self) -> bool:
        """An IAM user or root acting on a *different* IAM user named in ``requestParameters.userName``
        (spec: "for another user"). Role sessions acting on users are not "another user"."""
        target = self.request("userName")
        identity = self.user_identity
        if identity.type == "Root" and target == ROOT_USER_NAME:  # root acting on itself, as CloudTrail writes it
            return False
        return identity.type in ("IAMUser", "Root") and bool(target) and target != identity.user_name

    def request(self, key: str) -> Any:
        """A request parameter, or ``None`` (``requestParameters`` may itself be ``null``). The key is
        matched exactly first, then ignoring case (CloudTrail's casing of parameter names varies by
        service: ``sAMLProviderArn``, ``openIDConnectProviderArn``)."""
        block = self.request_parameters
        if block is not None and key in block:  # the exact key: most lookups
            return block[key]
        return lookup(block, key)

    def response(self, key: str) -> Any:
        """A field of ``responseElements`` (matched like :meth:`request`), or ``None``."""
        block = self.response_elements
        if block is not None and key in block:
            return block[key]
        return lookup(block, key)

    def extra(self, key: str) -> Any:
        """A field of ``additionalEventData``, or ``None``."""
        return (self.additional_event_data or {}).get(key)

    @property
    def account_id(self) -> str:
        """The account the event happened in (as recorded; possibly masked)."""
        return self.recipient_account_id or self.user_identity.account_id or "unknown"

    @property
    def partition(self) -> str:
        return partition_of(self.user_identity.arn, self.aws_region)


def named(value: Any) -> str | None:
    """``value`` when it names someone: a non-blank string that is not a placeholder CloudTrail writes
    instead of a name (``HIDDEN_DUE_TO_SECURITY_REASONS``, ``Unknown``); otherwise ``None``."""
    if isinstance(value, str) and value.strip().lower() not in _NOT_A_NAME:
        return value
    return None


def lookup(block: Any, *path: str) -> Any:
    """A field of a record's block, or a nested one (``lookup(request, "findingFieldsUpdate", "Workflow",
    "Status")``): each key matched exactly first, then ignoring case (CloudTrail keeps each service's own casing:
    ``sAMLProviderArn``, ``openIDConnectProviderArn``); ``None`` when any step is absent or not an object."""
    for key in path:
        if not isinstance(block, dict):
            return None
        if key in block:
            block = block[key]
            continue
        folded = key.lower()
        for name, value in block.items():
            if (name if type(name) is str else str(name)).lower() == folded:
                block = value
                break
        else:
            block = None
    return block


def as_text(value: Any) -> str:
    """A record value as text: the value when it is a string, else ``""`` (records can carry anything)."""
    return value if isinstance(value, str) else ""


def as_name(value: Any) -> str | None:
    """A record value that should be a name or an ARN: the value when it is a non-empty string, else ``None``."""
    return value if isinstance(value, str) and value else None


def base_event_name(event_source: str, event_name: str) -> str:
    """The operation a record names: ``event_name`` without the API version suffix that CloudTrail appends
    for the services of :data:`VERSIONED_EVENT_SOURCES` (``DeleteFunction20150331`` -> ``DeleteFunction``)."""
    if event_source in VERSIONED_EVENT_SOURCES and isinstance(event_name, str):
        return _API_VERSION_SUFFIX.sub("", event_name) or event_name
    return event_name


def partition_of(arn: str | None, region: str | None) -> str:
    """The AWS partition, from an ARN when there is one, otherwise from the region name. An ARN whose
    partition is not an AWS partition name (``aws``, ``aws-cn``, ``aws-us-gov``, ...) does not count."""
    if arn and arn.startswith("arn:"):
        parts = arn.split(":", 2)
        if len(parts) > 1 and _PARTITION.fullmatch(parts[1]):
            return parts[1]
    if region:
        if region.startswith("cn-"):
            return "aws-cn"
        if region.startswith("us-gov-"):
            return "aws-us-gov"
    return "aws"


def is_reserved_sso_role(role_name: str | None, path: str | None = None) -> bool:
    """A role that Identity Center provisions and owns (spec: name prefix or reserved path), the name compared
    ignoring case: IAM names are not distinguished by case, so a call naming ``awsreservedsso_admin_...`` changes
    the reserved role (issue 16, point 8)."""
    if isinstance(path, str) and path.lower().startswith(RESERVED_SSO_ROLE_PATH):
        return True
    return (isinstance(role_name, str)
            and role_name[:len(RESERVED_SSO_ROLE_PREFIX)].lower() == _RESERVED_SSO_PREFIX_FOLDED)


class CloudTrailEvent(BaseModel):
    """An EventBridge event whose ``detail`` is a CloudTrail record.

    ``version`` is optional because real envelopes (and the AWS documentation's samples) omit it. The fields
    are Powertools' ``EventBridgeModel``'s, in its order, with the same rules (importing Powertools' parser
    models costs ``identity-auditor evaluate`` about 80 ms of start-up: every event source's models).
    """

    model_config = ConfigDict(populate_by_name=True)

    version: str = "0"
    id: str
    source: str
    account: str
    time: datetime
    region: str
    resources: list[str] = Field(default_factory=list)
    detail_type: str = Field(..., alias="detail-type")
    detail: CloudTrailRecord
    replay_name: str | None = Field(None, alias="replay-name")

    @field_validator("detail", mode="before")
    @classmethod
    def _scheduler_detail(cls, value: Any, info) -> Any:
        # as EventBridgeModel: EventBridge Scheduler sends detail as the string '{}' when there is no payload
        return {} if info.data.get("source") == "aws.scheduler" and value == "{}" else value

    @model_validator(mode="wrap")
    @classmethod
    def _name_the_record(cls, data: Any, handler):
        """A malformed event fails with a first error that names its record (``eventID``, ``eventSource``,
        ``eventName``; the envelope ``id`` when there is no record), so the failed invocation's message
        says which event to look for in the dead-letter queue. The other errors follow unchanged."""
        try:
            return handler(data)
        except ValidationError as error:
            first = {"type": PydanticCustomError("invalid_cloudtrail_event", "{problem}",
                                                 {"problem": invalid_event_message(data)}), "loc": (), "input": ""}
            raise ValidationError.from_exception_data(cls.__name__, [first, *error.errors()]) from None


_JSON_KINDS = {"NoneType": "null", "list": "an array", "str": "a string", "int": "a number", "float": "a number",
               "bool": "a boolean", "dict": "an object"}


def invalid_event_message(event: Any) -> str:
    """What an error says about an event that is not a valid CloudTrail event, naming it:
    ``CloudTrail event eventID 'e1' (eventSource 'iam.amazonaws.com', eventName 'CreateUser') is not
    valid``. Values are shown with ``repr`` and clipped: nothing in them (control or bidi characters, lone
    surrogates, huge or deeply nested values) reaches the message as is."""
    if not isinstance(event, dict):
        return f"the event is {_kind(event)}, not an EventBridge event object"
    detail = event.get("detail")
    if not isinstance(detail, dict):
        return f"EventBridge event id {_shown(event.get('id'))} has {_kind(detail)} as detail, not a CloudTrail record"
    names = f"eventSource {_shown(detail.get('eventSource'))}, eventName {_shown(detail.get('eventName'))}"
    if "eventID" in detail:
        return f"CloudTrail event eventID {_shown(detail['eventID'])} ({names}) is not valid"
    return f"CloudTrail event without eventID, EventBridge id {_shown(event.get('id'))} ({names}), is not valid"


def _kind(value: Any) -> str:
    return _JSON_KINDS.get(type(value).__name__, type(value).__name__)


def _shown(value: Any, limit: int = 80) -> str:
    if isinstance(value, str):
        return repr(value[:limit]) + ("…" if len(value) > limit else "")
    if value is None or isinstance(value, (bool, int, float)):
        return repr(value)[:limit]
    return f"<{_kind(value)}>"
