"""identity_auditor.rules._lib.trust: the trust-policy analysis shared by the CloudTrail and Config rules.

Examples for every check (flags and ignores), then properties checked with hypothesis: the verdict does
not depend on encoding, statement order, single-value-vs-list or condition-key case; Deny statements
never add problems; a concrete aws:PrincipalOrgID removes a wildcard principal's CRITICAL problem;
service principals alone are always safe.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from collections import Counter
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from identity_auditor.model.contract import Severity
from identity_auditor.rules._lib.trust import (
    TrustProblem,
    account_of,
    analyze_trust_policy,
    is_bare_wildcard,
    parse_policy,
    zone_of_trust,
)
from identity_auditor.model.deployment import Organization
from support import corpus_record

OWN, TRUSTED, FOREIGN = "111122223333", "444455556666", "193672423079"
ORG = Organization(id="o-a1b2c3d4e5", accounts=frozenset({OWN, TRUSTED, "777788889999"}))
GH = f"arn:aws:iam::{OWN}:oidc-provider/token.actions.githubusercontent.com"
GH_AUD, GH_SUB = "token.actions.githubusercontent.com:aud", "token.actions.githubusercontent.com:sub"
EKS_ID = "oidc.eks.eu-west-1.amazonaws.com/id/5C0F1B2A9D8E7F6A5B4C3D2E1F0A9B8C"
EKS = f"arn:aws:iam::{OWN}:oidc-provider/{EKS_ID}"
ENTRA_ID = "sts.windows.net/9188040d-6c67-4c5b-b112-36a304b66dad/"
ENTRA = f"arn:aws:iam::{OWN}:oidc-provider/{ENTRA_ID}"
SAML = f"arn:aws:iam::{OWN}:saml-provider/okta"
COGNITO_POOL = "us-east-1:0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b"
WEB = "sts:AssumeRoleWithWebIdentity"
SETTINGS = settings(max_examples=120, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow])


def stmt(principal, action="sts:AssumeRole", condition=None, effect="Allow", sid=None) -> dict:
    statement = {"Effect": effect, "Principal": principal, "Action": action}
    if condition is not None:
        statement["Condition"] = condition
    if sid is not None:
        statement["Sid"] = sid
    return statement


def policy(*statements) -> dict:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def codes(document, **kwargs) -> list[tuple[str, str]]:
    return [(p.code, p.severity.value) for p in analyze_trust_policy(document, **kwargs)]


def gh(condition) -> dict:
    return policy(stmt({"Federated": GH}, WEB, condition))


# -- parsing ------------------------------------------------------------------------------------------

REAL_CREATE = corpus_record("invictus", "CreateRole", eventID="ff709962-49b6-494d-8198-cdf0f7e8e666")


def test_plain_and_url_encoded_real_documents_give_the_same_verdict():
    plain = REAL_CREATE["requestParameters"]["assumeRolePolicyDocument"]
    encoded = REAL_CREATE["responseElements"]["role"]["assumeRolePolicyDocument"]
    assert encoded.startswith("%7B%22Statement")
    kwargs = {"trusted_accounts": frozenset({TRUSTED})}  # the role's own account is then foreign
    assert analyze_trust_policy(plain, **kwargs) == analyze_trust_policy(encoded, **kwargs)
    assert codes(plain, **kwargs) == [("untrusted-account", "HIGH")]
    assert analyze_trust_policy(plain, **kwargs, own_account="123837392027") == []


def test_dict_json_string_and_single_statement_object_are_equivalent():
    statement = stmt("*")
    expected = analyze_trust_policy(policy(statement))
    assert analyze_trust_policy(json.dumps(policy(statement))) == expected
    assert analyze_trust_policy({"Statement": statement}) == expected
    assert analyze_trust_policy(quote(quote(json.dumps(policy(statement)), safe="")), ) == expected


@pytest.mark.parametrize(("document", "message"), [
    ("not json at all", "not JSON"),
    ("%7Bbroken", "not JSON"),
    ("[1, 2]", "JSON object"),
    ('{"Version": "2012-10-17"}', "no Statement"),
    ('{"Statement": "sts:AssumeRole"}', "Statement must be"),
    ('{"Statement": []}', "Statement must be"),
    ('{"Statement": [{"Effect": "Allow", "Principal": "*"}]}', "neither Action nor NotAction"),
    ('{"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "sts:AssumeRole", "Condition": "x"}]}',
     "Condition must be an object"),
    (42, "JSON string or an object"),
])
def test_malformed_documents_raise_a_clear_value_error(document, message):
    with pytest.raises(ValueError, match=message):
        analyze_trust_policy(document)


def test_element_names_and_effect_are_read_case_insensitively():
    assert codes({"statement": [{"effect": "allow", "principal": "*", "action": "sts:AssumeRole"}]}) == [
        ("wildcard-principal", "CRITICAL")]
    assert parse_policy(" {\"Statement\": []} ") == {"Statement": []}


def test_problem_is_frozen_and_says_where_it_is():
    problem = analyze_trust_policy(policy(stmt({"Service": "ec2.amazonaws.com"}), stmt("*", sid="Open")))[0]
    assert (problem.statement_index, problem.sid, problem.where) == (1, "Open", "Statement[1] (Sid Open)")
    with pytest.raises(dataclasses.FrozenInstanceError):
        problem.reason = "changed"  # type: ignore[misc]


# -- (a) wildcard principals ---------------------------------------------------------------------------

@pytest.mark.parametrize("principal", ["*", ["*"], {"AWS": "*"}, {"AWS": [OWN, "*"]}])
def test_wildcard_principal_without_condition_is_critical(principal):
    assert codes(policy(stmt(principal)), own_account=OWN) == [("wildcard-principal", "CRITICAL")]


@pytest.mark.parametrize("condition", [
    {"StringEquals": {"aws:PrincipalOrgID": "o-a1b2c3d4e5"}},
    {"StringEquals": {"AWS:PRINCIPALORGID": "o-a1b2c3d4e5"}},
    {"ForAnyValue:StringLike": {"aws:PrincipalOrgPaths": "o-a1b2c3d4e5/r-ab12/ou-ab12-11111111/*"}},
    {"StringEquals": {"aws:PrincipalAccount": [OWN, TRUSTED]}},
    {"ArnLike": {"aws:PrincipalArn": f"arn:aws:iam::{OWN}:role/deploy-*"}},
    {"ArnEquals": {"aws:SourceArn": f"arn:aws:sns:us-east-1:{OWN}:alerts"}},
    {"StringEquals": {"aws:SourceAccount": OWN, "sts:ExternalId": "x"}},
])
def test_wildcard_principal_pinned_to_a_caller_inside_the_zone_is_safe(condition):
    assert codes(policy(stmt({"AWS": "*"}, condition=condition)), own_account=OWN,
                 trusted_accounts=frozenset({TRUSTED}), organization=ORG) == []


@pytest.mark.parametrize(("condition", "outside"), [
    ({"StringEquals": {"aws:PrincipalAccount": "999999999999"}}, "999999999999"),
    ({"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::999999999999:role/x"}}, "999999999999"),
    ({"StringEquals": {"aws:PrincipalOrgID": "o-attacker99"}}, "o-attacker99"),
    ({"StringEquals": {"aws:PrincipalAccount": [OWN, "999999999999"]}}, "999999999999"),  # values are OR-ed
])
def test_wildcard_principal_pinned_to_a_caller_outside_the_zone_is_reported(condition, outside):
    """Found by an adversarial review: a ``*`` principal pinned to someone else's account or organisation let
    that account in unreported."""
    problems = analyze_trust_policy(policy(stmt({"AWS": "*"}, condition=condition)), own_account=OWN,
                                    organization=ORG)
    assert [(p.code, p.severity.value, p.account) for p in problems] == [("untrusted-account", "HIGH", outside)]
    assert outside in problems[0].reason


@pytest.mark.parametrize("condition", [
    {"StringEquals": {"sts:ExternalId": "b7f0c6ce-1d55-4c87-9f3e-4e0a7b1d2c3f"}},
    {"StringEquals": {"aws:PrincipalOrgID": "*"}},
    {"StringLike": {"aws:PrincipalOrgID": "o-*"}},
    {"StringEquals": {"aws:PrincipalOrgID": ["o-a1b2c3d4e5", "*"]}},  # values are OR-ed
    {"StringEqualsIfExists": {"aws:PrincipalOrgID": "o-a1b2c3d4e5"}},
    {"ForAllValues:StringLike": {"aws:PrincipalOrgPaths": "o-a1b2c3d4e5/*"}},
    {"StringNotEquals": {"aws:PrincipalOrgID": "o-evil"}},
    {"Null": {"aws:PrincipalOrgID": "false"}},
    {"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/deploy"}},
    {"ArnLike": {"aws:SourceArn": "arn:aws:s3:::*"}},
    {"StringLike": {"aws:PrincipalAccount": "1111222233?3"}},
    {},
])
def test_wildcard_principal_with_a_condition_that_pins_nobody_is_critical(condition):
    assert codes(policy(stmt({"AWS": "*"}, condition=condition))) == [("wildcard-principal", "CRITICAL")]


def test_external_id_is_named_in_the_reason():
    problem = analyze_trust_policy(policy(stmt("*", condition={"StringEquals": {"sts:ExternalId": "x"}})))[0]
    assert "sts:ExternalId does not count" in problem.reason and problem.principal == "*"


@pytest.mark.parametrize(("action", "flagged"), [
    ("sts:AssumeRole", True), ("STS:ASSUMEROLE", True), ("sts:AssumeRole*", True), ("sts:*", True),
    ("*", True), (["sts:TagSession", "sts:AssumeRole"], True), (WEB, True), ("sts:AssumeRoleWithSAML", True),
    ("sts:TagSession", False), (["sts:SetSourceIdentity", "sts:TagSession"], False), ("s3:GetObject", False),
])
def test_only_statements_that_grant_an_assume_action_matter(action, flagged):
    assert bool(codes(policy(stmt("*", action)))) is flagged


def test_not_action_is_the_complement():
    statement = {"Effect": "Allow", "Principal": "*", "NotAction": "sts:AssumeRoleWithSAML"}
    assert codes(policy(statement)) == [("wildcard-principal", "CRITICAL")]
    assert codes(policy({**statement, "NotAction": "sts:*"})) == []


def test_deny_statements_never_make_a_policy_unsafe():
    deny = stmt("*", "sts:*", effect="Deny")
    assert codes(policy(deny)) == []
    assert codes(policy(stmt({"Service": "lambda.amazonaws.com"}), deny)) == []


def test_not_principal_with_allow_is_critical_and_with_deny_is_ignored():
    allow = {"Effect": "Allow", "NotPrincipal": {"AWS": f"arn:aws:iam::{OWN}:root"}, "Action": "sts:AssumeRole"}
    assert codes(policy(allow)) == [("not-principal", "CRITICAL")]
    assert codes(policy({**allow, "Effect": "Deny"})) == []


# -- (b) web identity ---------------------------------------------------------------------------------

@pytest.mark.parametrize("condition", [
    {"StringEquals": {GH_AUD: "sts.amazonaws.com", GH_SUB: "repo:example-org/web:ref:refs/heads/main"}},
    {"StringEquals": {GH_AUD: "sts.amazonaws.com"}, "StringLike": {GH_SUB: "repo:example-org/web:*"}},
    {"StringEquals": {GH_AUD: "sts.amazonaws.com"}, "StringLike": {GH_SUB: "repo:example-org/*"}},
    {"StringEquals": {GH_AUD: "sts.amazonaws.com"},
     "ForAnyValue:StringLike": {GH_SUB: ["repo:example-org/web:environment:prod", "repo:example-org/api:*"]}},
    {"StringEquals": {GH_AUD.upper(): "sts.amazonaws.com", "Token.Actions.GitHubUserContent.com:Sub":
                      "repo:example-org/web:ref:refs/heads/main"}},
])
def test_github_actions_scoped_to_a_repository_is_safe(condition):
    assert codes(gh(condition)) == []


@pytest.mark.parametrize("sub", ["*", "repo:*", "repo:*/*", "repo:example-org*", "repo:*:ref:refs/heads/main",
                                 ["repo:example-org/web:*", "*"]])
def test_github_actions_with_a_bare_wildcard_sub_is_high(sub):
    condition = {"StringEquals": {GH_AUD: "sts.amazonaws.com"}, "StringLike": {GH_SUB: sub}}
    assert codes(gh(condition)) == [("web-identity-sub-wildcard", "HIGH")]


def test_github_actions_without_sub_or_aud_is_high():
    assert codes(gh({"StringEquals": {GH_AUD: "sts.amazonaws.com"}})) == [("web-identity-sub", "HIGH")]
    assert codes(gh({"StringLike": {GH_SUB: "repo:example-org/web:*"}})) == [("web-identity-aud", "HIGH")]
    assert codes(gh(None)) == [("web-identity-aud", "HIGH"), ("web-identity-sub", "HIGH")]
    assert codes(gh({"StringEquals": {GH_AUD: "*", GH_SUB: "repo:o/r:ref:refs/heads/main"}})) == [
        ("web-identity-aud", "HIGH")]


@pytest.mark.parametrize("operator", ["StringNotLike", "StringLikeIfExists", "ForAllValues:StringLike"])
def test_a_sub_condition_that_can_be_skipped_does_not_count(operator):
    condition = {"StringEquals": {GH_AUD: "sts.amazonaws.com"}, operator: {GH_SUB: "repo:example-org/web:*"}}
    assert codes(gh(condition)) == [("web-identity-sub", "HIGH")]


def test_the_reason_names_the_provider_key():
    problem = analyze_trust_policy(gh({"StringEquals": {GH_AUD: "sts.amazonaws.com"}}))[0]
    assert GH_SUB in problem.reason and problem.principal == GH


def test_oidc_principal_without_the_web_identity_action_cannot_be_used_and_is_ignored():
    assert codes(policy(stmt({"Federated": GH}, "sts:AssumeRole"))) == []


def test_eks_irsa():
    aud, sub = f"{EKS_ID}:aud", f"{EKS_ID}:sub"
    scoped = {"StringEquals": {aud: "sts.amazonaws.com", sub: "system:serviceaccount:payments:api"}}
    assert codes(policy(stmt({"Federated": EKS}, WEB, scoped))) == []
    namespace = {"StringEquals": {aud: "sts.amazonaws.com"}, "StringLike": {sub: "system:serviceaccount:payments:*"}}
    assert codes(policy(stmt({"Federated": EKS}, WEB, namespace))) == []
    anyone = {"StringEquals": {aud: "sts.amazonaws.com"}, "StringLike": {sub: "system:serviceaccount:*"}}
    assert codes(policy(stmt({"Federated": EKS}, WEB, anyone))) == [("web-identity-sub-wildcard", "HIGH")]


def test_entra_id_provider_keys_keep_the_trailing_slash():
    aud, sub = f"{ENTRA_ID}:aud", f"{ENTRA_ID}:sub"
    safe = {"StringEquals": {aud: "api://aws-federation", sub: "3f2c1b0a-9d8e-4f7a-b6c5-d4e3f2a1b0c9"}}
    assert codes(policy(stmt({"Federated": ENTRA}, WEB, safe))) == []
    problems = analyze_trust_policy(policy(stmt({"Federated": ENTRA}, WEB, {"StringEquals": {aud: "api://x"}})))
    assert [p.code for p in problems] == ["web-identity-sub"] and sub in problems[0].reason


def test_cognito_accepts_aud_with_amr_or_sub():
    aud = {"cognito-identity.amazonaws.com:aud": COGNITO_POOL}
    amr = {"ForAnyValue:StringLike": {"cognito-identity.amazonaws.com:amr": "authenticated"}}
    cognito = {"Federated": "cognito-identity.amazonaws.com"}
    assert codes(policy(stmt(cognito, WEB, {"StringEquals": aud, **amr}))) == []
    assert codes(policy(stmt(cognito, WEB, {"StringEquals": {**aud, "cognito-identity.amazonaws.com:sub":
                                                              "us-east-1:1234"}}))) == []
    assert codes(policy(stmt(cognito, WEB, {"StringEquals": aud}))) == [("web-identity-sub", "HIGH")]
    assert codes(policy(stmt(cognito, WEB, amr))) == [("web-identity-aud", "HIGH")]
    wildcard = {"StringEquals": aud, "ForAnyValue:StringLike": {"cognito-identity.amazonaws.com:amr": "*"}}
    assert codes(policy(stmt(cognito, WEB, wildcard))) == [("web-identity-sub-wildcard", "HIGH")]


def test_social_providers_use_their_own_keys():
    google = {"StringEquals": {"accounts.google.com:aud": "1234.apps.googleusercontent.com",
                               "accounts.google.com:sub": "110169484474386276334"}}
    assert codes(policy(stmt({"Federated": "accounts.google.com"}, WEB, google))) == []
    facebook = {"StringEquals": {"graph.facebook.com:app_id": "358770994578462"}}
    assert codes(policy(stmt({"Federated": "graph.facebook.com"}, WEB, facebook))) == [("web-identity-sub", "HIGH")]
    amazon = {"StringEquals": {"www.amazon.com:app_id": "amzn1.application.1", "www.amazon.com:user_id": "u1"}}
    assert codes(policy(stmt({"Federated": "www.amazon.com"}, WEB, amazon))) == []


# -- (c) SAML -------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("condition", "expected"), [
    ({"StringEquals": {"SAML:aud": "https://signin.aws.amazon.com/saml"}}, []),
    ({"StringEquals": {"saml:AUD": "https://eu-west-1.signin.aws.amazon.com/saml"}}, []),
    (None, [("saml-aud", "HIGH")]),
    ({"StringEquals": {"SAML:aud": "*"}}, [("saml-aud", "HIGH")]),
    ({"StringEqualsIfExists": {"SAML:aud": "https://signin.aws.amazon.com/saml"}}, [("saml-aud", "HIGH")]),
])
def test_saml_requires_saml_aud(condition, expected):
    actions = ["sts:AssumeRoleWithSAML", "sts:TagSession"]
    assert codes(policy(stmt({"Federated": SAML}, actions, condition))) == expected


# -- (d) accounts outside the trusted list -------------------------------------------------------------

FOREIGN_ROOT = f"arn:aws:iam::{FOREIGN}:root"
ACCOUNTS = {"trusted_accounts": frozenset({TRUSTED}), "own_account": OWN}


@pytest.mark.parametrize("principal", [FOREIGN, FOREIGN_ROOT, f"arn:aws:iam::{FOREIGN}:role/admin",
                                       f"arn:aws:iam::{FOREIGN}:user/mallory",
                                       f"arn:aws:sts::{FOREIGN}:assumed-role/admin/session"])
def test_foreign_aws_principal_is_high_when_trusted_accounts_are_set(principal):
    problems = analyze_trust_policy(policy(stmt({"AWS": principal})), **ACCOUNTS)
    assert [(p.code, p.severity, p.principal) for p in problems] == [("untrusted-account", Severity.HIGH, principal)]
    assert FOREIGN in problems[0].reason


def test_an_account_outside_the_zone_is_reported_without_a_trusted_list():
    """The zone of trust is always checked (spec §A): without trusted_accounts it is the role's own account."""
    assert codes(policy(stmt({"AWS": FOREIGN_ROOT})), own_account=OWN) == [("untrusted-account", "HIGH")]
    assert codes(policy(stmt({"AWS": f"arn:aws:iam::{OWN}:role/ci"})), own_account=OWN) == []


