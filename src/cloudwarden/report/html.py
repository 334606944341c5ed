"""Render the self-contained HTML report (``report.html``) from findings, the run summary and CloudTrail activity.

One file that opens offline: CSS and JavaScript are inlined, nothing is fetched (a Content-Security-Policy
with ``default-src 'none'`` and the script's own hash makes the browser enforce that), and the findings are
embedded once as JSON in a ``<script type="application/json">`` block with ``<``, ``>`` and ``&`` escaped,
so no finding text can close the block. Jinja2 renders with autoescape on; the only markup built here is
the timeline SVG, from numbers and escaped labels.

The report must be useful before any analyser exists, so every section copes with emptiness: no findings,
no CloudTrail records, no organisation, no stage figures in the summary. The Posture, Identity and Response
sections are built by :mod:`cloudwarden.report.sections` from ``summary["stages"]`` and the findings.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup, escape

from cloudwarden.core.finding import Finding
from cloudwarden.detect.cloudtrail_files import ReadReport
from cloudwarden.report.activity import ActivitySummary, TimelineBucket
from cloudwarden.report.sections import account_label, stage_sections
from cloudwarden.report.summary import OPEN_STATUSES, SEVERITIES_DESC

SKIPPED_SHOWN = 50  # skipped files / records listed in the report; the counts are always complete
_SCRIPT_UNSAFE = ("&", "<", ">", "\u2028", "\u2029")  # written as \u escapes inside the JSON block


@dataclass(frozen=True)
class Organisation:
    """What we know of the AWS organisation: account alias → id, and OU name → account ids when known."""

    name: str | None = None
    accounts: Mapping[str, str] = field(default_factory=dict)
    ous: Mapping[str, Sequence[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class ReportContext:
    """Everything the report says about the run itself rather than about its findings."""

    title: str
    generated_at: datetime
    tool_version: str
    environment: str  # "lab at http://127.0.0.1:4566", "AWS account 123456789012", ...
    organisation: Organisation | None = None
    stage_timings: Mapping[str, float] = field(default_factory=dict)
    log_read: ReadReport | None = None  # what the CloudTrail reader read and skipped


def render_report(
    findings: Iterable[Finding],
    summary: Mapping[str, Any],
    activity: ActivitySummary | None,
    context: ReportContext,
) -> str:
    """The report as one HTML document (a string)."""
    env = _environment()
    # Redacted again here: a producer's slip must not put a secret into a file people pass around.
    items = sorted((f.redacted() for f in findings), key=lambda f: (-f.severity.rank, f.title, f.id))
    script = env.get_template("report.js.j2").render()
    style = env.get_template("report.css.j2").render()
    script_hash = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    csp = (
        "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
        f"script-src 'sha256-{script_hash}'; base-uri 'none'; form-action 'none'"
    )
    aliases = {v: k for k, v in (context.organisation.accounts.items() if context.organisation else ())}
    return env.get_template("report.html.j2").render(
        ctx=context,
        generated_at=_when(context.generated_at),
        csp=csp,
        style=Markup(style),  # safe: our own static stylesheet
        script=Markup(script),  # safe: our own static script, pinned by its hash in the CSP
        findings_json=json_for_script([f.to_json_dict() for f in items]),
        rows=[_row(i, f, aliases) for i, f in enumerate(items)],
        overview=_overview(items, summary, activity, context),
        filters=_filter_options(items),
        activity=activity,
        activity_view=_activity_view(activity) if activity else None,
        timeline_svg=timeline_svg(activity.timeline, activity.bucket_minutes) if activity else None,
        timings=_timings(context.stage_timings),
        org=_org_view(context.organisation, items),
        log_read=_log_read_view(context.log_read),
        severities=[s.value for s in SEVERITIES_DESC],
        sections=stage_sections(summary, items, aliases),
    )


def write_report(
    findings: Iterable[Finding],
    summary: Mapping[str, Any],
    activity: ActivitySummary | None,
    context: ReportContext,
    path: Path,
) -> Path:
    """Render and write the report (creating the directory); returns the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_report(findings, summary, activity, context), encoding="utf-8")
    return path


