"""Incremental, crash-safe network detection (detect/netlogs/engine.py with detect/checkpoints.py).

Mirrors CloudTrail's crash tests in ``tests/detect/test_load.py``: a re-run reads only new objects, a crash
between commit steps (raised from the ``hook``, inside the findings' transaction, or a real ``kill -9``)
followed by a re-run ends with exactly the findings of an uninterrupted run.
"""

from __future__ import annotations

import gzip
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from cloudwarden.aws.session import AwsTarget
from cloudwarden.core.finding import Finding
from cloudwarden.detect import checkpoints
from cloudwarden.detect.netlogs.engine import CHECKPOINT_SOURCE, run_network_detection
from cloudwarden.lab import netlogs
from cloudwarden.lab.demo_org import PROD, TOR_NODE_IP
from cloudwarden.store import Store
from tests.detect.netlogs_samples import WEB, WORKER, flows, queries, write_flows, write_queries

SCANNED = "198.51.100.150"


def _corpus(root: Path, files: int = 4) -> None:
    """Flow and DNS objects whose attacks are spread over every file (a port scan crosses its threshold only
    with all of them), plus benign traffic."""
    benign = netlogs.benign_flows(flows(3), [WEB, WORKER], office_ips=["192.0.2.10"], per_interface=40)
    scan = netlogs.port_scan(flows(4), WEB, SCANNED, ports=60)
    tor = netlogs.tor_connections(flows(5), WORKER, TOR_NODE_IP, sessions=files)
    dns = netlogs.benign_queries(queries(), [WEB, WORKER], per_interface=20)
    dns += netlogs.malicious_queries(queries(2), WEB)
    for index in range(files):
        write_flows(root / "flow" / f"f{index:02d}.log.gz", (benign + scan + tor)[index::files])
        write_queries(root / "dns" / f"q{index:02d}.log.gz", dns[index::files])


def _run(root: Path, store: Store | None, **kw: Any) -> Any:
    return run_network_detection([root / "flow"], [root / "dns"], store=store, **kw)


def _state(store: Store) -> list[tuple[str, str, int, str, str]]:
    return sorted((f.id, f.type, f.count, f.first_seen.isoformat(), f.last_seen.isoformat())
                  for f in store.findings(source="detect"))


def _expected(root: Path, path: Path) -> list[tuple[str, str, int, str, str]]:
    with Store.open(path) as store:
        _run(root, store, run_id=store.start_run("detect"))
        return _state(store)


def _keys(root: Path) -> list[str]:
    return sorted(str(p.resolve()) for p in root.rglob("*.log.gz"))


def _types(findings: list[Finding]) -> set[str]:
    return {f.type for f in findings}


def test_rerun_reads_only_new_objects_and_counts_each_once(tmp_path: Path) -> None:
    root = tmp_path / "logs"
    _corpus(root)
    with Store.open(tmp_path / "s.duckdb") as store:
        first = _run(root, store)
        assert first.read_report.files_read == 8 and first.stats["objects_already_read"] == 0
        assert {"Recon:EC2/Portscan", "UnauthorizedAccess:EC2/TorClient", "Backdoor:EC2/C&CActivity.B!DNS",
                "Trojan:EC2/DNSDataExfiltration"} <= _types(first.findings)
        # Same findings as a run without a store: checkpointing changes nothing about what is found.
        assert first.findings == _run(root, None).findings
        stored = _state(store)
        for key in _keys(root):
            assert str(store.get_checkpoint(CHECKPOINT_SOURCE, key)).startswith("size=")
            assert store.get_checkpoint(checkpoints.SOURCE, key) is None  # apart from CloudTrail's
        tor = next(f for f in first.findings if f.type == "UnauthorizedAccess:EC2/TorClient")

        again = _run(root, store)
        assert again.read_report.files_read == 0 and again.stats["objects_already_read"] == 8
        assert again.findings == [] and again.stats["flow_records"] == 0
        assert _state(store) == stored

        write_flows(root / "flow" / "late.log.gz", netlogs.tor_connections(flows(9), WORKER, TOR_NODE_IP, sessions=3))
        third = _run(root, store)
        assert third.read_report.files_read == 1 and third.stats["objects_already_read"] == 8
        assert _types(third.findings) == {"UnauthorizedAccess:EC2/TorClient"}
        late = store.get_finding(tor.id)
        assert late is not None and late.count == tor.count + 3  # the new sessions, added once


def test_a_skipped_object_is_not_checkpointed_and_is_read_once_fixed(tmp_path: Path) -> None:
    root = tmp_path / "logs"
    _corpus(root, files=1)
    late = root / "flow" / "late.log.gz"
    late.write_bytes(gzip.compress(netlogs.flow_log_body([]))[:-6])  # still being written: truncated
    with Store.open(tmp_path / "s.duckdb") as store:
        first = _run(root, store)
        assert [s.path for s in first.read_report.files_skipped] == [str(late.resolve())]
        assert store.get_checkpoint(CHECKPOINT_SOURCE, str(late.resolve())) is None
        write_flows(late, netlogs.tor_connections(flows(9), WORKER, TOR_NODE_IP, sessions=1))
        second = _run(root, store)
        assert second.read_report.files_read == 1 and second.stats["objects_already_read"] == 2
        assert second.read_report.clean


class _Crash(Exception):
    pass


