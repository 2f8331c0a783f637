"""The CLI for a person at a terminal: the findings table drawn by rich (colours by severity, the terminal's
width, NO_COLOR and --no-color honoured, suppressed findings marked) while a pipe or a file still gets the plain
columns scripts split; and shell completion generated from the argument parser."""

from __future__ import annotations

import io
import re
import shutil
import subprocess

import pytest
from identity_auditor.cli.main import main, parser
from support import CORPUS

INVICTUS = CORPUS / "invictus"
SGR = re.compile(r"\x1b\[([0-9;]*)m")
COLOUR = re.compile(r"\x1b\[[0-9;]*\b(3[0-7]|4[0-7]|9[0-7]|38|48)\b[0-9;]*m")


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def table(*argv: str, out: io.StringIO | None = None) -> str:
    out = out if out is not None else Terminal()
    code = main(["evaluate", str(INVICTUS), "--format", "table", *argv], stdout=out, stderr=io.StringIO())
    assert code == 0
    return out.getvalue()


@pytest.fixture(autouse=True)
def terminal(monkeypatch):
    monkeypatch.setenv("COLUMNS", "132")
    monkeypatch.delenv("NO_COLOR", raising=False)


def test_a_terminal_gets_a_coloured_table_as_wide_as_itself():
    text = table()
    assert "\x1b[1;37;41mCRITICAL" in text and "\x1b[1;31mHIGH" in text and "\x1b[33mMEDIUM" in text
    lines = SGR.sub("", text).splitlines()
    assert lines[0].split() == ["SEVERITY", "RULE", "/", "WHAT", "HAPPENED", "TIME", "ACCOUNT", "ACTOR", "RESOURCE"]
    assert max(map(len, lines)) == 132
    severities = [line.split()[0] for line in lines[2:] if line[:1].isalpha()]
    assert severities[:6] == ["CRITICAL"] * 6 and severities[6:16] == ["HIGH"] * 10  # most severe first
    assert "23 findings (6 critical, 10 high, 7 medium)" in text


@pytest.mark.parametrize("how", ["NO_COLOR", "--no-color before", "--no-color after"])
def test_no_color_and_the_option_turn_colours_off(monkeypatch, how):
    argv = ()
    if how == "NO_COLOR":
        monkeypatch.setenv("NO_COLOR", "1")
    elif how == "--no-color after":
        argv = ("--no-color",)
    if how == "--no-color before":
        out = Terminal()
        assert main(["--no-color", "evaluate", str(INVICTUS), "--format", "table"], stdout=out,
                    stderr=io.StringIO()) == 0
        text = out.getvalue()
    else:
        text = table(*argv)
    assert "CRITICAL" in text and not COLOUR.search(text)
    monkeypatch.delenv("NO_COLOR", raising=False)
    assert "\x1b[1;31m" in table()  # the next run, without the option, has its colours again


def test_a_pipe_gets_the_plain_columns():
    text = table(out=io.StringIO())
    assert "\x1b" not in text
    assert text.splitlines()[0].split() == ["SEVERITY", "RULE", "TIME", "ACCOUNT", "ACTOR", "RESOURCE"]


def test_a_suppressed_finding_is_marked_on_the_terminal(tmp_path, monkeypatch):
    monkeypatch.setenv("COLUMNS", "320")  # the suppression on one line of its column
    policy = tmp_path / "policy.yaml"
    policy.write_text("version: 1\nrules:\n  cloudtrail_logging_disabled:\n    suppress:\n"
                      "      - resource: '*'\n        reason: red-team exercise\n"
                      "        owner: secops\n        expires: '2099-12-31'\n")
    visible = SGR.sub("", table("--policy", str(policy)))
    assert visible.count("suppressed") == 3
    assert visible.count("SUPPRESSED until 2099-12-31 (owner secops): red-team exercise") == 3


def subcommands() -> list[str]:
    (commands,) = [action for action in parser()._actions if action.dest == "command"]
    return sorted(commands.choices)


def completion(shell: str) -> str:
    out = io.StringIO()
    assert main(["completion", shell], stdout=out, stderr=io.StringIO()) == 0
    return out.getvalue()


def test_bash_completion_names_every_command():
    script = completion("bash")
    (listed,) = re.findall(r"^_shtab_identity_auditor_subparsers=\((.*)\)$", script, re.MULTILINE)
    assert sorted(listed.split()) == subcommands()
    assert {"audit-account", "completion", "evaluate", "redrive"} <= set(subcommands())
    assert "--organization" in script and "--no-color" in script
    assert "complete -o bashdefault -F _shtab_identity_auditor identity-auditor" in script
    assert "_shtab_identity_auditor_evaluate_pos_0_COMPGEN=_shtab_compgen_files" in script  # PATH: file names
    checked = subprocess.run(["bash", "-n"], input=script, text=True, capture_output=True, check=False)
    assert checked.returncode == 0, checked.stderr


@pytest.mark.parametrize("shell, syntax", [("zsh", ["zsh", "-n"]), ("fish", ["fish", "--no-execute"])])
def test_zsh_and_fish_completion_name_every_command(shell, syntax):
    script = completion(shell)
    for command in subcommands():
        assert command in script
    if shutil.which(syntax[0]):  # the shell's own parser, where it is installed
        checked = subprocess.run(syntax, input=script, text=True, capture_output=True, check=False)
        assert checked.returncode == 0, checked.stderr


def test_an_unknown_shell_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["completion", "powershell"])
    assert exit_.value.code == 2 and "invalid choice" in capsys.readouterr().err
