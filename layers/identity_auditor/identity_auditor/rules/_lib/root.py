"""What the root-user rules share: whether root has MFA, and the centrally managed root."""

from __future__ import annotations

from typing import TYPE_CHECKING


if TYPE_CHECKING:  # annotations only: the snapshots are built by the collectors, on the Config path
    from identity_auditor.model.snapshots import AccountSnapshot


SUMMARY_KEY = "AccountMFAEnabled"
CENTRALLY_MANAGED = ("Root credentials are centrally managed by AWS Organizations: no root password and no "
                     "root access key, so nobody can sign in as root.")


def root_mfa(account: AccountSnapshot) -> tuple[bool | None, str]:
    """Whether root has an MFA device (``None``: unknown) and where that was read."""
    value = account.summary.get(SUMMARY_KEY)
    if value is not None:
        return bool(value), f"GetAccountSummary {SUMMARY_KEY} = {value}"
    if account.root is not None:
        mfa = account.root.mfa_active
        return mfa, f"credential report mfa_active = {str(mfa).lower()}"
    return None, f"no {SUMMARY_KEY} in the account summary and no credential report root row"
