"""A detection run's progress: what there is to read, each chunk's steps, and every byte read, once."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import typer
from rich.console import Console
from typer.testing import CliRunner

from cloudwarden.cli import detect_progress
from cloudwarden.cli.detect import detect
from cloudwarden.detect.engine import run_detection
from cloudwarden.detect.netlogs.engine import run_network_detection
from cloudwarden.detect.rules import load_pack
from cloudwarden.detect.security_lake import run_security_lake_detection
from cloudwarden.lab import netlogs
from cloudwarden.lab.demo_org import OFFICE_IPS
from cloudwarden.store import Store
from tests.detect.ct_samples import ATTACKER_IP, event, write_trail_file
from tests.detect.netlogs_samples import WEB, WORKER, flows, write_flows
from tests.detect.test_ocsf import _lake, corpus


class Recorder:
    """A RunProgress that writes down what it hears."""

    def __init__(self) -> None:
        self.begun: list[tuple[str, int, int, int]] = []
        self.steps: list[tuple[int, int, str]] = []
        self.advanced: list[int] = []
        self.ended = 0

    def begin(self, logs: str, objects: int, size: int, chunks: int) -> None:
        self.begun.append((logs, objects, size, chunks))

    def step(self, chunk: int, chunks: int, step: str) -> None:
        self.steps.append((chunk, chunks, step))

    def advance(self, size: int) -> None:
        assert size > 0
        self.advanced.append(size)

    def end(self) -> None:
        self.ended += 1


def _logs(root: Path) -> list[Path]:
    files = [write_trail_file(root / f"f{i}.json.gz", [event(10 * i + k, ip=ATTACKER_IP) for k in range(5)])
             for i in range(4)]
    # A record without eventTime: DuckDB finds the file's rows incomplete, and the careful path reads it again.
    bad = [event(90), {k: v for k, v in event(91).items() if k != "eventTime"}]
    files.append(write_trail_file(root / "f9.json.gz", bad))
    return files


def test_every_chunk_steps_through_and_every_byte_is_counted_once(tmp_path: Path) -> None:
    files = _logs(tmp_path / "logs")
    sizes = sorted(f.stat().st_size for f in files)
    recorder = Recorder()
    pack = load_pack()
    with Store.open(tmp_path / "s.duckdb") as store:
        result = run_detection([tmp_path / "logs"], rules=pack.rules, allowlist=pack.allowlist, store=store,
                               run_id=store.start_run("detect"), chunk_bytes=sizes[-1] + sizes[-2] - 1,
                               progress=recorder)
    chunks = result.stats["chunks"]
    assert chunks >= 3
    assert recorder.begun == [("detect.cloudtrail", 5, sum(sizes), chunks)]
    assert recorder.steps == [(n, chunks, step) for n in range(1, chunks + 1)
                              for step in ("reading", "rules", "committing")]
    assert sum(recorder.advanced) == sum(sizes)  # the re-read file is not counted twice
    assert len(recorder.advanced) == 5  # one advance a file: each was read by its reader
    assert len(result.read_report.records_skipped) == 1
    assert recorder.ended == 1


def test_without_a_store_there_is_no_commit_step_and_an_error_still_ends(tmp_path: Path) -> None:
    _logs(tmp_path / "logs")
    recorder = Recorder()
    run_detection([tmp_path / "logs"], rules=load_pack().rules, progress=recorder)
    assert [step for _, _, step in recorder.steps] == ["reading", "rules"]

    broken = Recorder()
    rule = load_pack().rules[0].model_copy(update={"condition": "no_such_column = 1"})
    with pytest.raises(Exception, match="no_such_column"):
        run_detection([tmp_path / "logs"], rules=[rule], progress=broken)
    assert broken.ended == 1


def test_parquet_read_by_duckdb_itself_settles_at_each_chunk(tmp_path: Path) -> None:
    lake = _lake(tmp_path, corpus())
    recorder = Recorder()
    run_security_lake_detection([lake], rules=load_pack().rules, progress=recorder)
    (_, objects, size, _), = recorder.begun
    assert objects >= 2 and sum(recorder.advanced) == size


def test_network_logs_report_under_their_own_source(tmp_path: Path) -> None:
    flow = write_flows(tmp_path / "flow.log.gz", netlogs.benign_flows(flows(3), [WEB, WORKER], office_ips=OFFICE_IPS,
                                                                      per_interface=10))
    recorder = Recorder()
    run_network_detection([flow], [], progress=recorder)
    assert recorder.begun == [("detect.netlogs", 1, flow.stat().st_size, 1)]
    assert sum(recorder.advanced) == flow.stat().st_size and recorder.ended == 1


def test_the_cli_draws_the_bar_on_a_terminal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _logs(tmp_path / "logs")
    screen = io.StringIO()
    monkeypatch.setattr(detect_progress.DetectProgress, "for_terminal", classmethod(
        lambda cls, quiet: None if quiet else cls(Console(file=screen, force_terminal=True, width=160))))
    app = typer.Typer()
    app.command()(detect)
    app.callback()(lambda: None)
    args = ["detect", "--logs", str(tmp_path / "logs"), "--reread", "--output-dir", str(tmp_path / "out"),
            "--format", "json"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    drawn = screen.getvalue()
    assert "CloudTrail, 5 files" in drawn and "rules" in drawn
    quiet = CliRunner().invoke(app, [*args, "--quiet"])
    assert quiet.exit_code == 0, quiet.output
    assert screen.getvalue() == drawn  # --quiet: no bar
