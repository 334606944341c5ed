"""Posture over a stored snapshot: the pipeline stage, and the one call ``cloudwarden scan`` makes after
collecting (evaluate, mute, score, drift against a baseline).

Reads snapshot documents through ``store.resources`` (the latest finished snapshot unless one is named);
never calls AWS. Returns data; the CLI and the pipeline print and store it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from cloudwarden.core.errors import BadInputError
from cloudwarden.core.finding import Finding
from cloudwarden.pipeline.stages import StageContext, StageResult
from cloudwarden.posture import drift as drift_mod
from cloudwarden.posture import frameworks as fw
from cloudwarden.posture import suppress
from cloudwarden.posture.evaluate import Score, category_scores, counts, evaluate, gc_paused, scores, select
from cloudwarden.store import resources as snapshots
from cloudwarden.store.store import Store


@dataclass(frozen=True)
class PostureResult:
    snapshot_id: str
    findings: list[Finding]
    scores: list[Score]
    encryption: dict[str, float | None]
    counts: dict[str, int]
    controls: int
    documents: int
    muted: int = 0
    expired_mutes: list[str] = field(default_factory=list)
    drift: drift_mod.Drift | None = None
    baseline_id: str | None = None

    @property
    def not_available(self) -> int:
        return self.counts.get("NOT_AVAILABLE", 0)

    def stats(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "snapshot_id": self.snapshot_id, "documents": self.documents, "controls": self.controls,
            "verdicts": self.counts, "not_available": self.not_available, "muted": self.muted,
            "expired_mutes": self.expired_mutes, "scores": [s.to_dict() for s in self.scores],
            "encryption_by_default": self.encryption,
        }
        if self.drift is not None:
            out["drift"] = {"baseline": self.baseline_id, **self.drift.to_dict()["summary"]}
        return out


def _documents(store: Store, snapshot_id: str | None, what: str) -> tuple[str, list[dict[str, Any]]]:
    chosen = snapshot_id or snapshots.latest_snapshot_id(store)
    if chosen is None:
        raise BadInputError(what, f"the store {store.path} holds no finished snapshot; run `cloudwarden scan` first")
    if snapshots.snapshot_status(store, chosen) is None:
        raise BadInputError(what, f"no snapshot {chosen!r} in {store.path}")
    return chosen, snapshots.resources(store, chosen)


def _tags(documents: Iterable[dict[str, Any]]) -> dict[str, dict[str, str]]:
    return {str(d["arn"]): {str(k): str(v) for k, v in (d.get("tags") or {}).items()} for d in documents}


def run_posture(
    store: Store,
    *,
    snapshot_id: str | None = None,
    framework: str = fw.ALL,
    services: Iterable[str] | None = None,
    controls: Iterable[str] | None = None,
    mutelist: Path | None = None,
    baseline_id: str | None = None,
    now: datetime | None = None,
    today: date | None = None,
) -> PostureResult:
    """Evaluate a stored snapshot (default: the latest), apply the mutelist, score, and diff a baseline."""
    frameworks = fw.selected(framework)
    chosen = select(framework=framework, services=services, controls=controls)
    muting = suppress.load(mutelist) if mutelist is not None else None
    with gc_paused():  # reading 10,000 documents back is, like evaluating them, allocation without garbage
        snap, documents = _documents(store, snapshot_id, "snapshot")
        when = now or datetime.now(UTC)
        findings = evaluate(documents, framework=framework, services=services, controls=controls, now=when)
    muted, expired = 0, []
    if muting is not None:
        outcome = suppress.apply(findings, muting, tags=_tags(documents), today=today)
        findings, muted, expired = outcome.findings, outcome.muted, [e.describe() for e in outcome.expired]
    change = None
    if baseline_id is not None:
        _, before_docs = _documents(store, baseline_id, "--baseline")
        before = evaluate(before_docs, framework=framework, services=services, controls=controls, now=when)
        change = drift_mod.drift(before_docs, before, documents, findings)
    return PostureResult(
        snapshot_id=snap, findings=findings, scores=scores(findings, frameworks), encryption=category_scores(findings),
        counts=counts(findings), controls=len(chosen), documents=len(documents), muted=muted, expired_mutes=expired,
        drift=change, baseline_id=baseline_id,
    )


def drift_between(store: Store, baseline_id: str, current_id: str | None = None, *,
                  now: datetime | None = None) -> drift_mod.Drift:
    """``cloudwarden drift A B``: verdict and configuration drift between two stored snapshots."""
    when = now or datetime.now(UTC)
    _, before_docs = _documents(store, baseline_id, "baseline snapshot")
    _, after_docs = _documents(store, current_id, "snapshot")
    return drift_mod.drift(before_docs, evaluate(before_docs, now=when), after_docs, evaluate(after_docs, now=when))


def posture_stage(ctx: StageContext) -> StageResult:
    """The pipeline stage: evaluate every control over the latest snapshot in ``ctx.store_path``."""
    with Store.open(ctx.store_path) as store:
        result = run_posture(store)
    return StageResult(findings=result.findings, stats=result.stats())