def test_every_account_of_a_known_organisation_is_inside_the_zone():
    member = policy(stmt({"AWS": "arn:aws:iam::777788889999:role/deploy"}))
    assert codes(member, own_account=OWN) == [("untrusted-account", "HIGH")]  # organisation not known
    assert codes(member, own_account=OWN, organization=ORG) == []
    assert codes(policy(stmt({"AWS": FOREIGN_ROOT})), own_account=OWN, organization=ORG) == [
        ("untrusted-account", "HIGH")]


def test_an_organisation_whose_accounts_could_not_be_read_adds_nobody_to_the_zone():
    unread = Organization(id="o-a1b2c3d4e5", problem="AccessDeniedException: not allowed")
    member = policy(stmt({"AWS": "arn:aws:iam::777788889999:role/deploy"}))
    assert codes(member, own_account=OWN, organization=unread) == [("untrusted-account", "HIGH")]
    assert zone_of_trust(frozenset({TRUSTED}), OWN, unread) == {OWN, TRUSTED}
    assert zone_of_trust(frozenset(), OWN, ORG) == ORG.accounts


@pytest.mark.parametrize(("condition", "inside"), [
    ({"StringEquals": {"aws:PrincipalOrgID": "o-a1b2c3d4e5"}}, True),
    ({"StringEquals": {"aws:PrincipalOrgID": "o-zzzzzzzzzz"}}, False),  # another organisation
    ({"StringEquals": {"aws:PrincipalOrgID": ["o-a1b2c3d4e5", "o-zzzzzzzzzz"]}}, False),  # OR-ed: either
    ({"ForAnyValue:StringLike": {"aws:PrincipalOrgPaths": "o-a1b2c3d4e5/r-ab12/ou-ab12-11111111/*"}}, True),
    ({"ForAnyValue:StringLike": {"aws:PrincipalOrgPaths": "o-zzzzzzzzzz/r-ab12/*"}}, False),
])
def test_an_organisation_condition_keeps_a_principal_inside_only_when_it_names_the_organisation(condition, inside):
    document = policy(stmt({"AWS": FOREIGN_ROOT}, condition=condition))
    expected = [] if inside else [("untrusted-account", "HIGH")]
    assert codes(document, own_account=OWN, organization=ORG) == expected
    # organisation not known: no pinned organisation can be shown to be ours (an attacker's o-... would do)
    [problem] = analyze_trust_policy(document, own_account=OWN)
    assert problem.severity is Severity.HIGH and "could not be checked" in problem.reason


