"""identity_auditor.model.redaction: key-like secrets in the free text a finding copies from a record are masked
(regression for the leak found by tests/contract/test_no_secrets_in_outputs.py: a secret in a user agent
reached the ASFF ProductFields, both alert formats, the queued delivery and the CLI's jsonl)."""

from __future__ import annotations

import json

import pytest
from identity_auditor.model.redaction import MARK, redact
from identity_auditor.sinks import alerts
from identity_auditor.sinks.asff import to_asff
from support import findings_from, invictus_event

SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYCANARY0KEY"
NOW_ARN = "arn:aws:securityhub:us-east-1:123456789012:product/123456789012/default"


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        (f"aws-cli/2.13.0 AWS_SECRET_ACCESS_KEY={SECRET}", "aws-cli/2.13.0 AWS_SECRET_ACCESS_KEY="),
        (f"sdk key {SECRET} end", "sdk key "),
        ("curl Authorization: Bearer abcdefghijklmnop0123", "curl Authorization: Bearer "),
        ('{"password": "hunter2-hunter2"}', '{"password": "'),
        ("tool newPassword=Sup3r-Secret!", "tool newPassword="),
        ("client_secret=0123456789abcdef", "client_secret="),
        ("X-Amz-Security-Token=IQoJb3JpZ2luX2VjEC0aCXVzLWVhc3QtMSJHMEUC", "X-Amz-Security-Token="),
        ("tok IQoJb3JpZ2luX2VjEC0aCXVzLWVhc3QtMSJHMEUC", "tok "),
        ("-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\n-----END RSA PRIVATE KEY-----", ""),
        ("ci ghp_0123456789abcdefghijklmnopqrstuvwxyz", "ci "),
        ("slack xoxb-000000000000-0000000000000-abcdefabcdef", "slack "),
        ("proxy Authorization: Basic dXNlcjpwYXNz", "proxy Authorization: Basic "),
        ('{"Authorization": "Bearer abcdefghij"}', '{"Authorization": "Bearer '),
        ("Authorization: AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20230710/us-east-1/iam", "Authorization: "),
    ],
)
def test_secrets_are_masked_and_the_rest_is_kept(text, kept):
    masked = redact(text)
    assert MARK in masked and masked.startswith(kept)
    assert "hunter2" not in masked and SECRET not in masked and "IQoJ" not in masked and "MIIE" not in masked


@pytest.mark.parametrize(
    "text",
    [
        None,
        "",
        "AWS Internal",
        "console.amazonaws.com",
        "aws-cli/2.13.0 Python/3.11.4 Linux/5.19.0-46-generic exe/x86_64.ubuntu.22 prompt/off command/iam",
        "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:109.0) Gecko/20100101 Firefox/115.0",
        "AKIATFQR7NSC8Q4X20BJ",
        "arn:aws:iam::123837392027:user/bert-jan",
        "arn:aws:secretsmanager:us-east-1:123837392027:secret:db-password-AbCdEf",
        "HttpTokens=optional",
        "the IdP uses basic authentication with bearer tokens",
        "6938fd4d98bab03faadb97b34396831e3780aea1",
    ],
)
def test_ordinary_values_are_left_alone(text):
    assert redact(text) == text


def test_a_secret_in_the_user_agent_reaches_no_output():
    event = invictus_event("70e5932e-9022-4b38-837e-ca10dad94eb7")  # console login without MFA
    event["detail"]["userAgent"] = f"aws-cli/2.13.0 AWS_SECRET_ACCESS_KEY={SECRET} password=Canary-Passw0rd!"
    (finding,) = findings_from(event["detail"])
    assert finding.actor.user_agent == f"aws-cli/2.13.0 AWS_SECRET_ACCESS_KEY={MARK} password={MARK}"
    shown = [
        json.dumps(finding.summary(), default=str),
        json.dumps(to_asff(finding, product_arn=NOW_ARN, updated_at=finding.event_time)),
    ]
    for alert_format in alerts.ALERT_FORMATS:
        shown += alerts.render(finding, alert_format)
    for text in shown:
        assert SECRET not in text and "Canary-Passw0rd" not in text


