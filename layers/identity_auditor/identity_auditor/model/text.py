"""Making untrusted strings from events safe to show: no control characters, bounded length."""

from __future__ import annotations

import re
from datetime import datetime, timezone

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")
_CONTROL_OR_NEWLINE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
# Lone surrogates (from "\ud800" escapes in event JSON) are not characters: UTF-8 cannot encode them, so
# they would break URL quoting, SNS and stdout. They become U+FFFD, the replacement character.
_SURROGATE = re.compile("[\ud800-\udfff]")


def clip(text: object, limit: int, *, single_line: bool = True, ellipsis: str = "…") -> str:
    """``text`` as a string without control characters (and newlines, unless allowed) nor lone surrogates
    (U+FFFD instead), at most ``limit`` characters; a cut is marked with an ellipsis."""
    pattern = _CONTROL_OR_NEWLINE if single_line else _CONTROL
    cleaned = pattern.sub(" ", "" if text is None else str(text))
    if not cleaned.isascii():
        cleaned = _SURROGATE.sub("\ufffd", cleaned)
    return cleaned if len(cleaned) <= limit else cleaned[: max(limit - len(ellipsis), 0)] + ellipsis


# Characters that hide or reorder text: zero-width, bidi controls, word joiners, BOM; lone surrogates
# (from "\ud800" escapes in event JSON) cannot be encoded at all.
# Also the soft hyphen, the Arabic letter mark, the Mongolian vowel separator, Hangul fillers (they render as
# blanks), invisible operators and the tag characters (which can spell hidden text).
_INVISIBLE = re.compile("[\u00ad\u061c\u180e\u115f\u1160\u3164\uffa0\u200b-\u200f\u202a-\u202e"
                        "\u2060-\u2064\u2066-\u206f\ufeff\U000e0000-\U000e007f]")


def clean(value: object, limit: int) -> str:
    """An untrusted value on one line for a person to read (alerts, the terminal): no control characters
    (terminal escapes included), nothing that hides or reorders text, at most ``limit`` characters."""
    raw = "" if value is None else str(value)
    return clip(_INVISIBLE.sub("", raw), limit)


def ascii_clip(text: object, limit: int) -> str:
    """Like :func:`clip` but ASCII only (SNS subjects): other characters become ``?``, a cut ``...``."""
    return clip(str(text).encode("ascii", "replace").decode("ascii"), limit, ellipsis="...")


def as_utc(moment: datetime) -> datetime:
    """``moment`` with a time zone: naive datetimes (as some parsers give) are taken as UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def iso_utc(moment: datetime) -> str:
    """RFC 3339 in UTC with milliseconds and a ``Z``, as ASFF expects."""
    return as_utc(moment).astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
