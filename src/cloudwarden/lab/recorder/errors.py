"""Calls the lab cannot serve, answered the way AWS answers an error: in the wire format of the call's protocol.

moto, which the lab runs on, lacks some operations (it raises ``NotImplementedError``) and some whole services
(it finds no backend for the host). Left alone, either escapes to the web server, which prints a traceback on
the lab's terminal and answers ``500`` with an HTML page. An SDK then retries the call (a 500 is transient to
it) and, for XML protocols, cannot even parse the page (``ResponseParserError``). The middleware answers such
calls itself with :func:`error_response`: ``501 NotImplemented``, a status SDKs do not retry, shaped so that
the SDK raises its usual error with that code and a message that says what the lab lacks.

Where each protocol puts an error's code (what botocore's parsers read): EC2, ``Response/Errors/Error/Code``;
query, ``ErrorResponse/Error/Code``; REST-XML, ``Error/Code``; JSON, the body's ``__type``; REST-JSON, the
``x-amzn-ErrorType`` header.
"""

from __future__ import annotations

import json
import uuid
from typing import Final
from xml.sax.saxutils import escape

from cloudwarden.lab.recorder.http import CapturedResponse

NOT_IMPLEMENTED: Final = "NotImplemented"
NOT_IMPLEMENTED_STATUS: Final = 501


class UnknownService(LookupError):
    """moto has no backend for the host a request was sent to (a service the lab does not emulate)."""


def error_response(protocol: str, status: int, code: str, message: str) -> CapturedResponse:
    """An error answer with ``code`` and ``message`` in ``protocol``'s format (JSON when it is not known)."""
    request_id = str(uuid.uuid4())
    code_xml, message_xml = escape(code), escape(message)
    if protocol == "ec2":
        body = (f"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error><Code>{code_xml}</Code>"
                f"<Message>{message_xml}</Message></Error></Errors><RequestID>{request_id}</RequestID></Response>")
        return _xml(status, body, request_id)
    if protocol == "query":
        body = (f"<ErrorResponse><Error><Type>Sender</Type><Code>{code_xml}</Code><Message>{message_xml}</Message>"
                f"</Error><RequestId>{request_id}</RequestId></ErrorResponse>")
        return _xml(status, body, request_id)
    if protocol == "rest-xml":
        body = (f"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code_xml}</Code>"
                f"<Message>{message_xml}</Message><RequestId>{request_id}</RequestId></Error>")
        return _xml(status, body, request_id)
    headers = {"x-amzn-requestid": request_id}
    if protocol == "rest-json":
        headers.update({"content-type": "application/json", "x-amzn-errortype": code})
        return CapturedResponse(status, headers, json.dumps({"message": message}).encode())
    headers["content-type"] = "application/x-amz-json-1.1"
    return CapturedResponse(status, headers, json.dumps({"__type": code, "message": message}).encode())


def _xml(status: int, body: str, request_id: str) -> CapturedResponse:
    headers = {"content-type": "text/xml", "x-amzn-requestid": request_id}
    return CapturedResponse(status, headers, body.encode())
