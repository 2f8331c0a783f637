"""iam_backdoor_admin_role: a role's trust policy admits an account outside the zone of trust (or anyone) and the role
is given administrative power, either order, within 30 h, CRITICAL. On the real invictus records (Stratus Red Team's
stratus-red-team-backdoor-r-role: AttachRolePolicy AdministratorAccess, then UpdateAssumeRolePolicy trusting
193672423079, reverted four minutes later) in order, shuffled and redelivered; the window's edges (both orders);
interleaved roles; the zone of trust, vendors (sts:ExternalId), wildcard principals; the policy knobs."""

from __future__ import annotations

import itertools
import json
import random
from datetime import timedelta

import pytest
from asff_validator import assert_valid_asff
from identity_auditor.model.cloudtrail import CloudTrailRecord
from identity_auditor.model.findings import finding_id, short_hash
from identity_auditor.model.policy import OrgPolicy
from identity_auditor.sequences import iam_backdoor_admin_role as sequence
from identity_auditor.sinks.asff import to_asff
from sequence_support import NOW, at, run_sequences
from support import corpus_record, corpus_records, load_sample

ID = sequence.META.id
ROLE = "stratus-red-team-backdoor-r-role"
TRUST = corpus_record("invictus", "UpdateAssumeRolePolicy", eventID="d96d75c7-e715-44ff-9735-9dc51afbd774")
ADMIN = corpus_record("invictus", "AttachRolePolicy", eventID="493e08b7-63e4-49a4-832a-1a7598ce78e5")
CREATED = corpus_record("invictus", "CreateRole", eventID="57e170e5-78ba-4941-8508-353b2eb18c86")  # trusts EC2 only
REVERTED = corpus_record("invictus", "UpdateAssumeRolePolicy", eventID="059cf0ed-af91-40a6-9c89-a8a4fb81dc65")
SSM = corpus_record("invictus", "AttachRolePolicy", eventID="edc26fa8-655a-4346-9e18-f79b0d9e25de")  # not admin
ANYONE = load_sample("iam_create_role_trust_any_principal__constructed")["detail"]  # AWS "*" with an external id
OIDC = load_sample("iam_update_assume_role_policy_github_oidc_without_sub__constructed")["detail"]
ACCOUNT = TRUST["recipientAccountId"]
T0 = CloudTrailRecord.model_validate(TRUST).event_time
WINDOW = timedelta(hours=30)
PRODUCT = "arn:aws:securityhub:us-east-1:123456789012:product/123456789012/default"


def for_role(record: dict, role: str, when, event_id: str, **fields) -> dict:
    result = at(record, when, event_id, **fields)
    result["requestParameters"] = {**result["requestParameters"], "roleName": role}
    return result


def admin(when, event_id: str, role: str = ROLE, **fields) -> dict:
    return for_role(ADMIN, role, when, event_id, **fields)


def trust(when, event_id: str, role: str = ROLE, **fields) -> dict:
    return for_role(TRUST, role, when, event_id, **fields)


def with_document(record: dict, change) -> dict:
    """``record`` whose trust policy (plain JSON, as recorded) is changed by ``change(policy)``."""
    policy = json.loads(record["requestParameters"]["policyDocument"])
    change(policy)
    record["requestParameters"]["policyDocument"] = json.dumps(policy)
    return record


def ids(findings) -> set[str]:
    return {finding.finding_id for finding in findings}


def test_the_real_backdoor_is_one_critical_finding_linking_both_steps():
    [finding] = run_sequences([CREATED, ADMIN, TRUST, REVERTED], rule_id=ID)
    assert finding.severity.value == "CRITICAL"
    assert finding.finding_id == finding_id(ID, ACCOUNT, "us-east-1", short_hash(f"{ACCOUNT}|{ROLE}"), ADMIN["eventID"])
    assert finding.sequence_steps == (ADMIN["eventID"], TRUST["eventID"])  # the grant came one second first
    assert finding.resource_id == f"arn:aws:iam::{ACCOUNT}:role/{ROLE}"
    assert finding.description == (
        "Role stratus-red-team-backdoor-r-role in account 123837392027 was given a trust policy admitting account "
        "193672423079 by bert-jan and given administrative power (arn:aws:iam::aws:policy/AdministratorAccess) by "
        "bert-jan: that account can act as an administrator here.")
    assert finding.details["Admits"] == "account 193672423079" and finding.details["ExternalIdRequired"] == "no"
    assert_valid_asff(to_asff(finding, product_arn=PRODUCT, updated_at=NOW))


@pytest.mark.parametrize("order", list(itertools.permutations(range(4))))
def test_every_arrival_order_gives_the_same_single_finding(order):
    records = [[CREATED, ADMIN, TRUST, REVERTED][i] for i in order]
    [finding] = run_sequences(records, rule_id=ID)
    assert finding.event_id == ADMIN["eventID"] and finding.sequence_steps == (ADMIN["eventID"], TRUST["eventID"])


@pytest.mark.parametrize("seed", range(5))
def test_redelivered_steps_raise_nothing_more(seed):
    records = [CREATED, ADMIN, TRUST, REVERTED] * 3
    random.Random(seed).shuffle(records)
    assert len(run_sequences(records, rule_id=ID)) == 1


def test_the_whole_invictus_corpus_gives_exactly_this_finding():
    records = sorted(corpus_records("invictus"), key=lambda record: record["eventTime"])
    [finding] = run_sequences(records, rule_id=ID)
    assert finding.subject == ROLE and finding.sequence_steps == (ADMIN["eventID"], TRUST["eventID"])
    random.Random(3).shuffle(records)
    assert ids(run_sequences(records, rule_id=ID)) == {finding.finding_id}


