"""Routing findings: match them against the rules, queue alerts in the outbox, start playbooks.

Every finding is wrapped as the events AWS would emit for it (``route.events``) and matched once against
all rules, compiled into one :class:`EventMatcher`. Each (finding, rule, target) match then goes through,
in this order:

1. **Already sent?** Routing keeps, per target and finding, the state it last sent (``route_sent``: the
   severity and the store's re-open count). A finding already notified is not sent again until its severity
   changes or it re-opens (the store moves a returning finding back to NEW and counts the re-open), which is
   Security Hub's NEW/NOTIFIED problem solved: re-imports of the same finding do not page anyone twice.
2. **Dedupe window.** A change is sent only if the last message about that finding to that target is at
   least the rule's ``dedupe_window`` old; otherwise it is held (not lost: the stored state still differs,
   so a later run sends it, and a severity that flaps back within the window sends nothing at all).
3. **Throttle.** A rule sends at most ``throttle.max`` messages (or playbook runs) per target in any window
   of ``throttle.per`` (``route_log``). Findings over the limit are reported as throttled and, like held
   ones, go out on a later run; the most severe findings are routed first, so they are the ones that fit.

What passes becomes **one message per target per call** (the findings of every rule that chose that
target, most severe first) queued in the persisted outbox, whose delivery loop sends it with retries and
marks the findings NOTIFIED in the store once delivered. Message keys are derived from the target, the
findings and how many times each was sent before, so a run interrupted between queueing and recording is
harmless: the re-run queues the same key, which the outbox ignores.

Playbook targets start :func:`cloudwarden.respond.runner.run_playbook` on each finding, a dry run unless
the rule says ``execute: true``, and never auto-approved: disruptive steps of an executing run still wait for
``respond approve``. A playbook that cannot start (no principal in the finding, credentials refused) is
reported with its error and retried on a later run. Playbooks act on a finding's principal, so several
findings about one principal start one run per playbook, which answers them all. A finding whose evidence
events were all made by a playbook run (User-Agent ``cloudwarden-respond/<run id>``) never starts one: a
remediation does not respond to itself (detection already allowlists those calls; this holds for findings
from elsewhere too).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from cloudwarden.aws.session import AwsTarget
from cloudwarden.core.errors import CloudwardenError
from cloudwarden.core.finding import Finding
from cloudwarden.notify.model import Message
from cloudwarden.notify.outbox import Outbox
from cloudwarden.route.events import events_for
from cloudwarden.route.matcher import EventMatcher
from cloudwarden.route.rules import PlaybookTarget, Rule, RuleSet
from cloudwarden.store import Store

ALREADY_SENT: Final = "already-sent"
DEDUPE_WINDOW: Final = "dedupe-window"
REMEDIATION: Final = "remediation"
RESPOND_AGENT: Final = "cloudwarden-respond/"  # respond.actions.base.RESPOND_AGENT (respond loads lazily)
SAME_BATCH: Final = "same-batch"
SAME_PRINCIPAL: Final = "same-principal"
THROTTLED: Final = "throttled"


@dataclass(frozen=True)
class PlaybookSettings:
    """Where routed playbooks act: the AWS target, the case folders' root, the role to assume in member
    accounts and the regions to collect from (``run_playbook``'s arguments)."""

    target: AwsTarget
    output_dir: Path = Path("cloudwarden-out")
    role_name: str | None = None
    regions: Sequence[str] | None = None


@dataclass(frozen=True)
class QueuedMessage:
    key: str
    target: str
    rules: tuple[str, ...]
    finding_ids: tuple[str, ...]
    new: bool  # False: the outbox already had this key (a re-run after an interruption)


@dataclass(frozen=True)
class Held:
    """A match that was not sent: ``reason`` is ``already-sent``, ``dedupe-window``, ``same-batch``,
    ``same-principal`` (a playbook run this call starts for the same principal answers it), ``remediation``
    (a playbook target for a finding made only of playbook runs' own calls) or ``throttled``."""

    rule: str
    target: str
    finding_id: str
    reason: str


@dataclass(frozen=True)
class PlaybookRun:
    rule: str
    playbook: str
    finding_id: str
    execute: bool
    status: str  # the run's status (planned, awaiting-approval, ...), "skipped" or "error"
    run_id: str | None = None
    pending: tuple[str, ...] = ()
    error: str | None = None
    case_dir: str | None = None
    steps: tuple[dict[str, Any], ...] = ()
    covers: tuple[str, ...] = ()  # other findings about the same principal this run answers

    def to_dict(self) -> dict[str, Any]:
        return {"rule": self.rule, "playbook": self.playbook, "finding_id": self.finding_id,
                "execute": self.execute, "status": self.status, "run_id": self.run_id,
                "pending": list(self.pending), "error": self.error, "case_dir": self.case_dir,
                "steps": list(self.steps), "covers": list(self.covers)}


@dataclass
class RouteReport:
    """What one :func:`route_findings` call did."""

    findings: int = 0
    events: int = 0
    matched: dict[str, list[str]] = field(default_factory=dict)  # rule -> finding ids, in routing order
    queued: list[QueuedMessage] = field(default_factory=list)
    suppressed: list[Held] = field(default_factory=list)
    throttled: list[Held] = field(default_factory=list)
    playbook_runs: list[PlaybookRun] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "findings": self.findings,
            "events": self.events,
            "matched": {rule: len(ids) for rule, ids in self.matched.items()},
            "queued": [{"key": m.key, "target": m.target, "rules": list(m.rules), "findings": len(m.finding_ids),
                        "new": m.new} for m in self.queued],
            "suppressed": _count_reasons(self.suppressed),
            "throttled": len(self.throttled),
            "playbook_runs": [run.to_dict() for run in self.playbook_runs],
        }


