"""guardrail_removed_then_escalation: an organizations_guardrail_changed or security_tooling_disabled change by actor A,
then an iam_admin_policy_attached change by A within 90 minutes (CRITICAL; HIGH when the guardrail step was only a
failed LeaveOrganization attempt); every kind of guardrail and escalation record we hold, the actor key (user ARN,
session ARN with and without ``userIdentity.arn``, root), in order, out of order, duplicated, at and past the
window's end, interleaved actors, the policy knobs, the finding, and the invictus corpus (no finding: the failed
LeaveOrganization was a role session, the admin attachments its assumer bert-jan)."""

from __future__ import annotations

import copy
import random
from datetime import datetime, timezone

import pytest
from asff_validator import assert_valid_asff
from identity_auditor.model.cloudtrail import CloudTrailRecord
from identity_auditor.model.contract import Severity
from identity_auditor.model.findings import finding_id, short_hash
from identity_auditor.model.policy import OrgPolicy
from identity_auditor.sequences import guardrail_removed_then_escalation as sequence
from identity_auditor.sinks.asff import to_asff
from sequence_support import NOW, at, minutes, run_sequences
from support import PRODUCT_ARN, corpus_records, load_sample

ID = sequence.META.id
GUARD = load_sample("guardduty_update_detector_disabled__constructed")["detail"]  # bert-jan, IAM user
ESCALATE = load_sample("iam_attach_user_policy_administrator_access")["detail"]  # bert-jan (invictus)
LEAVE = load_sample("organizations_leave_organization_denied")["detail"]  # a role session, AccessDenied (invictus)
JANE = load_sample("organizations_detach_policy_full_aws_access__constructed")["detail"]["userIdentity"]
BERT = ESCALATE["userIdentity"]["arn"]
ACCOUNT = ESCALATE["recipientAccountId"]
T0 = datetime(2026, 11, 21, 9, 0, tzinfo=timezone.utc)


def step(base: dict, when, event_id: str, identity: dict | None = None) -> dict:
    """``base`` at ``when``, made by ``identity`` (a real record's userIdentity) in that identity's account."""
    record = at(base, when, event_id)
    if identity is not None:
        record["userIdentity"] = copy.deepcopy(identity)
        record["recipientAccountId"] = identity["accountId"]
    return record


def guard(when=T0, event_id="g-1", identity=None, base=GUARD) -> dict:
    return step(base, when, event_id, identity)


def escalate(when=T0 + minutes(10), event_id="e-1", identity=None, base=ESCALATE) -> dict:
    return step(base, when, event_id, identity)


def test_tooling_disabled_then_admin_attached_by_the_same_user_is_one_critical_finding():
    [finding] = run_sequences([guard(), escalate()], rule_id=ID)
    assert finding.severity.value == "CRITICAL"
    assert finding.finding_id == finding_id(ID, ACCOUNT, GUARD["awsRegion"], short_hash(BERT), "g-1")
    assert finding.sequence_steps == ("g-1", "e-1")
    assert finding.resource_type == "AwsIamUser" and finding.resource_id == BERT
    assert finding.description == (
        "bert-jan weakened guardrails (UpdateDetector on guardduty) and 10 minutes later granted administrative "
        "power (AttachUserPolicy AdministratorAccess to user/malicious-iam-user) in account "
        f"{ACCOUNT}: the controls that would have limited or reported it were removed first.")
    assert finding.details["GuardrailRules"] == "security_tooling_disabled"
    assert finding.details["Actor"] == BERT and finding.details["MinutesBetween"] == "10"
    assert finding.event_id == "g-1" and finding.event_time == T0
    assert_valid_asff(to_asff(finding, product_arn=PRODUCT_ARN, updated_at=NOW))


