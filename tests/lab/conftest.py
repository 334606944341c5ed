"""The ``lab`` fixture: a real lab (moto's server + CloudTrail recorder) on a free port, per test.

Each test gets a fresh lab in its own ``tmp_path`` state directory (starting one resets moto's
process-wide state; it takes a fraction of a second). Delivery runs only when a test flushes, so what
a test reads from the trail bucket or the disk is exactly what it made happen.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cloudwarden.lab.server import Lab

NO_BACKGROUND_FLUSH = 3600.0


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    with Lab(tmp_path / "lab-state", seed="empty", flush_interval=NO_BACKGROUND_FLUSH) as running:
        yield running


def disk_records(state_dir: Path) -> list[dict[str, Any]]:
    """Every record the lab wrote under ``<state dir>/cloudtrail``."""
    records: list[dict[str, Any]] = []
    for path in sorted((state_dir / "cloudtrail").rglob("*.json.gz")):
        records.extend(json.loads(gzip.decompress(path.read_bytes()))["Records"])
    return records


def bucket_files(s3: Any, bucket: str) -> dict[str, list[dict[str, Any]]]:
    """Every CloudTrail file in ``bucket``: key -> its records."""
    files: dict[str, list[dict[str, Any]]] = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for item in page.get("Contents", []):
            if item["Key"].endswith(".json.gz"):
                body = s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
                files[item["Key"]] = json.loads(gzip.decompress(body))["Records"]
    return files


def bucket_records(s3: Any, bucket: str) -> list[dict[str, Any]]:
    return [record for records in bucket_files(s3, bucket).values() for record in records]


def forwarded_for(client: Any, address: str) -> Any:
    """Make every request of ``client`` carry ``X-Forwarded-For: address`` (added after signing)."""

    def add_header(request: Any, **_: Any) -> None:
        request.headers["X-Forwarded-For"] = address

    client.meta.events.register("before-send.*.*", add_header)
    return client


def names(records: list[dict[str, Any]]) -> list[str]:
    return [r["eventName"] for r in records]


def only(records: list[dict[str, Any]], event_name: str) -> dict[str, Any]:
    found = [r for r in records if r["eventName"] == event_name]
    assert len(found) == 1, f"{len(found)} {event_name} records in {names(records)}"
    return found[0]


def make_trail(
    lab: Lab, name: str, bucket: str, *, region: str = "us-east-1", start: bool = True, **kwargs: Any
) -> Any:
    """A trail (and its bucket) made through the API as root of the management account."""
    s3 = lab.aws_client("s3", region=region)
    if region == "us-east-1":
        s3.create_bucket(Bucket=bucket)
    else:
        s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": region})
    cloudtrail = lab.aws_client("cloudtrail", region=region)
    cloudtrail.create_trail(Name=name, S3BucketName=bucket, **kwargs)
    if start:
        cloudtrail.start_logging(Name=name)
    return cloudtrail