@dataclass(frozen=True)
class _Sent:
    severity: str
    reopened_count: int
    sends: int
    sent_at: datetime


@dataclass
class _Run:
    """A playbook run this call starts, and the other findings about the same principal it answers too."""

    rule: Rule
    target: PlaybookTarget
    finding: Finding
    covers: list[tuple[Finding, str]] = field(default_factory=list)


@dataclass
class _Batch:
    """The findings one notify target gets in this call, and the rules that chose them."""

    rules: list[str] = field(default_factory=list)
    entries: list[tuple[Finding, str]] = field(default_factory=list)  # a finding and the rule that chose it

    @property
    def findings(self) -> list[Finding]:
        return [finding for finding, _ in self.entries]


def route_findings(
    findings: Iterable[Finding],
    rules: RuleSet | Sequence[Rule],
    *,
    store: Store,
    outbox: Outbox,
    now: datetime | None = None,
    playbooks: PlaybookSettings | None = None,
) -> RouteReport:
    """Route ``findings`` through ``rules`` (see the module docstring); ``now`` is the routing clock."""
    ruleset = rules if isinstance(rules, RuleSet) else RuleSet(tuple(rules))
    ruleset.check_targets(list(outbox.targets))
    when = _naive(now or datetime.now(UTC))
    report = RouteReport()
    latest = _latest(findings)
    report.findings = len(latest)
    matches = _match(ruleset, latest, report)
    if not matches:
        return report
    state = _State.load(store, ruleset, [f.id for f, _ in matches], when)
    batches: dict[str, _Batch] = {}
    runs: dict[tuple[str, str], _Run] = {}  # (playbook key, principal) -> the run this call starts
    taken: dict[tuple[str, str], str] = {}  # (target key, finding id) -> the rule that took it
    for finding, rule in matches:
        for target in rule.targets:
            key = target.key if isinstance(target, PlaybookTarget) else target
            if isinstance(target, PlaybookTarget) and _remediation_only(finding):
                report.suppressed.append(Held(rule.name, key, finding.id, REMEDIATION))
                continue
            started = runs.get((key, finding.principal or finding.id)) if isinstance(target, PlaybookTarget) else None
            reason = state.hold_reason(rule, key, finding, taken, throttle=started is None)
            if reason == THROTTLED:
                report.throttled.append(Held(rule.name, key, finding.id, reason))
                continue
            if reason is None and started is not None:
                reason = SAME_PRINCIPAL  # one run per principal: it acts on the principal, not the finding
                started.covers.append((finding, rule.name))
            if reason is not None:
                report.suppressed.append(Held(rule.name, key, finding.id, reason))
                continue
            taken[(key, finding.id)] = rule.name
            state.use(rule, key)
            if isinstance(target, PlaybookTarget):
                runs[(key, finding.principal or finding.id)] = _Run(rule, target, finding)
            else:
                batch = batches.setdefault(key, _Batch())
                if rule.name not in batch.rules:
                    batch.rules.append(rule.name)
                batch.entries.append((finding, rule.name))
    if batches:
        report.queued = _queue(batches, state, outbox, store, when)
    for run in runs.values():
        report.playbook_runs.append(_start(run, state, store, playbooks))
    return report


# --- matching ----------------------------------------------------------------------------------------------


