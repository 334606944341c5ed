"""`cloudwarden lab ...`: the embedded local AWS (moto server + CloudTrail recorder + demo organisation).

``lab up`` runs the lab in the foreground until Ctrl-C/SIGTERM, or with ``--detach`` starts that same
command as a background process (output in ``<state dir>/lab.log``) and returns once it answers.
``lab down`` stops the lab recorded in the state directory (SIGTERM; it flushes its records first),
``lab status`` shows it. ``lab attack`` and ``lab traffic`` are registered by
:func:`register_play_commands`.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from cloudwarden.core.errors import BadInputError, EndpointUnreachable, RuntimeFailure

app = typer.Typer(
    help="The embedded local AWS (moto server + CloudTrail recorder + demo organisation).",
    no_args_is_help=True,
    add_completion=False,
)

DEFAULT_STATE_DIR = Path(".cloudwarden/lab")
READY_TIMEOUT = 180.0  # seeding the demo organisation takes a while on a slow machine
STOP_TIMEOUT = 30.0

StateDirOpt = Annotated[
    Path, typer.Option("--state-dir", help="The lab's state directory (lab.json, lab.log, cloudtrail/).")
]


@app.command("up")
def up(
    port: Annotated[int, typer.Option("--port", help="Port on 127.0.0.1 (0: any free port).")] = 4566,
    seed: Annotated[str, typer.Option("--seed", help="demo: the demo organisation; empty: one bare account.")] = "demo",
    state_dir: StateDirOpt = DEFAULT_STATE_DIR,
    detach: Annotated[bool, typer.Option("--detach", help="Run in the background and return once it answers.")] = False,
) -> None:
    """Start the lab on 127.0.0.1."""
    if seed not in ("demo", "empty"):
        raise BadInputError("--seed", f"unknown seed {seed!r} (demo or empty)")
    if not 0 <= port <= 65535:
        raise BadInputError("--port", f"{port} is not a port number")
    _refuse_if_running(state_dir)
    if detach:
        _up_detached(port, seed, state_dir)
    else:
        _up_foreground(port, seed, state_dir)


@app.command("down")
def down(state_dir: StateDirOpt = DEFAULT_STATE_DIR) -> None:
    """Stop the lab running from STATE_DIR (its pending CloudTrail records are delivered first)."""
    from cloudwarden.lab.state import clear_state, pid_alive, read_state, state_file

    state = read_state(state_dir)
    if state is None:
        typer.echo(f"no lab is running (no {state_file(state_dir)})")
        return
    if not pid_alive(state.pid) or not _is_lab_process(state.pid, state.endpoint):
        clear_state(state_dir, state.pid)
        typer.echo(f"no lab is running (removed the stale {state_file(state_dir)} of pid {state.pid})")
        return
    os.kill(state.pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT
    while pid_alive(state.pid):
        if time.monotonic() > deadline:
            raise RuntimeFailure(f"the lab (pid {state.pid}) did not stop within {STOP_TIMEOUT:.0f}s; kill it")
        time.sleep(0.1)
    clear_state(state_dir, state.pid)
    typer.echo(f"lab stopped (pid {state.pid}); CloudTrail files are in {state_dir / 'cloudtrail'}")


@app.command("status")
def status(
    state_dir: StateDirOpt = DEFAULT_STATE_DIR,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show the running lab: endpoint, accounts, requests and recorded events."""
    from cloudwarden.lab.client import LabClient
    from cloudwarden.lab.state import find_running_lab

    state = find_running_lab(state_dir)
    if state is None:
        raise EndpointUnreachable(
            f"no lab is running from {state_dir}; start one with `cloudwarden lab up --detach --state-dir {state_dir}`"
        )
    live = LabClient(state.endpoint).status()
    summary: dict[str, Any] = {
        "endpoint": state.endpoint,
        "state_dir": str(state_dir),
        "accounts": state.accounts,
        "pid": state.pid,
        "port": state.port,
        "seed": state.seed,
        "started_at": state.started_at.isoformat(),
        "recording": live.get("recording"),
        "requests_total": live.get("requests_total"),
        "calls_per_second": live.get("calls_per_second"),
        "records_total": live.get("records_total"),
        "records_pending": live.get("records_pending"),
        "trails": live.get("trails", []),
        "delivery_errors": live.get("delivery_errors", []),
    }
    if as_json:
        typer.echo(json.dumps(summary, indent=2))
        return
    typer.echo(f"lab running at {state.endpoint} (pid {state.pid}, since {state.started_at:%Y-%m-%d %H:%M:%S} UTC)")
    typer.echo(f"state dir   {state_dir}")
    typer.echo("accounts    " + ", ".join(f"{alias} {account}" for alias, account in state.accounts.items()))
    typer.echo(
        f"requests    {summary['requests_total']} ({summary['calls_per_second']:.1f}/s over the last 10s), "
        f"{summary['records_total']} CloudTrail records, {summary['records_pending']} pending delivery"
    )
    for trail in summary["trails"]:
        state_word = "logging" if trail["logging"] else "NOT logging"
        typer.echo(f"trail       {trail['arn']} -> s3://{trail['bucket']} ({state_word})")
    for error in summary["delivery_errors"]:
        typer.echo(f"delivery    {error}")


