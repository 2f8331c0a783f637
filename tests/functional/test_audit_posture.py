"""`identity-auditor audit-account` against a moto server (127.0.0.1) holding an organisation with IAM and
Identity Center posture to judge (scripts/posture_world.py: the world `make demo` shows): exactly the
expected findings, and every rule it could not run named with the reason."""

from __future__ import annotations

import io
import json
import socket
import sys
from pathlib import Path

import boto3
import pytest
from identity_auditor.cli.main import main

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
from posture_world import ANALYZERS, build_world, emulator_gaps  # noqa: E402

ACCOUNT = "123456789012"
REGION = "us-east-1"
POSTURE_RULES = ("iam_user_policy_attached_directly,iam_policy_full_admin,iam_support_role_missing,"
                 "iam_server_certificate_expired,access_analyzer_not_enabled,iam_cloudshell_full_access_attached,"
                 "iam_saml_provider_certificate_expiring,sso_account_assignment_to_user,"
                 "sso_permission_set_session_too_long,sso_permission_set_not_provisioned,sso_reserved_role_drift,"
                 "identitystore_user_not_provisioned")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    from moto.server import ThreadedMotoServer

    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    patch = pytest.MonkeyPatch()
    patch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{port}")
    patch.setenv("AWS_DEFAULT_REGION", REGION)
    patch.setenv("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")  # AWS managed policies, as in a real account
    try:
        with emulator_gaps():
            ids = build_world(boto3.session.Session(), ACCOUNT, REGION)
            policy = tmp_path_factory.mktemp("policy") / "policy.yaml"
            policy.write_text("version: 1\nexternal_idp_scim: true\n")
            yield ids, str(policy)
    finally:
        patch.undo()
        server.stop()


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    return main(list(argv), stdout=out, stderr=err), out.getvalue(), err.getvalue()


def test_the_posture_world_gives_exactly_its_findings(world):
    ids, policy = world
    code, out, err = run("audit-account", "--rules", POSTURE_RULES, "--format", "jsonl", "--policy", policy)
    assert code == 0, err
    found = sorted((f["rule_id"], f["severity"], f["resource_id"]) for f in map(json.loads, out.splitlines()))
    assert found == sorted([
        ("iam_user_policy_attached_directly", "LOW", f"arn:aws:iam::{ACCOUNT}:user/deploy-bot"),
        ("iam_policy_full_admin", "MEDIUM", f"arn:aws:iam::{ACCOUNT}:policy/LegacyAdmin"),
        ("iam_support_role_missing", "LOW", f"AWS::::Account:{ACCOUNT}"),
        ("iam_cloudshell_full_access_attached", "LOW", f"arn:aws:iam::{ACCOUNT}:group/interns"),
        ("sso_account_assignment_to_user", "HIGH", f"{ids['admins']}/assignment/{ACCOUNT}/USER/{ids['jane']}"),
        ("sso_permission_set_session_too_long", "MEDIUM", ids["admins"]),
        ("sso_reserved_role_drift", "HIGH",
         f"arn:aws:iam::{ACCOUNT}:role/aws-reserved/sso.amazonaws.com/{ids['drifted_role']}"),
        ("identitystore_user_not_provisioned", "MEDIUM", f"arn:aws:identitystore:::user/{ids['contractor']}"),
    ]), found
    assert "not run" not in err
    summary = err.strip().splitlines()[-1]
    assert summary.startswith("8 non-compliant, ") and "API calls" in summary


def test_the_group_assignment_and_the_scim_user_are_compliant(world):
    ids, policy = world
    code, out, _ = run("audit-account", "--rules", "sso_account_assignment_to_user,identitystore_user_not_provisioned",
                       "--format", "jsonl", "--policy", policy)
    assert code == 0
    resources = [json.loads(line)["resource_id"] for line in out.splitlines()]
    assert not any(ids["group"] in resource or ids["jane"] + "/" in resource for resource in resources)
    assert f"arn:aws:identitystore:::user/{ids['jane']}" not in resources


def test_a_region_without_an_analyzer_is_a_finding(world):
    _, policy = world
    code, out, _ = run("audit-account", "--rules", "access_analyzer_not_enabled", "--regions", f"{REGION},eu-west-1",
                       "--format", "jsonl", "--policy", policy)
    assert code == 0
    (finding,) = map(json.loads, out.splitlines())
    assert (finding["rule_id"], finding["severity"]) == ("access_analyzer_not_enabled", "MEDIUM")
    assert ":eu-west-1:" in finding["resource_id"] and REGION in ANALYZERS


def test_a_rule_that_cannot_read_is_named_with_the_reason_and_exits_4(world, monkeypatch):
    _, policy = world
    monkeypatch.setitem(ANALYZERS, "ap-south-2", [])
    from botocore.client import BaseClient

    make_api_call = BaseClient._make_api_call

    def refuse(client, operation, params):
        if operation == "ListSAMLProviders":
            from botocore.exceptions import ClientError

            raise ClientError({"Error": {"Code": "AccessDenied", "Message": "no iam:ListSAMLProviders"}}, operation)
        return make_api_call(client, operation, params)

    monkeypatch.setattr(BaseClient, "_make_api_call", refuse)
    code, out, err = run("audit-account", "--rules", "iam_saml_provider_certificate_expiring,iam_support_role_missing",
                         "--format", "jsonl", "--policy", policy)
    assert code == 4
    assert [json.loads(line)["rule_id"] for line in out.splitlines()] == ["iam_support_role_missing"]
    assert (f"not run: iam_saml_provider_certificate_expiring in account {ACCOUNT}: saml_providers: "
            "ListSAMLProviders: AccessDenied: no iam:ListSAMLProviders") in err


def test_an_account_without_identity_center_says_so_and_passes(world, monkeypatch):
    _, policy = world
    from botocore.client import BaseClient

    make_api_call = BaseClient._make_api_call

    def no_instance(client, operation, params):  # a member account: Identity Center is administered elsewhere
        if operation == "ListInstances":
            return {"Instances": []}
        return make_api_call(client, operation, params)

    monkeypatch.setattr(BaseClient, "_make_api_call", no_instance)
    code, out, err = run("audit-account", "--rules", "sso_account_assignment_to_user,iam_support_role_missing",
                         "--format", "jsonl", "--policy", policy)
    assert code == 0 and [json.loads(line)["rule_id"] for line in out.splitlines()] == ["iam_support_role_missing"]
    assert (f"not run: sso_account_assignment_to_user in account {ACCOUNT}: account {ACCOUNT} holds no Identity "
            f"Center instance in {REGION}") in err