def _latest(findings: Iterable[Finding]) -> list[Finding]:
    """One finding per id (its latest sighting), most severe first, so throttling keeps the worst."""
    latest: dict[str, Finding] = {}
    for finding in findings:
        seen = latest.get(finding.id)
        if seen is None or _naive(finding.last_seen) >= _naive(seen.last_seen):
            latest[finding.id] = finding
    return sorted(latest.values(), key=lambda f: (-f.severity.rank, f.id))


def _match(ruleset: RuleSet, findings: list[Finding], report: RouteReport) -> list[tuple[Finding, Rule]]:
    matcher = EventMatcher((rule.name, rule.pattern) for rule in ruleset.rules)
    matches: list[tuple[Finding, Rule]] = []
    for finding in findings:
        names: set[str] = set()
        for event in events_for(finding):
            report.events += 1
            names.update(matcher.match(event))
        for rule in ruleset.rules:
            if rule.name in names:
                matches.append((finding, rule))
                report.matched.setdefault(rule.name, []).append(finding.id)
    return matches


# --- routing state -----------------------------------------------------------------------------------------


class _State:
    """What was sent before (``route_sent``), each finding's re-open count, and throttle usage."""

    def __init__(self, sent: dict[tuple[str, str], _Sent], reopened: dict[str, int],
                 used: dict[tuple[str, str], int], now: datetime) -> None:
        self.sent = sent
        self.reopened = reopened
        self.used = used
        self.now = now
        self._batch_targets: set[tuple[str, str]] = set()  # (rule, notify target) already in this call's message

    @classmethod
    def load(cls, store: Store, ruleset: RuleSet, finding_ids: list[str], now: datetime) -> _State:
        ids = list(dict.fromkeys(finding_ids))
        with store.reader() as db:
            sent = {
                (row[0], row[1]): _Sent(row[2], int(row[3]), int(row[4]), row[5])
                for row in db.execute(
                    "SELECT target, finding_id, severity, reopened_count, sends, sent_at FROM route_sent "
                    "WHERE finding_id IN (SELECT unnest(?::VARCHAR[]))", [ids]).fetchall()
            }
            reopened = {
                row[0]: int(row[1])
                for row in db.execute("SELECT id, reopened_count FROM findings "
                                      "WHERE id IN (SELECT unnest(?::VARCHAR[]))", [ids]).fetchall()
            }
            used: dict[tuple[str, str], int] = {}
            for rule in ruleset.rules:
                if rule.throttle is None:
                    continue
                rows = db.execute(
                    'SELECT target, count(*) FROM route_log WHERE rule = ? AND "at" > ? AND "at" <= ? '
                    "GROUP BY target", [rule.name, now - rule.throttle.per, now]).fetchall()
                used.update({(rule.name, str(target)): int(n) for target, n in rows})
        return cls(sent, reopened, used, now)

    def hold_reason(self, rule: Rule, target: str, finding: Finding, taken: dict[tuple[str, str], str], *,
                    throttle: bool = True) -> str | None:
        """Why this match is not sent now, or None to send it."""
        if (target, finding.id) in taken:
            return SAME_BATCH
        before = self.sent.get((target, finding.id))
        if before is not None:
            if before.severity == finding.severity.value and before.reopened_count >= self.reopens(finding):
                return ALREADY_SENT
            if self.now - before.sent_at < rule.dedupe_window:
                return DEDUPE_WINDOW
        limit = rule.throttle
        if (throttle and limit is not None and not self._in_message(rule, target)
                and self.used.get((rule.name, target), 0) >= limit.max):
            return THROTTLED
        return None

    def use(self, rule: Rule, target: str) -> None:
        """Count what sending this match costs against the rule's throttle: one message per notify target
        per call (however many findings it carries), one per playbook run."""
        if self._in_message(rule, target):
            return
        if not target.startswith("playbook:"):
            self._batch_targets.add((rule.name, target))
        self.used[(rule.name, target)] = self.used.get((rule.name, target), 0) + 1

    def _in_message(self, rule: Rule, target: str) -> bool:
        return (rule.name, target) in self._batch_targets

    def reopens(self, finding: Finding) -> int:
        return self.reopened.get(finding.id, 0)

    def sends(self, target: str, finding: Finding) -> int:
        before = self.sent.get((target, finding.id))
        return 0 if before is None else before.sends

    def record(self, store: Store, target: str, rules: Sequence[str], ref: str,
               entries: Sequence[tuple[Finding, str]]) -> None:
        """Remember what ``target`` was sent (``entries``: finding and the rule that chose it) in one transaction."""
        if not entries:
            return
        with store.transaction() as db:
            db.execute(
                "INSERT INTO route_sent SELECT ?, unnest(?::VARCHAR[]), unnest(?::VARCHAR[]), unnest(?::INTEGER[]), "
                "unnest(?::INTEGER[]), unnest(?::VARCHAR[]), ?, ? ON CONFLICT (target, finding_id) DO UPDATE SET "
                "severity = excluded.severity, reopened_count = excluded.reopened_count, sends = excluded.sends, "
                "rule = excluded.rule, ref = excluded.ref, sent_at = excluded.sent_at",
                [target, [f.id for f, _ in entries], [f.severity.value for f, _ in entries],
                 [self.reopens(f) for f, _ in entries], [self.sends(target, f) + 1 for f, _ in entries],
                 [rule for _, rule in entries], ref, self.now],
            )
            db.execute('INSERT INTO route_log SELECT unnest(?::VARCHAR[]), ?, ?, ?', [list(rules), target, ref,
                                                                                     self.now])
        for finding, _ in entries:
            self.sent[(target, finding.id)] = _Sent(finding.severity.value, self.reopens(finding),
                                                    self.sends(target, finding) + 1, self.now)


