"""sso_reserved_role_drift (Identity Center posture) on hand-built permission sets (``ListManagedPoliciesIn
PermissionSet`` ARNs, ``ListCustomerManagedPolicyReferencesInPermissionSet`` Name/Path,
``GetInlinePolicyForPermissionSet`` JSON text, ``GetPermissionsBoundaryForPermissionSet``) and reserved roles as
the member accounts' IAM returns them (attached policy ARNs, inline ``AwsSSOInlinePolicy`` as a dict, as boto3
decodes it, or URL-encoded JSON, as the raw API returns it; the role's ``PermissionsBoundary`` ARN); run
directly and through the state engine."""

from __future__ import annotations

import json
from dataclasses import replace
from urllib.parse import quote

import pytest
from ic_posture import (
    ACCOUNT,
    ADMIN,
    ADMIN_POLICY,
    BILLING_POLICY,
    INSTANCE,
    MEMBER,
    OTHER_MEMBER,
    READ_ONLY_POLICY,
    REGION,
    asff,
    by_key,
    finding_id,
    ps_arn,
    reserved_role,
    results,
    single,
    snapshot,
    sweep,
)
from identity_auditor.model.contract import Compliance, Severity
from identity_auditor.model.snapshots import CustomerManagedPolicyReference, InlinePolicy, PermissionSet
from identity_auditor.rules import sso_reserved_role_drift as rule

INLINE = {"Version": "2012-10-17", "Statement": [
    {"Sid": "Logs", "Effect": "Allow", "Action": ["logs:FilterLogEvents", "logs:GetLogEvents"], "Resource": "*"}]}
# as GetInlinePolicyForPermissionSet returns it: JSON text, the author's formatting
INLINE_TEXT = json.dumps(INLINE, indent=2)
EXTRA = CustomerManagedPolicyReference("ReadOnly-Extra", "/platform/")
BOUNDARY = CustomerManagedPolicyReference("PlatformBoundary")
READ_ONLY = PermissionSet(ps_arn("ps-2a9c4e61b0d7f835"), "ReadOnly", "PT8H", managed_policies=(READ_ONLY_POLICY,),
                          customer_managed=(EXTRA,), inline_policy=INLINE_TEXT, boundary_customer=BOUNDARY,
                          provisioned_accounts=(MEMBER, OTHER_MEMBER))
BILLING = PermissionSet(ps_arn("ps-93b7e2d4c1a06f58"), "Billing", "PT1H", managed_policies=(BILLING_POLICY,),
                        provisioned_accounts=(MEMBER,))
BILLING_TEAM = PermissionSet(ps_arn("ps-6d0e83c1a4b2f975"), "Billing_Team", "PT1H",
                             managed_policies=(BILLING_POLICY, READ_ONLY_POLICY), provisioned_accounts=(MEMBER,))
SETS = (ADMIN, READ_ONLY, BILLING, BILLING_TEAM)
SUFFIX = "3f2a1b9c8d7e6f50"


def read_only_role(account: str = MEMBER, **changes):
    fields = {
        "attached": (READ_ONLY_POLICY, f"arn:aws:iam::{account}:policy/platform/ReadOnly-Extra"),
        "inline": (InlinePolicy("AwsSSOInlinePolicy", INLINE),),
        "boundary": f"arn:aws:iam::{account}:policy/PlatformBoundary",
    }
    return reserved_role(account, "ReadOnly", SUFFIX, **{**fields, **changes})


def judge(*roles, sets=SETS, **fields):
    accounts: dict[str, tuple] = {}
    for role in roles:
        accounts[role.account_id] = accounts.get(role.account_id, ()) + (role,)
    return results(rule, snapshot(permission_sets=sets, reserved_roles=accounts, **fields))


def one(role, **kwargs):
    (result,) = judge(role, **kwargs)
    assert result.resource.key == role.arn and result.resource.asff_type == "AwsIamRole"
    return result


def differences(result) -> str:
    assert result.compliance is Compliance.NON_COMPLIANT and result.violation.severity is None  # the rule's HIGH
    assert MEMBER in result.violation.description and result.violation.details["MemberAccount"] == MEMBER
    return result.violation.details.get("Differences", result.violation.description)


def test_a_role_as_its_permission_set_says_is_compliant():
    result = one(read_only_role())
    assert result.compliance is Compliance.COMPLIANT
    assert result.annotation == f"Role AWSReservedSSO_ReadOnly_{SUFFIX} in {MEMBER} matches permission set ReadOnly."
    assert result.resource.name == f"AWSReservedSSO_ReadOnly_{SUFFIX} in {MEMBER}"


