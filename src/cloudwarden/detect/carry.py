"""Events carried from one chunk (or one incremental run) to the next, so windows cross the boundary.

A threshold ("8 reconnaissance calls within 10 minutes") or a sequence ("A then B within an hour") can
straddle the end of a chunk, or of a run that reads only the files delivered since the last one. After
a chunk's rules ran, the *tail* is kept: every event of the last ``horizon`` (the longest window of the
enabled windowed rules, plus :data:`LATENESS` for CloudTrail's delivery delay) that some windowed rule's
condition admits. Before the next chunk's windowed rules run, the tail goes back into its table, so the
windows see it; the other rules run before that and never see a carried event, and the chunk analyzers
(baselines) run after it has been taken out again.

Each carried event remembers which windowed rules already cited it in a finding; those rules do not cite
it again (the ``carried_cited`` table that :func:`~cloudwarden.detect.compile.compile_rule` reads), so a
burst that goes on across the boundary adds only its new events to the finding's count, while a burst
that reaches its threshold only with the next chunk's events cites the carried ones too.

With a store the tail survives the run (table ``detect_carry``): it is written as *pending* before the
chunk's commit starts and promoted in the commit's last step, so a run killed anywhere leaves either
the old tail or the new one, matching the checkpoints (see :mod:`cloudwarden.detect.checkpoints`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final

import duckdb

from cloudwarden.detect.compile import CITED_TABLE, CONTEXT_COLUMNS, compile_rule, is_windowed, referenced_columns
from cloudwarden.detect.dialect import DUCKDB
from cloudwarden.detect.rules.model import Allowlist, Rule
from cloudwarden.detect.table import COLUMNS, TABLE
from cloudwarden.store import Store

# CloudTrail delivers most events within 5 minutes, nearly all within 15: a run that ends at time T may
# later receive events from shortly before T. The tail reaches this much further back.
LATENESS: Final = timedelta(minutes=15)
PENDING: Final = "pending"
CURRENT: Final = "current"
_MARKER: Final = "\x00tail"  # the pending tail's own row: present iff a pending tail was written
_TAIL: Final = "_cw_tail"


@dataclass
class Carry:
    """The tail: ``cloudtrail`` rows (column -> value) and, per event id, the windowed rules that cited it."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    cited: dict[str, set[str]] = field(default_factory=dict)


def windowed_rules(rules: Sequence[Rule]) -> list[Rule]:
    """The enabled rules whose matches depend on other events (thresholds and sequences)."""
    return [rule for rule in rules if rule.enabled and is_windowed(rule)]


def horizon(rules: Sequence[Rule]) -> timedelta:
    """How far back from a chunk's last event the tail reaches for ``rules`` (windowed ones)."""
    windows = [rule.threshold.window if rule.threshold is not None else 0 for rule in rules]
    windows += [rule.sequence.within for rule in rules if rule.sequence is not None]
    return timedelta(seconds=max(windows, default=0)) + LATENESS


def put_back(conn: duckdb.DuckDBPyConnection, carry: Carry, rules: Sequence[Rule]) -> list[str]:
    """Insert the carried rows that can share a window with the chunk's events; returns their ids.

    A carried row is put back when it is not in the chunk already and lies between the chunk's first
    event minus the horizon and its last event (a re-read of older logs gets no carry from the future).
    The rules that cited each put-back row go into ``carried_cited``.
    """
    row = conn.execute(f"SELECT min(event_time), max(event_time) FROM {TABLE}").fetchone()
    if not carry.rows or row is None or row[0] is None:
        return []
    first, last = row[0] - horizon(rules), row[1]
    present = {r[0] for r in conn.execute(
        f"SELECT event_id FROM {TABLE} WHERE event_id IN (SELECT unnest(?::VARCHAR[]))",
        [[r["event_id"] for r in carry.rows]]).fetchall()}
    rows = [r for r in carry.rows if r["event_id"] not in present and first <= r["event_time"] <= last]
    if not rows:
        return []
    columns = [name for name, _ in COLUMNS]
    values = ", ".join(f"unnest(?::{_base_type(kind)}[])" for _, kind in COLUMNS)
    conn.execute(f"INSERT INTO {TABLE} ({', '.join(columns)}) SELECT {values}",
                 [[r.get(name) for r in rows] for name in columns])
    pairs = [(rule_id, r["event_id"]) for r in rows for rule_id in sorted(carry.cited.get(r["event_id"], ()))]
    if pairs:
        conn.execute(f"INSERT INTO {CITED_TABLE} SELECT unnest(?::VARCHAR[]), unnest(?::VARCHAR[])",
                     [[p[0] for p in pairs], [p[1] for p in pairs]])
    return [r["event_id"] for r in rows]


def take_away(conn: duckdb.DuckDBPyConnection, event_ids: Sequence[str]) -> None:
    """Remove put-back rows again (before analyzers, which must see only the chunk's own events)."""
    if event_ids:
        conn.execute(f"DELETE FROM {TABLE} WHERE event_id IN (SELECT unnest(?::VARCHAR[]))", [list(event_ids)])
        conn.execute(f"DELETE FROM {CITED_TABLE}")


