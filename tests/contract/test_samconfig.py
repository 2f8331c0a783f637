"""samconfig.toml: one SAM CLI environment per way of deploying (README, "Deploy"), each valid for template.yaml,
and what `sam deploy --guided` really asks (SAM CLI's own run, stopped where it would reach AWS)."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import tomllib

import pytest
from support import ROOT, load_template

CONFIG = tomllib.loads((ROOT / "samconfig.toml").read_text())
PARAMETERS = load_template()["Parameters"]
SAM = ROOT / ".venv-sam" / "bin" / "sam"
ENVIRONMENTS = ("default", "single-account", "organization", "prod")


def overrides(environment: str) -> dict[str, str]:
    text = CONFIG[environment]["deploy"]["parameters"].get("parameter_overrides", "")
    return dict(item.split("=", 1) for item in shlex.split(text))


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_each_environment_deploys_to_us_east_1_with_valid_parameters(environment):
    deploy = CONFIG[environment]["deploy"]["parameters"]
    assert CONFIG[environment]["global"]["parameters"]["stack_name"].startswith("identity-auditor")
    assert deploy["region"] == "us-east-1" and deploy["resolve_s3"] is True and deploy["confirm_changeset"] is True
    assert set(deploy["capabilities"].split()) == {"CAPABILITY_IAM", "CAPABILITY_NAMED_IAM"}
    for name, value in overrides(environment).items():
        assert name in PARAMETERS, f"{environment}: {name} is not a parameter of template.yaml"
        parameter = PARAMETERS[name]
        if "AllowedValues" in parameter:
            assert value in [str(allowed).lower() if isinstance(allowed, bool) else str(allowed)
                             for allowed in parameter["AllowedValues"]], f"{environment}: {name}={value}"
        if "AllowedPattern" in parameter:
            assert re.fullmatch(parameter["AllowedPattern"], value), f"{environment}: {name}={value}"


def test_single_account_fixes_the_organisation_and_backfill_parameters_off():
    fixed = overrides("single-account")
    assert fixed == {"ConfigRulesScope": "account", "DeployConfigRules": "true", "EnableBackfill": "false",
                     "ReconcileTrail": "false"}
    # the template's defaults: `--parameter-overrides AlertEmail=... OperationsEmail=...` (which replaces the
    # environment's list) changes nothing else, as samconfig.toml says
    assert all(str(PARAMETERS[name]["Default"]).lower() == value for name, value in fixed.items())
    assert not PARAMETERS["OrganizationId"]["Default"]


def test_organization_sets_the_organisation_scope_and_leaves_the_organisations_ids_to_the_user():
    fixed = overrides("organization")
    assert fixed["ConfigRulesScope"] == "organization"
    assert fixed["MemberRoleName"] == PARAMETERS["MemberRoleName"]["Default"]
    assert not {"OrganizationId", "OrganizationalUnitIds", "ForwarderRegions", "AlertEmail"} & set(fixed)


def test_prod_is_a_second_stack():
    assert CONFIG["prod"]["global"]["parameters"]["stack_name"] != CONFIG["default"]["global"]["parameters"]["stack_name"]
    assert "environment=prod" in CONFIG["prod"]["deploy"]["parameters"]["tags"]


@pytest.mark.skipif(not SAM.exists(), reason="needs the SAM CLI virtualenv (.venv-sam: make sam-venv)")
def test_guided_asks_every_template_parameter_prefilled_from_the_environment(tmp_path):
    """What samconfig.toml and README say: SAM CLI's --guided asks each parameter of the template, in its order,
    whatever the environment holds, and pre-fills the environment's values. Run on a copy of samconfig.toml,
    Enter answering everything, stopped at the first AWS call (a closed local port)."""
    shutil.copy(ROOT / "samconfig.toml", tmp_path / "samconfig.toml")
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
           "AWS_DEFAULT_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true", "SAM_CLI_TELEMETRY": "0",
           "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
           "AWS_ENDPOINT_URL": "http://127.0.0.1:9", "AWS_MAX_ATTEMPTS": "1"}
    result = subprocess.run(
        [str(SAM), "deploy", "--guided", "--config-env", "single-account", "--config-file",
         str(tmp_path / "samconfig.toml"), "--template-file", str(ROOT / "template.yaml")],
        input="\n" * 100, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    output = result.stdout + result.stderr
    asked = re.findall(r"Parameter (\w+) \[([^\]]*)\]", output)
    assert [name for name, _ in asked] == list(PARAMETERS), output[-2000:]
    defaults = dict(asked)
    assert defaults["ConfigRulesScope"] == "account" and defaults["EnableBackfill"] == "false"
    assert defaults["AlertEmail"] == "" and defaults["OrganizationId"] == ""
    assert "Stack Name [identity-auditor]" in output
    assert result.returncode != 0 and "127.0.0.1:9" in output  # stopped before AWS, nothing deployed
    assert (tmp_path / "samconfig.toml").read_text() == (ROOT / "samconfig.toml").read_text()