def json_for_script(data: Any) -> Markup:
    """JSON safe inside a ``<script>`` element: ``<``, ``>``, ``&`` and line separators become ``\\u`` escapes,
    which JSON.parse reads back unchanged, so no value can end the element or open a comment."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    for char in _SCRIPT_UNSAFE:
        text = text.replace(char, f"\\u{ord(char):04x}")
    return Markup(text)  # safe: escaped above


def timeline_svg(buckets: Sequence[TimelineBucket], bucket_minutes: int, width: int = 960, height: int = 150) -> Markup:
    """An inline bar chart of records per bucket, with a ``<title>`` tooltip on every bar."""
    if not buckets:
        return Markup("")
    top, bottom, left = 12, 22, 40
    plot_w, plot_h = width - left - 8, height - top - bottom
    peak = max(b.count for b in buckets) or 1
    step = plot_w / len(buckets)
    bar_w = max(step - 1, 0.6) if step > 2 else step
    parts = [
        f'<svg class="timeline" viewBox="0 0 {width} {height}" role="img" preserveAspectRatio="none" '
        f'aria-label="CloudTrail records per {bucket_minutes} minute(s)" xmlns="http://www.w3.org/2000/svg">',
        f'<line x1="{left}" y1="{top + plot_h}" x2="{width - 8}" y2="{top + plot_h}" class="axis"/>',
        f'<text x="{left - 6}" y="{top + 8}" text-anchor="end" class="tick">{peak}</text>',
        f'<text x="{left - 6}" y="{top + plot_h}" text-anchor="end" class="tick">0</text>',
    ]
    for i, bucket in enumerate(buckets):
        if not bucket.count:
            continue
        h = max(bucket.count / peak * plot_h, 1.5)
        x, y = left + i * step, top + plot_h - h
        label = escape(f"{_when(bucket.start)}: {bucket.count} record(s)")
        parts.append(
            f'<rect x="{x:.2f}" y="{y:.2f}" width="{bar_w:.2f}" height="{h:.2f}" class="bar">'
            f"<title>{label}</title></rect>"
        )
    first, last = escape(_when(buckets[0].start)), escape(_when(buckets[-1].start))
    parts.append(f'<text x="{left}" y="{height - 6}" class="tick">{first}</text>')
    parts.append(f'<text x="{width - 8}" y="{height - 6}" text-anchor="end" class="tick">{last}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))  # safe: numbers and escaped labels only


def _environment() -> Environment:
    return Environment(
        loader=PackageLoader("cloudwarden.report", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def _when(value: datetime | None) -> str:
    if value is None:
        return "—"
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _row(index: int, finding: Finding, aliases: Mapping[str, str]) -> dict[str, Any]:
    account = account_label(finding.account_id, aliases)
    search = " ".join(
        str(x)
        for x in (
            finding.title,
            finding.type,
            finding.control_id or "",
            finding.rule_id,
            account,
            finding.region,
            finding.resource.id,
            finding.resource.type,
            finding.principal or "",
            " ".join(finding.mitre),
        )
    ).lower()
    return {
        "index": index,
        "finding": finding,
        "severity": finding.severity.value,
        "severity_rank": finding.severity.rank,
        "account": account,
        "control": finding.control_id or finding.rule_id,
        "last_seen": _when(finding.last_seen),
        "last_seen_short": _when(finding.last_seen)[:16],
        "last_seen_sort": finding.last_seen.isoformat(),
        "search": search,
    }


def _filter_options(items: list[Finding]) -> dict[str, list[str]]:
    present = {f.severity for f in items}
    return {
        "severity": [s.value for s in SEVERITIES_DESC if s in present],
        "source": sorted({f.source.value for f in items}),
        "status": sorted({f.status.value for f in items}),
    }


def _overview(
    items: list[Finding], summary: Mapping[str, Any], activity: ActivitySummary | None, context: ReportContext
) -> dict[str, Any]:
    open_items = [f for f in items if f.status in OPEN_STATUSES]
    by_severity = {s.value: 0 for s in SEVERITIES_DESC}
    for f in open_items:
        by_severity[f.severity.value] += 1
    by_source: dict[str, int] = {}
    for f in items:
        by_source[f.source.value] = by_source.get(f.source.value, 0) + 1
    accounts = set(context.organisation.accounts.values()) if context.organisation else set()
    accounts |= {f.account_id for f in items}
    return {
        "findings": len(items),
        "open": len(open_items),
        "by_severity": by_severity,
        "by_source": dict(sorted(by_source.items())),
        "accounts": len(accounts),
        "records": activity.total_records if activity else None,
        "flagged_ips": activity.flagged_ips if activity else None,
        "highest": max((f.severity for f in open_items), key=lambda s: s.rank, default=None),
        "summary_findings": summary.get("findings"),
    }


def _timings(stage_timings: Mapping[str, float]) -> list[dict[str, Any]]:
    total = sum(stage_timings.values()) or 1.0
    rows = [
        {"stage": name, "seconds": f"{secs:.2f}", "share": round(100 * secs / total, 1)}
        for name, secs in stage_timings.items()
    ]
    if rows:
        rows.append({"stage": "total", "seconds": f"{sum(stage_timings.values()):.2f}", "share": None})
    return rows


def _activity_view(activity: ActivitySummary) -> dict[str, Any]:
    share = activity.read_only_share
    return {
        "first": _when(activity.first_event),
        "last": _when(activity.last_event),
        "read_pct": None if share is None else round(100 * share, 1),
        "write_pct": None if share is None else round(100 * (1 - share), 1),
        "logins": [
            {"time": _when(x.time), "principal": x.principal, "ip": x.source_ip, "success": x.success, "mfa": x.mfa}
            for x in activity.console_logins.logins
        ],
        "bucket": _bucket_label(activity.bucket_minutes),
    }


def _bucket_label(minutes: int) -> str:
    if minutes % 1440 == 0:
        n, unit = minutes // 1440, "day"
    elif minutes % 60 == 0:
        n, unit = minutes // 60, "hour"
    else:
        n, unit = minutes, "minute"
    return unit if n == 1 else f"{n} {unit}s"


def _org_view(org: Organisation | None, items: list[Finding]) -> dict[str, Any] | None:
    if org is None:
        return None
    ou_of = {acct: ou for ou, accts in org.ous.items() for acct in accts}
    open_by_account: dict[str, int] = {}
    for f in items:
        if f.status in OPEN_STATUSES:
            open_by_account[f.account_id] = open_by_account.get(f.account_id, 0) + 1
    return {
        "name": org.name,
        "accounts": [
            {"alias": alias, "id": acct, "ou": ou_of.get(acct, "—"), "open": open_by_account.get(acct, 0)}
            for alias, acct in org.accounts.items()
        ],
        "ous": [{"name": ou, "accounts": list(accts)} for ou, accts in org.ous.items()],
    }


def _log_read_view(read: ReadReport | None) -> dict[str, Any] | None:
    if read is None:
        return None
    return {
        "files_read": read.files_read,
        "records": read.records,
        "files_skipped": len(read.files_skipped),
        "records_skipped": len(read.records_skipped),
        "skipped": [{"path": s.path, "where": "", "reason": s.reason} for s in read.files_skipped[:SKIPPED_SHOWN]]
        + [
            {"path": s.path, "where": s.where, "reason": s.reason}
            for s in read.records_skipped[: max(SKIPPED_SHOWN - len(read.files_skipped), 0)]
        ],
    }


__all__ = [
    "Organisation",
    "ReportContext",
    "json_for_script",
    "render_report",
    "timeline_svg",
    "write_report",
]