def register_play_commands(lab_app: typer.Typer) -> None:
    """Add ``lab attack`` (cloudwarden.lab.scenarios) and ``lab traffic`` (cloudwarden.lab.traffic) to ``lab_app``."""
    from cloudwarden.cli import lab_play

    lab_app.command("attack")(lab_play.attack)
    lab_app.command("traffic")(lab_play.traffic)


register_play_commands(app)


# --- helpers ------------------------------------------------------------------------------------
def _refuse_if_running(state_dir: Path) -> None:
    from cloudwarden.lab.state import find_running_lab

    running = find_running_lab(state_dir)
    if running is not None:
        raise RuntimeFailure(
            f"a lab is already running from {state_dir} at {running.endpoint} (pid {running.pid}); "
            f"stop it with `cloudwarden lab down --state-dir {state_dir}`"
        )


def _env_lines(endpoint: str) -> list[str]:
    from cloudwarden.lab.server import DEFAULT_ACCESS_KEY_ID, DEFAULT_REGION, DEFAULT_SECRET_ACCESS_KEY

    return [
        f"export AWS_ENDPOINT_URL={endpoint}",
        f"export AWS_ACCESS_KEY_ID={DEFAULT_ACCESS_KEY_ID}",
        f"export AWS_SECRET_ACCESS_KEY={DEFAULT_SECRET_ACCESS_KEY}",
        f"export AWS_DEFAULT_REGION={DEFAULT_REGION}",
    ]


def _announce(endpoint: str, pid: int, state_dir: Path, accounts: dict[str, str]) -> None:
    typer.echo(f"lab running at {endpoint} (pid {pid}, state dir {state_dir})")
    typer.echo("accounts: " + ", ".join(f"{alias}={account}" for alias, account in accounts.items()))
    typer.echo("use it with (the default credentials are the management account's root user):")
    for line in _env_lines(endpoint):
        typer.echo(f"  {line}")


def _up_foreground(port: int, seed: str, state_dir: Path) -> None:
    import logging

    from cloudwarden.lab.server import Lab, run_foreground

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    lab = Lab(state_dir, port=port, seed="demo" if seed == "demo" else "empty")

    def ready(running: Lab) -> None:
        _announce(running.endpoint_url, os.getpid(), state_dir, running.accounts)
        typer.echo("stop it with Ctrl-C or `cloudwarden lab down`")
        sys.stdout.flush()

    run_foreground(lab, ready)
    typer.echo("lab stopped; pending CloudTrail records delivered")


def _up_detached(port: int, seed: str, state_dir: Path) -> None:
    from cloudwarden.lab.client import LabClient
    from cloudwarden.lab.server import LOOPBACK, LabPortInUse
    from cloudwarden.lab.state import log_file, read_state

    if port and not _port_free(LOOPBACK, port):
        raise LabPortInUse(f"port {port} on {LOOPBACK} is already in use (another lab? try `cloudwarden lab status`)")
    state_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_file(state_dir)
    command = [
        sys.executable,
        "-m",
        "cloudwarden",
        "lab",
        "up",
        "--port",
        str(port),
        "--seed",
        seed,
        "--state-dir",
        str(state_dir),
    ]
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    deadline = time.monotonic() + READY_TIMEOUT
    while True:
        code = process.poll()
        if code is not None:
            raise RuntimeFailure(f"the lab exited with code {code} before answering:\n{_tail(log_path)}")
        state = read_state(state_dir)
        if state is not None and state.pid == process.pid and LabClient(state.endpoint).is_up():
            break
        if time.monotonic() > deadline:
            process.terminate()
            raise RuntimeFailure(f"the lab did not answer within {READY_TIMEOUT:.0f}s; see {log_path}")
        time.sleep(0.2)
    _announce(state.endpoint, state.pid, state_dir, state.accounts)
    typer.echo(f"log: {log_path}; stop it with `cloudwarden lab down --state-dir {state_dir}`")


def _port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server binds
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def _is_lab_process(pid: int, endpoint: str) -> bool:
    """Whether ``pid`` is the lab (it answers, or its command line is ours), so we never signal a stranger."""
    from cloudwarden.lab.client import LabClient

    if LabClient(endpoint, timeout=2.0).is_up():
        return True
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return b"cloudwarden" in command


def _tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return f"(no log at {path})"
    return "\n".join(text.splitlines()[-lines:])
