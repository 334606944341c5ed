"""The DuckDB store: finding lifecycle, history, runs, audit log, checkpoints, concurrency, secrets."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import duckdb
import pytest

from cloudwarden.core.errors import RuntimeFailure
from cloudwarden.core.finding import Finding, ResourceRef, Source, Status
from cloudwarden.core.severity import Severity
from cloudwarden.store import Change, Lifecycle, Store, UpsertStats
from tests.findings import samples


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.open(tmp_path / "state" / "cloudwarden.duckdb") as opened:
        yield opened


def _detection(n: int, **fields: object) -> Finding:
    values: dict[str, object] = {
        "source": Source.DETECT, "rule_id": "recon-burst", "type": "Recon:IAMUser/UserPermissions",
        "title": f"Recon burst {n}", "severity": Severity.MEDIUM, "account_id": samples.PROD,
        "region": "us-east-1", "resource": ResourceRef(type="AwsIamUser", id=f"arn:aws:iam::{samples.PROD}:user/u{n}"),
        "seen": samples.T0,
    }
    values.update(fields)
    return Finding.create(**values)  # type: ignore[arg-type]


def test_upserted_twice_is_one_row_with_count_two(store: Store) -> None:
    run = store.start_run("scan")
    first = samples.posture_failed()
    assert store.upsert_findings(run, [first]) == UpsertStats(new=1)
    again = first.model_copy(update={"last_seen": samples.T0 + timedelta(days=1),
                                     "first_seen": samples.T0 + timedelta(days=1), "title": "Still public"})
    assert store.upsert_findings(run, [again]) == UpsertStats(updated=1)
    rows = store.findings()
    assert len(rows) == 1
    stored = rows[0]
    assert stored.count == 2
    assert stored.first_seen == samples.T0  # kept
    assert stored.last_seen == samples.T0 + timedelta(days=1)
    assert stored.title == "Still public"  # current fields follow the newest sighting
    assert [h.change for h in store.history(first.id)] == [Change.NEW, Change.UPDATED]


def test_duplicates_in_one_batch_merge(store: Store) -> None:
    run = store.start_run("detect")
    a = _detection(1)
    b = _detection(1, first_seen=samples.T0 - timedelta(hours=1), last_seen=samples.T0 + timedelta(hours=1),
                   count=4)
    assert store.upsert_findings(run, [a, b]) == UpsertStats(new=1)
    stored = store.get_finding(a.id)
    assert stored is not None and stored.count == 5
    assert stored.first_seen == samples.T0 - timedelta(hours=1) and stored.last_seen == samples.T0 + timedelta(hours=1)


def test_older_sighting_counts_but_does_not_overwrite(store: Store) -> None:
    run = store.start_run("detect")
    store.upsert_findings(run, [_detection(1, seen=samples.T0 + timedelta(days=2))])
    stale = _detection(1, seen=samples.T0, title="old title", status=Status.ARCHIVED)
    assert store.upsert_findings(run, [stale]) == UpsertStats(updated=1)
    record = store.get_record(stale.id)
    assert record is not None
    assert record.finding.title == "Recon burst 1" and record.finding.status is Status.ACTIVE
    assert record.finding.count == 2 and record.finding.first_seen == samples.T0
    assert record.lifecycle is Lifecycle.NEW


def test_lifecycle_notified_resolved_reopened(store: Store) -> None:
    run1 = store.start_run("detect")
    kept, gone = _detection(1), _detection(2)
    store.upsert_findings(run1, [kept, gone])
    assert store.mark_notified([kept.id, gone.id, "no-such-id"]) == 2
    assert store.mark_notified([kept.id]) == 0  # already notified
    store.end_run(run1, "ok")

    run2 = store.start_run("detect")
    store.upsert_findings(run2, [kept])
    assert store.resolve_missing(run2, Source.DETECT, [kept.id]) == 1
    resolved = store.get_record(gone.id)
    assert resolved is not None and resolved.lifecycle is Lifecycle.RESOLVED and resolved.resolved_at is not None
    assert store.get_record(kept.id).lifecycle is Lifecycle.NOTIFIED  # type: ignore[union-attr]

    run3 = store.start_run("detect")
    back = gone.model_copy(update={"last_seen": samples.T0 + timedelta(days=3)})
    assert store.upsert_findings(run3, [back]) == UpsertStats(reopened=1)
    record = store.get_record(gone.id)
    assert record is not None
    assert record.lifecycle is Lifecycle.NEW and record.reopened_count == 1
    assert record.resolved_at is None and record.notified_at is None and record.last_run_id == run3
    assert record.finding.count == 2 and record.finding.first_seen == samples.T0
    assert [(h.change, h.run_id) for h in store.history(gone.id)] == [
        (Change.NEW, run1), (Change.NOTIFIED, None), (Change.RESOLVED, run2), (Change.REOPENED, run3)]


def test_passing_verdict_resolves_and_failing_reopens(store: Store) -> None:
    run = store.start_run("scan")
    failed = samples.posture_failed()
    store.upsert_findings(run, [failed])
    passed = failed.model_copy(update={"status": Status.PASSED, "last_seen": samples.T0 + timedelta(hours=1)})
    assert store.upsert_findings(run, [passed]) == UpsertStats(resolved=1)
    assert store.get_record(failed.id).lifecycle is Lifecycle.RESOLVED  # type: ignore[union-attr]
    again = failed.model_copy(update={"last_seen": samples.T0 + timedelta(hours=2)})
    assert store.upsert_findings(run, [again]) == UpsertStats(reopened=1)
    new_pass = samples.all_kinds()[1]
    assert store.upsert_findings(run, [new_pass]) == UpsertStats(new=1)
    assert store.get_record(new_pass.id).lifecycle is Lifecycle.RESOLVED  # type: ignore[union-attr]


def test_resolve_missing_is_scoped(store: Store) -> None:
    run = store.start_run("scan")
    posture = samples.posture_failed()
    elsewhere = _detection(3, region="eu-west-1")
    here = _detection(4)
    store.upsert_findings(run, [posture, elsewhere, here])
    # a detect run over us-east-1 only: the posture finding and the eu-west-1 one stay open
    assert store.resolve_missing(run, "detect", [], regions=["us-east-1"]) == 1
    assert store.findings(lifecycle=Lifecycle.RESOLVED) == [here]
    assert store.resolve_missing(run, "detect", [], accounts=["999999999999"]) == 0
    with pytest.raises(ValueError, match="no run"):
        store.resolve_missing("run-missing", "detect", [])


def test_filters(store: Store) -> None:
    run = store.start_run("demo")
    findings = samples.all_kinds()
    store.upsert_findings(run, findings)
    assert {f.id for f in store.findings(source="posture")} == {f.id for f in findings if f.source is Source.POSTURE}
    high = store.findings(min_severity=Severity.HIGH)
    assert high and all(f.severity >= Severity.HIGH for f in high)
    assert [f.severity for f in store.findings()] == sorted((f.severity for f in findings), reverse=True)
    assert store.findings(status=Status.PASSED) == [findings[1]]
    assert store.findings(rule_id="iam.escalation-path", account_id=samples.PROD, region="global") == [findings[8]]
    assert store.findings(control_id="S3.8") == [findings[0]]
    assert len(store.findings(resource_id="arn:aws:s3:::prod-customer-data")) == 2
    assert store.findings(since=samples.T0 + timedelta(hours=1)) == [findings[4].redacted()]
    assert len(store.findings(limit=3)) == 3
    assert store.get_finding("nope") is None


def test_round_trip_keeps_every_field(store: Store) -> None:
    run = store.start_run("demo")
    findings = samples.all_kinds()
    store.upsert_findings(run, findings)
    for finding in findings:
        assert store.get_finding(finding.id) == finding.redacted()


def test_secrets_are_never_stored(store: Store, tmp_path: Path) -> None:
    run = store.start_run("detect")
    store.upsert_findings(run, samples.all_kinds())
    store.audit("responder", "iam.deactivate-key", "arn:aws:iam::1:user/x", False,
                {"AccessKeyId": "AKIAEXAMPLE", "SecretAccessKey": samples.SECRET})
    store.end_run(run, "ok", {"session_token": "FwoGZXIvYXdzEXAMPLE"})
    path = Path(store.path)
    store.close()
    with duckdb.connect(str(path), read_only=True) as raw:
        dump = json.dumps([raw.execute(f"SELECT * FROM {t}").fetchall()
                           for t in ("findings", "audit_log", "runs")], default=str)
    assert samples.SECRET not in dump and "hunter2" not in dump and "FwoGZXIvYXdzEXAMPLE" not in dump
    assert "AKIAEXAMPLE" in dump


def test_runs(store: Store) -> None:
    run = store.start_run("scan")
    record = store.get_run(run)
    assert record is not None and record.status == "running" and record.ended_at is None
    store.end_run(run, "ok", {"findings": 3, "by_severity": {"HIGH": 1}})
    record = store.get_run(run)
    assert record is not None and record.status == "ok" and record.stats == {"findings": 3, "by_severity": {"HIGH": 1}}
    assert record.ended_at is not None and record.ended_at >= record.started_at
    later = store.start_run("detect")
    assert [r.id for r in store.runs()] == [later, run]
    with pytest.raises(ValueError, match="no run"):
        store.end_run("run-nope", "ok")


def test_snapshots(store: Store) -> None:
    run = store.start_run("scan")
    first = store.create_snapshot(run, samples.PROD, "us-east-1")
    second = store.create_snapshot(run, samples.PROD, "eu-west-1", status="partial",
                                   errors=[{"operation": "s3:ListBuckets", "error": "AccessDenied"}])
    assert {s.id for s in store.snapshots()} == {first, second}
    partial = store.snapshots(region="eu-west-1")
    assert [(s.id, s.status, s.run_id) for s in partial] == [(second, "partial", run)]


def test_audit_log_is_append_only_and_ordered(store: Store) -> None:
    public = {name for name in dir(Store) if not name.startswith("_")}
    assert {name for name in public if "audit" in name} == {"audit", "audit_entries"}
    seqs = [store.audit("cli", f"step-{i}", f"target-{i}", i % 2 == 0, {"i": i}) for i in range(20)]
    assert seqs == sorted(seqs) and len(set(seqs)) == 20
    entries = store.audit_entries()
    assert [e.action for e in entries] == [f"step-{i}" for i in range(20)]
    assert [e.details for e in entries] == [{"i": i} for i in range(20)]
    assert [e.at for e in entries] == sorted(e.at for e in entries)
    assert entries[0].dry_run is True and entries[1].dry_run is False
    assert [e.target for e in store.audit_entries(action="step-3")] == ["target-3"]
    assert len(store.audit_entries(limit=5)) == 5


def test_checkpoints(store: Store) -> None:
    assert store.get_checkpoint("cloudtrail", "s3://bucket/AWSLogs/") is None
    store.set_checkpoint("cloudtrail", "s3://bucket/AWSLogs/", "2025/03/01/file-1.json.gz")
    store.set_checkpoint("cloudtrail", "s3://bucket/AWSLogs/", "2025/03/01/file-2.json.gz")
    store.set_checkpoint("flowlogs", "s3://bucket/AWSLogs/", "7")
    assert store.get_checkpoint("cloudtrail", "s3://bucket/AWSLogs/") == "2025/03/01/file-2.json.gz"
    assert store.get_checkpoint("flowlogs", "s3://bucket/AWSLogs/") == "7"


def test_concurrent_upserts_lose_nothing(store: Store) -> None:
    run = store.start_run("detect")
    threads_n, per_thread = 8, 200
    shared = [_detection(10_000 + i) for i in range(20)]  # every thread also sees these
    errors: list[BaseException] = []
    reads: list[int] = []

    def work(t: int) -> None:
        try:
            mine = [_detection(t * per_thread + i) for i in range(per_thread)]
            for chunk in range(0, per_thread, 50):
                store.upsert_findings(run, mine[chunk:chunk + 50] + shared)
                reads.append(len(store.findings(source="detect")))
                store.audit(f"worker-{t}", "upsert", str(chunk), False)
        except BaseException as exc:  # surfaced by the assert below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(threads_n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(store.findings()) == threads_n * per_thread + len(shared)
    for finding in shared:
        stored = store.get_finding(finding.id)
        assert stored is not None and stored.count == threads_n * (per_thread // 50)
    assert len(store.audit_entries()) == threads_n * (per_thread // 50)
    assert reads and max(reads) == threads_n * per_thread + len(shared)


def test_bulk_upsert_is_set_based(store: Store) -> None:
    run = store.start_run("detect")
    batch = [_detection(i) for i in range(5000)]
    assert store.upsert_findings(run, batch) == UpsertStats(new=5000)
    assert store.upsert_findings(run, batch) == UpsertStats(updated=5000)
    assert store.resolve_missing(run, "detect", [f.id for f in batch[:4000]]) == 1000
    assert len(store.findings(lifecycle="RESOLVED")) == 1000


def test_closed_store_refuses_work(tmp_path: Path) -> None:
    opened = Store.open(tmp_path / "s.duckdb")
    opened.close()
    opened.close()  # idempotent
    with pytest.raises(RuntimeFailure, match="closed"):
        opened.start_run("scan")
    with pytest.raises(RuntimeFailure, match="closed"):
        opened.findings()


def test_second_process_gets_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "busy.duckdb"
    Store.open(path).close()
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, duckdb; c = duckdb.connect(sys.argv[1]); print('ready', flush=True); sys.stdin.read()",
         str(path)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        with pytest.raises(RuntimeFailure, match="another cloudwarden"):
            Store.open(path)
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(timeout=30)
