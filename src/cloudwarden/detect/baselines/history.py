"""The baselines' rows in the store: reading a chunk's principals' history, and folding a chunk in.

Two tables (store migration 5): ``baseline_seen`` holds, per (account, principal, dimension, value), the
first and last sighting and a count; the principal itself is the row with dimension and value ``*``.
``baseline_volume`` holds events per hour per (account, principal, metric). Reads and writes are set
based (column lists unnested in one statement) so a chunk with many principals costs one round trip.
The store offers no public raw-SQL entry point, so this module uses its writer/reader contexts, as the
notification outbox does.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Final

import duckdb

from cloudwarden.store import Store

PRINCIPAL_DIMENSION: Final = "*"

SeenRow = tuple[str, str, str, str, datetime, datetime, int]
"""(account, principal, dimension, value, first_seen, last_seen, events)"""
VolumeRow = tuple[str, str, str, datetime, int]
"""(account, principal, metric, hour, events)"""


def _columns(rows: Sequence[tuple[Any, ...]], width: int) -> list[list[Any]]:
    return [[row[i] for row in rows] for i in range(width)]


def seen_for(store: Store, principals: Sequence[tuple[str, str]]) -> list[SeenRow]:
    """Every ``baseline_seen`` row of the given (account, principal) pairs."""
    if not principals:
        return []
    accounts, names = _columns(principals, 2)
    with store.reader() as db:
        rows = db.execute(
            "SELECT s.account, s.principal, s.dimension, s.value, s.first_seen, s.last_seen, s.events "
            "FROM baseline_seen s JOIN (SELECT unnest(?::VARCHAR[]) AS account, unnest(?::VARCHAR[]) AS principal) p "
            "ON s.account = p.account AND s.principal = p.principal",
            [accounts, names],
        ).fetchall()
    return [(r[0], r[1], r[2], r[3], r[4], r[5], int(r[6])) for r in rows]


def volume_for(store: Store, principals: Sequence[tuple[str, str]], metric: str, since: datetime,
               until: datetime) -> list[VolumeRow]:
    """``baseline_volume`` rows of ``metric`` for the pairs, with ``since <= hour <= until``."""
    if not principals:
        return []
    accounts, names = _columns(principals, 2)
    with store.reader() as db:
        rows = db.execute(
            "SELECT v.account, v.principal, v.metric, v.hour, v.events FROM baseline_volume v "
            "JOIN (SELECT unnest(?::VARCHAR[]) AS account, unnest(?::VARCHAR[]) AS principal) p "
            "ON v.account = p.account AND v.principal = p.principal "
            "WHERE v.metric = ? AND v.hour BETWEEN ? AND ?",
            [accounts, names, metric, since, until],
        ).fetchall()
    return [(r[0], r[1], r[2], r[3], int(r[4])) for r in rows]


def fold_seen(store: Store, rows: Sequence[SeenRow]) -> None:
    """Add a chunk's sightings: earliest first, latest last, counts summed (one transaction)."""
    if not rows:
        return
    cols = _columns(rows, 7)
    with store.transaction() as db:
        db.execute(
            "INSERT INTO baseline_seen SELECT unnest(?::VARCHAR[]), unnest(?::VARCHAR[]), unnest(?::VARCHAR[]), "
            "unnest(?::VARCHAR[]), unnest(?::TIMESTAMP[]), unnest(?::TIMESTAMP[]), unnest(?::BIGINT[]) "
            "ON CONFLICT (account, principal, dimension, value) DO UPDATE SET "
            "first_seen = least(baseline_seen.first_seen, excluded.first_seen), "
            "last_seen = greatest(baseline_seen.last_seen, excluded.last_seen), "
            "events = baseline_seen.events + excluded.events",
            cols,
        )


def fold_volume(store: Store, rows: Sequence[VolumeRow]) -> None:
    """Add a chunk's hourly counts (one transaction)."""
    if not rows:
        return
    cols = _columns(rows, 5)
    with store.transaction() as db:
        db.execute(
            "INSERT INTO baseline_volume SELECT unnest(?::VARCHAR[]), unnest(?::VARCHAR[]), unnest(?::VARCHAR[]), "
            "unnest(?::TIMESTAMP[]), unnest(?::BIGINT[]) "
            "ON CONFLICT (account, principal, metric, hour) DO UPDATE SET "
            "events = baseline_volume.events + excluded.events",
            cols,
        )


def load_table(conn: duckdb.DuckDBPyConnection, name: str, columns: Sequence[tuple[str, str]],
               rows: Sequence[tuple[Any, ...]]) -> None:
    """(Re)create temp table ``name`` in a chunk's connection holding ``rows`` (one statement)."""
    spec = ", ".join(f"{column} {kind}" for column, kind in columns)
    conn.execute(f"CREATE OR REPLACE TEMP TABLE {name} ({spec})")
    if rows:
        casts = ", ".join(f"unnest(?::{kind}[])" for _, kind in columns)
        conn.execute(f"INSERT INTO {name} SELECT {casts}", _columns(rows, len(columns)))