def test_a_vendor_that_must_present_an_external_id_is_medium():
    vendor = {"StringEquals": {"sts:ExternalId": "d5f2c1e0-vendor"}}
    assert codes(policy(stmt({"AWS": FOREIGN_ROOT}, condition=vendor)), **ACCOUNTS) == [("untrusted-account", "MEDIUM")]
    [problem] = analyze_trust_policy(policy(stmt({"AWS": FOREIGN_ROOT}, condition=vendor)), **ACCOUNTS)
    assert problem.account == FOREIGN and "sts:ExternalId" in problem.reason


def test_an_external_id_counts_only_when_every_statement_admitting_the_account_requires_it():
    vendor = {"StringEquals": {"sts:ExternalId": "d5f2c1e0-vendor"}}
    document = policy(stmt({"AWS": FOREIGN_ROOT}, condition=vendor), stmt({"AWS": f"arn:aws:iam::{FOREIGN}:role/x"}))
    assert codes(document, **ACCOUNTS) == [("untrusted-account", "HIGH"), ("untrusted-account", "HIGH")]
    other = policy(stmt({"AWS": FOREIGN_ROOT}, condition=vendor), stmt({"AWS": "arn:aws:iam::999988887777:root"}))
    assert codes(other, **ACCOUNTS) == [("untrusted-account", "MEDIUM"), ("untrusted-account", "HIGH")]


