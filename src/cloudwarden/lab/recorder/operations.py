"""Which AWS operation an HTTP request is, worked out from botocore's service models.

CloudTrail names every event by its API operation (``GetObject``, ``PutBucketPolicy``, ``CreateUser``).
moto answers requests but does not tell its caller which operation it ran, and its own routing is
spread over one ``urls.py`` per service, so we resolve the operation ourselves from the same models
the SDK uses, for each protocol AWS has:

* ``json`` (KMS, Secrets Manager, CloudTrail...): the ``X-Amz-Target`` header, ``Prefix.Operation``;
* ``query``/``ec2`` (IAM, STS, EC2...): the ``Action`` parameter of the form body or URL;
* ``rest-json``/``rest-xml`` (S3, Lambda...): the method and path matched against each operation's
  ``http.requestUri`` template (S3 virtual-host requests are turned into path style by the caller);
* ``smithy-rpc-v2-cbor`` (CloudWatch): ``/service/<name>/operation/<Operation>``.

The service comes from the SigV4 credential scope (its signing name). Several services share a
signing name (``s3``/``s3control``, ``email`` for SES v1 and v2...), so each yields a short list of
candidate models and the request decides between them.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from typing import Any

import botocore.session
from botocore.exceptions import UnknownServiceError
from botocore.model import OperationModel, ServiceModel, Shape, StructureShape

from cloudwarden.lab.recorder.event_names import event_name_for
from cloudwarden.lab.recorder.http import CapturedRequest

# Signing names whose botocore service names differ, or that several services share.
_SIGNING_CANDIDATES: dict[str, tuple[str, ...]] = {
    "s3": ("s3", "s3control"),
    "monitoring": ("cloudwatch",),
    "email": ("ses", "sesv2"),
    "states": ("stepfunctions",),
    "dynamodb": ("dynamodb", "dynamodbstreams"),
    "elasticloadbalancing": ("elbv2", "elb"),
    "es": ("opensearch", "es"),
    "apigateway": ("apigateway", "apigatewayv2"),
    "access-analyzer": ("accessanalyzer",),
    "elasticfilesystem": ("efs",),
    "elasticmapreduce": ("emr",),
    "rds": ("rds", "neptune", "docdb"),
    "sagemaker": ("sagemaker", "sagemaker-runtime"),
    "execute-api": ("apigatewaymanagementapi",),
    "eventbridge": ("events",),
    "aws-marketplace": ("marketplace-catalog",),
    "sso": ("sso-admin", "sso", "identitystore"),
}

# CloudTrail's eventSource is mostly the endpoint prefix; these differ.
_EVENT_SOURCE_OVERRIDES = {
    "email": "ses",
    "api.ecr": "ecr",
    "s3-control": "s3",
    "streams.dynamodb": "dynamodb",
    "api.sagemaker": "sagemaker",
    "runtime.sagemaker": "sagemaker",
}

_S3_CONTROL_PATH = "/v20180820/"

_CBOR_PATH = re.compile(r"^/service/(?P<service>[^/]+)/operation/(?P<operation>[^/]+)/?$")
_QUERY_PROTOCOLS = ("query", "ec2")
_REST_PROTOCOLS = ("rest-json", "rest-xml")


@dataclass(frozen=True)
class Operation:
    """A resolved API operation. ``model`` is None when botocore has no model for it.

    ``name`` is the API operation (botocore's), ``event_name`` what CloudTrail calls it.
    """

    service: str
    event_source: str
    name: str
    protocol: str
    model: OperationModel | None
    uri_params: dict[str, str] = field(default_factory=dict)

    @property
    def event_name(self) -> str:
        return event_name_for(self.service, self.name)

    @property
    def input_shape(self) -> StructureShape | None:
        return self.model.input_shape if self.model is not None else None

    @property
    def output_shape(self) -> StructureShape | None:
        return self.model.output_shape if self.model is not None else None


@dataclass(frozen=True)
class _Route:
    operation: str
    method: str
    pattern: re.Pattern[str]
    groups: tuple[str, ...]  # regex group index -> member location name
    template_query: tuple[tuple[str, str | None], ...]
    x_id: str | None
    required_headers: tuple[str, ...]
    required_query: tuple[str, ...]
    literal_length: int
    greedy: int

    def match(
        self, method: str, path: str, request: CapturedRequest
    ) -> tuple[tuple[int, int, int, int], dict[str, str]] | None:
        """``(score, uri parameters)`` when the request fits this route; higher scores fit better.

        A route whose required header/query members are missing still matches, but below any route
        whose requirements are met (``CopyObject`` needs ``x-amz-copy-source``, ``PutObject`` not).
        """
        if method != self.method:
            return None
        found = self.pattern.match(path)
        if found is None:
            return None
        query = request.query
        for name, value in self.template_query:
            if name not in query or (value is not None and value not in query[name]):
                return None
        if self.x_id is not None and "x-id" in query and self.x_id not in query["x-id"]:
            return None
        headers_met = all(request.header(h) for h in self.required_headers)
        query_met = all(q in query for q in self.required_query)
        eligible = int(headers_met and query_met)
        params = {self.groups[i]: value for i, value in enumerate(found.groups())}
        present = len(self.template_query) + eligible * (len(self.required_headers) + len(self.required_query))
        return (eligible, present, self.literal_length, -self.greedy), params


def _compile_route(op: OperationModel) -> _Route | None:
    http = op.http
    method = str(http.get("method", "")).upper()
    uri = str(http.get("requestUri", ""))
    if not method or not uri:
        return None
    path, _, template_query = uri.partition("?")
    groups: list[str] = []
    regex = ["^"]
    literal = 0
    greedy = 0
    position = 0
    trimmed = path.rstrip("/")
    for var in re.finditer(r"\{([^}]+)\}", trimmed):
        text = trimmed[position : var.start()]
        regex.append(re.escape(text))
        literal += len(text)
        name = var.group(1)
        if name.endswith("+"):
            regex.append("(.+)")
            greedy += 1
            name = name[:-1]
        else:
            regex.append("([^/]+)")
        groups.append(name)
        position = var.end()
    tail = trimmed[position:]
    regex.append(re.escape(tail))
    literal += len(tail)
    regex.append("/?$")
    query_parts: list[tuple[str, str | None]] = []
    x_id = None
    for part in template_query.split("&") if template_query else ():
        name, eq, value = part.partition("=")
        if name == "x-id":
            x_id = value
        else:
            query_parts.append((name, value if eq else None))
    required_headers: list[str] = []
    required_query: list[str] = []
    shape = op.input_shape
    if shape is not None:
        required = set(shape.metadata.get("required", []))
        for member_name, member in shape.members.items():
            if member_name not in required:
                continue
            location = member.serialization.get("location")
            location_name = str(member.serialization.get("name", member_name))
            if location == "header":
                required_headers.append(location_name.lower())
            elif location == "querystring":
                required_query.append(location_name)
    return _Route(
        operation=op.name,
        method=method,
        pattern=re.compile("".join(regex)),
        groups=tuple(groups),
        template_query=tuple(query_parts),
        x_id=x_id,
        required_headers=tuple(required_headers),
        required_query=tuple(required_query),
        literal_length=literal,
        greedy=greedy,
    )


class OperationResolver:
    """Maps requests to operations; loads and caches botocore models lazily (thread-safe)."""

    def __init__(self, session: botocore.session.Session | None = None) -> None:
        # A botocore session of its own, never one sharing its loader with clients (aws.session.with_shared_models):
        # an S3 client's first call strips ``/{Bucket}`` from the request URIs of the model its loader cached
        # (botocore's ``remove_bucket_from_url_paths_from_model``), and the S3 routes here would no longer match.
        self._session = session or botocore.session.get_session()
        self._lock = threading.Lock()
        self._models: dict[str, ServiceModel | None] = {}
        self._routes: dict[str, list[_Route]] = {}
        self._available: frozenset[str] | None = None
        self._signing_index: dict[str, tuple[str, ...]] | None = None

    # --- models ---------------------------------------------------------------------------------
    def service_model(self, name: str) -> ServiceModel | None:
        with self._lock:
            if name not in self._models:
                try:
                    self._models[name] = self._session.get_service_model(name)
                except UnknownServiceError:
                    self._models[name] = None
            return self._models[name]

    def _available_services(self) -> frozenset[str]:
        if self._available is None:
            self._available = frozenset(self._session.get_available_services())
        return self._available

    def candidates(self, signing_name: str) -> list[ServiceModel]:
        """The service models that sign with ``signing_name``, most likely first."""
        names = _SIGNING_CANDIDATES.get(signing_name, (signing_name,))
        available = self._available_services()
        found = [m for n in names if n in available and (m := self.service_model(n)) is not None]
        if found:
            return found
        # Rare signing names: index every model once (a few seconds), then look up.
        index = self._full_signing_index()
        return [m for n in index.get(signing_name, ()) if (m := self.service_model(n)) is not None]

    def _full_signing_index(self) -> dict[str, tuple[str, ...]]:
        if self._signing_index is None:
            index: dict[str, list[str]] = {}
            for name in sorted(self._available_services()):
                model = self.service_model(name)
                if model is None:
                    continue
                signing = model.metadata.get("signingName") or model.metadata.get("endpointPrefix") or name
                index.setdefault(str(signing), []).append(name)
            self._signing_index = {k: tuple(v) for k, v in index.items()}
        return self._signing_index

    def _routes_for(self, model: ServiceModel) -> list[_Route]:
        name = model.service_name
        with self._lock:
            routes = self._routes.get(name)
        if routes is None:
            routes = [r for op in model.operation_names if (r := _compile_route(model.operation_model(op)))]
            with self._lock:
                self._routes[name] = routes
        return routes

    # --- resolution -----------------------------------------------------------------------------
    def resolve(self, request: CapturedRequest, signing_name: str, rest_path: str | None = None) -> Operation:
        """The operation ``request`` calls. ``rest_path`` is the path-style path (S3 virtual host)."""
        models = self.candidates(signing_name)
        if signing_name == "s3":
            # S3 Control shares S3's signing name; moto tells them apart the same way.
            control = request.path.startswith(_S3_CONTROL_PATH) or "s3-control" in request.host
            models = [m for m in models if (m.service_name == "s3control") == control] or models
        target = request.header("x-amz-target")
        if target:
            return self._resolve_json(models, signing_name, target)
        cbor = _CBOR_PATH.match(request.path)
        if cbor:
            model = models[0] if models else None
            return self._operation(model, signing_name, cbor.group("operation"), "smithy-rpc-v2-cbor")
        if not models or any(_speaks(m, _QUERY_PROTOCOLS) for m in models):
            form = request.form()
            action = form.get("Action", [""])[0]
            if action:
                return self._resolve_query(models, signing_name, action, form.get("Version", [""])[0])
        path = rest_path if rest_path is not None else request.path
        best: tuple[tuple[int, int, int, int], ServiceModel, _Route, dict[str, str]] | None = None
        for model in models:
            if not _speaks(model, _REST_PROTOCOLS):
                continue
            for route in self._routes_for(model):
                matched = route.match(request.method, path, request)
                if matched is not None and (best is None or matched[0] > best[0]):
                    best = (matched[0], model, route, matched[1])
        if best is not None:
            _, model, route, params = best
            return self._operation(model, signing_name, route.operation, model.protocol, params)
        model = models[0] if models else None
        return self._operation(model, signing_name, "", model.protocol if model else "unknown")

    def _resolve_json(self, models: list[ServiceModel], signing_name: str, target: str) -> Operation:
        prefix, _, name = target.rpartition(".")
        chosen = next((m for m in models if m.metadata.get("targetPrefix") == prefix), None)
        if chosen is None:
            chosen = next((m for m in models if name in m.operation_names), models[0] if models else None)
        return self._operation(chosen, signing_name, name, "json")

    def _resolve_query(self, models: list[ServiceModel], signing_name: str, action: str, version: str) -> Operation:
        with_op = [m for m in models if action in m.operation_names]
        chosen = next((m for m in with_op if m.api_version == version), None)
        if chosen is None:
            chosen = with_op[0] if with_op else (models[0] if models else None)
        protocol = chosen.protocol if chosen is not None and chosen.protocol in _QUERY_PROTOCOLS else "query"
        return self._operation(chosen, signing_name, action, protocol)

    def _operation(
        self,
        model: ServiceModel | None,
        signing_name: str,
        name: str,
        protocol: str,
        uri_params: dict[str, str] | None = None,
    ) -> Operation:
        op_model = None
        if model is not None and name in model.operation_names:
            op_model = model.operation_model(name)
        return Operation(
            service=model.service_name if model is not None else signing_name,
            event_source=event_source_for(model, signing_name),
            name=name,
            protocol=protocol,
            model=op_model,
            uri_params=uri_params or {},
        )


def _speaks(model: ServiceModel, protocols: tuple[str, ...]) -> bool:
    declared: list[str] = list(model.metadata.get("protocols") or [model.protocol])
    return any(p in protocols for p in declared)


def event_source_for(model: ServiceModel | None, signing_name: str) -> str:
    """CloudTrail's ``eventSource``: ``<endpoint prefix>.amazonaws.com`` with CloudTrail's exceptions."""
    prefix = str(model.metadata.get("endpointPrefix", signing_name)) if model is not None else signing_name
    return f"{_EVENT_SOURCE_OVERRIDES.get(prefix, prefix)}.amazonaws.com"


def member_for(shape: Shape, key: str) -> tuple[str, Shape] | None:
    """The member of a structure that a wire key names (member name, serialized name or EC2 queryName)."""
    if not isinstance(shape, StructureShape):
        return None
    members: dict[str, Any] = shape.members
    if key in members:
        return key, members[key]
    lowered = key.lower()
    for name, member in members.items():
        serialization = member.serialization
        for alias in (name, serialization.get("name"), serialization.get("queryName")):
            if isinstance(alias, str) and alias.lower() == lowered:
                return name, member
    return None
