"""What state rules judge: snapshots of an account's identity state, filled by the collectors.

State rules are pure functions of these snapshots (plus ``ctx.now`` and ``ctx.policy``); only the
collectors (``identity_auditor.collectors``) call AWS to build them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

ROOT_USER = "<root_account>"  # the credential report's name for the root user


@dataclass(frozen=True)
class AccessKeyState:
    active: bool
    last_rotated: datetime | None  # creation of the current key
    last_used: datetime | None


@dataclass(frozen=True)
class CredentialReportRow:
    """One row of the IAM credential report (every column that rules use; ``None`` for N/A values)."""

    user: str
    arn: str
    user_creation_time: datetime | None
    password_enabled: bool | None  # None: "not_supported" (root)
    password_last_used: datetime | None
    password_last_changed: datetime | None
    mfa_active: bool
    access_keys: tuple[AccessKeyState, AccessKeyState]
    certificates_active: tuple[bool, bool] = (False, False)
    user_id: str | None = None  # the IAM unique id (AIDA...): AWS Config's resource id for AWS::IAM::User
    path: str = "/"

    @property
    def is_root(self) -> bool:
        return self.user == ROOT_USER

    @property
    def account_id(self) -> str:
        """The account, from the row's ARN (``arn:aws:iam::<account>:user/...``)."""
        parts = self.arn.split(":")
        return parts[4] if len(parts) > 5 and parts[4] else "unknown"

    @property
    def active_keys(self) -> tuple[AccessKeyState, ...]:
        return tuple(key for key in self.access_keys if key.active)


@dataclass(frozen=True)
class PasswordPolicy:
    minimum_length: int
    password_reuse_prevention: int | None  # None: not set
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class AccountSnapshot:
    """Account-level facts: ``GetAccountSummary``, the password policy (``None``: no policy) and the root
    row of the credential report when AWS includes it."""

    account_id: str
    partition: str
    summary: dict[str, int]
    password_policy: PasswordPolicy | None
    root: CredentialReportRow | None = None
    root_mfa_virtual: bool | None = None  # root's MFA is a virtual device (None: unknown or no MFA)

    @property
    def root_credentials_centrally_managed(self) -> bool:
        """Root has no credentials: no access key, no MFA and a password that was never set or used.

        That is what AWS Organizations' centralised root access leaves (and what a member account created
        by Organizations starts with). The credential report writes root's ``password_enabled`` as
        ``not_supported``, so the password is judged by its ``password_last_changed`` and
        ``password_last_used`` columns. Without the root row (moto) it cannot be told: False."""
        root = self.root
        if root is None:
            return False
        no_password = root.password_enabled is False or (
            root.password_last_changed is None and root.password_last_used is None
        )
        return no_password and not root.active_keys and not root.mfa_active


@dataclass(frozen=True)
class RoleSnapshot:
    name: str
    arn: str
    path: str
    role_id: str | None  # the IAM unique id (AROA...): AWS Config's resource id for AWS::IAM::Role
    trust_policy: dict[str, Any] | str | None
    account_id: str