@pytest.mark.parametrize("crash_at", ["upserted", "checkpointed"])
def test_crash_between_commit_steps_ends_with_the_same_findings(tmp_path: Path, crash_at: str) -> None:
    root = tmp_path / "logs"
    _corpus(root)
    expected = _expected(root, tmp_path / "clean.duckdb")
    assert expected

    def crash(step: str) -> None:
        if step == crash_at:
            raise _Crash

    with Store.open(tmp_path / "crashed.duckdb") as store:
        with pytest.raises(_Crash):
            _run(root, store, run_id=store.start_run("detect"), hook=crash)
        assert store.get_checkpoint(CHECKPOINT_SOURCE, checkpoints.JOURNAL_KEY)  # left half-committed
        resumed = _run(root, store, run_id=store.start_run("detect"))
        assert resumed.stats["recovered_chunk"] == "completed"  # the journal finished the chunk
        assert resumed.read_report.files_read == 0 and resumed.stats["objects_already_read"] == 8
        assert _state(store) == expected
        assert store.get_checkpoint(CHECKPOINT_SOURCE, checkpoints.JOURNAL_KEY) == ""
        # CloudTrail's journal is its own: a network crash leaves it alone.
        assert store.get_checkpoint(checkpoints.SOURCE, checkpoints.JOURNAL_KEY) is None


def test_a_crash_inside_the_findings_transaction_rolls_back_and_rereads(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "logs"
    _corpus(root)
    expected = _expected(root, tmp_path / "clean.duckdb")
    with Store.open(tmp_path / "crashed.duckdb") as store:
        real = store.upsert_findings

        def crash_mid_upsert(run_id: str | None, findings: list[Finding]) -> object:
            with store.transaction() as db:  # the store's own transaction: work done, then the process dies
                db.execute("DELETE FROM findings")
                raise _Crash

        monkeypatch.setattr(store, "upsert_findings", crash_mid_upsert)
        with pytest.raises(_Crash):
            _run(root, store)
        monkeypatch.setattr(store, "upsert_findings", real)
        assert _state(store) == []
        resumed = _run(root, store, run_id=store.start_run("detect"))
        assert resumed.stats["recovered_chunk"] == "rolled back"
        assert resumed.read_report.files_read == 8
        assert _state(store) == expected


_KILLER = """
import os, signal, sys
from cloudwarden.detect.netlogs import engine
from cloudwarden.store import Store
root, path, when = sys.argv[1], sys.argv[2], sys.argv[3]
def die(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGKILL)
if when == "reading":  # after the flow logs, in the middle of reading the DNS logs
    engine.load_dns_objects = die
def hook(step):
    if step == when:
        die()
with Store.open(path) as store:
    engine.run_network_detection([root + "/flow"], [root + "/dns"], store=store,
                                 run_id=store.start_run("detect"), hook=hook)
"""


@pytest.mark.parametrize("when", ["reading", "upserted", "promoted"])
def test_kill_9_mid_run_then_rerun_matches_an_uninterrupted_run(tmp_path: Path, when: str) -> None:
    root = tmp_path / "logs"
    _corpus(root)
    expected = _expected(root, tmp_path / "clean.duckdb")
    killed = tmp_path / "killed.duckdb"
    proc = subprocess.run([sys.executable, "-c", _KILLER, str(root), str(killed), when],
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    with Store.open(killed) as store:
        journal = store.get_checkpoint(CHECKPOINT_SOURCE, checkpoints.JOURNAL_KEY)
        if when == "reading":
            assert _state(store) == [] and not journal
        else:  # findings in (and, when promoted, checkpoints and the tail too), the journal not yet cleared
            assert _state(store) == expected and journal
        checkpointed = [store.get_checkpoint(CHECKPOINT_SOURCE, key) is not None for key in _keys(root)]
        assert all(checkpointed) if when == "promoted" else not any(checkpointed)
        resumed = _run(root, store, run_id=store.start_run("detect"))
        assert resumed.read_report.files_read == (8 if when == "reading" else 0)
        assert _state(store) == expected
        again = _run(root, store, run_id=store.start_run("detect"))
        assert again.findings == [] and _state(store) == expected


def test_s3_objects_are_checkpointed_by_etag(tmp_path: Path) -> None:
    bucket = "flow-logs-bucket"
    scan = netlogs.port_scan(flows(4), WEB, SCANNED, ports=60)
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=bucket)
        for index in range(2):
            s3.put_object(Bucket=bucket, Key=f"AWSLogs/{PROD}/vpcflowlogs/us-east-1/f{index}.log.gz",
                          Body=netlogs.flow_log_body(scan[index::2]))
        target = AwsTarget(region="us-east-1")
        with Store.open(tmp_path / "s.duckdb") as store:
            first = run_network_detection([f"s3://{bucket}"], store=store, target=target)
            assert first.read_report.files_read == 2 and _types(first.findings) == {"Recon:EC2/Portscan"}
            key = f"s3://{bucket}/AWSLogs/{PROD}/vpcflowlogs/us-east-1/f0.log.gz"
            assert str(store.get_checkpoint(CHECKPOINT_SOURCE, key)).startswith("etag=")
            again = run_network_detection([f"s3://{bucket}"], store=store, target=target)
            assert again.read_report.files_read == 0 and again.stats["objects_already_read"] == 2
            assert again.findings == []
