from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from cloudwarden.core.finding import Finding, ResourceRef, Source, Status
from cloudwarden.core.severity import Severity
from cloudwarden.report.summary import build_summary, write_summary


def _finding(n: int, source: Source, severity: Severity, **fields: object) -> Finding:
    return Finding.create(
        source=source,
        rule_id=f"rule-{n}",
        type=str(fields.pop("type", "Software and Configuration Checks")),
        title=f"finding {n}",
        severity=severity,
        account_id=str(fields.pop("account_id", "222222222222")),
        region="us-east-1",
        resource=ResourceRef(type="AwsS3Bucket", id=f"arn:aws:s3:::bucket-{n}"),
        seen=datetime(2026, 3, 1, tzinfo=UTC),
        **fields,  # type: ignore[arg-type]
    )


FINDINGS = [
    _finding(1, Source.POSTURE, Severity.HIGH, control_id="S3.8"),
    _finding(2, Source.POSTURE, Severity.LOW, control_id="S3.8", status=Status.PASSED),
    _finding(3, Source.POSTURE, Severity.MEDIUM, control_id="KMS.4", account_id="333333333333"),
    _finding(4, Source.DETECT, Severity.HIGH, type="Stealth:IAMUser/CloudTrailLoggingDisabled", count=5),
    _finding(5, Source.DETECT, Severity.CRITICAL, type="Stealth:IAMUser/CloudTrailLoggingDisabled"),
    _finding(6, Source.IAM, Severity.CRITICAL, status=Status.SUPPRESSED),
]


def test_counts_by_every_dimension_in_a_fixed_order() -> None:
    summary = build_summary(FINDINGS, {"scan": 1.23456, "detect": 0.5}, {"lab": {"endpoint": "x"}, "cloudtrail": 3})

    assert list(summary) == [
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
        "cloudtrail",
        "lab",
    ]
    assert summary["findings"] == 6
    assert summary["open_findings"] == 4
    assert summary["by_source"] == {"posture": 3, "iam": 1, "detect": 2, "respond": 0}
    assert list(summary["by_severity"].items()) == [
        ("CRITICAL", 2),
        ("HIGH", 2),
        ("MEDIUM", 1),
        ("LOW", 1),
        ("INFORMATIONAL", 0),
    ]
    assert summary["open_by_severity"] == {"CRITICAL": 1, "HIGH": 2, "MEDIUM": 1, "LOW": 0, "INFORMATIONAL": 0}
    assert summary["by_status"] == {"FAILED": 2, "PASSED": 1, "ACTIVE": 2, "SUPPRESSED": 1}
    assert list(summary["by_control_id"].items()) == [("KMS.4", 1), ("S3.8", 2)]
    assert summary["by_type"]["Stealth:IAMUser/CloudTrailLoggingDisabled"] == 2
    assert summary["by_account"] == {"222222222222": 5, "333333333333": 1}
    assert summary["timings"] == {"stages": {"scan": 1.235, "detect": 0.5}, "total_seconds": 1.735}
    assert summary["lab"] == {"endpoint": "x"}


def test_top_findings_are_open_ones_by_severity_then_count() -> None:
    top = build_summary(FINDINGS, {}, None)["top_findings"]
    # The suppressed CRITICAL and the PASSED one are not "top"; HIGH with count 5 beats HIGH with count 1.
    assert [t["title"] for t in top] == ["finding 5", "finding 4", "finding 1", "finding 3"]
    assert top[0]["severity"] == "CRITICAL"
    assert top[1]["count"] == 5


def test_top_findings_stop_at_ten() -> None:
    many = [_finding(n, Source.DETECT, Severity.LOW) for n in range(25)]
    assert len(build_summary(many, {}, {})["top_findings"]) == 10


def test_same_input_gives_the_same_bytes_and_extra_cannot_overwrite(tmp_path: Path) -> None:
    first = write_summary(build_summary(FINDINGS, {"scan": 1.0}, {"b": 1, "a": 2}), tmp_path / "one" / "summary.json")
    second = write_summary(
        build_summary(list(reversed(FINDINGS)), {"scan": 1.0}, {"a": 2, "b": 1}), tmp_path / "summary.json"
    )
    assert first.read_bytes() == second.read_bytes()
    assert json.loads(first.read_text())["findings"] == 6
    with pytest.raises(ValueError, match="findings"):
        build_summary(FINDINGS, {}, {"findings": 0})


def test_no_findings_still_gives_every_key() -> None:
    summary = build_summary([], {"lab": 2.0}, {})
    assert summary["findings"] == 0
    assert summary["top_findings"] == []
    assert summary["by_severity"]["CRITICAL"] == 0
    assert summary["by_control_id"] == {}
