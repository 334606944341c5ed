"""The DuckDB store: runs, snapshots, findings with their lifecycle, history, the audit log and checkpoints.

One writer, many readers (Datasette's rule): every write goes through one connection under one lock, so
concurrent threads never race on a row or lose a finding; reads run on their own cursors. Other packages
keep their own tables in the same file through the public :meth:`Store.transaction` and :meth:`Store.reader`.
A DuckDB file can be opened for writing by one process at a time; a second process gets a clear error, not a hang.

Findings are keyed by their stable id: a finding seen again updates its row (``last_seen``, ``count``,
current fields) and keeps ``first_seen``; a RESOLVED one that comes back is re-opened. Bulk upserts are
set-based (column lists unnested into a staging table), so ten thousand findings take milliseconds.
Secrets are scrubbed from evidence, audit details and run stats before they are written.
"""

from __future__ import annotations

import json
import secrets
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Final

import duckdb

from cloudwarden.core.errors import RuntimeFailure
from cloudwarden.core.finding import Evidence, Finding, ResourceRef, Source, Status, scrub_secrets
from cloudwarden.core.severity import Severity
from cloudwarden.store.models import (
    AuditEntry,
    Change,
    HistoryEntry,
    Lifecycle,
    Run,
    Snapshot,
    StoredFinding,
    UpsertStats,
)
from cloudwarden.store.schema import migrate

DEFAULT_PATH: Final = Path(".cloudwarden") / "cloudwarden.duckdb"
# Verdicts that close a finding: a passed check, an archived detection.
CLOSING_STATUSES: Final = frozenset({Status.PASSED, Status.ARCHIVED})

# Finding columns in table order, with the DuckDB type each is staged as.
_COLUMNS: Final[tuple[tuple[str, str], ...]] = (
    ("id", "VARCHAR"), ("source", "VARCHAR"), ("type", "VARCHAR"), ("control_id", "VARCHAR"),
    ("rule_id", "VARCHAR"), ("title", "VARCHAR"), ("description", "VARCHAR"), ("remediation", "VARCHAR"),
    ("status", "VARCHAR"), ("severity", "VARCHAR"), ("severity_rank", "INTEGER"), ("account_id", "VARCHAR"),
    ("region", "VARCHAR"), ("resource_type", "VARCHAR"), ("resource_id", "VARCHAR"), ("principal", "VARCHAR"),
    ("frameworks", "JSON"), ("first_seen", "TIMESTAMP"), ("last_seen", "TIMESTAMP"), ("count", "BIGINT"),
    ("evidence", "JSON"), ("mitre", "JSON"),
)
_NAMES: Final = tuple(name for name, _ in _COLUMNS)
# Columns a newer sighting overwrites (everything but identity, first_seen, last_seen and count).
_CURRENT: Final = tuple(n for n in _NAMES if n not in ("id", "first_seen", "last_seen", "count"))
_STORED: Final = ("lifecycle", "reopened_count", "notified_at", "resolved_at", "last_run_id")
_SELECT: Final = ", ".join((*_NAMES, *_STORED))


def _now() -> datetime:
    """Naive UTC, as the store keeps timestamps."""
    return datetime.now(UTC).replace(tzinfo=None)


def _naive(value: datetime) -> datetime:
    if value.tzinfo is None:
        return value
    return value.astimezone(UTC).replace(tzinfo=None)


def _aware(value: datetime | None) -> datetime | None:
    return None if value is None else value.replace(tzinfo=UTC)


def _new_id(prefix: str) -> str:
    return f"{prefix}-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}-{secrets.token_hex(4)}"


def _dumps(value: Any) -> str:
    return json.dumps(scrub_secrets(value), sort_keys=True, default=str)


