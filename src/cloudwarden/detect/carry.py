"""Events carried from one chunk (or one incremental run) to the next, so windows cross the boundary.

A threshold ("8 reconnaissance calls within 10 minutes") or a sequence ("A then B within an hour") can
straddle the end of a chunk, or of a run that reads only the files delivered since the last one. After
a chunk's rules ran, the *tail* is kept: every event a windowed rule's condition admits within that rule's
window (plus :data:`LATENESS` for CloudTrail's delivery delay) of the latest event seen, with the columns
the windowed rules read. Before the next chunk's windowed rules run, the tail goes back into its table, so the
windows see it; the other rules run before that and never see a carried event, and the chunk analyzers
(baselines) run after it has been taken out again.

Each carried event remembers which windowed rules already cited it in a finding; those rules do not cite
it again (the ``carried_cited`` table that :func:`~cloudwarden.detect.compile.compile_rule` reads), so a
burst that goes on across the boundary adds only its new events to the finding's count, while a burst
that reaches its threshold only with the next chunk's events cites the carried ones too.

Between chunks the tail is a Parquet file in the run's scratch directory, written and read by DuckDB
(a million-event chunk of the benchmark leaves ~40,000 rows; passing them through Python objects cost
~0.9 s a chunk). With a store the tail survives the run (table ``detect_carry``, a JSON document a row):
it is written as *pending* before the chunk's commit starts and promoted in the commit's last step, so a
run killed anywhere leaves either the old tail or the new one, matching the checkpoints (see
:mod:`cloudwarden.detect.checkpoints`).
"""

from __future__ import annotations

import itertools
import tempfile
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Final

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
_CARRIED: Final = "_cw_carried"
_SERIAL = itertools.count()


@dataclass
class Carry:
    """The tail: a Parquet file of ``cloudtrail`` rows (None: no rows), and per event id the windowed rules
    that cited it."""

    path: Path | None = None
    cited: dict[str, set[str]] = field(default_factory=dict)


class Relay:
    """The tail handed from the store to a run's first chunk, from chunk to chunk, and back to the store.

    A context manager: its scratch directory holds the tails' Parquet files for the run (its one user is
    :func:`cloudwarden.detect.engine.run_chunks`)::

        with Relay(rules, store, len(chunks)) as relay:
            for number, chunk in enumerate(chunks, start=1):
                findings, tail = evaluate_chunk(..., relay.tail, relay.keep(number))
                checkpoints.commit(..., tail=tail)
                relay.hand_on(tail)
    """

    def __init__(self, rules: Sequence[Rule], store: Store | None, chunks: int) -> None:
        self.windowed = bool(windowed_rules(rules))
        self.tail = Carry()
        self._store = store
        self._chunks = chunks
        self._scratch: tempfile.TemporaryDirectory[str] | None = None

    def __enter__(self) -> Relay:
        self._scratch = tempfile.TemporaryDirectory(prefix="cw-carry-")
        if self._store is not None and self.windowed and self._chunks:
            self.tail = load(self._store, Path(self._scratch.name))
        return self

    def __exit__(self, *exc: object) -> None:
        if self._scratch is not None:
            self._scratch.cleanup()

    def keep(self, number: int) -> Path | None:
        """Where chunk ``number`` (from 1) writes the tail it leaves; None when no chunk or run will read it."""
        if self._scratch is None or not self.windowed or (self._store is None and number >= self._chunks):
            return None
        return Path(self._scratch.name)

    def hand_on(self, tail: Carry | None) -> None:
        self.tail = tail or Carry()


def windowed_rules(rules: Sequence[Rule]) -> list[Rule]:
    """The enabled rules whose matches depend on other events (thresholds and sequences)."""
    return [rule for rule in rules if rule.enabled and is_windowed(rule)]


def horizon(rules: Sequence[Rule]) -> timedelta:
    """How far back from a chunk's last event the tail reaches for ``rules`` (windowed ones)."""
    windows = [rule.threshold.window if rule.threshold is not None else 0 for rule in rules]
    windows += [rule.sequence.within for rule in rules if rule.sequence is not None]
    return timedelta(seconds=max(windows, default=0)) + LATENESS


