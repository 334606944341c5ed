"""`cloudwarden lab attack SCENARIO|all` and `cloudwarden lab traffic`: play against a running lab.

Thin: find the running lab (its state dir's ``lab.json``, or ``--endpoint-url``) and what it was
seeded with (``seed.json``), call :func:`cloudwarden.lab.scenarios.run_scenario` or
:func:`cloudwarden.lab.traffic.play_traffic`, and print a table of what was played.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from cloudwarden.core.errors import EndpointUnreachable
from cloudwarden.lab.client import LabClient
from cloudwarden.lab.scenarios import SCENARIOS, ScenarioResult, run_scenario
from cloudwarden.lab.seed.result import SeedResult
from cloudwarden.lab.state import DEFAULT_STATE_DIR, find_running_lab
from cloudwarden.lab.traffic import play_traffic

StateDirOpt = Annotated[Path, typer.Option("--state-dir", help="The lab's state directory.")]
EndpointOpt = Annotated[
    str | None,
    typer.Option("--endpoint-url", help="The lab's URL; default: the endpoint recorded in the state dir."),
]


def lab_endpoint(state_dir: Path, endpoint_url: str | None) -> str:
    """``endpoint_url`` when given, else the running lab's endpoint from ``<state_dir>/lab.json``."""
    if endpoint_url:
        return endpoint_url.rstrip("/")
    running = find_running_lab(state_dir)
    if running is None:
        raise EndpointUnreachable(
            f"no lab is running with state dir {state_dir}: start one with "
            f"`cloudwarden lab up --seed demo --detach --state-dir {state_dir}`, or pass --endpoint-url"
        )
    return running.endpoint.rstrip("/")


def _lab_client(endpoint: str) -> LabClient:
    return LabClient(endpoint)


def attack(
    scenario: Annotated[str, typer.Argument(help=f"One of: all, {', '.join(SCENARIOS)}.")],
    state_dir: StateDirOpt = DEFAULT_STATE_DIR,
    endpoint_url: EndpointOpt = None,
) -> None:
    """Play a game-day attack scenario (or all of them) against the running lab."""
    endpoint = lab_endpoint(state_dir, endpoint_url)
    seed = SeedResult.load(state_dir)
    results = run_scenario(scenario, endpoint, seed, _lab_client(endpoint))
    Console().print(scenario_table(results))


def traffic(
    state_dir: StateDirOpt = DEFAULT_STATE_DIR,
    endpoint_url: EndpointOpt = None,
    minutes: Annotated[int, typer.Option("--minutes", min=1, help="Minutes of a working day to play.")] = 20,
    rng_seed: Annotated[int, typer.Option("--rng-seed", help="Same seed, same calls.")] = 7,
) -> None:
    """Play benign activity (developers, CI, admins, instances, console sign-ins) against the running lab."""
    endpoint = lab_endpoint(state_dir, endpoint_url)
    seed = SeedResult.load(state_dir)
    result = play_traffic(endpoint, seed, minutes_of_activity=minutes, rng_seed=rng_seed,
                          lab_client=_lab_client(endpoint))
    table = Table(title=f"Benign traffic: {result.calls} calls, {result.console_logins} console sign-ins, "
                        f"{len(result.objects_delivered)} network log objects")
    table.add_column("principal", overflow="fold")
    table.add_column("calls", justify="right")
    for principal, count in sorted(result.calls_by_principal.items(), key=lambda kv: -kv[1]):
        table.add_row(principal, str(count))
    Console().print(table)


def scenario_table(results: list[ScenarioResult]) -> Table:
    table = Table(title="Attack scenarios played")
    for column in ("scenario", "calls", "failed", "principals", "source IPs", "objects", "seconds"):
        numeric = column in ("calls", "failed", "objects", "seconds")
        table.add_column(column, justify="right" if numeric else "left", overflow="fold")
    for r in results:
        table.add_row(r.name, str(r.calls), str(r.failed_calls), "\n".join(r.principals), "\n".join(r.source_ips),
                      str(len(r.objects_delivered)), f"{(r.ended - r.started).total_seconds():.1f}")
    return table
