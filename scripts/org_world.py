"""An emulated AWS organisation of three accounts for ``audit-account --organization`` (its functional tests and
the README's example run), in moto (``mock_aws`` or a ThreadedMotoServer of this process).

* the management account (moto's default 123456789012, the CLI's own credentials): ``ci-deploy`` with two
  active access keys;
* ``prod``, in the organisational unit ``workloads``: the read-only role the forwarder StackSet creates for the
  principals ``AuditReaderPrincipalArns`` names (``identity-auditor-member-reader``) and ``alice``, who signs in
  to the console without MFA;
* ``sandbox``, under the root: no such role (the StackSet has not reached it).

moto's ``AssumeRole`` does not check that the role exists (its documentation says so: the ARN only selects the
account). :func:`assume_role_needs_the_role` makes it answer as STS does for a role that does not exist or does
not trust the caller: ``AccessDenied``, "User: ... is not authorized to perform: sts:AssumeRole on resource: ...".
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator

import boto3

READER_ROLE = "identity-auditor-member-reader"  # forwarder.yaml AuditReaderRole (AuditReaderPrincipalArns)
MANAGEMENT = "123456789012"
TRUST = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                "Principal": {"AWS": f"arn:aws:iam::{MANAGEMENT}:root"}}]}


def session_in(account: str) -> boto3.Session:
    """Credentials in ``account`` through the role Organizations creates with it (for building the world)."""
    credentials = boto3.client("sts", region_name="us-east-1").assume_role(
        RoleArn=f"arn:aws:iam::{account}:role/OrganizationAccountAccessRole", RoleSessionName="org-world",
    )["Credentials"]
    return boto3.Session(aws_access_key_id=credentials["AccessKeyId"],
                         aws_secret_access_key=credentials["SecretAccessKey"],
                         aws_session_token=credentials["SessionToken"], region_name="us-east-1")


def build_org_world() -> dict[str, str]:
    """The organisation above; returns ``{"prod": id, "sandbox": id, "workloads": ou id, "root": root id}``."""
    organizations = boto3.client("organizations", region_name="us-east-1")
    organizations.create_organization(FeatureSet="ALL")
    root = organizations.list_roots()["Roots"][0]["Id"]
    workloads = organizations.create_organizational_unit(ParentId=root, Name="workloads")["OrganizationalUnit"]["Id"]
    ids = {"root": root, "workloads": workloads}
    for name in ("prod", "sandbox"):
        request = organizations.create_account(AccountName=name, Email=f"{name}@example.com")
        ids[name] = organizations.describe_create_account_status(
            CreateAccountRequestId=request["CreateAccountStatus"]["Id"])["CreateAccountStatus"]["AccountId"]
    organizations.move_account(AccountId=ids["prod"], SourceParentId=root, DestinationParentId=workloads)

    iam = boto3.client("iam", region_name="us-east-1")
    iam.create_user(UserName="ci-deploy")
    iam.create_access_key(UserName="ci-deploy")
    iam.create_access_key(UserName="ci-deploy")

    prod = session_in(ids["prod"]).client("iam")
    prod.create_role(RoleName=READER_ROLE, AssumeRolePolicyDocument=json.dumps(TRUST))
    prod.create_user(UserName="alice")
    prod.create_login_profile(UserName="alice", Password="Example-Passw0rd!")  # no MFA
    return ids


@contextlib.contextmanager
def assume_role_needs_the_role() -> Iterator[None]:
    """While the block runs, moto's AssumeRole refuses a role that does not exist in its account, as STS does."""
    from moto.iam.models import iam_backends
    from moto.sts.exceptions import STSClientError
    from moto.sts.models import STSBackend

    original = STSBackend.assume_role

    def assume_role(backend, region_name, role_session_name, role_arn, *args, **kwargs):
        account = role_arn.split(":")[4]
        if role_arn not in {role.arn for role in iam_backends[account]["global"].get_roles()}:
            raise STSClientError("AccessDenied", f"User: arn:aws:sts::{MANAGEMENT}:user/moto is not authorized to "
                                                 f"perform: sts:AssumeRole on resource: {role_arn}")
        return original(backend, region_name, role_session_name, role_arn, *args, **kwargs)

    STSBackend.assume_role = assume_role
    try:
        yield
    finally:
        STSBackend.assume_role = original


def main(argv: list[str]) -> int:
    """``python scripts/org_world.py [ARGS...]``: ``identity-auditor audit-account --organization ARGS`` against
    this world (the README's example run)."""
    import warnings

    from moto import mock_aws
    from posture_world import emulator_gaps

    from identity_auditor.cli.main import main as cli

    warnings.filterwarnings("ignore", message=r"Exception\(STSClientError\)")  # moto: AccessDenied has no shape
    with mock_aws(), emulator_gaps():
        ids = build_org_world()
        print(f"# moto organisation: management {MANAGEMENT}, prod {ids['prod']} (in {ids['workloads']}), "
              f"sandbox {ids['sandbox']} (no reader role)", flush=True)
        with assume_role_needs_the_role():
            return cli(["audit-account", "--organization", *argv])


if __name__ == "__main__":
    import os
    import sys

    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_DEFAULT_REGION": "us-east-1"}.items():
        os.environ.setdefault(name, value)
    sys.exit(main(sys.argv[1:]))
