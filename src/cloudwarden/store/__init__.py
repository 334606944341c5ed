"""The embedded DuckDB store: runs, snapshots, resources, findings and their lifecycle, audit log, checkpoints."""

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
from cloudwarden.store.schema import SCHEMA_VERSION
from cloudwarden.store.store import DEFAULT_PATH, Store

__all__ = [
    "DEFAULT_PATH",
    "SCHEMA_VERSION",
    "AuditEntry",
    "Change",
    "HistoryEntry",
    "Lifecycle",
    "Run",
    "Snapshot",
    "Store",
    "StoredFinding",
    "UpsertStats",
]
