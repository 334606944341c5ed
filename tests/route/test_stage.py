"""The demo's route stage and its alert sink: signed alerts arrive once, even across a target outage."""

from __future__ import annotations

import json
import socket
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from cloudwarden.aws.session import AwsTarget
from cloudwarden.core.finding import Finding, ResourceRef, Source
from cloudwarden.core.severity import Severity
from cloudwarden.lab import demo_org as org
from cloudwarden.notify.outbox import Outbox, RetryPolicy, State
from cloudwarden.notify.webhook import DELIVERY_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, sign
from cloudwarden.pipeline.stages import StageContext
from cloudwarden.route.router import route_findings
from cloudwarden.route.stage import ALERTS_FILE, DEMO_TARGET, AlertSink, demo_rules, route_stage, sink_targets
from cloudwarden.store import Lifecycle, Store

SECRET = "s" * 64


def finding(n: int, severity: Severity = Severity.HIGH, **fields: object) -> Finding:
    return Finding.create(
        source=Source.POSTURE, rule_id=f"control-{n}", type="Software and Configuration Checks",
        title=f"control {n} failed", severity=severity, account_id=org.PROD, region=org.HOME_REGION,
        resource=ResourceRef(type="AwsS3Bucket", id=f"arn:aws:s3:::bucket-{n}"), **fields)  # type: ignore[arg-type]


def cloudtrail_stopped() -> Finding:
    principal = f"arn:aws:iam::{org.PROD}:user/{org.USER_CI}"
    return Finding.create(
        source=Source.DETECT, rule_id="cloudtrail-logging-stopped", type="Stealth:IAMUser/CloudTrailLoggingDisabled",
        title="CloudTrail logging stopped", severity=Severity.LOW, account_id=org.PROD, region=org.HOME_REGION,
        resource=ResourceRef(type="AwsCloudTrailTrail", id=f"arn:aws:cloudtrail:us-east-1:{org.PROD}:trail/org"),
        principal=principal)


def post(url: str, body: bytes, headers: dict[str, str]) -> int:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=5) as reply:
            return int(reply.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()] if path.exists() else []


def test_the_sink_keeps_signed_alerts_and_refuses_the_rest(tmp_path: Path) -> None:
    alerts = tmp_path / "alerts.jsonl"
    with AlertSink(alerts, SECRET.encode()) as sink:
        body = json.dumps({"id": "d1", "subject": "hello", "findings": []}).encode()
        stamp = str(int(time.time()))
        good = {TIMESTAMP_HEADER: stamp, SIGNATURE_HEADER: sign(SECRET.encode(), stamp, body), DELIVERY_HEADER: "d1"}
        assert post(sink.url, body, good) == 200
        assert post(sink.url, body, good) == 200  # a retry of the same delivery: acknowledged, not kept twice
        forged = {**good, SIGNATURE_HEADER: sign(b"another key", stamp, body)}
        assert post(sink.url, body, forged) == 401
        tampered = body.replace(b"hello", b"HELLO")
        assert post(sink.url, tampered, good) == 401
        old = str(int(time.time()) - 3600)
        assert post(sink.url, body, {**good, TIMESTAMP_HEADER: old,
                                     SIGNATURE_HEADER: sign(SECRET.encode(), old, body)}) == 401
        assert post(sink.url.replace("/alerts", "/other"), body, good) == 404
        stats = sink.stats()
    assert (stats["accepted"], stats["repeats"], stats["rejected"]) == (1, 1, 3)
    [kept] = lines(alerts)
    assert kept["delivery"] == "d1" and kept["subject"] == "hello" and kept["signature"] == "verified"


def test_the_demo_rules_load_with_their_target() -> None:
    ruleset = demo_rules()
    assert ruleset.notify_target_names() == [DEMO_TARGET]
    assert {t.name for rule in ruleset for t in rule.playbook_targets} == {"compromised-iam-credentials"}
    assert all(not t.execute for rule in ruleset for t in rule.playbook_targets)


