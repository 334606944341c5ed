"""The findings reader: JSON Lines, one finding, or an array; bad input names the file, line and field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cloudwarden.core.errors import BadInputError
from cloudwarden.findings import read_findings
from tests.findings import samples


def _line() -> str:
    return json.dumps(samples.posture_failed().to_json_dict())


def test_single_finding_file_pretty_printed(tmp_path: Path) -> None:
    path = tmp_path / "finding.json"
    path.write_text(json.dumps(samples.posture_failed().to_json_dict(), indent=2))
    assert read_findings(path) == [samples.posture_failed()]


def test_json_array_and_blank_lines(tmp_path: Path) -> None:
    array = tmp_path / "many.json"
    array.write_text(json.dumps([f.to_json_dict() for f in samples.all_kinds()[:3]]))
    assert len(read_findings(array)) == 3
    lines = tmp_path / "findings.jsonl"
    lines.write_text(f"\n{_line()}\n\n{_line()}\n")
    assert len(read_findings(lines)) == 2
    several = tmp_path / "findings.json"  # JSON Lines under a .json name
    several.write_text(f"{_line()}\n{_line()}\n")
    assert len(read_findings(several)) == 2
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n")
    assert read_findings(empty) == []


def test_bad_json_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "findings.jsonl"
    path.write_text(f"{_line()}\n{{not json\n")
    with pytest.raises(BadInputError) as info:
        read_findings(path)
    assert info.value.where == f"{path}:2" and "invalid JSON" in info.value.why


def test_bad_field_names_field(tmp_path: Path) -> None:
    data = samples.posture_failed().to_json_dict()
    data["severity"] = "SEVERE"
    path = tmp_path / "findings.jsonl"
    path.write_text(f"{_line()}\n\n{json.dumps(data)}\n")
    with pytest.raises(BadInputError) as info:
        read_findings(path)
    assert info.value.where == f"{path}:3"
    assert "'severity'" in info.value.why


def test_missing_field_and_wrong_shape(tmp_path: Path) -> None:
    data = samples.posture_failed().to_json_dict()
    del data["resource"]
    path = tmp_path / "finding.json"
    path.write_text(json.dumps(data))
    with pytest.raises(BadInputError, match="'resource'"):
        read_findings(path)
    path.write_text("[1]")
    with pytest.raises(BadInputError, match="expected a JSON object"):
        read_findings(path)
    path.write_text('{"id": ')
    with pytest.raises(BadInputError, match=r"finding\.json:1: invalid JSON"):
        read_findings(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(BadInputError, match="no such file"):
        read_findings(tmp_path / "nope.jsonl")
