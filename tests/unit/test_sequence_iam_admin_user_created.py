"""iam_admin_user_created: CreateUser X, then X made an administrator (directly, or through a group X joins) within
30 h, CRITICAL; credentials for X update the finding to name them. On the real invictus records (Stratus Red Team's
malicious-iam-user: CreateUser, AttachUserPolicy AdministratorAccess, CreateAccessKey) in order, shuffled and
redelivered; the group variant in every arrival order; the window's edges; interleaved users; the policy knobs."""

from __future__ import annotations

import itertools
import random
from datetime import timedelta

import pytest
from asff_validator import assert_valid_asff
from identity_auditor.engine.sequences import MemoryStore, SequenceEngine
from identity_auditor.model.cloudtrail import CloudTrailRecord
from identity_auditor.model.contract import Context
from identity_auditor.model.findings import finding_id, short_hash
from identity_auditor.model.policy import OrgPolicy
from identity_auditor.sequences import iam_admin_user_created as sequence
from identity_auditor.sinks.asff import to_asff
from identity_auditor.sinks.queue import alert_key
from sequence_support import NOW, at, minutes, printed_under_hash_seeds, run_sequences
from support import corpus_record, corpus_records, load_sample

ID = sequence.META.id
USER = "malicious-iam-user"
CREATE = corpus_record("invictus", "CreateUser", eventID="85c89720-8103-4281-9e0e-8977b52bcdbe")
ATTACH = corpus_record("invictus", "AttachUserPolicy", eventID="f4923a37-92d5-4dfd-9786-6caef2b5f33c")
KEY = corpus_record("invictus", "CreateAccessKey", eventID="8c282c0b-00d1-4369-95b7-cb50b6eee620")
PASSWORD = corpus_record("invictus", "CreateLoginProfile", eventID="1170c908-ce8d-4c6f-bc65-cf43aae5235b")
JOIN = corpus_record("aws-docs/cloudtrail", "AddUserToGroup")  # AWS docs' real example: Bob joins "admin"
GROUP_INLINE = load_sample("iam_put_group_policy_admin_inline__constructed")["detail"]  # Action * on *
READ_ONLY = load_sample("iam_attach_user_policy_read_only_access__constructed")["detail"]
ACCOUNT = CREATE["recipientAccountId"]
T0 = CloudTrailRecord.model_validate(CREATE).event_time
HOUR = timedelta(hours=1)
PRODUCT = "arn:aws:securityhub:us-east-1:123456789012:product/123456789012/default"


def named(record: dict, user: str, **request) -> dict:
    """``record`` for another user name (request and, for CreateUser / CreateAccessKey, the response)."""
    result = at(record, CloudTrailRecord.model_validate(record).event_time, record["eventID"])
    result["requestParameters"] = {**(result.get("requestParameters") or {}), "userName": user, **request}
    response = result.get("responseElements") or {}
    for block in ("user", "accessKey"):
        if isinstance(response.get(block), dict):
            response[block] = {**response[block], "userName": user}
            if "arn" in response[block]:
                response[block]["arn"] = f"arn:aws:iam::{ACCOUNT}:user/{user}"
    return result


def create(user: str, when, event_id: str) -> dict:
    return at(named(CREATE, user), when, event_id)


def attach(user: str, when, event_id: str, base: dict = ATTACH) -> dict:
    return at(named(base, user), when, event_id)


def key(user: str, when, event_id: str) -> dict:
    return at(named(KEY, user), when, event_id)


def join(user: str, group: str, when, event_id: str) -> dict:
    record = at(JOIN, when, event_id, recipientAccountId=ACCOUNT)
    record["requestParameters"] = {"userName": user, "groupName": group}
    return record


def group_inline(group: str, when, event_id: str) -> dict:
    record = at(GROUP_INLINE, when, event_id)
    record["requestParameters"] = {**record["requestParameters"], "groupName": group}
    return record


def group_attach(group: str, when, event_id: str) -> dict:
    """The real AttachUserPolicy of AdministratorAccess, as AttachGroupPolicy (``groupName``: IAM API reference)."""
    record = at(ATTACH, when, event_id, eventName="AttachGroupPolicy")
    record["requestParameters"] = {"groupName": group, "policyArn": ATTACH["requestParameters"]["policyArn"]}
    return record


