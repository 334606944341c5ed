"""The command group imports a command's module only when that command is looked up (cli/lazy.py)."""

from __future__ import annotations

import re
import subprocess
import sys

import typer.main
from typer.testing import CliRunner

from cloudwarden.cli.app import app
from cloudwarden.cli.lazy import LazyGroup


def _modules_after(args: list[str]) -> set[str]:
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from cloudwarden.cli.app import app\n"
        f"result = CliRunner().invoke(app, {args!r})\n"
        "assert result.exit_code == 0, result.output\n"
        "print('\\n'.join(sorted(sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return set(out.split())


def test_scan_does_not_import_the_other_commands() -> None:
    loaded = _modules_after(["scan", "--help"])
    assert "cloudwarden.cli.scan" in loaded
    assert not {"cloudwarden.cli.detect", "cloudwarden.detect.engine", "cloudwarden.cli.respond",
                "cloudwarden.cli.iam", "cloudwarden.cli.lab"} & loaded


def test_help_lists_every_command_in_order() -> None:
    group = typer.main.get_command(app)
    assert isinstance(group, LazyGroup)
    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0
    commands = result.output[result.output.index("Commands"):]
    listed = re.findall(r"^\W+([a-z]+)\s{2,}\S", commands, re.M)
    assert listed == ["lab", "iam", "route", "respond", "demo", "scan", "drift", "detect"]


def test_an_unknown_command_is_a_usage_error() -> None:
    result = CliRunner().invoke(app, ["no-such-command"])
    assert result.exit_code == 2 and "No such command" in result.output


def test_nested_groups_load_without_completion_options() -> None:
    result = CliRunner().invoke(app, ["lab", "--help"])
    assert result.exit_code == 0 and "up" in result.output and "--install-completion" not in result.output
