"""sso_account_assignment_to_user (Identity Center posture) on hand-built IdentityCenterSnapshots shaped like
``ListAccountAssignments`` (AccountId, PermissionSetArn, PrincipalType USER|GROUP, PrincipalId) and
identitystore ``ListUsers`` (UserName, UserId, ExternalIds); run directly and through the state engine."""

from __future__ import annotations

from types import MappingProxyType

import pytest
from ic_posture import (
    ACCOUNT,
    ADMIN,
    ADMIN_POLICY,
    ALLOW_ALL,
    BREAK_GLASS,
    BREAK_GLASS_ID,
    DENY_IAM,
    GROUP_ID,
    INSTANCE,
    JANE,
    JANE_ID,
    MEMBER,
    OMAR,
    OMAR_ID,
    OTHER_MEMBER,
    PLATFORM,
    READ_ONLY,
    REGION,
    asff,
    by_key,
    context,
    finding_id,
    group_assignment,
    ps_arn,
    results,
    single,
    snapshot,
    sweep,
    user_assignment,
)
from identity_auditor.model.contract import Compliance, Severity
from identity_auditor.model.snapshots import CustomerManagedPolicyReference, PermissionSet
from identity_auditor.rules import sso_account_assignment_to_user as rule

USERS = (JANE, OMAR, BREAK_GLASS)
SETS = (ADMIN, READ_ONLY)


def key(assignment) -> str:
    return (f"{assignment.permission_set_arn}/assignment/{assignment.account_id}/{assignment.principal_type}/"
            f"{assignment.principal_id}")


def judge(*assignments, sets=SETS, users=USERS, groups=(PLATFORM,), **policy):
    snap = snapshot(assignments=assignments, permission_sets=sets, users=users, groups=groups)
    return results(rule, snap, context(**policy))


def test_direct_user_assignment_is_medium_and_named():
    assignment = user_assignment(READ_ONLY, OMAR_ID)
    (result,) = judge(assignment)
    assert result.compliance is Compliance.NON_COMPLIANT
    violation = result.violation
    assert violation.severity is None  # the rule's MEDIUM
    for named in ("omar@example.com", "ReadOnly", MEMBER):
        assert named in violation.description and named in result.annotation
    assert "privileged" not in violation.description
    assert violation.resource_id == key(assignment) and violation.resource_type == "Other"
    assert violation.details == {
        "InstanceArn": INSTANCE, "PermissionSet": "ReadOnly", "PermissionSetArn": READ_ONLY.arn,
        "TargetAccount": MEMBER, "PrincipalType": "USER", "PrincipalId": OMAR_ID, "UserName": "omar@example.com"}
    assert result.resource.name == f"ReadOnly for user omar@example.com in {MEMBER}"
    assert result.resource.asff_type == "Other"


@pytest.mark.parametrize("permission_set, policy, reason", [
    (ADMIN, {}, "listed in privileged_permission_sets (*AdministratorAccess*)"),
    (PermissionSet(ps_arn("ps-6d0e83c1a4b2f975"), "PlatformOps", "PT1H", managed_policies=(ADMIN_POLICY,)), {},
     f"managed policy {ADMIN_POLICY} is in privileged_policies"),
    (PermissionSet(ps_arn("ps-6d0e83c1a4b2f975"), "PlatformOps", "PT1H", inline_policy=ALLOW_ALL), {},
     "inline policy: Statement[0] allows Action * on Resource *"),
    (READ_ONLY, {"privileged_permission_sets": (READ_ONLY.arn,)}, f"({READ_ONLY.arn})"),
    (READ_ONLY, {"privileged_permission_sets": ("ps-2a9c4e61b0d7f835",)}, "(ps-2a9c4e61b0d7f835)"),
])
def test_privileged_permission_set_makes_it_high(permission_set, policy, reason):
    (result,) = judge(user_assignment(permission_set, JANE_ID), sets=(permission_set,), **policy)
    assert result.compliance is Compliance.NON_COMPLIANT and result.violation.severity is Severity.HIGH
    assert reason in result.violation.details["Privileged"] and reason in result.violation.description
    assert f"privileged permission set {permission_set.name}" in result.violation.description


@pytest.mark.parametrize("permission_set", [
    # a customer managed policy named like AWS's AdministratorAccess is whatever each account holds: not enough
    PermissionSet(ps_arn("ps-6d0e83c1a4b2f975"), "PlatformOps", "PT1H",
                  customer_managed=(CustomerManagedPolicyReference("AdministratorAccess"),),
                  provisioned_accounts=(MEMBER,)),
    # a boundary limits, it grants nothing; a Deny-only inline policy grants nothing
    PermissionSet(ps_arn("ps-6d0e83c1a4b2f975"), "PlatformOps", "PT1H", boundary_managed=ADMIN_POLICY,
                  inline_policy=DENY_IAM),
])
def test_look_alikes_of_privilege_stay_medium(permission_set):
    (result,) = judge(user_assignment(permission_set, JANE_ID), sets=(permission_set,))
    assert result.compliance is Compliance.NON_COMPLIANT and result.violation.severity is None
    assert "Privileged" not in result.violation.details


