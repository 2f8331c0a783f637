"""Checks shared by the report tests: OCSF validity, and the headless browser that renders report.html."""

from __future__ import annotations

import os
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

def assert_valid_ocsf(event: dict) -> None:
    """Valid by py-ocsf-models (its pydantic model of the event's class) with nothing outside that model
    (the event survives a round trip unchanged), every attribute the model requires present, and OCSF's fixed
    rules: category 2 (Findings), ``type_uid = class_uid * 100 + activity_id``, schema version 1.5.0.

    OCSF's own JSON schema is not used: neither py-ocsf-models nor ocsf-lib ships it (ocsf-lib downloads it
    from the OCSF schema server, which this project's machines cannot reach)."""
    from py_ocsf_models.events.findings.compliance_finding import ComplianceFinding
    from py_ocsf_models.events.findings.detection_finding import DetectionFinding

    model = {2004: DetectionFinding, 2003: ComplianceFinding}[event["class_uid"]]
    parsed = model.model_validate(event)
    assert parsed.model_dump(mode="json", exclude_none=True) == event, "an attribute outside the library's model"
    for name, field in model.model_fields.items():
        if field.is_required():
            assert event.get(name) is not None, f"required attribute {name} missing"
    assert event["category_uid"] == 2 and event["category_name"] == "Findings"
    assert event["type_uid"] == event["class_uid"] * 100 + event["activity_id"]
    assert event["metadata"]["version"] == "1.5.0" and event["metadata"]["product"]["vendor_name"]
    assert event["finding_info"]["uid"] and event["finding_info"]["title"]
    assert isinstance(event["time"], int) and event["time"] > 0
    assert 0 <= event["severity_id"] <= 6


BROWSER_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--hide-scrollbars", "--disable-extensions", "--mute-audio")


def chromium() -> str:
    """Debian's chromium, or the test is skipped saying so; under CI (CI set) a missing browser fails."""
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path:
        return path
    message = "browser check skipped: chromium not installed (apt-get install chromium)"
    if os.environ.get("CI"):
        pytest.fail(f"{message}; .ci/run installs it, so CI must have it")
    pytest.skip(message)


def browse(page: Path, profile: Path, *extra: str) -> subprocess.CompletedProcess:
    """Run headless chromium on ``page`` (a local file) with ``extra`` (``--dump-dom``, ``--screenshot=...``)."""
    return subprocess.run(
        [chromium(), *BROWSER_FLAGS, f"--user-data-dir={profile}", *extra, page.resolve().as_uri()],
        capture_output=True, text=True, timeout=180, check=True, stdin=subprocess.DEVNULL,
    )


class Dom(HTMLParser):
    """The rendered DOM: element names, the text of elements by id and by data attribute, all text."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.by_key: dict[str, str] = {}
        self.text: list[str] = []
        self._open: list[str | None] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        attrs = dict(attrs)
        key = attrs.get("id") or (f"severity:{attrs['data-severity']}" if "data-severity" in attrs and tag == "span"
                                  else None)
        if key:
            self.by_key[key] = ""
        self._open.append(key)

    def handle_endtag(self, tag):
        if self._open:
            self._open.pop()

    def handle_data(self, data):
        self.text.append(data)
        for key in self._open:
            if key:
                self.by_key[key] += data
