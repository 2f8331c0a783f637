"""The IAM credential report as :class:`~identity_auditor.model.snapshots.CredentialReportRow` objects.

How the report is obtained (IAM facts, ``design.md`` §3):

1. ``GetCredentialReport``: a report younger than ``max_age`` (default 4 hours, the interval at which
   IAM regenerates at most) is used as it is.
2. Otherwise ``GenerateCredentialReport`` is called and polled (``STARTED`` / ``INPROGRESS``) until it
   answers ``COMPLETE``, backing off with the :class:`~identity_auditor.aws.retry.RetryPolicy`
   between polls (bounded by ``policy.max_attempts``); then the new report is downloaded
   (``ReportInProgress`` is waited out the same way).
3. When IAM refuses to generate (``LimitExceeded``, throttling, still in progress after every poll),
   the newest report at hand is reused: the one ``GetCredentialReport`` returned in step 1, or this
   collector's in-memory copy from an earlier call (e.g. an earlier invocation in the same Lambda
   container). ``served_stale`` then says so. With no report at all, :class:`CollectorError` is raised.

The parsed rows are kept in memory by the collector until the report is older than ``max_age``
(measured from its ``GeneratedTime``, or from the generation this collector completed if IAM hands
back an older report, since asking again sooner cannot give a newer one). After a refusal the stale
rows are served for ``REFUSAL_HOLD_OFF`` before generation is tried again.

Cost: ``GetCredentialReport`` (+ ``GenerateCredentialReport`` polls + a second ``GetCredentialReport``
when the report is too old) + one ``ListUsers`` page per 1,000 users, which fills each row's
``user_id`` (AWS Config's resource id of ``AWS::IAM::User``) and ``path``. No per-user calls.
``api_calls`` counts every request made.
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from identity_auditor.aws.retry import RetryPolicy, is_retryable
from identity_auditor.collectors import ApiCalls, CollectorError, describe, error_code
from identity_auditor.model.snapshots import ROOT_USER, AccessKeyState, CredentialReportRow

logger = logging.getLogger(__name__)

DEFAULT_MAX_AGE = timedelta(hours=4)
# Polling a report generation takes longer than a throttling retry: ~20 s expected, ~40 s at most.
DEFAULT_POLICY = RetryPolicy(max_attempts=8, base_delay=0.5, max_delay=8.0)
REFUSAL_HOLD_OFF = timedelta(minutes=5)
ABSENT = frozenset({"ReportNotPresent", "ReportExpired"})
EMPTY_VALUES = frozenset({"n/a", "not_supported", "no_information", ""})

BOOLEAN_COLUMNS = ("password_enabled", "mfa_active", "access_key_1_active", "access_key_2_active",
                   "cert_1_active", "cert_2_active")
TIME_COLUMNS = ("user_creation_time", "password_last_used", "password_last_changed", "password_next_rotation",
                "access_key_1_last_rotated", "access_key_1_last_used_date",
                "access_key_2_last_rotated", "access_key_2_last_used_date",
                "cert_1_last_rotated", "cert_2_last_rotated")
# Every column of the documented report format, in the order IAM writes them.
COLUMNS = ("user", "arn", "user_creation_time", "password_enabled", "password_last_used",
           "password_last_changed", "password_next_rotation", "mfa_active",
           "access_key_1_active", "access_key_1_last_rotated", "access_key_1_last_used_date",
           "access_key_1_last_used_region", "access_key_1_last_used_service",
           "access_key_2_active", "access_key_2_last_rotated", "access_key_2_last_used_date",
           "access_key_2_last_used_region", "access_key_2_last_used_service",
           "cert_1_active", "cert_1_last_rotated", "cert_2_active", "cert_2_last_rotated")


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


@dataclass(frozen=True)
class _Report:
    rows: tuple[CredentialReportRow, ...]
    generated_at: datetime
    valid_until: datetime
    stale: bool = False


class CredentialReportCollector:
    """Fetches, parses and caches the IAM credential report of the account ``iam`` belongs to.

    ``iam`` is a boto3 IAM client. ``policy`` paces retries of throttled calls and the polling of a
    report generation (default :data:`DEFAULT_POLICY`; tests pass one with a no-op ``sleep``).
    ``clock`` returns the current time (timezone-aware). ``calls`` may be shared with other collectors
    to count the AWS calls of a whole evaluation.
    """

    def __init__(self, iam: Any, *, max_age: timedelta = DEFAULT_MAX_AGE, policy: RetryPolicy | None = None,
                 clock: Callable[[], datetime] = _utcnow, calls: ApiCalls | None = None):
        self.iam = iam
        self.max_age = max_age
        self.clock = clock
        self.calls = calls or ApiCalls(policy or DEFAULT_POLICY)
        self._cache: _Report | None = None

    @property
    def api_calls(self) -> int:
        """How many AWS requests this collector has made (retries and list pages included)."""
        return self.calls.total

    @property
    def generated_at(self) -> datetime | None:
        """``GeneratedTime`` of the report the rows come from (``None`` before the first ``rows()``)."""
        return self._cache.generated_at if self._cache else None

    @property
    def served_stale(self) -> bool:
        """The last rows come from an older report because IAM refused to generate a new one."""
        return bool(self._cache and self._cache.stale)

    def rows(self) -> list[CredentialReportRow]:
        """Every row of the current credential report (the root row ``<root_account>`` included when
        IAM writes it), each with ``user_id`` and ``path`` filled for IAM users."""
        now = self.clock()
        if self._cache is None or now >= self._cache.valid_until:
            self._cache = self._load(now)
        return list(self._cache.rows)

    # -- fetching -------------------------------------------------------------------------------------

    def _load(self, now: datetime) -> _Report:
        existing = None
        try:
            existing = self._get_existing()
            if existing is not None and now - existing[1] < self.max_age:
                return self._build(*existing, valid_from=existing[1])
            self._generate()
            content, generated_at = self._download()
        except (ClientError, BotoCoreError, _NotReady) as error:
            if not _refused(error):
                raise CollectorError(f"credential report: {describe(error)}") from error
            return self._fallback(existing, now, error)
        return self._build(content, generated_at, valid_from=max(generated_at, self.clock()))

    def _get_existing(self) -> tuple[bytes, datetime] | None:
        """The report IAM has now, whatever its age; ``None`` when there is none (or it is being made)."""
        try:
            response = self.calls.call(self.iam, "get_credential_report")
        except ClientError as error:
            if error_code(error) in ABSENT or error_code(error) == "ReportInProgress":
                return None
            raise
        return _content(response), _aware(response["GeneratedTime"])

    def _generate(self) -> None:
        """Ask for a new report and poll until IAM says ``COMPLETE``."""
        attempts = max(1, self.calls.policy.max_attempts)
        for attempt in range(1, attempts + 1):
            state = self.calls.call(self.iam, "generate_credential_report").get("State")
            if state == "COMPLETE":
                return
            if attempt < attempts:
                self.calls.policy.sleep(self.calls.policy.delay(attempt))
        raise _NotReady(f"report generation still {state} after {attempts} polls")

    def _download(self) -> tuple[bytes, datetime]:
        attempts = max(1, self.calls.policy.max_attempts)
        for attempt in range(1, attempts + 1):
            try:
                response = self.calls.call(self.iam, "get_credential_report")
                return _content(response), _aware(response["GeneratedTime"])
            except ClientError as error:
                if error_code(error) != "ReportInProgress":
                    raise
            if attempt < attempts:
                self.calls.policy.sleep(self.calls.policy.delay(attempt))
        raise _NotReady(f"GetCredentialReport still ReportInProgress after {attempts} attempts")

    def _fallback(self, existing: tuple[bytes, datetime] | None, now: datetime, refusal: Exception) -> _Report:
        """The newest report at hand, served stale for :data:`REFUSAL_HOLD_OFF`; else :class:`CollectorError`."""
        reason = str(refusal) if isinstance(refusal, _NotReady) else describe(refusal)
        in_memory = self._cache
        if existing is None and in_memory is None:
            raise CollectorError(
                f"no credential report available: IAM did not generate one ({reason}) and none exists"
            ) from refusal
        hold = now + REFUSAL_HOLD_OFF
        if in_memory is not None and (existing is None or in_memory.generated_at >= existing[1]):
            logger.warning("credential report not regenerated (%s); reusing the in-memory report of %s",
                           reason, in_memory.generated_at.isoformat())
            return _Report(in_memory.rows, in_memory.generated_at, hold, stale=True)
        assert existing is not None
        logger.warning("credential report not regenerated (%s); reusing the report of %s",
                       reason, existing[1].isoformat())
        report = self._build(*existing, valid_from=existing[1])
        return _Report(report.rows, report.generated_at, hold, stale=True)

    def _build(self, content: bytes, generated_at: datetime, *, valid_from: datetime) -> _Report:
        rows = tuple(parse_credential_report(content, self._users()))
        return _Report(rows, generated_at, valid_from + self.max_age)

    def _users(self) -> dict[str, tuple[str, str]]:
        """User name -> (UserId, Path), from one paginated ``ListUsers``."""
        users: dict[str, tuple[str, str]] = {}
        try:
            for page in self.calls.iam_pages(self.iam, "list_users"):
                for user in page.get("Users", []):
                    users[user["UserName"]] = (user["UserId"], user.get("Path") or "/")
        except (ClientError, BotoCoreError) as error:
            raise CollectorError(f"ListUsers failed: {describe(error)}") from error
        return users


class _NotReady(Exception):
    """IAM kept answering "in progress" for every poll the policy allowed."""


# Answers that mean "not now": reuse the last report instead of failing.
_REFUSALS = frozenset({"LimitExceeded", "LimitExceededException", "ServiceFailure", "ReportInProgress"})


def _refused(error: BaseException) -> bool:
    if isinstance(error, ClientError):
        return error_code(error) in _REFUSALS or is_retryable(error)
    return isinstance(error, (BotoCoreError, _NotReady))


def _content(response: dict) -> bytes:
    content = response.get("Content", b"")
    return content.encode() if isinstance(content, str) else content


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


# -- parsing ------------------------------------------------------------------------------------------


def parse_report(content: bytes | str) -> list[dict[str, Any]]:
    """Every row of a credential report CSV as a dict of every column, typed: ``bool`` for the
    ``*_active`` / ``*_enabled`` columns, timezone-aware ``datetime`` for dates, ``str`` otherwise
    (``user``, ``arn``, ``access_key_N_last_used_region`` / ``_service``); ``N/A``, ``not_supported``
    and ``no_information`` become ``None``. Columns IAM may add later are kept as text. Raises
    :class:`CollectorError` on a missing column, a short row or an unreadable value."""
    text = content.decode("utf-8-sig") if isinstance(content, bytes) else content
    reader = csv.DictReader(io.StringIO(text))
    missing = [column for column in COLUMNS if column not in (reader.fieldnames or ())]
    if missing:
        raise CollectorError(f"credential report lacks the columns {', '.join(missing)}")
    return [_typed(line) for line in reader if line.get("user")]


def _typed(line: dict[str, str | None]) -> dict[str, Any]:
    short = [column for column in COLUMNS if line.get(column) is None]
    if short:
        raise CollectorError(f"credential report row {line.get('user')!r} has no value for {', '.join(short)}")
    fields: dict[str, Any] = {}
    for column, raw in line.items():
        if column is None:  # more values than header columns
            continue
        value = (raw or "").strip()
        try:
            if value.lower() in EMPTY_VALUES and column not in ("user", "arn"):
                fields[column] = None
            elif column in BOOLEAN_COLUMNS:
                fields[column] = _boolean(value)
            elif column in TIME_COLUMNS:
                fields[column] = _timestamp(value)
            else:
                fields[column] = value
        except ValueError as error:
            raise CollectorError(f"credential report row {line.get('user')!r}, column {column}: {error}") from None
    return fields


def _boolean(value: str) -> bool:
    if value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise ValueError(f"expected true or false, got {value!r}")


def _timestamp(value: str) -> datetime:
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return _aware(moment)


def row_from_fields(fields: dict[str, Any], identity: tuple[str, str] | None = None) -> CredentialReportRow:
    """A :class:`CredentialReportRow` from one parsed row (see :func:`parse_report`); ``identity`` is the
    user's ``(UserId, Path)`` from ``ListUsers``. Without it the path is read from the user's ARN."""
    user_id, path = identity if identity else (None, _path_from_arn(fields["arn"], fields["user"]))
    return CredentialReportRow(
        user=fields["user"],
        arn=fields["arn"],
        user_creation_time=fields["user_creation_time"],
        password_enabled=fields["password_enabled"],
        password_last_used=fields["password_last_used"],
        password_last_changed=fields["password_last_changed"],
        mfa_active=bool(fields["mfa_active"]),
        access_keys=(_key(fields, 1), _key(fields, 2)),
        certificates_active=(bool(fields["cert_1_active"]), bool(fields["cert_2_active"])),
        user_id=user_id,
        path=path,
    )


def parse_credential_report(content: bytes | str,
                            identities: dict[str, tuple[str, str]] | None = None) -> list[CredentialReportRow]:
    """The rows of a credential report CSV (``identities``: user name -> ``(UserId, Path)``)."""
    identities = identities or {}
    return [row_from_fields(fields, identities.get(fields["user"])) for fields in parse_report(content)]


def _key(fields: dict[str, Any], number: int) -> AccessKeyState:
    return AccessKeyState(
        active=bool(fields[f"access_key_{number}_active"]),
        last_rotated=fields[f"access_key_{number}_last_rotated"],
        last_used=fields[f"access_key_{number}_last_used_date"],
    )


def _path_from_arn(arn: str, user: str) -> str:
    """``/division/`` from ``arn:aws:iam::123456789012:user/division/name``; ``/`` for root and others."""
    if user == ROOT_USER or ":user/" not in arn:
        return "/"
    resource = arn.split(":user", 1)[1]
    return resource.rsplit("/", 1)[0] + "/"

