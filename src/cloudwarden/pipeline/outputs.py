"""Writing a run's outputs: findings in every asked format, ``report.html`` and ``summary.json``.

Shared by every command that ends in findings (``demo`` now; ``scan`` and ``detect`` later), so the
output directory always has the same shape (CONTRACTS.md → What `cloudwarden demo` leaves behind).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from cloudwarden.core.finding import Finding
from cloudwarden.findings import write_findings
from cloudwarden.report import ActivitySummary, ReportContext, write_report, write_summary

REPORT_FILE = "report.html"
SUMMARY_FILE = "summary.json"


def write_outputs(
    findings: Sequence[Finding],
    summary: Mapping[str, Any],
    activity: ActivitySummary | None,
    context: ReportContext,
    output_dir: Path,
    formats: Sequence[str],
) -> dict[str, Path]:
    """Write every output; returns format name -> path (``html`` and ``summary`` included)."""
    output_dir.mkdir(parents=True, exist_ok=True)
    paths = write_findings(findings, output_dir, [f for f in formats if f != "html"])
    if "html" in formats:
        paths["html"] = write_report(findings, summary, activity, context, output_dir / REPORT_FILE)
    paths["summary"] = write_summary(summary, output_dir / SUMMARY_FILE)
    return paths
