"""`cloudwarden scan`: collect an inventory snapshot, then evaluate posture controls over it; and
`cloudwarden drift A B` between two stored snapshots.

Thin on purpose: parse the global options, call :func:`cloudwarden.inventory.stage.collect_snapshot` with a
Rich progress bar per account, region and service (on stderr, when it is a terminal), print what was
collected (resources per account, region and type, API calls, every collection error), then
:func:`cloudwarden.posture.stage.run_posture` (framework, services, controls, mutelist, baseline), store and
write the findings, and print the scores. Collection errors do not change the exit code (the controls they
leave undecided say ``NOT_AVAILABLE``); a target that cannot be reached at all exits 3.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from cloudwarden import __version__
from cloudwarden.aws.ratelimit import RateLimit
from cloudwarden.aws.session import AwsTarget
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
from cloudwarden.core.finding import Status
from cloudwarden.inventory.registry import parse_services, resource_types
from cloudwarden.inventory.stage import CollectOptions, ProgressEvent, SnapshotResult, collect_snapshot
from cloudwarden.pipeline.outputs import write_outputs
from cloudwarden.posture.stage import PostureResult, drift_between, run_posture
from cloudwarden.report import ReportContext, build_summary
from cloudwarden.store.store import DEFAULT_PATH, Store

ServicesOpt = Annotated[
    str | None, typer.Option("--services", help="Comma list of services to collect (default: all).")
]
StoreOpt = Annotated[Path, typer.Option("--store", help="The cloudwarden database.")]
WorkersOpt = Annotated[int, typer.Option("--max-workers", help="Concurrent collection workers.", min=1, max=256)]
RateOpt = Annotated[
    float, typer.Option("--rate", help="Requests per second per account, service and region (client-side limit).")
]
CapOpt = Annotated[
    list[str] | None, typer.Option("--cap", help="TYPE=N: keep at most N resources of that type (repeatable).")
]
FrameworkOpt = Annotated[
    str, typer.Option("--framework", help="cis-aws-5.0, cis-aws-3.0, fsbp or all.")
]
ControlsOpt = Annotated[
    str | None, typer.Option("--controls", help="Comma list of control ids to evaluate (default: all).")
]
MutelistOpt = Annotated[
    Path | None, typer.Option("--mutelist", help="YAML file of muted findings (kept as SUPPRESSED).")
]
BaselineOpt = Annotated[
    str | None, typer.Option("--baseline", help="Snapshot id to report drift against.")
]
AccountsOpt = Annotated[
    str | None, typer.Option("--accounts", help="Comma list of account ids to scan (default: all reachable).")
]
MAX_ERRORS_SHOWN = 20


def scan(
    endpoint_url: EndpointOpt = None,
    profile: ProfileOpt = None,
    regions: RegionsOpt = None,
    role_name: RoleNameOpt = None,
    output_dir: OutputDirOpt = DEFAULT_OUTPUT_DIR,
    formats: FormatOpt = DEFAULT_FORMATS,
    fail_on: FailOnOpt = None,
    quiet: QuietOpt = False,
    services_: ServicesOpt = None,
    accounts: AccountsOpt = None,
    store_path: StoreOpt = DEFAULT_PATH,
    max_workers: WorkersOpt = 16,
    rate: RateOpt = 20.0,
    cap: CapOpt = None,
    framework: FrameworkOpt = "all",
    controls: ControlsOpt = None,
    mutelist: MutelistOpt = None,
    baseline: BaselineOpt = None,
) -> None:
    """Collect an inventory snapshot of the accounts and regions, then evaluate posture controls over it."""
    opts = AwsOptions.from_flags(endpoint_url=endpoint_url, profile=profile, regions=regions, role_name=role_name,
                                 output_dir=output_dir, formats=formats, fail_on=fail_on, quiet=quiet)
    wanted = parse_services(services_)
    selection = PostureSelection(framework=framework, controls=_list(controls), mutelist=mutelist,
                                 baseline=baseline)
    if mutelist is not None and not mutelist.is_file():
        raise BadInputError("--mutelist", f"{mutelist}: no such file")
    account_ids = _accounts(accounts)
    collect_options = CollectOptions(max_workers=max_workers, caps=parse_caps(cap or []),
                                     rate_limit=RateLimit(rate=rate, burst=max(1, int(rate * 2))))
    target = AwsTarget(endpoint_url=opts.endpoint_url, profile=opts.profile)
    console = Console(quiet=quiet)
    with Store.open(store_path) as store:
        run_id = store.start_run("scan")
        result: SnapshotResult | None = None
        try:
            with _ProgressBars(_ProgressBars.wanted(quiet)) as bars:
                result = collect_snapshot(target, store=store, accounts=account_ids, regions=opts.regions,
                                          services=wanted, role_name=opts.role_name, progress=bars.update,
                                          options=collect_options, run_id=run_id)
            print_collection(console, result)
            posture = evaluate_posture(store, run_id, result, opts, selection, wanted, console)
        finally:
            stats = {} if result is None else {
                "snapshot_id": result.snapshot_id, "api_calls": result.api_calls,
                "resources": result.total_resources, "errors": len(result.errors),
            }
            store.end_run(run_id, "failed" if result is None else "ok", stats)
    if opts.fail_on is not None and any(
        f.status is Status.FAILED and f.severity >= opts.fail_on for f in posture.findings
    ):
        raise typer.Exit(EXIT_FINDINGS)


@dataclass(frozen=True)
class PostureSelection:
    framework: str
    controls: tuple[str, ...] | None
    mutelist: Path | None
    baseline: str | None


def evaluate_posture(
    store: Store,
    run_id: str,
    result: SnapshotResult,
    options: AwsOptions,
    selection: PostureSelection,
    services: Sequence[str] | None,
    console: Console,
) -> PostureResult:
    """Controls over ``result.snapshot_id``: store the findings, write them in ``options.formats``, print scores."""
    posture = run_posture(store, snapshot_id=result.snapshot_id, framework=selection.framework,
                          services=services, controls=selection.controls, mutelist=selection.mutelist,
                          baseline_id=selection.baseline)
    store.upsert_findings(run_id, posture.findings)
    summary = build_summary(posture.findings, {"collect": result.seconds}, {"posture": posture.stats()})
    context = ReportContext(title="cloudwarden scan", generated_at=datetime.now(UTC), tool_version=__version__,
                            environment=options.endpoint_url or "AWS")
    paths = write_outputs(posture.findings, summary, None, context, options.output_dir, options.formats)
    console.print(_scores_table(posture))
    counts = ", ".join(f"{n} {status}" for status, n in sorted(posture.counts.items()))
    console.print(f"{posture.controls} controls over {posture.documents} resources: {counts}"
                  + (f"; {posture.muted} muted" if posture.muted else ""))
    for expired in posture.expired_mutes:
        console.print(f"[yellow]expired mutelist entry no longer mutes:[/] {expired}")
    if posture.drift is not None:
        console.print(f"drift since {selection.baseline}: {posture.drift.to_dict()['summary']}")
    Console().print(f"findings: {paths.get('json', options.output_dir)}", highlight=False)
    return posture


def _scores_table(posture: PostureResult) -> Table:
    table = Table(title="Scores (requirements passed / decided)")
    for column in ("framework", "account", "passed", "failed", "not available", "score"):
        table.add_column(column, justify="left" if column in ("framework", "account") else "right")
    for score in posture.scores:
        percent = "-" if score.percent is None else f"{score.percent:.1f}%"
        table.add_row(score.framework, score.account, str(score.passed), str(score.failed),
                      str(score.not_available), percent)
    return table


def drift(
    baseline: Annotated[str, typer.Argument(help="The earlier snapshot id.")],
    current: Annotated[str | None, typer.Argument(help="The later snapshot id (default: the latest).")] = None,
    store_path: StoreOpt = DEFAULT_PATH,
) -> None:
    """Verdict and configuration drift between two stored snapshots, per resource and control."""
    with Store.open(store_path, read_only=True) as store:
        change = drift_between(store, baseline, current)
    print(json.dumps(change.to_dict(), indent=2))


def _list(text: str | None) -> tuple[str, ...] | None:
    if text is None:
        return None
    return tuple(item.strip() for item in text.split(",") if item.strip())


def parse_caps(values: list[str]) -> dict[str, int]:
    """``["AwsS3Bucket=100"]`` -> ``{"AwsS3Bucket": 100}``; unknown types and bad numbers are refused."""
    known = set(resource_types())
    caps: dict[str, int] = {}
    for value in values:
        name, sep, number = value.partition("=")
        if not sep or not number.strip().isdigit() or int(number) < 1:
            raise BadInputError("--cap", f"{value!r} is not TYPE=N with N a positive whole number")
        if name.strip() not in known:
            raise BadInputError("--cap", f"unknown resource type {name.strip()!r} (known: {', '.join(sorted(known))})")
        caps[name.strip()] = int(number)
    return caps


def _accounts(text: str | None) -> tuple[str, ...] | None:
    if text is None:
        return None
    ids = tuple(dict.fromkeys(a.strip() for a in text.split(",") if a.strip()))
    bad = [a for a in ids if not (a.isdigit() and len(a) == 12)]
    if bad or not ids:
        raise BadInputError("--accounts", f"not 12-digit account ids: {', '.join(bad) or repr(text)}")
    return ids


class _ProgressBars:
    """One Rich bar per account, region and service (global services count under us-east-1), on stderr and only
    when stderr is a terminal: piped output, ``--format json`` runs and tests see none of it. The description
    names the unit (resource type) that finished last. A no-op when disabled (Rich's progress is not even
    imported)."""

    def __init__(self, enabled: bool) -> None:
        self.progress: Any = None
        self.bars: dict[tuple[str, str, str], Any] = {}
        if enabled:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self.progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                     TimeElapsedColumn(), console=Console(stderr=True), transient=True)

    @staticmethod
    def wanted(quiet: bool) -> bool:
        return not quiet and Console(stderr=True).is_terminal

    def __enter__(self) -> _ProgressBars:
        if self.progress is not None:
            self.progress.start()
        return self

    def __exit__(self, *_: object) -> None:
        if self.progress is not None:
            self.progress.stop()

    def update(self, event: ProgressEvent) -> None:
        if self.progress is None:
            return
        key = (event.account, event.region, event.service)
        label = f"{event.account} {event.region} {event.service}"
        if event.kind == "planned":
            if key not in self.bars:
                self.bars[key] = self.progress.add_task(label, total=0)
            bar = self.progress.tasks[self.bars[key]]
            self.progress.update(self.bars[key], total=(bar.total or 0) + 1)
            return
        self.progress.update(self.bars[key], advance=1, description=f"{label} [dim]{event.unit}[/]")


def print_collection(console: Console, result: SnapshotResult) -> None:
    """Counts per account, region and type; API calls; errors (grouped, the first few in full)."""
    table = Table(title=f"snapshot {result.snapshot_id} ({result.status})", show_lines=False)
    for column in ("account", "region", "type", "resources"):
        table.add_column(column, justify="right" if column == "resources" else "left")
    for (account, region, type_), count in sorted(result.counts.items()):
        table.add_row(account, region, type_, str(count))
    console.print(table)
    console.print(
        f"{result.total_resources} resources of {len(result.resources)} types in {len(result.accounts)} accounts × "
        f"{len(result.regions)} regions · {result.api_calls} API calls · {len(result.errors)} errors · "
        f"{result.seconds:.1f}s"
    )
    if result.errors:
        by_code: Counter[str] = Counter(f"{e['code']} on {e['service']}:{e['operation']}" for e in result.errors)
        where: defaultdict[str, set[str]] = defaultdict(set)
        for e in result.errors:
            where[f"{e['code']} on {e['service']}:{e['operation']}"].add(f"{e['account']}/{e['region']}")
        errors = Table(title="collection errors (what they hide is reported NOT_AVAILABLE, never passed)")
        errors.add_column("error")
        errors.add_column("count", justify="right")
        errors.add_column("where")
        for reason, count in by_code.most_common(MAX_ERRORS_SHOWN):
            errors.add_row(reason, str(count), ", ".join(sorted(where[reason]))[:200])
        console.print(errors)