def test_an_external_id_under_a_negated_or_if_exists_operator_is_no_vendor_pin():
    for condition in ({"StringNotEquals": {"sts:ExternalId": "x"}}, {"StringEqualsIfExists": {"sts:ExternalId": "x"}},
                      {"StringLike": {"sts:ExternalId": "*"}}):
        assert codes(policy(stmt({"AWS": FOREIGN_ROOT}, condition=condition)), **ACCOUNTS) == [
            ("untrusted-account", "HIGH")], condition


@pytest.mark.parametrize("principal", [OWN, f"arn:aws:iam::{OWN}:root", TRUSTED, f"arn:aws:iam::{TRUSTED}:role/ci",
                                       "AROA3EXAMPLEDELETED01"])
def test_own_trusted_and_deleted_principals_are_fine(principal):
    assert codes(policy(stmt({"AWS": principal})), **ACCOUNTS) == []


def test_organisation_condition_excuses_a_foreign_account_and_external_id_makes_it_a_vendor():
    org = {"StringEquals": {"aws:PrincipalOrgID": "o-a1b2c3d4e5"}}
    assert codes(policy(stmt({"AWS": FOREIGN_ROOT}, condition=org)), **ACCOUNTS, organization=ORG) == []
    external = {"StringEquals": {"sts:ExternalId": "x"}}
    assert codes(policy(stmt({"AWS": FOREIGN_ROOT}, condition=external)), **ACCOUNTS) == [
        ("untrusted-account", "MEDIUM")]


