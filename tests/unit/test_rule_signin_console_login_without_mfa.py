"""signin_console_login_without_mfa on real console sign-in records and their federated look-alikes."""

from __future__ import annotations

import pytest
from identity_auditor.model.contract import Severity
from identity_auditor.rules import signin_console_login_without_mfa as rule
from support import changed, corpus_record, run_rule

IAM_USER_NO_MFA = corpus_record("invictus", "ConsoleLogin", userAgent="stratus-red-team_01190e38-873e-4cc4-aede-7ceb7ffc2a4a")
IAM_USER_MFA = corpus_record("invictus", "ConsoleLogin", sourceIPAddress="10.8.8.10")
DOCS = "aws-docs/cloudtrail"


def _root_login(mfa: str) -> dict:
    """AWS's documented root console login (sign-in events reference), with MFAUsed set."""
    record = corpus_record(DOCS, "ConsoleLogin", eventID="deb1e1f9-c99b-4612-8e9f-21f93b5d79c0")
    record["additionalEventData"]["MFAUsed"] = mfa
    return record


def test_flags_iam_user_password_only_login():
    violation = run_rule(rule, IAM_USER_NO_MFA)
    assert violation is not None
    assert violation.severity is None  # the rule's HIGH
    assert violation.resource_id == "arn:aws:iam::123837392027:user/stratus-red-team-nmfalu-gfjyeaypjt"
    assert "stratus-red-team-nmfalu-gfjyeaypjt" in violation.description
    assert "without MFA" in violation.description


def test_flags_root_login_without_mfa_as_critical():
    violation = run_rule(rule, _root_login("No"))
    assert violation is not None
    assert violation.severity is Severity.CRITICAL
    assert violation.resource_type == "AwsAccount"
    assert violation.resource_id == "AWS::::Account:111122223333"


@pytest.mark.parametrize("mfa_used", ["Yes", "YES", "yes"])
def test_ignores_logins_with_mfa_whatever_the_case(mfa_used):
    # AWS's own root sample records "YES" in capitals.
    assert run_rule(rule, changed(IAM_USER_MFA, additionalEventData={**IAM_USER_MFA["additionalEventData"],
                                                                      "MFAUsed": mfa_used})) is None
    assert run_rule(rule, _root_login(mfa_used)) is None


def test_ignores_failed_login_even_without_mfa():
    failed = corpus_record(DOCS, "ConsoleLogin", eventID="a4fbbe77-91a0-4238-804a-64314184edb6")
    assert failed["responseElements"]["ConsoleLogin"] == "Failure" and "errorCode" not in failed
    assert run_rule(rule, failed) is None


def test_ignores_failed_login_of_unknown_user():
    failed = corpus_record("aws-docs/iam", "ConsoleLogin", eventID="a7654656-0417-45c6-9386-ea8231385051")
    assert failed["userIdentity"]["userName"] == "HIDDEN_DUE_TO_SECURITY_REASONS"
    assert run_rule(rule, failed) is None


def test_ignores_identity_center_login():
    sso = changed(
        IAM_USER_NO_MFA,
        userIdentity={
            "type": "AssumedRole",
            "principalId": "AROAEXAMPLEID:jane@example.com",
            "arn": "arn:aws:sts::123837392027:assumed-role/AWSReservedSSO_AdministratorAccess_0123456789abcdef/jane@example.com",
            "accountId": "123837392027",
            "sessionContext": {
                "sessionIssuer": {
                    "type": "Role",
                    "arn": "arn:aws:iam::123837392027:role/aws-reserved/sso.amazonaws.com/"
                    "AWSReservedSSO_AdministratorAccess_0123456789abcdef",
                    "userName": "AWSReservedSSO_AdministratorAccess_0123456789abcdef",
                },
            },
        },
    )
    assert run_rule(rule, sso) is None


def test_ignores_saml_federated_login_even_for_iam_user_type():
    saml_data = {**IAM_USER_NO_MFA["additionalEventData"], "SamlProviderArn": "arn:aws:iam::123837392027:saml-provider/Okta"}
    assert run_rule(rule, changed(IAM_USER_NO_MFA, additionalEventData=saml_data)) is None


def test_ignores_session_already_mfa_authenticated():
    identity = {**IAM_USER_NO_MFA["userIdentity"],
                "sessionContext": {"attributes": {"mfaAuthenticated": "true", "creationDate": "2023-07-10T12:20:00Z"}}}
    assert run_rule(rule, changed(IAM_USER_NO_MFA, userIdentity=identity)) is None


def test_flags_when_mfa_field_is_missing():
    data = {k: v for k, v in IAM_USER_NO_MFA["additionalEventData"].items() if k != "MFAUsed"}
    assert run_rule(rule, changed(IAM_USER_NO_MFA, additionalEventData=data)) is not None


def test_flags_masked_account_and_keeps_it_as_given():
    masked = changed(IAM_USER_NO_MFA, recipientAccountId="***",
                     userIdentity={**IAM_USER_NO_MFA["userIdentity"], "accountId": "***", "arn": None})
    violation = run_rule(rule, masked)
    assert violation is not None and "***" in violation.description
