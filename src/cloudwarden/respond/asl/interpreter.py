"""A local Amazon States Language interpreter: runs a state machine definition with our own tasks.

Every state type runs (Task, Choice, Pass, Wait, Succeed, Fail, Parallel, Map), with Retry and Catch,
``InputPath``/``Parameters``/``ResultSelector``/``ResultPath``/``OutputPath`` in ASL's order, the context
object (``$$``) and intrinsic functions. A Task's ``Resource`` is handed, with its parameters, to the
:class:`TaskInvoker` the caller supplies; the interpreter knows nothing of AWS.

Deliberate differences from Step Functions, for a local runner whose order must be reproducible:
Parallel branches and Map iterations run one after another (in order), not concurrently; a task's
``TimeoutSeconds``/``HeartbeatSeconds`` are not enforced (our tasks are bounded API calls); JSONata and
distributed Map (``ItemReader``) are refused with a clear error.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from cloudwarden.core.errors import BadInputError
from cloudwarden.respond.asl import choice, errors, intrinsics
from cloudwarden.respond.asl.errors import ExecutionFailed, StatesError
from cloudwarden.respond.asl.paths import (
    PathNotFound,
    PathSyntaxError,
    ResultPathMismatch,
    place,
    select,
)

WAIT_FOR_TOKEN = ".waitForTaskToken"


@dataclass(frozen=True)
class TaskCall:
    """One invocation of a Task: where it is in the machine and what it was given."""

    resource: str
    parameters: Any
    state: str  # the state's name
    path: str  # where it runs: "Contain/Deactivate", "Eradicate[1]/DeleteLogin" (Map item 1)
    attempt: int  # 0 first, then 1, 2... on retries
    context: dict[str, Any]  # the context object ($$) for this state


class TaskInvoker(Protocol):
    def __call__(self, call: TaskCall) -> Any: ...


@dataclass
class _Scope:
    """What a (sub-)machine runs in: its states, its place, the context object it extends."""

    states: dict[str, Any]
    prefix: str
    context: dict[str, Any]


@dataclass
class StateMachine:
    """A parsed definition. ``run(input)`` returns the output or raises :class:`ExecutionFailed`."""

    definition: dict[str, Any]
    invoke: TaskInvoker
    name: str = "state-machine"
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    rng: random.Random = field(default_factory=random.Random)

    def __post_init__(self) -> None:
        if not isinstance(self.definition, dict):
            raise BadInputError(self.name, "a state machine definition is a JSON object")
        if self.definition.get("QueryLanguage", "JSONPath") != "JSONPath":
            raise BadInputError(f"{self.name}#/QueryLanguage", "only JSONPath is supported, not JSONata")
        _check_machine(self.definition, self.name)

    def run(self, data: Any, *, execution_id: str = "", start_time: datetime | None = None) -> Any:
        started = start_time or self.clock()
        context: dict[str, Any] = {
            "Execution": {"Id": execution_id or self.name, "Input": data, "Name": execution_id or self.name,
                          "StartTime": _iso(started)},
            "StateMachine": {"Id": self.name, "Name": self.name},
        }
        scope = _Scope(self.definition["States"], "", context)
        return self._machine(scope, self.definition["StartAt"], data)

    # --- running a (sub-)machine --------------------------------------------------------------------

    def _machine(self, scope: _Scope, start_at: str, data: Any) -> Any:
        current: str | None = start_at
        while current is not None:
            name = current
            try:
                data, current = self._state(scope, name, scope.states[name], data)
            except StatesError as exc:
                raise ExecutionFailed(exc.error, exc.cause, scope.prefix + name) from exc
        return data

    def _state(self, scope: _Scope, name: str, state: dict[str, Any], raw: Any) -> tuple[Any, str | None]:
        kind = state["Type"]
        context = {**scope.context, "State": {"Name": name, "EnteredTime": _iso(self.clock()), "RetryCount": 0}}
        if kind == "Fail":
            raise StatesError(*self._fail(state, raw, context))
        if kind == "Succeed":
            return _output(state, _input(state, raw, context), context), None
        if kind == "Choice":
            effective = _input(state, raw, context)
            for rule in state["Choices"]:
                if choice.evaluate(rule, effective, context):
                    return _output(state, effective, context), rule["Next"]
            if "Default" in state:
                return _output(state, effective, context), state["Default"]
            raise StatesError(errors.NO_CHOICE_MATCHED, f"no Choice rule matched in {name!r} and there is no Default")
        if kind == "Wait":
            effective = _input(state, raw, context)
            self.sleep(self._wait_seconds(state, effective, context))
            return _output(state, effective, context), _next(state)
        if kind == "Pass":
            effective = _parameters(state, _input(state, raw, context), context, "Parameters")
            result = state.get("Result", effective)
            return _output(state, _result(state, raw, result), context), _next(state)
        return self._with_retry(scope, name, state, raw, context)

    def _with_retry(self, scope: _Scope, name: str, state: dict[str, Any], raw: Any,
                    context: dict[str, Any]) -> tuple[Any, str | None]:
        """Task, Parallel and Map: run, retrying per ``Retry``; on failure, the first matching ``Catch``."""
        tries: dict[int, int] = {}
        attempt = 0
        while True:
            try:
                context["State"]["RetryCount"] = attempt
                result = self._work(scope, name, state, raw, context, attempt)
                result = _parameters(state, result, context, "ResultSelector")
                return _output(state, _result(state, raw, result), context), _next(state)
            except StatesError as exc:
                delay = self._retry_delay(state.get("Retry", []), exc.error, tries)
                if delay is not None:
                    self.sleep(delay)
                    attempt += 1
                    continue
                for catcher in state.get("Catch", []):
                    if errors.matches(exc.error, catcher["ErrorEquals"]):
                        report = {"Error": exc.error, "Cause": exc.cause}
                        try:
                            output = place(catcher.get("ResultPath", "$"), raw, report)
                        except ResultPathMismatch as mismatch:
                            raise StatesError(errors.RESULT_PATH_MATCH_FAILURE, str(mismatch)) from None
                        return output, catcher["Next"]
                raise

    def _retry_delay(self, retriers: list[dict[str, Any]], error: str, tries: dict[int, int]) -> float | None:
        for index, retrier in enumerate(retriers):
            if not errors.matches(error, retrier["ErrorEquals"]):
                continue
            done = tries.get(index, 0)
            if done >= retrier.get("MaxAttempts", 3):
                return None
            tries[index] = done + 1
            delay = float(retrier.get("IntervalSeconds", 1)) * float(retrier.get("BackoffRate", 2.0)) ** done
            if "MaxDelaySeconds" in retrier:
                delay = min(delay, float(retrier["MaxDelaySeconds"]))
            if retrier.get("JitterStrategy") == "FULL":
                delay = self.rng.uniform(0, delay)
            return delay
        return None

    def _work(self, scope: _Scope, name: str, state: dict[str, Any], raw: Any, context: dict[str, Any],
              attempt: int) -> Any:
        kind = state["Type"]
        path = scope.prefix + name
        if kind == "Task":
            parameters = _parameters(state, _input(state, raw, context), context, "Parameters")
            if str(state["Resource"]).endswith(WAIT_FOR_TOKEN):
                context = {**context, "Task": {"Token": f"{context['Execution']['Id']}/{path}"}}
            return self.invoke(TaskCall(state["Resource"], parameters, name, path, attempt, context))
        effective = _parameters(state, _input(state, raw, context), context, "Parameters") \
            if kind == "Parallel" else _input(state, raw, context)
        if kind == "Parallel":
            outputs = []
            for index, branch in enumerate(state["Branches"]):
                sub = _Scope(branch["States"], f"{path}[{index}]/", scope.context)
                outputs.append(self._branch(sub, branch["StartAt"], effective))
            return outputs
        return self._map(scope, path, state, effective, context)

    def _branch(self, scope: _Scope, start_at: str, data: Any) -> Any:
        try:
            return self._machine(scope, start_at, data)
        except ExecutionFailed as failed:
            raise StatesError(failed.error, failed.cause) from failed

    def _map(self, scope: _Scope, path: str, state: dict[str, Any], effective: Any, context: dict[str, Any]) -> Any:
        if "ItemReader" in state:
            raise StatesError(errors.RUNTIME, f"{path}: distributed Map (ItemReader) is not supported locally")
        processor: dict[str, Any] = state.get("ItemProcessor") or state["Iterator"]
        if "Items" in state:
            items = _template(state["Items"], effective, context, "Items") if isinstance(state["Items"], dict) \
                else state["Items"]
        else:
            items = _select(state.get("ItemsPath", "$"), effective, context, errors.RUNTIME, "ItemsPath")
        if not isinstance(items, list):
            raise StatesError(errors.RUNTIME, f"{path}: the items to iterate over must be an array, "
                                              f"got {type(items).__name__}")
        selector_key = "ItemSelector" if "ItemSelector" in state else "Parameters"
        outputs = []
        for index, item in enumerate(items):
            item_context = {**context, "Map": {"Item": {"Index": index, "Value": item}}}
            if selector_key in state:
                item_input = _template(state[selector_key], effective, item_context, selector_key)
            else:
                item_input = item
            sub = _Scope(processor["States"], f"{path}[{index}]/", {**scope.context, "Map": item_context["Map"]})
            outputs.append(self._branch(sub, processor["StartAt"], item_input))
        return outputs

    def _wait_seconds(self, state: dict[str, Any], data: Any, context: dict[str, Any]) -> float:
        if "Seconds" in state:
            return float(state["Seconds"])
        if "SecondsPath" in state:
            value = _select(state["SecondsPath"], data, context, errors.RUNTIME, "SecondsPath")
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise StatesError(errors.RUNTIME, f"SecondsPath selected {value!r}, not a non-negative integer")
            return float(value)
        stamp = state["Timestamp"] if "Timestamp" in state else \
            _select(state["TimestampPath"], data, context, errors.RUNTIME, "TimestampPath")
        try:
            when = datetime.fromisoformat(str(stamp))
        except ValueError:
            raise StatesError(errors.RUNTIME, f"{stamp!r} is not an ISO-8601 timestamp") from None
        if when.tzinfo is None:
            raise StatesError(errors.RUNTIME, f"{stamp!r} has no time zone")
        return max(0.0, (when - self.clock()).total_seconds())

    @staticmethod
    def _fail(state: dict[str, Any], raw: Any, context: dict[str, Any]) -> tuple[str, str]:
        error = state.get("Error", "States.Fail")
        cause = state.get("Cause", "")
        if "ErrorPath" in state:
            error = _evaluate(state["ErrorPath"], raw, context, errors.RUNTIME, "ErrorPath")
        if "CausePath" in state:
            cause = _evaluate(state["CausePath"], raw, context, errors.RUNTIME, "CausePath")
        return str(error), str(cause)


# --- the data flow of one state ----------------------------------------------------------------------------


def _input(state: dict[str, Any], raw: Any, context: dict[str, Any]) -> Any:
    if "InputPath" in state and state["InputPath"] is None:
        return {}
    return _select(state.get("InputPath", "$"), raw, context, errors.RUNTIME, "InputPath")


def _output(state: dict[str, Any], data: Any, context: dict[str, Any]) -> Any:
    if "OutputPath" in state and state["OutputPath"] is None:
        return {}
    return _select(state.get("OutputPath", "$"), data, context, errors.RUNTIME, "OutputPath")


def _result(state: dict[str, Any], raw: Any, result: Any) -> Any:
    try:
        return place(state.get("ResultPath", "$"), raw, result)
    except ResultPathMismatch as exc:
        raise StatesError(errors.RESULT_PATH_MATCH_FAILURE, str(exc)) from None


def _parameters(state: dict[str, Any], data: Any, context: dict[str, Any], key: str) -> Any:
    if key not in state:
        return data
    return _template(state[key], data, context, key)


def _template(template: Any, data: Any, context: dict[str, Any], where: str) -> Any:
    """A payload template: ``"Key.$"`` fields are paths or intrinsic calls, the rest literal."""
    if isinstance(template, list):
        return [_template(item, data, context, where) for item in template]
    if not isinstance(template, dict):
        return template
    out: dict[str, Any] = {}
    for key, value in template.items():
        if key.endswith(".$"):
            out[key[:-2]] = _evaluate(value, data, context, errors.PARAMETER_PATH_FAILURE, f"{where}.{key}")
        else:
            out[key] = _template(value, data, context, where)
    return out


def _evaluate(expression: Any, data: Any, context: dict[str, Any], error: str, where: str) -> Any:
    if isinstance(expression, str) and intrinsics.is_intrinsic(expression):
        return intrinsics.evaluate(expression, data, context)
    return _select(expression, data, context, error, where)


def _select(expression: Any, data: Any, context: dict[str, Any], error: str, where: str) -> Any:
    try:
        return select(expression, data, context)
    except PathNotFound:
        raise StatesError(error, f"the JSONPath {expression!r} specified for {where} could not be found "
                                 "in the input") from None
    except PathSyntaxError as exc:
        raise StatesError(errors.RUNTIME, f"{where}: {exc}") from None


def _next(state: dict[str, Any]) -> str | None:
    return None if state.get("End") else state["Next"]


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# --- structural checks the interpreter relies on ----------------------------------------------------------

_TYPES = frozenset({"Task", "Choice", "Pass", "Wait", "Succeed", "Fail", "Parallel", "Map"})


def _check_machine(machine: dict[str, Any], where: str) -> None:
    """What running needs: StartAt names a state, every state has a known Type and its transitions exist.

    Full validation against the ASL schemas is :func:`cloudwarden.respond.asl.validate.validate`.
    """
    states = machine.get("States")
    if not isinstance(states, dict) or not states:
        raise BadInputError(f"{where}#/States", "a state machine needs a non-empty States object")
    if machine.get("StartAt") not in states:
        raise BadInputError(f"{where}#/StartAt", f"{machine.get('StartAt')!r} is not one of the States")
    for name, state in states.items():
        here = f"{where}#/States/{name}"
        if not isinstance(state, dict) or state.get("Type") not in _TYPES:
            raise BadInputError(here, f"Type must be one of {', '.join(sorted(_TYPES))}")
        targets = [state.get("Next"), state.get("Default")]
        targets += [rule.get("Next") for rule in state.get("Choices", [])]
        targets += [catcher.get("Next") for catcher in state.get("Catch", [])]
        for target in targets:
            if target is not None and target not in states:
                raise BadInputError(here, f"transition to {target!r}, which is not a state here")
        if state["Type"] not in ("Choice", "Succeed", "Fail") and not state.get("End") and "Next" not in state:
            raise BadInputError(here, "a state needs Next or End: true")
        for index, branch in enumerate(state.get("Branches", [])):
            _check_machine(branch, f"{here}/Branches/{index}")
        processor = state.get("ItemProcessor") or state.get("Iterator")
        if state["Type"] == "Map":
            if not isinstance(processor, dict):
                raise BadInputError(here, "a Map state needs an ItemProcessor")
            _check_machine(processor, f"{here}/ItemProcessor")
