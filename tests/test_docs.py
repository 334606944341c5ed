"""The README stays honest: every command, scenario and the quick start it promises exist and match."""

from __future__ import annotations

import re

import typer.main

from cloudwarden.cli.app import app
from cloudwarden.lab.scenarios import SCENARIOS
from tests.conftest import ROOT

README = (ROOT / "README.md").read_text()


def _commands(group: object, prefix: str = "") -> list[str]:
    names = []
    for name, command in getattr(group, "commands", {}).items():
        full = f"{prefix} {name}".strip()
        if getattr(command, "commands", None):
            names.extend(_commands(command, full))
        else:
            names.append(full)
    return names


def test_every_command_is_documented_in_the_readme() -> None:
    commands = _commands(typer.main.get_command(app))
    assert {"demo", "lab up", "lab attack", "iam simulate"} <= set(commands)
    missing = [c for c in commands if f"cloudwarden {c}" not in README]
    assert not missing, f"commands missing from README: {missing}"


def test_every_scenario_is_in_the_readme_table() -> None:
    missing = [name for name in SCENARIOS if f"| `{name}` |" not in README]
    assert not missing


def test_quick_start_has_two_commands_and_ci_runs_the_second() -> None:
    section = re.search(r"^## Quick start\s*$(.*?)^## ", README, re.M | re.S)
    assert section is not None
    block = re.search(r"```sh\n(.*?)```", section.group(1), re.S)
    assert block is not None
    commands = [line for line in block.group(1).splitlines() if line.strip() and not line.startswith("#")]
    assert len(commands) == 2
    assert "cloudwarden demo" in commands[0]
    assert commands[1] in (ROOT / ".ci" / "run").read_text()
