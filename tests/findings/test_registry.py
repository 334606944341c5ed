"""The writer registry: every format name resolves through it, and write_findings writes what it returns."""

from __future__ import annotations

from pathlib import Path

import pytest

from cloudwarden.core.errors import BadInputError
from cloudwarden.findings import CALLER_FORMATS, WRITERS, read_findings, write_findings
from tests.findings import samples


def test_registry_covers_the_contract_formats() -> None:
    assert set(WRITERS) | CALLER_FORMATS == {"json", "asff", "ocsf", "sarif", "csv", "html"}
    assert {name: w.filename for name, w in WRITERS.items()} == {
        "json": "findings.jsonl", "asff": "findings.asff.json", "ocsf": "findings.ocsf.json",
        "sarif": "findings.sarif", "csv": "findings.csv"}
    for name, writer in WRITERS.items():
        assert writer.name == name and writer.description


def test_write_findings_writes_each_format_and_skips_html(tmp_path: Path) -> None:
    out = tmp_path / "cloudwarden-out"
    written = write_findings(samples.all_kinds(), out, ["json", "sarif", "html", "JSON", " csv "])
    assert written == {"json": out / "findings.jsonl", "sarif": out / "findings.sarif", "csv": out / "findings.csv"}
    assert sorted(p.name for p in out.iterdir()) == ["findings.csv", "findings.jsonl", "findings.sarif"]
    assert len(read_findings(written["json"])) == len(samples.all_kinds())


def test_unknown_format_fails_before_writing(tmp_path: Path) -> None:
    with pytest.raises(BadInputError) as info:
        write_findings(samples.all_kinds(), tmp_path, ["json", "xml"])
    assert info.value.where == "--format" and "xml" in info.value.why
    assert list(tmp_path.iterdir()) == []
