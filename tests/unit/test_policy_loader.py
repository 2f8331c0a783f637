"""Where the organisation policy comes from: SSM Parameter Store (moto), AppConfig (a stubbed
appconfigdata client: moto 5.2.5 has the AppConfig control plane but not the appconfigdata API that
Powertools reads), or the packaged default; Powertools caching (max_age) and the parse cache."""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys
from datetime import datetime, timedelta

import boto3
import pytest
from aws_lambda_powertools.utilities import parameters
from aws_lambda_powertools.utilities.parameters import base as parameters_base
from aws_lambda_powertools.utilities.parameters.appconfig import AppConfigProvider
from botocore.response import StreamingBody
from botocore.stub import Stubber
from identity_auditor.delivery.settings import Settings
from identity_auditor.model.policy import DEFAULT_POLICY
from identity_auditor.policy import loader as policy_loader
from identity_auditor.policy.document import PolicyError
from identity_auditor.policy.loader import load_policy, load_policy_text
from moto import mock_aws
from support import ROOT

PARAMETER = "/identity-auditor/policy"
EXAMPLE = (ROOT / "examples" / "policy.example.yaml").read_text()
PIPELINE = "arn:aws:iam::111122223333:role/identity-center-terraform-pipeline"


@pytest.fixture(autouse=True)
def fresh_providers():
    """Powertools keeps its providers (and their caches and boto3 clients) in module globals."""
    parameters.clear_caches()
    yield
    parameters.clear_caches()


@pytest.fixture
def ssm():
    with mock_aws():
        yield boto3.client("ssm", region_name="us-east-1")


def later(monkeypatch, seconds: int) -> None:
    """Move the clock Powertools' cache reads ``seconds`` ahead."""

    class Later(datetime):
        @classmethod
        def now(cls, tz=None):
            return datetime.now(tz) + timedelta(seconds=seconds)

    monkeypatch.setattr(parameters_base, "datetime", Later)


def test_without_a_source_the_packaged_default_is_used():
    assert load_policy(Settings()) == DEFAULT_POLICY


def test_ssm_parameter_is_loaded_and_cached_for_max_age(ssm, monkeypatch):
    ssm.put_parameter(Name=PARAMETER, Value=EXAMPLE, Type="String")
    settings = Settings(policy_ssm_parameter=PARAMETER)
    first = load_policy(settings)
    assert first.allows("sso_permission_set_changed", PIPELINE)

    ssm.put_parameter(Name=PARAMETER, Value="rules: {sso_permission_set_changed: {enabled: false}}\n",
                      Type="String", Overwrite=True)
    later(monkeypatch, 120)
    assert load_policy(settings) is first  # within max_age: the cached document, not re-read, not re-parsed

    later(monkeypatch, 301)
    changed = load_policy(settings)
    assert changed.disabled == frozenset({"sso_permission_set_changed"})
    assert not changed.allows("sso_permission_set_changed", PIPELINE)


def test_secure_string_json_parameter(ssm):
    ssm.put_parameter(Name=PARAMETER, Type="SecureString",
                      Value=json.dumps({"version": 1, "trusted_accounts": ["444455556666"]}))
    assert load_policy(Settings(policy_ssm_parameter=PARAMETER)).trusted_accounts == frozenset({"444455556666"})


def test_unchanged_document_is_validated_once(ssm, monkeypatch):
    ssm.put_parameter(Name=PARAMETER, Value="break_glass_users: ['validated-once-*']\n", Type="String")
    calls = []
    validate = policy_loader.validate_document
    monkeypatch.setattr(policy_loader, "validate_document", lambda *a: calls.append(a) or validate(*a))
    settings = Settings(policy_ssm_parameter=PARAMETER)
    first = load_policy(settings)
    later(monkeypatch, 3600)  # Powertools fetches again: same text, served from the parse cache
    assert load_policy(settings) is first
    assert len(calls) == 1


def test_bad_document_in_ssm_fails_loudly_naming_the_key(ssm):
    ssm.put_parameter(Name=PARAMETER, Type="String", Value="rules:\n  iam_user_creatd: {enabled: false}\n")
    with pytest.raises(PolicyError) as caught:
        load_policy(Settings(policy_ssm_parameter=PARAMETER))
    assert str(caught.value) == (
        f"ssm:{PARAMETER}: invalid organisation policy: rules.iam_user_creatd: unknown rule id "
        "(did you mean iam_user_created or iam_admin_user_created or iam_access_key_created?)"
    )


def test_missing_parameter_is_a_policy_error(ssm):
    with pytest.raises(PolicyError, match=f"ssm:{PARAMETER}: cannot read the organisation policy"):
        load_policy(Settings(policy_ssm_parameter=PARAMETER))


def test_both_sources_set_is_an_error():
    settings = Settings(policy_ssm_parameter=PARAMETER, policy_appconfig="identity-auditor/prod/policy")
    with pytest.raises(PolicyError, match="POLICY_SSM_PARAMETER and POLICY_APPCONFIG are both set"):
        load_policy(settings)


