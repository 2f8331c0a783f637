"""sso_permission_set_not_provisioned (Identity Center posture) on hand-built permission sets whose accounts
are ``ListAccountsForProvisionedPermissionSet``'s ``AccountIds``: without a filter (``provisioned_accounts``)
and with ``ProvisioningStatus`` ``LATEST_PERMISSION_SET_NOT_PROVISIONED`` (``outdated_accounts``; moto lacks
that filter, so the collector's side is not exercised here); run directly and through the state engine."""

from __future__ import annotations

from dataclasses import replace

import pytest
from ic_posture import (
    ACCOUNT,
    ADMIN,
    INSTANCE,
    MEMBER,
    OTHER_MEMBER,
    READ_ONLY,
    REGION,
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
from identity_auditor.rules import sso_permission_set_not_provisioned as rule

OUTDATED = replace(ADMIN, provisioned_accounts=(MEMBER, OTHER_MEMBER), outdated_accounts=(OTHER_MEMBER,))


def key(permission_set, account: str) -> str:
    return f"{permission_set.arn}/account/{account}"


def test_outdated_account_is_non_compliant_and_the_others_compliant():
    found = by_key(results(rule, snapshot(permission_sets=(OUTDATED, READ_ONLY))))
    assert set(found) == {key(OUTDATED, MEMBER), key(OUTDATED, OTHER_MEMBER), key(READ_ONLY, MEMBER)}
    assert found[key(OUTDATED, MEMBER)].compliance is Compliance.COMPLIANT
    assert found[key(READ_ONLY, MEMBER)].compliance is Compliance.COMPLIANT
    outdated = found[key(OUTDATED, OTHER_MEMBER)]
    assert outdated.compliance is Compliance.NON_COMPLIANT and outdated.violation.severity is None  # MEDIUM
    assert "AdministratorAccess" in outdated.violation.description and OTHER_MEMBER in outdated.violation.description
    assert outdated.violation.details == {
        "PermissionSetArn": ADMIN.arn, "TargetAccount": OTHER_MEMBER,
        "ProvisioningStatus": "LATEST_PERMISSION_SET_NOT_PROVISIONED", "InstanceArn": INSTANCE}
    assert outdated.resource.name == f"AdministratorAccess in {OTHER_MEMBER}" and outdated.resource.asff_type == "Other"


def test_an_outdated_account_missing_from_the_provisioned_list_is_judged_too():
    racing = replace(ADMIN, provisioned_accounts=(MEMBER,), outdated_accounts=(OTHER_MEMBER,))
    found = by_key(results(rule, snapshot(permission_sets=(racing,))))
    assert found[key(racing, OTHER_MEMBER)].compliance is Compliance.NON_COMPLIANT
    assert found[key(racing, MEMBER)].compliance is Compliance.COMPLIANT


def test_a_permission_set_provisioned_nowhere_is_not_judged():
    unused = replace(READ_ONLY, provisioned_accounts=())
    found = by_key(results(rule, snapshot(permission_sets=(ADMIN, unused))))
    assert set(found) == {key(ADMIN, MEMBER), key(ADMIN, OTHER_MEMBER)}


@pytest.mark.parametrize("sets", [(), (replace(READ_ONLY, provisioned_accounts=()),)])
def test_nothing_provisioned_is_one_not_applicable_result(sets):
    result = single(rule, snapshot(permission_sets=sets))
    assert result.compliance is Compliance.NOT_APPLICABLE and "is provisioned to an account" in result.annotation


def test_no_instance_is_one_not_applicable_result():
    result = single(rule, snapshot(instance_arn=None, permission_sets=(OUTDATED,)))
    assert result.compliance is Compliance.NOT_APPLICABLE
    assert result.annotation == f"No Identity Center instance in {REGION} of account {ACCOUNT}."


@pytest.mark.parametrize("part", ["instance", "permission_sets"])
def test_not_run_when_a_part_it_reads_is_unreadable(part):
    run = sweep(rule, snapshot(permission_sets=(OUTDATED,), unavailable={part: "AccessDeniedException"}))
    assert run.evaluations == [] and run.not_run[0].rule_id == rule.META.id and part in run.not_run[0].reason


def test_end_to_end_findings_ids_and_asff():
    run = sweep(rule, snapshot(permission_sets=(OUTDATED, READ_ONLY)))
    found = run.by_key()
    failed = found[key(OUTDATED, OTHER_MEMBER)]
    assert failed.finding.finding_id == finding_id(rule, key(OUTDATED, OTHER_MEMBER))
    document = asff(failed)
    assert document["Severity"]["Label"] == "MEDIUM" and document["Compliance"]["Status"] == "FAILED"
    assert document["Resources"][0]["Id"] == key(OUTDATED, OTHER_MEMBER) and document["Resources"][0]["Type"] == "Other"
    assert document["AwsAccountId"] == ACCOUNT and document["Resources"][0]["Region"] == REGION
    assert asff(found[key(OUTDATED, MEMBER)])["Compliance"]["Status"] == "PASSED"
    assert run.summary.compliance is Compliance.NON_COMPLIANT

    provisioned = sweep(rule, snapshot(permission_sets=(replace(OUTDATED, outdated_accounts=()), READ_ONLY)),
                        context())
    again = provisioned.by_key()[key(OUTDATED, OTHER_MEMBER)]
    assert again.finding.finding_id == failed.finding.finding_id
    assert asff(again)["Compliance"]["Status"] == "PASSED" and provisioned.summary.compliance is Compliance.COMPLIANT


def test_meta():
    meta = rule.META
    assert meta.id == rule.__name__.rsplit(".", 1)[-1] and meta.trigger is None
    assert meta.severity is Severity.MEDIUM and meta.compliance == ()
    state = meta.state
    assert (state.resource_type, state.periodic, state.subject, state.scope) == (
        "AWS::::Account", True, "identity_center", "identity_center")
    assert state.reads == ("instance", "permission_sets")
    assert meta.resource_type == "Other" and len(meta.remediation) <= 512