@pytest.mark.parametrize("sample, rule_id", [
    ("guardduty_update_detector_disabled__constructed", "security_tooling_disabled"),
    ("guardduty_create_filter_archive__constructed", "security_tooling_disabled"),
    ("guardduty_create_ip_set_activated__constructed", "security_tooling_disabled"),
    ("securityhub_disable_security_hub__constructed", "security_tooling_disabled"),
    ("securityhub_create_automation_rule_suppressed__constructed", "security_tooling_disabled"),
    ("securityhub_batch_update_findings_auditor_suppressed__constructed", "security_tooling_disabled"),
    ("organizations_detach_policy_full_aws_access__constructed", "organizations_guardrail_changed"),
    ("organizations_update_policy_scp__constructed", "organizations_guardrail_changed"),
    ("organizations_register_delegated_administrator__constructed", "organizations_guardrail_changed"),
    ("iam_disable_organizations_root_sessions__constructed", "organizations_guardrail_changed"),
    ("organizations_disable_policy_type_scp__constructed", "organizations_guardrail_changed"),
    ("organizations_detach_policy_scp_by_root__constructed", "organizations_guardrail_changed"),
])
def test_every_guardrail_record_followed_by_the_same_actors_admin_grant(sample, rule_id):
    base = load_sample(sample)["detail"]
    actor = base["userIdentity"]
    [finding] = run_sequences([guard(base=base), escalate(identity=actor)], rule_id=ID)
    assert finding.severity.value == "CRITICAL" and finding.details["GuardrailRules"] == rule_id
    assert finding.sequence_steps == ("g-1", "e-1")
    expected = {"IAMUser": (actor.get("arn"), "AwsIamUser"),
                "Root": (f"AWS::::Account:{actor['accountId']}", "AwsAccount"),
                "AssumedRole": (f"arn:aws:iam::{actor['accountId']}:role/"
                                f"{actor.get('sessionContext', {}).get('sessionIssuer', {}).get('userName')}",
                                "AwsIamRole")}[actor["type"]]
    assert (finding.resource_id, finding.resource_type) == expected
    assert_valid_asff(to_asff(finding, product_arn=PRODUCT_ARN, updated_at=NOW))


@pytest.mark.parametrize("sample", ["iam_attach_user_policy_administrator_access", "iam_attach_role_policy_ordinary_role",
                                    "iam_put_group_policy_admin_inline__constructed"])
def test_every_admin_grant_record_completes_it(sample):
    [finding] = run_sequences([guard(), escalate(base=load_sample(sample)["detail"])], rule_id=ID)
    assert finding.sequence_steps == ("g-1", "e-1")
    assert finding.details["Escalation"].startswith(load_sample(sample)["detail"]["eventName"])


@pytest.mark.parametrize("sample", ["guardduty_update_detector_enabled__constructed",
                                    "guardduty_create_filter_noop__constructed",
                                    "organizations_update_policy_tag_policy__constructed",
                                    "securityhub_batch_update_findings_other_product__constructed",
                                    "organizations_detach_policy_denied__constructed"])
def test_changes_that_are_no_guardrail_finding_are_no_step(sample):
    base = load_sample(sample)["detail"]
    assert run_sequences([guard(base=base), escalate(identity=base["userIdentity"])], rule_id=ID) == []


@pytest.mark.parametrize("sample", ["iam_attach_user_policy_read_only_access__constructed",
                                    "iam_attach_user_policy_administrator_access_failed__constructed",
                                    "iam_attach_role_policy_service_linked_role__constructed"])
def test_grants_that_are_no_admin_finding_are_no_step(sample):
    assert run_sequences([guard(), escalate(base=load_sample(sample)["detail"])], rule_id=ID) == []


def test_a_failed_leave_organization_counts_but_only_as_high():
    session = LEAVE["userIdentity"]
    [finding] = run_sequences([guard(base=LEAVE), escalate(identity=session)], rule_id=ID)
    assert finding.severity.value == "HIGH" and finding.details["GuardrailChangeFailed"] == "true"
    assert "tried LeaveOrganization on organizations (failed: AccessDenied)" in finding.description
    assert finding.description.endswith("the guardrail change failed, so the organisation's policies still bound "
                                        "that power.")
    assert finding.resource_id == "arn:aws:iam::123837392027:role/stratus-red-team-leave-org-role"
    records = [guard(base=LEAVE), guard(T0 + minutes(2), "g-2", identity=session), escalate(identity=session)]
    [critical] = run_sequences(records, rule_id=ID)  # a successful change by the same session follows the attempt
    assert critical.severity.value == "CRITICAL" and critical.sequence_steps == ("g-1", "g-2", "e-1")
    assert critical.finding_id == finding.finding_id