def test_the_real_invictus_backdoor_trusts_a_foreign_root():
    record = corpus_record("invictus", "UpdateAssumeRolePolicy", eventID="d96d75c7-e715-44ff-9735-9dc51afbd774")
    document = record["requestParameters"]["policyDocument"]
    problems = analyze_trust_policy(document, own_account="123837392027")  # the zone: the role's own account
    assert [(p.statement_index, p.principal, p.code) for p in problems] == [
        (1, "arn:aws:iam::193672423079:root", "untrusted-account")]


def test_service_principals_are_fine_on_their_own():
    services = {"Service": ["ec2.amazonaws.com", "lambda.amazonaws.com", "rolesanywhere.amazonaws.com"]}
    assert codes(policy(stmt(services, ["sts:AssumeRole", "sts:TagSession"])), **ACCOUNTS) == []


def test_several_problems_come_in_statement_order():
    document = policy(stmt({"AWS": FOREIGN}, sid="Partner"), stmt({"Federated": SAML}, "sts:AssumeRoleWithSAML"),
                      stmt("*", sid="Open"))
    problems = analyze_trust_policy(document, **ACCOUNTS)
    assert [(p.statement_index, p.code) for p in problems] == [
        (0, "untrusted-account"), (1, "saml-aud"), (2, "wildcard-principal")]


