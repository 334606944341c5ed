"""Events carried from one chunk (or one incremental run) to the next, so windows cross the boundary.

A threshold ("8 reconnaissance calls within 10 minutes") or a sequence ("A then B within an hour") can
straddle the end of a chunk, or of a run that reads only the files delivered since the last one. After
a chunk's rules ran, the *tail* is kept: every event a windowed rule's condition admits within that rule's
window (plus the kind of log's lateness: :data:`LATENESS` for CloudTrail's delivery delay) of the latest
event seen, with the columns the windowed rules read (a whole-``sql`` rule that judges each row alone,
:func:`~cloudwarden.detect.compile.is_row_local`, admits the rows its SQL returns; any other admits every
row of the tables it names: measured on an hour of benign flow logs from 50 interfaces, 92,509 records,
the tail fell from 62,527 rows and 26 MB of JSON in the store to 18,879 rows and 7.9 MB). Before the
next chunk's windowed rules run, the tail goes back into its table, so the windows see it; the other rules
run before that and never see a carried event, and the chunk analyzers (baselines) run after it has been
taken out again.

One mechanism serves every kind of log (:class:`Logs`): CloudTrail and Security Lake, read into the same
``cloudtrail`` table (:data:`CLOUDTRAIL`), and network logs, two tables (``flow_logs``, ``dns_logs``; see
:data:`cloudwarden.detect.netlogs.engine.NETWORK_LOGS`). A kind names its tables, how late its records may
arrive and the columns its findings quote; each table's tail is cut at that table's own latest row.

Each carried event remembers which windowed rules already cited it in a finding; those rules do not cite
it again (the ``carried_cited`` table that :func:`~cloudwarden.detect.compile.compile_rule` reads), so a
burst that goes on across the boundary adds only its new events to the finding's count, while a burst
that reaches its threshold only with the next chunk's events cites the carried ones too.

Between chunks the tail is a Parquet file a table in the run's scratch directory, written and read by
DuckDB (a million-event chunk of the benchmark leaves ~40,000 rows; passing them through Python objects
cost ~0.9 s a chunk). With a store the tail survives the run (table ``detect_carry``, a JSON document a
row, under the kind's ``source`` so CloudTrail's and network logs' tails never meet): it is written as
*pending* before the chunk's commit starts and promoted in the commit's last step, so a run killed
anywhere leaves either the old tail or the new one, matching the checkpoints (see
:mod:`cloudwarden.detect.checkpoints`).
"""

from __future__ import annotations

import itertools
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Final

import duckdb

from cloudwarden.core.scratch import ScratchDir
from cloudwarden.detect.compile import (
    CITED_TABLE,
    CONTEXT_COLUMNS,
    compile_rule,
    is_row_local,
    is_windowed,
    referenced_columns,
    sql_string,
)
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
_TAIL: Final = "_cw_tail_"
_CARRIED: Final = "_cw_carried_"
_SERIAL = itertools.count()


@dataclass(frozen=True)
class CarriedTable:
    """A table whose rows a kind of log carries: its name and its columns (name, DuckDB type)."""

    name: str
    columns: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Logs:
    """A kind of log whose windows are carried: its key in the store (the checkpoint source of its objects),
    its tables, how late its records may arrive after later ones were read, and the columns its findings
    quote besides those its rules name."""

    source: str
    tables: tuple[CarriedTable, ...]
    lateness: timedelta
    context: tuple[str, ...] = ()


CLOUDTRAIL: Final = Logs("detect.cloudtrail", (CarriedTable(TABLE, COLUMNS),), LATENESS, CONTEXT_COLUMNS)


@dataclass
class Carry:
    """The tail: per table, a Parquet file of its carried rows (a table without any: absent), and per event
    id the windowed rules that cited it."""

    paths: dict[str, Path] = field(default_factory=dict)
    cited: dict[str, set[str]] = field(default_factory=dict)


class Relay:
    """The tail handed from the store to a run's first chunk, from chunk to chunk, and back to the store.

    A context manager: its scratch directory holds the tails' Parquet files for the run (its one user is
    :func:`cloudwarden.detect.engine.run_chunks`)::

        with Relay(rules, store, len(chunks), logs) as relay:
            for number, chunk in enumerate(chunks, start=1):
                findings, tail = evaluate_chunk(..., relay.tail, relay.keep(number))
                checkpoints.commit(..., tail=tail)
                relay.hand_on(tail)
    """

    def __init__(self, rules: Sequence[Rule], store: Store | None, chunks: int, logs: Logs = CLOUDTRAIL) -> None:
        self.windowed = bool(windowed_rules(rules))
        self.tail = Carry()
        self._store = store
        self._chunks = chunks
        self._logs = logs
        self._scratch: ScratchDir | None = None

    def __enter__(self) -> Relay:
        self._scratch = ScratchDir("cw-carry-")
        if self._store is not None and self.windowed and self._chunks:
            self.tail = load(self._store, self._scratch.path, self._logs)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._scratch is not None:
            self._scratch.cleanup()

    def keep(self, number: int) -> Path | None:
        """Where chunk ``number`` (from 1) writes the tail it leaves; None when no chunk or run will read it."""
        if self._scratch is None or not self.windowed or (self._store is None and number >= self._chunks):
            return None
        return self._scratch.path

    def hand_on(self, tail: Carry | None) -> None:
        self.tail = tail or Carry()


