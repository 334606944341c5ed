"""``requestParameters``, ``responseElements`` and ``errorCode``/``errorMessage`` from the raw exchange.

Parameters are decoded per protocol (JSON body; query form, unflattened; REST path, query string,
headers and payload) and then walked with botocore's input/output shape, which gives CloudTrail's
shape of the data: member names in lowerCamelCase, maps' keys untouched, binary payloads left out,
and every value the model marks ``sensitive`` (passwords, secret strings, secret access keys, user
data, SecureString values, Lambda environment variables...) replaced by CloudTrail's
``HIDDEN_DUE_TO_SECURITY_REASONS``. A fixed list of secret member names is redacted as well, so
secrets stay out of records even where a model lacks the trait or no model exists.

Values are typed as the model declares them (``"fromPort": 22``, ``"passwordResetRequired": false``,
although the query protocol sends strings), and lists the query protocol wraps in their element name
(``ValuesToAdd.AttributeValue.1``, ``<DBSnapshotAttribute>``) are unwrapped.

S3 is written the way CloudTrail writes it (``bucketName``, ``key``, ``Host`` plus the query
string's sub-resources, and the bucket policy as a document), since detections read those names.
EC2 has its own CloudTrail shape (:mod:`.ec2_params`), and a few services leave parameters out or
unwrap responses (:mod:`.service_shapes`).
"""

from __future__ import annotations

import json
import re
from typing import Any
from xml.etree import ElementTree

from botocore.model import Shape

from cloudwarden.lab.recorder import ec2_params
from cloudwarden.lab.recorder.ec2_params import coerce
from cloudwarden.lab.recorder.http import CapturedRequest, CapturedResponse
from cloudwarden.lab.recorder.operations import Operation, member_for
from cloudwarden.lab.recorder.service_shapes import adjust_request, adjust_response

HIDDEN = "HIDDEN_DUE_TO_SECURITY_REASONS"

# Lower-cased member names that are secrets whatever the model says.
SECRET_NAMES = frozenset(
    {
        "password",
        "oldpassword",
        "newpassword",
        "masteruserpassword",
        "secretstring",
        "secretbinary",
        "secretaccesskey",
        "privatekey",
        "privatekeypem",
        "userdata",
        "plaintext",
        "keymaterial",
        "authtoken",
        "authorizationtoken",
    }
)

# Parameters a presigned URL carries: authentication, not request data.
_PRESIGN_KEYS = frozenset(
    {
        "X-Amz-Algorithm",
        "X-Amz-Credential",
        "X-Amz-Date",
        "X-Amz-Expires",
        "X-Amz-SignedHeaders",
        "X-Amz-Signature",
        "X-Amz-Security-Token",
        "AWSAccessKeyId",
        "Signature",
        "Expires",
        "x-id",
    }
)
_MAX_BODY = 256 * 1024
_OMIT = object()
_NS = re.compile(r"^\{[^}]*\}")


def lower_camel(name: str) -> str:
    return name[:1].lower() + name[1:] if name else name


# --- request parameters ------------------------------------------------------------------------
def request_parameters(op: Operation, request: CapturedRequest) -> dict[str, Any] | None:
    """The request's parameters as CloudTrail shows them, secrets redacted; None when it has none."""
    if op.event_source == "s3.amazonaws.com" and op.service == "s3":
        return _s3_parameters(op, request)
    if op.protocol == "ec2":
        form = request.form()
        tree = unflatten({k: v for k, v in form.items() if k not in ("Action", "Version")})
        return ec2_params.request_parameters(op.name, tree, form, op.input_shape)
    raw: Any
    if op.protocol == "json":
        raw = _json_body(request.body)
    elif op.protocol in ("query", "ec2"):
        form = {k: v for k, v in request.form().items() if k not in ("Action", "Version")}
        raw = unflatten(form)
    elif op.protocol in ("rest-json", "rest-xml"):
        raw = _rest_parameters(op, request)
    else:
        return None
    if not isinstance(raw, dict) or not raw:
        return None
    result = normalise(raw, op.input_shape)
    if not isinstance(result, dict):
        return None
    return adjust_request(op, result) or None


