"""rules/_lib/permissions.py: when a permissions policy grants administrative power, and what it says when the
document cannot be read."""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest
from identity_auditor.rules._lib.permissions import _matches, admin_grant


def doc(*statements) -> dict:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def allow(action="*", resource="*", **more) -> dict:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **more}


# -- Action ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("action", ["*", "iam:*", "*:*", "IAM:*", "iam:?*", "i*", "*m:*", ["s3:GetObject", "iam:*"]])
def test_actions_covering_every_iam_action_are_admin(action):
    shown = action[-1] if isinstance(action, list) else action
    assert admin_grant(doc(allow(action))) == f"Statement[0] allows Action {shown} on Resource *"


@pytest.mark.parametrize("action", [
    "iam:Get*", "iam:*Policy", "iam:Create*", "s3:*", "iam:?", "iam:??", "iam:PassRole", "iam:[*]", "ia:*",
    ["ec2:Describe*", "iam:List*"], [],
])
def test_actions_that_leave_some_iam_actions_out_are_not(action):
    assert admin_grant(doc(allow(action))) is None


def test_not_action_on_every_resource_is_admin_whatever_it_leaves_out():
    assert admin_grant(doc({"Effect": "Allow", "NotAction": ["iam:*", "organizations:*"], "Resource": "*"})) == (
        "Statement[0] allows every action except iam:*, organizations:* on Resource *")
    assert admin_grant(doc({"Effect": "Allow", "NotAction": [], "Resource": "*"})) == (
        "Statement[0] allows every action except (none) on Resource *")


def test_not_action_on_iam_resources_only_is_not_judged():
    only_iam = {"Effect": "Allow", "NotAction": "s3:*", "Resource": "arn:aws:iam::111122223333:*"}
    assert admin_grant(doc(only_iam)) is None


# -- Resource ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("resource", [
    "*", ["arn:aws:s3:::reports", "*"], "arn:*", "arn:aws:*", "arn:aws:*:*:*:*", "arn:*:*:*:*:*", "arn:aws-cn:*",
    "arn:aws:iam::111122223333:*", "arn:aws:iam::*:*", "arn:aws-us-gov:iam::*",
])
def test_resources_covering_every_iam_resource_of_an_account(resource):
    shown = resource[-1] if isinstance(resource, list) else resource
    assert admin_grant(doc(allow("iam:*", resource))) == f"Statement[0] allows Action iam:* on Resource {shown}"


@pytest.mark.parametrize("resource", [
    "arn:aws:s3:::*", "arn:aws:iam::111122223333:user/*", "arn:aws:iam::111122223333:role/*",
    "arn:aws:iam::aws:policy/*", ["arn:aws:s3:::a", "arn:aws:ec2:*:*:instance/*"], "arn:aws:iam::?:*", [],
])
def test_narrower_resources_are_not(resource):
    assert admin_grant(doc(allow("*", resource))) is None


def test_not_action_needs_every_resource_not_just_iam():
    assert admin_grant(doc({"Effect": "Allow", "NotAction": "s3:*", "Resource": "arn:aws:*:*:*:*"})) is not None
    assert admin_grant(doc({"Effect": "Allow", "NotAction": "s3:*", "Resource": "arn:aws:iam::*:*"})) is None


def test_not_resource_counts_when_it_leaves_iam_in():
    assert admin_grant(doc({"Effect": "Allow", "Action": "*", "NotResource": "arn:aws:s3:::secret/*"})) == (
        "Statement[0] allows Action * on every resource except arn:aws:s3:::secret/*")
    assert admin_grant(doc({"Effect": "Allow", "Action": "*", "NotResource": []})) == (
        "Statement[0] allows Action * on every resource")
    assert admin_grant(doc({"Effect": "Allow", "NotAction": "s3:*", "NotResource": "arn:aws:s3:::x"})) is not None
    for excluded in ("arn:aws:iam::*:*", "*", "arn:aws:iam::*:user/*"):
        assert admin_grant(doc({"Effect": "Allow", "Action": "*", "NotResource": excluded})) is None, excluded


def test_resources_match_case_sensitively_and_actions_do_not():
    assert admin_grant(doc(allow("IaM:*", "ARN:aws:*"))) is None
    assert _matches("IAM:*", "iam:x", ignore_case=True) and not _matches("IAM:*", "iam:x")


# -- Effect, Deny, Condition, element names, Sid, several statements ---------------------------------------------


def test_deny_statements_grant_nothing_and_do_not_cancel_a_grant():
    deny = {"Effect": "Deny", "Action": "*", "Resource": "*"}
    assert admin_grant(doc(deny)) is None
    assert admin_grant(doc(deny, allow())) == "Statement[1] allows Action * on Resource *"
    assert admin_grant(doc({"Effect": "Deny"}, allow("s3:*"))) is None  # a Deny is never read further


