"""Loading CloudTrail into the ``cloudtrail`` table (detect/load.py) and incremental, crash-safe runs."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from cloudwarden.aws.session import AwsTarget
from cloudwarden.core.errors import BadInputError
from cloudwarden.detect import checkpoints
from cloudwarden.detect.engine import CloudTrailDB, run_detection
from cloudwarden.detect.rules import load_pack
from cloudwarden.store import Store
from tests.detect.ct_samples import ATTACKER_IP, PROD, event, write_lines, write_trail_file

KALI = "aws-cli/2.15.0 Python/3.11.6 Linux/6.5.0-kali2-amd64 exe/x86_64.kali.2024 prompt/off"


def _rows(db: CloudTrailDB) -> dict[str, dict[str, Any]]:
    return {r["event_id"]: r for r in db.query("SELECT * FROM cloudtrail")}


def test_every_shape_loads_the_same_rows(tmp_path: Path) -> None:
    assumed = event(1, "GetObject", userIdentity={
        "type": "AssumedRole", "principalId": "AROAX:web", "accountId": PROD,
        "arn": f"arn:aws:sts::{PROD}:assumed-role/app/web", "accessKeyId": "ASIAX",
        "sessionContext": {"sessionIssuer": {"type": "Role", "arn": f"arn:aws:iam::{PROD}:role/app",
                                             "userName": "app"},
                           "attributes": {"mfaAuthenticated": "false", "creationDate": "2026-03-01T09:00:00Z"}}},
        requestParameters={"bucketName": "b", "key": "k"}, eventTime="2026-03-01T12:30:00+02:00")
    records = [event(0), assumed, event(2, "ConsoleLogin", "signin.amazonaws.com",
                                        additionalEventData={"MFAUsed": "No"},
                                        responseElements={"ConsoleLogin": "Success"})]
    shapes = {
        "trail.json.gz": lambda p: write_trail_file(p, records),
        "array.json": lambda p: p.write_text(json.dumps(records, indent=2)),
        "lines.jsonl": lambda p: write_lines(p, records),
    }
    loaded = []
    for name, write in shapes.items():
        path = tmp_path / name
        write(path)
        db, report = CloudTrailDB.from_paths([path])
        assert report.clean and report.files_read == 1 and report.records == 3, name
        loaded.append(_rows(db))
    # The same rows whatever the shape, but for the file they came from.
    for rows in loaded:
        assert {k: {c: v for c, v in r.items() if c != "source_file"} for k, r in rows.items()} == {
            k: {c: v for c, v in r.items() if c != "source_file"} for k, r in loaded[0].items()}
    row = loaded[0]["ev-1"]
    assert row["event_time"] == datetime(2026, 3, 1, 10, 30)  # +02:00 made UTC
    assert row["identity_user_name"] == "app"  # from the session issuer
    assert row["session_issuer_arn"] == f"arn:aws:iam::{PROD}:role/app" and row["mfa_authenticated"] == "false"
    assert json.loads(row["request_parameters"]) == {"bucketName": "b", "key": "k"}
    assert row["response_elements"] is None and row["read_only"] is True
    assert json.loads(loaded[0]["ev-2"]["additional_event_data"]) == {"MFAUsed": "No"}
    assert loaded[0]["ev-0"]["source_file"] == str((tmp_path / "trail.json.gz").resolve())


def test_a_single_pretty_printed_event_loads(tmp_path: Path) -> None:
    path = tmp_path / "one.json"
    path.write_text(json.dumps(event(7, requestParameters={"a": {"b": [1, 2]}}), indent=4))
    db, report = CloudTrailDB.from_paths([path])
    assert report.records == 1
    assert json.loads(db.query("SELECT request_parameters FROM cloudtrail")[0]["request_parameters"]) == {
        "a": {"b": [1, 2]}}


def test_bad_input_is_reported_and_skipped_and_the_rest_loads(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    write_trail_file(logs / "good.json.gz", [event(1), event(2)])
    truncated = gzip.compress(json.dumps({"Records": [event(3)]}).encode())[:-12]
    (logs / "truncated.json.gz").write_bytes(truncated)
    (logs / "other.json").write_text(json.dumps({"name": "not cloudtrail", "items": [1, 2]}))
    write_trail_file(logs / "mixed.json.gz", [event(4), {"eventTime": "2026-03-01T10:00:00Z", "eventID": "x"},
                                              event(5, eventTime="yesterday")])
    write_lines(logs / "lines.jsonl", [event(6)])
    with (logs / "lines.jsonl").open("a") as handle:
        handle.write("{broken\n")
    (logs / "digest.json.gz").write_bytes(gzip.compress(json.dumps(
        {"digestStartTime": "x", "logFiles": []}).encode()))
    (logs / "notes.txt").write_text("hello")
    (logs / "latin1.json").write_bytes(json.dumps({"Records": [event(7)]}).encode().replace(b"alice", b"al\xefce"))

    db, report = CloudTrailDB.from_paths([logs])

    assert sorted(_rows(db)) == ["ev-1", "ev-2", "ev-4", "ev-6"]
    skipped = {Path(s.path).name: s.reason for s in report.files_skipped}
    assert skipped["truncated.json.gz"].startswith("truncated gzip")
    assert skipped["latin1.json"].startswith("not UTF-8")
    assert skipped["other.json"].startswith("not CloudTrail")
    assert "digest" in skipped["digest.json.gz"]
    assert "not a log file name" in skipped["notes.txt"]
    records = {(Path(s.path).name, s.where): s.reason for s in report.records_skipped}
    assert records[("mixed.json.gz", "record 1")].startswith("missing or non-string eventSource")
    assert "not an ISO 8601 time" in records[("mixed.json.gz", "record 2")]
    assert records[("lines.jsonl", "line 2")].startswith("not valid JSON")
    assert report.files_read == 3 and report.records == 4


def test_a_missing_path_is_bad_input(tmp_path: Path) -> None:
    with pytest.raises(BadInputError, match="no such file"):
        CloudTrailDB.from_paths([tmp_path / "nope"])


def test_since_until_and_duplicates(tmp_path: Path) -> None:
    write_trail_file(tmp_path / "a.json.gz", [event(1, minute=1), event(2, minute=20), event(3, minute=40)])
    write_trail_file(tmp_path / "b.json.gz", [event(2, minute=20)])  # delivered twice
    db, _ = CloudTrailDB.from_paths([tmp_path], since=datetime(2026, 3, 1, 10, 10, tzinfo=UTC),
                                    until=datetime(2026, 3, 1, 10, 40, tzinfo=UTC))
    assert sorted(_rows(db)) == ["ev-2"]


def test_s3_prefix_reads_like_a_directory(tmp_path: Path) -> None:
    local = write_trail_file(tmp_path / "x.json.gz", [event(1), event(2)])
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="trail-bucket")
        base = f"AWSLogs/{PROD}/CloudTrail/us-east-1/2026/03/01/"
        s3.put_object(Bucket="trail-bucket", Key=base + "a.json.gz", Body=local.read_bytes())
        s3.put_object(Bucket="trail-bucket", Key=base + "b.json.gz", Body=b"\x1f\x8b\x08truncated")
        s3.put_object(Bucket="trail-bucket", Key=f"AWSLogs/{PROD}/CloudTrail-Digest/us-east-1/d.json.gz", Body=b"{}")
        db, report = CloudTrailDB.from_paths(["s3://trail-bucket/AWSLogs/"], target=AwsTarget())
        assert sorted(_rows(db)) == ["ev-1", "ev-2"]
        assert report.files_read == 1
        reasons = {s.path: s.reason for s in report.files_skipped}
        assert reasons[f"s3://trail-bucket/{base}b.json.gz"].startswith(("truncated gzip", "corrupt gzip"))
        assert "digest" in reasons[f"s3://trail-bucket/AWSLogs/{PROD}/CloudTrail-Digest/us-east-1/d.json.gz"]
        assert _rows(db)["ev-1"]["source_file"] == f"s3://trail-bucket/{base}a.json.gz"
        with pytest.raises(BadInputError, match="no such bucket"):
            CloudTrailDB.from_paths(["s3://missing-bucket/x"], target=AwsTarget())


def test_a_memory_limit_spills_and_finds_the_same(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    _corpus(logs, files=4)
    pack = load_pack()
    plain = run_detection([logs], rules=pack.rules, allowlist=pack.allowlist)
    limited = run_detection([logs], rules=pack.rules, allowlist=pack.allowlist, memory_limit="64MB")
    assert limited.findings == plain.findings and plain.findings


# --- checkpoints and crash safety ------------------------------------------------------------------------------


def _corpus(root: Path, files: int = 6) -> None:
    """Kali calls by one user across every file, plus secrets reads that only cross the threshold together."""
    n = 0
    for index in range(files):
        records = []
        for _ in range(3):
            n += 1
            records.append(event(n, "ListUsers", "iam.amazonaws.com", minute=index, second=n % 60,
                                 user="mallory", ip=ATTACKER_IP, userAgent=KALI))
        n += 1
        records.append(event(n, "GetSecretValue", "secretsmanager.amazonaws.com", minute=index, second=n % 60,
                             user="mallory", requestParameters={"secretId": f"s{index}"}))
        write_trail_file(root / f"2026/03/01/f{index:02d}.json.gz", records)


def _state(store: Store) -> list[tuple[str, str, int, str, str]]:
    return sorted((f.id, f.type, f.count, f.first_seen.isoformat(), f.last_seen.isoformat())
                  for f in store.findings(source="detect"))


# The pack's rules the corpus exercises (a grouped one, a threshold one, an intel one): fewer rules, faster runs.
CRASH_RULES = ("cw.pentest.kali", "cw.iam.secrets-bulk-retrieval", "cw.intel.malicious.recon")


def _detect(logs: Path, store: Store, **kw: Any) -> Any:
    pack = load_pack()
    rules = [r for r in pack.rules if r.id in CRASH_RULES]
    return run_detection([logs], rules=rules, allowlist=pack.allowlist, store=store, **kw)


def test_rerun_reads_only_new_files(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    _corpus(logs, files=3)
    with Store.open(tmp_path / "s.duckdb") as store:
        first = _detect(logs, store)
        assert first.read_report.files_read == 3 and first.stats["events"] == 12
        kali = next(f for f in first.findings if f.type == "PenTest:IAMUser/KaliLinux")
        assert kali.count == 9

        again = _detect(logs, store)
        assert again.read_report.files_read == 0 and again.stats["objects_already_read"] == 3
        assert again.findings == []

        write_trail_file(logs / "2026/03/01/new.json.gz",
                         [event(100, "ListRoles", "iam.amazonaws.com", minute=5, user="mallory", ip=ATTACKER_IP,
                                userAgent=KALI)])
        third = _detect(logs, store)
        assert third.read_report.files_read == 1 and third.stats["objects_already_read"] == 3
        stored = store.get_finding(kali.id)
        assert stored is not None and stored.count == 10  # 9 + 1: counted once each


def test_a_bad_file_is_not_checkpointed(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    _corpus(logs, files=1)
    (logs / "late.json.gz").write_bytes(gzip.compress(b'{"Records": [')[:-5])
    with Store.open(tmp_path / "s.duckdb") as store:
        assert len(_detect(logs, store).read_report.files_skipped) == 1
        # Fixed (CloudTrail finished writing it): the next run reads it.
        write_trail_file(logs / "late.json.gz", [event(50, "ListUsers", "iam.amazonaws.com", user="mallory")])
        later = _detect(logs, store)
        assert later.read_report.files_read == 1 and later.stats["objects_already_read"] == 1


def _chunk_of(logs: Path, files: int) -> int:
    """A chunk size (bytes) that puts ``files`` of the corpus's files in each chunk."""
    return sum(sorted(p.stat().st_size for p in logs.rglob("*.json.gz"))[-files:]) - 1


