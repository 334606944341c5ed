"""Build ``summary.json``: what a run found, in counts, plus how long each stage took.

Scripts and CI diff this file between runs, so its key order is fixed: the top-level keys always appear in
the order of :data:`SUMMARY_KEYS` followed by the caller's ``extra`` keys sorted by name; severity counts go
from CRITICAL down and list every level (zeros too); source and status counts follow the enums' order;
every other count map is sorted by key; stage timings keep the order the caller ran the stages in.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from cloudwarden.core.finding import Finding, Source, Status
from cloudwarden.core.severity import Severity

SUMMARY_VERSION = 1
TOP_FINDINGS = 10
# Statuses that mean "something is wrong now": the ones top findings and open counts consider.
OPEN_STATUSES = frozenset({Status.FAILED, Status.ACTIVE})
SUMMARY_KEYS = (
    "summary_version",
    "findings",
    "open_findings",
    "by_source",
    "by_severity",
    "open_by_severity",
    "by_status",
    "by_control_id",
    "by_type",
    "by_account",
    "top_findings",
    "timings",
)
SEVERITIES_DESC = tuple(sorted(Severity, key=lambda s: s.rank, reverse=True))


def build_summary(
    findings: Iterable[Finding], stage_timings: Mapping[str, float], extra: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The ``summary.json`` document for ``findings``.

    ``stage_timings`` maps stage name to seconds, in the order the stages ran. ``extra`` (lab info,
    CloudTrail read counts, ...) is added at the top level; a key that collides with one of ours is a
    programming error and raises ``ValueError``.
    """
    items = list(findings)
    open_items = [f for f in items if f.status in OPEN_STATUSES]
    extra = dict(extra or {})
    clash = sorted(set(extra) & set(SUMMARY_KEYS))
    if clash:
        raise ValueError(f"extra keys {clash} collide with summary keys")
    summary: dict[str, Any] = {
        "summary_version": SUMMARY_VERSION,
        "findings": len(items),
        "open_findings": len(open_items),
        "by_source": _ordered(Counter(f.source.value for f in items), [s.value for s in Source]),
        "by_severity": _ordered(Counter(f.severity.value for f in items), [s.value for s in SEVERITIES_DESC]),
        "open_by_severity": _ordered(Counter(f.severity.value for f in open_items), [s.value for s in SEVERITIES_DESC]),
        "by_status": _ordered(Counter(f.status.value for f in items), [s.value for s in Status], zeros=False),
        "by_control_id": _sorted(Counter(f.control_id for f in items if f.control_id)),
        "by_type": _sorted(Counter(f.type for f in items)),
        "by_account": _sorted(Counter(f.account_id for f in items)),
        "top_findings": [_brief(f) for f in top_findings(open_items)],
        "timings": _timings(stage_timings),
    }
    for key in sorted(extra):
        summary[key] = extra[key]
    return summary


def top_findings(findings: Iterable[Finding], limit: int = TOP_FINDINGS) -> list[Finding]:
    """Most severe first, then most frequent, then by id (so ties are stable)."""
    return sorted(findings, key=lambda f: (-f.severity.rank, -f.count, f.id))[:limit]


def summary_json(summary: Mapping[str, Any]) -> str:
    """The file's text: two-space indent, keys in the order built, a trailing newline."""
    return json.dumps(summary, indent=2, ensure_ascii=False, default=str) + "\n"


def write_summary(summary: Mapping[str, Any], path: Path) -> Path:
    """Write ``summary.json`` (creating the directory); returns the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(summary_json(summary), encoding="utf-8")
    return path


def _ordered(counts: Counter[str], order: Sequence[str], *, zeros: bool = True) -> dict[str, int]:
    return {key: counts[key] for key in order if zeros or counts[key]}


def _sorted(counts: Counter[Any]) -> dict[str, int]:
    return {str(key): counts[key] for key in sorted(counts, key=str)}


def _timings(stage_timings: Mapping[str, float]) -> dict[str, Any]:
    stages = {name: round(float(seconds), 3) for name, seconds in stage_timings.items()}
    return {"stages": stages, "total_seconds": round(sum(stages.values()), 3)}


def _brief(finding: Finding) -> dict[str, Any]:
    return {
        "id": finding.id,
        "severity": finding.severity.value,
        "source": finding.source.value,
        "title": finding.title,
        "control_id": finding.control_id,
        "type": finding.type,
        "account_id": finding.account_id,
        "region": finding.region,
        "resource": finding.resource.id,
        "count": finding.count,
    }
