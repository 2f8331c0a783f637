"""Custom rules without a fork (docs/custom-rules.md): a directory of rule modules, checked exactly like the
built-in rules (model/rule_checks.py), listed by ``rules --rules-dir``, run by ``evaluate --rules-dir`` (and
IDENTITY_AUDITOR_RULES_DIR), tested on their samples by ``identity-auditor test``, packaged into the Lambda
layer as ``identity_auditor_custom_rules`` (loaded by the registry at import, so the CloudTrail handler runs
them) and routed by ``make generate``'s EventBridge rules. Bad rule files fail with the file named."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/ holds the shared helpers
import support  # noqa: E402
from asff_validator import assert_valid_asff  # noqa: E402
from identity_auditor.cli.main import main  # noqa: E402
from identity_auditor.deploy import generate  # noqa: E402
from identity_auditor.engine import custom_rules  # noqa: E402
from identity_auditor.engine.registry import BUILT_IN_IDS, REGISTRY, use_custom_rules  # noqa: E402

EXAMPLE = support.ROOT / "examples" / "custom_rules"
RULE_ID = "iam_role_created_outside_pipeline"
BY_USER = EXAMPLE / "samples" / "create_role_by_iam_user.json"
BY_PIPELINE = EXAMPLE / "samples" / "create_role_by_pipeline.json"
ENV = custom_rules.ENVIRONMENT


@pytest.fixture(autouse=True)
def built_in_rules_only(monkeypatch):
    """Each test starts and ends with the built-in rules only, and without IDENTITY_AUDITOR_RULES_DIR (which
    --rules-dir sets for the worker processes)."""
    monkeypatch.setenv(ENV, "")
    use_custom_rules(())
    yield
    use_custom_rules(())
    for name in [name for name in sys.modules if name.startswith(custom_rules.PACKAGE)]:
        del sys.modules[name]


@pytest.fixture
def rules_dir(tmp_path) -> Path:
    """A copy of the example in a temporary directory."""
    target = tmp_path / "my_rules"
    shutil.copytree(EXAMPLE, target)
    return target


def run(*argv: object, environment: str = "") -> tuple[int, str, str]:
    """main() in-process, as a fresh command would start: IDENTITY_AUDITOR_RULES_DIR is ``environment`` (a
    previous run's --rules-dir set it, for its worker processes)."""
    os.environ[ENV] = environment
    out, err = io.StringIO(), io.StringIO()
    code = main([str(arg) for arg in argv], stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def usage_error(capsys, *argv: object) -> str:
    """What argparse prints for a usage error (exit 2)."""
    os.environ[ENV] = ""
    with pytest.raises(SystemExit) as exit_info:
        main([str(arg) for arg in argv], stdout=io.StringIO(), stderr=io.StringIO())
    assert exit_info.value.code == 2
    return capsys.readouterr().err


# -- the command line -------------------------------------------------------------------------------------------

def test_rules_lists_a_custom_rule_only_with_rules_dir(rules_dir):
    code, out, _ = run("rules", "--format", "json", "--rules-dir", rules_dir)
    assert code == 0
    listed = {rule["id"]: rule for rule in json.loads(out)}
    assert listed[RULE_ID]["severity"] == "MEDIUM"
    assert set(BUILT_IN_IDS) <= set(listed)

    code, out, _ = run("rules", "--format", "json")
    assert RULE_ID not in {rule["id"] for rule in json.loads(out)}


def test_evaluate_fires_a_custom_rule_with_rules_dir(rules_dir):
    code, out, err = run("evaluate", "--format", "jsonl", "--rules-dir", rules_dir, BY_USER, BY_PIPELINE)
    assert code == 0, err
    findings = [json.loads(line) for line in out.splitlines()]
    assert [(f["rule_id"], f["severity"]) for f in findings] == [(RULE_ID, "MEDIUM")]
    assert findings[0]["resource_id"] == "arn:aws:iam::123837392027:role/stratus-red-team-backdoor-r-role"

    code, out, _ = run("evaluate", "--format", "jsonl", BY_USER)  # without it: the built-in rules only
    assert RULE_ID not in out


def test_evaluate_takes_the_rules_dir_from_the_environment_also_in_worker_processes(rules_dir, monkeypatch, tmp_path):
    """IDENTITY_AUDITOR_RULES_DIR is --rules-dir's default; with --jobs 2 the files are read by worker processes,
    which load the same rules."""
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    for number in range(4):
        shutil.copy(BY_USER, inputs / f"by_user_{number}.json")
        shutil.copy(BY_PIPELINE, inputs / f"by_pipeline_{number}.json")
    code, out, err = run("evaluate", "--format", "jsonl", "--jobs", "2", inputs, environment=str(rules_dir))
    assert code == 0, err
    assert [json.loads(line)["rule_id"] for line in out.splitlines()] == [RULE_ID] * 4


def test_a_custom_finding_is_valid_asff(rules_dir):
    from identity_auditor.sinks.asff import to_asff

    code, out, _ = run("evaluate", "--format", "asff", "--rules-dir", rules_dir, BY_USER)
    assert code == 0
    (finding,) = [json.loads(line) for line in out.splitlines()] if out.lstrip().startswith("{") else json.loads(out)
    assert finding["GeneratorId"] == RULE_ID
    assert_valid_asff(finding)
    assert to_asff  # the same serialiser as the built-in rules' findings


def test_identity_auditor_test_passes_on_the_example():
    code, out, err = run("test", EXAMPLE)
    assert code == 0, out + err
    assert out.splitlines() == [
        f"PASS {RULE_ID} samples/create_role_by_iam_user.json: found MEDIUM, as declared",
        f"PASS {RULE_ID} samples/create_role_by_pipeline.json: quiet, as declared",
        f"2 passed, 0 failed (1 rule in {EXAMPLE})",
    ]


def test_identity_auditor_test_fails_on_a_wrong_expectation(rules_dir):
    rule = rules_dir / f"{RULE_ID}.py"
    rule.write_text(rule.read_text().replace('"samples/create_role_by_iam_user.json": "MEDIUM"',
                                             '"samples/create_role_by_iam_user.json": "HIGH"'))
    code, out, _ = run("test", rules_dir)
    assert code == 1
    assert f"FAIL {RULE_ID} samples/create_role_by_iam_user.json: expected HIGH, found MEDIUM" in out
    assert f"PASS {RULE_ID} samples/create_role_by_pipeline.json: quiet, as declared" in out
    assert f"FAIL {RULE_ID}: no sample declares a finding (a sample the rule must fire on)" in out
    assert out.splitlines()[-1].startswith("1 passed, 2 failed")


def test_identity_auditor_test_wants_a_firing_and_a_quiet_sample_of_the_rules_events(rules_dir):
    """Like the built-in rules' contract: a quiet sample of another event proves nothing."""
    other = support.ROOT / "events" / "cloudtrail" / "iam_create_user.json"
    shutil.copy(other, rules_dir / "samples" / "other_event.json")
    rule = rules_dir / f"{RULE_ID}.py"
    rule.write_text(rule.read_text().replace('"samples/create_role_by_pipeline.json": None',
                                             '"samples/other_event.json": None'))
    code, out, _ = run("test", rules_dir)
    assert code == 1
    assert f"FAIL {RULE_ID}: no sample of the rule's trigger events declares None" in out


def test_identity_auditor_test_names_a_sample_that_is_missing_or_not_an_event(rules_dir):
    (rules_dir / "samples" / "create_role_by_pipeline.json").write_text("{not json")
    rule = rules_dir / f"{RULE_ID}.py"
    rule.write_text(rule.read_text().replace('"samples/create_role_by_iam_user.json"', '"samples/gone.json"'))
    code, out, _ = run("test", rules_dir)
    assert code == 1
    assert f"FAIL {RULE_ID} samples/gone.json: cannot be read as JSON" in out
    assert f"FAIL {RULE_ID} samples/create_role_by_pipeline.json: cannot be read as JSON" in out


def test_identity_auditor_test_reports_a_rule_that_raises_on_a_sample(rules_dir):
    rule = rules_dir / f"{RULE_ID}.py"
    rule.write_text(rule.read_text().replace("    if not record.succeeded:\n",
                                             "    if record.request('roleName') == 'payments-api':\n"
                                             "        raise KeyError('roleArn')\n"
                                             "    if not record.succeeded:\n"))
    code, out, _ = run("test", rules_dir)
    assert code == 1
    assert f"FAIL {RULE_ID} samples/create_role_by_pipeline.json: the rule raised RuntimeError: KeyError: 'roleArn'" in out


# -- bad rule files: a clear error naming the file ---------------------------------------------------------------

GOOD = (EXAMPLE / f"{RULE_ID}.py").read_text()


def _bad(rules_dir: Path, name: str, text: str) -> Path:
    path = rules_dir / name
    path.write_text(textwrap.dedent(text))
    return path


BAD_FILES = {
    "syntax error": ("broken_rule_here.py", "def evaluate(record, ctx)\n    return None\n",
                     "syntax error on line 1"),
    "no META": ("no_meta_rule.py", "def evaluate(record, ctx):\n    return None\n", "no META"),
    "META of the wrong type": ("meta_is_a_dict.py", "META = {'id': 'meta_is_a_dict'}\n"
                               "def evaluate(record, ctx):\n    return None\n", "META is a dict"),
    "raises on import": ("raises_on_import.py", "import json\nCONFIG = json.loads('{')\n",
                         "importing it raised JSONDecodeError (line 2)"),
    "exits on import": ("exits_on_import.py", "import sys\nsys.exit(3)\n", "importing it raised SystemExit"),
    "imports what is not there": ("needs_a_package.py", "import not_installed_anywhere\n",
                                  "importing it raised ModuleNotFoundError"),
    "bad trigger": ("bad_trigger_rule.py", GOOD.replace('Trigger("iam.amazonaws.com", ("CreateRole",))',
                                                       'Trigger("iam", ())').replace(RULE_ID, "bad_trigger_rule"),
                    "trigger event source 'iam' is not a CloudTrail eventSource"),
    "trigger not a Trigger": ("dict_trigger_rule.py", GOOD.replace('trigger=Trigger("iam.amazonaws.com", ("CreateRole",))',
                                                                  'trigger={"eventName": "CreateRole"}')
                              .replace(RULE_ID, "dict_trigger_rule"), "is a dict, not a Trigger"),
    "id not the file name": ("another_name_rule.py", GOOD, f"META.id '{RULE_ID}' is not the module's name"),
    "bad ASFF type": ("bad_types_rule.py", GOOD.replace('("TTPs/Persistence",)', '("TTPs/Sneaking",)')
                      .replace(RULE_ID, "bad_types_rule"), "category not valid for 'TTPs'"),
    "bad resource type": ("bad_resource_rule.py", GOOD.replace('resource_type="AwsIamRole"', 'resource_type="IamRole"')
                          .replace(RULE_ID, "bad_resource_rule"), "'IamRole' is not an ASFF resource type"),
    "no evaluate": ("no_evaluate_rule.py", GOOD.split("\ndef evaluate")[0].replace(RULE_ID, "no_evaluate_rule"),
                    "neither evaluate(record, ctx) nor evaluate_state"),
    "built-in id": ("iam_user_created.py", GOOD.replace(RULE_ID, "iam_user_created"),
                    "rule id 'iam_user_created' is a built-in rule's or sequence's id"),
    # review: a sequence's id broke the registry for every event ("duplicate rule ids") naming no file
    "sequence id": ("iam_admin_user_created.py", GOOD.replace(RULE_ID, "iam_admin_user_created"),
                    "rule id 'iam_admin_user_created' is a built-in rule's or sequence's id"),
    "not a module name": ("my-rule.py", GOOD, "'my-rule' is not a Python module name"),
    "package init raises": ("__init__.py", "raise RuntimeError('half written')\n",
                            "importing it raised RuntimeError (line 1): half written"),
}


@pytest.mark.parametrize("case", BAD_FILES, ids=list(BAD_FILES))
def test_a_bad_rule_file_is_named_with_what_is_wrong(case, rules_dir, capsys):
    name, text, message = BAD_FILES[case]
    path = _bad(rules_dir, name, text)
    for argv in (("rules", "--rules-dir", rules_dir), ("evaluate", "--rules-dir", rules_dir, BY_USER)):
        err = usage_error(capsys, *argv)
        assert f"{path}: " in err and message in err, err
    code, out, err = run("test", rules_dir)
    assert code == 2 and out == ""
    assert f"{path}: " in err and message in err, err
    assert RULE_ID not in {rule.meta.id for rule in REGISTRY.rules}  # nothing half-loaded


def test_every_bad_file_is_named_at_once(rules_dir):
    first = _bad(rules_dir, "no_meta_rule.py", "def evaluate(record, ctx):\n    return None\n")
    second = _bad(rules_dir, "broken_rule_here.py", "def evaluate(:\n")
    code, _, err = run("test", rules_dir)
    assert code == 2
    assert f"{first}: no META" in err and f"{second}: syntax error on line 1" in err


def test_a_missing_or_empty_rules_directory_is_a_usage_error(tmp_path, capsys):
    assert "does not exist or is not a directory" in usage_error(capsys, "rules", "--rules-dir", tmp_path / "none")
    (tmp_path / "empty").mkdir()
    assert "has no rule files" in usage_error(capsys, "rules", "--rules-dir", tmp_path / "empty")


def test_helpers_of_the_directory_are_importable_by_its_rules_and_are_not_rules(rules_dir):
    (rules_dir / "_helpers.py").write_text("PIPELINE_ROLES = frozenset({'payments-api-deployer'})\n")
    rule = rules_dir / f"{RULE_ID}.py"
    rule.write_text(rule.read_text().replace('PIPELINE_ROLES = frozenset({"ci-deploy"})',
                                             "from identity_auditor_custom_rules._helpers import PIPELINE_ROLES"))
    code, out, err = run("evaluate", "--format", "jsonl", "--rules-dir", rules_dir, BY_PIPELINE)
    assert code == 0, err
    assert [json.loads(line)["rule_id"] for line in out.splitlines()] == [RULE_ID]  # ci-deploy is not allowed now


# -- the deployment: the layer's package, the CloudTrail handler, the EventBridge routes ---------------------------

def _layer(tmp_path: Path, rules: Path) -> Path:
    """What `sam build` puts in the layer's python/ folder for custom rules (layers/identity_auditor/Makefile)."""
    artifacts = tmp_path / "artifacts"
    subprocess.run(["make", "-s", "-f", str(support.ROOT / "layers" / "identity_auditor" / "Makefile"), "custom-rules",
                    f"ARTIFACTS_DIR={artifacts}", f"CUSTOM_RULES={rules}"], check=True, capture_output=True)
    return artifacts / "python"


def test_the_layer_build_packages_custom_rules_and_the_registry_loads_them_at_import(rules_dir, tmp_path):
    python = _layer(tmp_path, rules_dir)
    assert (python / custom_rules.PACKAGE / f"{RULE_ID}.py").is_file()
    assert (python / custom_rules.PACKAGE / "__init__.py").is_file()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(python), os.environ.get("PYTHONPATH", "")]), ENV: ""}
    shown = subprocess.run(
        [sys.executable, "-c", "from identity_auditor.engine.registry import REGISTRY; "
         "print([r.meta.id for r in REGISTRY.rules_for('iam.amazonaws.com', 'CreateRole', 'IAMUser')])"],
        env=env, capture_output=True, text=True, check=True).stdout
    assert RULE_ID in shown


