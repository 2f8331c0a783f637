"""An account runs an outdated version of an Identity Center permission set: the permissions people get there
differ from what the permission set says.

Decisions (spec/rules.md §B, Identity Center posture):
- Subject: the Identity Center instance (``IdentityCenterSnapshot``, periodic). One result per (permission set,
  account it is provisioned to), its own resource: ``AWS::::Account`` of the instance's account for AWS Config,
  key ``<permission set ARN>/account/<account>``, ASFF type ``Other``.
- The accounts are ``ListAccountsForProvisionedPermissionSet`` without a filter (``provisioned_accounts``) and
  with ``ProvisioningStatus`` ``LATEST_PERMISSION_SET_NOT_PROVISIONED`` (``outdated_accounts``). An account in
  the second is NON_COMPLIANT (MEDIUM), the others are COMPLIANT. An outdated account missing from the first
  list (the two calls are moments apart) is judged all the same.
- Accounts a permission set is not provisioned to are not judged (nothing runs there). No instance: one
  NOT_APPLICABLE result; no permission set provisioned anywhere: one NOT_APPLICABLE result.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from identity_auditor.model.contract import (
    Compliance,
    Context,
    Resource,
    RuleMeta,
    Severity,
    StateResult,
    StateTrigger,
    Violation,
)
from identity_auditor.model.text import clip
from identity_auditor.rules._lib import identity_center
from identity_auditor.rules._lib.identity_center import state_result


if TYPE_CHECKING:  # annotations only: the snapshots are built by the collectors, on the Config path
    from identity_auditor.model.snapshots import IdentityCenterSnapshot, PermissionSet

META = RuleMeta(
    id="sso_permission_set_not_provisioned",
    title="Identity Center permission set not provisioned in its latest version",
    severity=Severity.MEDIUM,
    trigger=None,
    state=StateTrigger("AWS::::Account", periodic=True, subject="identity_center",
                       reads=("instance", "permission_sets"), scope="identity_center"),
    resource_type="Other",
    finding_types=("Software and Configuration Checks/AWS Security Best Practices",),
    why=(
        "Until a changed permission set is provisioned, its accounts keep the old permissions: a permission "
        "that was removed still works there, and reviews of the permission set describe access nobody has."
    ),
    remediation=(
        "Provision the permission set to the account (aws sso-admin provision-permission-set --target-type "
        "AWS_ACCOUNT --target-id <account>), check the request with describe-permission-set-provisioning-status "
        "and fix what made it fail (for example a customer managed policy missing in that account)."
    ),
    remediation_url="https://docs.aws.amazon.com/singlesignon/latest/APIReference/API_ProvisionPermissionSet.html",
    compliance=(),
)


def evaluate_state(snapshot: IdentityCenterSnapshot, ctx: Context) -> StateResult | list[StateResult]:
    absent = identity_center.no_instance(snapshot)
    if absent is not None:
        return absent
    results = [
        _judge(snapshot, permission_set, account)
        for permission_set in snapshot.permission_sets
        for account in dict.fromkeys(permission_set.provisioned_accounts + permission_set.outdated_accounts)
    ]
    if not results:
        return state_result(Compliance.NOT_APPLICABLE, f"No permission set of Identity Center instance "
                                                       f"{snapshot.instance_arn} is provisioned to an account.")
    return results


def _judge(snapshot: IdentityCenterSnapshot, permission_set: PermissionSet, account: str) -> StateResult:
    name = clip(permission_set.name, 64)
    resource = Resource("AWS::::Account", snapshot.account_id, f"{name} in {account}",
                        f"{permission_set.arn}/account/{account}", "Other")
    if account not in permission_set.outdated_accounts:
        return state_result(Compliance.COMPLIANT, f"Account {account} runs the latest version of permission set "
                                                  f"{name}.", resource=resource)
    return state_result(
        Compliance.NON_COMPLIANT,
        f"Account {account} runs an outdated version of permission set {name} "
        "(LATEST_PERMISSION_SET_NOT_PROVISIONED).",
        Violation(
            description=(f"Account {account} runs an outdated version of Identity Center permission set {name}: "
                         "the permissions people get there differ from the permission set's "
                         "(LATEST_PERMISSION_SET_NOT_PROVISIONED)."),
            resource_id=resource.key,
            resource_type="Other",
            details={"PermissionSetArn": permission_set.arn, "TargetAccount": account,
                     "ProvisioningStatus": "LATEST_PERMISSION_SET_NOT_PROVISIONED",
                     "InstanceArn": snapshot.instance_arn or ""},
            subject=f"{name} in {account}",
        ),
        resource=resource,
    )