def windowed_rules(rules: Sequence[Rule]) -> list[Rule]:
    """The enabled rules whose matches depend on other events (thresholds and sequences)."""
    return [rule for rule in rules if rule.enabled and is_windowed(rule)]


def horizon(rules: Sequence[Rule], lateness: timedelta = LATENESS) -> timedelta:
    """How far back from a chunk's last event the tail reaches for ``rules`` (windowed ones)."""
    windows = [rule.threshold.window if rule.threshold is not None else 0 for rule in rules]
    windows += [rule.sequence.within for rule in rules if rule.sequence is not None]
    return timedelta(seconds=max(windows, default=0)) + lateness


def put_back(conn: duckdb.DuckDBPyConnection, carry: Carry, rules: Sequence[Rule], logs: Logs = CLOUDTRAIL) -> int:
    """Insert the carried rows that can share a window with the chunk's events; returns how many.

    A carried row is put back when it is not in the chunk already and lies between the chunk's first
    event minus the horizon and its last event, in its own table (a re-read of older logs gets no carry
    from the future). The rules that cited each put-back row go into ``carried_cited``.
    """
    found = sum(_put_back_table(conn, table.name, carry.paths[table.name], horizon(rules, logs.lateness))
                for table in logs.tables if table.name in carry.paths)
    pairs = [(rule_id, event_id) for event_id, ids in carry.cited.items() for rule_id in sorted(ids)]
    carried = _carried_tables(conn, logs)
    if pairs and carried:
        put = " UNION ALL ".join(f"SELECT event_id FROM {name}" for name in carried)
        conn.execute(f"INSERT INTO {CITED_TABLE} SELECT * FROM (SELECT unnest(?::VARCHAR[]) AS rule_id, "
                     f"unnest(?::VARCHAR[]) AS event_id) WHERE event_id IN ({put})",
                     [[p[0] for p in pairs], [p[1] for p in pairs]])
    return found


def _put_back_table(conn: duckdb.DuckDBPyConnection, table: str, path: Path, reach: timedelta) -> int:
    row = conn.execute(f"SELECT min(event_time), max(event_time) FROM {table}").fetchone()
    if row is None or row[0] is None:
        return 0
    carried = _CARRIED + table
    conn.execute(f"CREATE OR REPLACE TEMP TABLE {carried} AS SELECT * FROM read_parquet(?) "
                 f"WHERE event_time BETWEEN ? AND ? AND event_id NOT IN (SELECT event_id FROM {table})",
                 [str(path), row[0] - reach, row[1]])
    conn.execute(f"INSERT INTO {table} BY NAME SELECT * FROM {carried}")
    found = conn.execute(f"SELECT count(*) FROM {carried}").fetchone()
    return int(found[0]) if found else 0


def _carried_tables(conn: duckdb.DuckDBPyConnection, logs: Logs) -> list[str]:
    """The temporary tables of put-back rows that exist on ``conn`` (one per table that took some back)."""
    names = [_CARRIED + table.name for table in logs.tables]
    found = {r[0] for r in conn.execute("SELECT table_name FROM duckdb_tables() WHERE temporary AND "
                                        "table_name IN (SELECT unnest(?::VARCHAR[]))", [names]).fetchall()}
    return [name for name in names if name in found]


def take_away(conn: duckdb.DuckDBPyConnection, logs: Logs = CLOUDTRAIL) -> None:
    """Remove put-back rows again (before analyzers, which must see only the chunk's own events)."""
    carried = _carried_tables(conn, logs)
    for table in logs.tables:
        name = _CARRIED + table.name
        if name in carried:
            conn.execute(f"DELETE FROM {table.name} WHERE event_id IN (SELECT event_id FROM {name})")
            conn.execute(f"DROP TABLE {name}")
    if carried:
        conn.execute(f"DELETE FROM {CITED_TABLE}")