def test_group_assignment_is_compliant_and_named_by_its_display_name():
    assignment = group_assignment(ADMIN)
    (result,) = judge(assignment)
    assert result.compliance is Compliance.COMPLIANT and result.violation is None
    assert "group platform-engineers" in result.annotation and result.resource.key == key(assignment)
    assert key(assignment).endswith(f"/assignment/{MEMBER}/GROUP/{GROUP_ID}")


def test_break_glass_user_is_compliant_by_user_name_only():
    assignment = user_assignment(ADMIN, BREAK_GLASS_ID)
    (result,) = judge(assignment, break_glass_users=("breakglass-*",))
    assert result.compliance is Compliance.COMPLIANT and "break-glass" in result.annotation
    # without the policy entry, the same assignment is a privileged direct grant
    (again,) = judge(assignment)
    assert again.compliance is Compliance.NON_COMPLIANT and again.violation.severity is Severity.HIGH
    # the pattern matches the UserName, not the user id, nor an IAM-style path
    (by_id,) = judge(assignment, break_glass_users=(BREAK_GLASS_ID,))
    (by_path,) = judge(assignment, break_glass_users=("/breakglass-01",))
    assert by_id.compliance is by_path.compliance is Compliance.NON_COMPLIANT


def test_user_missing_from_the_directory_is_named_by_id_and_never_break_glass():
    assignment = user_assignment(READ_ONLY, JANE_ID)
    (result,) = judge(assignment, users=(), break_glass_users=("*",))
    assert result.compliance is Compliance.NON_COMPLIANT
    assert JANE_ID in result.violation.description
    assert result.violation.details["UserName"].startswith("unknown")


def test_assignment_of_an_unlisted_permission_set_is_judged_by_its_arn():
    unknown = ps_arn("ps-93b7e2d4c1a06f58")
    assignment = user_assignment(PermissionSet(unknown, "Gone", None), JANE_ID)
    (result,) = judge(assignment)  # the default name pattern cannot match an ARN
    assert result.violation.severity is None and "ps-93b7e2d4c1a06f58" in result.violation.description
    (listed,) = judge(assignment, privileged_permission_sets=("*/ps-93b7e2d4c1a06f58",))
    assert listed.violation.severity is Severity.HIGH


def test_each_assignment_is_its_own_resource():
    assignments = (user_assignment(READ_ONLY, JANE_ID), user_assignment(READ_ONLY, JANE_ID, OTHER_MEMBER),
                   group_assignment(READ_ONLY))
    found = by_key(judge(*assignments))
    assert set(found) == {key(a) for a in assignments}
    assert [found[key(a)].compliance for a in assignments] == [
        Compliance.NON_COMPLIANT, Compliance.NON_COMPLIANT, Compliance.COMPLIANT]


def test_no_instance_is_one_not_applicable_result():
    result = single(rule, snapshot(instance_arn=None))
    assert result.compliance is Compliance.NOT_APPLICABLE
    assert result.annotation == f"No Identity Center instance in {REGION} of account {ACCOUNT}."


def test_no_assignment_is_one_not_applicable_result():
    result = single(rule, snapshot(permission_sets=SETS, users=USERS))
    assert result.compliance is Compliance.NOT_APPLICABLE and "no account assignments" in result.annotation


@pytest.mark.parametrize("part", ["instance", "assignments", "permission_sets"])
def test_not_run_when_a_part_it_reads_is_unreadable(part):
    snap = snapshot(assignments=(user_assignment(READ_ONLY, OMAR_ID),), permission_sets=SETS, users=USERS,
                    unavailable={part: "AccessDeniedException: not authorized"})
    run = sweep(rule, snap)
    assert run.evaluations == [] and [n.rule_id for n in run.not_run] == [rule.META.id]
    assert part in run.not_run[0].reason


def test_users_unreadable_still_judges_every_user_assignment_named_by_id_and_never_break_glass():
    snap = snapshot(assignments=(user_assignment(READ_ONLY, OMAR_ID),), permission_sets=SETS, users=(),
                    unavailable={"users": "ListUsers: AccessDeniedException: not authorized"})
    run = sweep(rule, snap, context(break_glass_users=("*",)))
    (result,) = [e for e in run.evaluations if e.finding is not None]
    assert not run.not_run and result.compliance is Compliance.NON_COMPLIANT and OMAR_ID in result.resource_name