def test_the_layer_has_no_custom_rules_package_without_the_folder(tmp_path):
    assert not (_layer(tmp_path, tmp_path / "custom_rules") / custom_rules.PACKAGE).exists()


def test_a_bad_packaged_rule_stops_the_cold_start_naming_the_file(rules_dir, tmp_path):
    _bad(rules_dir, "no_meta_rule.py", "def evaluate(record, ctx):\n    return None\n")
    python = _layer(tmp_path, rules_dir)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(python), os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run([sys.executable, "-c", "import identity_auditor.engine.registry"],
                            env=env, capture_output=True, text=True)
    assert result.returncode == 1
    assert "RuleFileError" in result.stderr
    assert f"{python / custom_rules.PACKAGE / 'no_meta_rule.py'}: no META" in result.stderr


def test_the_cloudtrail_handler_runs_a_packaged_custom_rule(rules_dir, tmp_path, monkeypatch, account,
                                                            lambda_context):
    """The layer's package on the path (as /opt/python in Lambda), loaded as the registry does at import."""
    python = _layer(tmp_path, rules_dir)
    monkeypatch.syspath_prepend(str(python))
    use_custom_rules(custom_rules.load_package(BUILT_IN_IDS))
    handler = support.load_handler_module()

    result = handler.handler(json.loads(BY_USER.read_text()), lambda_context)

    (finding_id,) = result["findings"]
    assert finding_id.startswith(f"{RULE_ID}/123837392027/us-east-1/")
    assert result["ruleErrors"] == []
    (finding,) = account.findings()
    assert_valid_asff(finding)
    assert finding["GeneratorId"] == RULE_ID and finding["Severity"]["Label"] == "MEDIUM"
    (alert,) = account.alerts()
    assert alert["Subject"].startswith("[MEDIUM] IAM role created outside the deployment pipeline")

    quiet = handler.handler(json.loads(BY_PIPELINE.read_text()), lambda_context)
    assert quiet["findings"] == []