def next_tail(conn: duckdb.DuckDBPyConnection, rules: Sequence[Rule], allowlist: Allowlist | None,
              previous: Carry, scratch: Path, citing: Collection[str] | None = None,
              logs: Logs = CLOUDTRAIL) -> Carry:
    """The tail after the chunk's windowed ``rules`` ran (carried rows still in the tables count too),
    as Parquet files in ``scratch``.

    Per table, the rows any of the rules reading it admits in the last horizon (each rule's own); each
    remembers the rules that cited it, before (``previous``) or now (the rule's own query, which skips what
    was cited before; run only for the rules in ``citing``, those with a finding in the chunk, when given).
    The horizon ends at the latest row seen in the table, in this chunk or before: a run that reads only
    older files (a late delivery, a backfill) keeps the previous tail rather than an older one.
    """
    if not rules:
        return Carry()
    kept = [table.name for table in logs.tables
            if _tail_table(conn, table, rules, allowlist, previous.paths.get(table.name), logs)]
    try:
        cited = _cited(conn, rules, allowlist, previous, kept, citing)
        paths: dict[str, Path] = {}
        for table in kept:
            paths[table] = scratch / f"tail-{next(_SERIAL)}.parquet"
            conn.execute(f"COPY (SELECT * FROM {_TAIL + table} ORDER BY event_time, event_id) "
                         f"TO {sql_string(str(paths[table]))} (FORMAT parquet)")
    finally:
        for table in kept:
            conn.execute(f"DROP TABLE IF EXISTS {_TAIL + table}")
    return Carry(paths=paths, cited=cited)


def _tail_table(conn: duckdb.DuckDBPyConnection, table: CarriedTable, rules: Sequence[Rule],
                allowlist: Allowlist | None, previous: Path | None, logs: Logs) -> bool:
    """Fill the temporary table of ``table``'s tail; False when it keeps no row (no rule reads it, or no row
    was ever seen)."""
    reading = [rule for rule in rules if _reads(rule, table.name, logs)]
    source = str(previous) if previous is not None else None
    ends = [conn.execute(f"SELECT max(event_time) FROM {table.name}").fetchone()]
    if source is not None:
        ends.append(conn.execute("SELECT max(event_time) FROM read_parquet(?)", [source]).fetchone())
    latest = max((end[0] for end in ends if end and end[0] is not None), default=None)
    if not reading or latest is None:
        return False
    # Each rule keeps only its own window's rows: a 10-minute threshold does not hold on to an hour.
    admits = " OR ".join(f"(event_time >= ? AND ({condition}))" for rule in reading for condition in _conditions(rule))
    cutoffs = [latest - horizon([rule], logs.lateness) for rule in reading for _ in _conditions(rule)]
    columns = ", ".join(_columns(reading, allowlist, table, logs))
    # The earliest cut-off again, on its own: DuckDB then skips the row groups that end before it.
    select = f"SELECT {columns} FROM {table.name} WHERE event_time >= ? AND ({DUCKDB.render(admits)})"
    params: list[object] = [min(cutoffs), *cutoffs]
    if source is not None:  # carried rows this chunk did not take back (outside its span), still in the window
        select += (f" UNION ALL BY NAME SELECT * FROM read_parquet(?) WHERE event_time >= ? "
                   f"AND event_id NOT IN (SELECT event_id FROM {table.name})")
        params += [source, latest - horizon(reading, logs.lateness)]
    conn.execute(f"CREATE OR REPLACE TEMP TABLE {_TAIL + table.name} AS {select}", params)
    return True


def _cited(conn: duckdb.DuckDBPyConnection, rules: Sequence[Rule], allowlist: Allowlist | None, previous: Carry,
           kept: Sequence[str], citing: Collection[str] | None) -> dict[str, set[str]]:
    """Per event id of the tails in ``kept``, the rules that cited it (before, or in this chunk)."""
    if not kept:
        return {}
    tails = " UNION ALL ".join(f"SELECT event_id FROM {_TAIL + table}" for table in kept)
    ids = {r[0] for r in conn.execute(f"SELECT event_id FROM ({tails}) WHERE event_id IN "
                                      "(SELECT unnest(?::VARCHAR[]))", [list(previous.cited)]).fetchall()}
    cited = {event_id: set(previous.cited[event_id]) for event_id in ids}
    # A rule with no finding in this chunk cited nothing; the others' matches in the tails, in one query.
    asked = [rule for rule in rules if citing is None or rule.id in citing]
    if asked:
        matches = " UNION ALL ".join(
            f"SELECT {index} AS _rule, event_id FROM ({compile_rule(rule, DUCKDB, allowlist)}) AS _r{index} "
            f"WHERE event_id IN ({tails})" for index, rule in enumerate(asked))
        for index, event_id in conn.execute(f"SELECT DISTINCT _rule, event_id FROM ({matches})").fetchall():
            cited.setdefault(event_id, set()).add(asked[index].id)
    return cited


def _reads(rule: Rule, table: str, logs: Logs) -> bool:
    """Whether ``rule`` reads ``table``: a condition or sequence reads the kind's one table; a whole-``sql``
    rule reads the tables its SQL names (all of the kind's, when it names none of them)."""
    if rule.sql is None or len(logs.tables) == 1:
        return True
    named = referenced_columns([rule.sql], [t.name for t in logs.tables])
    return table in named or not named


