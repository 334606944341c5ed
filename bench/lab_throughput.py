"""Lab throughput: API calls per second through the lab (recording on) and through bare moto.

Starts ``cloudwarden lab up --seed empty`` and moto's own ``moto_server`` as separate processes on
free ports (so the client does not share a GIL with the server), then times sequential and
concurrent calls of a few cheap operations against each. Prints one line per measurement::

    .venv/bin/python bench/lab_throughput.py [--calls 400] [--threads 4]

Not a test: figures depend on the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

OPERATIONS: dict[str, Callable[[Any], object]] = {
    "sts:GetCallerIdentity": lambda c: c["sts"].get_caller_identity(),
    "s3:ListBuckets": lambda c: c["s3"].list_buckets(),
    "iam:ListUsers": lambda c: c["iam"].list_users(),
}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            urllib.request.urlopen(url, timeout=1).read()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def _clients(endpoint: str) -> dict[str, Any]:
    config = Config(retries={"max_attempts": 1}, max_pool_connections=32)
    return {
        name: boto3.client(
            name,
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            config=config,
        )
        for name in ("sts", "s3", "iam")
    }


def _rate(endpoint: str, operation: Callable[[Any], object], calls: int, threads: int) -> float:
    clients = _clients(endpoint)
    operation(clients)  # warm up: backends are built on first use
    start = time.perf_counter()
    if threads == 1:
        for _ in range(calls):
            operation(clients)
    else:
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(lambda _: operation(clients), range(calls)))
    return calls / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=400)
    parser.add_argument("--threads", type=int, default=4)
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="lab-bench-"))
    lab_port, moto_port = _free_port(), _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    lab = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cloudwarden",
            "lab",
            "up",
            "--seed",
            "empty",
            "--port",
            str(lab_port),
            "--state-dir",
            str(workdir / "lab"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    moto_server = shutil.which("moto_server", path=str(Path(sys.executable).parent))
    moto = subprocess.Popen(
        [moto_server or "moto_server", "-p", str(moto_port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**env, "MOTO_IAM_LOAD_MANAGED_POLICIES": "true"},
    )
    try:
        lab_url, moto_url = f"http://127.0.0.1:{lab_port}", f"http://127.0.0.1:{moto_port}"
        _wait(lab_url + "/_cloudwarden/status")
        _wait(moto_url + "/moto-api/data.json")
        print(f"calls per measurement: {args.calls}; concurrent clients: {args.threads}; cores: {os.cpu_count()}")
        for name, operation in OPERATIONS.items():
            for threads in (1, args.threads):
                recorded = _rate(lab_url, operation, args.calls, threads)
                bare = _rate(moto_url, operation, args.calls, threads)
                print(
                    f"{name:24s} threads={threads}  lab (recording): {recorded:7.1f} calls/s   "
                    f"bare moto: {bare:7.1f} calls/s   recording cost: {100 * (1 - recorded / bare):5.1f}%"
                )
        status = json.loads(urllib.request.urlopen(lab_url + "/_cloudwarden/status", timeout=5).read())
        print(f"lab recorded {status['records_total']} records for {status['requests_total']} requests")
    finally:
        for process in (lab, moto):
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
