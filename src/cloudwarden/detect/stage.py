"""The ``detect`` stage of ``cloudwarden demo``: every shipped rule over the CloudTrail the lab delivered,
and the network rules over the flow logs and resolver query logs the lab delivered to S3.

Reads ``ctx.cloudtrail_dir`` whole (the demo's directory holds exactly one run's files) with no
checkpoints: the demo stores the stage's findings itself, so committing them here would count them twice.
The flow-log and query-log buckets belong to the demo's prod account; they are read as a deployment
would read a member account's buckets: through ``ctx.role_name`` assumed in that account, with the
instance map from the inventory snapshot the ``collect`` stage left in the store.
"""

from __future__ import annotations

from typing import Any

from cloudwarden.detect.engine import run_detection
from cloudwarden.detect.rules import load_pack
from cloudwarden.detect.threat_intel import ThreatIntel
from cloudwarden.pipeline.stages import StageContext, StageResult


def detect_stage(ctx: StageContext) -> StageResult:
    """Findings of the native rule pack (with the shipped threat-intel sample) over ``ctx.cloudtrail_dir``,
    plus the network rules over the lab's flow-log and DNS-log buckets."""
    pack = load_pack()
    intel = ThreatIntel.load()
    findings = []
    stats: dict[str, Any] = {}
    if ctx.cloudtrail_dir is None or not ctx.cloudtrail_dir.exists():
        stats["skipped"] = "no CloudTrail directory"
    else:
        result = run_detection([ctx.cloudtrail_dir], rules=pack.rules, allowlist=pack.allowlist, intel=intel)
        stats.update(result.stats)
        stats["read_report"] = result.read_report.to_dict()
        findings.extend(result.findings)
    network = network_stage(ctx, intel=intel, allowlist=pack.allowlist)
    stats["network"] = network.stats
    findings.extend(network.findings)
    return StageResult(findings=findings, stats=stats)


def network_stage(ctx: StageContext, **kwargs: Any) -> StageResult:
    """The network half: the demo prod account's flow-log and resolver-query-log buckets, when it has them."""
    from cloudwarden.aws.accounts import assume_role_session, role_arn
    from cloudwarden.aws.session import make_session
    from cloudwarden.detect.netlogs.engine import run_network_detection
    from cloudwarden.detect.netlogs.instances import InstanceMap
    from cloudwarden.lab import demo_org
    from cloudwarden.store import Store

    account = ctx.accounts.get("prod", demo_org.PROD)
    if ctx.target.endpoint_url is None:
        return StageResult(stats={"skipped": "no lab endpoint (the demo's network logs live in the lab)"})
    session = make_session(ctx.target)
    if ctx.role_name:
        session = assume_role_session(session, ctx.target, role_arn(account, ctx.role_name))
    with Store.open(ctx.store_path) as store:
        instances = InstanceMap.from_store(store)
    result = run_network_detection([f"s3://{demo_org.BUCKET_FLOW_LOGS}"], [f"s3://{demo_org.BUCKET_DNS_LOGS}"],
                                   instances=instances, target=ctx.target, session=session, **kwargs)
    stats = dict(result.stats)
    stats["read_report"] = result.read_report.to_dict()
    return StageResult(findings=result.findings, stats=stats)
