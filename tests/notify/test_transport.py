"""The HTTP seam against a real local server: statuses come back as responses, no answer is a TransportError
that never names the URL, timeouts hold, Retry-After is read in both of its forms."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from cloudwarden.notify import TransportError, UrllibTransport
from cloudwarden.notify.transport import MAX_RETRY_AFTER, is_retryable, parse_retry_after
from tests.notify.conftest import HttpSink, Reply, free_port


def test_error_statuses_come_back_as_responses_with_headers_and_body(http_sink: HttpSink) -> None:
    http_sink.default = Reply(429, b"rate_limited", {"Retry-After": "7"})
    reply = UrllibTransport().post(http_sink.url("/x"), b'{"a": 1}', {"Content-Type": "application/json"})
    assert reply.status == 429 and reply.text() == "rate_limited" and reply.retry_after() == 7.0
    (got,) = http_sink.requests
    assert got.body == b'{"a": 1}' and got.header("User-Agent") == "cloudwarden-notify"


def test_no_answer_is_a_transport_error_without_the_url() -> None:
    port = free_port()
    with pytest.raises(TransportError) as err:
        UrllibTransport().post(f"http://127.0.0.1:{port}/secret-token-path", b"{}", {})
    assert "secret-token-path" not in str(err.value) and str(port) not in str(err.value)


def test_a_slow_target_times_out(http_sink: HttpSink) -> None:
    http_sink.hold = threading.Event()
    started = time.monotonic()
    try:
        with pytest.raises(TransportError, match=r"timed out|within"):
            UrllibTransport(timeout=0.3).post(http_sink.url(), b"{}", {})
    finally:
        http_sink.hold.set()
    assert time.monotonic() - started < 3


def test_only_http_and_https() -> None:
    with pytest.raises(ValueError, match="only http and https"):
        UrllibTransport().post("file:///etc/passwd", b"", {})


def test_retry_after_forms() -> None:
    now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    assert parse_retry_after("30") == 30.0
    assert parse_retry_after(format_datetime(now + timedelta(seconds=90), usegmt=True), now) == 90.0
    assert parse_retry_after(format_datetime(now - timedelta(seconds=90), usegmt=True), now) == 0.0
    assert parse_retry_after("999999") == MAX_RETRY_AFTER
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None and parse_retry_after("nan") is None


def test_which_statuses_are_retried() -> None:
    assert [s for s in (200, 301, 400, 403, 404, 408, 410, 425, 429, 500, 503) if is_retryable(s)] == [
        408, 425, 429, 500, 503]
