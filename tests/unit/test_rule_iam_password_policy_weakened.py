"""iam_password_policy_weakened: deleted or set below the state rule's thresholds (shared), defaults count."""

from __future__ import annotations

import pytest
from identity_auditor.model.contract import Severity
from identity_auditor.model.policy import OrgPolicy
from identity_auditor.rules import iam_password_policy_weak, iam_password_policy_weakened as rule
from identity_auditor.rules._lib import password_policy
from support import changed, load_sample, rule_findings, run_rule

WEAK = load_sample("iam_update_account_password_policy_weak__constructed")["detail"]
STRONG = load_sample("iam_update_account_password_policy_strong__constructed")["detail"]
DELETE = load_sample("iam_delete_account_password_policy__constructed")["detail"]


def _with(**settings) -> dict:
    return changed(STRONG, requestParameters={**STRONG["requestParameters"], **settings})


def test_weak_update_names_each_weakness():
    violation = run_rule(rule, WEAK)
    assert violation.severity is None  # the rule's MEDIUM
    assert violation.resource_id == "AWS::::Account:123837392027"
    assert violation.description == ("bert-jan set a weak IAM password policy in account 123837392027: "
                                     "minimum length 8 (< 14); no reuse prevention (< 24).")
    assert violation.details["MinimumPasswordLength"] == "8"
    assert violation.details["PasswordReusePrevention"] == "not set, reuse allowed (not in the request: IAM default)"
    assert violation.details["RequireSymbols"] == "false" and violation.details["AllowUsersToChangePassword"] == "true"
    [finding] = rule_findings(rule, WEAK)
    assert (finding.severity, finding.resource_type) == (Severity.MEDIUM, "AwsAccount")


def test_deletion_is_always_a_finding():
    violation = run_rule(rule, DELETE)
    assert violation.details == {"EventName": "DeleteAccountPasswordPolicy", "PasswordPolicy": "none"}
    assert "deleted the IAM password policy of account 123837392027" in violation.description
    assert rule_findings(rule, DELETE)


@pytest.mark.parametrize("settings", [
    {},  # 16 and 24
    {"minimumPasswordLength": 14, "passwordReusePrevention": 24},
    {"requireSymbols": False, "requireNumbers": False, "maxPasswordAge": 0},  # not judged, as in the state rule
    {"minimumPasswordLength": "20", "passwordReusePrevention": "24"},  # numbers recorded as text
], ids=["sample", "exactly-cis", "character-classes-off", "numbers-as-text"])
def test_a_policy_meeting_the_thresholds_is_quiet(settings):
    assert run_rule(rule, _with(**settings)) is None


@pytest.mark.parametrize("settings, named, not_named", [
    ({"minimumPasswordLength": 13}, "minimum length 13 (< 14)", "reuse"),
    ({"passwordReusePrevention": 5}, "reuse prevention 5 (< 24)", "minimum length"),
    ({"passwordReusePrevention": 0}, "no reuse prevention (< 24)", "minimum length"),
], ids=["short", "little-reuse-prevention", "reuse-prevention-zero"])
def test_each_threshold_on_its_own(settings, named, not_named):
    violation = run_rule(rule, _with(**settings))
    assert named in violation.description and not_named not in violation.description


def test_settings_left_out_revert_to_the_iam_defaults():
    """UpdateAccountPasswordPolicy does not support partial updates: no length means 6, no reuse prevention 0."""
    only_symbols = changed(STRONG, requestParameters={"requireSymbols": True})
    violation = run_rule(rule, only_symbols)
    assert "minimum length 6 (< 14); no reuse prevention (< 24)" in violation.description
    assert violation.details["MinimumPasswordLength"] == "6 (not in the request: IAM default)"
    assert run_rule(rule, changed(STRONG, requestParameters=None)).description == violation.description


def test_the_event_rule_judges_like_the_state_rule():
    """The thresholds and the words come from one place (rules/_lib/password_policy.py)."""
    assert iam_password_policy_weak.MIN_LENGTH is password_policy.MIN_LENGTH == 14
    assert iam_password_policy_weak.MIN_REUSE_PREVENTION is password_policy.MIN_REUSE_PREVENTION == 24
    for length, reuse in [(8, None), (13, 23), (14, 5), (14, 24)]:
        record = _with(minimumPasswordLength=length, passwordReusePrevention=reuse)
        expected = password_policy.weaknesses(length, reuse)
        violation = run_rule(rule, record)
        assert (violation is None) == (not expected)
        if violation:
            assert violation.description.endswith(": " + "; ".join(expected) + ".")


def test_unreadable_values_count_as_not_given_and_are_shown():
    violation = run_rule(rule, _with(minimumPasswordLength="sixteen", passwordReusePrevention=True))
    assert "minimum length 6 (< 14)" in violation.description and "no reuse prevention" in violation.description
    assert violation.details["MinimumPasswordLength"] == (
        "6 (recorded value 'sixteen' is not a whole number: IAM default)")
    assert rule_findings(rule, _with(minimumPasswordLength=["x"] * 100))


def test_failed_calls_are_not_findings():
    assert run_rule(rule, changed(DELETE, errorCode="NoSuchEntityException",
                                  errorMessage="The Password Policy with domain name 123837392027 cannot be found.")) is None
    assert run_rule(rule, changed(WEAK, errorCode="AccessDenied")) is None
    by_sso = changed(DELETE, userIdentity={**DELETE["userIdentity"], "invokedBy": "sso.amazonaws.com"})
    assert run_rule(rule, by_sso) is None


def test_allow_listed_caller_is_skipped_by_the_engine():
    policy = OrgPolicy(allow={rule.META.id: ("arn:aws:iam::123837392027:user/bert-jan",)})
    assert rule_findings(rule, WEAK) and rule_findings(rule, WEAK, policy) == []


def test_meta():
    meta = rule.META
    assert meta.id == rule.__name__.rsplit(".", 1)[-1] and meta.severity is Severity.MEDIUM
    assert meta.trigger.event_names == {"DeleteAccountPasswordPolicy", "UpdateAccountPasswordPolicy"}
    assert meta.compliance == iam_password_policy_weak.META.compliance
