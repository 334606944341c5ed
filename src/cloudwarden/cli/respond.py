"""`cloudwarden respond`: run a playbook on a finding, approve its waiting steps, roll it back, list playbooks.

Thin: parse the options, call one function of :mod:`cloudwarden.respond.runner`, print the steps and the
run id (the last line of ``run``, ``approve`` and ``rollback`` is always ``run id: <id>``, so scripts can
take it with ``tail -1``). A dry run is the default; ``--execute`` acts; disruptive steps wait for
``respond approve RUN_ID`` unless ``--auto-approve``. ``export`` prints a playbook as a Step Functions
definition; ``report`` prints a run's incident timeline in Markdown.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from cloudwarden.cli.options import (
    DEFAULT_OUTPUT_DIR,
    AwsOptions,
    EndpointOpt,
    OutputDirOpt,
    ProfileOpt,
    QuietOpt,
    RegionsOpt,
    RoleNameOpt,
)
from cloudwarden.respond.actions import ACTIONS
from cloudwarden.respond.export import export_definition
from cloudwarden.respond.playbooks import load_playbook, playbook_names, task_resources
from cloudwarden.respond.records import RunStatus
from cloudwarden.respond.report import incident_timeline
from cloudwarden.respond.runner import RunResult, approve, load_finding, rollback, run_playbook
from cloudwarden.respond.steps import action_name
from cloudwarden.store.store import DEFAULT_PATH, Store

app = typer.Typer(help="Incident-response playbooks: dry run, approve, execute, roll back.", no_args_is_help=True,
                  add_completion=False)

StoreOpt = Annotated[Path, typer.Option("--store", help="The cloudwarden database (findings, runs, audit log).")]
FindingOpt = Annotated[str, typer.Option("--finding", help="A finding's id in the store, or a file holding one.")]
ExecuteOpt = Annotated[bool, typer.Option("--execute", help="Act on the account (default: a dry run).")]
AutoApproveOpt = Annotated[
    bool, typer.Option("--auto-approve", help="Run disruptive steps without waiting for `respond approve`.")
]



def _print_run(console: Console, result: RunResult, quiet: bool) -> None:
    if not quiet:
        table = Table(title=f"{result.playbook}: {result.status.value}")
        for column in ("step", "action", "outcome", "changes"):
            table.add_column(column, overflow="fold")
        for step in result.steps:
            table.add_row(step.path, step.action + (" (disruptive)" if step.disruptive else ""),
                          step.outcome.value, "\n".join(step.changes) or "-")
        console.print(table)
        if result.status is RunStatus.AWAITING_APPROVAL:
            console.print(f"waiting for approval: {', '.join(result.pending)}; run "
                          f"`cloudwarden respond approve {result.run_id}`")
        if result.error:
            console.print(f"[red]failed:[/] {result.error}", highlight=False)
        console.print(f"case folder: {result.case_dir}", highlight=False)
    print(f"run id: {result.run_id}")


@app.command("run")
def run(
    playbook: Annotated[str, typer.Argument(help="A playbook name (see `respond list`) or a .asl.json file.")],
    finding: FindingOpt,
    execute: ExecuteOpt = False,
    auto_approve: AutoApproveOpt = False,
    endpoint_url: EndpointOpt = None,
    profile: ProfileOpt = None,
    regions: RegionsOpt = None,
    role_name: RoleNameOpt = None,
    output_dir: OutputDirOpt = DEFAULT_OUTPUT_DIR,
    store_path: StoreOpt = DEFAULT_PATH,
    quiet: QuietOpt = False,
) -> None:
    """Run PLAYBOOK on one finding; prints the plan (a dry run) unless --execute."""
    options = AwsOptions.from_flags(endpoint_url=endpoint_url, profile=profile, regions=regions,
                                    role_name=role_name, output_dir=output_dir, quiet=quiet)
    with Store.open(store_path) as store:
        found = load_finding(finding, store)
        result = run_playbook(playbook, found, execute=execute, auto_approve=auto_approve, store=store,
                              target=options.target(), output_dir=options.output_dir, role_name=options.role_name,
                              regions=options.region_list())
    _print_run(Console(), result, quiet)
    if result.status is RunStatus.FAILED:
        raise typer.Exit(3)


@app.command("approve")
def approve_cmd(
    run_id: Annotated[str, typer.Argument(help="The run id `respond run` printed.")],
    endpoint_url: EndpointOpt = None,
    profile: ProfileOpt = None,
    role_name: RoleNameOpt = None,
    store_path: StoreOpt = DEFAULT_PATH,
    quiet: QuietOpt = False,
) -> None:
    """Approve the steps RUN_ID waits for, and carry on."""
    options = AwsOptions.from_flags(endpoint_url=endpoint_url, profile=profile, role_name=role_name, quiet=quiet)
    with Store.open(store_path) as store:
        result = approve(run_id, store=store, target=options.target(), role_name=options.role_name)
    _print_run(Console(), result, quiet)
    if result.status is RunStatus.FAILED:
        raise typer.Exit(3)


@app.command("rollback")
def rollback_cmd(
    run_id: Annotated[str, typer.Argument(help="The run to undo.")],
    endpoint_url: EndpointOpt = None,
    profile: ProfileOpt = None,
    role_name: RoleNameOpt = None,
    store_path: StoreOpt = DEFAULT_PATH,
    quiet: QuietOpt = False,
) -> None:
    """Undo what RUN_ID changed, newest change first; says what could not be undone."""
    options = AwsOptions.from_flags(endpoint_url=endpoint_url, profile=profile, role_name=role_name, quiet=quiet)
    with Store.open(store_path) as store:
        result = rollback(run_id, store=store, target=options.target(), role_name=options.role_name)
    console = Console()
    if not quiet:
        for line in result.restored:
            console.print(f"  {line}", highlight=False)
        for line in result.failed:
            console.print(f"  [red]not undone:[/] {line}", highlight=False)
        console.print(f"{result.status.value}; case folder: {result.case_dir}", highlight=False)
    print(f"run id: {result.run_id}")
    if result.status is RunStatus.FAILED:
        raise typer.Exit(3)


@app.command("list")
def list_cmd() -> None:
    """Name every shipped playbook (one per line) and the actions it uses."""
    for name in playbook_names():
        used = [action_name(r) for r in task_resources(load_playbook(name).definition)]
        marked = [f"{a}{' (disruptive)' if ACTIONS[a].disruptive else ''}" for a in dict.fromkeys(used)]
        print(name)
        print(f"    actions: {', '.join(marked)}")


@app.command("export")
def export_cmd(
    playbook: Annotated[str, typer.Argument(help="A playbook name (see `respond list`) or a .asl.json file.")],
    function_arn_prefix: Annotated[str, typer.Option(
        "--function-arn-prefix",
        help="Start of the Lambda function ARNs, e.g. arn:aws:lambda:us-east-1:111122223333:function:cloudwarden-")],
    output: Annotated[Path | None, typer.Option("--output", help="Write the definition here (default: stdout).")]
    = None,
) -> None:
    """Print PLAYBOOK as an AWS Step Functions definition whose tasks are Lambda functions."""
    text = json.dumps(export_definition(load_playbook(playbook).definition, function_arn_prefix), indent=2) + "\n"
    if output is None:
        print(text, end="")
    else:
        output.write_text(text, encoding="utf-8")


@app.command("report")
def report_cmd(
    run_id: Annotated[str, typer.Argument(help="The run id `respond run` printed.")],
    store_path: StoreOpt = DEFAULT_PATH,
    output: Annotated[Path | None, typer.Option("--output", help="Write the Markdown here (default: stdout).")]
    = None,
) -> None:
    """Print RUN_ID's incident timeline in Markdown: detection, each action, evidence with hashes."""
    with Store.open(store_path) as store:
        text = incident_timeline(store, run_id)
    if output is None:
        print(text, end="")
    else:
        output.write_text(text, encoding="utf-8")
