"""The ``detect`` stage of ``cloudwarden demo``: every shipped rule over the CloudTrail the lab delivered.

Reads ``ctx.cloudtrail_dir`` whole (the demo's directory holds exactly one run's files) with no
checkpoints: the demo stores the stage's findings itself, so committing them here would count them twice.
"""

from __future__ import annotations

from cloudwarden.detect.engine import run_detection
from cloudwarden.detect.rules import load_pack
from cloudwarden.detect.threat_intel import ThreatIntel
from cloudwarden.pipeline.stages import StageContext, StageResult


def detect_stage(ctx: StageContext) -> StageResult:
    """Findings of the native rule pack (with the shipped threat-intel sample) over ``ctx.cloudtrail_dir``."""
    if ctx.cloudtrail_dir is None or not ctx.cloudtrail_dir.exists():
        return StageResult(findings=[], stats={"skipped": "no CloudTrail directory"})
    pack = load_pack()
    result = run_detection([ctx.cloudtrail_dir], rules=pack.rules, allowlist=pack.allowlist,
                           intel=ThreatIntel.load())
    stats = dict(result.stats)
    stats["read_report"] = result.read_report.to_dict()
    return StageResult(findings=result.findings, stats=stats)
