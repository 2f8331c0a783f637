"""Redraw docs/report.png: the HTML report of `identity-auditor audit-account --evidence --output-dir` against
the demo's emulated account (scripts/posture_world.py on moto, in this process: no credentials, no network),
screenshotted by Debian's headless chromium (apt-get install chromium).

    .venv/bin/python scripts/report_screenshot.py [--out docs/report.png] [--keep DIR] [--height 1800]

``--keep DIR`` leaves the run's files there (findings.jsonl, findings.csv, findings.ocsf.json, report.html,
report.md); otherwise they go to a temporary directory that is removed.
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "layers" / "identity_auditor"))
sys.path.insert(0, str(ROOT / "scripts"))
ACCOUNT, REGION = "123456789012", "us-east-1"
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars")


def audit(directory: Path) -> str:
    """Run the CLI's audit-account on the emulated account; returns its stderr (the summary)."""
    os.environ.update({"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_SESSION_TOKEN": "testing", "AWS_DEFAULT_REGION": REGION, "AWS_REGION": REGION,
                       "AWS_EC2_METADATA_DISABLED": "true", "AWS_CONFIG_FILE": os.devnull,
                       "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
                       "MOTO_IAM_LOAD_MANAGED_POLICIES": "true"})  # AWS managed policies, as in a real account
    os.environ.pop("AWS_PROFILE", None)
    os.environ.pop("AWS_ENDPOINT_URL", None)
    import boto3
    from moto import mock_aws
    from posture_world import build_world, emulator_gaps

    from identity_auditor.cli.main import main

    with mock_aws(), emulator_gaps():
        session = boto3.session.Session(region_name=REGION)
        build_world(session, ACCOUNT, REGION)
        iam = session.client("iam")
        iam.create_user(UserName="alice")
        iam.create_login_profile(UserName="alice", Password="Example-Passw0rd!")  # console password, no MFA
        iam.create_user(UserName="ci-deploy")
        for _ in range(2):
            iam.create_access_key(UserName="ci-deploy")
        out, err = io.StringIO(), io.StringIO()
        code = main(["audit-account", "--evidence", "--format", "jsonl", "--output-dir", str(directory)],
                    stdout=out, stderr=err)
    if code not in (0, 1):
        raise SystemExit(f"audit-account exited {code}: {err.getvalue()}")
    return err.getvalue()


def screenshot(page: Path, png: Path, height: int) -> None:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if not browser:
        raise SystemExit("report_screenshot.py needs Debian's chromium: apt-get install chromium")
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run([browser, *FLAGS, f"--user-data-dir={profile}", f"--window-size=1280,{height}",
                        f"--screenshot={png.resolve()}", page.resolve().as_uri()],
                       check=True, capture_output=True, stdin=subprocess.DEVNULL, timeout=180)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "report.png")
    parser.add_argument("--keep", type=Path, default=None, metavar="DIR")
    parser.add_argument("--height", type=int, default=1800)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        directory = args.keep or Path(scratch)
        directory.mkdir(parents=True, exist_ok=True)
        print(audit(directory), end="")
        screenshot(directory / "report.html", args.out, args.height)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
