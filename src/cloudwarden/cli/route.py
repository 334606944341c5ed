"""`cloudwarden route ...`: event routing commands (registered by cli/app.py under ``route``).

``route test --pattern FILE --event FILE`` answers what EventBridge's ``TestEventPattern`` answers: prints
``match`` or ``no match`` (exit 0), or the pattern's error in EventBridge's words naming the file (exit 2). Both files
are JSON, as AWS takes them; they are read as text, so a key given twice is seen twice, as EventBridge sees it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from cloudwarden.core.errors import BadInputError
from cloudwarden.route import EventMatcher, PatternError, parse_pattern

app = typer.Typer(
    name="route",
    help="Event routing: EventBridge event patterns over findings.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _route() -> None:
    """Event routing: EventBridge event patterns over findings."""


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BadInputError(str(path), "no such file") from None
    except UnicodeDecodeError as exc:
        raise BadInputError(str(path), f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise BadInputError(str(path), exc.strerror or str(exc)) from None


@app.command("test")
def test(
    pattern: Annotated[Path, typer.Option("--pattern", help="Event pattern (JSON), as EventBridge takes it.")],
    event: Annotated[Path, typer.Option("--event", help="Event (JSON object) to test the pattern against.")],
) -> None:
    """Print `match` or `no match` for one event pattern and one event, like EventBridge's TestEventPattern."""
    pattern_text = _read(pattern)
    event_text = _read(event)
    try:
        compiled = parse_pattern(pattern_text)
    except PatternError as exc:
        raise BadInputError(str(pattern), str(exc)) from None
    matcher = EventMatcher([("pattern", compiled)])
    try:
        found = matcher.match_json(event_text)
    except json.JSONDecodeError as exc:
        raise BadInputError(f"{event}:{exc.lineno}:{exc.colno}", f"not valid JSON: {exc.msg}") from None
    except ValueError as exc:
        raise BadInputError(str(event), f"{exc} (EventBridge: Parameter Event is not valid.)") from None
    typer.echo("match" if found else "no match")


def _register_run() -> None:
    from cloudwarden.cli import route_run

    app.command("run")(route_run.run)


_register_run()