@pytest.mark.parametrize("admin_first", [False, True])
def test_the_window_edges_in_both_orders(admin_first):
    sign = -1 if admin_first else 1
    assert len(run_sequences([trust(T0, "t"), admin(T0 + sign * WINDOW, "a")], rule_id=ID)) == 1
    late = admin(T0 + sign * (WINDOW + timedelta(seconds=1)), "a")
    assert run_sequences([trust(T0, "t"), late], rule_id=ID) == []
    assert run_sequences([late, trust(T0, "t")], rule_id=ID) == []


def test_only_an_unsafe_trust_and_an_admin_grant_make_it():
    assert run_sequences([CREATED, ADMIN, REVERTED], rule_id=ID) == []  # trusts EC2 only
    assert run_sequences([TRUST, for_role(SSM, ROLE, T0, "ssm")], rule_id=ID) == []  # not administrative
    assert run_sequences([TRUST, admin(T0, "failed", errorCode="AccessDenied")], rule_id=ID) == []
    oidc = for_role(OIDC, "github-deploy-web", T0, "oidc", recipientAccountId=ACCOUNT)
    assert run_sequences([oidc, admin(T0, "a", role="github-deploy-web")], rule_id=ID) == []  # not a row of §E


def test_interleaved_roles_are_separate_keys():
    records = [trust(T0, "t1", role="one"), admin(T0, "a2", role="two"), trust(T0, "t2", role="three"),
               admin(T0, "a1", role="one")]
    [finding] = run_sequences(records, rule_id=ID)
    assert finding.subject == "one" and set(finding.sequence_steps) == {"t1", "a1"}


def test_an_account_in_the_zone_of_trust_is_no_backdoor():
    policy = OrgPolicy(trusted_accounts=frozenset({"193672423079"}))
    assert run_sequences([ADMIN, TRUST], policy=policy, rule_id=ID) == []


def test_a_vendor_trust_requiring_an_external_id_still_counts_and_says_so():
    def external_id(policy):
        policy["Statement"][1]["Condition"] = {"StringEquals": {"sts:ExternalId": "vendor-7d1c3b9e"}}

    [finding] = run_sequences([ADMIN, with_document(trust(T0, "t"), external_id)], rule_id=ID)
    assert finding.severity.value == "CRITICAL" and finding.details["ExternalIdRequired"] == "yes"
    assert "requires an sts:ExternalId" in finding.description


def test_a_role_open_to_anyone_counts():
    created = at(ANYONE, CloudTrailRecord.model_validate(ANYONE).event_time, "c")
    grant = admin(CloudTrailRecord.model_validate(ANYONE).event_time, "a", role="vendor-audit-access",
                  recipientAccountId=ANYONE["recipientAccountId"])
    [finding] = run_sequences([grant, created], rule_id=ID)
    assert finding.details["Admits"] == "any principal (*)" and "anyone it admits" in finding.description
    assert finding.resource_id == "arn:aws:iam::111122223333:role/vendor-audit-access"


def test_the_policy_knobs():
    records = [trust(T0, "t"), admin(T0 + timedelta(hours=2), "a")]
    assert run_sequences(records, policy=OrgPolicy(sequence_windows={ID: 60}), rule_id=ID) == []
    assert len(run_sequences(records, policy=OrgPolicy(sequence_windows={ID: 120}), rule_id=ID)) == 1
    assert run_sequences([ADMIN, TRUST], policy=OrgPolicy(disabled=frozenset({ID})), rule_id=ID) == []
    allowed = OrgPolicy(allow={ID: ("arn:aws:iam::123837392027:user/bert-jan",)})
    assert run_sequences([ADMIN, TRUST], policy=allowed, rule_id=ID) == []
    assert sequence.META.threshold is None


# -- found by an adversarial review of the sequences -------------------------------------------------------------------

def test_the_role_named_in_another_case_is_the_same_role():
    """IAM names are not distinguished by case: opening the trust of Backdoor and granting BACKDOOR admin is one
    backdoor (it went unreported)."""
    start = NOW - timedelta(hours=2)
    [finding] = run_sequences([trust(start, "t-1", role="Backdoor"), admin(start + timedelta(minutes=5), "a-1",
                                                                              role="BACKDOOR")], rule_id=ID)
    assert "Backdoor" in finding.description


@pytest.mark.parametrize("admin_first", [True, False])
def test_an_allow_listed_pipeline_acting_last_does_not_hide_the_intruders_step(admin_first):
    """Only a verdict all of whose steps an allow-listed caller made is skipped: Terraform re-attaching admin after
    an intruder opened the trust is still a backdoor, whichever record arrives last (it was hidden when Terraform's
    came last)."""
    caller_arn = TRUST["userIdentity"]["arn"]
    terraform = {"type": "AssumedRole", "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/terraform/ci",
                 "accountId": ACCOUNT, "sessionContext": {"sessionIssuer": {
                     "type": "Role", "arn": f"arn:aws:iam::{ACCOUNT}:role/terraform", "accountId": ACCOUNT}}}
    start = NOW - timedelta(hours=2)
    steps = [trust(start, "t-1"), admin(start + timedelta(minutes=5), "a-1", userIdentity=terraform)]
    policy = OrgPolicy(allow={ID: (f"arn:aws:iam::{ACCOUNT}:role/terraform",)})
    assert len(run_sequences(steps if admin_first else steps[::-1], policy=policy, rule_id=ID)) == 1
    everyone = OrgPolicy(allow={ID: (f"arn:aws:iam::{ACCOUNT}:role/terraform", caller_arn)})
    assert run_sequences(steps, policy=everyone, rule_id=ID) == []  # both callers trusted: nothing
