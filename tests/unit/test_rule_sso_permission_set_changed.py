"""sso_permission_set_changed: permission set edits outside the pipeline, HIGH when they grant admin."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from urllib.parse import quote

import pytest
from asff_validator import assert_valid_asff
from identity_auditor.model.cloudtrail import CloudTrailRecord
from identity_auditor.model.contract import Context, Severity
from identity_auditor.model.findings import build_finding
from identity_auditor.model.policy import OrgPolicy
from identity_auditor.rules import sso_permission_set_changed as rule
from identity_auditor.sinks.asff import to_asff
from support import changed, load_sample, rule_findings, run_rule

NOW = datetime(2025, 3, 5, 12, 0, tzinfo=timezone.utc)
PRODUCT_ARN = "arn:aws:securityhub:us-east-1:123456789012:product/123456789012/default"
CREATE = load_sample("sso_create_permission_set__constructed")["detail"]
ATTACH_ADMIN = load_sample("sso_attach_managed_policy_to_permission_set_administrator_access__constructed")[
    "detail"
]
INLINE_ALL = load_sample("sso_put_inline_policy_to_permission_set_all_actions__constructed")["detail"]
FAILED = load_sample("sso_attach_managed_policy_to_permission_set_failed__constructed")["detail"]
PS = "arn:aws:sso:::permissionSet/ssoins-72233af8ea2d1f14/ps-5c3a9e1f0d2b4a67"
PIPELINE = {
    "type": "AssumedRole",
    "principalId": "AROA3EXAMPLECIDEPLOY1:GitHubActions",
    "arn": "arn:aws:sts::111122223333:assumed-role/ci-deploy/GitHubActions",
    "accountId": "111122223333",
    "sessionContext": {
        "sessionIssuer": {
            "type": "Role",
            "principalId": "AROA3EXAMPLECIDEPLOY1",
            "arn": "arn:aws:iam::111122223333:role/ci-deploy",
            "accountId": "111122223333",
            "userName": "ci-deploy",
        }
    },
}


def _evaluate(raw: dict, policy: OrgPolicy | None = None):
    return rule.evaluate(CloudTrailRecord.model_validate(raw), Context(now=NOW, policy=policy or OrgPolicy()))


def _inline(policy) -> dict:
    document = policy if isinstance(policy, str) else json.dumps(policy)
    return changed(
        INLINE_ALL, requestParameters={**INLINE_ALL["requestParameters"], "inlinePolicy": document}
    )


def _assert_asff(raw: dict, violation) -> None:
    finding = build_finding(rule.META, violation, CloudTrailRecord.model_validate(raw))
    assert_valid_asff(to_asff(finding, product_arn=PRODUCT_ARN, updated_at=NOW))


def test_flags_a_new_permission_set_as_medium_named_by_its_arn():
    violation = run_rule(rule, CREATE)
    assert violation is not None and violation.severity is None  # the rule's MEDIUM
    assert violation.resource_id == PS  # from responseElements.permissionSet
    assert "jane@example.com" in violation.description
    _assert_asff(CREATE, violation)


def test_attaching_administrator_access_is_high():
    violation = run_rule(rule, ATTACH_ADMIN)
    assert violation is not None and violation.severity is Severity.HIGH
    assert violation.details["managedPolicyArn"] == "arn:aws:iam::aws:policy/AdministratorAccess"
    _assert_asff(ATTACH_ADMIN, violation)


def test_attaching_another_managed_policy_is_medium():
    read_only = changed(
        ATTACH_ADMIN,
        requestParameters={
            **ATTACH_ADMIN["requestParameters"],
            "managedPolicyArn": "arn:aws:iam::aws:policy/ReadOnlyAccess",
        },
    )
    assert run_rule(rule, read_only).severity is None


def test_inline_allow_all_actions_is_high():
    violation = run_rule(rule, INLINE_ALL)
    assert violation is not None and violation.severity is Severity.HIGH
    _assert_asff(INLINE_ALL, violation)


@pytest.mark.parametrize(
    "statement",
    [
        {"Effect": "Allow", "Action": ["s3:GetObject", "*"], "Resource": "*"},
        {"Effect": "Allow", "Action": "*:*", "Resource": "arn:aws:s3:::bucket/*"},
    ],
)
def test_inline_wildcards_in_lists_and_single_statements_are_high(statement):
    assert (
        run_rule(rule, _inline({"Version": "2012-10-17", "Statement": statement})).severity is Severity.HIGH
    )


def test_url_encoded_inline_policy_is_parsed():
    document = json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
    )
    assert run_rule(rule, _inline(quote(document))).severity is Severity.HIGH


@pytest.mark.parametrize(
    "policy",
    [
        {"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "*", "Resource": "*"}]},
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]},
        "HIDDEN_DUE_TO_SECURITY_REASONS",
        "{not json",
    ],
)
def test_inline_policies_without_allow_all_or_unparseable_are_medium(policy):
    violation = run_rule(rule, _inline(policy))
    assert violation is not None and violation.severity is None


@pytest.mark.parametrize("event_name", sorted(rule.META.trigger.event_names))
def test_every_watched_change_is_flagged(event_name):
    assert (
        run_rule(
            rule, changed(ATTACH_ADMIN, eventName=event_name, requestParameters={"permissionSetArn": PS})
        )
        is not None
    )


def test_ignores_failed_change():
    assert FAILED["errorCode"] == "AccessDeniedException"
    assert run_rule(rule, FAILED) is None


def test_ignores_allow_listed_pipeline_by_role_arn_and_by_session_arn():
    raw = changed(ATTACH_ADMIN, userIdentity=PIPELINE)
    assert rule_findings(rule, raw)  # default policy: nothing is allow-listed
    by_role = OrgPolicy(allow={rule.META.id: ("arn:aws:iam::111122223333:role/ci-deploy",)})
    by_session = OrgPolicy(allow={rule.META.id: ("arn:aws:sts::*:assumed-role/ci-deploy/*",)})
    assert not rule_findings(rule, raw, by_role)
    assert not rule_findings(rule, raw, by_session)


def test_allow_list_of_another_rule_does_not_apply():
    other = OrgPolicy(allow={"sso_account_assignment_changed": ("arn:aws:iam::111122223333:role/ci-deploy",)})
    assert _evaluate(changed(ATTACH_ADMIN, userIdentity=PIPELINE), other) is not None


# -- both record shapes (spec/rules.md §A, "Identity Center records changed shape in 2025") ------------------
ATTACH_BY_IC_USER = load_sample("sso_attach_managed_policy_to_permission_set_identity_center_user__constructed")[
    "detail"
]
ATTACH_BY_IC_USER_FAILED = load_sample(
    "sso_attach_managed_policy_to_permission_set_identity_center_user_failed__constructed"
)["detail"]
USER_ID = "544894e8-80c1-707f-60e3-3ba6510dfac1"


def test_a_caller_in_the_identity_center_user_shape_is_named_by_user_id():
    assert ATTACH_BY_IC_USER["userIdentity"]["type"] == "IdentityCenterUser"
    violation = run_rule(rule, ATTACH_BY_IC_USER)
    assert violation is not None and violation.severity is Severity.HIGH
    assert violation.description.startswith(f"Identity Center user {USER_ID} attached a managed policy")
    assert violation.details["CallerUserId"] == USER_ID
    assert violation.details["CallerIdentityStoreArn"].endswith(":identitystore/d-9067230c03")
    finding = build_finding(rule.META, violation, CloudTrailRecord.model_validate(ATTACH_BY_IC_USER))
    assert finding.actor.name == finding.actor.person == USER_ID
    assert_valid_asff(to_asff(finding, product_arn=PRODUCT_ARN, updated_at=NOW))


def test_the_role_session_shape_keeps_its_description_and_has_no_caller_details():
    violation = run_rule(rule, ATTACH_ADMIN)
    assert violation.description.startswith(
        "AWSReservedSSO_AdministratorAccess_0123456789abcdef/jane@example.com attached a managed policy"
    )
    assert not any(key.startswith("Caller") for key in violation.details)


def test_ignores_a_failed_call_in_the_identity_center_user_shape():
    assert ATTACH_BY_IC_USER_FAILED["errorCode"] == "AccessDeniedException"
    assert run_rule(rule, ATTACH_BY_IC_USER_FAILED) is None


def test_an_identity_center_user_caller_cannot_be_allow_listed_by_arn():
    policy = OrgPolicy(allow={rule.META.id: ("*",)})
    assert rule_findings(rule, ATTACH_BY_IC_USER, policy)  # no ARN to match: still a finding
    assert not rule_findings(rule, ATTACH_ADMIN, policy)
