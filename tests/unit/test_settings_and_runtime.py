"""Settings are validated at cold start with messages naming the variable; the home account comes from the ARN."""

from __future__ import annotations

import io

import pytest
from identity_auditor.cli.output import Progress as _Progress
from identity_auditor.delivery.settings import Settings, SettingsError
from identity_auditor.model.home import Home

TOPIC = "arn:aws:sns:us-east-1:123456789012:identity-auditor-findings"


def test_defaults_when_nothing_is_set():
    assert Settings.from_env({}) == Settings(findings_topic_arn=None, security_hub_enabled=True)


def test_values_from_the_template_environment():
    settings = Settings.from_env({"FINDINGS_TOPIC_ARN": TOPIC, "SECURITY_HUB_ENABLED": "false"})
    assert settings.findings_topic_arn == TOPIC and settings.security_hub_enabled is False


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"FINDINGS_TOPIC_ARN": "identity-auditor-findings"}, "FINDINGS_TOPIC_ARN"),
        ({"SECURITY_HUB_ENABLED": "maybe"}, "SECURITY_HUB_ENABLED"),
        ({"SECURITY_HUB_PRODUCT_ARN": "arn:aws:sns:us-east-1:1:x"}, "SECURITY_HUB_PRODUCT_ARN"),
        ({"FINDINGS_QUEUE_URL": "arn:aws:sqs:us-east-1:123456789012:findings"}, "FINDINGS_QUEUE_URL"),
        ({"FINDINGS_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/findings"}, "FINDINGS_QUEUE_URL"),
        ({"MEMBER_ROLE_NAME": "identity auditor"}, "MEMBER_ROLE_NAME"),
    ],
)
def test_bad_values_stop_the_cold_start_naming_the_variable(env, named):
    with pytest.raises(SettingsError, match=named):
        Settings.from_env(env)


def test_the_deployed_queue_and_member_role():
    settings = Settings.from_env({
        "FINDINGS_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/auditor-FindingsQueue-AbC123",
        "MEMBER_ROLE_NAME": "/security/identity-auditor-member/",
    })
    assert settings.findings_queue_url.endswith("/123456789012/auditor-FindingsQueue-AbC123")
    assert settings.member_role_name == "security/identity-auditor-member"


def test_home_from_function_arn():
    home = Home.from_function_arn("arn:aws-us-gov:lambda:us-gov-west-1:123456789012:function:auditor:live")
    assert home == Home(partition="aws-us-gov", region="us-gov-west-1", account="123456789012")
    with pytest.raises(ValueError, match="not a Lambda function ARN"):
        Home.from_function_arn("arn:aws:sns:us-east-1:123456789012:topic")


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_is_shown_on_a_terminal_for_many_files_only():
    terminal, pipe = _Terminal(), io.StringIO()
    for stream in (terminal, pipe):
        progress = _Progress(stream, 55)
        for path in range(55):
            progress.step(path)
        progress.done()
    assert "reading 55/55 files" in terminal.getvalue()
    assert pipe.getvalue() == ""
    few = _Terminal()
    _Progress(few, 3).step("a")
    assert few.getvalue() == ""


def test_the_auditors_own_resources_come_from_the_stack_name_and_the_settings():
    settings = Settings.from_env({
        "AUDITOR_STACK_NAME": "identity-auditor",
        "FINDINGS_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:identity-auditor-FindingsTopic-1A2B3C",
        "FINDINGS_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/custom-findings",
        "POLICY_SSM_PARAMETER": "/security/auditor-policy",
        "POLICY_APPCONFIG": "abc1234/prod/xyz9876",
    })
    own = settings.auditor_resources
    assert own.owns("identity-auditor-cloudtrail-evaluator")  # every resource named after the stack
    assert own.owns("arn:aws:sqs:us-east-1:123456789012:custom-findings")
    assert own.owns("/security/auditor-policy")
    assert own.owns("arn:aws:appconfig:eu-west-1:123456789012:application/abc1234/configurationprofile/xyz9876")
    # the AppConfig ids match AppConfig ARNs only: a queue or function that happens to share a name is not ours
    assert not own.owns("xyz9876") and not own.owns("https://sqs.eu-west-1.amazonaws.com/444455556666/abc1234")
    assert not own.owns("arn:aws:appconfig:eu-west-1:123456789012:application/abc1234/configurationprofile/other")
    assert not own.owns("payments-api") and not own.owns("prod")
    assert own.deployers == ()  # any caller through CloudFormation is the stack's own deployment...
    deployers = Settings.from_env({"AUDITOR_STACK_NAME": "identity-auditor",
                                   "AUDITOR_DEPLOYERS": "arn:aws:iam::123456789012:role/cfn-exec, arn:aws:iam::*:role/ci"})
    assert deployers.auditor_resources.deployers == ("arn:aws:iam::123456789012:role/cfn-exec",
                                                     "arn:aws:iam::*:role/ci")  # ...unless they are named
    assert not Settings.from_env({"FINDINGS_TOPIC_ARN": settings.findings_topic_arn}).auditor_resources.known
