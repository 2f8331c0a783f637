"""What state rules judge: snapshots of an account's identity state, filled by the collectors.

State rules are pure functions of these snapshots (plus ``ctx.now`` and ``ctx.policy``); only the
collectors (``identity_auditor.collectors``) call AWS to build them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
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


# -- IAM posture (one sweep: GetAccountAuthorizationDetails, server certificates, SAML providers, analyzers) ----


@dataclass(frozen=True)
class InlinePolicy:
    """An inline policy of a user, group, role or permission set (``document``: as IAM returned it, a dict
    or URL-encoded / plain JSON text; rules parse it with ``rules._lib.trust.parse_policy``)."""

    name: str
    document: dict[str, Any] | str | None


@dataclass(frozen=True)
class ManagedPolicy:
    """A managed policy of the account (customer managed) or an AWS managed policy attached in it."""

    arn: str
    name: str
    policy_id: str | None  # ANPA...: AWS Config's resource id for AWS::IAM::Policy
    path: str
    attachment_count: int
    document: dict[str, Any] | str | None  # the default version's document
    aws_managed: bool = False


@dataclass(frozen=True)
class IamPrincipal:
    """A user, group or role with the policies that give it permissions (``GetAccountAuthorizationDetails``)."""

    kind: str  # "user" | "group" | "role"
    name: str
    arn: str
    principal_id: str | None  # AIDA... / AGPA... / AROA...: AWS Config's resource id
    path: str
    attached: tuple[str, ...]  # managed policy ARNs
    inline: tuple[InlinePolicy, ...] = ()
    groups: tuple[str, ...] = ()  # a user's groups
    permissions_boundary: str | None = None  # managed policy ARN


@dataclass(frozen=True)
class ServerCertificate:
    name: str
    arn: str
    certificate_id: str | None
    path: str
    expiration: datetime | None
    uploaded: datetime | None = None


@dataclass(frozen=True)
class SigningCertificate:
    """An X.509 certificate of a SAML provider's metadata (``KeyDescriptor`` with ``use="signing"`` or no
    ``use``), as read by ``cryptography``."""

    subject: str
    not_after: datetime
    sha256: str  # fingerprint of the DER, hex


@dataclass(frozen=True)
class SamlProvider:
    arn: str
    name: str
    valid_until: datetime | None
    certificates: tuple[SigningCertificate, ...]
    unreadable: str = ""  # why (part of) the metadata could not be read; "" when it was read whole


@dataclass(frozen=True)
class Analyzer:
    """An IAM Access Analyzer analyzer of one region (``ListAnalyzers``)."""

    arn: str
    name: str
    type: str  # ACCOUNT, ORGANIZATION, ACCOUNT_UNUSED_ACCESS, ORGANIZATION_UNUSED_ACCESS
    status: str  # ACTIVE, CREATING, DISABLED, FAILED
    region: str


@dataclass(frozen=True)
class IamPosture:
    """Everything the IAM posture rules judge in one account, read once per sweep.

    ``analyzers``: region -> the analyzers there, for the regions the sweep covers. ``unavailable``: part ->
    why it could not be read (``"authorization"``, ``"server_certificates"``, ``"saml_providers"``,
    ``"analyzers:<region>"``); a rule that reads a missing part is not run (never a silent pass)."""

    account_id: str
    partition: str
    users: tuple[IamPrincipal, ...] = ()
    groups: tuple[IamPrincipal, ...] = ()
    roles: tuple[IamPrincipal, ...] = ()
    policies: tuple[ManagedPolicy, ...] = ()
    server_certificates: tuple[ServerCertificate, ...] = ()
    saml_providers: tuple[SamlProvider, ...] = ()
    analyzers: Mapping[str, tuple[Analyzer, ...]] = field(default_factory=lambda: MappingProxyType({}))
    unavailable: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def principals(self) -> tuple[IamPrincipal, ...]:
        return self.users + self.groups + self.roles

    def managed_policy_arn(self, name: str) -> str:
        """The ARN of the AWS managed policy ``name`` in this account's partition."""
        return f"arn:{self.partition}:iam::aws:policy/{name}"

    def holders(self, policy_arn: str) -> list[IamPrincipal]:
        """The users, groups and roles (in that order) that have ``policy_arn`` attached, compared ignoring case
        as IAM resolves policy ARNs."""
        wanted = policy_arn.casefold()
        return [p for p in self.principals if any(attached.casefold() == wanted for attached in p.attached)]