class Store:
    """The embedded database. Open with :meth:`open` (a context manager); close when done."""

    def __init__(self, conn: duckdb.DuckDBPyConnection, path: str) -> None:
        self._conn = conn
        self.path = path
        self._write_lock = threading.RLock()
        self._cursor_lock = threading.Lock()
        self._writer = conn.cursor()
        self._closed = False

    # --- opening and closing ---------------------------------------------------------------------------------

    @classmethod
    def open(cls, path: Path | str = DEFAULT_PATH, *, read_only: bool = False) -> Store:
        """Open (creating and migrating as needed) the store at ``path``; ``":memory:"`` for a throwaway one."""
        where = str(path)
        if where != ":memory:":
            Path(where).parent.mkdir(parents=True, exist_ok=True)
        try:
            conn = duckdb.connect(where, read_only=read_only)
        except duckdb.IOException as exc:
            raise RuntimeFailure(f"{where}: cannot open the store ({exc}); is another cloudwarden using it?") from exc
        except duckdb.Error as exc:
            raise RuntimeFailure(f"{where}: not a cloudwarden store ({exc})") from exc
        try:
            if not read_only:
                migrate(conn, where)
        except BaseException:
            conn.close()
            raise
        return cls(conn, where)

    def close(self) -> None:
        with self._write_lock:
            if not self._closed:
                self._closed = True
                self._writer.close()
                self._conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # --- transactions: the public seam other packages use for their own tables ---------------------------------

    @contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """The one writer connection inside one transaction, holding the write lock.

        Commits when the block ends normally and rolls back when it raises (the exception propagates), so a
        block's writes land together or not at all. Every write to the store, from any package, goes through
        here: that is what keeps the one-writer rule. Do not nest it (DuckDB has no nested transactions) and
        do not keep the connection past the block.
        """
        with self._write_lock:
            if self._closed:
                raise RuntimeFailure(f"{self.path}: the store is closed")
            self._writer.execute("BEGIN TRANSACTION")
            try:
                yield self._writer
            except BaseException:
                self._writer.execute("ROLLBACK")
                raise
            self._writer.execute("COMMIT")

    @contextmanager
    def reader(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A cursor of its own for reads, closed when the block ends; reads run beside the writer.

        It sees committed data only (not a transaction in progress on another thread). Use it for queries;
        writes belong in :meth:`transaction`.
        """
        with self._cursor_lock:
            if self._closed:
                raise RuntimeFailure(f"{self.path}: the store is closed")
            cursor = self._conn.cursor()
        try:
            yield cursor
        finally:
            cursor.close()

    # --- runs ------------------------------------------------------------------------------------------------

    def start_run(self, command: str) -> str:
        run_id = _new_id("run")
        with self.transaction() as db:
            db.execute("INSERT INTO runs VALUES (?, ?, ?, NULL, 'running', '{}')", [run_id, command, _now()])
        return run_id

    def end_run(self, run_id: str, status: str, stats: dict[str, Any] | None = None) -> None:
        with self.transaction() as db:
            found = db.execute(
                "UPDATE runs SET ended_at = ?, status = ?, stats = ?::JSON WHERE id = ? RETURNING id",
                [_now(), status, _dumps(stats or {}), run_id],
            ).fetchall()
            if not found:
                raise ValueError(f"no run {run_id!r} in {self.path}")

    def get_run(self, run_id: str) -> Run | None:
        runs = self._runs("WHERE id = ?", [run_id])
        return runs[0] if runs else None

    def runs(self, limit: int | None = None) -> list[Run]:
        """Runs, newest first."""
        return self._runs("ORDER BY started_at DESC, id DESC" + (" LIMIT ?" if limit else ""),
                          [limit] if limit else [])

    def _runs(self, tail: str, params: list[Any]) -> list[Run]:
        with self.reader() as db:
            rows = db.execute(f"SELECT id, command, started_at, ended_at, status, stats FROM runs {tail}",
                              params).fetchall()
        return [
            Run(id=r[0], command=r[1], started_at=r[2].replace(tzinfo=UTC), ended_at=_aware(r[3]), status=r[4],
                stats=json.loads(r[5]) if r[5] else {})
            for r in rows
        ]

    # --- snapshots -------------------------------------------------------------------------------------------

    def create_snapshot(self, run_id: str | None, account: str, region: str, *, status: str = "complete",
                        errors: Sequence[dict[str, Any]] = ()) -> str:
        """Register an inventory snapshot of one account and region; its resources go in ``resources``."""
        snapshot_id = _new_id("snap")
        with self.transaction() as db:
            db.execute("INSERT INTO snapshots VALUES (?, ?, ?, ?, ?, ?, ?::JSON)",
                       [snapshot_id, run_id, account, region, _now(), status, _dumps(list(errors))])
        return snapshot_id

    def snapshots(self, *, account: str | None = None, region: str | None = None) -> list[Snapshot]:
        """Snapshots, newest first."""
        where, params = _where({"account": account, "region": region})
        with self.reader() as db:
            rows = db.execute(f"SELECT id, run_id, account, region, taken_at, status FROM snapshots {where} "
                              "ORDER BY taken_at DESC, id DESC", params).fetchall()
        return [Snapshot(r[0], r[1], r[2], r[3], r[4].replace(tzinfo=UTC), r[5]) for r in rows]

    # --- findings: writes ------------------------------------------------------------------------------------

    def upsert_findings(self, run_id: str | None, findings: Iterable[Finding]) -> UpsertStats:
        """Insert new findings and update ones seen before; returns what changed.

        The same id twice in one batch counts as one sighting of the combined finding. A sighting older
        than what is stored adds to ``count`` but changes neither the fields nor the lifecycle.
        """
        batch = _merge(findings)
        if not batch:
            return UpsertStats()
        now = _now()
        with self.transaction() as db:
            existing = {
                row[0]: (Lifecycle(row[1]), row[2])
                for row in db.execute(
                    "SELECT f.id, f.lifecycle, f.last_seen FROM findings f "
                    "JOIN (SELECT unnest(?::VARCHAR[]) AS id) i ON f.id = i.id",
                    [[f.id for f in batch]],
                ).fetchall()
            }
            changes = [_change(f, existing.get(f.id)) for f in batch]
            fresh = [f.id not in existing or _naive(f.last_seen) >= existing[f.id][1] for f in batch]
            _stage(db, batch, changes, fresh)
            db.execute(
                f"INSERT INTO findings SELECT {', '.join(_NAMES)}, "
                "CASE WHEN closing THEN 'RESOLVED' ELSE 'NEW' END, 0, NULL, "
                "CASE WHEN closing THEN ?::TIMESTAMP END, ? FROM _incoming WHERE change = 'new'",
                [now, run_id],
            )
            current = ", ".join(f"{n} = CASE WHEN fresh THEN i.{n} ELSE f.{n} END" for n in _CURRENT)
            db.execute(
                f"""UPDATE findings AS f SET {current},
                    first_seen = least(f.first_seen, i.first_seen),
                    last_seen = greatest(f.last_seen, i.last_seen),
                    count = f.count + i.count,
                    lifecycle = CASE i.change WHEN 'reopened' THEN 'NEW' WHEN 'resolved' THEN 'RESOLVED'
                                ELSE f.lifecycle END,
                    reopened_count = f.reopened_count + CASE WHEN i.change = 'reopened' THEN 1 ELSE 0 END,
                    resolved_at = CASE i.change WHEN 'reopened' THEN NULL WHEN 'resolved' THEN ?::TIMESTAMP
                                  ELSE f.resolved_at END,
                    notified_at = CASE WHEN i.change = 'reopened' THEN NULL ELSE f.notified_at END,
                    last_run_id = ?
                FROM _incoming AS i WHERE f.id = i.id AND i.change <> 'new'""",
                [now, run_id],
            )
            db.execute(
                "INSERT INTO finding_history SELECT nextval('finding_history_seq'), id, ?, ?, change FROM _incoming",
                [run_id, now],
            )
            db.execute("DROP TABLE _incoming")
        counts = {c: changes.count(c) for c in Change}
        return UpsertStats(new=counts[Change.NEW], updated=counts[Change.UPDATED],
                           reopened=counts[Change.REOPENED], resolved=counts[Change.RESOLVED])

    def resolve_missing(
        self,
        run_id: str,
        source: Source | str,
        seen_ids: Iterable[str],
        *,
        accounts: Sequence[str] | None = None,
        regions: Sequence[str] | None = None,
    ) -> int:
        """Resolve the open findings of ``source`` that a complete run did not see; returns how many.

        Call it only after a run that looked everywhere it claims to (not after a partial or failed one);
        ``accounts``/``regions`` narrow it to what the run covered.
        """
        source_value = Source(source).value
        clauses = ["source = ?", "lifecycle <> 'RESOLVED'",
                   "id NOT IN (SELECT unnest(?::VARCHAR[]))"]
        params: list[Any] = [source_value, list(dict.fromkeys(seen_ids))]
        if accounts is not None:
            clauses.append("list_contains(?::VARCHAR[], account_id)")
            params.append(list(accounts))
        if regions is not None:
            clauses.append("list_contains(?::VARCHAR[], region)")
            params.append(list(regions))
        now = _now()
        with self.transaction() as db:
            if not db.execute("SELECT 1 FROM runs WHERE id = ?", [run_id]).fetchall():
                raise ValueError(f"no run {run_id!r} in {self.path}")
            resolved = [
                row[0]
                for row in db.execute(
                    f"UPDATE findings SET lifecycle = 'RESOLVED', resolved_at = ?, last_run_id = ? "
                    f"WHERE {' AND '.join(clauses)} RETURNING id",
                    [now, run_id, *params],
                ).fetchall()
            ]
            self._history(db, resolved, run_id, now, Change.RESOLVED)
        return len(resolved)

    def mark_notified(self, ids: Iterable[str], run_id: str | None = None) -> int:
        """Move NEW findings among ``ids`` to NOTIFIED; returns how many moved."""
        now = _now()
        with self.transaction() as db:
            moved = [
                row[0]
                for row in db.execute(
                    "UPDATE findings SET lifecycle = 'NOTIFIED', notified_at = ? "
                    "WHERE lifecycle = 'NEW' AND id IN (SELECT unnest(?::VARCHAR[])) RETURNING id",
                    [now, list(dict.fromkeys(ids))],
                ).fetchall()
            ]
            self._history(db, moved, run_id, now, Change.NOTIFIED)
        return len(moved)

    @staticmethod
    def _history(db: duckdb.DuckDBPyConnection, ids: list[str], run_id: str | None, at: datetime,
                 change: Change) -> None:
        if ids:
            db.execute(
                "INSERT INTO finding_history SELECT nextval('finding_history_seq'), unnest(?::VARCHAR[]), ?, ?, ?",
                [ids, run_id, at, change.value],
            )

    # --- findings: reads -------------------------------------------------------------------------------------

    def findings(
        self,
        *,
        source: Source | str | None = None,
        min_severity: Severity | None = None,
        status: Status | str | None = None,
        lifecycle: Lifecycle | str | None = None,
        account_id: str | None = None,
        region: str | None = None,
        rule_id: str | None = None,
        control_id: str | None = None,
        resource_id: str | None = None,
        since: datetime | None = None,
        limit: int | None = None,
    ) -> list[Finding]:
        """Findings matching every filter given, most severe and most recent first."""
        return [
            record.finding
            for record in self.records(
                source=source, min_severity=min_severity, status=status, lifecycle=lifecycle,
                account_id=account_id, region=region, rule_id=rule_id, control_id=control_id,
                resource_id=resource_id, since=since, limit=limit,
            )
        ]

    def records(
        self,
        *,
        source: Source | str | None = None,
        min_severity: Severity | None = None,
        status: Status | str | None = None,
        lifecycle: Lifecycle | str | None = None,
        account_id: str | None = None,
        region: str | None = None,
        rule_id: str | None = None,
        control_id: str | None = None,
        resource_id: str | None = None,
        since: datetime | None = None,
        limit: int | None = None,
    ) -> list[StoredFinding]:
        """Like :meth:`findings`, with the lifecycle the store keeps for each."""
        where, params = _where({
            "source": Source(source).value if source is not None else None,
            "status": Status(status).value if status is not None else None,
            "lifecycle": Lifecycle(lifecycle).value if lifecycle is not None else None,
            "account_id": account_id, "region": region, "rule_id": rule_id, "control_id": control_id,
            "resource_id": resource_id,
        })
        extra: list[str] = []
        if min_severity is not None:
            extra.append("severity_rank >= ?")
            params.append(min_severity.rank)
        if since is not None:
            extra.append("last_seen >= ?")
            params.append(_naive(since))
        if extra:
            where = (where + " AND " if where else "WHERE ") + " AND ".join(extra)
        tail = " LIMIT ?" if limit is not None else ""
        if limit is not None:
            params.append(limit)
        with self.reader() as db:
            rows = db.execute(
                f"SELECT {_SELECT} FROM findings {where} ORDER BY severity_rank DESC, last_seen DESC, id{tail}",
                params,
            ).fetchall()
        return [_record(row) for row in rows]

    def get_finding(self, finding_id: str) -> Finding | None:
        record = self.get_record(finding_id)
        return record.finding if record else None

    def get_record(self, finding_id: str) -> StoredFinding | None:
        with self.reader() as db:
            row = db.execute(f"SELECT {_SELECT} FROM findings WHERE id = ?", [finding_id]).fetchone()
        return _record(row) if row else None

    def history(self, finding_id: str) -> list[HistoryEntry]:
        """What happened to one finding, oldest first."""
        with self.reader() as db:
            rows = db.execute('SELECT finding_id, run_id, "at", change FROM finding_history WHERE finding_id = ? '
                              "ORDER BY seq", [finding_id]).fetchall()
        return [HistoryEntry(r[0], r[1], r[2].replace(tzinfo=UTC), Change(r[3])) for r in rows]

    # --- audit log (append-only: there is deliberately no way to change or delete an entry) -------------------

    def audit(self, actor: str, action: str, target: str, dry_run: bool,
              details: dict[str, Any] | None = None) -> int:
        """Append one entry and return its sequence number. Call it *before* the action it describes."""
        with self.transaction() as db:
            row = db.execute(
                "INSERT INTO audit_log VALUES (nextval('audit_log_seq'), ?, ?, ?, ?, ?, ?::JSON) RETURNING seq",
                [_now(), actor, action, target, dry_run, _dumps(details or {})],
            ).fetchone()
        assert row is not None
        return int(row[0])

    def audit_entries(self, *, action: str | None = None, target: str | None = None,
                      limit: int | None = None) -> list[AuditEntry]:
        """Audit entries in the order they were written."""
        where, params = _where({"action": action, "target": target})
        tail = " LIMIT ?" if limit is not None else ""
        if limit is not None:
            params.append(limit)
        with self.reader() as db:
            rows = db.execute('SELECT seq, "at", actor, action, target, dry_run, details FROM audit_log '
                              f"{where} ORDER BY seq{tail}", params).fetchall()
        return [AuditEntry(r[0], r[1].replace(tzinfo=UTC), r[2], r[3], r[4], r[5], json.loads(r[6])) for r in rows]

    # --- checkpoints -----------------------------------------------------------------------------------------

    def get_checkpoint(self, source: str, key: str) -> str | None:
        with self.reader() as db:
            row = db.execute('SELECT "position" FROM checkpoints WHERE source = ? AND "key" = ?',
                             [source, key]).fetchone()
        return None if row is None else str(row[0])

    def set_checkpoint(self, source: str, key: str, position: str) -> None:
        with self.transaction() as db:
            db.execute(
                'INSERT INTO checkpoints VALUES (?, ?, ?, ?) ON CONFLICT (source, "key") '
                'DO UPDATE SET "position" = excluded."position", updated_at = excluded.updated_at',
                [source, key, position, _now()],
            )


def _where(equals: dict[str, Any]) -> tuple[str, list[Any]]:
    clauses = [f"{column} = ?" for column, value in equals.items() if value is not None]
    params = [value for value in equals.values() if value is not None]
    return ("WHERE " + " AND ".join(clauses) if clauses else ""), params


def _merge(findings: Iterable[Finding]) -> list[Finding]:
    """One finding per id: the latest fields, the earliest first_seen, the summed count. Secrets scrubbed."""
    merged: dict[str, Finding] = {}
    for finding in findings:
        finding = finding.redacted()
        seen = merged.get(finding.id)
        if seen is None:
            merged[finding.id] = finding
            continue
        newer = finding if _naive(finding.last_seen) >= _naive(seen.last_seen) else seen
        merged[finding.id] = newer.model_copy(update={
            "first_seen": min(seen.first_seen, finding.first_seen, key=_naive),
            "count": seen.count + finding.count,
        })
    return list(merged.values())


def _change(finding: Finding, existing: tuple[Lifecycle, datetime] | None) -> Change:
    closing = finding.status in CLOSING_STATUSES
    if existing is None:
        return Change.NEW
    lifecycle, last_seen = existing
    if _naive(finding.last_seen) < last_seen:
        return Change.UPDATED  # an older sighting: counted, but it cannot re-open or resolve
    if lifecycle is Lifecycle.RESOLVED and not closing:
        return Change.REOPENED
    if lifecycle is not Lifecycle.RESOLVED and closing:
        return Change.RESOLVED
    return Change.UPDATED


def _stage(db: duckdb.DuckDBPyConnection, batch: list[Finding], changes: list[Change], fresh: list[bool]) -> None:
    columns: dict[str, list[Any]] = {name: [] for name in _NAMES}
    for f in batch:
        values = (
            f.id, f.source.value, f.type, f.control_id, f.rule_id, f.title, f.description, f.remediation,
            f.status.value, f.severity.value, f.severity.rank, f.account_id, f.region, f.resource.type,
            f.resource.id, f.principal, json.dumps(f.frameworks, sort_keys=True), _naive(f.first_seen),
            _naive(f.last_seen), f.count, json.dumps(f.evidence.model_dump(mode="json"), sort_keys=True),
            json.dumps(f.mitre),
        )
        for name, value in zip(_NAMES, values, strict=True):
            columns[name].append(value)
    staged = ", ".join(
        f"unnest(?::VARCHAR[])::JSON AS {name}" if kind == "JSON" else f"unnest(?::{kind}[]) AS {name}"
        for name, kind in _COLUMNS
    )
    db.execute(
        f"CREATE OR REPLACE TEMP TABLE _incoming AS SELECT {staged}, unnest(?::VARCHAR[]) AS change, "
        "unnest(?::BOOLEAN[]) AS closing, unnest(?::BOOLEAN[]) AS fresh",
        [
            *(columns[name] for name in _NAMES),
            [c.value for c in changes],
            [f.status in CLOSING_STATUSES for f in batch],
            fresh,
        ],
    )


def _record(row: tuple[Any, ...]) -> StoredFinding:
    data = dict(zip((*_NAMES, *_STORED), row, strict=True))
    evidence = json.loads(data["evidence"])
    finding = Finding(
        id=data["id"], source=Source(data["source"]), type=data["type"], control_id=data["control_id"],
        rule_id=data["rule_id"], title=data["title"], description=data["description"],
        remediation=data["remediation"], status=Status(data["status"]), severity=Severity(data["severity"]),
        account_id=data["account_id"], region=data["region"],
        resource=ResourceRef(type=data["resource_type"], id=data["resource_id"]), principal=data["principal"],
        frameworks=json.loads(data["frameworks"]), first_seen=data["first_seen"].replace(tzinfo=UTC),
        last_seen=data["last_seen"].replace(tzinfo=UTC), count=data["count"],
        evidence=Evidence.model_validate(evidence), mitre=json.loads(data["mitre"]),
    )
    return StoredFinding(
        finding=finding, lifecycle=Lifecycle(data["lifecycle"]), reopened_count=data["reopened_count"],
        notified_at=_aware(data["notified_at"]), resolved_at=_aware(data["resolved_at"]),
        last_run_id=data["last_run_id"],
    )
