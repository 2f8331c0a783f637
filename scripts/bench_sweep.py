"""The periodic sweep at scale: `identity-auditor audit-account` against a moto server on 127.0.0.1
with 100 and 1,000 IAM users (or the sizes given: ``bench_sweep.py 100 1000 10000``). Prints the AWS API
calls the sweep made and its time for each size: the calls must stay flat (one credential report,
not one call per user) apart from list pages of 1,000 users.
"""

from __future__ import annotations

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


def _measure(users: int) -> dict:
    from identity_auditor.cli.main import main
    from moto.server import ThreadedMotoServer

    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        _offline_environment(f"http://127.0.0.1:{port}")
        # the emulator keeps its state in this process: start every size from an empty account
        urllib.request.urlopen(urllib.request.Request(f"http://127.0.0.1:{port}/moto-api/reset", method="POST"))
        started = time.perf_counter()
        _world(users)
        built = time.perf_counter() - started
        out, err = io.StringIO(), io.StringIO()
        started = time.perf_counter()
        code = main(["audit-account", "--format", "jsonl"], stdout=out, stderr=err)
        elapsed = time.perf_counter() - started
        findings = [json.loads(line) for line in out.getvalue().splitlines() if line.strip()]
        summary = err.getvalue().strip().splitlines()[-1]
        calls = int(summary.split("(")[-1].split(" API calls")[0])
        return {"users": users, "exit": code, "findings": len(findings), "api_calls": calls,
                "seconds": elapsed, "world_seconds": built}
    finally:
        server.stop()


def main(sizes: list[int]) -> int:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    print("Periodic sweep (audit-account) against a moto server")
    print(f"  {'users':>7} {'API calls':>10} {'sweep s':>9} {'findings':>9}")
    for size in sizes:
        result = _measure(size)
        print(f"  {result['users']:>7} {result['api_calls']:>10} {result['seconds']:>9.2f} {result['findings']:>9}")
    return 0


if __name__ == "__main__":
    sys.exit(main([int(arg) for arg in sys.argv[1:]] or [100, 1000]))
