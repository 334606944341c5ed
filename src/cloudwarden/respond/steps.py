"""The gatekeeper between the ASL interpreter and the actions: every Task a playbook runs passes here.

For each Task call, in this order:

1. the action is looked up and its parameters checked against its input schema;
2. the resources it would touch are checked for the ``cloudwarden:exclude`` tag: an excluded resource is
   never touched, in any mode (the step is audited as ``excluded`` and returns ``{"Excluded": [...]}``);
3. the step is written to the hash-chained audit log, **before** it runs;
4. in a dry run (``plan`` mode) the action's ``plan`` runs (read-only actions simply run); in ``execute``
   mode a disruptive step with changes to make waits for approval unless the run is auto-approved or the
   step was approved, and a ``.waitForTaskToken`` step (Step Functions' human-approval pattern) always
   waits for an explicit approval; otherwise the action executes, its undo record is stored, its result
   is audited and the account is re-read (``verify``).

Waiting is :class:`AwaitingApproval`, which is not a States error: no ``Catch`` in a playbook can swallow it.
A step is identified by its place in the machine and a hash of its parameters, so a run resumed after an
approval recognises the steps it already planned.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final

import botocore.exceptions
from botocore.exceptions import ClientError

from cloudwarden.core.errors import EndpointUnreachable
from cloudwarden.respond.actions import RESOURCE_PREFIX, Action, ActionContext, get_action
from cloudwarden.respond.actions.base import aws_error
from cloudwarden.respond.asl import WAIT_FOR_TOKEN, StatesError, TaskCall
from cloudwarden.respond.journal import Journal
from cloudwarden.respond.records import Records

ACTOR: Final = "cloudwarden respond"


class Mode(StrEnum):
    PLAN = "plan"
    EXECUTE = "execute"


class Outcome(StrEnum):
    PLANNED = "planned"  # dry run: what would change
    EXECUTED = "executed"  # changed the account
    UNCHANGED = "unchanged"  # executed; nothing needed changing
    COLLECTED = "collected"  # read-only action ran
    EXCLUDED = "excluded"  # a target carries cloudwarden:exclude
    AWAITING_APPROVAL = "awaiting-approval"


@dataclass(frozen=True)
class StepRecord:
    key: str
    path: str
    action: str
    outcome: Outcome
    disruptive: bool
    needs_explicit_approval: bool
    changes: list[str]
    result: Any

    def to_json(self) -> dict[str, Any]:
        return {"key": self.key, "path": self.path, "action": self.action, "outcome": self.outcome.value,
                "disruptive": self.disruptive, "needs_explicit_approval": self.needs_explicit_approval,
                "changes": self.changes, "result": self.result}


class AwaitingApproval(Exception):
    """The run stops here until ``respond approve RUN_ID``."""

    def __init__(self, key: str) -> None:
        super().__init__(f"step {key} waits for approval")
        self.key = key


def step_key(call: TaskCall) -> str:
    digest = hashlib.sha256(json.dumps(call.parameters, sort_keys=True, default=str).encode()).hexdigest()
    return f"{call.path}@{digest[:12]}"


@dataclass
class StepRunner:
    """A :class:`~cloudwarden.respond.asl.TaskInvoker` for one pass of one run."""

    mode: Mode
    ctx: ActionContext
    journal: Journal
    records: Records
    run_id: str
    approved: frozenset[str] = frozenset()
    auto_approve: bool = False
    steps: list[StepRecord] = field(default_factory=list)
    needs_approval: list[str] = field(default_factory=list)

    def __call__(self, call: TaskCall) -> Any:
        resource = str(call.resource)
        gate = resource.endswith(WAIT_FOR_TOKEN)
        action = get_action(resource.removesuffix(WAIT_FOR_TOKEN))
        params = call.parameters if isinstance(call.parameters, dict) else {}
        self._check(action, call.parameters)
        key = step_key(call)
        try:
            return self._step(call, action, params, key, gate)
        except ClientError as exc:
            raise aws_error(exc) from None
        except (botocore.exceptions.EndpointConnectionError, botocore.exceptions.ConnectTimeoutError) as exc:
            raise EndpointUnreachable(f"{action.name}: cannot reach AWS ({exc})") from None

    def _check(self, action: Action, parameters: Any) -> None:
        from jsonschema import Draft7Validator

        errors = sorted(Draft7Validator(action.input_schema).iter_errors(parameters), key=lambda e: e.path)
        if errors:
            where = "/".join(str(p) for p in errors[0].absolute_path) or "(parameters)"
            raise StatesError("cloudwarden.InvalidParameters", f"{action.name}: {where}: {errors[0].message}")

    def _audit(self, action: Action, phase: str, key: str, call: TaskCall, **details: Any) -> None:
        targets = ", ".join(str(t) for t in action.targets(call.parameters)) or self.ctx.account_id
        self.journal.append(ACTOR, action.name, targets, dry_run=self.mode is Mode.PLAN,
                            details={"run_id": self.run_id, "step": key, "phase": phase, "params": call.parameters,
                                     **details})

    def _record(self, key: str, call: TaskCall, action: Action, outcome: Outcome, gate: bool, changes: list[str],
                result: Any) -> None:
        self.steps.append(StepRecord(key, call.path, action.name, outcome, action.disruptive, gate, changes, result))

    def _step(self, call: TaskCall, action: Action, params: dict[str, Any], key: str, gate: bool) -> Any:
        excluded = [str(t) for t in action.targets(params) if self.ctx.is_excluded(t)]
        if excluded:
            self._audit(action, "excluded", key, call, excluded=excluded)
            result = {"Excluded": excluded, "Reason": "tagged cloudwarden:exclude; never touched"}
            self._record(key, call, action, Outcome.EXCLUDED, gate, [], result)
            return result
        if action.read_only:
            self._audit(action, "collect", key, call)
            outcome = action.execute(self.ctx, params)
            self._record(key, call, action, Outcome.COLLECTED, gate, [], outcome.result)
            return outcome.result
        if self.mode is Mode.PLAN:
            self._audit(action, "plan", key, call)
            plan = action.plan(self.ctx, params)
            if action.disruptive and plan.changes and not gate:
                self.needs_approval.append(key)
            self._record(key, call, action, Outcome.PLANNED, gate, plan.changes, plan.result)
            return plan.result
        return self._execute(call, action, params, key, gate)

    def _execute(self, call: TaskCall, action: Action, params: dict[str, Any], key: str, gate: bool) -> Any:
        approved = key in self.approved
        if (gate and not approved) or (action.disruptive and not self.auto_approve and not approved):
            plan = action.plan(self.ctx, params)
            if gate or plan.changes:
                self._audit(action, "awaiting-approval", key, call, changes=plan.changes)
                self._record(key, call, action, Outcome.AWAITING_APPROVAL, gate, plan.changes, plan.result)
                raise AwaitingApproval(key)
        self._audit(action, "execute", key, call, approved=approved, auto_approved=self.auto_approve and not approved)
        outcome = action.execute(self.ctx, params)
        if outcome.undo is not None:
            self.records.add_undo(self.run_id, key, action.name, outcome.undo)
        problems = action.verify(self.ctx, params, outcome.result) if outcome.changes else []
        self._audit(action, "executed", key, call, changes=outcome.changes, reversible=action.reversible,
                    verified=not problems, problems=problems)
        self._record(key, call, action, Outcome.EXECUTED if outcome.changes else Outcome.UNCHANGED, gate,
                     outcome.changes, outcome.result)
        if problems:
            raise StatesError("cloudwarden.VerificationFailed", f"{action.name}: {'; '.join(problems)}")
        return outcome.result


def action_name(resource: str) -> str:
    return resource.removeprefix(RESOURCE_PREFIX).removesuffix(WAIT_FOR_TOKEN)
