"""A small scanner for key-like strings in text the auditor shows to people (findings, alerts, logs).

Two complementary checks:

* :func:`scan` looks for the *shapes* of secrets (:data:`PATTERNS`): AWS secret access keys, STS session
  tokens, private key blocks, passwords and client secrets written as assignments, Authorization headers
  and request signatures, GitHub and Slack tokens, JSON Web Tokens. It needs no knowledge of the input.
* :func:`sensitive_values` collects the *values* an input record holds under keys that name secrets
  (``secretAccessKey``, ``sessionToken``, ``password``, ``clientSecret``, ``sAMLMetadataDocument``...),
  and :func:`needles` cuts them into fragments to look for verbatim; so a secret whose shape no pattern
  knows (a password is any string) is still caught when an output repeats it, even clipped.

Access key ids (``AKIA...``, ``ASIA...``) are identifiers, not secrets: they are not matched. Findings
name them on purpose (which key to deactivate; the key a session was issued under), as CloudTrail, the
IAM console and Security Hub's own providers do; a key id alone grants nothing without its secret.
CloudTrail's own redaction marker ``HIDDEN_DUE_TO_SECURITY_REASONS`` is not a secret either.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

REDACTED_BY_CLOUDTRAIL = "HIDDEN_DUE_TO_SECURITY_REASONS"
# What CloudTrail writes, or what masks and placeholders look like: values that are not secrets.
_NOT_A_VALUE = re.compile(
    r"(?i)^(hidden_due_to_security_reasons|\*+|x+|<[^>]*>|\[redacted\]|redacted|null|none|true|false)$"
)
_VALUE_END = r"""(?=[\s"'`,;&)}\]\\]|$)"""


# Values that say something about a secret without being one: masks ([REDACTED], or ［REDACTED］ as the chat
# format writes brackets), CloudTrail's marker, and status words ("Password: password never used", a
# state finding's detail on an unused console password).
_NOT_SECRET = (
    rf"""(?!{REDACTED_BY_CLOUDTRAIL})(?!\*{{3}})(?![\[［]REDACTED[\]］])(?!<)"""
    r"""(?!(?:password|enabled|disabled|never|none|not|n/a|unknown|required|set|changed|true|false|null)\b)"""
)


def _secret_value(min_length: int) -> str:
    """A value after ``key=`` / ``"key": "``, that is not CloudTrail's redaction marker, a mask or a status word."""
    return rf"""(?i:{_NOT_SECRET})[^\s"'`,;&)}}\]\\]{{{min_length},}}{_VALUE_END}"""


_ASSIGN = (
    r"""(?:\\?["'])?\s*[:=]\s*(?:\\?["'])?\s*"""  # key": "value, key=value, key: value, escaped JSON quotes
)

PATTERNS: dict[str, re.Pattern[str]] = {
    # 40 characters of base64 after a name that says what it is (aws_secret_access_key=..., "secretAccessKey": "...").
    "aws-secret-access-key": re.compile(
        r"(?i)(?:aws_?secret(?:_?access)?_?key|secret_?access_?key|secretkey|aws_?secret)"
        + _ASSIGN
        + r"[A-Za-z0-9/+=]{40}(?![A-Za-z0-9/+=])"
    ),
    # The same 40 characters standing alone: mixed case, a digit, and a / or + (hex hashes, ids and
    # UUIDs never have both cases plus / or +).
    "aws-secret-access-key-shape": re.compile(
        r"(?<![A-Za-z0-9/+=])(?=[A-Za-z0-9/+]*[A-Z])(?=[A-Za-z0-9/+]*[a-z])(?=[A-Za-z0-9/+]*[0-9])"
        r"(?=[A-Za-z0-9/+]*[/+])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])"
    ),
    # STS session tokens and their older forms: base64 of a protobuf starting with "origin" / "aws".
    "aws-session-token": re.compile(
        r"(?:IQoJb3JpZ2lu|AgoJb3JpZ2lu|IgoJb3JpZ2lu|FwoGZXIvYXdz|FQoGZXIvYXdz|AQoDYXdz)[A-Za-z0-9/+=%]{16,}"
    ),
    "session-token-assignment": re.compile(
        r"(?i)(?:x-amz-security-token|session_?token|security_?token)" + _ASSIGN + _secret_value(16)
    ),
    "private-key-block": re.compile(r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----"),
    "password-assignment": re.compile(
        r"(?i)(?<![a-z])(?:new_?|old_?|current_?|user_?|db_?|admin_?)?(?:password|passwd|pwd)"
        + _ASSIGN
        + _secret_value(4)
    ),
    "client-secret-assignment": re.compile(r"(?i)client_?secret" + _ASSIGN + _secret_value(6)),
    "generic-secret-assignment": re.compile(
        r"(?i)(?<![a-z:])(?:secret|api_?key|apikey|access_?token|auth_?token|private_?key|token)"
        + _ASSIGN
        + _secret_value(8)
    ),
    "authorization-header": re.compile(
        r"(?i)authorization"
        + _ASSIGN
        + r"(?:bearer|basic|token|aws4-hmac-sha256|aws)\s+"
        + _NOT_SECRET
        + r"\S{8,}"
    ),
    "bearer-token": re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._~+/-]{16,}=*"),
    "aws-request-signature": re.compile(r"(?i)(?:x-amz-signature=|signature=)[0-9a-f]{64}"),
    "github-token": re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{40,})"),
    "slack-token": re.compile(r"\bxox[abposre]-[A-Za-z0-9-]{10,}"),
    "slack-webhook": re.compile(r"hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9/_-]{20,}"),
    "json-web-token": re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"),
}

# Keys whose values are secrets whatever they look like (compared without case, "_" and "-").
SENSITIVE_KEYS = frozenset(
    key.lower().replace("_", "").replace("-", "")
    for key in (
        "secretAccessKey",
        "sessionToken",
        "securityToken",
        "password",
        "newPassword",
        "oldPassword",
        "clientSecret",
        "sAMLMetadataDocument",
        "SAMLAssertion",
        "webIdentityToken",
        "privateKey",
        "addPrivateKey",
        "Authorization",
        "accessToken",
        "refreshToken",
        "idToken",
        "bearerToken",
        "token",
        "secret",
        "secretString",
        "secretBinary",
        "apiKey",
    )
)


@dataclass(frozen=True)
class Hit:
    pattern: str
    where: str
    text: str  # the match, with a little context

    def __str__(self) -> str:
        return f"{self.pattern} in {self.where}: {self.text!r}"


def scan(text: str, where: str = "output") -> list[Hit]:
    """Every key-like string in ``text`` (see :data:`PATTERNS`)."""
    hits = []
    for name, pattern in PATTERNS.items():
        for match in pattern.finditer(text):
            start, end = max(match.start() - 30, 0), min(match.end() + 10, len(text))
            hits.append(Hit(name, where, text[start:end]))
    return hits


def _normal(key: str) -> str:
    return key.lower().replace("_", "").replace("-", "")


def sensitive_values(value: object, *, under_sensitive_key: bool = False) -> Iterator[str]:
    """The strings held under :data:`SENSITIVE_KEYS` anywhere in a (JSON-like) record, except
    CloudTrail's redaction marker and masks."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from sensitive_values(
                item,
                under_sensitive_key=under_sensitive_key
                or (isinstance(key, str) and _normal(key) in SENSITIVE_KEYS),
            )
    elif isinstance(value, list):
        for item in value:
            yield from sensitive_values(item, under_sensitive_key=under_sensitive_key)
    elif isinstance(value, str) and under_sensitive_key:
        if value.strip() and not _NOT_A_VALUE.match(value.strip()):
            yield value


def needles(values: Iterable[str], *, size: int = 24, minimum: int = 8) -> set[str]:
    """Fragments to look for verbatim: a short value whole; a long one as slices of ``size`` characters
    from its start, middle and end, and from the start of each of its lines (outputs clip long values
    and put one line of a multi-line value on a line of their own)."""
    found: set[str] = set()
    for value in values:
        for line in [value, *value.splitlines()]:
            line = line.strip()
            if len(line) < minimum:
                continue
            if len(line) <= size:
                found.add(line)
                continue
            middle = (len(line) - size) // 2
            found.update({line[:size], line[middle : middle + size], line[-size:]})
    return found


def leaks(text: str, fragments: Iterable[str], where: str = "output") -> list[Hit]:
    """The fragments of known secret values that ``text`` repeats."""
    return [Hit("known-secret-value", where, fragment) for fragment in fragments if fragment in text]