def put_back(conn: duckdb.DuckDBPyConnection, carry: Carry, rules: Sequence[Rule]) -> int:
    """Insert the carried rows that can share a window with the chunk's events; returns how many.

    A carried row is put back when it is not in the chunk already and lies between the chunk's first
    event minus the horizon and its last event (a re-read of older logs gets no carry from the future).
    The rules that cited each put-back row go into ``carried_cited``.
    """
    row = conn.execute(f"SELECT min(event_time), max(event_time) FROM {TABLE}").fetchone()
    if carry.path is None or row is None or row[0] is None:
        return 0
    conn.execute(f"CREATE OR REPLACE TEMP TABLE {_CARRIED} AS SELECT * FROM read_parquet(?) "
                 f"WHERE event_time BETWEEN ? AND ? AND event_id NOT IN (SELECT event_id FROM {TABLE})",
                 [str(carry.path), row[0] - horizon(rules), row[1]])
    conn.execute(f"INSERT INTO {TABLE} BY NAME SELECT * FROM {_CARRIED}")
    pairs = [(rule_id, event_id) for event_id, ids in carry.cited.items() for rule_id in sorted(ids)]
    if pairs:
        conn.execute(f"INSERT INTO {CITED_TABLE} SELECT * FROM (SELECT unnest(?::VARCHAR[]) AS rule_id, "
                     f"unnest(?::VARCHAR[]) AS event_id) WHERE event_id IN (SELECT event_id FROM {_CARRIED})",
                     [[p[0] for p in pairs], [p[1] for p in pairs]])
    found = conn.execute(f"SELECT count(*) FROM {_CARRIED}").fetchone()
    return int(found[0]) if found else 0


def take_away(conn: duckdb.DuckDBPyConnection) -> None:
    """Remove put-back rows again (before analyzers, which must see only the chunk's own events)."""
    exists = conn.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = ? AND temporary",
                          [_CARRIED]).fetchone()
    if exists and exists[0]:
        conn.execute(f"DELETE FROM {TABLE} WHERE event_id IN (SELECT event_id FROM {_CARRIED})")
        conn.execute(f"DELETE FROM {CITED_TABLE}")
        conn.execute(f"DROP TABLE {_CARRIED}")


def next_tail(conn: duckdb.DuckDBPyConnection, rules: Sequence[Rule], allowlist: Allowlist | None,
              previous: Carry, scratch: Path, citing: Collection[str] | None = None) -> Carry:
    """The tail after the chunk's windowed ``rules`` ran (carried rows still in the table count too),
    as a Parquet file in ``scratch``.

    The events any of the rules' conditions admits in the last horizon (each rule's own); each remembers
    the rules that cited it, before (``previous``) or now (the rule's own query, which skips what was
    cited before; run only for the rules in ``citing``, those with a finding in the chunk, when given).
    The horizon ends at the latest event seen, in this chunk or before: a run that reads only older
    files (a late delivery, a backfill) keeps the previous tail rather than an older one.
    """
    if not rules:
        return Carry()
    source = str(previous.path) if previous.path is not None else None
    ends = [conn.execute(f"SELECT max(event_time) FROM {TABLE}").fetchone()]
    if source is not None:
        ends.append(conn.execute("SELECT max(event_time) FROM read_parquet(?)", [source]).fetchone())
    latest = max((end[0] for end in ends if end and end[0] is not None), default=None)
    if latest is None:
        return previous
    # Each rule keeps only its own window's events: a 10-minute threshold does not hold on to an hour.
    admits = " OR ".join(f"(event_time >= ? AND ({condition}))" for rule in rules for condition in _conditions(rule))
    params: list[object] = [latest - horizon([rule]) for rule in rules for _ in _conditions(rule)]
    columns = ", ".join(_columns(rules, allowlist))
    select = f"SELECT {columns} FROM {TABLE} WHERE {DUCKDB.render(admits)}"
    if source is not None:  # carried rows this chunk did not take back (outside its span), still in the window
        select += (f" UNION ALL BY NAME SELECT * FROM read_parquet(?) WHERE event_time >= ? "
                   f"AND event_id NOT IN (SELECT event_id FROM {TABLE})")
        params += [source, latest - horizon(rules)]
    conn.execute(f"CREATE OR REPLACE TEMP TABLE {_TAIL} AS {select}", params)
    try:
        ids = {r[0] for r in conn.execute(f"SELECT event_id FROM {_TAIL} WHERE event_id IN "
                                          "(SELECT unnest(?::VARCHAR[]))", [list(previous.cited)]).fetchall()}
        cited = {event_id: set(previous.cited[event_id]) for event_id in ids}
        for rule in rules:
            if citing is not None and rule.id not in citing:
                continue  # no finding in this chunk: it cited nothing
            for (event_id,) in conn.execute(
                    f"SELECT DISTINCT event_id FROM ({compile_rule(rule, DUCKDB, allowlist)}) AS _r "
                    f"WHERE event_id IN (SELECT event_id FROM {_TAIL})").fetchall():
                cited.setdefault(event_id, set()).add(rule.id)
        path = scratch / f"tail-{next(_SERIAL)}.parquet"
        conn.execute(f"COPY (SELECT * FROM {_TAIL} ORDER BY event_time, event_id) TO '{_quoted(path)}' "
                     "(FORMAT parquet)")
    finally:
        conn.execute(f"DROP TABLE IF EXISTS {_TAIL}")
    return Carry(path=path, cited=cited)


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


