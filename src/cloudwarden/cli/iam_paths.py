"""`cloudwarden iam paths`: privilege-escalation paths over the latest inventory snapshot.

Prints, for each principal that can reach the target (default ``admin``), its shortest path with the permission
that makes each hop; ``--json`` prints one JSON object (``{"paths": [...], "errors": [...]}``). With no snapshot
in the store it exits 2 and says to run ``cloudwarden scan``. The command function is registered by ``cli/app.py``
(or ``cli/iam.py``) under ``iam``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from cloudwarden.core.errors import EXIT_BAD_INPUT, BadInputError
from cloudwarden.iam.catalog import get_catalog
from cloudwarden.iam.paths import ADMIN, build_graph, find_paths, model_from_store
from cloudwarden.store.store import DEFAULT_PATH, Store

__all__ = ["paths"]

_NO_SNAPSHOT = "no inventory snapshot: run `cloudwarden scan` first (or `cloudwarden demo`)"


def paths(
    to: Annotated[str, typer.Option("--to", help="'admin' or a principal ARN to find paths to.")] = ADMIN,
    source: Annotated[str | None, typer.Option("--from", help="Only paths starting at this principal ARN.")] = None,
    store_path: Annotated[Path, typer.Option("--store", help="The cloudwarden database.")] = DEFAULT_PATH,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object instead of text.")] = False,
) -> None:
    """Privilege-escalation paths: who can become an administrator (or a given principal), hop by hop."""
    try:
        if not store_path.exists():
            raise BadInputError(str(store_path), _NO_SNAPSHOT)
        with Store.open(store_path, read_only=True) as store:
            model = model_from_store(store)
        graph = build_graph(model)
        found = find_paths(model, to=to, source=source, graph=graph)
    except BadInputError as exc:
        message = str(exc)
        if "snapshot" in message and "scan" not in message:
            message = f"{message}; {_NO_SNAPSHOT}"
        typer.echo(f"error: {message}", err=True)
        raise typer.Exit(EXIT_BAD_INPUT) from exc
    if as_json:
        typer.echo(json.dumps({"target": to, "snapshot": model.access.snapshot_id, "catalog": get_catalog().version,
                               "paths": [p.to_json() for p in found], "errors": list(graph.errors)}, indent=2))
        return
    if not found:
        typer.echo(f"no escalation path to {to} among {len(graph.principals)} principals "
                   f"({len(graph.admins)} already administrators)")
    for path in found:
        typer.echo("\n".join(path.describe()))
    for error in graph.errors:
        typer.echo(f"warning: left out: {error}", err=True)
    if found:
        typer.echo(f"{len(found)} principal{'s' if len(found) != 1 else ''} can reach {to}")