class _Crash(Exception):
    pass


@pytest.mark.parametrize("crash_at", ["upserted", "checkpointed", "promoted"])
def test_crash_between_chunks_ends_with_the_same_findings(tmp_path: Path, crash_at: str) -> None:
    logs = tmp_path / "logs"
    _corpus(logs, files=15)
    chunk = _chunk_of(logs, 5)
    with Store.open(tmp_path / "clean.duckdb") as store:
        result = _detect(logs, store, chunk_bytes=chunk)
        assert result.stats["chunks"] == 3
        expected = _state(store)
    assert any(t == "CredentialAccess:IAMUser/SecretsBulkRetrieval" for _, t, *_ in expected)

    calls = {"n": 0}

    def crash(step: str) -> None:
        if step == crash_at:
            calls["n"] += 1
            if calls["n"] == 2:  # in the middle of the second chunk's commit
                raise _Crash

    with Store.open(tmp_path / "crashed.duckdb") as store:
        with pytest.raises(_Crash):
            _detect(logs, store, chunk_bytes=chunk, hook=crash)
        resumed = _detect(logs, store, chunk_bytes=chunk)
        assert resumed.stats.get("recovered_chunk") == "completed"  # the journal finished the chunk
        assert _state(store) == expected
        assert store.get_checkpoint(checkpoints.SOURCE, checkpoints.JOURNAL_KEY) == ""


