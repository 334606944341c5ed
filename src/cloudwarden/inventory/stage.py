"""``collect_snapshot``: accounts × regions × resource types, collected concurrently into one snapshot.

The plan is every (account, unit) for global units and every (account, region, unit) for regional
ones (:mod:`cloudwarden.inventory.registry`). A bounded thread pool runs the units; boto3 clients are
shared per account, service and region (:class:`cloudwarden.aws.session.ClientFactory`), each behind
its token bucket. Results are written to the store from the calling thread, so the store keeps its
single writer; they are written in batches of up to ``WRITE_BATCH`` documents (one transaction each, as
a commit costs milliseconds whatever its size), so memory holds at most one batch plus one unit's documents.

Everything that went wrong is in the result's ``errors`` and the snapshot row: an account whose role
could not be assumed, a list call that was refused, a unit that raised. A failed call never looks like
an empty answer.

AWS managed IAM policies have one ARN in every account (``arn:aws:iam::aws:policy/...``), so they are
stored once per snapshot with account ``aws`` and the accounts they are attached in listed under
``data.AttachedInAccounts``.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any, Literal

import botocore.exceptions

from cloudwarden.aws.accounts import AccountHandle, enabled_regions, resolve_accounts
from cloudwarden.aws.ratelimit import RateLimit, RateLimiter
from cloudwarden.aws.session import AwsTarget, CallCounter, ClientFactory, caller_identity, make_session
from cloudwarden.core.errors import RuntimeFailure
from cloudwarden.inventory import registry
from cloudwarden.inventory.context import DEFAULT_CAP, UnitContext
from cloudwarden.inventory.registry import Unit
from cloudwarden.pipeline.stages import StageContext, StageResult
from cloudwarden.store import resources as snapshot_store
from cloudwarden.store.store import Store

GLOBAL_REGION = "us-east-1"
DEFAULT_WORKERS = 16
WRITE_BATCH = 2000


@dataclass(frozen=True)
class CollectOptions:
    """Knobs of one collection: concurrency, caps per resource type, client-side rate limits."""

    max_workers: int = DEFAULT_WORKERS
    default_cap: int = DEFAULT_CAP
    caps: Mapping[str, int] = field(default_factory=dict)
    rate_limit: RateLimit = field(default_factory=RateLimit)
    service_rate_limits: Mapping[str, RateLimit] = field(default_factory=dict)


@dataclass(frozen=True)
class ProgressEvent:
    """``planned`` once per unit before any runs, ``finished`` as each completes (from the calling thread)."""

    kind: Literal["planned", "finished"]
    account: str
    region: str
    service: str
    unit: str
    resources: int = 0
    errors: int = 0


ProgressCallback = Callable[[ProgressEvent], None]


@dataclass(frozen=True)
class SnapshotResult:
    snapshot_id: str
    status: str  # complete | partial
    accounts: tuple[str, ...]
    regions: tuple[str, ...]
    resources: dict[str, int]  # by resource type
    counts: dict[tuple[str, str, str], int]  # (account, region, type)
    api_calls: int
    api_calls_by_service: dict[str, int]
    errors: list[dict[str, str]]
    seconds: float

    @property
    def total_resources(self) -> int:
        return sum(self.resources.values())


@dataclass(frozen=True)
class _Job:
    factory: ClientFactory
    unit: Unit
    region: str


@dataclass
class _Outcome:
    job: _Job
    documents: list[dict[str, Any]]
    errors: list[dict[str, str]]


def collect_snapshot(
    target: AwsTarget,
    *,
    store: Store,
    accounts: Sequence[str] | None = None,
    regions: Sequence[str] | None = None,
    services: Sequence[str] | None = None,
    role_name: str | None = None,
    progress: ProgressCallback | None = None,
    options: CollectOptions | None = None,
    run_id: str | None = None,
) -> SnapshotResult:
    """Collect one snapshot of ``accounts`` (default: the caller's, plus every member with ``role_name``) ×
    ``regions`` (default: the target's region; ``["all"]``: every enabled one) × ``services`` (default: all)."""
    opts = options or CollectOptions()
    started = time.perf_counter()
    units = registry.select(services)
    session = make_session(target)
    caller = caller_identity(session, target)["Account"]
    limiter = RateLimiter(opts.rate_limit, dict(opts.service_rate_limits))
    counter = CallCounter()
    base = ClientFactory(target, session, caller, limiter=limiter, counter=counter)
    handles = resolve_accounts(base, caller, role_name, accounts)
    scan_regions = _regions(base, regions, target.region)
    errors: list[dict[str, str]] = [_account_error(h) for h in handles if h.error is not None]
    jobs = [
        _Job(h.factory, unit, region)
        for h in handles if h.factory is not None
        for unit in units
        for region in ((GLOBAL_REGION,) if unit.scope == "global" else scan_regions)
    ]
    account_ids = tuple(h.account_id for h in handles)
    snapshot_id = snapshot_store.begin_snapshot(store, run_id, account_ids, scan_regions)
    status = "failed"
    shared: dict[str, dict[str, Any]] = {}
    batch: list[dict[str, Any]] = []
    try:
        if progress is not None:
            for job in jobs:
                progress(ProgressEvent("planned", job.factory.account, job.region, job.unit.service, job.unit.name))
        for outcome in _run(jobs, opts, scan_regions):
            errors.extend(outcome.errors)
            own = [d for d in outcome.documents if d["account"] == outcome.job.factory.account]
            _merge_shared(shared, [d for d in outcome.documents if d["account"] != outcome.job.factory.account],
                          outcome.job.factory.account)
            batch.extend(own)
            if len(batch) >= WRITE_BATCH:
                snapshot_store.add_resources(store, snapshot_id, batch)
                batch = []
            if progress is not None:
                progress(ProgressEvent("finished", outcome.job.factory.account, outcome.job.region,
                                       outcome.job.unit.service, outcome.job.unit.name, len(outcome.documents),
                                       len(outcome.errors)))
        snapshot_store.add_resources(store, snapshot_id, [*batch, *shared.values()])
        status = "partial" if errors else "complete"
    finally:
        snapshot_store.finish_snapshot(store, snapshot_id, status, errors)
    counts = snapshot_store.resource_counts(store, snapshot_id)
    by_type: Counter[str] = Counter()
    for (_account, _region, type_), count in counts.items():
        by_type[type_] += count
    return SnapshotResult(
        snapshot_id=snapshot_id, status=status, accounts=account_ids, regions=scan_regions,
        resources=dict(sorted(by_type.items())), counts=counts, api_calls=counter.total,
        api_calls_by_service={k[0]: v for k, v in sorted(counter.by("service").items())}, errors=errors,
        seconds=round(time.perf_counter() - started, 3),
    )


def _regions(base: ClientFactory, regions: Sequence[str] | None, default: str) -> tuple[str, ...]:
    if not regions:
        return (default,)
    if "all" in regions:
        try:
            return tuple(enabled_regions(base))
        except botocore.exceptions.ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "Unknown")
            raise RuntimeFailure(f"--regions all: cannot list the enabled regions (ec2:DescribeRegions: {code})") \
                from None
    return tuple(dict.fromkeys(regions))


def _run(jobs: list[_Job], opts: CollectOptions, scan_regions: tuple[str, ...]) -> Any:
    """Yield each job's outcome as it completes, with at most ``max_workers`` running at once."""
    pending: set[Future[_Outcome]] = set()
    queue = list(reversed(jobs))
    with ThreadPoolExecutor(max_workers=max(1, opts.max_workers), thread_name_prefix="collect") as pool:
        while queue or pending:
            while queue and len(pending) < max(1, opts.max_workers) * 2:
                pending.add(pool.submit(_run_one, queue.pop(), opts, scan_regions))
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                yield future.result()


def _run_one(job: _Job, opts: CollectOptions, scan_regions: tuple[str, ...]) -> _Outcome:
    ctx = UnitContext(job.factory, job.factory.account, job.region, job.unit.client_service,
                      cap=opts.default_cap, regions=scan_regions, caps=dict(opts.caps))
    try:
        documents = job.unit.run(ctx)
    except (botocore.exceptions.BotoCoreError, KeyError, TypeError, ValueError) as exc:
        # A unit that cannot finish (credentials gone, an answer of an unexpected shape) is an error of the
        # snapshot, with what it had collected so far lost, never a silent gap.
        ctx.record(job.unit.name, type(exc).__name__, str(exc) or repr(exc))
        documents = []
    return _Outcome(job, documents, ctx.errors)


def _merge_shared(shared: dict[str, dict[str, Any]], documents: list[dict[str, Any]], seen_in: str) -> None:
    for document in documents:
        kept = shared.setdefault(document["arn"], document)
        attached = set(kept["data"].get("AttachedInAccounts", []))
        attached.add(seen_in)
        kept["data"]["AttachedInAccounts"] = sorted(attached)


def _account_error(handle: AccountHandle) -> dict[str, str]:
    error = handle.error or {}
    return {"account": handle.account_id, "region": GLOBAL_REGION,
            "service": "organizations" if error.get("operation") == "ListAccounts" else "sts",
            "operation": error.get("operation", ""), "code": error.get("code", ""), "message": error.get("message", "")}


def collect_stage(ctx: StageContext) -> StageResult:
    """The pipeline stage: collect a snapshot of ``ctx``'s target into the store (no findings of its own)."""
    with Store.open(ctx.store_path) as store:
        result = collect_snapshot(ctx.target, store=store, regions=ctx.regions, role_name=ctx.role_name,
                                  run_id=ctx.run_id)
    return StageResult(stats={"snapshot_id": result.snapshot_id, "status": result.status,
                              "resources": result.total_resources, "api_calls": result.api_calls,
                              "errors": len(result.errors), "seconds": round(result.seconds, 3)})
