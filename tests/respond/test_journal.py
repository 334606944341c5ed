"""The hash-chained audit log: entries chain, verify, and any edit or removal is detected."""

from __future__ import annotations

import itertools
from pathlib import Path

import duckdb

from cloudwarden.respond.journal import GENESIS, Journal, verify_chain
from cloudwarden.store import Store


def write(path: Path, n: int) -> None:
    with Store.open(path) as store:
        journal = Journal(store)
        for i in range(n):
            journal.append("tester", f"act-{i}", f"target-{i}", dry_run=i % 2 == 0,
                           details={"run_id": "r1", "i": i, "SecretAccessKey": "wJalrXUtnFEMI/K7MDENG"})
        store.audit("someone-else", "unchained", "t", False)  # other writers' entries do not break the chain


def test_entries_chain_and_verify(tmp_path: Path) -> None:
    path = tmp_path / "s.duckdb"
    write(path, 4)
    with Store.open(path) as store:
        entries = Journal(store).entries(run_id="r1")
        report = verify_chain(store)
    assert [e.action for e in entries] == ["act-0", "act-1", "act-2", "act-3"]
    assert entries[0].prev_hash == GENESIS
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(entries))
    assert report.ok and report.entries == 4 and report.head == entries[-1].hash
    assert all(e.details["SecretAccessKey"] == "[REDACTED]" for e in entries)


def tamper(path: Path, sql: str) -> list[str]:
    conn = duckdb.connect(str(path))
    conn.execute(sql)
    conn.close()
    with Store.open(path) as store:
        return verify_chain(store).problems


def test_an_edited_entry_is_detected(tmp_path: Path) -> None:
    path = tmp_path / "s.duckdb"
    write(path, 4)
    problems = tamper(path, "UPDATE audit_log SET target = 'someone-innocent' WHERE action = 'act-2'")
    assert len(problems) == 1 and "altered" in problems[0]


def test_an_edited_timestamp_or_flag_is_detected(tmp_path: Path) -> None:
    path = tmp_path / "s.duckdb"
    write(path, 3)
    assert tamper(path, "UPDATE audit_log SET dry_run = NOT dry_run WHERE action = 'act-1'")


def test_a_removed_entry_is_detected(tmp_path: Path) -> None:
    path = tmp_path / "s.duckdb"
    write(path, 4)
    problems = tamper(path, "DELETE FROM audit_log WHERE action = 'act-1'")
    assert any("missing" in p for p in problems)
    path2 = tmp_path / "s2.duckdb"
    write(path2, 4)
    problems = tamper(path2, "DELETE FROM audit_chain WHERE seq = (SELECT seq FROM audit_log WHERE action = 'act-1')")
    assert any("link" in p for p in problems)
