"""An IAM role was created by someone other than the deployment pipeline.

An example custom rule (docs/custom-rules.md): in this organisation every role is created by the CI/CD
pipeline's role ``ci-deploy``; a role created by anyone else (a person at the console, a stolen key, a
workload) is a persistence path outside code review. Edit PIPELINE_ROLES for your own pipeline.
"""

from __future__ import annotations

from identity_auditor.model.cloudtrail import CloudTrailRecord
from identity_auditor.model.contract import Context, RuleMeta, Severity, Trigger, Violation

# The roles (their names) whose sessions may create roles: the deployment pipeline's.
PIPELINE_ROLES = frozenset({"ci-deploy"})

META = RuleMeta(
    id="iam_role_created_outside_pipeline",
    title="IAM role created outside the deployment pipeline",
    severity=Severity.MEDIUM,
    trigger=Trigger("iam.amazonaws.com", ("CreateRole",)),
    resource_type="AwsIamRole",
    finding_types=("TTPs/Persistence",),
    why=(
        "Roles in this organisation are created by the deployment pipeline, after review. A role created "
        "by anyone else can give lasting access that nobody reviewed."
    ),
    remediation=(
        "Ask the creator why the role exists. If it is needed, add it to the infrastructure code and let the "
        "pipeline create it; otherwise delete the role (detach its policies and delete its instance profiles first)."
    ),
    remediation_url="https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_manage_delete.html",
)

# The samples `identity-auditor test` runs this rule on (paths relative to this folder): the severity the
# rule must find on each, or None where it must stay quiet.
SAMPLES = {
    "samples/create_role_by_iam_user.json": "MEDIUM",
    "samples/create_role_by_pipeline.json": None,
}


def evaluate(record: CloudTrailRecord, ctx: Context) -> Violation | None:
    if not record.succeeded:
        return None
    issuer = record.user_identity.issuer
    if issuer is not None and issuer.user_name in PIPELINE_ROLES:
        return None
    role = (record.response_elements or {}).get("role")
    role = role if isinstance(role, dict) else {}
    name = record.request("roleName") or role.get("roleName") or "(unknown)"
    arn = role.get("arn") or f"arn:{record.partition}:iam::{record.account_id}:role/{name}"
    return Violation(
        description=(f"{record.user_identity.display_name} created IAM role {name} in account "
                     f"{record.account_id}, outside the deployment pipeline."),
        resource_id=str(arn),
        details={"RoleName": str(name)},
    )
