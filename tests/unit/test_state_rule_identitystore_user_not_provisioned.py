"""identitystore_user_not_provisioned (Identity Center posture) on hand-built identity store users and groups
shaped like identitystore ``ListUsers`` / ``ListGroups`` (UserName or DisplayName, UserId or GroupId,
``ExternalIds``: the (Issuer, Id) pairs a SCIM provisioner sets); run directly and through the state engine."""

from __future__ import annotations

import pytest
from ic_posture import (
    ACCOUNT,
    BREAK_GLASS,
    GROUP_ID,
    ISSUER,
    JANE,
    JANE_ID,
    OMAR,
    OMAR_ID,
    PLATFORM,
    REGION,
    STORE,
    asff,
    by_key,
    context,
    finding_id,
    results,
    single,
    snapshot,
    sweep,
)
from identity_auditor.model.contract import Compliance, Severity
from identity_auditor.model.snapshots import DirectoryPrincipal
from identity_auditor.rules import identitystore_user_not_provisioned as rule

SCIM = {"external_idp_scim": True}
HAND_MADE_GROUP_ID = "906722b2be-0d4c8e2a-61f3-4b5d-9a7e-3c2b1f0e8d69"
HAND_MADE_GROUP = DirectoryPrincipal("GROUP", HAND_MADE_GROUP_ID, "breakglass-admins")


def user_key(user_id: str) -> str:
    return f"arn:aws:identitystore:::user/{user_id}"


def group_key(group_id: str) -> str:
    return f"arn:aws:identitystore:::group/{group_id}"


def judge(users=(JANE, OMAR), groups=(PLATFORM, HAND_MADE_GROUP), **policy):
    return by_key(results(rule, snapshot(users=users, groups=groups), context(**policy)))


def test_without_scim_in_the_policy_it_is_one_not_applicable_result():
    result = single(rule, snapshot(users=(JANE, OMAR)), context())
    assert result.compliance is Compliance.NOT_APPLICABLE and "external_idp_scim" in result.annotation


def test_hand_made_user_is_medium_and_provisioned_user_compliant():
    found = judge(**SCIM)
    assert set(found) == {user_key(JANE_ID), user_key(OMAR_ID)}  # groups are not judged by default
    assert found[user_key(JANE_ID)].compliance is Compliance.COMPLIANT and ISSUER in found[user_key(JANE_ID)].annotation
    hand_made = found[user_key(OMAR_ID)]
    assert hand_made.compliance is Compliance.NON_COMPLIANT and hand_made.violation.severity is None  # MEDIUM
    description = hand_made.violation.description
    for named in ("omar@example.com", OMAR_ID, STORE, ACCOUNT):
        assert named in description
    assert hand_made.violation.details == {"IdentityStoreId": STORE, "UserId": OMAR_ID, "UserName": "omar@example.com",
                                           "ExternalIds": "none", "DisplayName": "Omar Haddad"}
    assert hand_made.resource.name == "omar@example.com" and hand_made.resource.asff_type == "Other"


def test_break_glass_user_is_compliant_by_user_name():
    assert judge(users=(BREAK_GLASS,), **SCIM)[user_key(BREAK_GLASS.principal_id)].compliance \
        is Compliance.NON_COMPLIANT
    found = judge(users=(BREAK_GLASS,), break_glass_users=("breakglass-*",), **SCIM)
    result = found[user_key(BREAK_GLASS.principal_id)]
    assert result.compliance is Compliance.COMPLIANT and "break-glass" in result.annotation


def test_groups_are_judged_only_when_the_idp_sends_their_external_ids():
    found = judge(break_glass_users=("breakglass-*",), scim_group_external_ids=True, **SCIM)
    assert set(found) == {user_key(JANE_ID), user_key(OMAR_ID), group_key(GROUP_ID), group_key(HAND_MADE_GROUP_ID)}
    assert found[group_key(GROUP_ID)].compliance is Compliance.COMPLIANT
    hand_made = found[group_key(HAND_MADE_GROUP_ID)]  # break_glass_users names users, never groups
    assert hand_made.compliance is Compliance.NON_COMPLIANT and "group breakglass-admins" in hand_made.annotation
    assert hand_made.violation.details == {"IdentityStoreId": STORE, "GroupId": HAND_MADE_GROUP_ID,
                                           "DisplayName": "breakglass-admins", "ExternalIds": "none"}


def test_nothing_to_judge_is_one_not_applicable_result():
    result = single(rule, snapshot(), context(**SCIM))
    assert result.compliance is Compliance.NOT_APPLICABLE and f"{STORE} holds no users" in result.annotation
    only_groups = by_key(results(rule, snapshot(groups=(HAND_MADE_GROUP,)),
                                 context(scim_group_external_ids=True, **SCIM)))
    assert list(only_groups) == [group_key(HAND_MADE_GROUP_ID)]


def test_no_instance_is_one_not_applicable_result():
    result = single(rule, snapshot(instance_arn=None, users=(OMAR,)), context(**SCIM))
    assert result.compliance is Compliance.NOT_APPLICABLE
    assert result.annotation == f"No Identity Center instance in {REGION} of account {ACCOUNT}."


@pytest.mark.parametrize("part", ["instance", "users", "groups"])
def test_not_run_when_a_part_it_reads_is_unreadable(part):
    run = sweep(rule, snapshot(users=(OMAR,), unavailable={part: "AccessDeniedException"}), context(**SCIM))
    assert run.evaluations == [] and run.not_run[0].rule_id == rule.META.id and part in run.not_run[0].reason


def test_end_to_end_findings_ids_and_asff():
    ctx = context(**SCIM)
    run = sweep(rule, snapshot(users=(JANE, OMAR), groups=(PLATFORM,)), ctx)
    found = run.by_key()
    failed = found[user_key(OMAR_ID)]
    document = asff(failed)
    assert document["Id"] == finding_id(rule, user_key(OMAR_ID)) == failed.finding.finding_id
    assert document["Severity"]["Label"] == "MEDIUM" and document["Compliance"]["Status"] == "FAILED"
    assert document["Resources"][0] == {"Type": "Other", "Id": user_key(OMAR_ID), "Partition": "aws",
                                        "Region": REGION}
    assert document["Title"] == "Identity Center user not provisioned by the identity provider: omar@example.com"
    assert asff(found[user_key(JANE_ID)])["Compliance"]["Status"] == "PASSED"
    assert run.summary.compliance is Compliance.NON_COMPLIANT

    # the IdP takes the user over (SCIM sets ExternalIds): same finding, PASSED
    adopted = DirectoryPrincipal("USER", OMAR_ID, "omar@example.com", "Omar Haddad",
                                 ((ISSUER, "00u7hg6fe5DC4ba3z2y1"),))
    again = sweep(rule, snapshot(users=(JANE, adopted)), ctx).by_key()[user_key(OMAR_ID)]
    assert again.finding.finding_id == failed.finding.finding_id and asff(again)["Compliance"]["Status"] == "PASSED"


def test_meta():
    meta = rule.META
    assert meta.id == rule.__name__.rsplit(".", 1)[-1] and meta.trigger is None
    assert meta.severity is Severity.MEDIUM and meta.compliance == ()
    state = meta.state
    assert (state.resource_type, state.periodic, state.subject, state.scope) == (
        "AWS::::Account", True, "identity_center", "identity_center")
    assert state.reads == ("instance", "users", "groups")
    assert meta.resource_type == "Other" and len(meta.remediation) <= 512
