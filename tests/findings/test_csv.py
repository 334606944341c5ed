"""CSV output: parsed back with the csv module, one row per finding, stable columns, flattened fields."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from cloudwarden.findings import csv as csv_writer
from tests.findings import samples


def _rows(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        rows = list(reader)
        return list(reader.fieldnames or []), rows


def test_header_and_one_row_per_finding(tmp_path: Path) -> None:
    path = tmp_path / "findings.csv"
    findings = samples.all_kinds()
    csv_writer.write(findings, path)
    header, rows = _rows(path)
    assert header == list(csv_writer.COLUMNS)
    assert [row["id"] for row in rows] == [f.id for f in findings]


def test_nested_fields_are_flattened(tmp_path: Path) -> None:
    path = tmp_path / "findings.csv"
    csv_writer.write(samples.all_kinds(), path)
    _, rows = _rows(path)
    first = rows[0]
    assert first["frameworks"] == "cis-aws-3.0:2.1.4;fsbp:S3.8"
    assert (first["resource_type"], first["resource_id"]) == ("AwsS3Bucket", "arn:aws:s3:::prod-customer-data")
    assert first["first_seen"] == "2025-03-01T12:00:00Z" and first["count"] == "1"
    detection = rows[4]
    assert detection["mitre"] == "T1562.008;T1078" and detection["event_ids"] == "e1;e2;e3"
    assert detection["title"] == "CloudTrail logging stopped by mallory\nfrom 198.51.100.23"
    details = json.loads(detection["details"])
    assert details["credentials"] == {"AccessKeyId": "AKIAEXAMPLE", "SecretAccessKey": "[REDACTED]"}
    assert details["PasswordEnabled"] is True and details["SecretArn"] == "arn:aws:secretsmanager:x"
    assert rows[6]["description"] == "x" * 1500


def test_formula_cells_are_defused(tmp_path: Path) -> None:
    base = samples.posture_failed()
    hostile = base.model_copy(update={"title": "=HYPERLINK(\"http://x\")", "description": "@SUM(A1)"})
    path = tmp_path / "findings.csv"
    csv_writer.write([hostile], path)
    _, rows = _rows(path)
    assert rows[0]["title"] == "'=HYPERLINK(\"http://x\")" and rows[0]["description"] == "'@SUM(A1)"


def test_secrets_never_reach_the_file(tmp_path: Path) -> None:
    path = tmp_path / "findings.csv"
    csv_writer.write(samples.all_kinds(), path)
    text = path.read_text()
    assert samples.SECRET not in text and "hunter2" not in text


def test_empty_input_is_just_the_header(tmp_path: Path) -> None:
    path = tmp_path / "findings.csv"
    csv_writer.write([], path)
    assert path.read_text().strip() == ",".join(csv_writer.COLUMNS)
