"""`route run` (cli/route_run.py): findings file -> rules -> outbox -> a signed webhook, once."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from typer.testing import CliRunner

from cloudwarden.cli import route_run
from cloudwarden.core.finding import Finding, ResourceRef, Source
from cloudwarden.core.severity import Severity
from cloudwarden.lab import demo_org as org
from cloudwarden.route.rules import RulesFileError
from cloudwarden.route.stage import AlertSink
from cloudwarden.store import Lifecycle, Store

SECRET = "k" * 40
RULES = """\
rules:
  - name: high
    pattern: {detail: {findings: {Severity: {Label: [HIGH, CRITICAL]}}}}
    targets: [soc]
"""

app = typer.Typer()
app.command("run")(route_run.run)


@app.callback()
def _group() -> None:
    """route"""


def finding(n: int, severity: Severity) -> Finding:
    return Finding.create(
        source=Source.POSTURE, rule_id=f"c{n}", type="Software and Configuration Checks", title=f"control {n}",
        severity=severity, account_id=org.PROD, region=org.HOME_REGION,
        resource=ResourceRef(type="AwsS3Bucket", id=f"arn:aws:s3:::b{n}"))


def files(tmp_path: Path, sink: AlertSink) -> list[str]:
    (tmp_path / "rules.yaml").write_text(RULES)
    (tmp_path / "targets.yaml").write_text(
        f"targets:\n  soc:\n    kind: webhook\n    url: {sink.url}\n    secret: {SECRET}\n")
    found = [finding(1, Severity.HIGH), finding(2, Severity.LOW)]
    (tmp_path / "findings.jsonl").write_text("".join(json.dumps(f.to_json_dict()) + "\n" for f in found))
    return ["run", "--rules", str(tmp_path / "rules.yaml"), "--targets", str(tmp_path / "targets.yaml"),
            "--store", str(tmp_path / "store.duckdb")]


def test_route_run_delivers_once_and_holds_repeats(tmp_path: Path) -> None:
    with AlertSink(tmp_path / "alerts.jsonl", SECRET.encode()) as sink:
        args = files(tmp_path, sink)
        first = CliRunner().invoke(app, [*args, "--findings", str(tmp_path / "findings.jsonl")])
        assert first.exit_code == 0, first.output
        assert "rule high: 1 finding(s) matched" in first.output
        assert "queued: 1 finding(s) to soc (high)" in first.output
        assert "delivered 1, retrying 0, dead 0" in first.output
        # from the store this time: the same finding is not sent again
        second = CliRunner().invoke(app, args)
        assert second.exit_code == 0, second.output
        assert "held back: 1 already-sent" in second.output and "0 message(s) queued" in second.output
        assert sink.stats()["accepted"] == 1
    with Store.open(tmp_path / "store.duckdb") as store:
        assert store.get_record(finding(1, Severity.HIGH).id).lifecycle is Lifecycle.NOTIFIED  # type: ignore[union-attr]
    assert SECRET not in first.output + second.output


def test_no_deliver_leaves_the_message_queued(tmp_path: Path) -> None:
    with AlertSink(tmp_path / "alerts.jsonl", SECRET.encode()) as sink:
        args = files(tmp_path, sink)
        done = CliRunner().invoke(app, [*args, "--findings", str(tmp_path / "findings.jsonl"), "--no-deliver", "-q"])
        assert done.exit_code == 0, done.output
        assert done.output.strip().endswith("1 message(s) queued, 0 playbook run(s); 1 waiting in the outbox")
        assert sink.stats()["accepted"] == 0


def test_a_bad_rules_file_is_bad_input_naming_the_line(tmp_path: Path) -> None:
    with AlertSink(tmp_path / "alerts.jsonl", SECRET.encode()) as sink:
        args = files(tmp_path, sink)
    (tmp_path / "rules.yaml").write_text(RULES.replace("[soc]", "[soc, pager]"))
    done = CliRunner().invoke(app, args)
    assert isinstance(done.exception, RulesFileError) and done.exception.exit_code == 2
    assert str(done.exception).startswith(f"{tmp_path / 'rules.yaml'}:4: rules[0].targets[1]")
    assert not (tmp_path / "store.duckdb").exists()  # nothing was opened, nothing half-done
