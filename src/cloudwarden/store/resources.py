"""Inventory snapshots in the store: open one, add resource documents in bulk, close it with its errors,
and read the latest snapshot's documents by type, account or region.

A scan's snapshot row covers every account and region it scanned (``account``/``region`` hold the
comma-joined lists); each resource row carries its own account and region. The row is created
``running`` before collection starts and set to ``complete`` (no errors), ``partial`` (some calls
failed: see ``errors``) or ``failed`` at the end, so a reader never mistakes a half-written snapshot
for a finished one. Writes go through the store's single writer (``Store._write``), one transaction per
batch, staged as column lists and inserted set-based, as the findings upsert does.

Documents are written as given (they are secret-free by construction, see ``inventory``); the store's
key-name scrubber is not applied because it would blank legitimate fields such as the credential
report's ``password_enabled``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any, Final

from cloudwarden.store.store import Store

RUNNING: Final = "running"
FINISHED: Final = ("complete", "partial")


def begin_snapshot(store: Store, run_id: str | None, accounts: Sequence[str], regions: Sequence[str]) -> str:
    """Register a snapshot (status ``running``) and return its id."""
    return store.create_snapshot(run_id, ",".join(accounts), ",".join(regions), status=RUNNING)


def add_resources(store: Store, snapshot_id: str, documents: Iterable[dict[str, Any]]) -> int:
    """Insert documents (a later one with the same ARN replaces an earlier one); returns how many rows."""
    unique: dict[str, dict[str, Any]] = {}
    for document in documents:
        unique[str(document["arn"])] = document
    if not unique:
        return 0
    docs = list(unique.values())
    with store.transaction() as db:
        db.execute(
            "INSERT OR REPLACE INTO resources SELECT ?, unnest(?::VARCHAR[]), unnest(?::VARCHAR[]), "
            "unnest(?::VARCHAR[]), unnest(?::VARCHAR[]), unnest(?::VARCHAR[])::JSON",
            [
                snapshot_id,
                [d["arn"] for d in docs],
                [d["type"] for d in docs],
                [d["account"] for d in docs],
                [d["region"] for d in docs],
                [json.dumps(d, sort_keys=True, default=str) for d in docs],
            ],
        )
    return len(docs)


def finish_snapshot(store: Store, snapshot_id: str, status: str, errors: Sequence[dict[str, Any]]) -> None:
    """Set the snapshot's final status and its collection errors."""
    with store.transaction() as db:
        found = db.execute("UPDATE snapshots SET status = ?, errors = ?::JSON WHERE id = ? RETURNING id",
                           [status, json.dumps(list(errors), sort_keys=True), snapshot_id]).fetchall()
        if not found:
            raise ValueError(f"no snapshot {snapshot_id!r} in {store.path}")


def latest_snapshot_id(store: Store) -> str | None:
    """The newest finished (complete or partial) snapshot, or None."""
    with store.reader() as db:
        row = db.execute("SELECT id FROM snapshots WHERE status IN (?, ?) ORDER BY taken_at DESC, id DESC LIMIT 1",
                         list(FINISHED)).fetchone()
    return None if row is None else str(row[0])


def snapshot_status(store: Store, snapshot_id: str) -> tuple[str, list[dict[str, Any]]] | None:
    """(status, errors) of a snapshot, or None when there is no such snapshot."""
    with store.reader() as db:
        row = db.execute("SELECT status, errors FROM snapshots WHERE id = ?", [snapshot_id]).fetchone()
    if row is None:
        return None
    return str(row[0]), (json.loads(row[1]) if row[1] else [])


def resources(
    store: Store,
    snapshot_id: str | None = None,
    *,
    types: Sequence[str] | str | None = None,
    account: str | None = None,
    region: str | None = None,
) -> list[dict[str, Any]]:
    """Documents of a snapshot (default: the latest finished one), optionally of some types, one account,
    one region; ordered by type then ARN. An empty list when there is no snapshot at all."""
    snapshot = snapshot_id or latest_snapshot_id(store)
    if snapshot is None:
        return []
    clauses = ["snapshot_id = ?"]
    params: list[Any] = [snapshot]
    if types is not None:
        clauses.append("list_contains(?::VARCHAR[], type)")
        params.append([types] if isinstance(types, str) else list(types))
    if account is not None:
        clauses.append("account = ?")
        params.append(account)
    if region is not None:
        clauses.append("region = ?")
        params.append(region)
    with store.reader() as db:
        rows = db.execute(f"SELECT document FROM resources WHERE {' AND '.join(clauses)} ORDER BY type, arn",
                          params).fetchall()
    return [json.loads(row[0]) for row in rows]


def resource_counts(store: Store, snapshot_id: str) -> dict[tuple[str, str, str], int]:
    """(account, region, type) -> how many documents the snapshot holds."""
    with store.reader() as db:
        rows = db.execute("SELECT account, region, type, count(*) FROM resources WHERE snapshot_id = ? "
                          "GROUP BY ALL ORDER BY ALL", [snapshot_id]).fetchall()
    return {(str(r[0]), str(r[1]), str(r[2])): int(r[3]) for r in rows}
