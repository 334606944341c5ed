"""The ASL interpreter: every state type, the data flow of one state, Retry/Catch, Parallel and Map."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from cloudwarden.core.errors import BadInputError
from cloudwarden.respond.asl import ExecutionFailed, StateMachine, StatesError, TaskCall

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


class Tasks:
    """A task invoker that records calls and answers from a table of functions."""

    def __init__(self, **handlers: Any) -> None:
        self.handlers = handlers
        self.calls: list[TaskCall] = []

    def __call__(self, call: TaskCall) -> Any:
        self.calls.append(call)
        handler = self.handlers[call.resource.removesuffix(".waitForTaskToken").rsplit(".", 1)[-1]]
        return handler(call)


def machine(states: dict[str, Any], start: str, tasks: Tasks | None = None, **kwargs: Any) -> StateMachine:
    sleeps: list[float] = []
    built = StateMachine({"StartAt": start, "States": states}, tasks or Tasks(), sleep=sleeps.append,
                         clock=lambda: NOW, **kwargs)
    built.sleeps = sleeps  # type: ignore[attr-defined]
    return built


def test_pass_applies_paths_in_asl_order() -> None:
    m = machine({"P": {"Type": "Pass", "InputPath": "$.in", "Parameters": {"x.$": "$.v", "lit": 1},
                       "ResultPath": "$.out", "OutputPath": "$.out", "End": True}}, "P")
    # Parameters read the effective input ($.in); ResultPath writes into the raw input; OutputPath filters.
    assert m.run({"in": {"v": 7}, "other": 1}) == {"x": 7, "lit": 1}


def test_pass_result_and_null_paths() -> None:
    m = machine({"P": {"Type": "Pass", "Result": {"r": 1}, "ResultPath": "$.r", "Next": "Q"},
                 "Q": {"Type": "Pass", "ResultPath": None, "InputPath": None, "End": True}}, "P")
    assert m.run({"a": 1}) == {"a": 1, "r": {"r": 1}}


def test_task_gets_parameters_context_and_result_selector() -> None:
    tasks = Tasks(echo=lambda call: {"got": call.parameters, "noise": 1})
    m = machine({"T": {"Type": "Task", "Resource": "cloudwarden:test.echo",
                       "Parameters": {"who.$": "$.user", "run.$": "$$.Execution.Id",
                                      "msg.$": "States.Format('hi {}', $.user)"},
                       "ResultSelector": {"echoed.$": "$.got"}, "ResultPath": "$.t", "End": True}}, "T", tasks)
    out = m.run({"user": "bob"}, execution_id="run-9")
    assert out == {"user": "bob", "t": {"echoed": {"who": "bob", "run": "run-9", "msg": "hi bob"}}}
    assert tasks.calls[0].path == "T" and tasks.calls[0].attempt == 0


def test_missing_parameter_path_fails_the_run_with_its_name() -> None:
    m = machine({"T": {"Type": "Task", "Resource": "cloudwarden:test.echo", "Parameters": {"x.$": "$.nope"},
                       "End": True}}, "T", Tasks(echo=lambda c: 1))
    with pytest.raises(ExecutionFailed) as caught:
        m.run({})
    assert caught.value.error == "States.ParameterPathFailure" and caught.value.state == "T"


RULES = [
    ({"Variable": "$.s", "StringEquals": "abc"}, True),
    ({"Variable": "$.s", "StringMatches": "a*c"}, True),
    ({"Variable": "$.s", "StringMatches": "a\\*c"}, False),
    ({"Variable": "$.s", "StringLessThan": "abd"}, True),
    ({"Variable": "$.n", "NumericGreaterThanEquals": 3}, True),
    ({"Variable": "$.n", "NumericLessThanPath": "$.m"}, True),
    ({"Variable": "$.n", "StringEquals": "3"}, False),  # wrong type: false, not an error
    ({"Variable": "$.b", "BooleanEquals": False}, True),
    ({"Variable": "$.t", "TimestampGreaterThan": "2025-01-01T00:00:00Z"}, True),
    ({"Variable": "$.t", "IsTimestamp": True}, True),
    ({"Variable": "$.z", "IsNull": True}, True),
    ({"Variable": "$.absent", "IsPresent": False}, True),
    ({"Variable": "$.n", "IsNumeric": True}, True),
    ({"And": [{"Variable": "$.n", "NumericEquals": 3}, {"Not": {"Variable": "$.s", "StringEquals": "x"}}]}, True),
    ({"Or": [{"Variable": "$.n", "NumericEquals": 4}, {"Variable": "$.b", "BooleanEquals": True}]}, False),
]


@pytest.mark.parametrize(("rule", "expected"), RULES)
def test_choice_rules(rule: dict[str, Any], expected: bool) -> None:
    m = machine({"C": {"Type": "Choice", "Choices": [{**rule, "Next": "Yes"}], "Default": "No"},
                 "Yes": {"Type": "Pass", "Result": "yes", "End": True},
                 "No": {"Type": "Pass", "Result": "no", "End": True}}, "C")
    data = {"s": "abc", "n": 3, "m": 4, "b": False, "t": "2026-01-01T00:00:00Z", "z": None}
    assert m.run(data) == ("yes" if expected else "no")


def test_choice_without_match_or_default_fails_and_bad_variable_is_runtime() -> None:
    states = {"C": {"Type": "Choice", "Choices": [{"Variable": "$.n", "NumericEquals": 1, "Next": "E"}]},
              "E": {"Type": "Succeed"}}
    with pytest.raises(ExecutionFailed) as caught:
        machine(states, "C").run({"n": 2})
    assert caught.value.error == "States.NoChoiceMatched"
    with pytest.raises(ExecutionFailed) as caught:
        machine(states, "C").run({})
    assert caught.value.error == "States.Runtime"


def test_wait_seconds_path_and_timestamp() -> None:
    later = (NOW + timedelta(seconds=90)).isoformat()
    m = machine({"A": {"Type": "Wait", "Seconds": 5, "Next": "B"},
                 "B": {"Type": "Wait", "SecondsPath": "$.s", "Next": "C"},
                 "C": {"Type": "Wait", "Timestamp": later, "Next": "D"},
                 "D": {"Type": "Wait", "TimestampPath": "$.past", "End": True}}, "A")
    assert m.run({"s": 2, "past": "2000-01-01T00:00:00Z"}) == {"s": 2, "past": "2000-01-01T00:00:00Z"}
    assert m.sleeps == [5.0, 2.0, 90.0, 0.0]  # type: ignore[attr-defined]


def test_succeed_and_fail() -> None:
    assert machine({"S": {"Type": "Succeed", "OutputPath": "$.a"}}, "S").run({"a": 1}) == 1
    with pytest.raises(ExecutionFailed) as caught:
        machine({"F": {"Type": "Fail", "ErrorPath": "$.e", "Cause": "because"}}, "F").run({"e": "Custom.Err"})
    assert (caught.value.error, caught.value.cause) == ("Custom.Err", "because")


def flaky(failures: int, error: str = "IAM.Throttling") -> Any:
    def handler(call: TaskCall) -> Any:
        if call.attempt < failures:
            raise StatesError(error, f"attempt {call.attempt}")
        return {"attempts": call.attempt + 1}
    return handler


def test_retry_backs_off_then_succeeds() -> None:
    tasks = Tasks(f=flaky(3))
    m = machine({"T": {"Type": "Task", "Resource": "cloudwarden:x.f", "End": True, "Retry": [
        {"ErrorEquals": ["Other"], "MaxAttempts": 5},
        {"ErrorEquals": ["IAM.Throttling"], "IntervalSeconds": 1, "BackoffRate": 3, "MaxAttempts": 3,
         "MaxDelaySeconds": 5}]}}, "T", tasks)
    assert m.run({}) == {"attempts": 4}
    assert m.sleeps == [1.0, 3.0, 5.0]  # type: ignore[attr-defined]


def test_retries_exhausted_go_to_catch_with_error_output() -> None:
    m = machine({"T": {"Type": "Task", "Resource": "cloudwarden:x.f", "End": True,
                       "Retry": [{"ErrorEquals": ["States.ALL"], "MaxAttempts": 1}],
                       "Catch": [{"ErrorEquals": ["Nope"], "Next": "X"},
                                 {"ErrorEquals": ["States.TaskFailed"], "ResultPath": "$.err", "Next": "H"}]},
                 "X": {"Type": "Fail"},
                 "H": {"Type": "Pass", "End": True}}, "T", Tasks(f=flaky(5)))
    assert m.run({"keep": 1}) == {"keep": 1, "err": {"Error": "IAM.Throttling", "Cause": "attempt 1"}}


def test_task_failed_wildcard_does_not_match_timeout_and_runtime_is_uncatchable() -> None:
    states = {"T": {"Type": "Task", "Resource": "cloudwarden:x.f", "End": True,
                    "Catch": [{"ErrorEquals": ["States.TaskFailed"], "Next": "H"}]},
              "H": {"Type": "Succeed"}}
    with pytest.raises(ExecutionFailed):
        machine(states, "T", Tasks(f=flaky(1, "States.Timeout"))).run({})
    states["T"]["Catch"] = [{"ErrorEquals": ["States.ALL"], "Next": "H"}]
    with pytest.raises(ExecutionFailed) as caught:
        machine(states, "T", Tasks(f=flaky(1, "States.Runtime"))).run({})
    assert caught.value.error == "States.Runtime"


def test_exceptions_that_are_not_states_errors_pass_through_catch() -> None:
    class Pause(Exception):
        pass

    def pause(call: TaskCall) -> Any:
        raise Pause

    states = {"T": {"Type": "Task", "Resource": "cloudwarden:x.p", "End": True,
                    "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "H"}]}, "H": {"Type": "Succeed"}}
    with pytest.raises(Pause):
        machine(states, "T", Tasks(p=pause)).run({})


def test_parallel_runs_branches_in_order_and_fails_with_the_branch_error() -> None:
    tasks = Tasks(f=lambda call: call.parameters["n"] * 10)
    branch = {"StartAt": "B{n}", "States": {"B{n}": {"Type": "Task", "Resource": "cloudwarden:x.f",
                                                  "Parameters": {"n": 0}, "End": True}}}

    def make(n: int) -> dict[str, Any]:
        return {"StartAt": f"B{n}", "States": {f"B{n}": {**branch["States"]["B{n}"], "Parameters": {"n": n}}}}

    m = machine({"P": {"Type": "Parallel", "Branches": [make(1), make(2)], "ResultPath": "$.r", "End": True}},
                "P", tasks)
    assert m.run({}) == {"r": [10, 20]}
    assert [c.path for c in tasks.calls] == ["P[0]/B1", "P[1]/B2"]
    failing = {"StartAt": "F", "States": {"F": {"Type": "Fail", "Error": "Branch.Boom"}}}
    m = machine({"P": {"Type": "Parallel", "Branches": [make(1), failing], "End": True,
                       "Catch": [{"ErrorEquals": ["Branch.Boom"], "ResultPath": "$.e", "Next": "H"}]},
                 "H": {"Type": "Pass", "End": True}}, "P", tasks)
    assert m.run({})["e"]["Error"] == "Branch.Boom"


def test_map_with_item_selector_context_and_result_path() -> None:
    tasks = Tasks(f=lambda call: f"{call.parameters['i']}:{call.parameters['v']}")
    m = machine({"M": {"Type": "Map", "ItemsPath": "$.items",
                       "ItemSelector": {"v.$": "$$.Map.Item.Value", "i.$": "$$.Map.Item.Index", "k.$": "$.k"},
                       "ItemProcessor": {"StartAt": "T", "States": {"T": {
                           "Type": "Task", "Resource": "cloudwarden:x.f", "End": True}}},
                       "ResultPath": "$.out", "End": True}}, "M", tasks)
    assert m.run({"items": ["a", "b"], "k": 1}) == {"items": ["a", "b"], "k": 1, "out": ["0:a", "1:b"]}
    assert [c.path for c in tasks.calls] == ["M[0]/T", "M[1]/T"]


def test_map_over_a_non_array_is_a_runtime_error() -> None:
    m = machine({"M": {"Type": "Map", "ItemsPath": "$.x", "Iterator": {"StartAt": "P", "States": {
        "P": {"Type": "Pass", "End": True}}}, "End": True}}, "M")
    with pytest.raises(ExecutionFailed) as caught:
        m.run({"x": {"not": "a list"}})
    assert caught.value.error == "States.Runtime"


def test_wait_for_task_token_gets_a_token() -> None:
    tasks = Tasks(f=lambda call: call.context["Task"]["Token"])
    m = machine({"T": {"Type": "Task", "Resource": "cloudwarden:x.f.waitForTaskToken", "End": True}}, "T", tasks)
    assert m.run({}, execution_id="run-1") == "run-1/T"


@pytest.mark.parametrize(("definition", "where"), [
    ({"StartAt": "X", "States": {"A": {"Type": "Succeed"}}}, "StartAt"),
    ({"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "B"}}}, "A"),
    ({"StartAt": "A", "States": {"A": {"Type": "Sleep", "End": True}}}, "A"),
    ({"StartAt": "A", "QueryLanguage": "JSONata", "States": {"A": {"Type": "Succeed"}}}, "QueryLanguage"),
])
def test_broken_definitions_are_refused_before_running(definition: dict[str, Any], where: str) -> None:
    with pytest.raises(BadInputError) as caught:
        StateMachine(definition, Tasks())
    assert where in str(caught.value)
