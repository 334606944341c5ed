"""The WSGI middleware around moto's application: every client's calls pass through the recorder.

Wrapping the server's WSGI app (rather than hooking boto3) is what lets the lab record any client:
boto3, the AWS CLI, Terraform, other scanners. For each request it:

1. answers ``/_cloudwarden/`` helper requests itself (:mod:`.helpers`), unrecorded;
2. passes moto's own ``/moto-api/`` and instance-metadata requests through, unrecorded;
3. buffers the request body (so both moto and the recorder can read it), lets moto answer (or answers
   ``cloudtrail:LookupEvents`` itself), buffers the response, records the exchange, then returns
   moto's response unchanged. A call moto cannot serve (an operation it lacks, a service it does not
   emulate, a REST route it has only Flask's HTML page for) is answered ``501 NotImplemented`` in the
   call's protocol (:mod:`.errors`), and recorded so.

The record is made before the response goes back, so a client that calls ``/_cloudwarden/flush``
right after a call always finds it delivered.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from cloudwarden.lab.recorder import helpers
from cloudwarden.lab.recorder.core import Recorder
from cloudwarden.lab.recorder.errors import NOT_IMPLEMENTED, NOT_IMPLEMENTED_STATUS, UnknownService, error_response
from cloudwarden.lab.recorder.http import CapturedRequest, CapturedResponse

log = logging.getLogger(__name__)

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
_UNRECORDED_PREFIXES = ("/moto-api", "/favicon.ico", "/latest/meta-data", "/latest/api", "/latest/dynamic")
_NO_ROUTE = (404, 405)
_REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 500: "Internal Server Error", 501: "Not Implemented"}


class RecordingMiddleware:
    """``RecordingMiddleware(moto_app, recorder)`` is itself a WSGI application."""

    def __init__(self, app: WSGIApp, recorder: Recorder) -> None:
        self.app = app
        self.recorder = recorder

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = _path(environ)
        if path.startswith(helpers.PREFIX):
            status, answer = helpers.handle(
                self.recorder, environ.get("REQUEST_METHOD", "GET"), path, _read_body(environ)
            )
            return _json_response(start_response, status, answer)
        if path.startswith(_UNRECORDED_PREFIXES):
            if path.startswith("/moto-api/reset"):
                self.recorder.trails.invalidate()
            return self.app(environ, start_response)
        self.recorder.stats.count()
        event_time = datetime.now(UTC)
        body = _read_body(environ)
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        request = CapturedRequest(
            method=str(environ.get("REQUEST_METHOD", "GET")).upper(),
            path=path,
            query_string=str(environ.get("QUERY_STRING", "")),
            headers=_headers(environ),
            body=body,
            remote_addr=str(environ.get("REMOTE_ADDR", "")),
        )
        prepared = self.recorder.prepare(request)
        answered = self.recorder.lookup_events(request)
        if answered is None:
            try:
                status_line, headers, payload = _call(self.app, environ)
            except NotImplementedError as exc:
                answered = self._not_implemented(request, f"moto: {exc}")
            except UnknownService:
                answered = self._not_implemented(request, None)
            else:
                response = CapturedResponse(
                    status=int(status_line.split(" ", 1)[0]),
                    headers={k.lower(): v for k, v in headers},
                    body=payload,
                )
                if response.status in _NO_ROUTE and response.headers.get("content-type", "").startswith("text/html"):
                    # Flask's own page: moto has no route for this REST call (AWS's errors are never HTML).
                    answered = self._not_implemented(request, "moto has no route for it")
        if answered is not None:
            response = answered
            status_line = f"{answered.status} {_REASONS.get(answered.status, '')}".strip()
            headers = [(k, v) for k, v in answered.headers.items()]
            headers.append(("Content-Length", str(len(answered.body))))
        try:
            self.recorder.record_exchange(request, response, event_time, prepared)
        except Exception:  # a recorder bug must not fail the client's call: logged and counted in status
            self.recorder.note_recording_error()
            log.exception("could not record %s %s", request.method, request.path)
        start_response(status_line, headers)
        return [response.body]

    def _not_implemented(self, request: CapturedRequest, reason: str | None) -> CapturedResponse:
        """``501 NotImplemented`` for a call moto cannot serve (``reason``; None: a service moto does not emulate),
        in the call's protocol (see :mod:`.errors`)."""
        operation = self.recorder.operation(request)
        call = f"{operation.service}:{operation.name or '?'}"
        if reason is None:
            message = (f"The cloudwarden lab does not emulate {operation.service} (moto has no such service), "
                       f"so it cannot answer {call}; a real AWS account does.")
        else:
            message = f"The cloudwarden lab does not implement {call} ({reason}); a real AWS account answers it."
        log.info("answered %s with %s: %s", call, NOT_IMPLEMENTED, reason or "a service moto does not emulate")
        return error_response(operation.protocol, NOT_IMPLEMENTED_STATUS, NOT_IMPLEMENTED, message)


def _path(environ: dict[str, Any]) -> str:
    path = environ.get("PATH_INFO", "")
    if isinstance(path, bytes):
        path = path.decode("utf-8", "replace")
    return str(path)


def _read_body(environ: dict[str, Any]) -> bytes:
    stream = environ.get("wsgi.input")
    if stream is None:
        return b""
    length = environ.get("CONTENT_LENGTH")
    if length:
        try:
            size = int(length)
        except ValueError:
            size = 0
        return bytes(stream.read(size)) if size > 0 else b""
    if environ.get("wsgi.input_terminated"):
        return bytes(stream.read())
    return b""


def _headers(environ: dict[str, Any]) -> dict[str, str]:
    headers: dict[str, str] = {}
    for key, value in environ.items():
        if key.startswith("HTTP_") and isinstance(value, str):
            headers[key[5:].replace("_", "-").lower()] = value
    if environ.get("CONTENT_TYPE"):
        headers["content-type"] = str(environ["CONTENT_TYPE"])
    if environ.get("CONTENT_LENGTH"):
        headers["content-length"] = str(environ["CONTENT_LENGTH"])
    return headers


def _call(app: WSGIApp, environ: dict[str, Any]) -> tuple[str, list[tuple[str, str]], bytes]:
    """Run the wrapped app to completion; its status line, headers and whole body."""
    captured: dict[str, Any] = {}
    chunks: list[bytes] = []

    def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[[bytes], None]:
        captured["status"] = status
        captured["headers"] = list(headers)
        return chunks.append

    result = app(environ, capture)
    try:
        for chunk in result:
            chunks.append(chunk)
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()
    return str(captured.get("status", "500 Internal Server Error")), captured.get("headers", []), b"".join(chunks)


def _json_response(start_response: Callable[..., Any], status: int, answer: dict[str, Any]) -> list[bytes]:
    body = json.dumps(answer, default=str).encode()
    start_response(
        f"{status} {_REASONS.get(status, '')}".strip(),
        [("Content-Type", "application/json"), ("Content-Length", str(len(body)))],
    )
    return [body]