S3_RULE = '''
"""A bucket policy was changed outside the deployment pipeline."""
from identity_auditor.model.contract import RuleMeta, Severity, Trigger, Violation

META = RuleMeta(
    id="s3_bucket_policy_changed",
    title="S3 bucket policy changed",
    severity=Severity.LOW,
    trigger=Trigger("s3.amazonaws.com", ("PutBucketPolicy", "DeleteBucketPolicy")),
    resource_type="AwsS3Bucket",
    finding_types=("Software and Configuration Checks/AWS Security Best Practices",),
    why="A bucket policy decides who outside the account can read the bucket.",
    remediation="Review the new bucket policy.",
    remediation_url="https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucket-policies.html",
)


def evaluate(record, ctx):
    return Violation(description="bucket policy changed", resource_id=str(record.request("bucketName")))
'''


def _make_generate(root: Path, *options: str) -> subprocess.CompletedProcess:
    """`make generate` (CHECK=1: --check), as make runs it: a process of its own."""
    return subprocess.run([sys.executable, "-m", "identity_auditor.deploy.generate", "--root", str(root), *options],
                          capture_output=True, text=True, env={**os.environ, ENV: ""})


def test_make_generate_routes_the_custom_rules_events_of_the_repository(tmp_path):
    """custom_rules/ of the repository: make generate --check names every derived file stale until it is run;
    then the template routes the custom rule's events and the policy schema takes its id; removing the folder
    and generating again gives back the files of the built-in rules."""
    for file in generate.DERIVED:
        shutil.copy(support.ROOT / file, tmp_path / file)
    (tmp_path / "custom_rules").mkdir()
    (tmp_path / "custom_rules" / "s3_bucket_policy_changed.py").write_text(S3_RULE)

    check = _make_generate(tmp_path, "--check")
    assert check.returncode == 1
    assert [f"{file} is stale" in check.stderr for file in generate.DERIVED] == [True] * len(generate.DERIVED)
    done = _make_generate(tmp_path)
    assert done.returncode == 0, done.stderr
    assert f"custom rules of {tmp_path / 'custom_rules'}: s3_bucket_policy_changed" in done.stdout
    assert _make_generate(tmp_path, "--check").returncode == 0
    template = support.load_template(tmp_path / "template.yaml")
    patterns = [resource["Properties"]["EventPattern"] for resource in template["Resources"].values()
                if resource["Type"] == "AWS::Events::Rule" and "EventPattern" in resource["Properties"]]
    assert any(pattern.get("detail", {}).get("eventSource") == ["s3.amazonaws.com"]
               and pattern["detail"]["eventName"] == ["DeleteBucketPolicy", "PutBucketPolicy"] for pattern in patterns)
    assert '"s3_bucket_policy_changed"' in (tmp_path / "policy.schema.json").read_text()
    assert "`s3_bucket_policy_changed`" in (tmp_path / "README.md").read_text()

    shutil.rmtree(tmp_path / "custom_rules")
    assert _make_generate(tmp_path).returncode == 0
    for file in generate.DERIVED:
        assert (tmp_path / file).read_text() == (support.ROOT / file).read_text(), file


