"""The outbox: target down, findings arrive, target back, every message delivered exactly once (across restarts
of the process), dead letters after N failures, backoff with jitter, a crash mid-send never sends twice, and no
secret in the store."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections import Counter
from pathlib import Path

import duckdb
import pytest

from cloudwarden.core.errors import BadInputError
from cloudwarden.core.severity import Severity
from cloudwarden.notify import Message, Outbox, RetryPolicy, State, Targets
from cloudwarden.notify.webhook import WebhookTarget
from cloudwarden.store import SCHEMA_VERSION, Lifecycle, Store
from cloudwarden.store.schema import MIGRATIONS, current_version
from tests.notify.conftest import FakeClock, HttpSink, Reply, free_port, make_finding

KEY = "whsec-outbox-test-key-42"


def _targets(url: str) -> Targets:
    return Targets({"soc": WebhookTarget(url=url, secret=KEY)})


def _one_each(numbers: range) -> list[Message]:
    return [Message.for_findings("soc", "webhook", [make_finding(i)]) for i in numbers]


def _deliveries(sink: HttpSink) -> Counter[str]:
    return Counter(r.header("X-Cloudwarden-Delivery") or "" for r in sink.requests)


def test_target_down_findings_arrive_target_back_each_delivered_exactly_once_across_restarts(tmp_path: Path) -> None:
    path, clock, port = tmp_path / "s.duckdb", FakeClock(), free_port()
    targets = _targets(f"http://127.0.0.1:{port}/hook")  # nothing listens there yet: the target is down
    policy = RetryPolicy(max_attempts=5, base_delay=10, max_delay=600)
    findings = [make_finding(i) for i in range(6)]
    keys: list[str] = []
    with Store.open(path) as store:
        store.upsert_findings(None, findings)
        outbox = Outbox(store, targets, clock=clock, policy=policy)
        for finding in findings[:3]:
            message = outbox.enqueue("soc", [finding])
            assert message is not None
            keys.append(message.idempotency_key)
        report = outbox.deliver_due()
        # one attempt found the target down; its other messages wait with it instead of spending attempts
        assert report.attempted == 1 and len(report.retrying) == 1 and not report.delivered
        assert [e.attempts for e in outbox.entries()] == [1, 0, 0]
        assert "no answer" in (outbox.get(keys[0]).last_error or "")  # type: ignore[union-attr]
        for finding in findings[3:]:  # more findings arrive while it is down
            message = outbox.enqueue("soc", [finding])
            assert message is not None
            keys.append(message.idempotency_key)
        clock.advance(60)
        assert outbox.deliver_due().attempted == 1
        assert outbox.counts()[State.PENDING] == 6
    # the process stops; the target comes back on its address; a new process opens the same store
    sink = HttpSink(port=port)
    try:
        with Store.open(path) as store:
            outbox = Outbox(store, targets, clock=clock, policy=policy)
            assert outbox.enqueue("soc", [findings[0]]) is None  # same key: not queued twice
            clock.advance(3600)
            report = outbox.deliver_due()
            assert sorted(report.delivered) == sorted(keys)
            assert outbox.deliver_due().attempted == 0
            assert outbox.counts()[State.DELIVERED] == 6
            assert {r.lifecycle for r in store.records()} == {Lifecycle.NOTIFIED}
        with Store.open(path) as store:  # and once more: nothing is sent again, even if producers repeat
            outbox = Outbox(store, targets, clock=clock, policy=policy)
            assert all(outbox.enqueue("soc", [f]) is None for f in findings)
            clock.advance(3600)
            assert outbox.deliver_due().attempted == 0
        assert _deliveries(sink) == Counter({key: 1 for key in keys})
    finally:
        sink.close()


def test_dead_letter_after_n_failures_then_requeue(http_sink: HttpSink, tmp_path: Path) -> None:
    http_sink.default = Reply(503, b"unavailable")
    clock = FakeClock()
    with Store.open(tmp_path / "s.duckdb") as store:
        outbox = Outbox(store, _targets(http_sink.url()), clock=clock, policy=RetryPolicy(max_attempts=3))
        message = outbox.enqueue("soc", [make_finding()])
        assert message is not None
        for _ in range(5):
            outbox.deliver_due()
            clock.advance(3600)
        assert len(http_sink.requests) == 3
        (dead,) = outbox.dead_letters()
        assert dead.key == message.idempotency_key and dead.attempts == 3 and "503" in (dead.last_error or "")
        assert outbox.next_due() is None
        http_sink.default = Reply(200)
        assert outbox.requeue(dead.key) and not outbox.requeue(dead.key)
        assert outbox.deliver_due().delivered == [dead.key]
    assert len(http_sink.requests) == 4


def test_a_permanent_refusal_is_dead_at_once(http_sink: HttpSink, tmp_path: Path) -> None:
    http_sink.default = Reply(404, b"no_service")
    with Store.open(tmp_path / "s.duckdb") as store:
        outbox = Outbox(store, _targets(http_sink.url()), policy=RetryPolicy(max_attempts=8))
        outbox.enqueue("soc", [make_finding()])
        report = outbox.deliver_due()
        assert len(report.dead) == 1 and outbox.counts()[State.DEAD] == 1
        assert outbox.dead_letters()[0].attempts == 1


def test_backoff_doubles_within_its_jitter(tmp_path: Path) -> None:
    clock = FakeClock()
    targets = _targets(f"http://127.0.0.1:{free_port()}/down")
    policy = RetryPolicy(max_attempts=10, base_delay=10, max_delay=60, jitter=0.5)
    waits: list[float] = []
    with Store.open(tmp_path / "s.duckdb") as store:
        outbox = Outbox(store, targets, clock=clock, policy=policy)
        message = outbox.enqueue("soc", [make_finding()])
        assert message is not None
        for _ in range(5):
            outbox.deliver_due()
            entry = outbox.get(message.idempotency_key)
            assert entry is not None and entry.last_attempt_at is not None
            waits.append((entry.next_attempt_at - entry.last_attempt_at).total_seconds())
            clock.now = entry.next_attempt_at
    for n, wait in enumerate(waits, start=1):
        ceiling = min(60, 10 * 2 ** (n - 1))
        assert ceiling / 2 <= wait <= ceiling, (n, wait)
    assert len(set(waits)) == len(waits)  # jittered, not lock-step


def test_no_secret_reaches_the_store_even_when_the_target_echoes_it(http_sink: HttpSink, tmp_path: Path) -> None:
    url = http_sink.url("/hooks/T0KEN-s3cr3t-path")
    http_sink.default = Reply(500, f"cannot post to {url} with {KEY}".encode())
    path = tmp_path / "s.duckdb"
    with Store.open(path) as store:
        outbox = Outbox(store, _targets(url), policy=RetryPolicy(base_delay=1))
        message = outbox.enqueue("soc", [make_finding()])
        outbox.deliver_due()
        entry = outbox.get(message.idempotency_key)  # type: ignore[union-attr]
        assert entry is not None and "[REDACTED]" in (entry.last_error or "")
    with duckdb.connect(str(path), read_only=True) as conn:
        everything = str(conn.execute("SELECT * FROM outbox").fetchall())
    assert "T0KEN-s3cr3t-path" not in everything and KEY not in everything and "soc" in everything
    assert b"T0KEN-s3cr3t-path" not in path.read_bytes()


def test_unknown_target_is_refused_and_nothing_is_queued(tmp_path: Path) -> None:
    with Store.open(tmp_path / "s.duckdb") as store:
        outbox = Outbox(store, _targets("http://127.0.0.1:1/x"))
        with pytest.raises(BadInputError, match=r"no target named 'pager' \(soc\)"):
            outbox.enqueue("pager", [make_finding()])
        assert sum(outbox.counts().values()) == 0


def test_explicit_keys_let_a_router_resend_on_a_severity_change(http_sink: HttpSink, tmp_path: Path) -> None:
    finding = make_finding(1, severity=Severity.MEDIUM)
    with Store.open(tmp_path / "s.duckdb") as store:
        outbox = Outbox(store, _targets(http_sink.url()))
        assert outbox.enqueue("soc", [finding], key=f"{finding.id}:MEDIUM") is not None
        assert outbox.enqueue("soc", [finding], key=f"{finding.id}:MEDIUM") is None
        raised = finding.model_copy(update={"severity": Severity.HIGH})
        assert outbox.enqueue("soc", [raised], key=f"{finding.id}:HIGH") is not None
        assert len(outbox.deliver_due().delivered) == 2
    assert [r.json()["findings"][0]["severity"] for r in http_sink.requests] == ["MEDIUM", "HIGH"]


_CRASHING_SENDER = textwrap.dedent("""
    import sys
    from cloudwarden.core.finding import Finding, ResourceRef, Source
    from cloudwarden.core.severity import Severity
    from cloudwarden.notify import Outbox, Targets
    from cloudwarden.notify.webhook import WebhookTarget
    from cloudwarden.store import Store

    store = Store.open(sys.argv[1])
    outbox = Outbox(store, Targets({"soc": WebhookTarget(url=sys.argv[2], secret="k" * 16)}))
    finding = Finding.create(source=Source.DETECT, rule_id="r", type="t", title="crash test",
                             severity=Severity.HIGH, account_id="222222222222", region="us-east-1",
                             resource=ResourceRef(type="AwsIamUser", id="arn:aws:iam::222222222222:user/ci"))
    outbox.enqueue("soc", [finding], key="crash-key")
    outbox.deliver_due()  # the target holds the request; the process is killed while it waits
