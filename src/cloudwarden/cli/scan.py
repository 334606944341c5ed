"""`cloudwarden scan`: collect an inventory snapshot and (once wired) evaluate posture controls over it.

Thin on purpose: parse the global options and ``--services``, call
:func:`cloudwarden.inventory.stage.collect_snapshot` with a Rich progress bar per account and region, then
print what was collected (resources per account, region and type), the API calls made and every
collection error. Posture evaluation plugs in at :func:`evaluate_posture`, which receives the snapshot.
Collection errors do not change the exit code (the posture stage reports what they leave undecided as
``NOT_AVAILABLE``); a target that cannot be reached at all exits 3.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

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
from cloudwarden.core.errors import BadInputError
from cloudwarden.inventory.registry import parse_services, resource_types
from cloudwarden.inventory.stage import CollectOptions, ProgressEvent, SnapshotResult, collect_snapshot
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
) -> None:
    """Collect an inventory snapshot of the accounts and regions, then evaluate posture controls over it."""
    opts = AwsOptions.from_flags(endpoint_url=endpoint_url, profile=profile, regions=regions, role_name=role_name,
                                 output_dir=output_dir, formats=formats, fail_on=fail_on, quiet=quiet)
    wanted = parse_services(services_)
    account_ids = _accounts(accounts)
    collect_options = CollectOptions(max_workers=max_workers, caps=parse_caps(cap or []),
                                     rate_limit=RateLimit(rate=rate, burst=max(1, int(rate * 2))))
    target = AwsTarget(endpoint_url=opts.endpoint_url, profile=opts.profile)
    console = Console(quiet=quiet)
    with Store.open(store_path) as store:
        run_id = store.start_run("scan")
        result: SnapshotResult | None = None
        try:
            with _ProgressBars(console) as bars:
                result = collect_snapshot(target, store=store, accounts=account_ids, regions=opts.regions,
                                          services=wanted, role_name=opts.role_name, progress=bars.update,
                                          options=collect_options, run_id=run_id)
            print_collection(console, result)
            evaluate_posture(store, result, opts)
        finally:
            stats = {} if result is None else {
                "snapshot_id": result.snapshot_id, "api_calls": result.api_calls,
                "resources": result.total_resources, "errors": len(result.errors),
            }
            store.end_run(run_id, "failed" if result is None else "ok", stats)


def evaluate_posture(store: Store, result: SnapshotResult, options: AwsOptions) -> None:
    """Where posture evaluation plugs in: controls over ``result.snapshot_id``, findings written to
    ``options.output_dir`` in ``options.formats``, exit 1 on ``options.fail_on``. Collection only, for now."""
    return None


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
    """One bar per account and region (global services count under us-east-1); the description names the
    service that finished last."""

    def __init__(self, console: Console) -> None:
        self.progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TimeElapsedColumn(), console=console, transient=True)
        self.bars: dict[tuple[str, str], TaskID] = {}

    def __enter__(self) -> _ProgressBars:
        self.progress.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.progress.stop()

    def update(self, event: ProgressEvent) -> None:
        key = (event.account, event.region)
        if event.kind == "planned":
            if key not in self.bars:
                self.bars[key] = self.progress.add_task(f"{event.account} {event.region}", total=0)
            bar = self.progress.tasks[self.bars[key]]
            self.progress.update(self.bars[key], total=(bar.total or 0) + 1)
            return
        self.progress.update(self.bars[key], advance=1,
                             description=f"{event.account} {event.region} [dim]{event.service}[/]")


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

