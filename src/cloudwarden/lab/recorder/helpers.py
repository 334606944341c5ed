"""The lab's own helper endpoints, under ``/_cloudwarden/`` on the lab's port (never recorded).

Some things that happen in an AWS account have no API a client could call: people sign in to the
console, and AWS services write logs into buckets. Scenarios and tests make them happen here.

``POST /_cloudwarden/console-login``
    JSON ``{"account_id", "user_name", "mfa_used": bool, "success": bool, "source_ip", "user_agent",
    "region"?}``. Emits an ``AwsConsoleSignIn`` record (``signin.amazonaws.com`` ``ConsoleLogin``,
    ``responseElements.ConsoleLogin`` ``Success``/``Failure``, ``errorMessage`` "Failed authentication"
    on failure, ``additionalEventData`` ``MFAUsed``/``LoginTo``/``MobileVersion``) for that IAM user,
    or the account's root user when ``user_name`` is ``"root"``. Answers ``{"eventID": ...}``.
    A successful sign-in of a user that does not exist is refused (404).

``POST /_cloudwarden/deliver``
    JSON ``{"account_id", "bucket", "key", "body_b64"}``. Writes the object into the bucket as an AWS
    service delivering logs would (VPC flow logs, Route 53 resolver query logs). Answers
    ``{"bucket", "key", "size"}``; 404 when the bucket does not exist.

``POST /_cloudwarden/flush``
    Delivers pending CloudTrail records now. Answers ``{"records", "disk_files", "trail_files", "errors"}``.

``GET /_cloudwarden/status``
    Request and record counts, calls per second, delivery state, trails and accounts.

Errors answer ``{"error": "..."}`` with status 400 (bad input) or 404.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from typing import Any

from cloudwarden.lab.recorder.core import Recorder
from cloudwarden.lab.recorder.delivery import put_object

PREFIX = "/_cloudwarden/"


class HelperError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def handle(recorder: Recorder, method: str, path: str, body: bytes) -> tuple[int, dict[str, Any]]:
    """Answer one helper request: ``(HTTP status, JSON body)``."""
    name = path[len(PREFIX) :].strip("/")
    handler = _ROUTES.get((method, name))
    if handler is None:
        known = ", ".join(f"{m} {PREFIX}{n}" for m, n in _ROUTES)
        return 404, {"error": f"no helper {method} {path} (there are: {known})"}
    try:
        payload = _json(body) if method == "POST" else {}
        return 200, handler(recorder, payload)
    except HelperError as error:
        return error.status, {"error": error.message}


def _json(body: bytes) -> dict[str, Any]:
    if not body:
        return {}
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise HelperError(400, f"request body is not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise HelperError(400, "request body must be a JSON object")
    return data


def _field(payload: dict[str, Any], name: str, kind: type, default: Any = None) -> Any:
    value = payload.get(name, default)
    if value is None or not isinstance(value, kind):
        raise HelperError(400, f"field {name!r} must be a {kind.__name__}")
    return value


def _console_login(recorder: Recorder, payload: dict[str, Any]) -> dict[str, Any]:
    account_id = _field(payload, "account_id", str)
    user_name = _field(payload, "user_name", str)
    success = _field(payload, "success", bool)
    record = recorder.console_login(
        account_id=account_id,
        user_name=user_name,
        success=success,
        mfa_used=_field(payload, "mfa_used", bool),
        source_ip=_field(payload, "source_ip", str),
        user_agent=_field(payload, "user_agent", str),
        region=_field(payload, "region", str, "us-east-1"),
    )
    if record is None:
        raise HelperError(404, f"account {account_id} has no IAM user {user_name!r}")
    return {"eventID": record["eventID"]}


def _flush(recorder: Recorder, _payload: dict[str, Any]) -> dict[str, Any]:
    return recorder.flush().as_dict()


def _status(recorder: Recorder, _payload: dict[str, Any]) -> dict[str, Any]:
    return recorder.status()


def _deliver(_recorder: Recorder, payload: dict[str, Any]) -> dict[str, Any]:
    _field(payload, "account_id", str)
    bucket = _field(payload, "bucket", str)
    key = _field(payload, "key", str)
    try:
        data = base64.b64decode(_field(payload, "body_b64", str), validate=True)
    except binascii.Error as exc:
        raise HelperError(400, f"field 'body_b64' is not base64: {exc}") from exc
    if not key:
        raise HelperError(400, "field 'key' must not be empty")
    error = put_object(bucket, key, data)
    if error:
        raise HelperError(404, error)
    return {"bucket": bucket, "key": key, "size": len(data)}


_ROUTES: dict[tuple[str, str], Callable[[Recorder, dict[str, Any]], dict[str, Any]]] = {
    ("POST", "console-login"): _console_login,
    ("POST", "deliver"): _deliver,
    ("POST", "flush"): _flush,
    ("GET", "status"): _status,
}