def test_make_generate_names_a_bad_custom_rule_file(tmp_path, capsys):
    for file in generate.DERIVED:
        shutil.copy(support.ROOT / file, tmp_path / file)
    (tmp_path / "custom_rules").mkdir()
    (tmp_path / "custom_rules" / "half_written_rule.py").write_text("META = RuleMeta(\n")
    assert generate.main(["--check", "--root", str(tmp_path)]) == 2
    assert f"{tmp_path / 'custom_rules' / 'half_written_rule.py'}: syntax error" in capsys.readouterr().err


def test_patterns_with_rules_dir_show_the_custom_rules_routes(tmp_path):
    (tmp_path / "s3_bucket_policy_changed.py").write_text(S3_RULE)
    code, out, _ = run("patterns", "--rules-dir", tmp_path)
    assert code == 0
    assert any(route["pattern"]["detail"].get("eventSource") == ["s3.amazonaws.com"] for route in json.loads(out))


def test_the_organisation_policy_configures_a_custom_rule_like_a_built_in_one(rules_dir, tmp_path):
    """A fresh process, as a person runs it: the policy document takes the custom rule's id (its schema is
    built once the rules are loaded), here to turn the rule off."""
    policy = tmp_path / "policy.yaml"
    policy.write_text(f"version: 1\nrules:\n  {RULE_ID}:\n    enabled: false\n")
    command = [sys.executable, "-m", "identity_auditor.cli.main", "evaluate", "--format", "jsonl",
               "--rules-dir", str(rules_dir), str(BY_USER)]
    env = {**os.environ, ENV: ""}
    fired = subprocess.run(command, capture_output=True, text=True, env=env)
    assert fired.returncode == 0 and RULE_ID in fired.stdout, fired.stderr
    off = subprocess.run(command + ["--policy", str(policy)], capture_output=True, text=True, env=env)
    assert off.returncode == 0, off.stderr
    assert off.stdout == ""


