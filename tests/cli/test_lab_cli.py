"""`cloudwarden lab up --detach` / `status --json` / `down`, as a user runs them (real processes)."""

from __future__ import annotations

import gzip
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import boto3
import pytest

pytestmark = pytest.mark.lab


def _cloudwarden(*args: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    return subprocess.run(
        [sys.executable, "-m", "cloudwarden", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_up_detach_status_down_round_trip(tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    port = _free_port()
    up = _cloudwarden(
        "lab", "up", "--detach", "--seed", "empty", "--port", str(port), "--state-dir", str(state_dir), cwd=tmp_path
    )
    try:
        assert up.returncode == 0, up.stderr
        endpoint = f"http://127.0.0.1:{port}"
        assert f"export AWS_ENDPOINT_URL={endpoint}" in up.stdout
        assert "export AWS_ACCESS_KEY_ID=testing" in up.stdout

        status = _cloudwarden("lab", "status", "--json", "--state-dir", str(state_dir), cwd=tmp_path)
        assert status.returncode == 0, status.stderr
        summary = json.loads(status.stdout)
        assert summary["endpoint"] == endpoint
        assert summary["state_dir"] == str(state_dir)
        assert summary["accounts"] == {"management": "123456789012"}

        again = _cloudwarden(
            "lab", "up", "--detach", "--seed", "empty", "--port", "0", "--state-dir", str(state_dir), cwd=tmp_path
        )
        assert again.returncode == 3
        assert "already running" in again.stderr

        iam = boto3.client(
            "iam",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        iam.create_user(UserName="cli-user")
        human = _cloudwarden("lab", "status", "--state-dir", str(state_dir), cwd=tmp_path)
        assert "1 CloudTrail records" in human.stdout
    finally:
        down = _cloudwarden("lab", "down", "--state-dir", str(state_dir), cwd=tmp_path)
    assert down.returncode == 0, down.stderr
    assert "lab stopped" in down.stdout
    assert not (state_dir / "lab.json").exists()
    # The server flushed its pending records on the way down.
    records = [
        r
        for path in (state_dir / "cloudtrail").rglob("*.json.gz")
        for r in json.loads(gzip.decompress(path.read_bytes()))["Records"]
    ]
    assert [r["eventName"] for r in records] == ["CreateUser"]
    assert (state_dir / "lab.log").is_file()

    after = _cloudwarden("lab", "status", "--json", "--state-dir", str(state_dir), cwd=tmp_path)
    assert after.returncode == 3
    assert "no lab is running" in after.stderr
    second_down = _cloudwarden("lab", "down", "--state-dir", str(state_dir), cwd=tmp_path)
    assert second_down.returncode == 0
    assert "no lab is running" in second_down.stdout


@pytest.mark.parametrize("detach", [False, True])
def test_port_taken_exits_3(tmp_path: Path, detach: bool) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        args = ["lab", "up", "--seed", "empty", "--port", str(port), "--state-dir", str(tmp_path / "s")]
        result = _cloudwarden(*args, *(["--detach"] if detach else []), cwd=tmp_path)
    assert result.returncode == 3
    assert f"port {port} on 127.0.0.1 is already in use" in result.stderr
    assert not (tmp_path / "s" / "lab.json").exists()


def test_unknown_seed_is_bad_usage(tmp_path: Path) -> None:
    result = _cloudwarden("lab", "up", "--seed", "everything", "--state-dir", str(tmp_path / "s"), cwd=tmp_path)
    assert result.returncode == 2
    assert "--seed" in result.stderr


def test_stale_state_file_is_cleaned_up_by_down(tmp_path: Path) -> None:
    state_dir = tmp_path / "s"
    state_dir.mkdir()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (state_dir / "lab.json").write_text(
        json.dumps(
            {
                "pid": dead.pid,
                "endpoint": "http://127.0.0.1:9",
                "port": 9,
                "started_at": "2024-01-01T00:00:00Z",
                "accounts": {},
            }
        )
    )
    status = _cloudwarden("lab", "status", "--state-dir", str(state_dir), cwd=tmp_path)
    assert status.returncode == 3
    down = _cloudwarden("lab", "down", "--state-dir", str(state_dir), cwd=tmp_path)
    assert down.returncode == 0
    assert "stale" in down.stdout
    assert not (state_dir / "lab.json").exists()


def test_damaged_state_file_is_bad_input(tmp_path: Path) -> None:
    state_dir = tmp_path / "s"
    state_dir.mkdir()
    (state_dir / "lab.json").write_text("{not json")
    result = _cloudwarden("lab", "status", "--state-dir", str(state_dir), cwd=tmp_path)
    assert result.returncode == 2
    assert "lab.json" in result.stderr
