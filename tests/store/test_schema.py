"""Schema and migrations: a new store is created at the current version, reopening migrates nothing,
and a store from a newer cloudwarden is refused."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from cloudwarden.core.errors import RuntimeFailure
from cloudwarden.store import SCHEMA_VERSION, Store
from cloudwarden.store.schema import MIGRATIONS, current_version, migrate

TABLES = {"runs", "snapshots", "resources", "findings", "finding_history", "audit_log", "checkpoints",
          "schema_version", "outbox", "audit_chain", "respond_runs", "respond_undo", "route_sent", "route_log",
          "baseline_seen", "baseline_volume", "detect_carry"}


def _tables(path: Path) -> dict[str, set[str]]:
    with duckdb.connect(str(path), read_only=True) as conn:
        rows = conn.execute("SELECT table_name, column_name FROM information_schema.columns").fetchall()
    tables: dict[str, set[str]] = {}
    for table, column in rows:
        tables.setdefault(table, set()).add(column)
    return tables


def test_new_store_has_every_table(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "dir" / "cloudwarden.duckdb"
    Store.open(path).close()
    tables = _tables(path)
    assert set(tables) == TABLES
    assert {"id", "command", "started_at", "ended_at", "status", "stats"} == tables["runs"]
    assert {"snapshot_id", "arn", "type", "account", "region", "document"} == tables["resources"]
    assert {"lifecycle", "reopened_count", "first_seen", "last_seen", "count", "evidence"} <= tables["findings"]
    assert {"finding_id", "run_id", "at", "change"} <= tables["finding_history"]
    assert {"at", "actor", "action", "target", "dry_run", "details"} <= tables["audit_log"]
    assert {"source", "key", "position", "updated_at"} == tables["checkpoints"]
    assert {"source", "state", "log_table", "event_id", "event_time", "record", "cited"} == tables["detect_carry"]


def test_migration_7_keeps_a_version_6_tail_as_cloudtrails(tmp_path: Path) -> None:
    path = tmp_path / "s.duckdb"
    with duckdb.connect(str(path)) as conn:  # a store as version 6 left it, with a CloudTrail tail
        conn.execute("CREATE TABLE schema_version (version INTEGER NOT NULL, applied_at TIMESTAMP)")
        for version, statements in enumerate(MIGRATIONS[:6], start=1):
            for statement in statements:
                conn.execute(statement)
            conn.execute("INSERT INTO schema_version VALUES (?, NULL)", [version])
        conn.execute("INSERT INTO detect_carry VALUES ('current', 'ev-1', '2026-03-01 10:00:00', '{}', ['r1'])")
    with Store.open(path):
        pass
    with duckdb.connect(str(path), read_only=True) as conn:
        assert conn.execute("SELECT max(version) FROM schema_version").fetchone() == (SCHEMA_VERSION,)
        assert SCHEMA_VERSION == 7
        assert conn.execute("SELECT source, state, log_table, event_id, cited FROM detect_carry").fetchall() == [
            ("detect.cloudtrail", "current", "cloudtrail", "ev-1", ["r1"])]


def test_reopen_migrates_nothing(tmp_path: Path) -> None:
    path = tmp_path / "s.duckdb"
    with Store.open(path) as store:
        store.start_run("scan")
    with Store.open(path) as store:
        assert len(store.runs()) == 1
    with duckdb.connect(str(path)) as conn:
        assert current_version(conn) == SCHEMA_VERSION
        assert migrate(conn, str(path)) == SCHEMA_VERSION
        assert conn.execute("SELECT count(*) FROM schema_version").fetchone() == (SCHEMA_VERSION,)


def test_newer_store_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.duckdb"
    Store.open(path).close()
    with duckdb.connect(str(path)) as conn:
        conn.execute("INSERT INTO schema_version VALUES (?, NULL)", [SCHEMA_VERSION + 1])
    with pytest.raises(RuntimeFailure, match="newer than this cloudwarden"):
        Store.open(path)


def test_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "s.duckdb"
    path.write_text("this is not a database\n" * 100)
    with pytest.raises(RuntimeFailure, match=r"s\.duckdb"):
        Store.open(path)


def test_read_only_open(tmp_path: Path) -> None:
    path = tmp_path / "s.duckdb"
    with Store.open(path) as store:
        store.audit("cli", "scan", "all", True)
    with Store.open(path, read_only=True) as store:
        assert [e.action for e in store.audit_entries()] == ["scan"]
