"""`cloudwarden detect`: threat detection over CloudTrail files, directory trees and S3 prefixes, and over VPC
flow logs (``--flow-logs``) and Route 53 resolver query logs (``--dns-logs``).

Thin: parse the flags, call :func:`cloudwarden.detect.engine.run_detection` with the shipped rule pack
plus any ``--rules`` directories (native YAML and Sigma), store the findings with the checkpoints (so the
next run reads only new files), write the outputs, print a summary and the read report. Exit codes per
the contract: 0 done, 1 a finding at or above ``--fail-on``, 2 bad input, 3 runtime failure.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from cloudwarden import __version__
from cloudwarden.aws.target import AwsTarget
from cloudwarden.cli.detect_progress import DetectProgress
from cloudwarden.cli.options import (
    DEFAULT_FORMATS,
    DEFAULT_OUTPUT_DIR,
    AwsOptions,
    EndpointOpt,
    FailOnOpt,
    FormatOpt,
    OutputDirOpt,
    ProfileOpt,
    QuietOpt,
    RegionsOpt,
    RoleNameOpt,
)
from cloudwarden.core.errors import EXIT_FINDINGS, BadInputError
from cloudwarden.core.finding import Finding
from cloudwarden.detect.engine import DEFAULT_MEMORY_LIMIT, DetectionResult
from cloudwarden.detect.engine import run_detection as run_cloudtrail_detection
from cloudwarden.detect.ocsf import LOG_FORMAT
from cloudwarden.detect.rows import SCANNER
from cloudwarden.detect.rules import Allowlist, load_pack, load_rule_dirs
from cloudwarden.detect.security_lake import run_security_lake_detection
from cloudwarden.detect.threat_intel import ThreatIntel
from cloudwarden.store.store import DEFAULT_PATH

if TYPE_CHECKING:  # imported where used: a --reread run needs neither the store, baselines nor network logs
    from cloudwarden.detect.netlogs.instances import InstanceMap
    from cloudwarden.store import Store

LogsOpt = Annotated[
    list[str] | None,
    typer.Option("--logs", help="CloudTrail files, directories or s3://BUCKET/PREFIX (repeatable).",
                 show_default=False),
]
FlowLogsOpt = Annotated[
    list[str] | None,
    typer.Option("--flow-logs", help="VPC flow logs (default or custom format with its header line): files, "
                                     "directories or s3://BUCKET/PREFIX (repeatable).", show_default=False),
]
DnsLogsOpt = Annotated[
    list[str] | None,
    typer.Option("--dns-logs", help="Route 53 resolver query logs (one JSON object a line): files, directories "
                                    "or s3://BUCKET/PREFIX (repeatable).", show_default=False),
]
LogFormatOpt = Annotated[
    str, typer.Option("--log-format", help="What --logs holds: cloudtrail (CloudTrail's JSON files) or "
                                           "security-lake (Amazon Security Lake's OCSF Parquet); see docs/spark.md.")
]
RulesOpt = Annotated[
    list[Path] | None,
    typer.Option("--rules", help="Extra rule directories or files: native YAML rules, allowlists, Sigma rules "
                                 "(repeatable); the shipped pack always runs."),
]
SinceOpt = Annotated[
    str | None, typer.Option("--since", help="Only events at or after this time (ISO 8601, or 24h / 7d ago).")
]
UntilOpt = Annotated[str | None, typer.Option("--until", help="Only events before this time (ISO 8601, or 1h ago).")]
EngineOpt = Annotated[str, typer.Option("--engine", help="Query engine: duckdb (embedded) or spark "
                                                         "(pip install 'cloudwarden[spark]'; s3a:// paths).")]
SparkMasterOpt = Annotated[
    str | None, typer.Option("--spark-master", help="Spark master URL for --engine spark (default local[2]; "
                                                    "spark://HOST:7077, yarn, k8s://...); see docs/spark.md.")
]
IntelOpt = Annotated[
    list[Path] | None,
    typer.Option("--threat-intel", help="Directory of threat-intel lists (*.txt; tor-*, malicious-*, mining-*, "
                                        "trusted-*), added to the shipped sample (repeatable)."),
]
MemoryOpt = Annotated[
    str, typer.Option("--memory-limit", help="Cap DuckDB's memory (like 4GB); beyond it the tables (CloudTrail "
                                             "events, flow and query logs) spill to a scratch directory on disk.")
]
StoreOpt = Annotated[Path, typer.Option("--store", help="The cloudwarden store (findings and checkpoints).")]
RereadOpt = Annotated[bool, typer.Option("--reread", help="Ignore checkpoints: read every file again, "
                                                          "and do not store findings or checkpoints.")]

_RELATIVE = re.compile(r"^\s*(\d+)\s*([smhd])\s*$")
_UNIT = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def parse_time(text: str, flag: str, now: datetime | None = None) -> datetime:
    """An ISO 8601 date/time (UTC when no offset) or a relative ``90m``/``24h``/``7d`` meaning that long ago."""
    match = _RELATIVE.match(text)
    if match:
        return (now or datetime.now(UTC)) - timedelta(**{_UNIT[match.group(2)]: int(match.group(1))})
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise BadInputError(flag, f"{text!r} is not an ISO 8601 time (2024-05-01T12:00:00Z) "
                                  "or a relative one (90m, 24h, 7d)") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def detect(
    logs: LogsOpt = None,
    flow_logs: FlowLogsOpt = None,
    dns_logs: DnsLogsOpt = None,
    log_format: LogFormatOpt = "cloudtrail",
    rules: RulesOpt = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    engine: EngineOpt = "duckdb",
    spark_master: SparkMasterOpt = None,
    threat_intel: IntelOpt = None,
    store_path: StoreOpt = DEFAULT_PATH,
    reread: RereadOpt = False,
    memory_limit: MemoryOpt = DEFAULT_MEMORY_LIMIT,
    baselines: Annotated[
        bool,
        typer.Option("--baselines/--no-baselines",
                     help="Learn each principal's usual APIs, networks, user agents and regions in the store and "
                          "raise GuardDuty's AnomalousBehavior types on departures (not with --reread)."),
    ] = True,
    endpoint_url: EndpointOpt = None,
    profile: ProfileOpt = None,
    regions: RegionsOpt = None,
    role_name: RoleNameOpt = None,
    output_dir: OutputDirOpt = DEFAULT_OUTPUT_DIR,
    formats: FormatOpt = DEFAULT_FORMATS,
    fail_on: FailOnOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Detect threats in CloudTrail, VPC flow and DNS logs: GuardDuty-style findings from native and Sigma rules."""
    options = AwsOptions.from_flags(endpoint_url=endpoint_url, profile=profile, regions=regions,
                                    role_name=role_name, output_dir=output_dir, formats=formats,
                                    fail_on=fail_on, quiet=quiet)
    logs = logs or []
    if not (logs or flow_logs or dns_logs):
        raise BadInputError("--logs", "give at least one CloudTrail (--logs), flow log (--flow-logs) or DNS log "
                                      "(--dns-logs) file, directory or s3:// location")
    start = parse_time(since, "--since") if since else None
    end = parse_time(until, "--until") if until else None
    if start and end and start >= end:
        raise BadInputError("--since", "must be before --until")
    run_detection = _reader(log_format)
    ruleset = load_pack()
    if rules:
        ruleset.extend(load_rule_dirs(rules))
    intel = ThreatIntel.load(threat_intel or [])
    target = AwsTarget(endpoint_url=options.endpoint_url, profile=options.profile)
    console = Console(quiet=options.quiet, highlight=False)
    progress = DetectProgress.for_terminal(options.quiet)
    if reread:
        result = run_detection(logs, rules=ruleset.rules, allowlist=ruleset.allowlist, since=start, until=end,
                               intel=intel, engine=engine, target=target, memory_limit=memory_limit,
                               spark_master=spark_master, progress=progress)
        if flow_logs or dns_logs:
            instances = _instances(store_path)
            result = _with_network(result, _network(flow_logs, dns_logs, ruleset.allowlist, intel, engine, target,
                                                    instances, spark_master=spark_master,
                                                    memory_limit=memory_limit, progress=progress))
    else:
        from cloudwarden.detect.baselines import BaselineDetector  # only runs that keep a store learn baselines
        from cloudwarden.detect.netlogs.instances import InstanceMap
        from cloudwarden.store import Store

        with Store.open(store_path) as store:
            run_id = store.start_run("detect")
            analyzers = [BaselineDetector(store, allowlist=ruleset.allowlist)] if baselines else []
            result = run_detection(logs, rules=ruleset.rules, allowlist=ruleset.allowlist, since=start, until=end,
                                   intel=intel, engine=engine, target=target, store=store, run_id=run_id,
                                   memory_limit=memory_limit, spark_master=spark_master, analyzers=analyzers,
                                   progress=progress)
            if flow_logs or dns_logs:
                network = _network(flow_logs, dns_logs, ruleset.allowlist, intel, engine, target,
                                   InstanceMap.from_store(store), store=store, run_id=run_id,
                                   spark_master=spark_master, memory_limit=memory_limit, progress=progress)
                result = _with_network(result, network)
            store.end_run(run_id, "succeeded", dict(result.stats))
    _write(result, options.output_dir, options.formats, [*logs, *(flow_logs or []), *(dns_logs or [])])
    _print(console, result)
    for path, why in ruleset.unsupported:
        console.print(f"[yellow]Sigma rule left out:[/] {escape(path)}: {escape(why)}")
    if options.fail_on is not None and any(f.severity >= options.fail_on for f in result.findings):
        raise typer.Exit(EXIT_FINDINGS)


