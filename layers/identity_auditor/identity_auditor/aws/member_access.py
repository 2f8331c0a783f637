"""Credentials in the organisation's member accounts, for the work that must happen *in* them.

Security Hub accepts ``BatchImportFindings`` for a custom integration only from the account named in
the finding's ``AwsAccountId``, and an AWS Config organisation rule's evaluations and the IAM state it
judges belong to the member account. For both, the central auditor assumes a narrowly scoped role that
the forwarder StackSet creates in every member account (``MemberRoleName``; it trusts only the
auditor's own roles in the security account). Credentials are cached per account and renewed five
minutes before they expire; boto3 is imported on first use.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

ROLE_NAME = re.compile(r"^(?:[\w+=,.@-]+/)*[\w+=,.@-]{1,64}$")  # an IAM role name, optionally under a path
ACCOUNT = re.compile(r"^\d{12}$")
SESSION_NAME = "identity-auditor"
DEFAULT_ROLE_NAME = "identity-auditor-member"  # template.yaml's MemberRoleName default (a test keeps them equal)
# forwarder.yaml's AuditReaderRole: the member role's reads without its writes, for people and CI running
# `audit-account --organization` (created when the main stack's AuditReaderPrincipalArns names them)
READER_ROLE_NAME = f"{DEFAULT_ROLE_NAME}-reader"
RENEW_BEFORE = timedelta(minutes=5)


class MemberAccessError(RuntimeError):
    """The member account's role could not be assumed; the message names the role and the reason.
    ``permanent``: STS refused (the role is missing, not trusted, denied by an SCP), as opposed to a
    throttled or failed call that a later attempt may win."""

    def __init__(self, message: str, *, permanent: bool = True):
        super().__init__(message)
        self.permanent = permanent


# STS answers that another attempt will not change (the others: throttling, 5xx, network).
REFUSALS = frozenset({"AccessDenied", "AccessDeniedException", "InvalidClientTokenId", "RegionDisabledException",
                      "NoSuchEntity", "ValidationError"})
REFUSAL_CACHE = timedelta(minutes=5)  # a refused role is not asked again for each finding of a batch


def member_role_arn(partition: str, account: str, role_name: str) -> str:
    return f"arn:{partition}:iam::{account}:role/{role_name.strip('/')}"


class MemberAccess:
    """``session(account)`` gives a boto3 session in that member account, or ``None`` for the home
    account (the function's own credentials) and when no member role is configured."""

    def __init__(
        self,
        role_name: str | None,
        *,
        home_account: str,
        partition: str = "aws",
        region: str | None = None,
        sts_client: Callable[[], object] | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
    ):
        if role_name and not ROLE_NAME.match(role_name.strip("/")):
            raise ValueError(f"member role name {role_name!r} is not an IAM role name")
        self.role_name = role_name.strip("/") if role_name else None
        self.home_account = home_account
        self.partition = partition
        self.region = region
        self._sts_client = sts_client
        self._sts = None
        self.clock = clock
        self._cache: dict[str, tuple[object, datetime]] = {}
        self._refused: dict[str, tuple[MemberAccessError, datetime]] = {}
        self._lock = threading.Lock()
        self.assumed = 0  # AssumeRole calls made (for logs and tests)

    def enabled_for(self, account: str | None) -> bool:
        """Whether work about ``account`` happens through its member role."""
        return bool(self.role_name and account and account != self.home_account and ACCOUNT.match(account))

    def session(self, account: str | None):
        if not self.enabled_for(account):
            return None
        with self._lock:
            now = self.clock()
            cached = self._cache.get(account)
            if cached and cached[1] - RENEW_BEFORE > now:
                return cached[0]
            refused = self._refused.get(account)
            if refused and refused[1] > now:
                raise refused[0]
            try:
                session, expires = self._assume(account)
            except MemberAccessError as error:
                if error.permanent:
                    self._refused[account] = (error, now + REFUSAL_CACHE)
                raise
            self._refused.pop(account, None)
            self._cache[account] = (session, expires)
            return session

    def _assume(self, account: str):
        import boto3
        from botocore.exceptions import BotoCoreError, ClientError

        if self._sts is None:
            self._sts = self._sts_client() if self._sts_client else boto3.client("sts", region_name=self.region)
        arn = member_role_arn(self.partition, account, self.role_name)
        try:
            response = self._sts.assume_role(RoleArn=arn, RoleSessionName=SESSION_NAME, DurationSeconds=3600)
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "")
            raise MemberAccessError(f"cannot assume {arn}: {error}", permanent=code in REFUSALS) from error
        except BotoCoreError as error:
            raise MemberAccessError(f"cannot assume {arn}: {error}", permanent=False) from error
        self.assumed += 1
        credentials = response["Credentials"]
        session = boto3.Session(
            aws_access_key_id=credentials["AccessKeyId"],
            aws_secret_access_key=credentials["SecretAccessKey"],
            aws_session_token=credentials["SessionToken"],
        )
        expires = credentials["Expiration"]
        if isinstance(expires, str):
            expires = datetime.fromisoformat(expires.replace("Z", "+00:00"))
        return session, expires