@pytest.mark.parametrize("document", [
    quote(json.dumps(INLINE)),  # URL-encoded, as IAM's API returns it
    json.dumps({"Statement": INLINE["Statement"], "Version": "2012-10-17"}),  # another key order, no indent
])
def test_inline_policy_compares_as_parsed_json(document):
    role = read_only_role(inline=(InlinePolicy("AwsSSOInlinePolicy", document),))
    assert one(role).compliance is Compliance.COMPLIANT


def test_customer_managed_references_resolve_in_the_roles_account():
    # the same references resolved in the management account are not what the member's role should hold
    wrong = read_only_role(attached=(READ_ONLY_POLICY, f"arn:aws:iam::{ACCOUNT}:policy/platform/ReadOnly-Extra"))
    text = differences(one(wrong))
    assert f"policy arn:aws:iam::{ACCOUNT}:policy/platform/ReadOnly-Extra added" in text
    assert f"policy arn:aws:iam::{MEMBER}:policy/platform/ReadOnly-Extra missing" in text
    assert one(read_only_role(OTHER_MEMBER)).compliance is Compliance.COMPLIANT


def test_arns_compare_ignoring_case():
    role = read_only_role(attached=(READ_ONLY_POLICY.lower(), f"arn:aws:iam::{MEMBER}:policy/platform/readonly-extra"),
                          boundary=f"arn:aws:iam::{MEMBER}:policy/platformboundary")
    assert one(role).compliance is Compliance.COMPLIANT


def test_added_managed_policy_is_high_and_named():
    result = one(read_only_role(attached=(READ_ONLY_POLICY, f"arn:aws:iam::{MEMBER}:policy/platform/ReadOnly-Extra",
                                          ADMIN_POLICY)))
    assert differences(result) == f"policy {ADMIN_POLICY} added"
    assert result.violation.description == (
        f"Reserved role AWSReservedSSO_ReadOnly_{SUFFIX} in account {MEMBER} differs from permission set ReadOnly: "
        f"policy {ADMIN_POLICY} added.")
    role = read_only_role()
    assert result.violation.details == {
        "MemberAccount": MEMBER, "RoleArn": role.arn, "InstanceArn": INSTANCE, "PermissionSet": "ReadOnly",
        "PermissionSetArn": READ_ONLY.arn, "Differences": f"policy {ADMIN_POLICY} added"}
    assert result.violation.resource_type == "AwsIamRole" and result.violation.resource_id == role.arn
    assert result.violation.subject == f"AWSReservedSSO_ReadOnly_{SUFFIX} in {MEMBER}"


def test_missing_managed_policy_is_named():
    text = differences(one(read_only_role(attached=(f"arn:aws:iam::{MEMBER}:policy/platform/ReadOnly-Extra",))))
    assert text == f"policy {READ_ONLY_POLICY} missing"


@pytest.mark.parametrize("inline, expected", [
    ((InlinePolicy("AwsSSOInlinePolicy", {**INLINE, "Statement": [
        {"Effect": "Allow", "Action": "logs:*", "Resource": "*"}]}),), "inline policy AwsSSOInlinePolicy changed"),
    ((), "inline policy AwsSSOInlinePolicy missing"),
    ((InlinePolicy("AwsSSOInlinePolicy", INLINE), InlinePolicy("backdoor", {"Statement": []})),
     "inline policy backdoor added"),
    ((InlinePolicy("AwsSSOInlinePolicy", "{not json"),), "inline policy AwsSSOInlinePolicy cannot be compared"),
])
def test_inline_policy_differences(inline, expected):
    assert expected in differences(one(read_only_role(inline=inline)))


def test_inline_policy_on_the_role_of_a_set_without_one_is_added():
    role = reserved_role(MEMBER, "Billing", SUFFIX, attached=(BILLING_POLICY,),
                         inline=(InlinePolicy("AwsSSOInlinePolicy", INLINE),))
    assert differences(one(role)) == "inline policy AwsSSOInlinePolicy added"
    for empty in ("", "  ", {}):  # how a set without an inline policy may come back
        assert one(role, sets=(replace(BILLING, inline_policy=empty),)).compliance is Compliance.NON_COMPLIANT
    assert one(replace(role, inline=())).compliance is Compliance.COMPLIANT


