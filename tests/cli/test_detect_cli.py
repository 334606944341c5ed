"""`cloudwarden detect` (cli/detect.py): outputs, the store's checkpoints, the read report, exit codes."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from cloudwarden.cli.detect import detect, parse_time
from cloudwarden.core.errors import BadInputError
from tests.detect.ct_samples import ATTACKER_IP, event, write_trail_file

RUNNER = CliRunner()
APP = typer.Typer()
APP.command()(detect)


@APP.callback()
def _root() -> None:
    """Test harness: the lead registers `detect` on the real app."""


KALI = "aws-cli/2.15.0 Python/3.11.6 Linux/6.5.0-kali2-amd64 exe/x86_64.kali.2024 prompt/off"


def _logs(root: Path) -> Path:
    write_trail_file(root / "a.json.gz", [
        event(1, "StopLogging", "cloudtrail.amazonaws.com", requestParameters={"name": "main"}),
        event(2, "ListUsers", "iam.amazonaws.com", ip=ATTACKER_IP, userAgent=KALI),
    ])
    (root / "broken.json.gz").write_bytes(gzip.compress(b'{"Records": [')[:-4])
    return root


def _args(tmp_path: Path, *extra: str) -> list[str]:
    return ["detect", "--logs", str(tmp_path / "logs"), "--store", str(tmp_path / "s.duckdb"),
            "--output-dir", str(tmp_path / "out"), "--format", "json,sarif", *extra]


def test_detect_writes_findings_reports_skips_and_rereads_nothing(tmp_path: Path) -> None:
    _logs(tmp_path / "logs")
    result = RUNNER.invoke(APP, _args(tmp_path))
    assert result.exit_code == 0, result.output
    assert "2 events from 1 files" in result.output and "truncated gzip" in result.output
    lines = [json.loads(x) for x in (tmp_path / "out" / "findings.jsonl").read_text().splitlines()]
    types = {x["type"] for x in lines}
    assert {"Stealth:IAMUser/CloudTrailLoggingDisabled", "PenTest:IAMUser/KaliLinux",
            "Recon:IAMUser/MaliciousIPCaller.Custom"} <= types
    assert all(x["evidence"]["event_ids"] and x["source"] == "detect" for x in lines)
    assert (tmp_path / "out" / "findings.sarif").exists()
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["cloudtrail"]["skipped"]["files_skipped"][0]["path"].endswith("broken.json.gz")

    again = RUNNER.invoke(APP, _args(tmp_path, "--fail-on", "low"))
    assert again.exit_code == 0, again.output  # nothing new: no finding, so --fail-on does not trip
    assert "0 events from 0 files (1 already read)" in again.output


def test_detect_counts_the_scanned_files_and_says_when_the_c_scanner_is_missing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import cloudwarden.cli.detect as cli
    from cloudwarden.detect.rows import SCANNER

    monkeypatch.delenv("CLOUDWARDEN_SCANNER", raising=False)
    _logs(tmp_path / "logs")
    result = RUNNER.invoke(APP, _args(tmp_path, "--reread"))
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["detect"]["objects_scanned"] == (0 if SCANNER is None else 1)
    assert ("no C scanner" in result.output) == (SCANNER is None)

    monkeypatch.setattr(cli, "SCANNER", None)  # as an install without a C compiler
    result = RUNNER.invoke(APP, _args(tmp_path, "--reread"))
    assert result.exit_code == 0, result.output
    assert "no C scanner" in result.output and "2 events from 1 files" in result.output


def test_fail_on_exits_1_and_reread_ignores_checkpoints(tmp_path: Path) -> None:
    _logs(tmp_path / "logs")
    assert RUNNER.invoke(APP, _args(tmp_path)).exit_code == 0
    result = RUNNER.invoke(APP, _args(tmp_path, "--reread", "--fail-on", "medium"))
    assert result.exit_code == 1, result.output
    assert "2 events from 1 files" in result.output


@pytest.mark.parametrize(("extra", "where"), [
    (["--since", "last tuesday"], "--since"),
    (["--engine", "oracle"], "--engine"),
    (["--format", "pdf"], "--format"),
    (["--threat-intel", "/nonexistent/dir"], "/nonexistent/dir"),
])
def test_bad_flags_are_bad_input(tmp_path: Path, extra: list[str], where: str) -> None:
    _logs(tmp_path / "logs")
    result = RUNNER.invoke(APP, _args(tmp_path, *extra))
    assert isinstance(result.exception, BadInputError), result.output
    assert result.exception.exit_code == 2 and result.exception.where == where


def test_parse_time() -> None:
    now = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    assert parse_time("2h", "--since", now) == datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
    assert parse_time("7d", "--since", now) == datetime(2026, 2, 22, 12, 0, tzinfo=UTC)
    assert parse_time("2026-03-01T09:30:00", "--since") == datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
    assert parse_time("2026-03-01T09:30:00+01:00", "--since").astimezone(UTC).hour == 8


def test_detect_removes_and_reports_the_scratch_of_a_killed_run(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    temp = tmp_path / "tmp"
    temp.mkdir()
    holder = subprocess.Popen([sys.executable, "-c", _SCRATCH_HOLDER, str(temp)], stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert holder.stdout is not None
    left = Path(holder.stdout.readline().strip())
    holder.kill()  # SIGKILL: it cannot clean up
    holder.wait(timeout=30)
    assert left.is_dir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    _logs(tmp_path / "logs")
    result = RUNNER.invoke(APP, _args(tmp_path, "--reread"))
    assert result.exit_code == 0, result.output
    assert "removed 1 scratch directories (2.0 MB) left by runs that were killed" in result.output
    assert not left.exists()
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["detect"]["stale_scratch_removed"] == 1
    assert summary["detect"]["stale_scratch_bytes"] == 2_000_000


_SCRATCH_HOLDER = """
import sys, time
from pathlib import Path
from cloudwarden.core.scratch import ScratchDir
scratch = ScratchDir("cw-ct-", parent=sys.argv[1])
(scratch.path / "rows-1.jsonl").write_bytes(b"x" * 2_000_000)
print(scratch.path, flush=True)
time.sleep(120)
"""