def ids(findings) -> set[str]:
    return {finding.finding_id for finding in findings}


# -- the real Stratus Red Team records -----------------------------------------------------------------------------

def test_the_real_records_in_order_are_one_critical_finding_updated_with_the_access_key():
    findings = run_sequences([CREATE, ATTACH, KEY], rule_id=ID)
    assert ids(findings) == {finding_id(ID, ACCOUNT, "us-east-1", short_hash(f"{ACCOUNT}|{USER}"), CREATE["eventID"])}
    first, updated = findings  # raised at the grant, raised once more (same Id) when the key follows
    assert [f.severity.value for f in findings] == ["CRITICAL", "CRITICAL"]
    assert first.sequence_steps == (CREATE["eventID"], ATTACH["eventID"])
    assert updated.sequence_steps == (CREATE["eventID"], ATTACH["eventID"], KEY["eventID"])
    assert "no credentials for it were seen yet" in first.description
    assert updated.description == (
        "IAM user malicious-iam-user was created in account 123837392027 by bert-jan and made an administrator "
        "(arn:aws:iam::aws:policy/AdministratorAccess) within a minute; credentials were created for it: access key "
        "AKIATFQR7NSCQLA2F4OD.")
    assert updated.resource_id == f"arn:aws:iam::{ACCOUNT}:user/{USER}"
    assert updated.details["Credentials"] == "access key AKIATFQR7NSCQLA2F4OD"
    assert updated.details["Grant"] == "arn:aws:iam::aws:policy/AdministratorAccess"
    assert alert_key(updated, "") == alert_key(first, "")  # the update does not page again
    for finding in findings:
        assert_valid_asff(to_asff(finding, product_arn=PRODUCT, updated_at=NOW))


@pytest.mark.parametrize("order", list(itertools.permutations(range(3))))
def test_every_arrival_order_gives_the_same_finding_with_every_step(order):
    records = [[CREATE, ATTACH, KEY][i] for i in order]
    findings = run_sequences(records, rule_id=ID)
    assert len(ids(findings)) == 1 and 1 <= len(findings) <= 2
    assert findings[-1].sequence_steps == (CREATE["eventID"], ATTACH["eventID"], KEY["eventID"])
    assert all(f.severity.value == "CRITICAL" and f.event_id == CREATE["eventID"] for f in findings)
    if order.index(2) < max(order.index(0), order.index(1)):  # the key came before the sequence completed
        assert len(findings) == 1


@pytest.mark.parametrize("seed", range(5))
def test_redelivered_and_shuffled_steps_raise_nothing_more(seed):
    records = [CREATE, ATTACH, KEY] * 3
    random.Random(seed).shuffle(records)
    findings = run_sequences(records, rule_id=ID)
    assert len(ids(findings)) == 1 and len(findings) <= 2
    assert set(findings[-1].sequence_steps) == {CREATE["eventID"], ATTACH["eventID"], KEY["eventID"]}


def test_the_whole_invictus_corpus_gives_one_finding_for_the_malicious_user():
    records = sorted(corpus_records("invictus"), key=lambda record: record["eventTime"])
    findings = run_sequences(records, rule_id=ID)
    assert ids(findings) == {findings[-1].finding_id} and findings[-1].subject == USER
    assert findings[-1].sequence_steps == (CREATE["eventID"], ATTACH["eventID"], KEY["eventID"])
    shuffled = records[:]
    random.Random(7).shuffle(shuffled)
    assert ids(run_sequences(shuffled, rule_id=ID)) == ids(findings)


def test_a_console_password_counts_as_credentials():
    [finding] = run_sequences([create("eve", T0, "c"), at(named(PASSWORD, "eve"), T0 + minutes(1), "p"),
                               attach("eve", T0 + minutes(2), "a")], rule_id=ID)
    assert finding.sequence_steps == ("c", "a", "p") and finding.details["Credentials"] == "console password"


# -- what is not the sequence ------------------------------------------------------------------------------------

def test_admin_for_a_user_not_created_in_the_window_or_credentials_alone_are_nothing():
    assert run_sequences([ATTACH, KEY], rule_id=ID) == []
    assert run_sequences([CREATE, KEY, at(READ_ONLY, T0, "ro")], rule_id=ID) == []  # ReadOnlyAccess is no admin
    failed = at(ATTACH, T0, "failed", errorCode="AccessDenied")
    assert run_sequences([CREATE, failed], rule_id=ID) == []


