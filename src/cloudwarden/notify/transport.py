"""The one seam every HTTP notification goes through: ``post(url, body, headers)`` -> status, headers, body.

Built on the standard library's ``urllib.request`` rather than httpx: a notification is one small POST, so
connection pooling, HTTP/2 and async buy nothing here, and the tool keeps one dependency fewer. What the
seam adds over bare urllib, and why:

* a **timeout** on every request (5 s by default), so a dead target cannot stall the delivery loop;
* **no redirects**: a signed webhook body must not be replayed to wherever a 3xx points; a redirect comes
  back as a response and the caller treats it as a refusal;
* only ``http``/``https`` (urllib would also open ``file:`` and ``ftp:`` URLs);
* every 4xx/5xx comes back as an :class:`HttpResponse` (urllib raises them), and every failure to get an
  answer as a :class:`TransportError` whose message never holds the URL (webhook URLs are secrets).

Tests point senders at real local servers through this seam, or plug in their own :class:`Transport`.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from http.client import HTTPException
from typing import Protocol
from urllib.parse import urlsplit

DEFAULT_TIMEOUT = 5.0
USER_AGENT = "cloudwarden-notify"
# The most we wait because a target said so (Retry-After); longer asks are clamped to this.
MAX_RETRY_AFTER = 3600.0


class TransportError(Exception):
    """No answer: refused, reset, timed out, DNS failure. Always worth retrying. Never holds the URL."""


@dataclass(frozen=True)
class HttpResponse:
    status: int
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""

    def header(self, name: str) -> str | None:
        """A header by case-insensitive name."""
        wanted = name.lower()
        for key, value in self.headers.items():
            if key.lower() == wanted:
                return value
        return None

    def text(self, limit: int = 200) -> str:
        """The start of the body as text, for error details."""
        return self.body[:limit].decode("utf-8", "replace").strip()

    def retry_after(self, now: datetime | None = None) -> float | None:
        """``Retry-After`` in seconds (either form: delta-seconds or an HTTP date), clamped; None if absent."""
        return parse_retry_after(self.header("Retry-After"), now)


class Transport(Protocol):
    def post(self, url: str, body: bytes, headers: Mapping[str, str], *, timeout: float | None = None) -> HttpResponse:
        """POST ``body``; return the response whatever its status; raise :class:`TransportError` on no answer."""
        ...


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None  # urllib then raises HTTPError with the 3xx, which we return as a response


class UrllibTransport:
    """The default :class:`Transport` (see the module docstring)."""

    def __init__(self, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.timeout = timeout
        self._opener = urllib.request.build_opener(_NoRedirect())

    def post(self, url: str, body: bytes, headers: Mapping[str, str], *, timeout: float | None = None) -> HttpResponse:
        scheme = urlsplit(url).scheme.lower()
        if scheme not in ("http", "https"):
            raise ValueError(f"only http and https URLs can be posted to, not {scheme or 'a relative URL'}")
        request = urllib.request.Request(url, data=body, method="POST")
        request.add_header("User-Agent", USER_AGENT)
        for name, value in headers.items():
            request.add_header(name, value)
        try:
            with self._opener.open(request, timeout=timeout or self.timeout) as reply:
                return HttpResponse(reply.status, dict(reply.headers.items()), reply.read())
        except urllib.error.HTTPError as exc:
            try:
                data = exc.read()
            except (OSError, HTTPException):
                data = b""
            return HttpResponse(exc.code, dict(exc.headers.items()) if exc.headers else {}, data)
        except urllib.error.URLError as exc:
            raise TransportError(f"no answer: {_reason(exc.reason)}") from None
        except TimeoutError:
            raise TransportError(f"no answer within {timeout or self.timeout:g} s") from None
        except (OSError, HTTPException) as exc:
            raise TransportError(f"connection failed: {type(exc).__name__}") from None


def _reason(reason: object) -> str:
    if isinstance(reason, TimeoutError):
        return "timed out"
    if isinstance(reason, OSError) and reason.strerror:
        return reason.strerror
    if isinstance(reason, BaseException):
        return type(reason).__name__
    return "connection failed"


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` value; None when absent or unreadable."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if seconds != seconds:  # NaN
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


# Statuses that say "not now" rather than "never": timeouts, too early, rate limits, server-side failures.
_RETRYABLE = frozenset({408, 425, 429})


def is_retryable(status: int) -> bool:
    """Whether an HTTP status is worth trying again later (5xx, 408, 425, 429); 2xx is not a failure at all."""
    return status >= 500 or status in _RETRYABLE
