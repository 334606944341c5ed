"""The analysis stages `cloudwarden demo` runs, registered in one place.

Each stage reads what earlier stages left (the lab's endpoint, the store, the delivered CloudTrail
files) and returns findings; it never prints. Stages are named by dotted path and imported only
when run, so importing the pipeline costs nothing and a stage's heavy dependencies load on use.
Inventory (``collect``), ``posture``, ``iam``, ``detect``, ``route`` and ``respond`` add their line to
:data:`ANALYSIS_STAGES` as they arrive; the order of the mapping is the order they run in.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cloudwarden.aws.target import AwsTarget
from cloudwarden.core.finding import Finding

# name -> "package.module:function"; the function takes a StageContext and returns a StageResult.
ANALYSIS_STAGES: dict[str, str] = {
    "collect": "cloudwarden.inventory.stage:collect_stage",
    "posture": "cloudwarden.posture.stage:posture_stage",
    "iam": "cloudwarden.iam.stage:iam_stage",
    "detect": "cloudwarden.detect.stage:detect_stage",
    "route": "cloudwarden.route.stage:route_stage",
}


@dataclass(frozen=True)
class StageContext:
    """What a stage may read: where AWS is, the accounts, the store, the logs, where to write."""

    target: AwsTarget
    accounts: dict[str, str]
    store_path: Path
    run_id: str
    output_dir: Path
    cloudtrail_dir: Path | None = None
    findings_so_far: tuple[Finding, ...] = ()
    regions: tuple[str, ...] | None = None  # None: the target's region
    role_name: str | None = None  # assumed in each Organizations member account


@dataclass(frozen=True)
class StageResult:
    findings: list[Finding] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)


Stage = Callable[[StageContext], StageResult]


def load_stage(name: str, registry: dict[str, str] | None = None) -> Stage:
    """Resolve a stage's dotted path; an unknown name or a broken path is a clear error, not a skip."""
    table = ANALYSIS_STAGES if registry is None else registry
    if name not in table:
        raise KeyError(f"unknown stage {name!r} (registered: {', '.join(table) or 'none'})")
    module_name, _, attr = table[name].partition(":")
    function: Stage = getattr(importlib.import_module(module_name), attr)
    return function