def next_tail(conn: duckdb.DuckDBPyConnection, rules: Sequence[Rule], allowlist: Allowlist | None,
              previous: Carry) -> Carry:
    """The tail after the chunk's windowed ``rules`` ran (carried rows still in the table count too).

    The events any of the rules' conditions admits in the last horizon; each remembers the rules that
    cited it, before (``previous``) or now (the rule's own query, which skips what was cited before).
    The horizon ends at the latest event seen, in this chunk or before: a run that reads only older
    files (a late delivery, a backfill) keeps the previous tail rather than replacing it with an older one.
    """
    if not rules:
        return Carry()
    row = conn.execute(f"SELECT max(event_time) FROM {TABLE}").fetchone()
    ends = [t for t in (row[0] if row else None, *(r["event_time"] for r in previous.rows)) if t is not None]
    if not ends:
        return previous
    latest = max(ends)
    since = latest - horizon(rules)
    # Each rule keeps only its own window's events: a 10-minute threshold does not hold on to an hour.
    admits = " OR ".join(f"(event_time >= ? AND ({condition}))" for rule in rules for condition in _conditions(rule))
    params = [latest - horizon([rule]) for rule in rules for _ in _conditions(rule)]
    columns = ", ".join(_columns(rules, allowlist))
    conn.execute(f"CREATE OR REPLACE TEMP TABLE {_TAIL} AS SELECT {columns} FROM {TABLE} "
                 f"WHERE {DUCKDB.render(admits)}", params)
    try:
        cursor = conn.execute(f"SELECT * FROM {_TAIL} ORDER BY event_time, event_id")
        names = [d[0] for d in cursor.description or ()]
        rows = [dict(zip(names, values, strict=True)) for values in cursor.fetchall()]
        cited = {r["event_id"]: set(previous.cited.get(r["event_id"], ())) for r in rows}
        for rule in rules:
            for (event_id,) in conn.execute(
                    f"SELECT DISTINCT event_id FROM ({compile_rule(rule, DUCKDB, allowlist)}) AS _r "
                    f"WHERE event_id IN (SELECT event_id FROM {_TAIL})").fetchall():
                cited[event_id].add(rule.id)
    finally:
        conn.execute(f"DROP TABLE IF EXISTS {_TAIL}")
    kept = {r["event_id"] for r in rows}
    for earlier in previous.rows:  # carried rows this chunk did not take back (outside its span)
        if earlier["event_id"] not in kept and earlier["event_time"] >= since:
            rows.append(earlier)
            cited[earlier["event_id"]] = set(previous.cited.get(earlier["event_id"], ()))
    rows.sort(key=lambda r: (r["event_time"], r["event_id"]))
    return Carry(rows=rows, cited={k: v for k, v in cited.items() if v})


def _columns(rules: Sequence[Rule], allowlist: Allowlist | None) -> list[str]:
    """The columns the windowed rules (and the findings they raise) read: all a carried row needs."""
    sql = [compile_rule(rule, DUCKDB, allowlist, context=rule.condition is not None) for rule in rules]
    named = set(referenced_columns([*sql, ", ".join(CONTEXT_COLUMNS)]))
    return [name for name, _ in COLUMNS if name in named or name in ("event_id", "event_time")]


def _conditions(rule: Rule) -> tuple[str, ...]:
    if rule.sequence is not None:
        return rule.sequence.first, rule.sequence.then
    if rule.condition is not None:
        return (rule.condition,)
    return ("TRUE",)  # a whole-SQL rule: any event may take part


def _base_type(kind: str) -> str:
    return kind.replace(" NOT NULL", "")


# --- the tail in the store -------------------------------------------------------------------------------------

def load(store: Store) -> Carry:
    """The tail the last committed chunk left in the store (empty when there is none)."""
    with store.reader() as db:
        rows = db.execute("SELECT record, cited FROM detect_carry WHERE state = ? AND event_id <> ? "
                          "ORDER BY event_time, event_id", [CURRENT, _MARKER]).fetchall()
    carry = Carry()
    for text, cited in rows:
        record = json.loads(text)
        record["event_time"] = datetime.fromisoformat(record["event_time"])
        carry.rows.append(record)
        if cited:
            carry.cited[record["event_id"]] = set(cited)
    return carry


def save_pending(store: Store, carry: Carry) -> None:
    """Write ``carry`` as the pending tail (replacing any pending one), with its marker row."""
    rows = [(r["event_id"], r["event_time"], json.dumps(r, default=_iso, separators=(",", ":")),
             sorted(carry.cited.get(r["event_id"], ()))) for r in carry.rows]
    rows.append((_MARKER, datetime(1970, 1, 1), "{}", []))
    with store.transaction() as db:
        db.execute("DELETE FROM detect_carry WHERE state = ?", [PENDING])
        db.execute("INSERT INTO detect_carry SELECT ?, unnest(?::VARCHAR[]), unnest(?::TIMESTAMP[]), "
                   "unnest(?::VARCHAR[]), unnest(?::VARCHAR[][])",
                   [PENDING, *[[r[i] for r in rows] for i in range(4)]])


def promote(store: Store) -> bool:
    """Make the pending tail the current one; False when there is none (already promoted, or never written)."""
    with store.transaction() as db:
        row = db.execute("SELECT count(*) FROM detect_carry WHERE state = ? AND event_id = ?",
                         [PENDING, _MARKER]).fetchone()
        if not row or not row[0]:
            return False
        db.execute("DELETE FROM detect_carry WHERE state = ?", [CURRENT])
        db.execute("UPDATE detect_carry SET state = ? WHERE state = ?", [CURRENT, PENDING])
    return True


def discard_pending(store: Store) -> None:
    """Drop a pending tail whose chunk was not committed."""
    with store.transaction() as db:
        db.execute("DELETE FROM detect_carry WHERE state = ?", [PENDING])


def _iso(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"not JSON: {type(value).__name__}")