# -- Identity Center posture -------------------------------------------------------------------------------


@dataclass(frozen=True)
class CustomerManagedPolicyReference:
    """A permission set's reference to a customer managed policy, created by name in each account."""

    name: str
    path: str = "/"

    def arn_in(self, partition: str, account_id: str) -> str:
        return f"arn:{partition}:iam::{account_id}:policy{self.path or '/'}{self.name}"


@dataclass(frozen=True)
class PermissionSet:
    arn: str
    name: str
    session_duration: str | None  # ISO 8601 duration as Identity Center returns it, e.g. PT8H; None: PT1H
    managed_policies: tuple[str, ...] = ()  # AWS managed policy ARNs
    customer_managed: tuple[CustomerManagedPolicyReference, ...] = ()
    inline_policy: dict[str, Any] | str | None = None
    boundary_managed: str | None = None  # permissions boundary: an AWS managed policy ARN ...
    boundary_customer: CustomerManagedPolicyReference | None = None  # ... or a customer managed reference
    provisioned_accounts: tuple[str, ...] = ()  # ListAccountsForProvisionedPermissionSet
    outdated_accounts: tuple[str, ...] = ()  # the same, ProvisioningStatus LATEST_PERMISSION_SET_NOT_PROVISIONED
    description: str = ""

    @property
    def permission_set_id(self) -> str:
        return self.arn.rsplit("/", 1)[-1]


@dataclass(frozen=True)
class AccountAssignment:
    account_id: str
    permission_set_arn: str
    principal_type: str  # USER | GROUP
    principal_id: str


@dataclass(frozen=True)
class DirectoryPrincipal:
    """A user or group of the identity store. ``name``: the user's UserName, the group's DisplayName;
    ``external_ids``: (issuer, id) pairs that a SCIM provisioner sets, empty for one made by hand."""

    kind: str  # "USER" | "GROUP"
    principal_id: str
    name: str
    display_name: str = ""
    external_ids: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class ReservedRole:
    """An ``AWSReservedSSO_*`` role in an account, with what gives it permissions."""

    account_id: str
    name: str
    arn: str
    attached: tuple[str, ...] = ()
    inline: tuple[InlinePolicy, ...] = ()
    permissions_boundary: str | None = None


@dataclass(frozen=True)
class IdentityCenterSnapshot:
    """One Identity Center instance as the posture rules judge it, read in its home region by the
    management account or the delegated administrator (``account_id``).

    ``instance_arn`` None: the account holds no instance there (the rules are not applicable; the CLI says
    so). ``reserved_roles``: account -> its reserved roles, for the accounts that could be read;
    ``unavailable``: part -> why it could not be read (``"instance"``, ``"assignments"``, ``"users"``,
    ``"groups"``, ``"reserved_roles:<account>"``)."""

    account_id: str
    region: str
    partition: str
    instance_arn: str | None
    identity_store_id: str | None = None
    permission_sets: tuple[PermissionSet, ...] = ()
    assignments: tuple[AccountAssignment, ...] = ()
    users: tuple[DirectoryPrincipal, ...] = ()
    groups: tuple[DirectoryPrincipal, ...] = ()
    reserved_roles: Mapping[str, tuple[ReservedRole, ...]] = field(default_factory=lambda: MappingProxyType({}))
    unavailable: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    # the customer managed policies permission sets reference, as created in the accounts read (policy ARN ->
    # its default version's document), read with the reserved roles
    customer_policies: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    def permission_set(self, arn: str) -> PermissionSet | None:
        return next((ps for ps in self.permission_sets if ps.arn == arn), None)

    def user(self, principal_id: str) -> DirectoryPrincipal | None:
        return next((user for user in self.users if user.principal_id == principal_id), None)

    def group(self, principal_id: str) -> DirectoryPrincipal | None:
        return next((group for group in self.groups if group.principal_id == principal_id), None)