# -- the fast pre-check (issue 18 item 4): the same result as running every pattern -----------------------

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from identity_auditor.model.redaction import _PATTERNS, _masked, _patterns_for  # noqa: E402


def _may_hold_a_secret(text: str) -> bool:
    return bool(_patterns_for(text))


def _redact_all(text: str) -> str:
    """The reference: every one of the eleven patterns, in order, whatever the text holds."""
    for pattern in _PATTERNS:
        text = pattern.sub(_masked, text)
    return text

_FRAGMENTS = st.sampled_from([
    "aws_secret_access_key", "SECRET", "Token", "api-key", "apiKey", "private_key", "Password", "passwd", "pwd",
    "Authorization", "bearer ", "Basic ", "AWS4-HMAC-SHA256 ", "X-Amz-Signature=", "-----BEGIN PRIVATE KEY-----",
    "IQoJb3JpZ2lu", "FwoGZXIvYXdz", "AQoDYXdz", "ghp_", "github_pat_", "xoxb-", "eyJ", "=", ":", "\"", "'", " ",
    "/", "+", "arn:aws:iam::123456789012:role/", "aws-cli/2.13.0 Python/3.11", SECRET, SECRET[:20],
    "0123456789abcdef" * 4, "abcdefghij", "\u017fecret", "\u212aey", "toke\u0130", "é", "\n",
    # what the per-pattern pre-check looks for (a key word then ":" or "=", a scheme, a prefix), and near misses
    "key=", "Key :", "secret\\\"=", "tokens ", "PASSWORD:", "Signature=", "signature", "aws4-hmac-sha256",
    "-----BEGIN ", "-----begin ", "gho_", "ghs_", "gh", "_", "xoxp-", "eyJ", "EYJ", "[REDACTED]", "b3JpZ2lu", "ZXIvYXdz",
])


@settings(max_examples=600, deadline=None, derandomize=True, database=None)
@given(st.lists(st.one_of(_FRAGMENTS, st.text(max_size=6)), max_size=12).map("".join))
def test_the_pre_check_changes_no_result(text):
    """Running only the patterns whose needs a text has (issue 18: per pattern) redacts exactly what all run."""
    assert redact(text) == _redact_all(text)


def test_the_pre_check_lets_real_user_agents_and_arns_through_untouched():
    from support import corpus_records

    texts = {str(r.get(field)) for r in corpus_records() for field in ("userAgent", "sourceIPAddress")}
    texts |= {str((r.get("userIdentity") or {}).get("arn")) for r in corpus_records()}
    for text in texts:
        assert redact(text) == _redact_all(text)
    skipped = [t for t in texts if not _may_hold_a_secret(t)]
    assert len(skipped) > len(texts) * 0.8  # most never reach the eleven patterns


@pytest.mark.parametrize("text", [
    "github_pat_" + "0123456789abcdef" * 4, "ghp_" + "a1" * 20, "xoxb-0123456789ab", "eyJhbGciOiJI.eyJzdWIiOiIx.abcdefghij",
    "\u017fecret=hunter2hunter2", "api_\u212aey: abcdef", "passwd=x1", "pwd:abc", "author\u0131zation: abc",
    "Authorization: Bearer abcdefghijkl", "x-amz-signature=" + "0" * 64, "AWS4-HMAC-SHA256 Credential=a, X=b",
    "-----BEGIN EC PRIVATE KEY-----abc", "IgoJb3JpZ2luabcdef", "FQoGZXIvYXdzabcdef", "AQoDYXdzabcdef",
    "key " + SECRET, SECRET.replace("/", "+"), "BEARER abcdef12345", "basic dXNlcjpwYXNz0=",
])
def test_the_pre_check_lets_every_pattern_run(text):
    assert _may_hold_a_secret(text) and redact(text) == _redact_all(text) != text