def test_a_customer_managed_policy_allowing_everything_in_the_account_makes_the_assignment_high():
    org_admin = PermissionSet(ps_arn("ps-0c1d2e3f4a5b6c7d"), "OrgAdmin", "PT1H",
                              customer_managed=(CustomerManagedPolicyReference("OrgAdmin", "/platform/"),),
                              provisioned_accounts=(MEMBER,))
    document = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
    snap = snapshot(assignments=(user_assignment(org_admin, OMAR_ID),), permission_sets=(org_admin,), users=USERS,
                    customer_policies=MappingProxyType({f"arn:aws:iam::{MEMBER}:policy/platform/OrgAdmin": document}))
    (result,) = results(rule, snap, context(privileged_permission_sets=()))
    assert result.violation.severity is Severity.HIGH
    assert "customer managed policy arn:aws:iam::" + MEMBER + ":policy/platform/OrgAdmin" in result.violation.details[
        "Privileged"]
    unread = snapshot(assignments=(user_assignment(org_admin, OMAR_ID),), permission_sets=(org_admin,), users=USERS)
    (result,) = results(rule, unread, context(privileged_permission_sets=()))
    assert result.violation.severity in (None, Severity.MEDIUM)  # the document could not be read: not counted


def test_groups_unreadable_does_not_stop_it():
    snap = snapshot(assignments=(group_assignment(READ_ONLY),), permission_sets=SETS, users=USERS,
                    unavailable={"groups": "AccessDeniedException"})
    run = sweep(rule, snap)
    assert not run.not_run and run.by_key()[key(group_assignment(READ_ONLY))].compliance is Compliance.COMPLIANT


def test_end_to_end_findings_ids_and_asff():
    direct = user_assignment(READ_ONLY, OMAR_ID)
    privileged = user_assignment(ADMIN, JANE_ID, OTHER_MEMBER)
    group = group_assignment(ADMIN)
    snap = snapshot(assignments=(direct, privileged, group), permission_sets=SETS, users=USERS, groups=(PLATFORM,))
    run = sweep(rule, snap)
    found = run.by_key()
    assert set(found) == {key(direct), key(privileged), key(group)}
    for assignment in (direct, privileged, group):
        evaluation = found[key(assignment)]
        assert evaluation.finding.finding_id == finding_id(rule, key(assignment))
        assert evaluation.finding.region == REGION and evaluation.finding.account_id == ACCOUNT
        assert not evaluation.reported  # told to AWS Config through the account's summing evaluation
        document = asff(evaluation)
        assert document["Resources"][0]["Type"] == "Other" and document["Resources"][0]["Id"] == key(assignment)
    assert found[key(direct)].finding.compliance_status == "FAILED"
    assert asff(found[key(direct)])["Severity"]["Label"] == "MEDIUM"
    high = asff(found[key(privileged)])
    assert high["Severity"]["Label"] == "HIGH" and high["Compliance"]["Status"] == "FAILED"
    assert high["Title"].startswith("Identity Center permission set assigned to a user: jane@example.com")
    assert found[key(group)].finding.compliance_status == "PASSED"
    assert run.summary.compliance is Compliance.NON_COMPLIANT and run.summary.annotation.startswith("2 of 3")

    # the direct grant goes away through a group: same finding Id, now PASSED
    fixed = sweep(rule, snapshot(assignments=(direct, privileged, group), permission_sets=SETS, users=USERS,
                                 groups=(PLATFORM,)), context(break_glass_users=("omar@*",)))
    evaluation = fixed.by_key()[key(direct)]
    assert evaluation.finding.finding_id == found[key(direct)].finding.finding_id
    assert asff(evaluation)["Compliance"]["Status"] == "PASSED"


def test_end_to_end_no_instance_archives_the_account_finding():
    run = sweep(rule, snapshot(instance_arn=None))
    (evaluation,) = run.evaluations
    assert evaluation.compliance is Compliance.NOT_APPLICABLE and evaluation.reported
    document = asff(evaluation)
    assert document["RecordState"] == "ARCHIVED" and document["Compliance"]["Status"] == "NOT_AVAILABLE"


def test_meta():
    meta = rule.META
    assert meta.id == rule.__name__.rsplit(".", 1)[-1] and meta.trigger is None
    assert meta.severity is Severity.MEDIUM and "HIGH" in meta.severity_note and meta.compliance == ()
    state = meta.state
    assert (state.resource_type, state.periodic, state.change_triggered) == ("AWS::::Account", True, False)
    assert state.subject == "identity_center" and state.scope == "identity_center"
    assert state.reads == ("instance", "assignments", "permission_sets")
    assert state.optional == ("users", "reserved_roles")
    assert meta.resource_type == "Other" and len(meta.remediation) <= 512
