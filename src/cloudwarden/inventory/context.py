"""The calls one unit of collection (one account × region × resource type) makes, and what they met.

:class:`UnitContext` is the only way collectors call AWS. It turns each answer into document form
(:func:`cloudwarden.inventory.document.clean`), turns each AWS error into ``{"error": {...}}`` for the
document *and* a row of the snapshot's error list (unless the code is AWS's way of saying "not
configured"), and stops paginating at the per-type cap, recording that the list was cut. Collectors
never catch AWS errors themselves, so "could not look" can never pass for "nothing there".
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

import botocore.exceptions
import jmespath  # type: ignore[import-untyped]
from botocore import xform_name
from botocore.parsers import ResponseParserError

from cloudwarden.aws.session import ClientFactory
from cloudwarden.inventory.document import NOT_CONFIGURED, clean, error_entry

DEFAULT_CAP = 5000
# Calls one unit keeps in flight at once (per-bucket, per-user detail calls...). Each still takes a token of
# its (account, service, region) bucket first, so this spreads latency, never the rate.
DEFAULT_CONCURRENCY = 8
T = TypeVar("T")
R = TypeVar("R")
# Failures below the API (connection lost, timeouts, an answer that is not the API's format, such as a
# local endpoint's HTML error page for an operation it does not implement): recorded with their class name.
_TRANSPORT_ERRORS = (botocore.exceptions.ConnectionError, botocore.exceptions.HTTPClientError, ResponseParserError)


@dataclass(frozen=True)
class Listing:
    """What a list operation returned: its items, the error that stopped it (if any), and whether the cap cut it."""

    items: list[dict[str, Any]]
    error: dict[str, Any] | None = None
    truncated: bool = False


@dataclass
class UnitContext:
    factory: ClientFactory
    account: str
    region: str
    service: str
    cap: int = DEFAULT_CAP
    regions: tuple[str, ...] = ()  # every region the scan covers (global collectors filter by it)
    caps: Mapping[str, int] = field(default_factory=dict)  # per resource type, beside the default ``cap``
    errors: list[dict[str, str]] = field(default_factory=list)
    concurrency: int = DEFAULT_CONCURRENCY

    def cap_for(self, resource_type: str) -> int:
        return int(self.caps.get(resource_type, self.cap))

    def client(self, service: str | None = None, region: str | None = None) -> Any:
        return self.factory.client(service or self.service, region or self.region)

    def call(
        self, operation: str, params: Mapping[str, Any] | None = None, *, service: str | None = None,
        region: str | None = None,
    ) -> dict[str, Any]:
        """One API call: its cleaned answer, or ``{"error": {"code", "message"}}`` (also recorded)."""
        client = self.client(service, region)
        try:
            answer = getattr(client, xform_name(operation))(**dict(params or {}))
        except botocore.exceptions.ClientError as exc:
            error = exc.response.get("Error", {})
            return self._failed(service, region, operation, str(error.get("Code") or "Unknown"),
                                str(error.get("Message") or ""))
        except _TRANSPORT_ERRORS as exc:
            return self._failed(service, region, operation, type(exc).__name__, str(exc))
        cleaned: dict[str, Any] = clean(answer)
        return cleaned

    def pages(
        self, operation: str, params: Mapping[str, Any] | None = None, *, service: str | None = None,
        region: str | None = None,
    ) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        """Every page of a paginated operation (cleaned), and the error that stopped it, if any."""
        client = self.client(service, region)
        method = xform_name(operation)
        found: list[dict[str, Any]] = []
        try:
            for page in client.get_paginator(method).paginate(**dict(params or {})):
                found.append(clean(page))
        except botocore.exceptions.ClientError as exc:
            error = exc.response.get("Error", {})
            return found, self._failed(service, region, operation, str(error.get("Code") or "Unknown"),
                                       str(error.get("Message") or ""))
        except _TRANSPORT_ERRORS as exc:
            return found, self._failed(service, region, operation, type(exc).__name__, str(exc))
        return found, None

    def list(
        self, operation: str, items_path: str, params: Mapping[str, Any] | None = None, *,
        service: str | None = None, region: str | None = None, cap: int | None = None,
    ) -> Listing:
        """Every item of a (paginated) list operation, up to ``cap`` (default: the unit's)."""
        limit = self.cap if cap is None else cap
        client = self.client(service, region)
        method = xform_name(operation)
        items: list[dict[str, Any]] = []
        try:
            if client.can_paginate(method):
                pages = client.get_paginator(method).paginate(**dict(params or {}))
            else:
                pages = iter([getattr(client, method)(**dict(params or {}))])
            for page in pages:
                items.extend(jmespath.search(items_path, page) or [])
                if len(items) > limit:
                    break
        except botocore.exceptions.ClientError as exc:
            error = exc.response.get("Error", {})
            failed = self._failed(service, region, operation, str(error.get("Code") or "Unknown"),
                                  str(error.get("Message") or ""))
            return Listing(items=items, error=failed)
        except _TRANSPORT_ERRORS as exc:
            return Listing(items=items, error=self._failed(service, region, operation, type(exc).__name__, str(exc)))
        if len(items) > limit:
            self.record(operation, "CapReached", f"more than {limit} items; kept the first {limit}",
                        service=service, region=region)
            return Listing(items=items[:limit], truncated=True)
        return Listing(items=items)

    def map(self, fn: Callable[[T], R], items: Iterable[T]) -> builtins.list[R]:
        """``[fn(item) for item in items]`` with up to ``concurrency`` running at once, results in order.

        For independent calls of one unit (each bucket's or user's details): a unit's calls wait on the
        network one after another otherwise, and the slowest unit sets the scan's wall time. An exception
        in ``fn`` propagates as it would from the loop (``fn`` records AWS errors through :meth:`call`).
        """
        todo = list(items)
        if len(todo) <= 1 or self.concurrency <= 1:
            return [fn(item) for item in todo]
        with ThreadPoolExecutor(max_workers=min(self.concurrency, len(todo)),
                                thread_name_prefix="collect-call") as pool:
            return list(pool.map(fn, todo))

    def gather(self, calls: Mapping[str, Callable[[], R]]) -> dict[str, R]:
        """Run named independent thunks like :meth:`map`; ``{name: result}`` in ``calls``' order."""
        names = list(calls)
        return dict(zip(names, self.map(lambda name: calls[name](), names), strict=True))

    def record(self, operation: str, code: str, message: str, *, service: str | None = None,
               region: str | None = None) -> None:
        self.errors.append({
            "account": self.account, "region": region or self.region, "service": service or self.service,
            "operation": operation, "code": code, "message": message,
        })

    def _failed(self, service: str | None, region: str | None, operation: str, code: str,
                message: str) -> dict[str, Any]:
        if code == "ResponseParserError":
            code = "InvalidResponse"
        message = short_message(message)
        if code not in NOT_CONFIGURED:
            self.record(operation, code, message, service=service, region=region)
        return error_entry(code, message)


def short_message(message: str) -> str:
    """An error message fit for a document: an endpoint's HTML error page is summarised, not stored."""
    lowered = message.lower()
    if "<html" in lowered or "<!doctype" in lowered:
        return "the endpoint answered with an HTML error page, not the API's format (operation not implemented there?)"
    return message[:1000]


def failed(answer: Mapping[str, Any]) -> bool:
    """True when ``answer`` is an error entry rather than an API response."""
    return "error" in answer and isinstance(answer.get("error"), Mapping) and "code" in answer["error"]
