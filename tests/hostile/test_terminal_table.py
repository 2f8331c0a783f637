"""The findings table on a terminal (``rich``, cli/table.py) with attacker-controlled text: a session name or a
resource holding rich markup (``[bold red]``, ``[link=...]``), terminal escapes (colour, clear screen, an OSC 8
hyperlink, a title change), bidi overrides, zero-width characters and lone surrogates. Whatever the value, the
terminal receives it as text: the markup is shown as typed (never read as markup), and the only escape
sequences in the output are rich's own colour codes (SGR), written to a strict UTF-8 stream."""

from __future__ import annotations

import copy
import io
import json
import re

import pytest
from hostile_cases import HOSTILE_STRINGS, count
from identity_auditor.cli.main import main
from support import load_sample

SUITE = "cli"
SAMPLE = "sso_create_account_assignment_user__constructed.json"
SGR = re.compile(r"\x1b\[[0-9;]*m")  # rich's own styles: colour, bold, dim
INVISIBLE_OR_BIDI = re.compile("[\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]")
MARKUP = {
    "rich-markup": "[bold red]root[/bold red][link=https://evil.example]x[/link]",
    "escapes": "jane\x1b[2J\x1b]8;;https://evil.example\x07click\x1b]8;;\x07\x1b]0;title\x07\x1b[31m",
}
CASES = {**MARKUP, **HOSTILE_STRINGS}


class Terminal(io.TextIOWrapper):
    """A strict UTF-8 stream that says it is a terminal (as stdout of an interactive shell)."""

    def isatty(self) -> bool:
        return True


def render(tmp_path, session_name: str, resource: str, *argv: str) -> tuple[int, str]:
    detail = copy.deepcopy(load_sample(SAMPLE)["detail"])
    identity = detail["userIdentity"]
    identity["arn"] = identity["arn"].replace("jane@example.com", session_name)
    identity["principalId"] = identity["principalId"].replace("jane@example.com", session_name)
    detail["requestParameters"]["targetId"] = resource
    path = tmp_path / "hostile.json"
    path.write_text(json.dumps({"Records": [detail]}))
    raw = io.BytesIO()
    out = Terminal(raw, encoding="utf-8", errors="strict", newline="")
    code = main(["evaluate", str(path), "--format", "table", "--jobs", "1", *argv], stdout=out, stderr=io.StringIO())
    out.flush()
    return code, raw.getvalue().decode("utf-8")


@pytest.mark.parametrize("name", sorted(CASES))
def test_hostile_text_reaches_the_terminal_as_text(tmp_path, monkeypatch, name):
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.delenv("NO_COLOR", raising=False)
    code, text = render(tmp_path, CASES[name][:300], CASES[name][:300])
    count(SUITE)
    assert code == 0
    assert "\x1b[1;31m" in text  # a rich table in colour (the HIGH severity), not the plain one
    visible = SGR.sub("", text)
    assert "\x1b" not in visible and "\x07" not in visible  # no escape of the attacker's reaches the terminal
    assert not INVISIBLE_OR_BIDI.search(visible)
    assert not re.search("[\ud800-\udfff]", visible)


def test_markup_is_shown_as_typed(tmp_path, monkeypatch):
    monkeypatch.setenv("COLUMNS", "250")
    code, text = render(tmp_path, "[bold red]root[/bold red]", "444455556666")
    assert code == 0
    visible = SGR.sub("", text)
    assert "[bold red]root[/bold red]" in visible.replace("\n", "")  # as typed: neither styled nor dropped
    escapes = re.sub(r"\x1b\[1;31mHIGH", "", text)  # the severity is red; the actor is not
    assert "\x1b[1;31m" not in escapes and "\x1b[1m\x1b[31m" not in escapes
