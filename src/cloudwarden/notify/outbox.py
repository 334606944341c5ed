"""The persisted outbox: notifications survive a target that is down and a process that restarts.

Producers :meth:`Outbox.enqueue` a message (one row of the store's ``outbox`` table, keyed by its idempotency
key); a delivery loop (:meth:`Outbox.deliver_due`, :meth:`Outbox.run`) sends what is due. Each row moves
through these states::

    pending ──claim──► sending ──delivered──► delivered
       ▲                  │ ├──retry (5xx, 429, no answer)──► pending, next attempt after backoff
       │                  │ └──failed for good, or the Nth failure──► dead      (dead letter)
       │                  └──process died mid-send──► interrupted
       └──────────── requeue(key) ◄── dead / interrupted

Guarantees, and how:

* **Nothing is lost**: a message is committed to the store before :meth:`enqueue` returns, and only
  leaves ``pending`` for ``delivered`` or for a state an operator can see and :meth:`requeue`.
* **At most once per idempotency key, across restarts**: the key is the table's primary key, so enqueueing
  the same key again adds nothing, whatever state the first one is in (even ``delivered``). A row is marked
  ``sending`` and committed *before* the send; if the process dies then, nobody can know whether the target
  got it, so on the next start the row becomes ``interrupted``, not ``pending``: it is reported and
  re-sent only on request (:meth:`requeue`) or when the outbox was made with ``resend_interrupted=True``
  (right for webhooks, whose receivers can drop repeats by ``X-Cloudwarden-Delivery``).
* **Backoff with jitter**: the n-th failure waits ``min(max_delay, base_delay * 2**(n-1))``, of which the
  ``jitter`` fraction is random, so many messages to a recovering target do not all come back at once. A
  ``Retry-After`` from the target is honoured instead when given. When a target fails, the rest of its
  messages in the same pass wait with it instead of each spending an attempt.
* **Dead letters**: a permanent refusal (a 4xx that will not change) goes to ``dead`` at once, a temporary
  one after ``max_attempts`` attempts; :meth:`dead_letters` lists them with the last error.
* **Multi-part messages** (Slack's 50-block limit) record how many parts went, and a retry resumes there.

The table holds target names, never URLs or keys; error texts are scrubbed of the target's secret values
before they are stored. One :class:`Outbox` per store: DuckDB lets one process write a file, and the outbox
treats rows another instance left in ``sending`` as interrupted when it starts.
"""

from __future__ import annotations

import json
import logging
import random
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, Final

from cloudwarden.core.errors import BadInputError
from cloudwarden.core.finding import Finding
from cloudwarden.notify.config import scrub
from cloudwarden.notify.model import DeliveryResult, Message, Outcome
from cloudwarden.notify.registry import Senders, Targets
from cloudwarden.store import Store

log = logging.getLogger(__name__)

MAX_ERROR_TEXT: Final = 500
_COLUMNS: Final = ("idempotency_key, target, kind, payload, finding_ids, state, attempts, parts_sent, created_at, "
                   "next_attempt_at, last_attempt_at, delivered_at, last_error")


