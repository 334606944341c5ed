"""The ``cloudwarden`` command: registers each command group and maps errors to exit codes."""

from __future__ import annotations

import gc
import sys
from typing import ClassVar

import typer
from rich.console import Console

from cloudwarden import __version__
from cloudwarden.cli.lazy import LazyGroup
from cloudwarden.core.allocator import keep_freed_buffers
from cloudwarden.core.errors import CloudwardenError


class _Commands(LazyGroup):
    """Every command, imported when it is looked up (``cloudwarden scan`` never imports detection)."""

    LAZY: ClassVar[dict[str, str]] = {
        "lab": "cloudwarden.cli.lab:app",
        "iam": "cloudwarden.cli.iam:app",
        "route": "cloudwarden.cli.route:app",
        "respond": "cloudwarden.cli.respond:app",
        "demo": "cloudwarden.cli.demo:demo",
        "scan": "cloudwarden.cli.scan:scan",
        "drift": "cloudwarden.cli.scan:drift",
        "detect": "cloudwarden.cli.detect:detect",
    }


app = typer.Typer(
    name="cloudwarden",
    cls=_Commands,
    help="Local-first AWS security: posture, IAM analysis, threat detection and response.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

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
    keep_freed_buffers()  # log files are gunzipped into buffers of megabytes: keep freed ones for reuse
    try:
        app(standalone_mode=True)
    except CloudwardenError as exc:
        err_console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)
    finally:
        # The process ends next. Frozen objects are skipped by the cycle collections of the interpreter's
        # teardown, which otherwise walk every object left: measured from the end of a detect run to the exit,
        # 0.29 -> 0.12 s (10,000 events) and 0.44 -> 0.21 s (a million). Outputs are closed by then, and
        # standard streams are still flushed.
        gc.freeze()