@pytest.mark.parametrize("boundary, sets, expected", [
    (None, SETS, f"permissions boundary arn:aws:iam::{MEMBER}:policy/PlatformBoundary removed"),
    (ADMIN_POLICY, SETS,
     f"permissions boundary changed from arn:aws:iam::{MEMBER}:policy/PlatformBoundary to {ADMIN_POLICY}"),
    (f"arn:aws:iam::{MEMBER}:policy/PlatformBoundary", (replace(READ_ONLY, boundary_customer=None),),
     f"permissions boundary arn:aws:iam::{MEMBER}:policy/PlatformBoundary added"),
])
def test_boundary_differences(boundary, sets, expected):
    assert differences(one(read_only_role(boundary=boundary), sets=sets)) == expected


def test_aws_managed_boundary_is_compared_as_is():
    bounded = replace(READ_ONLY, boundary_customer=None, boundary_managed="arn:aws:iam::aws:policy/PowerUserAccess")
    assert one(read_only_role(boundary="arn:aws:iam::aws:policy/PowerUserAccess"), sets=(bounded,)).compliance \
        is Compliance.COMPLIANT


def test_every_difference_is_named():
    result = one(read_only_role(attached=(ADMIN_POLICY,), inline=(), boundary=None))
    text = differences(result)
    for part in (f"policy {ADMIN_POLICY} added", f"policy {READ_ONLY_POLICY} missing",
                 f"policy arn:aws:iam::{MEMBER}:policy/platform/ReadOnly-Extra missing",
                 "inline policy AwsSSOInlinePolicy missing", "permissions boundary"):
        assert part in text and part in result.violation.description


def test_longest_permission_set_name_that_fits():
    team = reserved_role(MEMBER, "Billing_Team", "0a1b2c3d4e5f6a7b", attached=(BILLING_POLICY, READ_ONLY_POLICY))
    billing = reserved_role(MEMBER, "Billing", "8c9d0e1f2a3b4c5d", attached=(BILLING_POLICY,))
    assert rule.permission_set_of(team.name, SETS) is BILLING_TEAM
    assert rule.permission_set_of(billing.name, SETS) is BILLING
    assert rule.permission_set_of("AWSReservedSSO_Billing_Team", SETS) is None  # no 16-digit suffix
    assert rule.permission_set_of("AWSReservedSSO_billing_8c9d0e1f2a3b4c5d", SETS) is None  # names are exact
    found = by_key(judge(team, billing))
    assert {found[team.arn].compliance, found[billing.arn].compliance} == {Compliance.COMPLIANT}
    # judged against Billing_Team, not Billing: Billing's policies on it would be a missing ReadOnlyAccess
    assert differences(one(replace(team, attached=(BILLING_POLICY,)))) == f"policy {READ_ONLY_POLICY} missing"


def test_a_role_of_no_permission_set_is_high():
    stray = reserved_role(MEMBER, "LegacyAdmin", "5e6f7a8b9c0d1e2f", attached=(ADMIN_POLICY,))
    result = one(stray)
    assert result.compliance is Compliance.NON_COMPLIANT and result.violation.severity is None
    assert "matches no permission set" in result.violation.description and MEMBER in result.violation.description


def test_role_where_the_set_is_not_yet_provisioned_is_still_compared_at_medium():
    """Never NOT_APPLICABLE there: that would archive a drift found before the set was edited (review of issue 14)."""
    outdated = replace(READ_ONLY, outdated_accounts=(MEMBER,))
    result = one(read_only_role(attached=(ADMIN_POLICY,)), sets=(outdated,))
    assert result.compliance is Compliance.NON_COMPLIANT and result.violation.severity is Severity.MEDIUM
    assert "this may be its older version" in result.violation.description
    assert one(read_only_role(), sets=(outdated,)).compliance is Compliance.COMPLIANT  # matching it is fine
    # only there: the same set's role in another account is HIGH
    other = one(read_only_role(OTHER_MEMBER, attached=(ADMIN_POLICY,)), sets=(outdated,))
    assert other.compliance is Compliance.NON_COMPLIANT and other.violation.severity is None


def test_unreadable_accounts_are_skipped_and_the_others_judged():
    snap = snapshot(permission_sets=SETS, reserved_roles={MEMBER: (read_only_role(attached=(ADMIN_POLICY,)),)},
                    unavailable={f"reserved_roles:{OTHER_MEMBER}": "AccessDenied: sts:AssumeRole"})
    run = sweep(rule, snap)
    assert not run.not_run
    assert [e.finding.compliance_status for e in run.by_key().values()] == ["FAILED"]


