"""Playbook runs and their undo records, kept in the store (``respond_runs``, ``respond_undo``).

A run outlives the process that started it: ``respond approve`` and ``respond rollback`` are separate
commands, so the finding, the mode, the approvals given and the steps waiting for one are all stored
with the run. Undo records are appended as steps change the account, and marked (never deleted) when
rolled back. Like :mod:`cloudwarden.respond.journal`, this uses the store's writer directly until the
store offers a public transaction API.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from cloudwarden.core.errors import BadInputError
from cloudwarden.core.finding import Finding, scrub_secrets
from cloudwarden.store import Store


class RunStatus(StrEnum):
    PLANNED = "planned"  # a dry run: the plan was made, nothing changed
    AWAITING_APPROVAL = "awaiting-approval"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    ROLLED_BACK = "rolled-back"


@dataclass(frozen=True)
class RunRecord:
    id: str
    playbook: str
    finding: Finding
    input: dict[str, Any]
    execute: bool
    auto_approve: bool
    status: RunStatus
    account_id: str
    region: str
    case_dir: Path
    started_at: datetime
    updated_at: datetime
    approved: list[str]
    pending: list[str]
    error: str | None


@dataclass(frozen=True)
class UndoRecord:
    run_id: str
    seq: int
    step: str
    action: str
    undo: dict[str, Any]
    undone_at: datetime | None


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


_RUN_COLUMNS = ("id, playbook, finding_id, finding, input, execute, auto_approve, status, account_id, region, "
                "case_dir, started_at, updated_at, approved, pending, error")


class Records:
    def __init__(self, store: Store) -> None:
        self.store = store

    def create_run(self, run_id: str, playbook: str, finding: Finding, data: dict[str, Any], *, execute: bool,
                   auto_approve: bool, case_dir: Path, started_at: datetime) -> None:
        with self.store.transaction() as db:
            db.execute(
                f"INSERT INTO respond_runs ({_RUN_COLUMNS}) VALUES (?, ?, ?, ?::JSON, ?::JSON, ?, ?, ?, ?, ?, ?, ?, ?, "
                "'[]', '[]', NULL)",
                [run_id, playbook, finding.id, json.dumps(finding.redacted().to_json_dict()),
                 json.dumps(scrub_secrets(data), default=str), execute, auto_approve,
                 RunStatus.PLANNED.value, finding.account_id, finding.region, str(case_dir),
                 started_at.astimezone(UTC).replace(tzinfo=None), _now()],
            )

    def update_run(self, run_id: str, *, status: RunStatus, pending: list[str] | None = None,
                   approved: list[str] | None = None, error: str | None = None) -> None:
        sets = ["status = ?", "updated_at = ?", "error = ?"]
        params: list[Any] = [status.value, _now(), error]
        if pending is not None:
            sets.append("pending = ?::JSON")
            params.append(json.dumps(pending))
        if approved is not None:
            sets.append("approved = ?::JSON")
            params.append(json.dumps(approved))
        with self.store.transaction() as db:
            db.execute(f"UPDATE respond_runs SET {', '.join(sets)} WHERE id = ?", [*params, run_id])

    def get_run(self, run_id: str) -> RunRecord:
        with self.store.reader() as db:
            row = db.execute(f"SELECT {_RUN_COLUMNS} FROM respond_runs WHERE id = ?", [run_id]).fetchone()
        if row is None:
            raise BadInputError("RUN_ID", f"no playbook run {run_id!r} in {self.store.path}")
        return _run(row)

    def runs(self) -> list[RunRecord]:
        with self.store.reader() as db:
            rows = db.execute(f"SELECT {_RUN_COLUMNS} FROM respond_runs ORDER BY started_at, id").fetchall()
        return [_run(row) for row in rows]

    def add_undo(self, run_id: str, step: str, action: str, undo: dict[str, Any]) -> int:
        with self.store.transaction() as db:
            row = db.execute("SELECT coalesce(max(seq), 0) + 1 FROM respond_undo WHERE run_id = ?", [run_id]).fetchone()
            seq = int(row[0]) if row else 1
            db.execute("INSERT INTO respond_undo VALUES (?, ?, ?, ?, ?::JSON, ?, NULL)",
                       [run_id, seq, step, action, json.dumps(scrub_secrets(undo), sort_keys=True), _now()])
        return seq

    def undo_records(self, run_id: str) -> list[UndoRecord]:
        """The run's undo records, oldest first."""
        with self.store.reader() as db:
            rows = db.execute("SELECT run_id, seq, step, action, undo, undone_at FROM respond_undo WHERE run_id = ? "
                              "ORDER BY seq", [run_id]).fetchall()
        return [UndoRecord(r[0], r[1], r[2], r[3], json.loads(r[4]), r[5].replace(tzinfo=UTC) if r[5] else None)
                for r in rows]

    def mark_undone(self, run_id: str, seq: int) -> None:
        with self.store.transaction() as db:
            db.execute("UPDATE respond_undo SET undone_at = ? WHERE run_id = ? AND seq = ?", [_now(), run_id, seq])


def _run(row: tuple[Any, ...]) -> RunRecord:
    return RunRecord(
        id=row[0], playbook=row[1], finding=Finding.from_json_dict(json.loads(row[3])), input=json.loads(row[4]),
        execute=row[5], auto_approve=row[6], status=RunStatus(row[7]), account_id=row[8], region=row[9],
        case_dir=Path(row[10]), started_at=row[11].replace(tzinfo=UTC), updated_at=row[12].replace(tzinfo=UTC),
        approved=json.loads(row[13]), pending=json.loads(row[14]), error=row[15],
    )