def test_route_stage_delivers_signed_alerts_to_its_sink(tmp_path: Path) -> None:
    store_path = tmp_path / "store.duckdb"
    findings = [finding(1), finding(2, Severity.CRITICAL), finding(3, Severity.MEDIUM), cloudtrail_stopped()]
    with Store.open(store_path) as store:
        run_id = store.start_run("demo")
        store.upsert_findings(run_id, findings)
    with socket.socket() as probe:  # a port nothing listens on: the playbook cannot reach AWS
        probe.bind(("127.0.0.1", 0))
        dead_endpoint = f"http://127.0.0.1:{probe.getsockname()[1]}"
    ctx = StageContext(target=AwsTarget(endpoint_url=dead_endpoint), accounts={"prod": org.PROD},
                       store_path=store_path, run_id=run_id, output_dir=tmp_path / "out",
                       findings_so_far=tuple(findings), role_name=org.MEMBER_ACCESS_ROLE)
    result = route_stage(ctx)
    stats = result.stats
    assert result.findings == []
    assert stats["matched"] == {"high-severity-to-webhook": 2, "cloudtrail-disabled-playbook": 1}
    assert stats["delivery"] == {"delivered": 1, "retrying": 0, "dead": 0}
    assert stats["sink"]["accepted"] == 1 and stats["sink"]["rejected"] == 0
    [alert] = lines(tmp_path / "out" / ALERTS_FILE)
    assert alert["signature"] == "verified" and alert["rule"] == "high-severity-to-webhook"
    assert alert["finding_ids"] == [findings[1].id, findings[0].id]
    assert alert["delivery"] == stats["queued"][0]["key"]
    # the playbook could not reach AWS: reported with its error, the stage carries on
    [run] = stats["playbook_runs"]
    assert run["playbook"] == "compromised-iam-credentials" and run["status"] == "error" and not run["execute"]
    assert run["error"]
    assert SECRET not in json.dumps(stats)
    with Store.open(store_path) as store:
        lifecycles = {f.id: store.get_record(f.id).lifecycle for f in findings}  # type: ignore[union-attr]
    assert lifecycles[findings[0].id] is lifecycles[findings[1].id] is Lifecycle.NOTIFIED
    assert lifecycles[findings[2].id] is Lifecycle.NEW
    # run again: nothing new to say, the sink hears nothing (and the file holds only this run's alerts)
    again = route_stage(ctx)
    assert again.stats["queued"] == [] and again.stats["suppressed"] == {"already-sent": 2}
    assert again.stats["sink"]["accepted"] == 0 and lines(tmp_path / "out" / ALERTS_FILE) == []


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


def test_a_target_down_then_up_gets_each_alert_once(tmp_path: Path) -> None:
    alerts = tmp_path / "alerts.jsonl"
    sink = AlertSink(alerts, SECRET.encode()).start()
    port = sink.port
    sink.stop()  # the target is down: nothing listens on its port
    clock = Clock()
    with Store.open(tmp_path / "store.duckdb") as store:
        findings = [finding(1), finding(2)]
        store.upsert_findings(store.start_run("test"), findings)
        outbox = Outbox(store, sink_targets(sink, SECRET), clock=clock,
                        policy=RetryPolicy(max_attempts=5, base_delay=60, max_delay=600, jitter=0))
        report = route_findings(findings, demo_rules(), store=store, outbox=outbox, now=clock())
        [queued] = report.queued
        down = outbox.deliver_due()
        assert down.retrying == [queued.key] and down.delivered == []
        assert not alerts.exists()
        # findings arrive while the target is down: routed again, nothing is queued twice
        assert route_findings(findings, demo_rules(), store=store, outbox=outbox, now=clock()).queued == []
        assert outbox.deliver_due().attempted == 0  # not due before its backoff
        up = AlertSink(alerts, SECRET.encode(), port=port).start()
        try:
            clock.now += timedelta(seconds=61)
            delivered = outbox.deliver_due()
            assert delivered.delivered == [queued.key]
            clock.now += timedelta(hours=2)
            assert outbox.deliver_due().attempted == 0
            assert up.accepted == [queued.key] and up.repeats == 0 and up.rejected == []
        finally:
            up.stop()
        assert outbox.counts()[State.DELIVERED] == 1 and outbox.counts()[State.PENDING] == 0
        assert {store.get_record(f.id).lifecycle for f in findings} == {Lifecycle.NOTIFIED}  # type: ignore[union-attr]
    [alert] = lines(alerts)
    assert sorted(alert["finding_ids"]) == sorted(f.id for f in findings)


@pytest.mark.parametrize("body", [b"not json"])
def test_the_sink_refuses_a_signed_body_that_is_not_json(tmp_path: Path, body: bytes) -> None:
    with AlertSink(tmp_path / "a.jsonl", SECRET.encode()) as sink:
        stamp = str(int(time.time()))
        status = post(sink.url, body, {TIMESTAMP_HEADER: stamp, SIGNATURE_HEADER: sign(SECRET.encode(), stamp, body)})
    assert status == 400 and not (tmp_path / "a.jsonl").exists()
