"""Attacker-chosen text in a finding (actor, session name, resource, description, details, subject, region,
account) cannot add markup, a script, an event handler or a link to report.html, nor reorder or split its
text: every hostile string of hostile_cases.HOSTILE_STRINGS goes into every such field of a real finding.

The page is parsed (html.parser) and compared with the page rendered from the same finding without the
hostile text: the same elements with the same attributes, in the same order. Then the hostile values are
checked to be there as text (escaped), without CR/LF, control or bidi characters."""

from __future__ import annotations

import dataclasses
import io
import re
from html.parser import HTMLParser

import pytest
from hostile_cases import HOSTILE_STRINGS
from identity_auditor.cli.reports.html import render
from identity_auditor.cli.reports.summary import summarise
from support import findings_from, load_sample

SCRIPT = '<script>alert(1)</script>"><img src=x onerror=alert(1)>\r\nX-Injected: 1 \u202eevil\u202c'
UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]")


class Structure(HTMLParser):
    """The page's elements and attributes (with attribute values that are not the findings' own text)."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, tuple[str, ...]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, tuple(sorted(name for name, _ in attrs))))
        for name, value in attrs:
            assert not name.startswith("on"), f"event handler attribute {name}={value!r}"
            if name in ("href", "src"):
                assert value.startswith("https://docs.aws.amazon.com/"), f"{name}={value!r}"

    def handle_data(self, data):
        self.text.append(data)


def page(finding) -> str:
    out = io.StringIO()
    render(summarise([finding]), out, title="hostile", generated="now")
    return out.getvalue()


def parsed(html: str) -> Structure:
    structure = Structure()
    structure.feed(html)
    structure.close()
    return structure


def hostile(finding, text: str):
    actor = dataclasses.replace(finding.actor, name=text, arn=f"arn:aws:sts::123456789012:assumed-role/R/{text}",
                                source_ip=text, user_agent=text)
    return dataclasses.replace(finding, actor=actor, resource_id=text, description=text, subject=text,
                               details={text[:50] or "k": text, "Other": text}, region=text[:100],
                               account_id=text[:40])


@pytest.fixture(scope="module")
def finding():
    (finding,) = findings_from(load_sample("iam_create_user")["detail"])
    return finding


@pytest.fixture(scope="module")
def clean_structure(finding):
    return parsed(page(hostile(finding, "plain"))).tags


@pytest.mark.parametrize("name", [*HOSTILE_STRINGS, "script"])
def test_hostile_text_adds_no_element_or_attribute(finding, clean_structure, name):
    text = SCRIPT if name == "script" else HOSTILE_STRINGS[name]
    html = page(hostile(finding, text))
    structure = parsed(html)
    if text:
        assert structure.tags == clean_structure
    else:  # an empty subject is left out, with its element
        assert set(structure.tags) <= set(clean_structure)
    assert not UNSAFE.search(html.replace("\n", ""))  # no CR, control, zero-width or bidi character anywhere


def test_a_script_is_shown_as_text(finding):
    html = page(hostile(finding, SCRIPT))
    assert "<script" not in html and "<img" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;&#34;&gt;&lt;img src=x onerror=alert(1)&gt;" in html
    text = "".join(parsed(html).text)
    assert '<script>alert(1)</script>"><img src=x onerror=alert(1)>  X-Injected: 1 evil' in text
