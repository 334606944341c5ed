"""``respond export``: a playbook as an AWS Step Functions definition whose tasks are Lambda functions.

Our Task resources (``cloudwarden:iam.deactivate-access-key``) become Lambda function ARNs: the
``--function-arn-prefix`` followed by the action's name with dots as dashes
(``arn:aws:lambda:us-east-1:111122223333:function:cloudwarden-`` + ``iam-deactivate-access-key``), so
the same playbook runs on Step Functions with one function per action. A ``.waitForTaskToken`` task
becomes the ``lambda:invoke.waitForTaskToken`` integration, its parameters passed as the payload
with the task token (``$$.Task.Token``), which is how Step Functions waits for a person's approval.
Everything else (states, paths, Retry, Catch) is ASL already and is kept as it is; the result is
validated against the same ASL schemas before it is returned.
"""

from __future__ import annotations

import copy
import re
from typing import Any, Final

from cloudwarden.core.errors import BadInputError
from cloudwarden.respond.asl import WAIT_FOR_TOKEN, validate
from cloudwarden.respond.asl.validate import OUR_RESOURCE

_PREFIX: Final = re.compile(r"^arn:(aws[a-z-]*):lambda:[a-z]{2}(-[a-z]+)+-[0-9]:[0-9]{12}:function:[A-Za-z0-9_-]*$")
MAX_FUNCTION_NAME: Final = 64


def function_arn(prefix: str, action: str) -> str:
    """The Lambda function ARN an action is exported to."""
    arn = prefix + action.replace(".", "-")
    name = arn.rsplit(":", 1)[1]
    if len(name) > MAX_FUNCTION_NAME:
        raise BadInputError("--function-arn-prefix", f"the function name {name!r} would be longer than Lambda's "
                                                     f"{MAX_FUNCTION_NAME} characters; use a shorter prefix")
    return arn


def export_definition(definition: dict[str, Any], function_arn_prefix: str) -> dict[str, Any]:
    """``definition`` with every ``cloudwarden:`` Task resource mapped to a Lambda function (see module doc)."""
    match = _PREFIX.match(function_arn_prefix)
    if match is None:
        raise BadInputError("--function-arn-prefix", f"{function_arn_prefix!r} is not the start of a Lambda function "
                                                     "ARN (arn:aws:lambda:REGION:ACCOUNT:function:NAME-PREFIX)")
    partition = match.group(1)
    exported = copy.deepcopy(definition)

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            resource = node.get("Resource")
            if node.get("Type") == "Task" and isinstance(resource, str) and OUR_RESOURCE.match(resource):
                action = resource.removeprefix("cloudwarden:").removesuffix(WAIT_FOR_TOKEN)
                arn = function_arn(function_arn_prefix, action)
                if resource.endswith(WAIT_FOR_TOKEN):
                    payload = dict(node.get("Parameters") or {"Input.$": "$"})
                    payload["TaskToken.$"] = "$$.Task.Token"
                    node["Resource"] = f"arn:{partition}:states:::lambda:invoke{WAIT_FOR_TOKEN}"
                    node["Parameters"] = {"FunctionName": arn, "Payload": payload}
                else:
                    node["Resource"] = arn
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(exported)
    note = f"Exported by cloudwarden: tasks run the Lambda functions {function_arn_prefix}<action>."
    exported["Comment"] = f"{definition.get('Comment', '')} {note}".strip()
    problems = validate(exported)
    if problems:
        raise BadInputError("PLAYBOOK", f"the exported definition is not valid ASL: {problems[0]}")
    return exported