def _reader(log_format: str) -> Callable[..., DetectionResult]:
    """The detection run for ``--log-format``."""
    if log_format == "cloudtrail":
        return run_cloudtrail_detection
    if log_format == LOG_FORMAT:
        return run_security_lake_detection
    raise BadInputError("--log-format", f"unknown format {log_format!r} (cloudtrail or {LOG_FORMAT})")


def _network(flow_logs: list[str] | None, dns_logs: list[str] | None, allowlist: Allowlist, intel: ThreatIntel,
             engine: str, target: AwsTarget, instances: InstanceMap, *, store: Store | None = None,
             run_id: str | None = None, spark_master: str | None = None,
             memory_limit: str | None = DEFAULT_MEMORY_LIMIT,
             progress: DetectProgress | None = None) -> DetectionResult:
    """Network detection; with ``store`` it reads only unread objects and commits findings with checkpoints."""
    from cloudwarden.detect.netlogs.engine import run_network_detection  # only with --flow-logs/--dns-logs

    return run_network_detection(flow_logs or [], dns_logs or [], allowlist=allowlist, intel=intel, engine=engine,
                                 target=target, instances=instances, store=store, run_id=run_id,
                                 spark_master=spark_master, memory_limit=memory_limit, progress=progress)


def _instances(store_path: Path) -> InstanceMap:
    """The instance map of the store's latest snapshot, when there is a store (``--reread`` writes nothing)."""
    from cloudwarden.detect.netlogs.instances import InstanceMap
    from cloudwarden.store import Store

    if not store_path.exists():
        return InstanceMap()
    with Store.open(store_path, read_only=True) as store:
        return InstanceMap.from_store(store)


