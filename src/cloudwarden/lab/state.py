"""The lab's state directory and ``lab.json``: how ``lab status`` and ``lab down`` find a running lab.

Layout of a state directory (default ``./.cloudwarden/lab``)::

    lab.json        the running lab: pid, endpoint, port, started_at, seed, accounts (alias -> id)
    lab.log         output of a lab started with ``lab up --detach``
    seed.json       written by the demo seeder
    cloudtrail/     every CloudTrail file the lab delivered (AWSLogs/<account>/CloudTrail/...)

``lab.json`` is written once the lab answers (after seeding) and removed when it stops; a file whose
process is gone is stale and is treated as "no lab running".
"""

from __future__ import annotations

import contextlib
import json
import os
from datetime import datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from cloudwarden.core.errors import BadInputError

DEFAULT_STATE_DIR = Path(".cloudwarden/lab")
STATE_FILE = "lab.json"
LOG_FILE = "lab.log"


class LabState(BaseModel):
    """What ``lab.json`` holds."""

    model_config = ConfigDict(frozen=True)

    pid: int
    endpoint: str
    port: int
    started_at: datetime
    seed: str = "empty"
    accounts: dict[str, str]


def state_file(state_dir: Path) -> Path:
    return state_dir / STATE_FILE


def log_file(state_dir: Path) -> Path:
    return state_dir / LOG_FILE


def write_state(state_dir: Path, state: LabState) -> None:
    state_dir.mkdir(parents=True, exist_ok=True)
    path = state_file(state_dir)
    temporary = path.with_name(f".{path.name}.{os.getpid()}")
    temporary.write_text(state.model_dump_json(indent=2) + "\n", encoding="utf-8")
    os.replace(temporary, path)


def read_state(state_dir: Path) -> LabState | None:
    """``lab.json`` as written, or None when absent. A damaged file is bad input naming the file."""
    path = state_file(state_dir)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    try:
        return LabState.model_validate(json.loads(text))
    except (ValueError, ValidationError) as exc:
        raise BadInputError(str(path), f"not a lab state file ({exc}); delete it if no lab is running") from exc


def clear_state(state_dir: Path, pid: int) -> None:
    """Remove ``lab.json`` if it still belongs to ``pid`` (never another lab's)."""
    try:
        current = read_state(state_dir)
    except BadInputError:
        return
    if current is not None and current.pid == pid:
        with contextlib.suppress(FileNotFoundError):
            state_file(state_dir).unlink()


def pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return not _zombie(pid)


def _zombie(pid: int) -> bool:
    """A process that has exited but was not yet reaped (Linux ``/proc``; False elsewhere)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii")
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[:1] == ["Z"]


def find_running_lab(state_dir: Path) -> LabState | None:
    """The lab recorded in ``state_dir`` if its process is alive; None otherwise."""
    state = read_state(state_dir)
    if state is None or not pid_alive(state.pid):
        return None
    return state