@pytest.mark.parametrize(("key", "value", "bare"), [
    ("x:sub", "*", True), ("x:sub", "repo:*", True), ("x:sub", "repo:*/*", True), ("x:sub", "repo:org*", True),
    ("x:sub", "repo:org/*", False), ("x:sub", "system:serviceaccount:*", True),
    ("x:sub", "system:serviceaccount:ns:*", False), ("x:sub", "project_path:group/*", False),
    ("x:sub", "abc*", True), ("x:sub", "literal", False), ("aws:principalorgpaths", "o-*", True),
    ("aws:principalorgpaths", "o-abc/*", False), ("aws:principalorgid", "o-abc?", True),
    ("aws:principalarn", "arn:aws:iam::123456789012:role/*", False), ("aws:principalarn", "arn:aws:*", True),
    ("aws:sourcearn", "arn:aws:s3:::bucket-*", False),
])
def test_bare_wildcards(key, value, bare):
    assert is_bare_wildcard(key, value) is bare


def test_account_of():
    assert account_of(f"arn:aws-cn:iam::{OWN}:root") == OWN
    assert account_of(OWN) == OWN
    assert account_of("AROA3EXAMPLEDELETED01") is None


# -- properties ----------------------------------------------------------------------------------------

ACCOUNT_POOL = [OWN, TRUSTED, FOREIGN, f"arn:aws:iam::{FOREIGN}:root", f"arn:aws:iam::{TRUSTED}:role/ci"]
PRINCIPALS = st.one_of(
    st.just("*"),
    st.fixed_dictionaries({"AWS": st.sampled_from(["*", *ACCOUNT_POOL])}),
    st.fixed_dictionaries({"Service": st.sampled_from(["ec2.amazonaws.com", "lambda.amazonaws.com"])}),
    st.fixed_dictionaries({"Federated": st.sampled_from([GH, EKS, SAML, "cognito-identity.amazonaws.com"])}),
)
ACTIONS = st.sampled_from(["sts:AssumeRole", WEB, "sts:AssumeRoleWithSAML", "sts:TagSession", "sts:*", "*"])
KEYS = st.sampled_from(["aws:PrincipalOrgID", "aws:PrincipalAccount", "sts:ExternalId", GH_AUD, GH_SUB,
                        f"{EKS_ID}:sub", "SAML:aud", "cognito-identity.amazonaws.com:aud",
                        "cognito-identity.amazonaws.com:amr"])