def _columns(rules: Sequence[Rule], allowlist: Allowlist | None, table: CarriedTable, logs: Logs) -> list[str]:
    """The columns of ``table`` the windowed rules (and the findings they raise) read: all a carried row needs."""
    sql = [compile_rule(rule, DUCKDB, allowlist, context=rule.condition is not None) for rule in rules]
    names = [name for name, _ in table.columns]
    named = set(referenced_columns([*sql, ", ".join(logs.context)], names))
    return [name for name in names if name in named or name in ("event_id", "event_time")]


def _conditions(rule: Rule) -> tuple[str, ...]:
    if rule.sequence is not None:
        return rule.sequence.first, rule.sequence.then
    if rule.condition is not None:
        return (rule.condition,)
    if rule.sql is not None and is_row_local(rule.sql):  # the rows it returns are the only ones it can count
        return (f"event_id IN (SELECT event_id FROM ({rule.sql}) AS _carried_sql)",)
    return ("TRUE",)  # a whole-SQL rule whose rows may depend on others: any row of its tables may take part


# --- the tail in the store -------------------------------------------------------------------------------------

def load(store: Store, scratch: Path, logs: Logs = CLOUDTRAIL) -> Carry:
    """The tail the last committed chunk of ``logs`` left in the store (as Parquet files in ``scratch``)."""
    paths: dict[str, Path] = {}
    rows = f"source = {sql_string(logs.source)} AND state = '{CURRENT}' AND event_id <> '{_MARKER}'"
    with store.reader() as db:
        for table in logs.tables:
            mine = f"{rows} AND log_table = {sql_string(table.name)}"
            found = db.execute(f"SELECT count(*) FROM detect_carry WHERE {mine}").fetchone()
            if not found or not found[0]:
                continue
            spec = "{" + ", ".join(f'"{name}": "{kind.replace(" NOT NULL", "")}"' for name, kind in table.columns) + "}"
            paths[table.name] = scratch / f"tail-{next(_SERIAL)}.parquet"
            db.execute(f"COPY (SELECT unnest(json_transform(record, '{spec}')) FROM detect_carry WHERE {mine} "
                       f"ORDER BY event_time, event_id) TO {sql_string(str(paths[table.name]))} (FORMAT parquet)")
        if not paths:
            return Carry()
        cited = {event_id: set(ids) for event_id, ids in db.execute(
            f"SELECT event_id, cited FROM detect_carry WHERE {rows} AND len(cited) > 0").fetchall()}
    return Carry(paths=paths, cited=cited)


def save_pending(store: Store, carry: Carry, *, source: str = CLOUDTRAIL.source) -> None:
    """Write ``carry`` as the pending tail of ``source`` (replacing any pending one), with its marker row."""
    pairs = [(event_id, sorted(ids)) for event_id, ids in carry.cited.items()]
    with store.transaction() as db:
        db.execute("DELETE FROM detect_carry WHERE source = ? AND state = ?", [source, PENDING])
        db.execute("INSERT INTO detect_carry VALUES (?, ?, '', ?, ?, '{}', [])",
                   [source, PENDING, _MARKER, datetime(1970, 1, 1)])
        for table, path in carry.paths.items():
            db.execute(
                "INSERT INTO detect_carry SELECT ?, ?, ?, t.event_id, t.event_time, CAST(to_json(t) AS VARCHAR), "
                "coalesce(c.cited, []) FROM read_parquet(?) AS t LEFT JOIN "
                "(SELECT unnest(?::VARCHAR[]) AS event_id, unnest(?::VARCHAR[][]) AS cited) AS c USING (event_id)",
                [source, PENDING, table, str(path), [p[0] for p in pairs], [p[1] for p in pairs]])


def promote(store: Store, *, source: str = CLOUDTRAIL.source) -> bool:
    """Make the pending tail of ``source`` the current one; False when there is none (already promoted, or
    never written)."""
    with store.transaction() as db:
        row = db.execute("SELECT count(*) FROM detect_carry WHERE source = ? AND state = ? AND event_id = ?",
                         [source, PENDING, _MARKER]).fetchone()
        if not row or not row[0]:
            return False
        db.execute("DELETE FROM detect_carry WHERE source = ? AND state = ?", [source, CURRENT])
        db.execute("UPDATE detect_carry SET state = ? WHERE source = ? AND state = ?", [CURRENT, source, PENDING])
    return True


def discard_pending(store: Store, *, source: str = CLOUDTRAIL.source) -> None:
    """Drop a pending tail of ``source`` whose chunk was not committed."""
    with store.transaction() as db:
        db.execute("DELETE FROM detect_carry WHERE source = ? AND state = ?", [source, PENDING])