def _with_network(result: DetectionResult, network: DetectionResult) -> DetectionResult:
    """CloudTrail's result with the network findings, read report and figures added."""
    report = result.read_report
    report.files_read += network.read_report.files_read
    report.records += network.read_report.records
    report.files_skipped.extend(network.read_report.files_skipped)
    report.records_skipped.extend(network.read_report.records_skipped)
    stats = dict(result.stats)
    stats["network"] = network.stats
    stats["findings"] = len(result.findings) + len(network.findings)
    findings = sorted([*result.findings, *network.findings], key=lambda f: f.id)
    return DetectionResult(findings=findings, read_report=report, stats=stats)


def _write(result: DetectionResult, output_dir: Path, formats: tuple[str, ...], logs: list[str]) -> None:
    from cloudwarden.pipeline.outputs import write_outputs  # the report stack loads only when writing
    from cloudwarden.report import ReportContext, build_summary

    timings = {f"detect_{k}": float(v) for k, v in result.stats.get("timings", {}).items() if k != "total"}
    extra = {"detect": {k: v for k, v in result.stats.items() if k != "timings"},
             "cloudtrail": {"records": result.read_report.records, "files": result.read_report.files_read,
                            "skipped": result.read_report.to_dict()}}
    summary = build_summary(result.findings, timings, extra)
    context = ReportContext(title="cloudwarden detect", generated_at=datetime.now(UTC), tool_version=__version__,
                            environment="logs from " + ", ".join(logs), stage_timings=timings,
                            log_read=result.read_report)
    write_outputs(result.findings, summary, None, context, output_dir, formats)


