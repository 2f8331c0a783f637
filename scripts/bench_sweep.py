"""The periodic sweep at scale, against a moto server on 127.0.0.1.

1. `identity-auditor audit-account` (the credential-report rules) with 100 and 1,000 IAM users (or the sizes
   given: ``bench_sweep.py 100 1000 10000``): the API calls must stay flat (one credential report, not one
   call per user) apart from list pages of 1,000 users.
2. The Identity Center sweep (the five Identity Center posture rules) at three sizes of permission sets x
   accounts x users: the API calls it made next to the collector's formula, and its time.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import socket
import sys
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from demo import _offline_environment  # noqa: E402


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


CREDENTIAL_RULES = ("iam_user_console_access_without_mfa,iam_access_key_not_rotated,iam_credentials_unused,"
                    "iam_user_multiple_active_access_keys,root_access_key_present,root_mfa_not_enabled,"
                    "root_hardware_mfa_not_enabled,iam_password_policy_weak,iam_user_in_federated_account,"
                    "iam_role_trust_policy_unsafe")


def _world(users: int) -> None:
    """IAM users, a third with console passwords (half of those with MFA), a third with two keys."""
    import boto3

    iam = boto3.client("iam")
    for index in range(users):
        name = f"user-{index:05d}"
        iam.create_user(UserName=name)
        if index % 3 == 0:
            iam.create_login_profile(UserName=name, Password="Example-Passw0rd!")
            if index % 2 == 0:
                serial = iam.create_virtual_mfa_device(VirtualMFADeviceName=name)["VirtualMFADevice"]["SerialNumber"]
                iam.enable_mfa_device(UserName=name, SerialNumber=serial, AuthenticationCode1="123456",
                                      AuthenticationCode2="654321")
        elif index % 3 == 1:
            iam.create_access_key(UserName=name)
            iam.create_access_key(UserName=name)


@contextlib.contextmanager
def _emulated_account():
    """A moto server on 127.0.0.1, the environment pointing at it, emptied first (the emulator keeps its state in
    this process: every size starts from an empty account)."""
    from moto.server import ThreadedMotoServer

    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        _offline_environment(f"http://127.0.0.1:{port}")
        urllib.request.urlopen(urllib.request.Request(f"http://127.0.0.1:{port}/moto-api/reset", method="POST"))
        yield
    finally:
        server.stop()


def _measure(users: int) -> dict:
    from identity_auditor.cli.main import main

    with _emulated_account():
        started = time.perf_counter()
        _world(users)
        built = time.perf_counter() - started
        out, err = io.StringIO(), io.StringIO()
        started = time.perf_counter()
        code = main(["audit-account", "--format", "jsonl", "--rules", CREDENTIAL_RULES], stdout=out, stderr=err)
        elapsed = time.perf_counter() - started
        findings = [json.loads(line) for line in out.getvalue().splitlines() if line.strip()]
        summary = next(line for line in err.getvalue().splitlines() if "API calls" in line)
        calls = int(summary.split("(")[-1].split(" API calls")[0])
        return {"users": users, "exit": code, "findings": len(findings), "api_calls": calls,
                "seconds": elapsed, "world_seconds": built}


IDENTITY_CENTER_RULES = ("sso_account_assignment_to_user", "sso_permission_set_session_too_long",
                         "sso_permission_set_not_provisioned", "sso_reserved_role_drift",
                         "identitystore_user_not_provisioned")
IDENTITY_CENTER_SIZES = ((5, 3, 100), (20, 10, 1000), (50, 30, 5000))  # permission sets, accounts, users


def identity_center_formula(permission_sets: int, accounts: int, users: int, groups: int = 1) -> int:
    """collectors/identity_center.py's cost: ListInstances, ListPermissionSets pages, 7 calls per set, one
    ListAccountAssignments per set and account, users and groups pages, one GetAccountAuthorizationDetails per
    account (its reserved roles; reaching a member account costs one AssumeRole more, not counted)."""
    return (1 + max(1, -(-permission_sets // 100)) + 7 * permission_sets + permission_sets * accounts
            + max(1, -(-users // 100)) + max(1, -(-groups // 100)) + accounts)


def _measure_identity_center(permission_sets: int, accounts: int, users: int) -> dict:
    from datetime import datetime, timezone

    import boto3
    from identity_auditor.config_rule.sweep import Sources, audit_account
    from identity_auditor.model.contract import Context
    from identity_auditor.model.policy import OrgPolicy
    from posture_world import build_sized_world, emulator_gaps

    with _emulated_account():
        with emulator_gaps():
            session = boto3.session.Session()
            build_sized_world(session, "123456789012", "us-east-1", permission_sets=permission_sets,
                              accounts=accounts, users=users)
            iam = session.client("iam")
            sources = Sources(identity_center=lambda: (session.client("sso-admin"), session.client("identitystore")),
                              member_iam=lambda account: iam)  # every account's roles read with one client here
            not_run: list = []
            started = time.perf_counter()
            evaluations, calls = audit_account(
                iam, account_id="123456789012", partition="aws", region="us-east-1",
                ctx=Context(now=datetime.now(timezone.utc), policy=OrgPolicy(external_idp_scim=True)),
                rules=IDENTITY_CENTER_RULES, sources=sources, not_run=not_run)
            elapsed = time.perf_counter() - started
        assert not not_run, not_run
        return {"calls": calls, "formula": identity_center_formula(permission_sets, accounts, users),
                "seconds": elapsed, "findings": sum(1 for e in evaluations if e.finding is not None
                                                    and e.finding.compliance_status == "FAILED")}


def main(sizes: list[int]) -> int:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    print("Periodic sweep (audit-account) against a moto server")
    print(f"  {'users':>7} {'API calls':>10} {'sweep s':>9} {'findings':>9}")
    for size in sizes:
        result = _measure(size)
        print(f"  {result['users']:>7} {result['api_calls']:>10} {result['seconds']:>9.2f} {result['findings']:>9}")
    print("\nIdentity Center sweep (the 5 Identity Center posture rules) against a moto server; formula: "
          "2 + 7 PS + PS x A + users/100 + groups/100 + A")
    print(f"  {'perm sets':>9} {'accounts':>9} {'users':>7} {'API calls':>10} {'formula':>8} {'sweep s':>8} {'failed':>7}")
    for permission_sets, accounts, users in IDENTITY_CENTER_SIZES:
        result = _measure_identity_center(permission_sets, accounts, users)
        print(f"  {permission_sets:>9} {accounts:>9} {users:>7} {result['calls']:>10} {result['formula']:>8} "
              f"{result['seconds']:>8.2f} {result['findings']:>7}")
    return 0


if __name__ == "__main__":
    sys.exit(main([int(arg) for arg in sys.argv[1:]] or [100, 1000]))
