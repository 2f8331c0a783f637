"""sso_permission_set_session_too_long (Identity Center posture) on hand-built permission sets whose
``SessionDuration`` is as ``DescribePermissionSet`` returns it (ISO 8601, e.g. PT8H; absent when never set);
run directly and through the state engine."""

from __future__ import annotations

import re

import botocore.session
import pytest
from ic_posture import (
    ACCOUNT,
    ADMIN,
    ADMIN_POLICY,
    ALLOW_ALL,
    BILLING_POLICY,
    READ_ONLY,
    REGION,
    asff,
    by_key,
    context,
    finding_id,
    ps_arn,
    results,
    single,
    snapshot,
    sweep,
)
from identity_auditor.model.contract import Compliance, Severity
from identity_auditor.model.snapshots import PermissionSet
from identity_auditor.rules import sso_permission_set_session_too_long as rule


def plain(duration: str | None) -> PermissionSet:
    return PermissionSet(READ_ONLY.arn, "ReadOnly", duration, managed_policies=READ_ONLY.managed_policies)


def admin(duration: str | None) -> PermissionSet:
    return PermissionSet(ADMIN.arn, "AdministratorAccess", duration, managed_policies=(ADMIN_POLICY,))


def judge(permission_set: PermissionSet, **policy):
    (result,) = results(rule, snapshot(permission_sets=(permission_set,)), context(**policy))
    assert result.resource.key == permission_set.arn and result.resource.asff_type == "Other"
    return result


@pytest.mark.parametrize("permission_set, policy, compliance, severity", [
    (plain("PT8H"), {}, Compliance.COMPLIANT, None),  # exactly max_session_hours
    (plain(None), {}, Compliance.COMPLIANT, None),  # Identity Center's default, one hour
    (plain("PT7H59M"), {}, Compliance.COMPLIANT, None),
    (plain("PT8H30M"), {}, Compliance.NON_COMPLIANT, Severity.LOW),
    (plain("PT12H"), {}, Compliance.NON_COMPLIANT, Severity.LOW),
    (plain("PT4H"), {"max_session_hours": 4}, Compliance.COMPLIANT, None),
    (plain("PT5H"), {"max_session_hours": 4}, Compliance.NON_COMPLIANT, Severity.LOW),
    (admin("PT2H"), {}, Compliance.COMPLIANT, None),  # exactly max_privileged_session_hours
    (admin(None), {}, Compliance.COMPLIANT, None),
    (admin("PT2H1M"), {}, Compliance.NON_COMPLIANT, Severity.MEDIUM),
    (admin("PT4H"), {}, Compliance.NON_COMPLIANT, Severity.MEDIUM),  # within 8 hours, above 2
    (admin("PT12H"), {}, Compliance.NON_COMPLIANT, Severity.MEDIUM),
    # a privileged set is judged against the privileged limit only, even when it is the larger one
    (admin("PT9H"), {"max_session_hours": 8, "max_privileged_session_hours": 10}, Compliance.COMPLIANT, None),
])
def test_session_duration_against_the_limits(permission_set, policy, compliance, severity):
    result = judge(permission_set, **policy)
    assert result.compliance is compliance
    if compliance is Compliance.NON_COMPLIANT:
        assert (result.violation.severity or rule.META.severity) is severity
        assert permission_set.name in result.violation.description and ACCOUNT in result.violation.description
        assert result.violation.resource_id == permission_set.arn and result.violation.subject == permission_set.name


def test_annotations_and_details_name_the_duration_and_the_limit():
    result = judge(admin("PT4H"))
    assert result.annotation == ("Session duration of privileged permission set AdministratorAccess 4 hours (PT4H), "
                                 "above max_privileged_session_hours 2.")
    assert result.violation.details["SessionHours"] == "4 hours"
    assert result.violation.details["Limit"] == "2 hours (max_privileged_session_hours)"
    assert "privileged_permission_sets" in result.violation.details["Privileged"]
    long = judge(plain("PT8H30M"))
    assert "8.5 hours (PT8H30M), above max_session_hours 8" in long.annotation
    assert "Privileged" not in long.violation.details
    assert "1 hour (<= max_session_hours 8)" in judge(plain(None)).annotation


def test_privileged_by_inline_policy_is_judged_against_the_privileged_limit():
    ops = PermissionSet(ps_arn("ps-6d0e83c1a4b2f975"), "PlatformOps", "PT3H", inline_policy=ALLOW_ALL)
    result = judge(ops)
    assert result.compliance is Compliance.NON_COMPLIANT and result.violation.severity is Severity.MEDIUM


