"""password_reset_takeover: CreateLoginProfile / UpdateLoginProfile for user X by caller Y, then a successful console
login as X from the address Y used, within 6 hours (HIGH); in order, out of order, duplicated, at and past the
window's end, interleaved keys, self-service and the other non-steps, the policy knobs, the finding, and the real
invictus pair (bert-jan set stratus-red-team-nmfalu-gfjyeaypjt's password from 192.168.10.20, which signed in from
there 9 seconds later)."""

from __future__ import annotations

import copy
import random
from datetime import datetime, timedelta, timezone

import pytest
from asff_validator import assert_valid_asff
from identity_auditor.model.contract import Severity
from identity_auditor.model.findings import finding_id, short_hash
from identity_auditor.model.policy import OrgPolicy
from identity_auditor.sequences import password_reset_takeover as sequence
from identity_auditor.sinks.asff import to_asff
from sequence_support import NOW, at, minutes, run_sequences
from support import PRODUCT_ARN, corpus_record, corpus_records, load_sample

ID = sequence.META.id
# The real invictus pair: bert-jan creates the target's password, the target signs in 9 s later from the same address.
CHANGE = corpus_record("invictus", "CreateLoginProfile", eventID="1170c908-ce8d-4c6f-bc65-cf43aae5235b")
LOGIN = load_sample("signin_console_login_iam_user_without_mfa")["detail"]  # the same record as in the corpus
UPDATE_SELF = load_sample("iam_update_login_profile_self__constructed")["detail"]
ROLE_SESSION = load_sample("organizations_detach_policy_full_aws_access__constructed")["detail"]["userIdentity"]
TARGET = CHANGE["requestParameters"]["userName"]
ADDRESS = CHANGE["sourceIPAddress"]
ACCOUNT = CHANGE["recipientAccountId"]
REGION = CHANGE["awsRegion"]
T0 = datetime(2026, 11, 21, 9, 0, tzinfo=timezone.utc)
KEY = f"{ACCOUNT}|{TARGET.lower()}|{ADDRESS}"


def change(when=T0, event_id="c-1", *, base=CHANGE, user=TARGET, address=ADDRESS) -> dict:
    record = at(base, when, event_id, sourceIPAddress=address)
    record["requestParameters"]["userName"] = user
    return record


def update(when=T0, event_id="u-1", **fields) -> dict:
    return change(when, event_id, base=UPDATE_SELF, **fields)  # the same call, for another user


def login(when=T0 + minutes(5), event_id="l-1", *, user=TARGET, address=ADDRESS, base=LOGIN) -> dict:
    record = at(base, when, event_id, sourceIPAddress=address, recipientAccountId=ACCOUNT)
    record["userIdentity"] = {**record["userIdentity"], "userName": user, "accountId": ACCOUNT,
                              "arn": f"arn:aws:iam::{ACCOUNT}:user/{user}"}
    return record


def test_a_password_set_for_another_user_then_a_login_from_the_same_address_is_one_high_finding():
    [finding] = run_sequences([change(), login()], rule_id=ID)
    assert finding.severity.value == "HIGH"
    assert finding.finding_id == finding_id(ID, ACCOUNT, REGION, short_hash(KEY), "c-1")
    assert finding.sequence_steps == ("c-1", "l-1")
    assert finding.resource_type == "AwsIamUser" and finding.resource_id == f"arn:aws:iam::{ACCOUNT}:user/{TARGET}"
    assert finding.description == (
        f"bert-jan created the console password of IAM user {TARGET} in account {ACCOUNT} from {ADDRESS}, and 5 "
        f"minutes later {TARGET} signed in to the console without MFA from that same address.")
    assert finding.details["PasswordSetBy"] == CHANGE["userIdentity"]["arn"]
    assert finding.details["SourceIPAddress"] == ADDRESS and finding.details["MFAUsed"] == "No"
    assert finding.event_id == "c-1" and finding.event_time == T0
    assert_valid_asff(to_asff(finding, product_arn=PRODUCT_ARN, updated_at=NOW))


def test_update_login_profile_for_another_user_counts_and_says_changed():
    [finding] = run_sequences([update(), login()], rule_id=ID)
    assert finding.sequence_steps == ("u-1", "l-1")
    assert finding.description.startswith(f"bert-jan changed the console password of IAM user {TARGET}")
    assert finding.details["PasswordChange"] == "UpdateLoginProfile"


def test_several_changes_before_the_login_are_all_linked_and_the_earliest_is_the_first_step():
    records = [change(T0, "c-1"), update(T0 + minutes(30), "u-1"), login(T0 + minutes(40))]
    [finding] = run_sequences(records, rule_id=ID)
    assert finding.sequence_steps == ("c-1", "u-1", "l-1")
    assert finding.finding_id.endswith("/c-1")
    assert finding.details["PasswordChange"] == "CreateLoginProfile, UpdateLoginProfile"


def test_a_role_session_setting_the_password_is_someone_else():
    record = change()
    record["userIdentity"] = copy.deepcopy(ROLE_SESSION)
    [finding] = run_sequences([record, login()], rule_id=ID)
    assert finding.details["PasswordSetBy"] == ROLE_SESSION["arn"]
    assert finding.description.startswith(
        "AWSReservedSSO_AdministratorAccess_0123456789abcdef/jane@example.com created the console password")


