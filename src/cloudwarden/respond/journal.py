"""The hash-chained audit log of incident response: every step is written, and chained, before it runs.

Each entry goes into the store's append-only ``audit_log`` and, in the same transaction, a row of
``audit_chain`` holding the previous entry's hash and its own::

    hash = sha256(prev_hash | seq | at | actor | action | target | dry_run | canonical JSON of details)

:func:`verify_chain` recomputes every hash from the ``audit_log`` rows, so editing an entry, deleting one,
or re-ordering them breaks the chain at that entry and is reported with its sequence number. (Removing
the newest entries leaves a shorter valid chain; the head hash each run keeps in its case manifest is
what catches that.) Secrets are scrubbed from details before hashing, so what is hashed is what is stored.

The store has no public transaction API yet; this module uses its writer through ``Store._write`` (as
the notification outbox does) so the two inserts share one transaction.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from cloudwarden.core.finding import scrub_secrets
from cloudwarden.store import Store

CHAIN: Final = "respond"
GENESIS: Final = "0" * 64


@dataclass(frozen=True)
class ChainedEntry:
    seq: int
    at: datetime
    actor: str
    action: str
    target: str
    dry_run: bool
    details: dict[str, Any]
    prev_hash: str
    hash: str


@dataclass(frozen=True)
class ChainReport:
    """The result of checking the chain: ``ok`` when every entry's hash and link hold."""

    entries: int
    head: str
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def _canonical(details: Any) -> str:
    return json.dumps(details, sort_keys=True, separators=(",", ":"), default=str, ensure_ascii=False)


def entry_hash(prev_hash: str, seq: int, at: datetime, actor: str, action: str, target: str, dry_run: bool,
               details: dict[str, Any]) -> str:
    parts = (prev_hash, str(seq), at.replace(tzinfo=None).isoformat(), actor, action, target,
             "1" if dry_run else "0", _canonical(details))
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


class Journal:
    """Appends chained entries to a store's audit log and reads them back."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def append(self, actor: str, action: str, target: str, *, dry_run: bool,
               details: dict[str, Any] | None = None) -> ChainedEntry:
        clean = json.loads(_canonical(scrub_secrets(details or {})))
        at = datetime.now(UTC).replace(tzinfo=None)
        with self.store.transaction() as db:
            row = db.execute("SELECT hash FROM audit_chain WHERE chain = ? ORDER BY seq DESC LIMIT 1",
                             [CHAIN]).fetchone()
            prev = str(row[0]) if row else GENESIS
            inserted = db.execute(
                "INSERT INTO audit_log VALUES (nextval('audit_log_seq'), ?, ?, ?, ?, ?, ?::JSON) RETURNING seq",
                [at, actor, action, target, dry_run, _canonical(clean)],
            ).fetchone()
            assert inserted is not None
            seq = int(inserted[0])
            digest = entry_hash(prev, seq, at, actor, action, target, dry_run, clean)
            db.execute("INSERT INTO audit_chain VALUES (?, ?, ?, ?)", [seq, CHAIN, prev, digest])
        return ChainedEntry(seq, at.replace(tzinfo=UTC), actor, action, target, dry_run, clean, prev, digest)

    def entries(self, *, run_id: str | None = None) -> list[ChainedEntry]:
        """Chained entries in order; with ``run_id``, only that run's (``details.run_id``)."""
        with self.store.reader() as db:
            rows = db.execute(
                'SELECT c.seq, l."at", l.actor, l.action, l.target, l.dry_run, l.details, c.prev_hash, c.hash '
                "FROM audit_chain c JOIN audit_log l ON l.seq = c.seq WHERE c.chain = ? ORDER BY c.seq", [CHAIN],
            ).fetchall()
        found = [ChainedEntry(r[0], r[1].replace(tzinfo=UTC), r[2], r[3], r[4], r[5], json.loads(r[6]), r[7], r[8])
                 for r in rows]
        return [e for e in found if run_id is None or e.details.get("run_id") == run_id]

    def head(self) -> str:
        with self.store.reader() as db:
            row = db.execute("SELECT hash FROM audit_chain WHERE chain = ? ORDER BY seq DESC LIMIT 1",
                             [CHAIN]).fetchone()
        return str(row[0]) if row else GENESIS


def verify_chain(store: Store) -> ChainReport:
    """Recompute the chain from the audit log; every broken link or altered entry is a problem."""
    with store.reader() as db:
        rows = db.execute(
            'SELECT c.seq, c.prev_hash, c.hash, l.seq, l."at", l.actor, l.action, l.target, l.dry_run, l.details '
            "FROM audit_chain c LEFT JOIN audit_log l ON l.seq = c.seq WHERE c.chain = ? ORDER BY c.seq", [CHAIN],
        ).fetchall()
    problems: list[str] = []
    expected_prev = GENESIS
    for seq, prev_hash, stored_hash, log_seq, at, actor, action, target, dry_run, details in rows:
        if prev_hash != expected_prev:
            problems.append(f"entry {seq}: its link does not match the previous entry's hash (an entry before it "
                            "was removed or altered)")
        if log_seq is None:
            problems.append(f"entry {seq}: missing from the audit log")
        else:
            recomputed = entry_hash(prev_hash, seq, at, actor, action, target, dry_run, json.loads(details))
            if recomputed != stored_hash:
                problems.append(f"entry {seq}: its content does not match its hash (altered after it was written)")
        expected_prev = stored_hash
    return ChainReport(entries=len(rows), head=expected_prev, problems=problems)