@pytest.mark.parametrize("duration", ["P1M", "8h", "PT", ""])
def test_an_unreadable_duration_is_reported_not_passed(duration):
    result = judge(plain(duration))
    assert result.compliance is Compliance.NON_COMPLIANT and "cannot be read" in result.violation.description
    assert "SessionHours" not in result.violation.details
    assert judge(admin(duration)).violation.severity is Severity.MEDIUM


def test_real_durations_match_the_api_pattern():
    """The durations these tests read as valid are ones Identity Center's API accepts."""
    pattern = botocore.session.get_session().get_service_model("sso-admin").shape_for("Duration").metadata["pattern"]
    for duration in ("PT8H", "PT8H30M", "PT12H", "PT7H59M", "PT2H1M", "PT1H"):
        assert re.fullmatch(pattern, duration)


def test_each_permission_set_is_its_own_resource():
    sets = (plain("PT12H"), admin("PT1H"))
    found = by_key(results(rule, snapshot(permission_sets=sets)))
    assert found[sets[0].arn].compliance is Compliance.NON_COMPLIANT
    assert found[sets[1].arn].compliance is Compliance.COMPLIANT


def test_no_instance_and_no_permission_set_are_one_not_applicable_result():
    none = single(rule, snapshot(instance_arn=None, permission_sets=(plain("PT12H"),)))
    assert none.compliance is Compliance.NOT_APPLICABLE and f"in {REGION} of account {ACCOUNT}" in none.annotation
    empty = single(rule, snapshot())
    assert empty.compliance is Compliance.NOT_APPLICABLE and "no permission sets" in empty.annotation


@pytest.mark.parametrize("part", ["instance", "permission_sets"])
def test_not_run_when_a_part_it_reads_is_unreadable(part):
    run = sweep(rule, snapshot(permission_sets=(plain("PT12H"),), unavailable={part: "ThrottlingException"}))
    assert run.evaluations == [] and run.not_run[0].rule_id == rule.META.id and part in run.not_run[0].reason


def test_unreadable_users_do_not_stop_it():
    run = sweep(rule, snapshot(permission_sets=(plain("PT12H"),), unavailable={"users": "AccessDeniedException"}))
    assert not run.not_run and len(run.by_key()) == 1


def test_end_to_end_findings_ids_and_asff():
    long, privileged = plain("PT12H"), admin("PT4H")
    fine = PermissionSet(ps_arn("ps-93b7e2d4c1a06f58"), "Billing", "PT2H", managed_policies=(BILLING_POLICY,))
    run = sweep(rule, snapshot(permission_sets=(long, privileged, fine)))
    found = run.by_key()
    assert set(found) == {long.arn, privileged.arn, fine.arn}
    labels = {arn: asff(evaluation)["Severity"]["Label"] for arn, evaluation in found.items()}
    assert labels == {long.arn: "LOW", privileged.arn: "MEDIUM", fine.arn: "INFORMATIONAL"}
    for arn, evaluation in found.items():
        assert evaluation.finding.finding_id == finding_id(rule, arn)
        document = asff(evaluation)
        assert document["Resources"][0] == {"Type": "Other", "Id": arn, "Partition": "aws", "Region": REGION}
    assert asff(found[fine.arn])["Compliance"]["Status"] == "PASSED"
    assert run.summary.compliance is Compliance.NON_COMPLIANT and run.summary.annotation.startswith("2 of 3")

    shortened = sweep(rule, snapshot(permission_sets=(plain("PT8H"), admin("PT1H"), fine)))
    again = shortened.by_key()
    assert {arn: asff(e)["Compliance"]["Status"] for arn, e in again.items()} == dict.fromkeys(found, "PASSED")
    assert {arn: e.finding.finding_id for arn, e in again.items()} == {
        arn: e.finding.finding_id for arn, e in found.items()}
    assert shortened.summary.compliance is Compliance.COMPLIANT


def test_meta():
    meta = rule.META
    assert meta.id == rule.__name__.rsplit(".", 1)[-1] and meta.trigger is None
    assert meta.severity is Severity.LOW and "MEDIUM" in meta.severity_note and meta.compliance == ()
    state = meta.state
    assert (state.resource_type, state.periodic, state.subject, state.scope) == (
        "AWS::::Account", True, "identity_center", "identity_center")
    assert state.reads == ("instance", "permission_sets")
    assert meta.resource_type == "Other" and len(meta.remediation) <= 512