def test_load_logs_the_summary_once_and_warns_about_expired_entries(ssm, caplog, monkeypatch):
    document = ("rules:\n  iam_user_created:\n    suppress:\n      - {resource: 'it-*', reason: tests, "
                "owner: qa@example.com, expires: 2020-01-31}\n")
    ssm.put_parameter(Name=PARAMETER, Type="String", Value=document)
    settings = Settings(policy_ssm_parameter=PARAMETER)
    with caplog.at_level(logging.INFO, logger="identity_auditor.policy.loader"):
        load_policy(settings)
        later(monkeypatch, 3600)
        load_policy(settings)
    loaded = [r for r in caplog.records if r.getMessage().startswith("organisation policy loaded")]
    assert len(loaded) == 1 and "1 suppression (1 expired)" in loaded[0].getMessage()
    (warning,) = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert (warning.rule_id, warning.suppress_index, warning.suppression_owner, warning.suppression_expires) == (
        "iam_user_created", 0, "qa@example.com", "2020-01-31")


# -- AppConfig ------------------------------------------------------------------------------------------

def _appconfig(responses: list[bytes]) -> Stubber:
    client = boto3.client("appconfigdata", region_name="us-east-1")
    stubber = Stubber(client)
    stubber.add_response(
        "start_configuration_session",
        {"InitialConfigurationToken": "token-0"},
        {"ApplicationIdentifier": "identity-auditor", "EnvironmentIdentifier": "prod",
         "ConfigurationProfileIdentifier": "policy"},
    )
    for number, body in enumerate(responses):
        stubber.add_response(
            "get_latest_configuration",
            {"Configuration": StreamingBody(io.BytesIO(body), len(body)), "ContentType": "application/x-yaml",
             "NextPollConfigurationToken": f"token-{number + 1}", "NextPollIntervalInSeconds": 60},
            {"ConfigurationToken": f"token-{number}"},
        )
    stubber.activate()
    parameters.base.DEFAULT_PROVIDERS["appconfig"] = AppConfigProvider(
        environment="prod", application="identity-auditor", boto3_client=client
    )
    return stubber


def test_appconfig_profile_is_loaded_as_text_and_kept_when_unchanged(monkeypatch):
    # AppConfig returns the document once, then an empty body while it is unchanged
    stubber = _appconfig([EXAMPLE.encode(), b""])
    settings = Settings(policy_appconfig="identity-auditor/prod/policy")
    first = load_policy(settings)
    assert first.allows("sso_account_assignment_changed", PIPELINE)
    later(monkeypatch, 301)
    assert load_policy(settings) is first
    stubber.assert_no_pending_responses()


def test_bad_document_in_appconfig_names_the_source_and_key():
    _appconfig([b"external_idp_scim: 'sometimes'\n"])
    with pytest.raises(PolicyError) as caught:
        load_policy(Settings(policy_appconfig="identity-auditor/prod/policy"))
    assert str(caught.value) == ("appconfig:identity-auditor/prod/policy: invalid organisation policy: "
                                 "external_idp_scim: 'sometimes' is not a boolean (true or false)")


# -- cold start cost ------------------------------------------------------------------------------------

def test_no_source_imports_neither_boto3_nor_powertools_parameters():
    code = (
        "import sys\n"
        "from identity_auditor.policy.loader import load_policy\n"
        "from identity_auditor.delivery.settings import Settings\n"
        "load_policy(Settings())\n"
        "print('boto3' in sys.modules, 'aws_lambda_powertools.utilities.parameters' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["False", "False"]


@pytest.mark.parametrize(("pattern", "refused"), [
    ("arn:aws:iam::111122223333:role/terraform", False),
    ("arn:aws:sts::111122223333:assumed-role/terraform/*", False),
    ("arn:aws:sts::111122223333:assumed-role/AWSReservedSSO_Admin_*/*", False),
    ("arn:aws:iam::111122223333:user/ci", False),
    ("arn:aws:sts::*:assumed-role/*/terraform", True),  # any role's session named terraform
    ("arn:aws:sts::111122223333:assumed-role/*", True),  # any role of the account
    ("*terraform*", True),
    ("*/ci-bot", True),
])
def test_an_allow_pattern_that_pins_no_role_is_refused(pattern, refused):
    """Spec §C (issue 16, point 8): an allow pattern that can match a role session name, which the caller chooses,
    without naming the role is refused, naming the pattern and how to pin the role."""
    text = f"version: 1\nrules:\n  iam_user_created:\n    allow: ['{pattern}']\n"
    if not refused:
        assert load_policy_text(text, source="p").allow["iam_user_created"] == (pattern,)
        return
    with pytest.raises(PolicyError, match="a caller chooses its session name: name the role") as error:
        load_policy_text(text, source="p")
    assert "rules.iam_user_created.allow" in str(error.value) and pattern in str(error.value)