VALUES = st.sampled_from(["*", "repo:*", "repo:example-org/web:*", "sts.amazonaws.com", "o-a1b2c3d4e5", OWN,
                          "system:serviceaccount:ns:sa", "https://signin.aws.amazon.com/saml"])
OPERATORS = st.sampled_from(["StringEquals", "StringLike", "StringEqualsIfExists", "ForAnyValue:StringLike",
                             "ForAllValues:StringEquals", "StringNotEquals", "Null"])
CONDITIONS = st.dictionaries(OPERATORS, st.dictionaries(KEYS, VALUES, min_size=1, max_size=3), max_size=3)


@st.composite
def statements(draw, principals=PRINCIPALS, effects=st.sampled_from(["Allow", "Allow", "Deny"])):
    statement = {"Effect": draw(effects), "Principal": draw(principals), "Action": draw(ACTIONS)}
    condition = draw(CONDITIONS)
    if condition:
        statement["Condition"] = condition
    if draw(st.booleans()):
        statement["Sid"] = draw(st.sampled_from(["A", "B", "Trust"]))
    return statement


POLICIES = st.lists(statements(), min_size=1, max_size=4).map(lambda s: policy(*s))
KW = {"trusted_accounts": frozenset({TRUSTED}), "own_account": OWN}


def verdict(document) -> Counter:
    """Problems without their position: what is unsafe, not where in the list it is."""
    return Counter((p.sid, p.principal, p.severity, p.code, p.reason) for p in analyze_trust_policy(document, **KW))


