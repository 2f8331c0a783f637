"""Account-level identity state as an :class:`~identity_auditor.model.snapshots.AccountSnapshot`.

Three IAM calls (plus one per 1,000 assigned virtual MFA devices), whatever the number of users:
``GetAccountSummary``, ``GetAccountPasswordPolicy`` and ``ListVirtualMFADevices``
(``AssignmentStatus=Assigned``). The root row of the credential report is taken from rows the caller
already has (:class:`~identity_auditor.collectors.credential_report.CredentialReportCollector`); moto
and some accounts have none, so root facts also live in the summary (``AccountMFAEnabled``,
``AccountAccessKeysPresent``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from botocore.exceptions import ClientError

from identity_auditor.collectors import ApiCalls, error_code
from identity_auditor.model.snapshots import ROOT_USER, AccountSnapshot, CredentialReportRow, PasswordPolicy

ROOT_VIRTUAL_MFA_SUFFIX = ":mfa/root-account-mfa-device"  # the serial IAM gives root's virtual device
DEFAULT_MINIMUM_PASSWORD_LENGTH = 6  # IAM's value when a policy is set without MinimumPasswordLength


def collect_account(
    iam: Any,
    *,
    account_id: str,
    partition: str,
    report_rows: Iterable[CredentialReportRow],
    calls: ApiCalls | None = None,
) -> AccountSnapshot:
    """The account summary, the password policy (``None``: the account has none), the root row of
    ``report_rows`` (``None`` when the report has no ``<root_account>`` row) and whether root's MFA is
    a virtual device (see :func:`root_mfa_virtual`).

    ``iam`` is a boto3 IAM client of the account ``account_id`` (in ``partition``, e.g. ``aws``);
    ``calls`` counts (and retries) the requests, and may be shared with other collectors.
    """
    calls = calls or ApiCalls()
    summary = {key: int(value) for key, value in calls.call(iam, "get_account_summary")["SummaryMap"].items()}
    devices = [device for page in calls.iam_pages(iam, "list_virtual_mfa_devices", AssignmentStatus="Assigned")
               for device in page.get("VirtualMFADevices", [])]
    return AccountSnapshot(
        account_id=account_id,
        partition=partition,
        summary=summary,
        password_policy=password_policy(iam, calls),
        root=next((row for row in report_rows if row.user == ROOT_USER), None),
        root_mfa_virtual=root_mfa_virtual(summary, devices, account_id=account_id),
    )


def password_policy(iam: Any, calls: ApiCalls | None = None) -> PasswordPolicy | None:
    """The account password policy; ``None`` when none is set (IAM answers ``NoSuchEntity``)."""
    calls = calls or ApiCalls()
    try:
        raw = calls.call(iam, "get_account_password_policy")["PasswordPolicy"]
    except ClientError as error:
        if error_code(error) == "NoSuchEntity":
            return None
        raise
    return PasswordPolicy(
        minimum_length=int(raw.get("MinimumPasswordLength", DEFAULT_MINIMUM_PASSWORD_LENGTH)),
        password_reuse_prevention=int(raw["PasswordReusePrevention"]) if "PasswordReusePrevention" in raw else None,
        raw=dict(raw),
    )


def root_mfa_virtual(summary: dict[str, int], devices: Iterable[dict], *, account_id: str) -> bool | None:
    """Whether root's MFA is a virtual (authenticator app) device.

    ``True``: an assigned virtual device belongs to root: its ``User`` is the root ARN
    (``arn:<partition>:iam::<account>:root``), or, when ``User`` is missing, its serial is the one IAM
    gives root's device (``...:mfa/root-account-mfa-device``). A device assigned to root counts whatever
    its serial: since 2022 a root device may carry a custom name.
    ``False``: root has MFA (``AccountMFAEnabled == 1``) and no such device (a hardware or passkey/FIDO
    device). ``None``: root has no MFA, or it cannot be told.
    """
    root_arn_end = f":iam::{account_id}:root"  # any partition
    for device in devices:
        user = device.get("User") or {}
        if str(user.get("Arn", "")).endswith(root_arn_end):
            return True
        if not user and str(device.get("SerialNumber", "")).endswith(ROOT_VIRTUAL_MFA_SUFFIX):
            return True
    if summary.get("AccountMFAEnabled") == 1:
        return False
    return None
