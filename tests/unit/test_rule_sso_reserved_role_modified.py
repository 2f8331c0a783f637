"""sso_reserved_role_modified: people changing AWSReservedSSO_* roles, never Identity Center itself."""

from __future__ import annotations

import pytest
from identity_auditor.model.contract import Severity
from identity_auditor.rules import sso_reserved_role_modified as rule
from support import changed, corpus_record, run_rule

ATTACH = corpus_record("invictus", "AttachRolePolicy")
CREATE = corpus_record("invictus", "CreateRole")
RESERVED = "AWSReservedSSO_ReadOnlyAccess_89abcdef01234567"
SSO_HUMAN = {
    "type": "AssumedRole",
    "principalId": "AROAEXAMPLEID:jane@example.com",
    "arn": "arn:aws:sts::123837392027:assumed-role/AWSReservedSSO_AdministratorAccess_0123456789abcdef/jane@example.com",
    "accountId": "123837392027",
    "sessionContext": {
        "sessionIssuer": {"type": "Role", "userName": "AWSReservedSSO_AdministratorAccess_0123456789abcdef",
                          "arn": "arn:aws:iam::123837392027:role/aws-reserved/sso.amazonaws.com/"
                                 "AWSReservedSSO_AdministratorAccess_0123456789abcdef"},
        "attributes": {"mfaAuthenticated": "false", "creationDate": "2023-07-10T12:00:00Z"},
    },
}


def _attach(role_name: str, **fields) -> dict:
    return changed(ATTACH, requestParameters={"roleName": role_name,
                                              "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"}, **fields)


def test_flags_human_in_reserved_session_changing_a_reserved_role():
    # The console user agent "AWS Internal" appears on human calls too: it must not hide them.
    violation = run_rule(rule, _attach(RESERVED, userIdentity=SSO_HUMAN, userAgent="AWS Internal",
                                       sourceIPAddress="203.0.113.10"))
    assert violation is not None
    assert violation.severity is None  # the rule's CRITICAL
    assert violation.resource_id == RESERVED
    assert violation.details["policyArn"] == "arn:aws:iam::aws:policy/AdministratorAccess"
    assert "jane@example.com" in violation.description


def test_flags_iam_user_changing_a_reserved_role():
    assert run_rule(rule, _attach(RESERVED)) is not None


@pytest.mark.parametrize("event_name", sorted(rule.META.trigger.event_names))
def test_every_watched_change_is_flagged(event_name):
    assert run_rule(rule, _attach(RESERVED, eventName=event_name)) is not None


def test_ignores_ordinary_roles():
    assert run_rule(rule, ATTACH) is None
    assert run_rule(rule, _attach("AWSReservedSSOish")) is None  # no underscore: not reserved


def test_create_role_recognised_by_reserved_path():
    record = changed(CREATE, requestParameters={**CREATE["requestParameters"], "roleName": "renamed-role",
                                                "path": "/aws-reserved/sso.amazonaws.com/"})
    assert run_rule(rule, record) is not None


def test_ignores_identity_center_provisioning_as_root_invoked_by_sso():
    identity = {"type": "Root", "principalId": "123837392027", "arn": "arn:aws:iam::123837392027:root",
                "accountId": "123837392027", "invokedBy": "sso.amazonaws.com"}
    record = _attach(RESERVED, userIdentity=identity, sourceIPAddress="sso.amazonaws.com",
                     userAgent="sso.amazonaws.com")
    assert run_rule(rule, record) is None


def test_ignores_identity_center_source_address_alone():
    assert run_rule(rule, _attach(RESERVED, sourceIPAddress="sso.amazonaws.com")) is None


def test_ignores_identity_center_service_linked_role_session():
    identity = {
        "type": "AssumedRole",
        "arn": "arn:aws:sts::123837392027:assumed-role/AWSServiceRoleForSSO/AWS-SSO",
        "accountId": "123837392027",
        "sessionContext": {"sessionIssuer": {
            "type": "Role", "userName": "AWSServiceRoleForSSO",
            "arn": "arn:aws:iam::123837392027:role/aws-service-role/sso.amazonaws.com/AWSServiceRoleForSSO"}},
    }
    assert run_rule(rule, _attach(RESERVED, userIdentity=identity, userAgent="AWS Internal")) is None


def test_ignores_failed_change():
    assert run_rule(rule, _attach(RESERVED, errorCode="AccessDenied", errorMessage="not authorized")) is None


def test_severity_is_critical():
    assert rule.META.severity is Severity.CRITICAL


def test_an_ordinary_role_named_like_the_service_role_is_not_identity_center():
    impostor = {
        "type": "AssumedRole",
        "arn": "arn:aws:sts::123837392027:assumed-role/AWSServiceRoleForSSO/AWS-SSO",
        "accountId": "123837392027",
        "sessionContext": {"sessionIssuer": {"type": "Role", "userName": "AWSServiceRoleForSSO",
                                             "arn": "arn:aws:iam::123837392027:role/AWSServiceRoleForSSO"}},
    }
    assert run_rule(rule, _attach(RESERVED, userIdentity=impostor)) is not None


@pytest.mark.parametrize("name", [RESERVED.lower(), RESERVED.upper(), "awsReservedSso_ReadOnlyAccess_89abcdef01234567"])
def test_a_reserved_role_named_in_another_case_is_still_the_reserved_role(name):
    """IAM names are not distinguished by case: a call naming the reserved role in lower case changes it (issue 16,
    point 8: the comparison was case-sensitive, so such a change went unreported)."""
    record = changed(ATTACH, requestParameters={**ATTACH["requestParameters"], "roleName": name})
    violation = run_rule(rule, record)
    assert violation is not None and violation.severity in (None, Severity.CRITICAL)