def test_a_session_is_its_role_and_session_name_with_or_without_the_arn():
    bare = copy.deepcopy(JANE)
    del bare["arn"]
    with_arn, without = (CloudTrailRecord.model_validate(escalate(identity=identity)) for identity in (JANE, bare))
    assert sequence.actor_key(with_arn) == sequence.actor_key(without) == JANE["arn"]
    assert len(run_sequences([guard(identity=JANE), escalate(identity=bare)], rule_id=ID)) == 1
    other_session = {**JANE, "arn": JANE["arn"].replace("jane@", "joe@"),
                     "principalId": JANE["principalId"].replace("jane@", "joe@")}
    assert run_sequences([guard(identity=JANE), escalate(identity=other_session)], rule_id=ID) == []


def test_a_user_and_the_role_session_it_assumed_are_different_actors():
    assert run_sequences([guard(base=LEAVE), escalate()], rule_id=ID) == []  # the invictus case, closer together


def test_one_step_alone_is_not_enough_and_the_escalation_must_follow():
    assert run_sequences([guard()], rule_id=ID) == []
    assert run_sequences([escalate()], rule_id=ID) == []
    assert run_sequences([escalate(T0 - minutes(1)), guard()], rule_id=ID) == []
    assert len(run_sequences([guard(), escalate(T0)], rule_id=ID)) == 1  # the same second counts


@pytest.mark.parametrize("seed", range(6))
def test_out_of_order_and_duplicated_steps_give_the_same_single_finding(seed):
    records = [guard(), escalate()]
    shuffled = records + random.Random(seed).choices(records, k=3)  # redelivered
    random.Random(seed + 100).shuffle(shuffled)
    [expected] = run_sequences(records, rule_id=ID)
    [finding] = run_sequences(shuffled, rule_id=ID)
    assert finding.finding_id == expected.finding_id and finding.sequence_steps == expected.sequence_steps


def test_the_window_is_ninety_minutes_from_the_guardrail_change():
    assert len(run_sequences([guard(), escalate(T0 + minutes(90))], rule_id=ID)) == 1
    assert run_sequences([guard(), escalate(T0 + minutes(90) + minutes(1 / 60))], rule_id=ID) == []
    assert run_sequences([escalate(T0 + minutes(90) + minutes(1 / 60)), guard()], rule_id=ID) == []


def test_interleaved_actors_are_separate_keys():
    records = [guard(T0, "g-bert"), guard(T0 + minutes(1), "g-jane", identity=JANE),
               escalate(T0 + minutes(3), "e-bert"), escalate(T0 + minutes(4), "e-jane", identity=JANE)]
    findings = run_sequences(records, rule_id=ID)
    assert sorted(f.sequence_steps for f in findings) == [("g-bert", "e-bert"), ("g-jane", "e-jane")]
    assert sorted(f.details["Actor"] for f in findings) == sorted([BERT, JANE["arn"]])
    assert run_sequences([guard(T0, "g-bert"), escalate(T0 + minutes(4), "e-jane", identity=JANE)], rule_id=ID) == []


def test_further_grants_after_a_completed_sequence_do_not_raise_it_again():
    records = [guard(), escalate(T0 + minutes(5), "e-1"), escalate(T0 + minutes(20), "e-2"),
               escalate(T0 + minutes(60), "e-3", base=load_sample("iam_attach_role_policy_ordinary_role")["detail"])]
    [finding] = run_sequences(records, rule_id=ID)
    assert finding.sequence_steps == ("g-1", "e-1")


def test_the_policy_can_widen_the_window_disable_allow_and_change_the_severity():
    records = [guard(), escalate(T0 + minutes(100))]
    assert run_sequences(records, rule_id=ID) == []
    assert len(run_sequences(records, policy=OrgPolicy(sequence_windows={ID: 120}), rule_id=ID)) == 1
    assert run_sequences([guard(), escalate()], policy=OrgPolicy(sequence_windows={ID: 5}), rule_id=ID) == []
    assert run_sequences([guard(), escalate()], policy=OrgPolicy(disabled=frozenset({ID})), rule_id=ID) == []
    assert run_sequences([guard(), escalate()], policy=OrgPolicy(allow={ID: (BERT,)}), rule_id=ID) == []
    [high] = run_sequences([guard(), escalate()], policy=OrgPolicy(severity={ID: Severity.HIGH}), rule_id=ID)
    assert high.severity.value == "HIGH"


def test_the_invictus_corpus_holds_no_such_sequence():
    records = sorted(corpus_records("invictus"), key=lambda record: record.get("eventTime", ""))
    assert run_sequences(records, rule_id=ID) == []
