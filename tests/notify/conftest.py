"""Real local servers for the notify tests: an HTTP server standing in for Slack and webhooks, an SMTP server
(aiosmtpd), and findings built the way producers build them."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import Envelope

from cloudwarden.core.finding import Finding, ResourceRef, Source
from cloudwarden.core.severity import Severity
from cloudwarden.lab import demo_org


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float

    def json(self) -> Any:
        return json.loads(self.body)

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers.items() if k.lower() == name.lower()), None)


@dataclass
class Reply:
    status: int = 200
    body: bytes = b"ok"
    headers: dict[str, str] = field(default_factory=dict)


class HttpSink:
    """A threaded HTTP server on 127.0.0.1 (a free port) that records every POST and answers from a script.

    ``replies`` are used in order, then ``default``; ``check`` may turn a request into a reply (a Slack
    stand-in uses it to refuse a message that breaks Block Kit's limits, as Slack does).
    """

    def __init__(self, port: int = 0) -> None:
        self.requests: list[Received] = []
        self.replies: list[Reply] = []
        self.default = Reply()
        self.check: Callable[[Received], Reply | None] | None = None
        self.hold: threading.Event | None = None  # when set, requests wait until it is set
        self.lock = threading.Lock()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                got = Received(self.path, dict(self.headers.items()), self.rfile.read(length), time.monotonic())
                with sink.lock:
                    sink.requests.append(got)
                    reply = sink.replies.pop(0) if sink.replies else sink.default
                if sink.hold is not None:
                    sink.hold.wait(30)
                if sink.check is not None:
                    reply = sink.check(got) or reply
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                self.wfile.write(reply.body)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.server.handle_error = lambda request, client_address: None  # type: ignore[method-assign]
        self.port = int(self.server.server_address[1])
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def http_sink() -> Iterator[HttpSink]:
    sink = HttpSink()
    yield sink
    sink.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class SmtpSink:
    """Collects what an aiosmtpd server receives."""

    def __init__(self) -> None:
        self.envelopes: list[Envelope] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Envelope) -> str:
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"


class BoundController(Controller):
    """aiosmtpd's controller listening on a socket bound to port 0 (so parallel tests never collide)."""

    def _create_server(self) -> Any:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        return self.loop.create_server(self._factory_invoker, sock=sock, ssl=self.ssl_context)


@pytest.fixture
def smtp_server() -> Iterator[tuple[BoundController, SmtpSink]]:
    sink = SmtpSink()
    controller = BoundController(sink, hostname="127.0.0.1")
    controller.start()
    yield controller, sink
    controller.stop()


def make_finding(
    n: int = 0,
    *,
    severity: Severity = Severity.HIGH,
    title: str | None = None,
    description: str = "The bucket policy grants s3:GetObject to everyone.",
    remediation: str = "Enable S3 Block Public Access on the bucket.",
    source: Source = Source.POSTURE,
) -> Finding:
    return Finding.create(
        source=source,
        rule_id="s3_bucket_public",
        type="Software and Configuration Checks/AWS Security Best Practices",
        title=title or f"S3 bucket cw-demo-public-{n} is public",
        severity=severity,
        account_id=demo_org.PROD,
        region=demo_org.HOME_REGION,
        resource=ResourceRef(type="AwsS3Bucket", id=f"arn:aws:s3:::cw-demo-public-{n}"),
        control_id="S3.8",
        description=description,
        remediation=remediation,
    )


class FakeClock:
    """A clock the outbox reads instead of the wall clock, so backoff can be stepped through without sleeping."""

    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)