def _s3_parameters(op: Operation, request: CapturedRequest) -> dict[str, Any]:
    params: dict[str, Any] = {}
    if "Bucket" in op.uri_params:
        params["bucketName"] = op.uri_params["Bucket"]
    if request.host:
        params["Host"] = request.host
    if "Key" in op.uri_params:
        params["key"] = op.uri_params["Key"]
    for name, values in request.query.items():
        if name not in _PRESIGN_KEYS:
            params[name] = values[0] if len(values) == 1 else values
    shape = op.input_shape
    payload_name = shape.serialization.get("payload") if shape is not None else None
    if shape is not None and payload_name and request.body and len(request.body) <= _MAX_BODY:
        payload = shape.members[payload_name]
        if op.name == "PutBucketPolicy":
            policy = _json_body(request.body)
            params["bucketPolicy"] = policy if policy is not None else request.body.decode("utf-8", "replace")
        elif payload.type_name == "structure":
            root = _xml_root(request.body)
            if root is not None:
                params[_NS.sub("", root.tag)] = redact_untyped(xml_to_value(root))
    return {k: (HIDDEN if k.lower() in SECRET_NAMES else v) for k, v in params.items()}


def _rest_parameters(op: Operation, request: CapturedRequest) -> dict[str, Any]:
    shape = op.input_shape
    raw: dict[str, Any] = {}
    if shape is None:
        raw.update(op.uri_params)
        raw.update({k: v[0] for k, v in request.query.items() if k not in _PRESIGN_KEYS})
        return raw
    payload_name = shape.serialization.get("payload")
    for name, member in shape.members.items():
        location = member.serialization.get("location")
        wire = str(member.serialization.get("name", name))
        if location == "uri" and wire in op.uri_params:
            raw[name] = op.uri_params[wire]
        elif location == "querystring" and wire in request.query:
            values = request.query[wire]
            raw[name] = values if member.type_name == "list" else values[0]
        elif location == "header" and request.header(wire):
            raw[name] = request.header(wire)
    if not request.body or len(request.body) > _MAX_BODY:
        return raw
    if payload_name:
        payload = shape.members[payload_name]
        if payload.type_name == "structure":
            value = _json_body(request.body) if op.protocol == "rest-json" else _xml_value(request.body)
            if value is not None:
                raw[payload_name] = value
        # blob/streaming payloads (object data, code) never go into a record
    elif op.protocol == "rest-json":
        body = _json_body(request.body)
        if isinstance(body, dict):
            raw.update(body)
    else:
        body = _xml_value(request.body)
        if isinstance(body, dict):
            raw.update(body)
    return raw


# --- response elements and errors --------------------------------------------------------------
def response_elements(op: Operation, response: CapturedResponse) -> dict[str, Any] | None:
    """What a successful call returned, shaped and redacted like the request; None when empty."""
    if not response.body or len(response.body) > _MAX_BODY:
        return None
    raw: Any = None
    if op.protocol == "ec2":
        root = _xml_root(response.body)
        return ec2_params.response_elements(op.name, root, op.output_shape) if root is not None else None
    if op.protocol in ("json", "rest-json"):
        raw = _json_body(response.body)
    elif op.protocol == "query":
        root = _xml_root(response.body)
        if root is not None:
            raw = _query_result(root)
    elif op.protocol == "rest-xml":
        raw = _xml_value(response.body)
    if not isinstance(raw, dict) or not raw:
        return None
    result = normalise(raw, op.output_shape)
    if not isinstance(result, dict):
        return None
    return adjust_response(op, result) or None


def _query_result(root: ElementTree.Element) -> Any:
    children = list(root)
    result = next((c for c in children if _NS.sub("", c.tag).endswith("Result")), None)
    if result is not None:
        return xml_to_value(result)
    # EC2 answers without a Result wrapper; drop its request id.
    value = xml_to_value(root)
    if isinstance(value, dict):
        value.pop("requestId", None)
        value.pop("ResponseMetadata", None)
    return value


def error_details(response: CapturedResponse) -> tuple[str, str]:
    """``(errorCode, errorMessage)`` from an AWS error body (JSON or XML) or, failing that, the status."""
    code = ""
    message = ""
    header_type = response.headers.get("x-amzn-errortype", "")
    body = response.body[:_MAX_BODY]
    data = _json_body(body) if body[:1] == b"{" else None
    if isinstance(data, dict):
        code = str(data.get("__type") or data.get("code") or data.get("Code") or "")
        message = str(data.get("message") or data.get("Message") or data.get("errorMessage") or "")
    elif body.lstrip()[:1] == b"<":
        root = _xml_root(body)
        if root is not None:
            for element in root.iter():
                tag = _NS.sub("", element.tag)
                if tag == "Code" and not code:
                    code = (element.text or "").strip()
                elif tag == "Message" and not message:
                    message = (element.text or "").strip()
    if not code and header_type:
        code = header_type
    code = code.split(":")[0].rsplit("#", 1)[-1]
    if not code:
        code = _STATUS_CODES.get(response.status, f"HTTP{response.status}")
    return code, message


_STATUS_CODES = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "AccessDenied",
    404: "NotFound",
    405: "MethodNotAllowed",
    409: "Conflict",
    500: "InternalError",
    501: "NotImplemented",
    503: "ServiceUnavailable",
}


