"""The errors of a state machine run, named as Amazon States Language names them.

:class:`StatesError` is the one exception Retry and Catch see: anything else a task raises (a bug, or
the runner pausing for approval) goes straight through the interpreter untouched, so a ``States.ALL``
catcher can never swallow it.
"""

from __future__ import annotations

from typing import Final

ALL: Final = "States.ALL"
TASK_FAILED: Final = "States.TaskFailed"
TIMEOUT: Final = "States.Timeout"
RUNTIME: Final = "States.Runtime"
NO_CHOICE_MATCHED: Final = "States.NoChoiceMatched"
PARAMETER_PATH_FAILURE: Final = "States.ParameterPathFailure"
RESULT_PATH_MATCH_FAILURE: Final = "States.ResultPathMatchFailure"
INTRINSIC_FAILURE: Final = "States.IntrinsicFailure"
BRANCH_FAILED: Final = "States.BranchFailed"
ITEM_READER_FAILED: Final = "States.ItemReaderFailed"

# Errors no Retry or Catch handles: the run fails (as in Step Functions).
_UNCATCHABLE: Final = frozenset({RUNTIME, "States.DataLimitExceeded"})


class StatesError(Exception):
    """A named error with a cause, raised by a state or a task."""

    def __init__(self, error: str, cause: str = "") -> None:
        super().__init__(f"{error}: {cause}" if cause else error)
        self.error = error
        self.cause = cause


class ExecutionFailed(Exception):
    """The state machine ended in failure: a Fail state, or an error nothing caught."""

    def __init__(self, error: str, cause: str, state: str) -> None:
        super().__init__(f"{error} in state {state!r}: {cause}" if cause else f"{error} in state {state!r}")
        self.error = error
        self.cause = cause
        self.state = state


def matches(error: str, names: list[str]) -> bool:
    """Whether a Retrier's or Catcher's ``ErrorEquals`` handles ``error``.

    ``States.ALL`` matches every error but the uncatchable ones; ``States.TaskFailed`` matches every error
    but ``States.Timeout`` (AWS's documented wildcard meanings).
    """
    if error in _UNCATCHABLE:
        return False
    for name in names:
        if name in (error, ALL):
            return True
        if name == TASK_FAILED and error != TIMEOUT:
            return True
    return False