def test_self_service_is_no_takeover():
    me = UPDATE_SELF["userIdentity"]["userName"]
    mine = [update(user=me), login(user=me)]
    assert run_sequences(mine, rule_id=ID) == []
    assert run_sequences([update(user=me.upper()), login(user=me)], rule_id=ID) == []  # IAM names ignore case
    root_own = load_sample("iam_create_login_profile_root_for_itself__constructed")["detail"]
    assert run_sequences([at(root_own, T0, "r-1", sourceIPAddress=ADDRESS), login()], rule_id=ID) == []


def test_the_target_name_is_matched_ignoring_case():
    [finding] = run_sequences([change(user=TARGET.upper()), login()], rule_id=ID)
    assert finding.sequence_steps == ("c-1", "l-1")


@pytest.mark.parametrize("case", ["other address", "other user", "failed login", "failed change", "service address",
                                  "root login"])
def test_what_is_not_the_sequence(case):
    root_login = load_sample("signin_console_login_root_without_mfa")["detail"]
    records = {
        "other address": [change(), login(address="203.0.113.50")],
        "other user": [change(), login(user="someone-else")],
        "failed login": [change(), login(base=load_sample("signin_console_login_iam_user_failed_with_mfa")["detail"])],
        "failed change": [change(base=load_sample("iam_create_login_profile_failed__constructed")["detail"]),
                          login()],
        "service address": [change(address="AWS Internal"), login(address="AWS Internal")],
        "root login": [change(), at(root_login, T0 + minutes(5), "l-r", sourceIPAddress=ADDRESS,
                                    recipientAccountId=ACCOUNT)],
    }[case]
    assert run_sequences(records, rule_id=ID) == []


def test_one_step_alone_is_not_enough_and_a_login_before_the_change_does_not_count():
    assert run_sequences([change()], rule_id=ID) == []
    assert run_sequences([login()], rule_id=ID) == []
    assert run_sequences([login(T0 - minutes(1)), change()], rule_id=ID) == []
    assert len(run_sequences([change(), login(T0)], rule_id=ID)) == 1  # the same second counts


@pytest.mark.parametrize("seed", range(6))
def test_out_of_order_and_duplicated_steps_give_the_same_single_finding(seed):
    records = [change(), login()]
    shuffled = records + random.Random(seed).choices(records, k=3)  # redelivered
    random.Random(seed + 100).shuffle(shuffled)
    [expected] = run_sequences(records, rule_id=ID)
    [finding] = run_sequences(shuffled, rule_id=ID)
    assert finding.finding_id == expected.finding_id and finding.sequence_steps == expected.sequence_steps


def test_the_window_is_six_hours_from_the_change():
    assert len(run_sequences([change(), login(T0 + timedelta(hours=6))], rule_id=ID)) == 1
    assert run_sequences([change(), login(T0 + timedelta(hours=6, seconds=1))], rule_id=ID) == []
    late_first = [login(T0 + timedelta(hours=6, seconds=1)), change()]  # out of order, still outside
    assert run_sequences(late_first, rule_id=ID) == []


def test_interleaved_users_and_addresses_are_separate_keys():
    records = [change(T0, "a-c", user="alice"), change(T0, "b-c", user="bob", address="198.51.100.9"),
               login(T0 + minutes(1), "a-l", user="bob"),  # bob from alice's changer address: no
               login(T0 + minutes(2), "b-l", user="alice", address="198.51.100.9"),  # and the reverse: no
               login(T0 + minutes(3), "b-l2", user="bob", address="198.51.100.9")]
    [finding] = run_sequences(records, rule_id=ID)
    assert finding.sequence_steps == ("b-c", "b-l2") and finding.details["UserName"] == "bob"


def test_later_logins_of_the_same_takeover_do_not_raise_it_again():
    records = [change(), login(T0 + minutes(5), "l-1"), login(T0 + minutes(50), "l-2"), login(T0 + minutes(90), "l-3")]
    [finding] = run_sequences(records, rule_id=ID)
    assert finding.sequence_steps == ("c-1", "l-1")


def test_the_policy_can_widen_the_window_disable_and_allow_the_changer():
    records = [change(), login(T0 + timedelta(hours=7))]
    assert run_sequences(records, rule_id=ID) == []
    assert len(run_sequences(records, policy=OrgPolicy(sequence_windows={ID: 8 * 60}), rule_id=ID)) == 1
    assert run_sequences([change(), login()], policy=OrgPolicy(sequence_windows={ID: 4}), rule_id=ID) == []
    assert run_sequences([change(), login()], policy=OrgPolicy(disabled=frozenset({ID})), rule_id=ID) == []
    helpdesk = OrgPolicy(allow={ID: (CHANGE["userIdentity"]["arn"],)})
    assert run_sequences([change(), login()], policy=helpdesk, rule_id=ID) == []  # the login completes it
    assert [f.severity.value for f in run_sequences([change(), login()], policy=OrgPolicy(
        severity={ID: Severity.CRITICAL}), rule_id=ID)] == ["CRITICAL"]


def test_the_invictus_corpus_holds_one_takeover_the_stratus_console_login_detonation():
    records = sorted(corpus_records("invictus"), key=lambda record: record.get("eventTime", ""))
    [finding] = run_sequences(records, rule_id=ID)
    assert finding.sequence_steps == ("1170c908-ce8d-4c6f-bc65-cf43aae5235b", LOGIN["eventID"])
    assert "9 seconds later stratus-red-team-nmfalu-gfjyeaypjt signed in" in finding.description
