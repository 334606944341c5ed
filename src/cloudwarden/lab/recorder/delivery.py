"""Delivering records as CloudTrail does: gzipped ``{"Records": [...]}`` log files, in batches.

Records wait in memory and are written at most every ``interval`` seconds (5 by default, by a
background thread), when asked (``flush()``, the ``/_cloudwarden/flush`` endpoint) and when the lab
stops. Each batch becomes one file per trail, account and region, named and placed as CloudTrail
names and places them::

    [<S3KeyPrefix>/]AWSLogs/[<org-id>/]<account>/CloudTrail/<region>/<yyyy>/<mm>/<dd>/
        <account>_CloudTrail_<region>_<yyyymmddThhmmZ>_<16 random characters>.json.gz

Trail files are written straight into moto's S3 backend of the bucket's owner, in-process, so the
delivery itself is no API call and leaves no record (like CloudTrail's own service principal, whose
writes do not appear in the trail). Every record is also written under ``<state dir>/cloudtrail/``
with the same layout, whatever the trails say: the lab's ground truth.

A failed delivery to a trail's bucket (the bucket was deleted) is counted and reported in the
status, as CloudTrail reports ``LatestDeliveryError``; the disk copy is still written.
"""

from __future__ import annotations

import gzip
import json
import logging
import os
import secrets
import string
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cloudwarden.lab.recorder.trails import TrailTarget

log = logging.getLogger(__name__)

DEFAULT_INTERVAL = 5.0
MAX_RECORDS_PER_FILE = 2000
_ALPHABET = string.ascii_letters + string.digits


@dataclass
class FlushResult:
    """What one flush wrote."""

    records: int = 0
    disk_files: int = 0
    trail_files: int = 0
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "records": self.records,
            "disk_files": self.disk_files,
            "trail_files": self.trail_files,
            "errors": list(self.errors),
        }


def log_file_name(account_id: str, region: str, when: datetime) -> str:
    random_part = "".join(secrets.choice(_ALPHABET) for _ in range(16))
    return f"{account_id}_CloudTrail_{region}_{when:%Y%m%dT%H%MZ}_{random_part}.json.gz"


def dated_dir(region: str, when: datetime) -> str:
    return f"{region}/{when:%Y}/{when:%m}/{when:%d}/"


def encode_log_file(records: list[Mapping[str, Any]]) -> bytes:
    ordered = sorted(records, key=lambda r: str(r.get("eventTime", "")))
    body = json.dumps({"Records": ordered}, separators=(",", ":")).encode()
    return gzip.compress(body, mtime=0)


class Delivery:
    """Buffers records per destination and writes them as CloudTrail log files."""

    def __init__(self, state_dir: Path, interval: float = DEFAULT_INTERVAL) -> None:
        self.root = state_dir / "cloudtrail"
        self.interval = interval
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._disk: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
        self._trails: dict[tuple[str, str, str], list[Mapping[str, Any]]] = {}
        self._targets: dict[str, TrailTarget] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.delivered_records = 0
        self.disk_files = 0
        self.trail_files = 0
        self.delivery_errors: list[str] = []

    # --- buffering ------------------------------------------------------------------------------
    def add(self, record: Mapping[str, Any], targets: list[TrailTarget]) -> None:
        account = str(record.get("recipientAccountId"))
        region = str(record.get("awsRegion"))
        with self._lock:
            self._disk.setdefault((account, region), []).append(record)
            for target in targets:
                self._targets[target.arn] = target
                self._trails.setdefault((target.arn, account, region), []).append(record)

    @property
    def pending(self) -> int:
        with self._lock:
            return sum(len(v) for v in self._disk.values())

    # --- writing --------------------------------------------------------------------------------
    def flush(self) -> FlushResult:
        """Write everything buffered now; returns what was written."""
        with self._flush_lock:
            with self._lock:
                disk, self._disk = self._disk, {}
                trails, self._trails = self._trails, {}
                targets = dict(self._targets)
            result = FlushResult()
            now = datetime.now(UTC)
            for (account, region), records in disk.items():
                for chunk in _chunks(records):
                    try:
                        self._write_disk(account, region, now, chunk)
                    except OSError as exc:
                        result.errors.append(f"writing {self.root}: {exc}")
                        with self._lock:  # keep the records for the next flush
                            self._disk.setdefault((account, region), [])[:0] = chunk
                        continue
                    result.records += len(chunk)
                    result.disk_files += 1
            for (arn, account, region), records in trails.items():
                target = targets[arn]
                for chunk in _chunks(records):
                    error = _write_trail(target, account, region, now, chunk)
                    if error:
                        result.errors.append(error)
                    else:
                        result.trail_files += 1
            with self._lock:
                self.delivered_records += result.records
                self.disk_files += result.disk_files
                self.trail_files += result.trail_files
                self.delivery_errors = (self.delivery_errors + result.errors)[-20:]
            for error in result.errors:
                log.error("CloudTrail delivery failed: %s", error)
            return result

    def _write_disk(self, account: str, region: str, now: datetime, records: list[Mapping[str, Any]]) -> None:
        directory = self.root / "AWSLogs" / account / "CloudTrail" / dated_dir(region, now)
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / log_file_name(account, region, now)
        temporary = path.with_name(path.name + ".part")
        temporary.write_bytes(encode_log_file(records))
        os.replace(temporary, path)

    # --- background thread ----------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="cloudtrail-delivery", daemon=True)
        self._thread.start()

    def stop(self) -> FlushResult:
        """Stop the thread and write what is left."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        return self.flush()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.flush()


def _chunks(records: list[Mapping[str, Any]]) -> list[list[Mapping[str, Any]]]:
    return [records[i : i + MAX_RECORDS_PER_FILE] for i in range(0, len(records), MAX_RECORDS_PER_FILE)]


def _write_trail(
    target: TrailTarget, account: str, region: str, now: datetime, records: list[Mapping[str, Any]]
) -> str | None:
    """Put one log file into the trail's bucket via moto's S3 backend; an error message on failure."""
    key = target.log_prefix(account) + dated_dir(region, now) + log_file_name(account, region, now)
    error = put_object(target.bucket, key, encode_log_file(records))
    return f"trail {target.arn}: {error}" if error else None


def put_object(bucket: str, key: str, body: bytes) -> str | None:
    """Write an object as an AWS service would (no API call, so nothing is recorded); error or None."""
    from moto.s3.exceptions import MissingBucket
    from moto.s3.models import s3_backends

    owner = s3_backends.bucket_accounts.get(bucket)
    if owner is None:
        return f"bucket {bucket} does not exist"
    partition, account_id = owner
    try:
        s3_backends[account_id][partition].put_object(bucket, key, body)
    except MissingBucket:  # deleted since the lookup above
        return f"bucket {bucket} does not exist"
    return None
