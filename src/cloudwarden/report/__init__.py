"""The run's outputs for people and scripts: the self-contained HTML report, ``summary.json`` and the
CloudTrail activity summary both show. Renders only; models know nothing of HTML."""

from cloudwarden.report.activity import ActivitySummary, summarise_activity
from cloudwarden.report.html import Organisation, ReportContext, render_report, write_report
from cloudwarden.report.summary import build_summary, summary_json, write_summary

__all__ = [
    "ActivitySummary",
    "Organisation",
    "ReportContext",
    "build_summary",
    "render_report",
    "summarise_activity",
    "summary_json",
    "write_report",
    "write_summary",
]
