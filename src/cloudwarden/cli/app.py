"""The ``cloudwarden`` command: registers each command group and maps errors to exit codes."""

from __future__ import annotations

import sys

import typer
from rich.console import Console

from cloudwarden import __version__
from cloudwarden.cli import demo as demo_cmd
from cloudwarden.cli import detect as detect_cmd
from cloudwarden.cli import iam as iam_cmd
from cloudwarden.cli import lab as lab_cmd
from cloudwarden.cli import respond as respond_cmd
from cloudwarden.cli import route as route_cmd
from cloudwarden.cli import scan as scan_cmd
from cloudwarden.core.errors import CloudwardenError

app = typer.Typer(
    name="cloudwarden",
    help="Local-first AWS security: posture, IAM analysis, threat detection and response.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(lab_cmd.app, name="lab")
app.add_typer(iam_cmd.app, name="iam")
app.add_typer(route_cmd.app, name="route")
app.add_typer(respond_cmd.app, name="respond")
app.command("demo")(demo_cmd.demo)
app.command("scan")(scan_cmd.scan)
app.command("drift")(scan_cmd.drift)
app.command("detect")(detect_cmd.detect)

err_console = Console(stderr=True)


def _version(value: bool) -> None:
    if value:
        print(f"cloudwarden {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
) -> None:
    """cloudwarden: point it at an AWS organisation (or the embedded lab) and get the security pillar done."""


def main() -> None:
    """Console-script entry point. Typer exits 2 on usage errors; our errors become one line and their code."""
    try:
        app(standalone_mode=True)
    except CloudwardenError as exc:
        err_console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)
