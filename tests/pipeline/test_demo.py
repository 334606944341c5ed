"""`cloudwarden demo` end to end: a real lab, real traffic and attacks, the contract's outputs."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cloudwarden.findings import read_findings
from cloudwarden.lab import demo_org
from cloudwarden.store import Store

CONTRACT_FILES = (
    "report.html",
    "findings.jsonl",
    "findings.asff.json",
    "findings.ocsf.json",
    "findings.sarif",
    "summary.json",
)


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess[str]]:
    workdir = tmp_path_factory.mktemp("demo")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    done = subprocess.run(
        [sys.executable, "-m", "cloudwarden", "demo", "--port", "0", "--output-dir", "out"],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    return workdir, done


def test_demo_exits_zero_and_names_the_report(demo_run: tuple[Path, subprocess.CompletedProcess[str]]) -> None:
    workdir, done = demo_run
    assert done.returncode == 0, done.stderr
    assert "out/report.html" in done.stdout
    for name in CONTRACT_FILES:
        assert (workdir / "out" / name).is_file(), name


def test_demo_prints_no_server_traceback(demo_run: tuple[Path, subprocess.CompletedProcess[str]]) -> None:
    """Calls the lab cannot serve (moto lacks them) are answered 501 NotImplemented, not with a traceback and
    moto's "Unable to find appropriate backend" line on the user's terminal."""
    _, done = demo_run
    for stream in (done.stdout, done.stderr):
        assert "Traceback" not in stream
        assert "Error on request" not in stream
        assert "Unable to find appropriate backend" not in stream


def test_cloudtrail_copy_holds_the_attacks_with_attacker_address(
    demo_run: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    workdir, _ = demo_run
    files = sorted((workdir / "out" / "cloudtrail").rglob("*.json.gz"))
    assert files, "no CloudTrail file delivered"
    records = [r for f in files for r in json.loads(gzip.decompress(f.read_bytes()))["Records"]]
    first = json.loads(gzip.decompress(files[0].read_bytes()))["Records"][0]
    assert f"/AWSLogs/{first['recipientAccountId']}/CloudTrail/" in str(files[0])
    from_attacker = [r for r in records if r["sourceIPAddress"] == demo_org.ATTACKER_IP]
    names = {r["eventName"] for r in from_attacker}
    assert {"StopLogging", "DeleteDetector", "CreateAccessKey", "AttachUserPolicy"} <= names
    leaked = f"arn:aws:iam::{demo_org.PROD}:user/{demo_org.USER_CI}"
    assert any(r["userIdentity"].get("arn") == leaked for r in from_attacker)
    logins = [r for r in records if r["eventName"] == "ConsoleLogin"]
    assert any(r["additionalEventData"]["MFAUsed"] == "No" and r["sourceIPAddress"] == demo_org.ATTACKER_IP
               for r in logins)


def test_summary_counts_match_the_files_and_the_store_has_the_run(
    demo_run: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    workdir, _ = demo_run
    summary = json.loads((workdir / "out" / "summary.json").read_text())
    files = list((workdir / "out" / "cloudtrail").rglob("*.json.gz"))
    on_disk = sum(len(json.loads(gzip.decompress(f.read_bytes()))["Records"]) for f in files)
    assert summary["cloudtrail"]["records"] == on_disk > 300
    assert summary["lab"]["accounts"] == demo_org.ACCOUNTS
    assert set(summary["timings"]["stages"]) >= {"lab", "traffic", "attacks"}
    jsonl = workdir / "out" / "findings.jsonl"
    findings = read_findings(jsonl) if jsonl.stat().st_size else []
    assert summary["findings"] == len(findings)
    with Store.open(workdir / ".cloudwarden" / "cloudwarden.duckdb", read_only=True) as store:
        runs = store.runs(10)
    assert [r.command for r in runs] == ["demo"]
    assert runs[0].status == "succeeded"


def test_report_is_self_contained_and_shows_the_org(demo_run: tuple[Path, subprocess.CompletedProcess[str]]) -> None:
    workdir, _ = demo_run
    html = (workdir / "out" / "report.html").read_text()
    for account in demo_org.ACCOUNTS.values():
        assert account in html
    assert "<script src" not in html and "<link " not in html
    assert demo_org.ATTACKER_IP in html  # the activity summary flags the outside address


def test_secrets_never_reach_the_outputs(demo_run: tuple[Path, subprocess.CompletedProcess[str]]) -> None:
    workdir, _ = demo_run
    seed = json.loads((workdir / ".cloudwarden" / "demo-lab" / "seed.json").read_text())
    secrets = [pair["secret_access_key"] for pair in seed["credentials"].values()]
    blobs = [p.read_bytes() for p in (workdir / "out").rglob("*") if p.is_file()]
    texts = [gzip.decompress(b) if b[:2] == b"\x1f\x8b" else b for b in blobs]
    for secret in secrets:
        assert not any(secret.encode() in t for t in texts)
