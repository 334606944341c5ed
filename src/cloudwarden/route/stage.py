"""The ``route`` stage of ``cloudwarden demo``: the run's findings through the shipped demo rules.

The stage starts a local alert sink (:class:`AlertSink`: an HTTP server on ``127.0.0.1``, a free port, in a
thread) standing in for a team's webhook receiver. It verifies every request's HMAC-SHA256 signature the way
``notify.webhook`` documents for receivers, and appends what it accepted to ``<output-dir>/alerts.jsonl``.
The demo's single target, ``demo-webhook``, points at it with a fresh random key. The findings are routed
(``route/demo-rules.yaml``: HIGH/CRITICAL to the webhook; CloudTrail-disabled and compromised-credential
detections to the ``compromised-iam-credentials`` playbook, dry run), the outbox is delivered until idle,
and the sink is stopped. ``alerts.jsonl`` starts empty on every run; a finding a previous run already
sent (the store remembers) is not sent again, so it lands there only when new, changed or re-opened. The
stage adds no findings; its stats say what was matched, queued, held back, delivered and received, and
carry each playbook run's plan for the report.

Hand-written over a web framework: the receiver is one POST handler, and ``http.server`` keeps the demo
free of another dependency.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from types import TracebackType
from typing import Any, Final

from cloudwarden.notify.config import Secret
from cloudwarden.notify.outbox import DeliveryReport, Outbox, RetryPolicy
from cloudwarden.notify.registry import Targets
from cloudwarden.notify.webhook import (
    DELIVERY_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    SignatureError,
    WebhookTarget,
    verify_signature,
)
from cloudwarden.pipeline.stages import StageContext, StageResult
from cloudwarden.route.router import PlaybookSettings, RouteReport, route_findings
from cloudwarden.route.rules import RuleSet, parse_rules
from cloudwarden.store import Store

DEMO_RULES: Final = "demo-rules.yaml"
DEMO_TARGET: Final = "demo-webhook"
ALERTS_FILE: Final = "alerts.jsonl"
MAX_BODY: Final = 16 * 1024 * 1024
# The demo must not wait long for a sink that refuses: three quick tries, then a dead letter the stats show.
DEMO_RETRY: Final = RetryPolicy(max_attempts=3, base_delay=0.2, max_delay=1.0, jitter=0.2)
DELIVERY_TIMEOUT: Final = 30.0


class AlertSink:
    """A webhook receiver on ``127.0.0.1``: verifies each request's signature, writes accepted alerts to ``path``
    (one JSON object a line), answers 401 to a bad signature and drops a delivery id it has already accepted."""

    def __init__(self, path: Path, secret: bytes, *, port: int = 0, url_path: str = "/alerts") -> None:
        self.path = path
        self.url_path = url_path
        self._secret = secret
        self._port = port
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.accepted: list[str] = []  # delivery ids, in arrival order
        self.repeats = 0
        self.rejected: list[str] = []  # why each refused request was refused

    # --- lifecycle

    def start(self) -> AlertSink:
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                status = sink._receive(self)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.path.parent.mkdir(parents=True, exist_ok=True)
        server = ThreadingHTTPServer(("127.0.0.1", self._port), Handler)
        server.daemon_threads = True
        self._server = server
        self._port = int(server.server_address[1])
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="cloudwarden-alert-sink", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> AlertSink:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    @property
    def port(self) -> int:
        return self._port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._port}{self.url_path}"

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {"accepted": len(self.accepted), "repeats": self.repeats, "rejected": len(self.rejected),
                    "alerts_file": str(self.path)}

    # --- receiving

    def _receive(self, request: BaseHTTPRequestHandler) -> int:
        if request.path != self.url_path:
            return 404
        try:
            length = int(request.headers.get("Content-Length") or "0")
        except ValueError:
            return 400
        if not 0 <= length <= MAX_BODY:
            return 413
        body = request.rfile.read(length)
        try:
            verify_signature(self._secret, body, request.headers.get(TIMESTAMP_HEADER),
                             request.headers.get(SIGNATURE_HEADER))
            alert = json.loads(body)
        except (SignatureError, json.JSONDecodeError) as exc:
            with self._lock:
                self.rejected.append(str(exc))
            return 401 if isinstance(exc, SignatureError) else 400
        delivery = request.headers.get(DELIVERY_HEADER) or str(alert.get("id", ""))
        record = {"received_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "delivery": delivery,
                  "signature": "verified", **alert}
        with self._lock:
            if delivery in self.accepted:
                self.repeats += 1
                return 200
            with self.path.open("a", encoding="utf-8") as out:
                out.write(json.dumps(record, sort_keys=True, ensure_ascii=False) + "\n")
            self.accepted.append(delivery)
        return 200


def demo_rules() -> RuleSet:
    """The shipped demo rules (``route/demo-rules.yaml``), validated."""
    text = (resources.files("cloudwarden.route") / DEMO_RULES).read_text(encoding="utf-8")
    return parse_rules(text, source=f"cloudwarden/route/{DEMO_RULES}", targets=[DEMO_TARGET])


def sink_targets(sink: AlertSink, secret: str) -> Targets:
    """The demo's one notify target, pointing at ``sink``."""
    return Targets({DEMO_TARGET: WebhookTarget(url=Secret(value=sink.url), secret=Secret(value=secret))})


def route_stage(ctx: StageContext) -> StageResult:
    """Route ``ctx.findings_so_far`` with the demo rules to a local sink; deliver; report (see the module)."""
    rules = demo_rules()
    secret = secrets.token_hex(32)
    started = time.perf_counter()
    alerts = ctx.output_dir / ALERTS_FILE
    alerts.unlink(missing_ok=True)  # the file holds what this run's sink received, nothing older
    with AlertSink(alerts, secret.encode()) as sink, Store.open(ctx.store_path) as store:
        outbox = Outbox(store, sink_targets(sink, secret), policy=DEMO_RETRY, resend_interrupted=True)
        settings = PlaybookSettings(target=ctx.target, output_dir=ctx.output_dir, role_name=ctx.role_name,
                                    regions=ctx.regions)
        report = route_findings(ctx.findings_so_far, rules, store=store, outbox=outbox, playbooks=settings)
        routed = time.perf_counter()
        delivery = outbox.run(until_idle=True, timeout=DELIVERY_TIMEOUT, poll=0.1)
        delivered = time.perf_counter()
    return StageResult(findings=[], stats=route_stats(report, delivery, sink, rules, {
        "route": round(routed - started, 3), "deliver": round(delivered - routed, 3)}))


def route_stats(report: RouteReport, delivery: DeliveryReport, sink: AlertSink, rules: RuleSet,
                seconds: dict[str, float]) -> dict[str, Any]:
    """The stage's stats: JSON-ready, secret-free (target names only, never the sink's key)."""
    stats = report.to_dict()
    stats.update({
        "rules": [rule.name for rule in rules],
        "delivery": {"delivered": len(delivery.delivered), "retrying": len(delivery.retrying),
                     "dead": len(delivery.dead)},
        "sink": sink.stats(),
        "seconds": seconds,
    })
    return stats
