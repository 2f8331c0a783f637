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
# What the patterns need somewhere in a text to match at all (see _patterns_for). The (?i) patterns' needs are looked
# for in the lower-cased text: for ASCII text, (?i) matching is exactly matching the lower-cased text.
# - the 40-character key: a run of 40 of its characters ([A-Za-z0-9/+]), looked for in the ASCII text mapped to "a"
#   for them and " " for the rest (bytes.translate: an eighth of a regular expression's search on a user agent)
_KEY_CHARACTERS = bytes(0x61 if chr(byte).isascii() and (chr(byte).isalnum() or chr(byte) in "/+") else 0x20
                        for byte in range(256))
_KEY_RUN = b"a" * 40
# - the first pattern (key=value): every key of _KEYS ends in one of these words, and is followed by ":" or "="
#   (after an optional quote and blanks)
_KEY_VALUE_NEED = re.compile(r"""(?:key|secret|token|passw(?:or)?d|pwd)(?:\\?["'])?\s*[:=]""")
_SESSION_TOKEN_NEEDS = ("b3JpZ2lu", "ZXIvYXdz", "AQoDYXdz")  # in every prefix of the session-token pattern
_GITHUB_NEED = re.compile(r"gh[pousr]_|github_pat_")


def _patterns_for(text: str) -> tuple[re.Pattern[str], ...]:
    """The patterns of :data:`_PATTERNS` that can match ``text``, in their order: each only when the text has what
    the pattern cannot match without (its key word followed by ``:`` or ``=``, its scheme, its token prefix).
    Redacting with these alone gives what all eleven give: a replacement (``[REDACTED]``, between brackets that
    no pattern's needs contain) never makes what a later pattern needs. Text that is not ASCII gets every
    pattern: (?i) also matches non-ASCII letters (K for k, ſ for s)."""
    if not text.isascii():
        return _PATTERNS
    lower = text.lower()
    run = ("/" in text or "+" in text) and _KEY_RUN in text.encode("ascii").translate(_KEY_CHARACTERS)
    if not (run or "key" in lower or "secret" in lower or "token" in lower or "passw" in lower or "pwd" in lower
            or "authoriz" in lower or "bearer" in lower or "basic" in lower or "aws4" in lower or "signature" in lower
            or "-----begin" in lower or "b3jpz2lu" in lower or "zxivyxdz" in lower or "aqodyxdz" in lower
            or ("_" in lower and ("gh" in lower or "github_pat" in lower)) or "xox" in lower or "eyj" in lower):
        return ()  # most values (names, ARNs, user agents, descriptions): a few substring tests (no regex is faster)
    needs = (
        _KEY_VALUE_NEED.search(lower) is not None,
        "authorization" in lower,
        "bearer" in lower or "basic" in lower,
        "aws4-hmac-sha256" in lower,
        "signature=" in lower,
        "-----BEGIN " in text,
        any(need in text for need in _SESSION_TOKEN_NEEDS),
        _GITHUB_NEED.search(text) is not None,
        "xox" in text,
        "eyJ" in text,
        run,
    )
    return tuple(pattern for pattern, needed in zip(_PATTERNS, needs) if needed)


def redact(text: str | None) -> str | None:
    """``text`` with every key-like secret replaced by :data:`MARK` (``None`` stays ``None``)."""
    if not text:
        return text
    for pattern in _patterns_for(text):  # none for most values (names, ARNs, user agents)
        text = pattern.sub(_masked, text)
    return text


def _masked(match: re.Match[str]) -> str:
    return match.group(1) + MARK