def test_the_window_edges():
    window = timedelta(hours=30)
    assert len(ids(run_sequences([CREATE, attach(USER, T0 + window, "edge")], rule_id=ID))) == 1
    late = attach(USER, T0 + window + timedelta(seconds=1), "late")
    assert run_sequences([late, CREATE], rule_id=ID) == []
    early = attach(USER, T0 - timedelta(seconds=1), "before")  # a grant before the user existed: another user
    assert run_sequences([CREATE, early], rule_id=ID) == []
    [finding] = run_sequences([CREATE, attach(USER, T0 + HOUR, "a"), key(USER, T0 + window + HOUR, "k")],
                              rule_id=ID)
    assert finding.details["Credentials"] == "none seen"  # a key after the window is not linked


def test_interleaved_users_are_separate_keys():
    records = [create("alice", T0, "c-a"), create("bob", T0 + minutes(1), "c-b"), key("alice", T0 + minutes(2), "k-a"),
               attach("bob", T0 + minutes(3), "a-b"), key("bob", T0 + minutes(4), "k-b")]
    findings = run_sequences(records, rule_id=ID)
    assert {f.subject for f in findings} == {"bob"} and findings[-1].sequence_steps == ("c-b", "a-b", "k-b")
    both = run_sequences(records + [attach("alice", T0 + minutes(5), "a-a")], rule_id=ID)
    assert len(ids(both)) == 2


def test_the_policy_knobs():
    records = [CREATE, attach(USER, T0 + 2 * HOUR, "a")]
    assert run_sequences(records, policy=OrgPolicy(sequence_windows={ID: 60}), rule_id=ID) == []
    assert len(run_sequences(records, policy=OrgPolicy(sequence_windows={ID: 120}), rule_id=ID)) == 1
    assert run_sequences([CREATE, ATTACH], policy=OrgPolicy(disabled=frozenset({ID})), rule_id=ID) == []
    read_only = at(READ_ONLY, T0, "ro")
    privileged = OrgPolicy(privileged_policies=("arn:*:iam::aws:policy/ReadOnlyAccess",))
    assert len(run_sequences([CREATE, read_only], policy=privileged, rule_id=ID)) == 1
    assert sequence.META.threshold is None  # nothing to count: no threshold knob


def test_the_event_rule_being_disabled_does_not_blind_the_sequence():
    policy = OrgPolicy(disabled=frozenset({"iam_admin_policy_attached"}))
    assert len(run_sequences([CREATE, ATTACH], policy=policy, rule_id=ID)) == 1


# -- the group variant --------------------------------------------------------------------------------------------

GROUP_STEPS = [create("carol", T0, "c"), join("carol", "admins", T0 + minutes(1), "j"),
               group_inline("admins", T0 + minutes(2), "g")]


@pytest.mark.parametrize("order", list(itertools.permutations(range(3))))
def test_a_new_user_joining_a_group_made_admin_in_every_arrival_order(order):
    [finding] = run_sequences([GROUP_STEPS[i] for i in order], rule_id=ID)
    assert finding.sequence_steps == ("c", "j", "g") and finding.event_id == "c"
    assert finding.finding_id == finding_id(ID, ACCOUNT, "us-east-1", short_hash(f"{ACCOUNT}|groups/"), "c")
    assert finding.details["Group"] == "admins" and finding.resource_id == f"arn:aws:iam::{ACCOUNT}:user/carol"
    assert "made an administrator through group admins" in finding.description
    assert_valid_asff(to_asff(finding, product_arn=PRODUCT, updated_at=NOW))


def test_the_group_grant_may_come_first_and_credentials_update_the_finding():
    records = [group_attach("admins", T0 - 20 * HOUR, "g"), create("carol", T0, "c"),
               join("carol", "admins", T0 + minutes(1), "j")]
    engine = SequenceEngine(MemoryStore())
    [first] = run_sequences(records, engine=engine, rule_id=ID)
    [updated] = run_sequences([key("carol", T0 + minutes(2), "k")], engine=engine, rule_id=ID)
    assert first.finding_id == updated.finding_id and updated.sequence_steps == ("c", "j", "g", "k")
    assert run_sequences([key("carol", T0 + minutes(3), "k2")], engine=engine, rule_id=ID) == []  # raised once


