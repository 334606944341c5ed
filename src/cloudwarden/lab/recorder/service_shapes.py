"""Where a service's CloudTrail records leave the generic model-derived shape (EC2 has its own module).

Data, not code, taken from the services' CloudTrail documentation and real records:

* parameters CloudTrail leaves out: Lambda's code archives (``ZipFile`` of ``CreateFunction``,
  ``UpdateFunctionCode``, ``PublishLayerVersion``), IAM console passwords (``CreateLoginProfile``
  and ``UpdateLoginProfile`` log only the user name and the reset flag);
* parameters logged emptied: Lambda's ``environment`` (``{}``; ``UpdateFunctionConfiguration``
  logs it even when the call does not change it, as in real records);
* responses logged unwrapped: RDS logs the one structure a call returns (``ModifyDBInstance``'s
  ``DBInstance``, ``ModifyDBSnapshotAttribute``'s ``DBSnapshotAttributesResult``) as the whole of
  ``responseElements``, which is why rules read ``responseElements.publiclyAccessible``.
"""

from __future__ import annotations

from typing import Any

from cloudwarden.lab.recorder.operations import Operation

# (botocore service, operation) -> paths of request parameters CloudTrail does not log.
OMITTED: dict[tuple[str, str], tuple[tuple[str, ...], ...]] = {
    ("lambda", "CreateFunction"): (("code", "zipFile"),),
    ("lambda", "UpdateFunctionCode"): (("zipFile",),),
    ("lambda", "PublishLayerVersion"): (("content", "zipFile"),),
    ("iam", "CreateLoginProfile"): (("password",),),
    ("iam", "UpdateLoginProfile"): (("password",),),
}

# (service, operation) -> (parameter logged as {}, whether it is logged even when not sent).
EMPTIED: dict[tuple[str, str], tuple[str, bool]] = {
    ("lambda", "CreateFunction"): ("environment", False),
    ("lambda", "UpdateFunctionConfiguration"): ("environment", True),
}

UNWRAPPED_RESPONSES = frozenset({"rds.amazonaws.com"})


def adjust_request(op: Operation, params: dict[str, Any]) -> dict[str, Any]:
    key = (op.service, op.name)
    for path in OMITTED.get(key, ()):
        _drop(params, path)
    emptied = EMPTIED.get(key)
    if emptied is not None:
        name, always = emptied
        if always or name in params:
            params[name] = {}
    return params


def adjust_response(op: Operation, elements: dict[str, Any]) -> dict[str, Any]:
    if op.event_source in UNWRAPPED_RESPONSES and len(elements) == 1:
        (only,) = elements.values()
        if isinstance(only, dict):
            return only
    return elements


def _drop(params: dict[str, Any], path: tuple[str, ...]) -> None:
    node: Any = params
    for part in path[:-1]:
        node = node.get(part) if isinstance(node, dict) else None
    if isinstance(node, dict):
        node.pop(path[-1], None)
