"""JSON Lines: the lossless format, written then read back."""

from __future__ import annotations

import json
from pathlib import Path

from cloudwarden.core.finding import REDACTED
from cloudwarden.findings import jsonl, read_findings
from tests.findings import samples


def test_round_trip_is_lossless_apart_from_secrets(tmp_path: Path) -> None:
    path = tmp_path / "findings.jsonl"
    findings = samples.all_kinds()
    jsonl.write(findings, path)
    lines = path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == len(findings)
    back = read_findings(path)
    assert back == [f.redacted() for f in findings]
    changed = [f for f in findings if f.redacted() != f]
    assert len(changed) == 1  # only the finding that carried secrets differs


def test_lines_have_the_contract_shape(tmp_path: Path) -> None:
    path = tmp_path / "findings.jsonl"
    jsonl.write([samples.posture_failed()], path)
    data = json.loads(path.read_text())
    assert list(data) == ["id", "source", "type", "control_id", "rule_id", "title", "description", "remediation",
                          "status", "severity", "account_id", "region", "resource", "principal", "frameworks",
                          "first_seen", "last_seen", "count", "evidence", "mitre"]
    assert data["first_seen"] == "2025-03-01T12:00:00Z"
    assert data["resource"] == {"type": "AwsS3Bucket", "id": "arn:aws:s3:::prod-customer-data"}


def test_redaction_in_nested_evidence(tmp_path: Path) -> None:
    path = tmp_path / "findings.jsonl"
    jsonl.write(samples.all_kinds(), path)
    text = path.read_text()
    assert samples.SECRET not in text and "hunter2" not in text
    detail = read_findings(path)[4].evidence.details
    assert detail["password"] == REDACTED and detail["credentials"]["SecretAccessKey"] == REDACTED
    assert detail["userAgent"] == "=cmd|' /C calc'!A0"  # JSON keeps text as it is; only CSV defuses


def test_overwrite_is_atomic_and_leaves_no_temp_files(tmp_path: Path) -> None:
    path = tmp_path / "findings.jsonl"
    jsonl.write(samples.all_kinds(), path)
    jsonl.write([samples.posture_failed()], path)
    assert len(read_findings(path)) == 1
    assert [p.name for p in tmp_path.iterdir()] == ["findings.jsonl"]
