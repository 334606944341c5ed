"""Amazon States Language, locally: the interpreter playbooks run on, and validation against ASL's schemas."""

from cloudwarden.respond.asl.errors import ExecutionFailed, StatesError
from cloudwarden.respond.asl.interpreter import WAIT_FOR_TOKEN, StateMachine, TaskCall, TaskInvoker
from cloudwarden.respond.asl.validate import validate

__all__ = ["WAIT_FOR_TOKEN", "ExecutionFailed", "StateMachine", "StatesError", "TaskCall", "TaskInvoker", "validate"]