STATE_RULE = '''
"""An IAM user has an active access key (this organisation allows none)."""
from identity_auditor.model.contract import Compliance, RuleMeta, Severity, StateResult, StateTrigger, Violation

META = RuleMeta(
    id="iam_user_access_key_active",
    title="IAM user has an active access key",
    severity=Severity.MEDIUM,
    trigger=None,
    state=StateTrigger("AWS::IAM::User", periodic=True),
    resource_type="AwsIamUser",
    finding_types=("Software and Configuration Checks/AWS Security Best Practices",),
    why="Access keys are long-lived credentials; people here use IAM Identity Center.",
    remediation="Deactivate and delete the key; give the workload a role instead.",
    remediation_url="https://docs.aws.amazon.com/IAM/latest/UserGuide/id_credentials_access-keys.html",
)


def evaluate_state(row, ctx):
    if row.is_root or not row.active_keys:
        return StateResult(Compliance.COMPLIANT, f"{row.user} has no active access key.")
    return StateResult(Compliance.NON_COMPLIANT, f"{row.user} has an active access key.",
                       Violation(description=f"IAM user {row.user} has an active access key.", resource_id=row.arn,
                                 subject=row.user))
'''


def test_audit_account_runs_a_custom_state_rule_and_test_says_it_is_not_tested(tmp_path):
    import boto3
    from moto import mock_aws

    sys.path.insert(0, str(support.ROOT / "scripts"))
    from posture_world import emulator_gaps

    (tmp_path / "iam_user_access_key_active.py").write_text(STATE_RULE)
    with mock_aws(), emulator_gaps():
        iam = boto3.client("iam", region_name="us-east-1")
        iam.create_user(UserName="alice")
        iam.create_user(UserName="ci-deploy")
        iam.create_access_key(UserName="ci-deploy")
        code, out, err = run("audit-account", "--rules-dir", tmp_path, "--rules", "iam_user_access_key_active",
                             "--format", "jsonl")
    assert code == 0, err
    found = [json.loads(line) for line in out.splitlines()]
    assert [(f["rule_id"], f["resource_id"].rsplit("/", 1)[-1]) for f in found] == [
        ("iam_user_access_key_active", "ci-deploy")]

    code, out, _ = run("test", tmp_path)
    assert code == 0
    assert out.splitlines() == [
        "SKIP iam_user_access_key_active: not tested: a state rule (evaluate_state) has no event samples; "
        "test evaluate_state with your own unit tests",
        f"0 passed, 0 failed, 1 not tested (1 rule in {tmp_path.resolve()})"]


def test_policy_validate_knows_the_custom_rules_with_rules_dir(rules_dir, tmp_path):
    """A fresh process each (the policy document's rule ids are fixed when its model is first imported)."""
    policy = tmp_path / "policy.yaml"
    policy.write_text(f"version: 1\nrules:\n  {RULE_ID}:\n    severity: HIGH\n")
    env = {**os.environ, ENV: ""}
    command = [sys.executable, "-m", "identity_auditor.cli.main", "policy", "validate", str(policy)]
    unknown = subprocess.run(command, capture_output=True, text=True, env=env)
    assert unknown.returncode == 2 and RULE_ID in unknown.stderr
    known = subprocess.run(command + ["--rules-dir", str(rules_dir)], capture_output=True, text=True, env=env)
    assert known.returncode == 0, known.stderr
    schema = subprocess.run([sys.executable, "-m", "identity_auditor.cli.main", "policy", "schema", "--rules-dir",
                             str(rules_dir)], capture_output=True, text=True, env=env)
    assert schema.returncode == 0 and f'"{RULE_ID}"' in schema.stdout