# --- shaping and redaction ---------------------------------------------------------------------
def normalise(value: Any, shape: Shape | None, depth: int = 0) -> Any:
    """Walk ``value`` with ``shape``: lowerCamel member names, secrets hidden, binary left out."""
    if depth > 40:
        return value
    if shape is None:
        return redact_untyped(value)
    if shape.metadata.get("sensitive"):
        return HIDDEN
    kind = shape.type_name
    if kind == "structure" and isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            found = member_for(shape, str(key))
            name, member = found if found is not None else (str(key), None)
            if name.lower() in SECRET_NAMES:
                out[lower_camel(name)] = HIDDEN
                continue
            if member is not None and member.type_name == "blob" and not member.metadata.get("sensitive"):
                continue
            walked = normalise(item, member, depth + 1)
            if walked is not _OMIT:
                out[lower_camel(name)] = walked
        return out
    if kind == "list":
        element: Shape = shape.member  # type: ignore[attr-defined]
        items = _list_items(value, element)
        walked_items = (normalise(i, element, depth + 1) for i in items)
        return [i for i in walked_items if i is not _OMIT]
    if kind == "map" and isinstance(value, dict):
        return {k: normalise(v, shape.value, depth + 1) for k, v in value.items()}  # type: ignore[attr-defined]
    if kind == "blob":
        return _OMIT
    return coerce(redact_untyped(value), shape)


def _list_items(value: Any, element: Shape) -> list[Any]:
    """A list's items; query XML and forms wrap them in the element's name (``<member>``,
    ``<DBSnapshotAttribute>``, ``ValuesToAdd.AttributeValue.1``), which is unwrapped here."""
    if isinstance(value, dict) and len(value) == 1:
        (key,) = value
        names = {str(element.serialization.get("name", "")).lower(), "member", "item"}
        if str(key).lower() in names:
            value = value[key]
    return value if isinstance(value, list) else [value]


def redact_untyped(value: Any, depth: int = 0) -> Any:
    """Hide values under secret-looking keys in data no model describes."""
    if depth > 40:
        return value
    if isinstance(value, dict):
        return {k: HIDDEN if str(k).lower() in SECRET_NAMES else redact_untyped(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [redact_untyped(v, depth + 1) for v in value]
    return value


def unflatten(form: dict[str, list[str]]) -> dict[str, Any]:
    """Query-protocol keys (``Tags.member.1.Key``, ``InstanceId.1``, ``Attributes.entry.1.key``) to a tree."""
    tree: dict[str, Any] = {}
    for key, values in form.items():
        node = tree
        parts = key.split(".")
        for part in parts[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = {}
                node[part] = child
            node = child
        node[parts[-1]] = values[0] if values else ""
    result = _collapse(tree)
    return result if isinstance(result, dict) else {}


def _collapse(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    if node and all(k.isdigit() for k in node):
        return [_collapse(node[k]) for k in sorted(node, key=int)]
    if set(node) in ({"member"}, {"item"}):
        inner = _collapse(next(iter(node.values())))
        return inner if isinstance(inner, list) else [inner]
    if set(node) == {"entry"}:
        entries = _collapse(node["entry"])
        if isinstance(entries, list):
            mapping: dict[str, Any] = {}
            for entry in entries:
                if isinstance(entry, dict):
                    key = entry.get("key", entry.get("Key", entry.get("Name")))
                    mapping[str(key)] = entry.get("value", entry.get("Value"))
            return mapping
    return {k: _collapse(v) for k, v in node.items()}


def _json_body(body: bytes) -> Any:
    if not body or len(body) > _MAX_BODY:
        return None
    try:
        return json.loads(body)
    except ValueError:
        return None


def _xml_root(body: bytes) -> ElementTree.Element | None:
    if not body or len(body) > _MAX_BODY:
        return None
    try:
        return ElementTree.fromstring(body)
    except ElementTree.ParseError:
        return None


def _xml_value(body: bytes) -> Any:
    root = _xml_root(body)
    return xml_to_value(root) if root is not None else None


def xml_to_value(element: ElementTree.Element) -> Any:
    """An XML element as plain data: text for leaves, dicts for structures, lists for repeats."""
    children = list(element)
    if not children:
        return (element.text or "").strip()
    tags = [_NS.sub("", c.tag) for c in children]
    if all(t in ("member", "item") for t in tags):
        return [xml_to_value(c) for c in children]
    out: dict[str, Any] = {}
    for tag, child in zip(tags, children, strict=True):
        value = xml_to_value(child)
        if tag in out:
            existing = out[tag]
            out[tag] = [*existing, value] if isinstance(existing, list) else [existing, value]
        else:
            out[tag] = value
    return out