_KILLER = """
import os, signal, sys
from pathlib import Path
from cloudwarden.detect.engine import run_detection
from cloudwarden.detect.rules import load_pack
from cloudwarden.store import Store
seen = []
def hook(step):
    seen.append(step)
    if seen.count("upserted") == int(sys.argv[3]):
        os.kill(os.getpid(), signal.SIGKILL)
pack = load_pack()
rules = [r for r in pack.rules if r.id in sys.argv[5].split(",")]
with Store.open(sys.argv[2]) as store:
    run_detection([sys.argv[1]], rules=rules, allowlist=pack.allowlist, store=store,
                  chunk_bytes=int(sys.argv[4]),
                  run_id=store.start_run("detect"), hook=hook)
"""


def test_kill_9_mid_run_then_rerun_matches_an_uninterrupted_run(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    _corpus(logs, files=15)
    chunk = _chunk_of(logs, 5)
    with Store.open(tmp_path / "clean.duckdb") as store:
        _detect(logs, store, chunk_bytes=chunk, run_id=store.start_run("detect"))
        expected = _state(store)
    killed = tmp_path / "killed.duckdb"
    proc = subprocess.run([sys.executable, "-c", _KILLER, str(logs), str(killed), "2", str(chunk),
                           ",".join(CRASH_RULES)],
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert proc.returncode == -9, proc.stderr
    with Store.open(killed) as store:
        partial = _state(store)
        assert partial and partial != expected  # the kill left it half done
        _detect(logs, store, chunk_bytes=chunk, run_id=store.start_run("detect"))
        assert _state(store) == expected


def test_the_next_run_removes_the_scratch_a_killed_run_left(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    logs = tmp_path / "logs"
    _corpus(logs, files=15)
    chunk = _chunk_of(logs, 5)
    temp = tmp_path / "tmp"
    temp.mkdir()
    killed = tmp_path / "killed.duckdb"
    proc = subprocess.run([sys.executable, "-c", _KILLER, str(logs), str(killed), "2", str(chunk),
                           ",".join(CRASH_RULES)],
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "TMPDIR": str(temp)})
    assert proc.returncode == -9, proc.stderr
    left = [p for p in temp.iterdir() if p.name.startswith("cw-")]
    assert left  # the kill came while the run's carried tail was in scratch
    size = sum(f.stat().st_size for d in left for f in d.rglob("*") if f.is_file())
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    with Store.open(killed) as store:
        result = _detect(logs, store, chunk_bytes=chunk, run_id=store.start_run("detect"))
    assert result.stats["stale_scratch_removed"] == len(left)
    assert result.stats["stale_scratch_bytes"] == size
    assert [p for p in temp.iterdir() if p.name.startswith("cw-")] == []  # and the re-run's own are gone too
