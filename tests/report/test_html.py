from __future__ import annotations

import base64
import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path

from cloudwarden.core.finding import Evidence, Finding, ResourceRef, Source, Status
from cloudwarden.core.severity import Severity
from cloudwarden.detect import ReadReport, iter_records
from cloudwarden.report import (
    Organisation,
    ReportContext,
    build_summary,
    render_report,
    summarise_activity,
    write_report,
)
from cloudwarden.report.html import json_for_script
from tests.conftest import shared_path

EVIL = "</script><script>alert(1)</script>"


@dataclass
class Element:
    tag: str
    attrs: dict[str, str]
    text: str = ""


@dataclass
class Page(HTMLParser):
    """Every element with its attributes and its own text (enough to check structure and escaping)."""

    elements: list[Element] = field(default_factory=list)
    _open: list[Element] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__(convert_charrefs=True)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, {k: v or "" for k, v in attrs})
        self.elements.append(element)
        if tag not in ("meta", "input", "br", "line", "rect", "link", "img"):
            self._open.append(element)

    def handle_endtag(self, tag: str) -> None:
        for i in range(len(self._open) - 1, -1, -1):
            if self._open[i].tag == tag:
                del self._open[i:]
                break

    def handle_data(self, data: str) -> None:
        if self._open:
            self._open[-1].text += data

    def find(self, tag: str, **attrs: str) -> list[Element]:
        return [e for e in self.elements if e.tag == tag and all(e.attrs.get(k) == v for k, v in attrs.items())]

    def by_id(self, ident: str) -> Element:
        (element,) = [e for e in self.elements if e.attrs.get("id") == ident]
        return element


def parse(html: str) -> Page:
    page = Page()
    page.feed(html)
    page.close()
    return page


def _finding(n: int, source: Source, severity: Severity, title: str, **fields: object) -> Finding:
    return Finding.create(
        source=source,
        rule_id=f"rule-{n}",
        type=str(fields.pop("type", "Software and Configuration Checks/AWS Security Best Practices")),
        title=title,
        severity=severity,
        account_id=str(fields.pop("account_id", "222222222222")),
        region="us-east-1",
        resource=ResourceRef(type="AwsS3Bucket", id=f"arn:aws:s3:::bucket-{n}"),
        seen=datetime(2026, 3, 1, 10, n, tzinfo=UTC),
        **fields,  # type: ignore[arg-type]
    )


FINDINGS = [
    _finding(1, Source.POSTURE, Severity.LOW, "Bucket versioning is off", control_id="S3.14", status=Status.PASSED),
    _finding(
        2,
        Source.POSTURE,
        Severity.CRITICAL,
        "Bucket is public & readable",
        control_id="S3.2",
        frameworks={"cis-aws-5.0": ["2.1.4"]},
        remediation="See https://docs.aws.amazon.com/s3/",
    ),
    _finding(
        3,
        Source.DETECT,
        Severity.HIGH,
        EVIL,
        type="Stealth:IAMUser/CloudTrailLoggingDisabled",
        mitre=["T1562.008"],
        evidence=Evidence(event_ids=["ev-1", "ev-2"]),
        account_id="333333333333",
        principal="arn:aws:iam::333333333333:user/bob",
        description="Logging <b>stopped</b>\u2028here",
    ),
    _finding(4, Source.IAM, Severity.MEDIUM, "Role trusts any principal"),
]
ORG = Organisation(
    name="demo",
    accounts={"management": "123456789012", "prod": "222222222222", "dev": "333333333333"},
    ous={"Workloads": ["222222222222", "333333333333"]},
)


def _context(**overrides: object) -> ReportContext:
    args: dict[str, object] = {
        "title": "cloudwarden report",
        "generated_at": datetime(2026, 3, 1, 12, 0, tzinfo=UTC),
        "tool_version": "0.1.0",
        "environment": "lab at http://127.0.0.1:4566",
        "organisation": ORG,
        "stage_timings": {"scan": 2.0, "detect": 0.5},
    }
    args.update(overrides)
    return ReportContext(**args)  # type: ignore[arg-type]


def _records() -> list[dict[str, object]]:
    return [
        {
            "eventTime": f"2026-03-01T10:0{m}:00Z",
            "eventSource": "iam.amazonaws.com",
            "eventName": "ListUsers",
            "sourceIPAddress": "198.51.100.23",
            "readOnly": True,
            "awsRegion": "us-east-1",
            "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::222222222222:user/alice"},
        }
        for m in (0, 0, 3)
    ]


def _render(findings: list[Finding] = FINDINGS, **context: object) -> tuple[str, Page]:
    activity = summarise_activity(_records())
    html = render_report(findings, build_summary(findings, {"scan": 2.0}, {}), activity, _context(**context))
    return html, parse(html)


def test_embedded_json_round_trips_the_findings() -> None:
    _, page = _render()
    (block,) = page.find("script", type="application/json")
    data = json.loads(block.text)
    assert sorted(json.dumps(d, sort_keys=True) for d in data) == sorted(
        json.dumps(f.to_json_dict(), sort_keys=True) for f in FINDINGS
    )
    by_id = {f.id: f for f in FINDINGS}
    assert all(Finding.from_json_dict(d) == by_id[d["id"]] for d in data)
    # rows point at their finding in the JSON by index
    rows = page.find("tr", **{"class": "finding"})
    assert [data[int(r.attrs["data-index"])]["id"] for r in rows] == [r.attrs["data-id"] for r in rows]
    assert [r.attrs["data-severity"] for r in rows] == ["CRITICAL", "HIGH", "MEDIUM", "LOW"]