def _quoted(path: Path) -> str:
    return str(path).replace("'", "''")


# --- the tail in the store -------------------------------------------------------------------------------------

def load(store: Store, scratch: Path) -> Carry:
    """The tail the last committed chunk left in the store (as a Parquet file in ``scratch``)."""
    spec = "{" + ", ".join(f'"{name}": "{kind.replace(" NOT NULL", "")}"' for name, kind in COLUMNS) + "}"
    path = scratch / f"tail-{next(_SERIAL)}.parquet"
    with store.reader() as db:
        found = db.execute("SELECT count(*) FROM detect_carry WHERE state = ? AND event_id <> ?",
                           [CURRENT, _MARKER]).fetchone()
        if not found or not found[0]:
            return Carry()
        cited = {event_id: set(ids) for event_id, ids in db.execute(
            "SELECT event_id, cited FROM detect_carry WHERE state = ? AND event_id <> ? AND len(cited) > 0",
            [CURRENT, _MARKER]).fetchall()}
        db.execute(f"COPY (SELECT unnest(json_transform(record, '{spec}')) FROM detect_carry "
                   f"WHERE state = '{CURRENT}' AND event_id <> '{_MARKER}' ORDER BY event_time, event_id) "
                   f"TO '{_quoted(path)}' (FORMAT parquet)")
    return Carry(path=path, cited=cited)


def save_pending(store: Store, carry: Carry) -> None:
    """Write ``carry`` as the pending tail (replacing any pending one), with its marker row."""
    pairs = [(event_id, sorted(ids)) for event_id, ids in carry.cited.items()]
    with store.transaction() as db:
        db.execute("DELETE FROM detect_carry WHERE state = ?", [PENDING])
        db.execute("INSERT INTO detect_carry VALUES (?, ?, ?, '{}', [])", [PENDING, _MARKER, datetime(1970, 1, 1)])
        if carry.path is not None:
            db.execute(
                "INSERT INTO detect_carry SELECT ?, t.event_id, t.event_time, CAST(to_json(t) AS VARCHAR), "
                "coalesce(c.cited, []) FROM read_parquet(?) AS t LEFT JOIN "
                "(SELECT unnest(?::VARCHAR[]) AS event_id, unnest(?::VARCHAR[][]) AS cited) AS c USING (event_id)",
                [PENDING, str(carry.path), [p[0] for p in pairs], [p[1] for p in pairs]])


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
