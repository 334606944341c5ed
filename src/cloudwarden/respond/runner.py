"""Running a playbook on one finding: dry run, approval, execution, rollback, with a case folder.

``run_playbook`` is a dry run unless ``execute``: the plan pass reads the account and changes nothing.
Executing without ``auto_approve`` first plans, then stops with the disruptive steps pending; ``approve``
approves them and runs the playbook again from the start. Re-running from the start instead of resuming
mid-machine is safe because every action changes only what still differs (a step already done is a
no-op), and it is what makes runs idempotent: running a playbook twice leaves the same end state. Steps
that wait for an explicit approval (``.waitForTaskToken``) stop every pass that reaches them until
``approve`` names them, auto-approval or not.

Every pass writes its steps, the run's audit entries and a SHA-256 manifest into
``<output-dir>/cases/<run_id>/``; ``rollback`` undoes the run's recorded changes newest first.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import botocore.exceptions

from cloudwarden.aws.accounts import assume_role_session, role_arn
from cloudwarden.aws.session import AwsTarget, ClientFactory, caller_identity, make_session
from cloudwarden.core.errors import BadInputError, CredentialsRefused
from cloudwarden.core.finding import Finding
from cloudwarden.findings.reader import read_findings
from cloudwarden.respond.actions import ActionContext, get_action
from cloudwarden.respond.actions.base import marked_session
from cloudwarden.respond.asl import ExecutionFailed, StateMachine, StatesError
from cloudwarden.respond.case import CaseFolder, case_dir
from cloudwarden.respond.journal import Journal
from cloudwarden.respond.playbooks import load_playbook
from cloudwarden.respond.records import Records, RunRecord, RunStatus
from cloudwarden.respond.steps import ACTOR, AwaitingApproval, Mode, StepRecord, StepRunner
from cloudwarden.store import Store

DEFAULT_OUTPUT_DIR: Final = Path("cloudwarden-out")
ClientMaker = Callable[[str, str | None], Any]


@dataclass(frozen=True)
class RunResult:
    run_id: str
    playbook: str
    status: RunStatus
    steps: list[StepRecord]
    case_dir: Path
    pending: list[str] = field(default_factory=list)
    error: str | None = None
    output: Any = None


@dataclass(frozen=True)
class RollbackResult:
    run_id: str
    status: RunStatus
    restored: list[str]
    failed: list[str]
    case_dir: Path


def load_finding(ref: str, store: Store) -> Finding:
    """``--finding``: a file holding one finding, or the id of a finding in the store."""
    path = Path(ref)
    if path.exists():
        found = read_findings(path)
        if len(found) != 1:
            raise BadInputError(str(path), f"holds {len(found)} findings; give a file with exactly one, or an id")
        return found[0]
    finding = store.get_finding(ref)
    if finding is None:
        raise BadInputError("--finding", f"{ref!r} is neither a file nor the id of a finding in {store.path}")
    return finding


def run_playbook(
    name: str,
    finding: Finding,
    *,
    execute: bool = False,
    auto_approve: bool = False,
    store: Store,
    target: AwsTarget,
    output_dir: Path = DEFAULT_OUTPUT_DIR,
    role_name: str | None = None,
    regions: Sequence[str] | None = None,
) -> RunResult:
    """Run playbook ``name`` on ``finding``; a dry run unless ``execute`` (see the module docstring)."""
    playbook = load_playbook(name)
    if finding.principal is None:
        raise BadInputError("--finding", f"finding {finding.id} names no principal for {playbook.name} to act on")
    started = datetime.now(UTC).replace(microsecond=0)
    run_id = f"resp-{started.strftime('%Y%m%dT%H%M%SZ')}-{secrets.token_hex(4)}"
    case = CaseFolder(case_dir(output_dir.resolve(), run_id))  # absolute: approve may run from elsewhere
    data = {"finding": finding.redacted().to_json_dict(), "regions": list(regions or [finding.region])}
    records, journal = Records(store), Journal(store)
    clients = _clients(target, finding.account_id, role_name, run_id)
    records.create_run(run_id, playbook.name, finding, data, execute=execute, auto_approve=auto_approve,
                       case_dir=case.root, started_at=started)
    journal.append(ACTOR, "respond.run", finding.resource.id, dry_run=not execute,
                   details={"run_id": run_id, "playbook": playbook.name, "finding_id": finding.id,
                            "execute": execute, "auto_approve": auto_approve})
    case.write_json("finding.json", finding.redacted().to_json_dict())
    case.write_json("playbook.asl.json", playbook.definition)
    run = records.get_run(run_id)
    if execute and auto_approve:
        result = _pass(run, playbook.definition, Mode.EXECUTE, clients, store, case)
    else:
        result = _pass(run, playbook.definition, Mode.PLAN, clients, store, case)
        if execute and result.status is RunStatus.PLANNED:
            if result.pending:  # the disruptive steps with changes to make wait for `respond approve`
                result = replace(result, status=RunStatus.AWAITING_APPROVAL)
            else:
                result = _pass(run, playbook.definition, Mode.EXECUTE, clients, store, case)
        elif not execute:
            result = replace(result, pending=[])
    return _finish(run, result, store, case)


def approve(run_id: str, *, store: Store, target: AwsTarget, role_name: str | None = None) -> RunResult:
    """Approve the steps ``run_id`` waits for and carry on (the playbook runs again from the start)."""
    records = Records(store)
    run = records.get_run(run_id)
    if run.status is not RunStatus.AWAITING_APPROVAL:
        raise BadInputError("RUN_ID", f"run {run_id} is {run.status.value}; only a run awaiting approval can be "
                                      "approved")
    approved = list(dict.fromkeys([*run.approved, *run.pending]))
    Journal(store).append(ACTOR, "respond.approve", run.finding.resource.id, dry_run=False,
                          details={"run_id": run_id, "approved": run.pending})
    records.update_run(run_id, status=RunStatus.AWAITING_APPROVAL, approved=approved)
    run = records.get_run(run_id)
    playbook = load_playbook(run.playbook)
    case = CaseFolder(run.case_dir)
    clients = _clients(target, run.account_id, role_name, run_id)
    return _finish(run, _pass(run, playbook.definition, Mode.EXECUTE, clients, store, case), store, case)


def rollback(run_id: str, *, store: Store, target: AwsTarget, role_name: str | None = None) -> RollbackResult:
    """Undo what ``run_id`` changed, newest change first; irreversible changes are reported, not hidden."""
    records, journal = Records(store), Journal(store)
    run = records.get_run(run_id)
    case = CaseFolder(run.case_dir)
    ctx = _context(run, _clients(target, run.account_id, role_name, run_id), case)
    restored: list[str] = []
    failed: list[str] = []
    for undo in reversed([u for u in records.undo_records(run_id) if u.undone_at is None]):
        action = get_action(undo.action)
        journal.append(ACTOR, action.name, run.finding.resource.id, dry_run=False,
                       details={"run_id": run_id, "step": undo.step, "phase": "rollback", "undo": undo.undo})
        try:
            messages = action.rollback(ctx, undo.undo)
        except StatesError as exc:
            failed.append(f"{undo.step}: {exc.error}: {exc.cause}")
            continue
        except botocore.exceptions.ClientError as exc:
            failed.append(f"{undo.step}: {exc}")
            continue
        records.mark_undone(run_id, undo.seq)
        restored += messages
        journal.append(ACTOR, action.name, run.finding.resource.id, dry_run=False,
                       details={"run_id": run_id, "step": undo.step, "phase": "rolled-back", "restored": messages})
    status = RunStatus.FAILED if failed else RunStatus.ROLLED_BACK
    records.update_run(run_id, status=status, pending=[], error="; ".join(failed) or None)
    case.write_json("rollback.json", {"run_id": run_id, "restored": restored, "failed": failed})
    _write_audit(case, journal, run_id)
    return RollbackResult(run_id, status, restored, failed, case.root)


def runs(store: Store) -> list[RunRecord]:
    return Records(store).runs()


# --- internals ---------------------------------------------------------------------------------------------


def _clients(target: AwsTarget, account_id: str, role_name: str | None, run_id: str) -> ClientMaker:
    """Clients acting in ``account_id``: the caller's own, or a role assumed there with ``role_name``.

    Every call, the identity check and the AssumeRole included, carries ``cloudwarden-respond/<run_id>``.
    """
    session = marked_session(make_session(target), run_id)
    caller = caller_identity(session, target)["Account"]
    if caller != account_id:
        if not role_name:
            raise BadInputError("--role-name", f"the finding is in account {account_id} but the credentials are "
                                               f"for {caller}; pass --role-name to act through a role there")
        arn = role_arn(account_id, role_name)
        try:
            session = marked_session(assume_role_session(session, target, arn), run_id)
        except botocore.exceptions.ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            raise CredentialsRefused(f"cannot assume {arn} ({code})") from None
    return ClientFactory(target, session, account_id).client


def _context(run: RunRecord, clients: ClientMaker, case: CaseFolder) -> ActionContext:
    return ActionContext(clients, run.account_id, run.region, run.id, run.started_at, case.evidence)


def _pass(run: RunRecord, definition: dict[str, Any], mode: Mode, clients: ClientMaker, store: Store,
          case: CaseFolder) -> RunResult:
    steps = StepRunner(mode, _context(run, clients, case), Journal(store), Records(store), run.id,
                       approved=frozenset(run.approved), auto_approve=run.auto_approve)
    machine = StateMachine(definition, steps, name=run.playbook)
    status, error, output = RunStatus.PLANNED if mode is Mode.PLAN else RunStatus.SUCCEEDED, None, None
    pending: list[str] = list(steps.needs_approval)
    try:
        output = machine.run(run.input, execution_id=run.id, start_time=run.started_at)
        pending = list(steps.needs_approval)
    except AwaitingApproval as waiting:
        status, pending = RunStatus.AWAITING_APPROVAL, [waiting.key]
    except ExecutionFailed as failed:
        status, error = RunStatus.FAILED, str(failed)
    name = "plan.json" if mode is Mode.PLAN else f"execution-{_count(case.root, 'execution-') + 1}.json"
    case.write_json(name, {"run_id": run.id, "mode": mode.value, "status": status.value, "error": error,
                           "pending": pending, "steps": [s.to_json() for s in steps.steps], "output": output})
    return RunResult(run.id, run.playbook, status, steps.steps, case.root, pending, error, output)


def _finish(run: RunRecord, result: RunResult, store: Store, case: CaseFolder) -> RunResult:
    Records(store).update_run(run.id, status=result.status, pending=result.pending, error=result.error)
    journal = Journal(store)
    journal.append(ACTOR, "respond.pass", run.finding.resource.id, dry_run=not run.execute,
                   details={"run_id": run.id, "status": result.status.value, "pending": result.pending,
                            "error": result.error})
    _write_audit(case, journal, run.id)
    return result


def _write_audit(case: CaseFolder, journal: Journal, run_id: str) -> None:
    entries = [{"seq": e.seq, "at": e.at.isoformat(), "actor": e.actor, "action": e.action, "target": e.target,
                "dry_run": e.dry_run, "details": e.details, "prev_hash": e.prev_hash, "hash": e.hash}
               for e in journal.entries(run_id=run_id)]
    case.write_json("audit.json", entries)
    case.write_manifest(run_id, journal.head())


def _count(folder: Path, prefix: str) -> int:
    return sum(1 for p in folder.glob(f"{prefix}*.json")) if folder.exists() else 0