# --- sending -----------------------------------------------------------------------------------------------


def _queue(batches: dict[str, _Batch], state: _State, outbox: Outbox, store: Store,
           now: datetime) -> list[QueuedMessage]:
    messages: list[tuple[Message, _Batch]] = []
    for target, batch in batches.items():
        kind = outbox.targets.get_target(target).kind
        key = _message_key(target, [(f.id, state.sends(target, f) + 1) for f in batch.findings])
        message = Message.for_findings(target, kind, batch.findings, rule=", ".join(batch.rules), key=key,
                                       created_at=now.replace(tzinfo=UTC))
        messages.append((message, batch))
    new = set(outbox.enqueue_messages([m for m, _ in messages]))  # committed before routing state records it
    queued: list[QueuedMessage] = []
    for message, batch in messages:
        state.record(store, message.target, batch.rules, message.idempotency_key, batch.entries)
        queued.append(QueuedMessage(message.idempotency_key, message.target, tuple(batch.rules),
                                    tuple(message.finding_ids), message.idempotency_key in new))
    return queued


def _start(run: _Run, state: _State, store: Store, settings: PlaybookSettings | None) -> PlaybookRun:
    """Start one playbook run (never auto-approved); remembered, for every finding it answers, once started."""
    rule, target, finding = run.rule, run.target, run.finding
    covers = tuple(f.id for f, _ in run.covers)
    if settings is None:
        return PlaybookRun(rule.name, target.name, finding.id, target.execute, "skipped", covers=covers,
                           error="no AWS target was given to run playbooks against")
    from cloudwarden.respond.runner import run_playbook  # respond loads only when a rule starts a playbook

    try:
        result = run_playbook(target.name, finding, execute=target.execute, auto_approve=False, store=store,
                              target=settings.target, output_dir=settings.output_dir, role_name=settings.role_name,
                              regions=settings.regions)
    except CloudwardenError as exc:  # reported in the route report, and tried again on the next run
        return PlaybookRun(rule.name, target.name, finding.id, target.execute, "error", covers=covers,
                           error=str(exc))
    state.record(store, target.key, list(dict.fromkeys([rule.name, *(r for _, r in run.covers)])), result.run_id,
                 [(finding, rule.name), *run.covers])
    steps = tuple({"path": s.path, "action": s.action, "outcome": s.outcome.value, "disruptive": s.disruptive,
                   "changes": list(s.changes)} for s in result.steps)
    return PlaybookRun(rule.name, target.name, finding.id, target.execute, result.status.value, result.run_id,
                       tuple(result.pending), result.error, str(result.case_dir), steps, covers)


def _remediation_only(finding: Finding) -> bool:
    """True when every evidence event of ``finding`` is a playbook run's own call (its user agents, as
    detection records them in ``evidence.details``, all carry the ``cloudwarden-respond/`` marker)."""
    agents = finding.evidence.details.get("user_agents")
    if not isinstance(agents, list) or not agents:
        return False
    return all(isinstance(agent, str) and RESPOND_AGENT in agent for agent in agents)


def _message_key(target: str, sends: list[tuple[str, int]]) -> str:
    """The outbox key: the target and, per finding, which send this is (never reused for a later change)."""
    canonical = json.dumps(["route", target, sorted(sends)], separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _naive(value: datetime) -> datetime:
    """UTC without a zone, as the store keeps times."""
    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value


def _count_reasons(held: list[Held]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for item in held:
        counts[item.reason] = counts.get(item.reason, 0) + 1
    return counts