""")


def test_a_process_killed_mid_send_never_sends_twice_unless_asked(http_sink: HttpSink, tmp_path: Path) -> None:
    path, script = tmp_path / "s.duckdb", tmp_path / "crash.py"
    script.write_text(_CRASHING_SENDER)
    http_sink.hold = threading.Event()
    proc = subprocess.Popen([sys.executable, str(script), str(path), http_sink.url()], cwd=tmp_path)
    try:
        deadline = time.monotonic() + 30
        while not http_sink.requests and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
        assert len(http_sink.requests) == 1, "the sender never reached the target"
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        http_sink.hold.set()
    http_sink.hold = None
    targets = _targets(http_sink.url())
    with Store.open(path) as store:  # the dead process's lock is gone; the store replays its log
        outbox = Outbox(store, targets)
        assert outbox.recovered == 1
        entry = outbox.get("crash-key")
        assert entry is not None and entry.state is State.INTERRUPTED and "may or may not" in (entry.last_error or "")
        assert outbox.deliver_due().attempted == 0  # at most once: not re-sent on its own
        assert outbox.requeue("crash-key")
        assert outbox.deliver_due().delivered == ["crash-key"]
    assert _deliveries(http_sink) == Counter({"crash-key": 2})  # once by the killed process, once on request


def test_outbox_table_arrives_by_migration_and_keeps_older_data(tmp_path: Path) -> None:
    path = tmp_path / "old.duckdb"
    with duckdb.connect(str(path)) as conn:  # a store written before the outbox existed
        conn.execute("CREATE TABLE schema_version (version INTEGER NOT NULL, applied_at TIMESTAMP)")
        for statement in MIGRATIONS[0]:
            conn.execute(statement)
        conn.execute("INSERT INTO schema_version VALUES (1, NULL)")
        conn.execute("INSERT INTO runs VALUES ('run-1', 'scan', now()::TIMESTAMP, NULL, 'done', '{}')")
    with Store.open(path) as store:
        assert [r.id for r in store.runs()] == ["run-1"]
        outbox = Outbox(store, _targets("http://127.0.0.1:1/x"))
        assert outbox.enqueue("soc", [make_finding()]) is not None
    with duckdb.connect(str(path)) as conn:
        assert current_version(conn) == SCHEMA_VERSION >= 2


def test_a_background_loop_delivers_what_producers_queue_meanwhile(http_sink: HttpSink, tmp_path: Path) -> None:
    with Store.open(tmp_path / "s.duckdb") as store:
        outbox = Outbox(store, _targets(http_sink.url()))
        stop = threading.Event()
        loop = threading.Thread(target=outbox.run, kwargs={"stop": stop, "poll": 0.02})
        loop.start()
        try:
            # The same messages again (built once: a finding made later carries a later first_seen, so its
            # payload and key would differ whenever a second ticks over in between).
            messages = _one_each(range(25))
            keys = outbox.enqueue_messages(messages[:20])
            keys += outbox.enqueue_messages(messages)
            assert len(keys) == 25  # the 20 repeats were not queued again
            deadline = time.monotonic() + 20
            while outbox.counts()[State.DELIVERED] < 25 and time.monotonic() < deadline:
                time.sleep(0.02)
        finally:
            stop.set()
            loop.join(10)
        assert not loop.is_alive()
        assert outbox.counts()[State.DELIVERED] == 25
    assert [r.header("X-Cloudwarden-Delivery") for r in http_sink.requests] == keys  # in queue order, once each


def test_resend_interrupted_sends_again_for_receivers_that_deduplicate(http_sink: HttpSink, tmp_path: Path) -> None:
    path = tmp_path / "s.duckdb"
    with Store.open(path) as store:
        message = Outbox(store, _targets(http_sink.url())).enqueue("soc", [make_finding()])
        assert message is not None
    with duckdb.connect(str(path)) as conn:  # what a process killed mid-send leaves behind
        conn.execute("UPDATE outbox SET state = 'sending', attempts = 1")
    with Store.open(path) as store:
        outbox = Outbox(store, _targets(http_sink.url()), resend_interrupted=True)
        assert outbox.recovered == 1 and outbox.counts()[State.PENDING] == 1
        assert outbox.deliver_due().delivered == [message.idempotency_key]
    assert _deliveries(http_sink) == Counter({message.idempotency_key: 1})
