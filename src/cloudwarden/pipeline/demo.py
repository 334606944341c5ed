"""`cloudwarden demo`: the whole pipeline in a row against the embedded lab.

Start the lab (port 4566, or a free one when it is taken), seed the demo organisation, play a day of
benign traffic and every attack scenario, flush CloudTrail, run every registered analysis stage,
store the findings, write the contract's outputs, stop the lab. Each step is timed; nothing here
prints — progress goes to the ``progress`` callback the CLI passes.
"""

from __future__ import annotations

import shutil
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cloudwarden import __version__
from cloudwarden.aws.session import AwsTarget
from cloudwarden.core.finding import Finding
from cloudwarden.detect import read_records
from cloudwarden.lab import demo_org
from cloudwarden.lab.scenarios import ScenarioResult, run_scenario
from cloudwarden.lab.seed.result import SeedResult
from cloudwarden.lab.server import DEFAULT_PORT, Lab
from cloudwarden.lab.traffic import TrafficResult, play_traffic
from cloudwarden.pipeline.outputs import write_outputs
from cloudwarden.pipeline.stages import ANALYSIS_STAGES, StageContext, load_stage
from cloudwarden.report import Organisation, ReportContext, build_summary, summarise_activity
from cloudwarden.store import Store

Progress = Callable[[str], None]


@dataclass(frozen=True)
class DemoSettings:
    output_dir: Path = Path("cloudwarden-out")
    state_dir: Path = Path(".cloudwarden/demo-lab")
    store_path: Path = Path(".cloudwarden/cloudwarden.duckdb")
    port: int = DEFAULT_PORT
    formats: tuple[str, ...] = ("json", "asff", "ocsf", "sarif", "csv", "html")
    stages: tuple[str, ...] | None = None  # None: every registered analysis stage


@dataclass
class DemoResult:
    endpoint: str
    accounts: dict[str, str]
    findings: list[Finding]
    outputs: dict[str, Path]
    timings: dict[str, float]
    cloudtrail_records: int
    cloudtrail_files: int
    api_calls: int
    scenarios: list[ScenarioResult] = field(default_factory=list)
    traffic: TrafficResult | None = None
    summary: dict[str, Any] = field(default_factory=dict)

    @property
    def report_path(self) -> Path | None:
        return self.outputs.get("html")


def free_port(preferred: int) -> int:
    """``preferred`` when nothing listens there, else 0 (the OS picks a free port)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(("127.0.0.1", preferred))
        except OSError:
            return 0
    return preferred


def run_demo(settings: DemoSettings, progress: Progress = lambda _: None) -> DemoResult:
    timings: dict[str, float] = {}

    @contextmanager
    def stage(name: str, label: str) -> Iterator[None]:
        progress(label)
        started = time.perf_counter()
        try:
            yield
        finally:
            timings[name] = round(time.perf_counter() - started, 3)

    # A fresh state dir: the run's cloudtrail/ must hold exactly what this run delivered.
    shutil.rmtree(settings.state_dir, ignore_errors=True)
    lab = Lab(settings.state_dir, port=free_port(settings.port), seed="demo")
    with stage("lab", "starting the lab and seeding the demo organisation"):
        lab.start()
    endpoint = lab.endpoint_url
    try:
        seed = SeedResult.load(settings.state_dir)
        with stage("traffic", f"playing benign traffic at {lab.endpoint_url}"):
            traffic = play_traffic(lab.endpoint_url, seed, lab_client=lab.client)
        with stage("attacks", "playing every attack scenario"):
            scenarios = run_scenario("all", lab.endpoint_url, seed, lab.client)
        with stage("cloudtrail", "delivering CloudTrail"):
            lab.client.flush()
            cloudtrail_dir = _copy_cloudtrail(settings.state_dir / "cloudtrail", settings.output_dir / "cloudtrail")
        findings, run_id, stage_stats = _analyse(settings, lab, seed, cloudtrail_dir, stage)
        api_calls = int(lab.client.status().get("requests_total", 0))
    finally:
        with stage("lab_stop", "stopping the lab"):
            lab.stop()

    with stage("report", "writing findings and the report"):
        records, read_report = read_records([cloudtrail_dir])
        activity = summarise_activity(records, known_ranges=demo_org.OFFICE_IPS)
        extra = {
            "lab": {"endpoint": endpoint, "accounts": seed.accounts, "api_calls": api_calls},
            "cloudtrail": {"records": len(records), "files": read_report.files_read,
                           "skipped": read_report.to_dict()},
            "scenarios": [s.name for s in scenarios],
            "analysis_stages": list(settings.stages if settings.stages is not None else ANALYSIS_STAGES),
            "stages": stage_stats,
        }
        summary = build_summary(findings, timings, extra)
        context = ReportContext(
            title="cloudwarden demo",
            generated_at=datetime.now(UTC),
            tool_version=__version__,
            environment=f"embedded lab at {endpoint}",
            organisation=Organisation(name=demo_org.ORG_NAME, accounts=seed.accounts),
            stage_timings=timings,
            log_read=read_report,
        )
        outputs = write_outputs(findings, summary, activity, context, settings.output_dir, settings.formats)
    with Store.open(settings.store_path) as store:
        store.end_run(run_id, "succeeded", {"timings": timings, "findings": len(findings)})
    return DemoResult(
        endpoint=endpoint,
        accounts=dict(seed.accounts),
        findings=findings,
        outputs=outputs,
        timings=timings,
        cloudtrail_records=len(records),
        cloudtrail_files=read_report.files_read,
        api_calls=api_calls,
        scenarios=scenarios,
        traffic=traffic,
        summary=summary,
    )


def _analyse(
    settings: DemoSettings,
    lab: Lab,
    seed: SeedResult,
    cloudtrail_dir: Path,
    stage: Callable[[str, str], Any],
) -> tuple[list[Finding], str, dict[str, Any]]:
    """Run each analysis stage in order, storing findings as they come; returns them, the run id and each
    stage's own figures (collection counts, verdicts, routing and playbook plans...)."""
    settings.store_path.parent.mkdir(parents=True, exist_ok=True)
    findings: list[Finding] = []
    stats: dict[str, Any] = {}
    names = settings.stages if settings.stages is not None else tuple(ANALYSIS_STAGES)
    with Store.open(settings.store_path) as store:
        run_id = store.start_run("demo")
        for name in names:
            with stage(name, f"running {name}"):
                context = StageContext(
                    target=AwsTarget(endpoint_url=lab.endpoint_url),
                    accounts=dict(seed.accounts),
                    store_path=settings.store_path,
                    run_id=run_id,
                    output_dir=settings.output_dir,
                    cloudtrail_dir=cloudtrail_dir,
                    findings_so_far=tuple(findings),
                    regions=tuple(seed.regions_used),
                    role_name=demo_org.MEMBER_ACCESS_ROLE,
                )
                result = load_stage(name)(context)
                store.upsert_findings(run_id, result.findings)
                findings.extend(result.findings)
                stats[name] = result.stats
    return findings, run_id, stats


def _copy_cloudtrail(source: Path, target: Path) -> Path:
    shutil.rmtree(target, ignore_errors=True)
    if source.exists():
        shutil.copytree(source, target)
    else:
        target.mkdir(parents=True)
    return target