def test_element_names_and_effect_ignore_case_and_sid_is_named():
    lower = {"version": "2012-10-17", "statement": [{"sid": "All", "effect": "ALLOW", "action": "*", "resource": "*"}]}
    assert admin_grant(lower) == "Statement[0] (Sid All) allows Action * on Resource *"


def test_a_single_statement_object_and_the_first_granting_statement():
    assert admin_grant({"Statement": allow()}) == "Statement[0] allows Action * on Resource *"
    assert admin_grant(doc(allow("s3:*"), allow("iam:*"), allow("*"))) == (
        "Statement[1] allows Action iam:* on Resource *")


def test_a_condition_still_grants_and_is_named():
    conditional = allow(Condition={"Bool": {"aws:MultiFactorAuthPresent": "true"},
                                   "IpAddress": {"aws:SourceIp": ["203.0.113.0/24"]}})
    assert admin_grant(doc(conditional)) == (
        "Statement[0] allows Action * on Resource * (under a Condition on aws:MultiFactorAuthPresent, aws:SourceIp)")
    many = allow(Condition={"StringEquals": {f"aws:k{n}": "v" for n in range(5)}})
    assert admin_grant(doc(many)).endswith("(under a Condition on aws:k0, aws:k1, aws:k2 and 2 more)")
    assert admin_grant(doc(allow(Condition={"Bool": "odd"}))).endswith("on Resource * (under a Condition)")
    assert admin_grant(doc(allow(Condition={}))) == "Statement[0] allows Action * on Resource *"


def test_empty_statement_list_grants_nothing():
    assert admin_grant(doc()) is None


# -- input forms --------------------------------------------------------------------------------------------------


def test_json_url_encoded_and_doubly_encoded_documents():
    text = json.dumps(doc(allow()))
    for form in (text, quote(text), quote(quote(text)), f"  {text}\n", doc(allow())):
        assert admin_grant(form) == "Statement[0] allows Action * on Resource *"


# -- malformed input ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("document", "message"), [
    ("not json", "policy is not JSON (nor URL-encoded JSON)"),
    ("%7B%22Statement", "policy is not JSON (nor URL-encoded JSON)"),
    (42, "policy must be a JSON string or an object, not int"),
    (None, "policy must be a JSON string or an object, not NoneType"),
    ("[1, 2]", "policy must be a JSON object, not list"),
    ({"Version": "2012-10-17"}, "policy has no Statement"),
    ({"Statement": "Allow"}, "policy Statement must be an object or a list, not a string"),
    (doc("x"), "policy Statement[0] is a string, not an object, so whether it grants"),
    (doc({"Effect": "Permit", "Action": "*", "Resource": "*"}), "policy Statement[0] has Effect 'Permit', neither"),
    (doc({"Action": "*", "Resource": "*"}), "policy Statement[0] has Effect None, neither Allow nor Deny"),
    (doc({"Effect": "Allow", "Resource": "*"}), "policy Statement[0] has neither Action nor NotAction"),
    (doc({"Effect": "Allow", "Sid": "S", "Action": "*"}), "policy Statement[0] (Sid S) has neither Resource nor"),
    (doc(allow(["s3:*", 7])), "policy Statement[0] Action holds a number, not a string"),
    (doc(allow("*", {"arn": "x"})), "policy Statement[0] Resource holds an object, not a string"),
    (doc(allow("s3:*"), [1]), "policy Statement[1] is a list, not an object"),
])
def test_malformed_input_raises_value_error_naming_what_is_wrong(document, message):
    with pytest.raises(ValueError) as raised:
        admin_grant(document)
    assert str(raised.value).startswith(message)
    assert "trust policy" not in str(raised.value)


def test_a_readable_grant_wins_over_an_unreadable_statement():
    assert admin_grant(doc("garbage", allow())) == "Statement[1] allows Action * on Resource *"
    with pytest.raises(ValueError, match=r"Statement\[0\] is a string"):
        admin_grant(doc("garbage", allow("s3:*")))  # the unreadable part could have been the grant


# -- the wildcard matcher -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("pattern", "text", "expected"), [
    ("*", "", True), ("*", "anything", True), ("?", "", False), ("a?c", "abc", True), ("a*c", "ac", True),
    ("a*c", "abxc", True), ("a*c", "abcd", False), ("[a]", "a", False), ("[a]", "[a]", True), ("**", "x", True),
    ("*a*b", "xaxb", True), ("*a*b", "xbxa", False),
])
def test_iam_wildcards(pattern, text, expected):
    assert _matches(pattern, text) is expected


def test_hostile_patterns_stay_fast():
    pattern = "*?" * 300 + "x"
    assert admin_grant(doc(allow(pattern), allow("s3:*", pattern))) is None
