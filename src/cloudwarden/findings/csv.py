"""The ``csv`` format (``findings.csv``): one row per finding for spreadsheets and ticket imports.

Columns are fixed and ordered (:data:`COLUMNS`); nested fields are flattened: ``resource`` into
``resource_type``/``resource_id``, ``frameworks`` into ``fsbp:S3.8;cis-aws-3.0:2.1.4``, lists joined with
``;``, and ``evidence.details`` as one JSON cell. Cells that a spreadsheet would run as a formula
(starting with ``=``, ``+``, ``-``, ``@``) get a leading ``'``, since titles and descriptions can carry
attacker-chosen text such as user agents.
"""

from __future__ import annotations

import csv as _csv
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Final

from cloudwarden.core.finding import Finding, iso_utc
from cloudwarden.findings.base import Writer, atomic_text

COLUMNS: Final = (
    "id", "source", "severity", "status", "type", "control_id", "rule_id", "title",
    "account_id", "region", "resource_type", "resource_id", "principal", "frameworks",
    "first_seen", "last_seen", "count", "mitre", "event_ids", "description", "remediation", "details",
)
_FORMULA_START: Final = ("=", "+", "-", "@", "\t", "\r")


def to_row(finding: Finding) -> dict[str, str]:
    """One finding as a CSV row keyed by :data:`COLUMNS`."""
    finding = finding.redacted()
    row = {
        "id": finding.id,
        "source": finding.source.value,
        "severity": finding.severity.value,
        "status": finding.status.value,
        "type": finding.type,
        "control_id": finding.control_id or "",
        "rule_id": finding.rule_id,
        "title": finding.title,
        "account_id": finding.account_id,
        "region": finding.region,
        "resource_type": finding.resource.type,
        "resource_id": finding.resource.id,
        "principal": finding.principal or "",
        "frameworks": ";".join(
            f"{key}:{item}" for key, ids in sorted(finding.frameworks.items()) for item in ids
        ),
        "first_seen": iso_utc(finding.first_seen),
        "last_seen": iso_utc(finding.last_seen),
        "count": str(finding.count),
        "mitre": ";".join(finding.mitre),
        "event_ids": ";".join(finding.evidence.event_ids),
        "description": finding.description,
        "remediation": finding.remediation,
        "details": json.dumps(finding.evidence.details, sort_keys=True) if finding.evidence.details else "",
    }
    return {key: _defuse(value) for key, value in row.items()}


def write(findings: Sequence[Finding], path: Path) -> None:
    with atomic_text(path, newline="") as out:
        writer = _csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\r\n")
        writer.writeheader()
        for finding in findings:
            writer.writerow(to_row(finding))


WRITER = Writer("csv", "findings.csv", write, "CSV, one row per finding")


def _defuse(value: str) -> str:
    return "'" + value if value.startswith(_FORMULA_START) else value
