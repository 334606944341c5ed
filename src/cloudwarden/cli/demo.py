"""`cloudwarden demo`: the whole pipeline against the embedded lab, with a Rich summary at the end."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from cloudwarden.cli.options import (
    DEFAULT_FORMATS,
    DEFAULT_OUTPUT_DIR,
    FailOnOpt,
    FormatOpt,
    OutputDirOpt,
    QuietOpt,
    parse_formats,
)
from cloudwarden.core.errors import EXIT_FINDINGS
from cloudwarden.core.finding import Finding
from cloudwarden.core.severity import Severity
from cloudwarden.report.summary import OPEN_STATUSES


def demo(
    output_dir: OutputDirOpt = DEFAULT_OUTPUT_DIR,
    formats: FormatOpt = DEFAULT_FORMATS,
    fail_on: FailOnOpt = None,
    quiet: QuietOpt = False,
    port: Annotated[int, typer.Option("--port", help="Lab port; a free one is used when it is taken.")] = 4566,
    state_dir: Annotated[Path, typer.Option("--state-dir", help="The demo lab's state directory.")] = Path(
        ".cloudwarden/demo-lab"
    ),
) -> None:
    """Start the lab, seed the demo organisation, play traffic and attacks, analyse, report, stop the lab."""
    from cloudwarden.pipeline.demo import DemoSettings, run_demo  # imports moto: only when asked

    settings = DemoSettings(output_dir=output_dir, state_dir=state_dir, port=port, formats=parse_formats(formats))
    threshold = Severity.parse(fail_on, "--fail-on") if fail_on else None
    console = Console(quiet=quiet)
    with console.status("starting") as status:
        result = run_demo(settings, progress=lambda text: status.update(text))

    open_findings = [f for f in result.findings if f.status in OPEN_STATUSES]
    console.print(
        f"[bold]cloudwarden demo[/] lab {result.endpoint} · accounts "
        + ", ".join(f"{alias} {acct}" for alias, acct in result.accounts.items())
    )
    console.print(
        f"{result.api_calls} API calls recorded as {result.cloudtrail_records} CloudTrail records "
        f"in {result.cloudtrail_files} files · {len(result.scenarios)} attack scenarios played"
    )
    console.print(_by_severity_and_source(open_findings))
    if open_findings:
        console.print(_top(open_findings))
    else:
        console.print("no analysis stage produced findings yet (the report shows the lab, the org and its CloudTrail)")
    timing = ", ".join(f"{name} {seconds:.1f}s" for name, seconds in result.timings.items())
    console.print(f"timings: {timing} · total {sum(result.timings.values()):.1f}s")
    report = result.report_path
    Console().print(f"report: {report if report else result.outputs.get('summary')}", highlight=False)
    if threshold is not None and any(f.severity >= threshold for f in open_findings):
        raise typer.Exit(EXIT_FINDINGS)


def _by_severity_and_source(findings: list[Finding]) -> Table:
    sources = sorted({f.source.value for f in findings}) or ["-"]
    table = Table(title="Open findings by severity and source")
    table.add_column("severity")
    for source in sources:
        table.add_column(source, justify="right")
    table.add_column("total", justify="right")
    for severity in reversed(list(Severity)):
        row = [f for f in findings if f.severity is severity]
        table.add_row(severity.value, *[str(sum(1 for f in row if f.source.value == s)) for s in sources],
                      str(len(row)))
    return table


def _top(findings: list[Finding]) -> Table:
    """The ten most severe open findings; one line each, the resource by its short name, so it fits 80 columns."""
    table = Table(title="Top 10", show_lines=False)
    table.add_column("severity", no_wrap=True, min_width=8)
    table.add_column("control / type", no_wrap=True, max_width=30, overflow="ellipsis")
    table.add_column("account", no_wrap=True, min_width=12)
    table.add_column("resource", no_wrap=True, max_width=22, overflow="ellipsis")
    ranked = sorted(findings, key=lambda f: (-f.severity.rank, -f.count, f.title))[:10]
    for f in ranked:
        short = f.resource.id.rsplit(":", 1)[-1].rsplit("/", 1)[-1] or f.resource.id
        table.add_row(f.severity.value, f.control_id or f.type, f.account_id, short)
    return table