def _print(console: Console, result: DetectionResult) -> None:
    stats = result.stats
    report = result.read_report
    console.print(
        f"[bold]cloudwarden detect[/] {stats.get('events', 0)} events from {report.files_read} files "
        f"({stats.get('objects_already_read', 0)} already read) · {stats.get('rules', 0)} rules · "
        f"{len(result.findings)} findings · {stats.get('timings', {}).get('total', 0):.2f}s"
    )
    if SCANNER is None and stats.get("events") and "objects_scanned" in stats:  # CloudTrail files read by DuckDB
        console.print("[yellow]note:[/] this install has no C scanner (cloudwarden.detect._ctscan was not built: "
                      "no C compiler at install time), so CloudTrail was read by the slower JSON Lines path; "
                      "reinstall where a C compiler is present for ~1.4x the speed")
    if stats.get("stale_scratch_removed"):
        console.print(f"removed {stats['stale_scratch_removed']} scratch directories "
                      f"({stats.get('stale_scratch_bytes', 0) / 1e6:.1f} MB) left by runs that were killed")
    network = stats.get("network")
    if network:
        console.print(f"network logs: {network.get('flow_records', 0)} flow records, "
                      f"{network.get('dns_queries', 0)} DNS queries from {network.get('files_read', 0)} files "
                      f"({network.get('objects_already_read', 0)} already read) · {network.get('rules', 0)} rules · "
                      f"{network.get('findings', 0)} findings")
    if result.findings and not console.quiet:  # building the table is not free on large runs
        console.print(_findings_table(result.findings))
    if not report.clean:
        table = Table(title=f"Skipped: {len(report.files_skipped)} files, {len(report.records_skipped)} records")
        table.add_column("file")
        table.add_column("where")
        table.add_column("reason")
        for skipped in report.files_skipped[:50]:
            table.add_row(escape(skipped.path), "whole file", escape(skipped.reason))
        for record in report.records_skipped[:50]:
            table.add_row(escape(record.path), record.where, escape(record.reason))
        console.print(table)


def _findings_table(findings: list[Finding]) -> Table:
    table = Table(title="Findings")
    for name in ("severity", "type", "account", "region", "principal", "count", "last seen"):
        table.add_column(name, justify="right" if name == "count" else "left")
    ordered = sorted(findings, key=lambda f: (-f.severity.rank, f.type, f.last_seen))
    for f in ordered[:100]:
        table.add_row(f.severity.value, escape(f.type), f.account_id, f.region, escape(f.principal or "-"),
                      str(f.count), f.last_seen.strftime("%Y-%m-%d %H:%M:%S"))
    return table

