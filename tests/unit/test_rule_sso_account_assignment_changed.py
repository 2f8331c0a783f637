"""sso_account_assignment_changed: direct user grants and privileged permission sets are HIGH."""

from __future__ import annotations

from datetime import datetime, timezone

from asff_validator import assert_valid_asff
from identity_auditor.model.cloudtrail import CloudTrailRecord
from identity_auditor.model.contract import Context, Severity
from identity_auditor.model.findings import build_finding
from identity_auditor.model.policy import OrgPolicy
from identity_auditor.rules import sso_account_assignment_changed as rule
from identity_auditor.sinks.asff import to_asff
from support import changed, load_sample, rule_findings, run_rule

NOW = datetime(2025, 3, 5, 12, 0, tzinfo=timezone.utc)
PRODUCT_ARN = "arn:aws:securityhub:us-east-1:123456789012:product/123456789012/default"
GROUP = load_sample("sso_create_account_assignment_group__constructed")["detail"]
USER = load_sample("sso_create_account_assignment_user__constructed")["detail"]
FAILED = load_sample("sso_create_account_assignment_failed__constructed")["detail"]
PS = "arn:aws:sso:::permissionSet/ssoins-72233af8ea2d1f14/ps-ae5d1fa1f80b684e"


def _evaluate(raw: dict, policy: OrgPolicy):
    return rule.evaluate(CloudTrailRecord.model_validate(raw), Context(now=NOW, policy=policy))


def _assert_asff(raw: dict, violation) -> None:
    finding = build_finding(rule.META, violation, CloudTrailRecord.model_validate(raw))
    assert_valid_asff(to_asff(finding, product_arn=PRODUCT_ARN, updated_at=NOW))


def test_group_assignment_is_medium_on_the_target_account():
    violation = run_rule(rule, GROUP)
    assert violation is not None and violation.severity is None  # the rule's MEDIUM
    assert violation.resource_id == "AWS::::Account:444455556666"
    assert violation.resource_type is None  # META's AwsAccount
    assert "group 34887428-4081-7042-c3c6-928d413009e7" in violation.description
    _assert_asff(GROUP, violation)


def test_direct_user_assignment_is_high():
    violation = run_rule(rule, USER)
    assert violation is not None and violation.severity is Severity.HIGH
    assert "directly to a user" in violation.description
    _assert_asff(USER, violation)


def test_removing_a_direct_user_assignment_is_medium():
    delete = changed(USER, eventName="DeleteAccountAssignment")
    violation = run_rule(rule, delete)
    assert violation is not None and violation.severity is None
    assert "removed the assignment" in violation.description


def test_default_privileged_pattern_cannot_match_an_arn():
    # The default policy lists "*AdministratorAccess*"; records carry the ARN only, never the name.
    assert OrgPolicy().privileged_permission_sets == ("*AdministratorAccess*",)
    assert run_rule(rule, GROUP).severity is None


def test_privileged_permission_set_by_arn_or_id_is_high_for_creation_and_deletion():
    for patterns in ((PS,), ("ps-ae5d1fa1f80b684e",), ("arn:aws:sso:::permissionSet/*/ps-ae5d1fa1f80b684e",)):
        policy = OrgPolicy(privileged_permission_sets=patterns)
        assert _evaluate(GROUP, policy).severity is Severity.HIGH
        assert (
            _evaluate(changed(GROUP, eventName="DeleteAccountAssignment"), policy).severity is Severity.HIGH
        )
    assert _evaluate(GROUP, OrgPolicy(privileged_permission_sets=("ps-other",))).severity is None


def test_ignores_failed_assignment():
    assert FAILED["errorCode"] == "AccessDeniedException"
    assert run_rule(rule, FAILED) is None


def test_ignores_allow_listed_automation_matched_on_the_session_issuer():
    pipeline = {
        "type": "AssumedRole",
        "arn": "arn:aws:sts::111122223333:assumed-role/ci-deploy/GitHubActions",
        "accountId": "111122223333",
        "sessionContext": {
            "sessionIssuer": {
                "type": "Role",
                "arn": "arn:aws:iam::111122223333:role/ci-deploy",
                "userName": "ci-deploy",
            }
        },
    }
    raw = changed(USER, userIdentity=pipeline)
    policy = OrgPolicy(allow={rule.META.id: ("arn:aws:iam::111122223333:role/ci-deploy",)})
    assert not rule_findings(rule, raw, policy)
    assert _evaluate(raw, OrgPolicy()) is not None


def test_a_record_without_target_falls_back_to_the_permission_set():
    request = {k: v for k, v in GROUP["requestParameters"].items() if k != "targetId"}
    violation = run_rule(rule, changed(GROUP, requestParameters=request))
    assert violation.resource_id == PS and violation.resource_type == "Other"


# -- both record shapes (spec/rules.md §A, "Identity Center records changed shape in 2025") ------------------
USER_BY_IC_USER = load_sample("sso_create_account_assignment_user_identity_center_user__constructed")["detail"]
FAILED_BY_IC_USER = load_sample("sso_create_account_assignment_identity_center_user_failed__constructed")["detail"]
USER_ID = "544894e8-80c1-707f-60e3-3ba6510dfac1"


def test_a_caller_in_the_identity_center_user_shape_is_named_by_user_id():
    assert USER_BY_IC_USER["userIdentity"]["type"] == "IdentityCenterUser"
    violation = run_rule(rule, USER_BY_IC_USER)
    assert violation is not None and violation.severity is Severity.HIGH
    assert violation.description.startswith(f"Identity Center user {USER_ID} assigned permission set")
    assert violation.details["CallerUserId"] == USER_ID
    finding = build_finding(rule.META, violation, CloudTrailRecord.model_validate(USER_BY_IC_USER))
    assert finding.actor.name == USER_ID
    _assert_asff(USER_BY_IC_USER, violation)


def test_the_role_session_shape_names_the_session():
    assert run_rule(rule, USER).description.startswith(
        "AWSReservedSSO_AdministratorAccess_0123456789abcdef/jane@example.com assigned permission set"
    )


def test_ignores_a_failed_assignment_in_the_identity_center_user_shape():
    assert FAILED_BY_IC_USER["errorCode"] == "AccessDeniedException"
    assert run_rule(rule, FAILED_BY_IC_USER) is None
