"""`cloudwarden route run`: route findings through a rules file to notify targets and playbooks.

Thin: load the targets and the rules (errors name file, line and field), take the findings (a findings
file, recorded in the store first so their lifecycle is tracked, or the store's open findings), call
:func:`cloudwarden.route.router.route_findings`, make one delivery pass over the outbox unless
``--no-deliver``, print what happened. Messages that could not be delivered stay in the outbox and go out
on a later run; playbooks run as dry runs unless their rule says ``execute: true``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

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
from cloudwarden.core.finding import Finding
from cloudwarden.findings.reader import read_findings
from cloudwarden.notify.outbox import DeliveryReport, Outbox, State
from cloudwarden.notify.registry import load_targets
from cloudwarden.route.router import PlaybookSettings, RouteReport, route_findings
from cloudwarden.route.rules import load_rules
from cloudwarden.store import Lifecycle, Store
from cloudwarden.store.store import DEFAULT_PATH

RulesOpt = Annotated[Path, typer.Option("--rules", help="Routing rules file (YAML).")]
TargetsOpt = Annotated[
    Path | None,
    typer.Option("--targets", help="Notify targets file (YAML); CLOUDWARDEN_TARGET_* variables add to it."),
]
FindingsOpt = Annotated[
    Path | None,
    typer.Option("--findings", help="Findings file (findings.jsonl); default: the store's open findings."),
]
StoreOpt = Annotated[
    Path, typer.Option("--store", help="The cloudwarden database (findings, outbox, routing state).")
]
DeliverOpt = Annotated[
    bool, typer.Option("--deliver/--no-deliver", help="Send what was queued now (default), or leave it queued.")
]


def run(
    rules: RulesOpt,
    targets: TargetsOpt = None,
    findings: FindingsOpt = None,
    store_path: StoreOpt = DEFAULT_PATH,
    deliver: DeliverOpt = True,
    endpoint_url: EndpointOpt = None,
    profile: ProfileOpt = None,
    regions: RegionsOpt = None,
    role_name: RoleNameOpt = None,
    output_dir: OutputDirOpt = DEFAULT_OUTPUT_DIR,
    quiet: QuietOpt = False,
) -> None:
    """Route findings through RULES: alerts to notify targets (via the outbox), playbooks in dry run."""
    options = AwsOptions.from_flags(endpoint_url=endpoint_url, profile=profile, regions=regions,
                                    role_name=role_name, output_dir=output_dir, quiet=quiet)
    configured = load_targets(targets)
    ruleset = load_rules(rules, targets=list(configured))
    given = read_findings(findings) if findings is not None else None
    with Store.open(store_path) as store:
        routed = _findings(store, given)
        outbox = Outbox(store, configured)
        settings = None
        if any(rule.playbook_targets for rule in ruleset):
            settings = PlaybookSettings(target=options.target(), output_dir=options.output_dir,
                                        role_name=options.role_name, regions=options.region_list())
        report = route_findings(routed, ruleset, store=store, outbox=outbox, playbooks=settings)
        delivery = outbox.deliver_due() if deliver else None
        waiting = outbox.counts()[State.PENDING]
    _print(report, delivery, waiting, quiet)


def _findings(store: Store, given: list[Finding] | None) -> list[Finding]:
    """The findings to route: a file's (recorded in the store first, in a run of their own), or the store's
    findings that are not resolved."""
    if given is None:
        return [r.finding for r in store.records() if r.lifecycle is not Lifecycle.RESOLVED]
    run_id = store.start_run("route")
    store.upsert_findings(run_id, given)
    store.end_run(run_id, "succeeded", {"findings": len(given)})
    return given



def _print(report: RouteReport, delivery: DeliveryReport | None, waiting: int, quiet: bool) -> None:
    if not quiet:
        for rule, ids in report.matched.items():
            typer.echo(f"rule {rule}: {len(ids)} finding(s) matched")
        for message in report.queued:
            state = "queued" if message.new else "already queued"
            typer.echo(f"{state}: {len(message.finding_ids)} finding(s) to {message.target} "
                       f"({', '.join(message.rules)})")
        for run in report.playbook_runs:
            detail = f"run id {run.run_id}" if run.run_id else (run.error or "")
            mode = "execute" if run.execute else "dry run"
            typer.echo(f"playbook {run.playbook} ({mode}) on {run.finding_id[:12]}: {run.status}; {detail}")
        held = report.to_dict()["suppressed"]
        if held:
            typer.echo("held back: " + ", ".join(f"{n} {reason}" for reason, n in sorted(held.items())))
        if report.throttled:
            typer.echo(f"throttled: {len(report.throttled)} (sent on a later run)")
    queued = sum(1 for m in report.queued if m.new)
    line = (f"routed {report.findings} finding(s): {queued} message(s) queued, "
            f"{len(report.playbook_runs)} playbook run(s)")
    if delivery is not None:
        line += (f"; delivered {len(delivery.delivered)}, retrying {len(delivery.retrying)}, "
                 f"dead {len(delivery.dead)}")
    if waiting:
        line += f"; {waiting} waiting in the outbox"
    typer.echo(line)
