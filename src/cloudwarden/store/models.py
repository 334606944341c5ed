"""The values the store hands back: lifecycle, upsert counts, stored findings, runs, history and audit rows."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from cloudwarden.core.finding import Finding


class Lifecycle(StrEnum):
    """Where a finding is in its life: NEW -> NOTIFIED -> RESOLVED, and back to NEW when it returns."""

    NEW = "NEW"
    NOTIFIED = "NOTIFIED"
    RESOLVED = "RESOLVED"


class Change(StrEnum):
    """What a run did to a finding (``finding_history.change``)."""

    NEW = "new"
    UPDATED = "updated"
    REOPENED = "reopened"
    RESOLVED = "resolved"
    NOTIFIED = "notified"


@dataclass(frozen=True)
class UpsertStats:
    """How many findings of one upsert were new, updated (seen again), re-opened, or resolved by a passing
    verdict (``PASSED``/``ARCHIVED``)."""

    new: int = 0
    updated: int = 0
    reopened: int = 0
    resolved: int = 0

    @property
    def total(self) -> int:
        return self.new + self.updated + self.reopened + self.resolved


@dataclass(frozen=True)
class StoredFinding:
    """A finding with what only the store knows about it."""

    finding: Finding
    lifecycle: Lifecycle
    reopened_count: int
    notified_at: datetime | None
    resolved_at: datetime | None
    last_run_id: str | None


@dataclass(frozen=True)
class Run:
    id: str
    command: str
    started_at: datetime
    ended_at: datetime | None
    status: str
    stats: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class HistoryEntry:
    finding_id: str
    run_id: str | None
    at: datetime
    change: Change


@dataclass(frozen=True)
class AuditEntry:
    """One audit-log row; ``seq`` orders them (append-only, never updated or deleted)."""

    seq: int
    at: datetime
    actor: str
    action: str
    target: str
    dry_run: bool
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Snapshot:
    id: str
    run_id: str | None
    account: str
    region: str
    taken_at: datetime
    status: str
