"""rules/_lib/identity_center.py, posture part: ``session_hours`` (SessionDuration as DescribePermissionSet
returns it) and ``privileged`` (spec/rules.md §B, "privileged permission set")."""

from __future__ import annotations

import re
from dataclasses import replace
from urllib.parse import quote

import botocore.session
import pytest
from ic_posture import ADMIN, ADMIN_POLICY, ALLOW_ALL, DENY_IAM, MEMBER, READ_ONLY, ps_arn
from identity_auditor.model.policy import OrgPolicy
from identity_auditor.model.snapshots import CustomerManagedPolicyReference, PermissionSet
from identity_auditor.rules._lib.identity_center import arn_partition, has_inline, privileged, session_hours

DURATION_PATTERN = botocore.session.get_session().get_service_model("sso-admin").shape_for(
    "Duration").metadata["pattern"]
OPS = PermissionSet(ps_arn("ps-6d0e83c1a4b2f975"), "PlatformOps", "PT1H", provisioned_accounts=(MEMBER,))


@pytest.mark.parametrize("duration, hours", [
    ("PT8H", 8.0), ("PT1H30M", 1.5), ("PT12H", 12.0), ("PT1H", 1.0), ("PT90M", 1.5), ("PT3600S", 1.0),
    ("PT2H0M0S", 2.0), ("P1D", 24.0), ("P1DT2H", 26.0), ("P1W", 168.0), ("PT5400.0S", 1.5), ("PT0.5S", 0.5 / 3600),
])
def test_session_hours_reads_iso_8601_durations(duration, hours):
    assert re.fullmatch(DURATION_PATTERN, duration), "a value Identity Center's API accepts"
    assert session_hours(duration) == pytest.approx(hours)


def test_no_session_duration_is_identity_centers_default_one_hour():
    assert session_hours(None) == 1.0


@pytest.mark.parametrize("duration", ["", "P", "PT", "8h", "PT8", "pt8h", "PT8H30", "-PT1H", "P1Y", "P1M", "P1DT",
                                      "PT1H1H", "8", "P1W1D", "PT1.5H", 8])
def test_session_hours_refuses_what_it_cannot_read(duration):
    with pytest.raises(ValueError, match="session duration"):
        session_hours(duration)


def test_years_and_months_are_refused_although_the_api_pattern_admits_them():
    for duration in ("P1Y", "P1M", "-PT1H"):
        assert re.fullmatch(DURATION_PATTERN, duration)
        with pytest.raises(ValueError):
            session_hours(duration)


@pytest.mark.parametrize("permission_set, policy, reason", [
    (ADMIN, OrgPolicy(), "listed in privileged_permission_sets (*AdministratorAccess*)"),
    (OPS, OrgPolicy(privileged_permission_sets=("Platform*",)), "listed in privileged_permission_sets (Platform*)"),
    (OPS, OrgPolicy(privileged_permission_sets=(OPS.arn,)), f"({OPS.arn})"),
    (OPS, OrgPolicy(privileged_permission_sets=("ps-6d0e83c1a4b2f975",)), "(ps-6d0e83c1a4b2f975)"),
    (replace(OPS, managed_policies=(ADMIN_POLICY,)), OrgPolicy(),
     f"managed policy {ADMIN_POLICY} is in privileged_policies"),
    (replace(OPS, managed_policies=("arn:aws:iam::aws:policy/administratoraccess",)), OrgPolicy(),
     "managed policy arn:aws:iam::aws:policy/administratoraccess is in privileged_policies"),
    (replace(OPS, inline_policy=ALLOW_ALL), OrgPolicy(), "inline policy: Statement[0] allows Action * on Resource *"),
    (replace(OPS, inline_policy=quote('{"Statement":{"Effect":"Allow","Action":"iam:*","Resource":"*"}}')),
     OrgPolicy(), "inline policy: Statement[0] allows Action iam:* on Resource *"),
    (replace(OPS, inline_policy='{"Statement": [{"Effect": "Allow", "Action": "s3:*"}]}'), OrgPolicy(),
     "inline policy cannot be judged"),
    (replace(OPS, customer_managed=(CustomerManagedPolicyReference("OrgAdmin", "/admin/"),)),
     OrgPolicy(privileged_policies=("arn:aws:iam::*:policy/admin/OrgAdmin",)),
     f"customer managed policy arn:aws:iam::{MEMBER}:policy/admin/OrgAdmin is in privileged_policies"),
])
def test_privileged_says_why(permission_set, policy, reason):
    found = privileged(permission_set, policy)
    assert found is not None and reason in found


@pytest.mark.parametrize("permission_set", [
    READ_ONLY,
    OPS,
    # a customer managed policy named like AWS's: whatever each account holds under that name
    replace(OPS, customer_managed=(CustomerManagedPolicyReference("AdministratorAccess"),)),
    replace(OPS, boundary_managed=ADMIN_POLICY),
    replace(OPS, boundary_customer=CustomerManagedPolicyReference("AdministratorAccess")),
    replace(OPS, inline_policy=DENY_IAM),
    replace(OPS, inline_policy=""),
    replace(OPS, managed_policies=("arn:aws:iam::aws:policy/PowerUserAccess",)),
])
def test_not_privileged(permission_set):
    assert privileged(permission_set, OrgPolicy()) is None


def test_customer_reference_counts_only_when_resolved_where_it_is_provisioned():
    policy = OrgPolicy(privileged_policies=("arn:aws:iam::*:policy/admin/OrgAdmin",))
    reference = (CustomerManagedPolicyReference("OrgAdmin", "/admin/"),)
    assert privileged(replace(OPS, customer_managed=reference, provisioned_accounts=()), policy) is None


def test_names_do_not_match_patterns_meant_for_arns_and_no_pattern_means_nothing_listed():
    assert privileged(ADMIN, OrgPolicy(privileged_permission_sets=())) is not None  # still by its managed policy
    assert privileged(replace(ADMIN, managed_policies=()), OrgPolicy(privileged_permission_sets=())) is None


@pytest.mark.parametrize("document, expected", [
    (None, False), ("", False), ("  ", False), ({}, False), ("{}", True), (ALLOW_ALL, True)])
def test_has_inline(document, expected):
    assert has_inline(document) is expected


@pytest.mark.parametrize("arn, partition", [
    (ADMIN.arn, "aws"), ("arn:aws-cn:sso:::permissionSet/ssoins-7223a8e5d2f3bd2c/ps-f1ab3a7d7c5e3b22", "aws-cn"),
    ("not an arn", "aws"), ("", "aws")])
def test_arn_partition(arn, partition):
    assert arn_partition(arn) == partition