def test_nothing_to_judge_is_one_not_applicable_result():
    empty = single(rule, snapshot(permission_sets=SETS, reserved_roles={MEMBER: ()}))
    assert empty.compliance is Compliance.NOT_APPLICABLE and "in the 1 account(s) read." in empty.annotation
    unread = single(rule, snapshot(permission_sets=SETS, unavailable={f"reserved_roles:{MEMBER}": "AccessDenied"}))
    assert "1 account(s) could not be read" in unread.annotation


def test_no_instance_is_one_not_applicable_result():
    result = single(rule, snapshot(instance_arn=None, reserved_roles={MEMBER: (read_only_role(),)}))
    assert result.compliance is Compliance.NOT_APPLICABLE
    assert result.annotation == f"No Identity Center instance in {REGION} of account {ACCOUNT}."


@pytest.mark.parametrize("part", ["instance", "permission_sets", "reserved_roles"])
def test_not_run_when_a_part_it_reads_is_unreadable(part):
    """``reserved_roles`` as a whole: the collector had no way into any member account."""
    snap = snapshot(permission_sets=SETS, reserved_roles={MEMBER: (read_only_role(),)}, unavailable={part: "x"})
    run = sweep(rule, snap)
    assert run.evaluations == [] and run.not_run[0].rule_id == rule.META.id


def test_end_to_end_findings_ids_and_asff():
    drifted = read_only_role(attached=(READ_ONLY_POLICY, f"arn:aws:iam::{MEMBER}:policy/platform/ReadOnly-Extra",
                                       ADMIN_POLICY))
    clean = read_only_role(OTHER_MEMBER)
    stray = reserved_role(OTHER_MEMBER, "LegacyAdmin", "5e6f7a8b9c0d1e2f", attached=(ADMIN_POLICY,))
    outdated = reserved_role(MEMBER, "AdministratorAccess", "0f1e2d3c4b5a6978", attached=(ADMIN_POLICY,))
    sets = (replace(ADMIN, outdated_accounts=(MEMBER,)), READ_ONLY)
    run = sweep(rule, snapshot(permission_sets=sets,
                               reserved_roles={MEMBER: (drifted, outdated), OTHER_MEMBER: (clean, stray)}))
    found = run.by_key()
    assert set(found) == {drifted.arn, clean.arn, stray.arn, outdated.arn}
    statuses = {arn: (asff(e)["Compliance"]["Status"], asff(e)["RecordState"], asff(e)["Severity"]["Label"])
                for arn, e in found.items()}
    assert statuses == {drifted.arn: ("FAILED", "ACTIVE", "HIGH"), stray.arn: ("FAILED", "ACTIVE", "HIGH"),
                        clean.arn: ("PASSED", "ACTIVE", "INFORMATIONAL"),
                        outdated.arn: ("PASSED", "ACTIVE", "INFORMATIONAL")}
    document = asff(found[drifted.arn])
    assert document["Id"] == finding_id(rule, drifted.arn) and document["AwsAccountId"] == ACCOUNT
    assert document["Resources"][0] == {"Type": "AwsIamRole", "Id": drifted.arn, "Partition": "aws",
                                        "Region": REGION}
    assert MEMBER in document["Description"] and document["Title"].endswith(f"{drifted.name} in {MEMBER}")
    assert run.summary.compliance is Compliance.NON_COMPLIANT and run.summary.annotation.startswith("2 of 4")

    fixed = sweep(rule, snapshot(permission_sets=sets, reserved_roles={MEMBER: (read_only_role(),)}))
    again = fixed.by_key()[drifted.arn]
    assert again.finding.finding_id == found[drifted.arn].finding.finding_id
    assert asff(again)["Compliance"]["Status"] == "PASSED"


def test_meta():
    meta = rule.META
    assert meta.id == rule.__name__.rsplit(".", 1)[-1] and meta.trigger is None
    assert meta.severity is Severity.HIGH and meta.compliance == ()
    state = meta.state
    assert (state.resource_type, state.periodic, state.subject, state.scope) == (
        "AWS::::Account", True, "identity_center", "identity_center")
    assert state.reads == ("instance", "permission_sets", "reserved_roles")
    assert meta.resource_type == "AwsIamRole" and len(meta.remediation) <= 512
