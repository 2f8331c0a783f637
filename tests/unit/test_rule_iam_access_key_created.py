"""iam_access_key_created: self, another user, root for itself, role sessions, failures."""

from __future__ import annotations

from identity_auditor.model.contract import Severity
from identity_auditor.rules import iam_access_key_created as rule
from support import changed, corpus_record, run_rule

FOR_OTHER_USER = corpus_record("invictus", "CreateAccessKey", eventID="64b7de64-bf53-47ae-b7e3-d30cb1b5136e")
ROOT_IDENTITY = {"type": "Root", "principalId": "123837392027", "arn": "arn:aws:iam::123837392027:root",
                 "accountId": "123837392027", "accessKeyId": "ASIAEXAMPLEROOTKEY01"}


def test_flags_key_created_for_another_user_as_high():
    violation = run_rule(rule, FOR_OTHER_USER)
    assert violation.severity is Severity.HIGH
    assert violation.resource_id == "AKIATFQR7NSC3ZO6PKAZ"
    assert violation.details["KeyOwner"] == "stratus-red-team-backdoor-u-user"
    assert "bert-jan" in violation.description and "another IAM user" in violation.description


def test_key_for_self_is_medium_with_or_without_user_name():
    named = changed(FOR_OTHER_USER, requestParameters={"userName": "bert-jan"})
    unnamed = changed(FOR_OTHER_USER, requestParameters=None)
    for record in (named, unnamed):
        violation = run_rule(rule, record)
        assert violation.severity is Severity.MEDIUM
        assert violation.details["KeyOwner"] == "bert-jan"


def test_root_creating_its_own_key_is_critical():
    record = changed(FOR_OTHER_USER, userIdentity=ROOT_IDENTITY, requestParameters=None,
                     responseElements={"accessKey": {"accessKeyId": "AKIAEXAMPLEROOTNEW01", "status": "Active"}})
    violation = run_rule(rule, record)
    assert violation.severity is Severity.CRITICAL
    assert "root" in violation.description


def test_root_creating_a_key_for_a_user_is_high():
    record = changed(FOR_OTHER_USER, userIdentity=ROOT_IDENTITY)
    assert run_rule(rule, record).severity is Severity.HIGH


def test_role_session_acting_on_a_user_gets_the_base_severity():
    role = {
        "type": "AssumedRole",
        "principalId": "AROAEXAMPLE:ci",
        "arn": "arn:aws:sts::123837392027:assumed-role/deploy-pipeline/ci",
        "accountId": "123837392027",
        "sessionContext": {"sessionIssuer": {"type": "Role", "arn": "arn:aws:iam::123837392027:role/deploy-pipeline",
                                             "userName": "deploy-pipeline"}},
    }
    assert run_rule(rule, changed(FOR_OTHER_USER, userIdentity=role)).severity is Severity.MEDIUM


def test_ignores_failed_call():
    failed = changed(FOR_OTHER_USER, errorCode="LimitExceededException",
                     errorMessage="Cannot exceed quota for AccessKeysPerUser: 2", responseElements=None)
    assert run_rule(rule, failed) is None


def test_key_without_response_points_at_the_user():
    violation = run_rule(rule, changed(FOR_OTHER_USER, responseElements=None))
    assert violation.resource_id == "arn:aws:iam::123837392027:user/stratus-red-team-backdoor-u-user"