class State(StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    DELIVERED = "delivered"
    DEAD = "dead"
    INTERRUPTED = "interrupted"


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry. Delays in seconds."""

    max_attempts: int = 8
    base_delay: float = 30.0
    max_delay: float = 3600.0
    jitter: float = 0.5

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise BadInputError("max_attempts", "must be at least 1")
        if self.base_delay < 0 or self.max_delay < self.base_delay:
            raise BadInputError("base_delay", "must be >= 0 and no more than max_delay")
        if not 0 <= self.jitter <= 1:
            raise BadInputError("jitter", "must be between 0 and 1")

    def delay(self, failures: int, rng: random.Random) -> float:
        """Seconds to wait after the ``failures``-th failure (1-based)."""
        ceiling = min(self.max_delay, self.base_delay * 2 ** max(failures - 1, 0))
        return float(ceiling * (1 - self.jitter) + rng.uniform(0, ceiling * self.jitter))


@dataclass(frozen=True)
class OutboxEntry:
    """One row of the outbox."""

    message: Message
    state: State
    attempts: int
    parts_sent: int
    next_attempt_at: datetime
    last_attempt_at: datetime | None
    delivered_at: datetime | None
    last_error: str | None

    @property
    def key(self) -> str:
        return self.message.idempotency_key

    @property
    def target(self) -> str:
        return self.message.target


@dataclass
class DeliveryReport:
    """What one or more delivery passes did."""

    delivered: list[str] = field(default_factory=list)
    retrying: list[str] = field(default_factory=list)
    dead: list[str] = field(default_factory=list)
    results: dict[str, DeliveryResult] = field(default_factory=dict)

    @property
    def attempted(self) -> int:
        return len(self.delivered) + len(self.retrying) + len(self.dead)

    def add(self, other: DeliveryReport) -> None:
        self.delivered += other.delivered
        self.retrying += other.retrying
        self.dead += other.dead
        self.results.update(other.results)


@dataclass(frozen=True)
class _Verdict:
    """A send's outcome as the row will record it."""

    key: str
    state: State
    when: datetime  # next attempt (pending) or when it was settled
    parts_sent: int
    error: str | None


def _utc() -> datetime:
    return datetime.now(UTC)


def _naive(value: datetime) -> datetime:
    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value


def _aware(value: datetime | None) -> datetime | None:
    return None if value is None else value.replace(tzinfo=UTC)


class Outbox:
    """The outbox over one open :class:`Store`."""

    def __init__(
        self,
        store: Store,
        targets: Targets,
        *,
        senders: Senders | None = None,
        policy: RetryPolicy | None = None,
        clock: Callable[[], datetime] = _utc,
        rng: random.Random | None = None,
        resend_interrupted: bool = False,
        mark_notified: bool = True,
    ) -> None:
        self.store = store
        self.targets = targets
        self.senders = senders or Senders()
        self.policy = policy or RetryPolicy()
        self.clock = clock
        self.rng = rng or random.Random()
        self.mark_notified = mark_notified
        self._owner = secrets.token_hex(8)
        self.recovered = self._recover(resend_interrupted)

    # --- the store seam ------------------------------------------------------------------------------------
    # The outbox writes through the store's transaction(), sharing its single writer connection and lock
    # (reads run on cursors of their own).

    def _write(self) -> AbstractContextManager[Any]:
        return self.store.transaction()

    def _read(self) -> AbstractContextManager[Any]:
        return self.store.reader()

    def _now(self) -> datetime:
        return _naive(self.clock())

    # --- producing -----------------------------------------------------------------------------------------

    def enqueue(
        self,
        target: str,
        findings: Iterable[Finding],
        *,
        subject: str | None = None,
        rule: str | None = None,
        key: str | None = None,
    ) -> Message | None:
        """Queue ``findings`` for ``target``; the message, or None if its key was queued before (any state).

        Raises :class:`BadInputError` for a target that is not configured (nothing is queued then).
        """
        config = self.targets.get_target(target)
        message = Message.for_findings(target, config.kind, findings, subject=subject, rule=rule, key=key,
                                       created_at=self.clock())
        return message if self.enqueue_message(message) else None

    def enqueue_message(self, message: Message) -> bool:
        """Queue a prepared message; False (and nothing changes) if its idempotency key is already known."""
        return bool(self.enqueue_messages([message]))

    def enqueue_messages(self, messages: Iterable[Message]) -> list[str]:
        """Queue prepared messages in one transaction; the keys that were new (repeats are left alone)."""
        batch = list({m.idempotency_key: m for m in messages}.values())
        for message in batch:
            kind = self.targets.get_target(message.target).kind
            if kind != message.kind:
                raise BadInputError("target", f"{message.target!r} is a {kind} target, not {message.kind}")
        if not batch:
            return []
        now = self._now()
        with self._write() as db:
            rows = db.execute(
                f"INSERT INTO outbox ({_COLUMNS}) SELECT unnest(?::VARCHAR[]), unnest(?::VARCHAR[]), "
                "unnest(?::VARCHAR[]), unnest(?::VARCHAR[])::JSON, unnest(?::VARCHAR[])::JSON, 'pending', 0, 0, "
                "unnest(?::TIMESTAMP[]), ?, NULL, NULL, NULL "
                "ON CONFLICT DO NOTHING RETURNING idempotency_key",
                [[m.idempotency_key for m in batch], [m.target for m in batch], [m.kind for m in batch],
                 [json.dumps(m.payload, sort_keys=True) for m in batch], [json.dumps(m.finding_ids) for m in batch],
                 [_naive(m.created_at) for m in batch], now],
            ).fetchall()
        added = {row[0] for row in rows}
        log.debug("queued %d message(s), %d already known", len(added), len(batch) - len(added))
        return [m.idempotency_key for m in batch if m.idempotency_key in added]

    # --- delivering ----------------------------------------------------------------------------------------

    def deliver_due(self, *, limit: int | None = None) -> DeliveryReport:
        """Send every message that is due now (at most ``limit``), one at a time; what happened.

        Each step is one transaction that records the previous message's outcome and claims the next one,
        so a message is committed as ``sending`` before it goes out and nothing else is ever in flight.
        """
        report = DeliveryReport()
        waiting: dict[str, datetime] = {}  # targets that failed in this pass -> when they are tried again
        verdict: _Verdict | None = None
        notified: list[str] = []
        try:
            while True:
                claim = limit is None or report.attempted < limit
                entry = self._step(verdict, list(waiting), claim=claim)
                verdict = None
                if entry is None:
                    break
                result = self._send(entry)
                verdict = self._judge(entry, result)
                report.results[entry.key] = result
                if verdict.state is State.DELIVERED:
                    report.delivered.append(entry.key)
                    notified += entry.message.finding_ids
                elif verdict.state is State.DEAD:
                    report.dead.append(entry.key)
                else:
                    report.retrying.append(entry.key)
                    waiting[entry.target] = verdict.when
        finally:
            if verdict is not None:  # an error after the last send: its outcome is still recorded
                self._step(verdict, [], claim=False)
            self._hold(waiting)
            if self.mark_notified and notified:
                self.store.mark_notified(notified)
        return report

    def run(
        self,
        *,
        stop: threading.Event | None = None,
        until_idle: bool = False,
        timeout: float | None = None,
        poll: float = 1.0,
    ) -> DeliveryReport:
        """Deliver in a loop, sleeping until the next message is due (or ``poll`` seconds, if sooner).

        Returns when ``stop`` is set, when nothing is left pending (``until_idle``), or after ``timeout``.
        """
        stop = stop or threading.Event()
        deadline = None if timeout is None else time.monotonic() + timeout
        report = DeliveryReport()
        while not stop.is_set():
            report.add(self.deliver_due())
            due = self.next_due()
            if until_idle and due is None:
                break
            wait = poll if due is None else max(0.0, (due - self.clock()).total_seconds())
            wait = min(wait, poll)
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                wait = min(wait, left)
            stop.wait(wait)
        return report

    def _step(self, verdict: _Verdict | None, skip_targets: list[str], *, claim: bool) -> OutboxEntry | None:
        """Record ``verdict`` and claim the most overdue pending message (not of ``skip_targets``), in one
        transaction; the claimed row is ``sending`` once this returns."""
        now = self._now()
        with self._write() as db:
            if verdict is not None:
                db.execute(
                    "UPDATE outbox SET state = ?, parts_sent = ?, next_attempt_at = ?, claimed_by = NULL, "
                    "delivered_at = ?, last_error = ? WHERE idempotency_key = ?",
                    [verdict.state.value, verdict.parts_sent, _naive(verdict.when),
                     now if verdict.state is State.DELIVERED else None, verdict.error, verdict.key],
                )
            if not claim:
                return None
            row = db.execute(
                f"SELECT {_COLUMNS} FROM outbox WHERE state = 'pending' AND next_attempt_at <= ? "
                "AND NOT list_contains(?::VARCHAR[], target) ORDER BY next_attempt_at, seq LIMIT 1",
                [now, skip_targets],
            ).fetchone()
            if row is None:
                return None
            db.execute(
                "UPDATE outbox SET state = 'sending', claimed_by = ?, attempts = attempts + 1, last_attempt_at = ? "
                "WHERE idempotency_key = ?",
                [self._owner, now, row[0]],
            )
        entry = _entry(row)
        return OutboxEntry(entry.message, State.SENDING, entry.attempts + 1, entry.parts_sent,
                           entry.next_attempt_at, _aware(now), None, entry.last_error)

    def _send(self, entry: OutboxEntry) -> DeliveryResult:
        message = entry.message
        try:
            config = self.targets.get_target(message.target)
            if config.kind != message.kind:
                return DeliveryResult(Outcome.FAILED, f"target {message.target!r} is now of kind {config.kind}, "
                                                      f"the message was made for {message.kind}")
            sender = self.senders.get(config.kind)
            return sender.send(message, config, resume_from=entry.parts_sent)
        except BadInputError as exc:
            return DeliveryResult(Outcome.FAILED, f"target {message.target!r} config: {exc}",
                                  parts_sent=entry.parts_sent)
        except BaseException as exc:
            # A fault of ours (or an interrupt) mid-send: whether the target got it is unknown, so the row is
            # left for an operator, and the error goes on up.
            error = scrub(f"{type(exc).__name__}: {exc}", self._secret_values(entry.target))
            self._set_interrupted(entry.key, error)
            raise

    def _judge(self, entry: OutboxEntry, result: DeliveryResult) -> _Verdict:
        """What a send's result means for its row: the next state, when to retry, the scrubbed error."""
        now = self.clock()
        detail = scrub(result.detail, self._secret_values(entry.target))[:MAX_ERROR_TEXT]
        parts = max(entry.parts_sent, result.parts_sent)
        if result.outcome is Outcome.DELIVERED:
            log.info("delivered %s to target %s", entry.key[:16], entry.target)
            return _Verdict(entry.key, State.DELIVERED, now, parts, None)
        if result.outcome is Outcome.FAILED or entry.attempts >= self.policy.max_attempts:
            log.warning("dead letter %s for target %s after %d attempt(s): %s", entry.key[:16], entry.target,
                        entry.attempts, detail)
            return _Verdict(entry.key, State.DEAD, now, parts, detail)
        wait = result.retry_after if result.retry_after is not None else self.policy.delay(entry.attempts, self.rng)
        when = now + timedelta(seconds=wait)
        log.info("target %s: %s; retrying %s at %s", entry.target, detail, entry.key[:16], when.isoformat())
        return _Verdict(entry.key, State.PENDING, when, parts, detail)

    def _hold(self, waiting: dict[str, datetime]) -> None:
        """Messages of targets that just failed wait until the failed one is retried (no attempt spent)."""
        if not waiting:
            return
        now = self._now()
        with self._write() as db:
            for target, when in waiting.items():
                db.execute(
                    "UPDATE outbox SET next_attempt_at = ? WHERE state = 'pending' AND target = ? "
                    "AND next_attempt_at <= ?",
                    [_naive(when), target, now],
                )

    def _secret_values(self, target: str) -> list[str]:
        config = self.targets.get(target)
        return config.secret_values() if config is not None else []

    def _set_interrupted(self, key: str, error: str) -> None:
        with self._write() as db:
            db.execute(
                "UPDATE outbox SET state = 'interrupted', claimed_by = NULL, last_error = ? "
                "WHERE idempotency_key = ?",
                [error[:MAX_ERROR_TEXT], key],
            )

    def _recover(self, resend: bool) -> int:
        """Rows left ``sending`` by a process that stopped mid-send: interrupted (or pending if ``resend``)."""
        state = State.PENDING if resend else State.INTERRUPTED
        with self._write() as db:
            rows = db.execute(
                "UPDATE outbox SET state = ?, claimed_by = NULL, "
                "last_error = 'the process stopped while sending; the target may or may not have it' "
                "WHERE state = 'sending' RETURNING idempotency_key",
                [state.value],
            ).fetchall()
        if rows:
            log.warning("%d message(s) were being sent when the last process stopped: %s", len(rows), state.value)
        return len(rows)

    # --- operating -----------------------------------------------------------------------------------------

    def requeue(self, key: str) -> bool:
        """Send a dead or interrupted message again (attempts start over); False if it is neither."""
        with self._write() as db:
            rows = db.execute(
                "UPDATE outbox SET state = 'pending', attempts = 0, next_attempt_at = ?, claimed_by = NULL "
                "WHERE idempotency_key = ? AND state IN ('dead', 'interrupted') RETURNING idempotency_key",
                [self._now(), key],
            ).fetchall()
        return bool(rows)

    def next_due(self) -> datetime | None:
        """When the earliest pending message is due (UTC), or None when nothing is pending."""
        with self._read() as db:
            row = db.execute("SELECT min(next_attempt_at) FROM outbox WHERE state = 'pending'").fetchone()
        return _aware(row[0]) if row and row[0] is not None else None

    def get(self, key: str) -> OutboxEntry | None:
        with self._read() as db:
            row = db.execute(f"SELECT {_COLUMNS} FROM outbox WHERE idempotency_key = ?", [key]).fetchone()
        return _entry(row) if row else None

    def entries(self, state: State | str | None = None, *, target: str | None = None) -> list[OutboxEntry]:
        """Rows in the order they were queued (``seq``), optionally of one state and/or target."""
        clauses, params = [], []
        if state is not None:
            clauses.append("state = ?")
            params.append(State(state).value)
        if target is not None:
            clauses.append("target = ?")
            params.append(target)
        where = ("WHERE " + " AND ".join(clauses)) if clauses else ""
        with self._read() as db:
            rows = db.execute(f"SELECT {_COLUMNS} FROM outbox {where} ORDER BY seq",
                              params).fetchall()
        return [_entry(row) for row in rows]

    def dead_letters(self) -> list[OutboxEntry]:
        return self.entries(State.DEAD)

    def counts(self) -> dict[State, int]:
        """How many rows are in each state (every state present, zeros included)."""
        with self._read() as db:
            rows = db.execute("SELECT state, count(*) FROM outbox GROUP BY state").fetchall()
        found = {State(state): int(n) for state, n in rows}
        return {state: found.get(state, 0) for state in State}

    def __iter__(self) -> Iterator[OutboxEntry]:
        return iter(self.entries())


def _entry(row: tuple[Any, ...]) -> OutboxEntry:
    (key, target, kind, payload, finding_ids, state, attempts, parts_sent, created_at, next_attempt_at,
     last_attempt_at, delivered_at, last_error) = row
    message = Message(target=target, kind=kind, payload=json.loads(payload), finding_ids=json.loads(finding_ids),
                      created_at=created_at.replace(tzinfo=UTC), idempotency_key=key)
    return OutboxEntry(message, State(state), int(attempts), int(parts_sent), next_attempt_at.replace(tzinfo=UTC),
                       _aware(last_attempt_at), _aware(delivered_at), last_error)