@SETTINGS
@given(POLICIES)
def test_property_url_encoding_and_json_text_do_not_change_the_verdict(document):
    expected = analyze_trust_policy(document, **KW)
    assert analyze_trust_policy(json.dumps(document), **KW) == expected
    assert analyze_trust_policy(quote(json.dumps(document), safe=""), **KW) == expected
    assert all(p.severity in (Severity.CRITICAL, Severity.HIGH, Severity.MEDIUM) for p in expected)
    assert all(isinstance(p, TrustProblem) for p in expected)


@SETTINGS
@given(POLICIES, st.randoms(use_true_random=False))
def test_property_statement_order_does_not_change_the_verdict(document, rng):
    shuffled = copy.deepcopy(document)
    rng.shuffle(shuffled["Statement"])
    assert verdict(shuffled) == verdict(document)


def _as_lists(document: dict) -> dict:
    result = copy.deepcopy(document)
    for statement in result["Statement"]:
        statement["Action"] = [statement["Action"]]
        principal = statement["Principal"]
        statement["Principal"] = [principal] if isinstance(principal, str) else {
            k: [v] for k, v in principal.items()}
        for entries in statement.get("Condition", {}).values():
            for key in entries:
                entries[key] = [entries[key]]
    return result


@SETTINGS
@given(POLICIES)
def test_property_single_values_and_one_element_lists_are_the_same(document):
    assert analyze_trust_policy(_as_lists(document), **KW) == analyze_trust_policy(document, **KW)


@SETTINGS
@given(POLICIES, st.sampled_from([str.upper, str.lower, str.swapcase, str.title]))
def test_property_condition_key_case_does_not_matter(document, recase):
    changed = copy.deepcopy(document)
    for statement in changed["Statement"]:
        for operator, entries in statement.get("Condition", {}).items():
            statement["Condition"][operator] = {recase(key): value for key, value in entries.items()}
    assert analyze_trust_policy(changed, **KW) == analyze_trust_policy(document, **KW)


@SETTINGS
@given(POLICIES, statements(effects=st.just("Deny")), st.integers(min_value=0, max_value=4))
def test_property_a_deny_statement_never_adds_problems(document, deny, position):
    with_deny = copy.deepcopy(document)
    with_deny["Statement"].insert(min(position, len(with_deny["Statement"])), deny)
    assert verdict(with_deny) == verdict(document)


WILDCARDS = st.sampled_from(["*", {"AWS": "*"}, {"AWS": ["*", FOREIGN]}])


@SETTINGS
@given(statements(principals=WILDCARDS, effects=st.just("Allow")), st.sampled_from(["o-a1b2c3d4e5", ["o-x1y2z3"]]))
def test_property_a_concrete_principal_org_id_removes_the_wildcard_critical(statement, org_id):
    before = analyze_trust_policy(policy(statement), **KW)
    pinned = copy.deepcopy(statement)
    condition = pinned.setdefault("Condition", {})
    condition["StringEquals"] = {**condition.get("StringEquals", {}), "aws:PrincipalOrgID": org_id}
    after = analyze_trust_policy(policy(pinned), **KW)
    assert not [p for p in after if p.code == "wildcard-principal"]
    assert not [p for p in after if p.severity is Severity.CRITICAL]
    # an organisation that is not known to be ours still names who is let in: at most one problem per principal
    assert len([p for p in after if p.code != "untrusted-account"]) <= len(before)


SERVICES = st.fixed_dictionaries({"Service": st.lists(
    st.sampled_from(["ec2.amazonaws.com", "lambda.amazonaws.com", "states.amazonaws.com"]), min_size=1, max_size=3)})


@SETTINGS
@given(st.lists(statements(principals=SERVICES), min_size=1, max_size=4))
def test_property_service_principals_alone_are_always_safe(service_statements):
    assert analyze_trust_policy(policy(*service_statements), **KW) == []