def test_a_title_cannot_break_out_of_the_page() -> None:
    html, page = _render()
    scripts = page.find("script")
    assert len(scripts) == 2  # the JSON block and our own script, nothing injected
    assert "<script>alert(1)" not in html
    assert "\u2028" not in page.find("script", type="application/json")[0].text
    titles = [e.text for e in page.find("td", **{"class": "title"})]
    assert EVIL in titles  # shown as text, exactly
    assert "<b>stopped</b>" not in html.replace("\\u003cb\\u003e", "")


def test_nothing_is_loaded_from_the_network_and_the_csp_pins_our_script() -> None:
    html, page = _render()
    for element in page.elements:
        assert "src" not in element.attrs or not element.attrs["src"], element
        if element.tag != "a":
            assert not re.match(r"(https?:)?//", element.attrs.get("href", "")), element
    assert not page.find("link")
    assert "@import" not in html
    assert "url(" not in html
    (csp,) = page.find("meta", **{"http-equiv": "Content-Security-Policy"})
    policy = csp.attrs["content"]
    assert "default-src 'none'" in policy
    (ours,) = [s for s in page.find("script") if "type" not in s.attrs]
    digest = base64.b64encode(hashlib.sha256(ours.text.encode()).digest()).decode()
    assert f"'sha256-{digest}'" in policy


def test_filter_and_sort_controls_exist() -> None:
    _, page = _render()
    assert page.by_id("filter-text").tag == "input"
    for name, expected in (
        ("severity", ["", "CRITICAL", "HIGH", "MEDIUM", "LOW"]),
        ("source", ["", "detect", "iam", "posture"]),
        ("status", ["", "ACTIVE", "FAILED", "PASSED"]),
    ):
        assert page.by_id(f"filter-{name}").tag == "select"
        index = page.elements.index(page.by_id(f"filter-{name}"))
        options = []
        for element in page.elements[index + 1 :]:
            if element.tag != "option":
                break
            options.append(element.attrs["value"])
        assert options == expected
    sortable = [th.attrs["data-sort"] for th in page.elements if th.tag == "th" and "data-sort" in th.attrs]
    assert {"severityRank", "title", "source", "status", "account", "lastSeen"} <= set(sortable)
    rows = page.find("tr", **{"class": "finding"})
    for th_key in sortable:  # every sort key is present on every row (as its data-* attribute)
        attr = "data-" + re.sub(r"([A-Z])", lambda m: "-" + m.group(1).lower(), th_key)
        assert all(attr in r.attrs for r in rows), attr
    evil_row = next(r for r in rows if r.attrs["data-title"] == EVIL)
    assert "t1562.008" in evil_row.attrs["data-search"]
    assert "dev (333333333333)" in evil_row.attrs["data-search"]


def test_sections_show_organisation_activity_and_timings() -> None:
    html, page = _render()
    accounts = page.by_id("org-accounts")
    assert accounts.tag == "table"
    cells = [e.text for e in page.find("td")]
    assert "222222222222" in cells and "Workloads" in cells
    rects = page.find("rect")
    assert len(rects) == 2  # two minutes with records; the zero-filled ones draw nothing
    assert "arn:aws:iam::222222222222:user/alice" in cells
    assert page.by_id("timings").tag == "table"
    assert "scan" in cells
    assert "No analyser produced findings yet" not in html


def test_zero_findings_and_no_activity_still_make_a_useful_page(tmp_path: Path) -> None:
    path = write_report([], build_summary([], {}, {}), None, _context(stage_timings={}), tmp_path / "out" / "r.html")
    page = parse(path.read_text())
    assert "No analyser produced findings yet" in page.by_id("no-findings").text
    assert json.loads(page.find("script", type="application/json")[0].text) == []
    assert page.by_id("org-accounts").tag == "table"
    assert "No CloudTrail records were read" in path.read_text()


def test_skipped_log_input_is_shown(tmp_path: Path) -> None:
    (tmp_path / "bad.json").write_text('{"not": "cloudtrail"}')
    (tmp_path / "ok.json").write_text(json.dumps({"Records": _records()}))
    read = ReadReport()
    records = list(iter_records([tmp_path], read))
    html = render_report([], build_summary([], {}, {}), summarise_activity(records), _context(log_read=read))
    page = parse(html)
    skipped = [e.text for e in page.find("td")]
    assert str(tmp_path / "bad.json") in skipped
    assert "Read 3 records from 1 file" in " ".join(page.by_id("log-read").text.split())


def test_renders_the_stratus_logs() -> None:
    read = ReadReport()
    records = list(iter_records([shared_path("data", "stratus-detonations")], read))
    activity = summarise_activity(records)
    page = parse(render_report(FINDINGS, build_summary(FINDINGS, {}, {}), activity, _context(log_read=read)))
    assert len(page.find("rect")) == sum(1 for b in activity.timeline if b.count)
    assert page.by_id("console-logins").tag == "table"


def test_secrets_in_evidence_never_reach_the_page() -> None:
    secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
    leaky = _finding(
        9,
        Source.DETECT,
        Severity.HIGH,
        "Key used from Tor",
        evidence=Evidence(event_ids=["ev-9"], details={"SecretAccessKey": secret, "AccessKeyId": "AKIA1"}),
    )
    html, page = _render([leaky])
    assert secret not in html
    (data,) = json.loads(page.find("script", type="application/json")[0].text)
    assert data["evidence"]["details"] == {"SecretAccessKey": "[REDACTED]", "AccessKeyId": "AKIA1"}


def test_json_for_script_escapes_what_html_would_read() -> None:
    text = str(json_for_script({"t": "</script><!-- & \u2028"}))
    assert not set("<>&") & set(text)
    assert "\u2028" not in text
    assert json.loads(text) == {"t": "</script><!-- & \u2028"}
