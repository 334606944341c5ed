"""Which log objects detection has already read, and committing a chunk's findings with its checkpoints.

A checkpoint per object (source ``detect.cloudtrail``, key = absolute path or ``s3://`` URI) marks it
read: the next run skips it. Findings and checkpoints must land together, or a crash between them
would either lose findings (checkpoints first) or count them twice on the re-run (findings first; the
store adds counts). The store commits each call in its own transaction, so a chunk is committed through
a one-row write-ahead journal, itself a checkpoint row:

1. journal := the chunk's objects and positions, plus a *probe*: one finding id of the chunk and how
   many history entries it had (the store appends one entry per upsert, atomically with it);
2. upsert the findings (one transaction);
3. one checkpoint per object;
4. journal := empty.

A run that finds a journal left by a killed one looks at the probe: more history entries than recorded
means step 2 committed, so the objects are marked read; otherwise they are read again. Either way the
end state is the one an uninterrupted run reaches: no finding lost, none counted twice.

When the chunk leaves a tail for the next run (:mod:`cloudwarden.detect.carry`), the tail is written as
pending before step 1 and promoted between steps 3 and 4; recovery promotes it with the objects, or
drops it when the chunk is read again. Tails are kept per source too (:mod:`cloudwarden.detect.carry`).

Stores that offer ``get_checkpoints(source, keys) -> {key: position}`` and ``set_checkpoints(source,
{key: position})`` (one query / one transaction) are used in bulk; otherwise one call per object.

Every function takes an optional ``source`` (default :data:`SOURCE`): another kind of log keeps its
checkpoints and its journal apart under its own (VPC flow and resolver query logs use ``detect.netlogs``),
so a file named in both kinds of run is judged by each on its own.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Final

from cloudwarden.core.finding import Finding
from cloudwarden.detect import carry
from cloudwarden.detect.load import LogObject
from cloudwarden.store import Store

SOURCE: Final = carry.CLOUDTRAIL.source  # "detect.cloudtrail"
JOURNAL_KEY: Final = "\x00journal"

Hook = Callable[[str], None]
"""Called with a step name (``upserted``, ``checkpointed``, ``promoted``) after each commit step; tests use it to
crash."""


def unread(store: Store, objects: Sequence[LogObject], *, source: str = SOURCE) -> tuple[list[LogObject], int]:
    """The objects without a checkpoint, and how many were skipped as already read."""
    done = _get_many(store, [obj.key for obj in objects], source)
    fresh = [obj for obj in objects if obj.key not in done]
    return fresh, len(objects) - len(fresh)


def _get_many(store: Store, keys: Sequence[str], source: str = SOURCE) -> set[str]:
    """The keys that have a checkpoint: one query when the store has ``get_checkpoints``, else one per key."""
    bulk = getattr(store, "get_checkpoints", None)
    if bulk is not None:
        return set(bulk(source, list(keys)))
    return {key for key in keys if store.get_checkpoint(source, key) is not None}


def _set_many(store: Store, positions: Mapping[str, str], source: str = SOURCE) -> None:
    """Checkpoint every key: one transaction when the store has ``set_checkpoints``, else one per key
    (each idempotent, so a crash part-way is finished by :func:`recover`)."""
    bulk = getattr(store, "set_checkpoints", None)
    if bulk is not None:
        bulk(source, dict(positions))
        return
    for key, position in positions.items():
        store.set_checkpoint(source, key, position)


def recover(store: Store, *, source: str = SOURCE) -> str | None:
    """Finish or undo a chunk a killed run left half-committed; returns what was done (or None)."""
    text = store.get_checkpoint(source, JOURNAL_KEY)
    if not text:
        carry.discard_pending(store, source=source)  # written just before a journal that never was
        return None
    journal = json.loads(text)
    probe = journal.get("probe")
    committed = probe is None or len(store.history(probe["id"])) > int(probe["history"])
    if committed:
        _set_many(store, journal["objects"], source)
        if journal.get("carry"):
            carry.promote(store, source=source)  # False when the killed run had promoted it already
    elif journal.get("carry"):
        carry.discard_pending(store, source=source)
    store.set_checkpoint(source, JOURNAL_KEY, "")
    return "completed" if committed else "rolled back"


def commit(store: Store, run_id: str | None, findings: Sequence[Finding], objects: Sequence[LogObject],
           hook: Hook | None = None, *, source: str = SOURCE, tail: carry.Carry | None = None) -> None:
    """Store ``findings`` and mark ``objects`` read, as one unit (see the module docstring); with ``tail``,
    make it the tail the next run starts from, in the same unit."""
    if tail is not None:
        carry.save_pending(store, tail, source=source)
    probe = None
    if findings:
        probe = {"id": findings[0].id, "history": len(store.history(findings[0].id))}
    journal = {"objects": {obj.key: obj.position for obj in objects}, "probe": probe, "carry": tail is not None}
    store.set_checkpoint(source, JOURNAL_KEY, json.dumps(journal))
    if findings:
        store.upsert_findings(run_id, findings)
    if hook is not None:
        hook("upserted")
    _set_many(store, {obj.key: obj.position for obj in objects}, source)
    if hook is not None:
        hook("checkpointed")
    if tail is not None:
        carry.promote(store, source=source)
        if hook is not None:
            hook("promoted")
    store.set_checkpoint(source, JOURNAL_KEY, "")
