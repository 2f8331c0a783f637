"""Secrets never leave the auditor: key-like strings in the free text a finding copies from a record.

CloudTrail itself redacts passwords, secret access keys and the like (``HIDDEN_DUE_TO_SECURITY_REASONS``),
and no rule copies a secret-bearing request parameter into a finding. But some values a finding must show
are free text the caller chose: the user agent above all (a tool can put ``AWS_SECRET_ACCESS_KEY=...`` or an
``Authorization`` header there), and a rule's description or details could one day quote one. Such text
goes through :func:`redact` before it becomes part of a finding, so it reaches no ASFF document, alert,
queued delivery, CLI output or log line.

Only the secret is replaced (by :data:`MARK`); the rest of the text stays for triage. Access key ids
(``AKIA...``/``ASIA...``) are identifiers, not secrets, and are kept: findings name them on purpose.
"""

from __future__ import annotations

import re

MARK = "[REDACTED]"

_VALUE = r"""[^\s"'`,;&)}\]\\]+"""  # a value up to the next separator
_KEYS = (
    r"aws_?secret(?:_?access)?_?key|secret_?access_?key|secret_?key|client_?secret|x-amz-security-token"
    r"|session_?token|security_?token|access_?token|refresh_?token|id_?token|auth_?token|api_?key|private_?key"
    r"|(?:new_?|old_?|current_?)?password|passwd|pwd|secret|token"
)
_PATTERNS = (
    # key=value, key: value, "key": "value" (the key is kept, the value replaced)
    re.compile(
        rf"""(?i)(?<![a-z:])((?:{_KEYS})(?:\\?["'])?\s*[:=]\s*(?:\\?["'])?\s*)(?!\[REDACTED\]){_VALUE}"""
    ),
    # Authorization headers, and bearer or basic credentials standing alone (with a digit or a symbol, so
    # that prose such as "basic authentication" is left alone)
    re.compile(
        r"""(?i)(authorization(?:\\?["'])?\s*[:=]\s*(?:\\?["'])?\s*(?:(?:bearer|basic|digest|token)\s+)?)"""
        r"(?!\[REDACTED\])(?!AWS4-HMAC-SHA256)[A-Za-z0-9._~+/=-]+"
    ),
    re.compile(
        r"(?i)(\b(?:bearer|basic)\s+)(?!\[REDACTED\])(?=[A-Za-z0-9._~+/=-]*[0-9._~+/=])[A-Za-z0-9._~+/=-]{8,}"
    ),
    re.compile(r"(?i)(\bAWS4-HMAC-SHA256\s+)\S+(?:\s*,\s*\S+=\S+)*"),
    re.compile(r"(?i)((?:x-amz-)?signature=)[0-9a-f]{64}"),
    # shapes that are secrets wherever they stand
    re.compile(
        r"()-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----.*?(?:-----END [A-Z0-9 ]*-----|$)", re.S
    ),
    re.compile(
        r"()(?:IQoJb3JpZ2lu|AgoJb3JpZ2lu|IgoJb3JpZ2lu|FwoGZXIvYXdz|FQoGZXIvYXdz|AQoDYXdz)[A-Za-z0-9/+=%]+"
    ),
    re.compile(r"()\b(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{40,})"),
    re.compile(r"()\bxox[abposre]-[A-Za-z0-9-]{10,}"),
    re.compile(r"()\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"),
    # a secret access key standing alone: 40 characters of base64 with both cases, a digit and / or +
    re.compile(
        r"()(?<![A-Za-z0-9/+=])(?=[A-Za-z0-9/+]*[A-Z])(?=[A-Za-z0-9/+]*[a-z])(?=[A-Za-z0-9/+]*[0-9])"
        r"(?=[A-Za-z0-9/+]*[/+])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])"
    ),
)
# What every pattern above needs somewhere in the text, lower-cased: a key word, a scheme, a token's prefix (for
# ASCII text, where (?i) matching is exactly lower-casing); the 40-character key is looked for as a run of its
# characters. A text with none of them (a name, an ARN, a user agent) has nothing to redact: returned at once.
_WORDS = ("secret", "token", "key", "passw", "pwd", "authoriz", "bearer", "basic", "aws4", "signature",
          "-----begin", "b3jpz2lu", "zxivyxdz", "aqodyxdz", "ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_",
          "xox", "eyj")
_KEY_RUN = re.compile(r"[A-Za-z0-9/+]{40}")


def _may_hold_a_secret(text: str) -> bool:
    if not text.isascii():  # (?i) also matches non-ASCII letters (K for k, ſ for s): every pattern decides
        return True
    lower = text.lower()
    return any(word in lower for word in _WORDS) or (("/" in text or "+" in text) and _KEY_RUN.search(text) is not None)


def redact(text: str | None) -> str | None:
    """``text`` with every key-like secret replaced by :data:`MARK` (``None`` stays ``None``)."""
    if not text or not _may_hold_a_secret(text):  # most values (names, ARNs, user agents) are left at once
        return text
    return _redact_all(text)


def _redact_all(text: str) -> str:
    for pattern in _PATTERNS:
        text = pattern.sub(lambda match: match.group(1) + MARK, text)
    return text