def test_group_variant_window_and_non_admin_groups():
    window = timedelta(hours=30)
    spread = [create("carol", T0, "c"), join("carol", "admins", T0 + HOUR, "j")]
    assert run_sequences(spread + [group_inline("admins", T0 + window, "g")], rule_id=ID) != []
    assert run_sequences(spread + [group_inline("admins", T0 + window + timedelta(seconds=1), "g")], rule_id=ID) == []
    assert run_sequences(spread + [group_inline("admins", T0 + HOUR - window - timedelta(seconds=1), "g")],
                         rule_id=ID) == []  # the grant, the creation and the join do not fit in one window
    assert run_sequences([create("carol", T0, "c"), join("carol", "readers", T0 + HOUR, "j"),
                          group_inline("admins", T0 + HOUR, "g")], rule_id=ID) == []
    assert run_sequences([join("carol", "admins", T0 + HOUR, "j"), group_inline("admins", T0, "g")], rule_id=ID) == []


def test_one_grant_completing_two_new_users_names_both():
    records = [create("carol", T0, "c1"), create("dave", T0 + minutes(1), "c2"),
               join("carol", "admins", T0 + minutes(2), "j1"), join("dave", "admins", T0 + minutes(3), "j2"),
               group_inline("admins", T0 + minutes(4), "g")]
    [finding] = run_sequences(records, rule_id=ID)
    assert finding.details["Users"] == "carol, dave" and finding.sequence_steps == ("c1", "j1", "g", "c2", "j2")
    assert "Also made administrators the same way: dave." in finding.description


def test_observe_keeps_the_steps_small_and_skips_root_credentials():
    ctx = Context(now=NOW)
    [user_step, group_step] = sequence.observe(CloudTrailRecord.model_validate(CREATE), frozenset(), ctx)
    assert user_step.key == f"{ACCOUNT}|{USER}" and group_step.key == f"{ACCOUNT}|groups/"
    assert all(len(value) <= 256 for value in user_step.step.facts.values())
    root_key = load_sample("iam_create_access_key_root_for_itself__constructed")["detail"]
    assert sequence.observe(CloudTrailRecord.model_validate(root_key), frozenset(), ctx) == []


def _recreated_user() -> list:
    """A user created, made an administrator and given two keys; 33 hours later (past the window) created again
    under the same name and made an administrator again; a grant 38 hours after that lets the first creation
    leave the steps the key's judgement sees."""
    return run_sequences([create("eve", T0, "c1"), attach("eve", T0 + minutes(1), "a1"),
                          key("eve", T0 + minutes(70), "k1"), key("eve", T0 + 4 * HOUR, "k2"),
                          create("eve", T0 + 33 * HOUR, "c2"), attach("eve", T0 + 33 * HOUR + minutes(8), "a2"),
                          attach("eve", T0 + 71 * HOUR, "a3")], rule_id=ID)


def test_the_findings_do_not_depend_on_the_process_hash_seed():
    """Found while checking that issue 18's faster replay gives the same findings: when a sequence grows (k2), the
    engine remembers how far it reaches by extending one of the marks of its first step, and when two marks of
    that step tied (``created`` and ``created+credentials``), which one was extended depended on the order a set
    gave them, so on Python's string hashing, random per process: the re-created user was reported in some runs
    and silently taken for the first sequence in others. The mark of the verdict's own stage is extended now:
    every process reports the re-creation, as an update of the finding it overlaps."""
    runs = printed_under_hash_seeds("test_sequence_iam_admin_user_created",
                                    "[(f.finding_id, f.description, f.sequence_steps) for f in tested._recreated_user()]",
                                    seeds=("1", "2", "5"))
    assert len(runs) == 1
    findings = _recreated_user()
    assert [f.sequence_steps for f in findings] == [("c1", "a1"), ("c1", "a1", "k1"), ("c2", "a2")]
    assert len({f.finding_id for f in findings}) == 1  # the re-creation updates the finding it overlaps
    assert "no credentials for it were seen yet" in findings[-1].description
