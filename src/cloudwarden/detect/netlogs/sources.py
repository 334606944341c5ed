"""Where network logs come from: files, directory trees and ``s3://BUCKET/PREFIX``, as :class:`LogObject` s.

The CloudTrail lister (:func:`cloudwarden.detect.load.list_objects`) keeps only CloudTrail's file names;
flow logs and resolver query logs are delivered as ``.log.gz`` (and exported as ``.log``, ``.txt``,
``.json``), so this lister takes its own suffixes and otherwise behaves the same: names it ignores are
reported as skipped, a local path that does not exist is a :class:`BadInputError`, an S3 listing that
fails is a :class:`RuntimeFailure`. S3 is read through the client the caller's session makes (a role
assumed in the account that owns the bucket, or the default chain).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Final

import boto3

from cloudwarden.aws.target import AwsTarget
from cloudwarden.core.errors import BadInputError
from cloudwarden.detect.cloudtrail_files import ReadReport, SkipFile, SkippedFile, gunzip
from cloudwarden.detect.load import LogObject, list_s3

# File names a directory walk or an S3 listing reads (a file named explicitly is read whatever its name).
NETWORK_LOG_SUFFIXES: Final = (".log", ".log.gz", ".txt", ".txt.gz", ".json", ".json.gz", ".jsonl",
                               ".jsonl.gz", ".gz")
_GZIP_MAGIC: Final = b"\x1f\x8b"
_REGION_IN_KEY: Final = re.compile(r"/vpcflowlogs/([a-z]{2}(?:-[a-z]+)+-\d)/")


def list_log_objects(paths: Sequence[str | Path], report: ReadReport, *, target: AwsTarget | None = None,
                     session: boto3.Session | None = None) -> list[LogObject]:
    """Expand ``paths`` into the objects to read, in order (files sorted within a directory tree)."""
    objects: list[LogObject] = []
    for given in paths:
        text = str(given)
        if text.startswith("s3://"):
            objects.extend(_list_s3(text, report, target or AwsTarget(), session))
            continue
        path = Path(text)
        if not path.exists():
            raise BadInputError(text, "no such file or directory (network logs expected here)")
        if path.is_file():
            objects.append(_local(path))
            continue
        for child in sorted(p for p in path.rglob("*") if p.is_file()):
            if child.name.lower().endswith(NETWORK_LOG_SUFFIXES):
                objects.append(_local(child))
            else:
                report.files_skipped.append(SkippedFile(str(child), _not_a_log_name()))
    return objects


def _not_a_log_name() -> str:
    return f"not a log file name (expected one of {', '.join(NETWORK_LOG_SUFFIXES)})"


def _local(path: Path) -> LogObject:
    resolved = path.resolve()
    size = resolved.stat().st_size
    return LogObject(key=str(resolved), position=f"size={size}", size=size, read=resolved.read_bytes)


def _list_s3(uri: str, report: ReadReport, target: AwsTarget, session: boto3.Session | None) -> list[LogObject]:
    return list_s3(uri, report, target, _not_network_log, session)


def _not_network_log(key: str) -> str | None:
    return None if key.lower().endswith(NETWORK_LOG_SUFFIXES) else _not_a_log_name()


def read_text(obj: LogObject) -> str:
    """The object's text, gunzipped when it is gzip. Raises :class:`SkipFile` with the reason otherwise."""
    try:
        raw = obj.read()
    except OSError as exc:
        raise SkipFile(f"cannot read: {exc.strerror or exc}") from None
    if raw.startswith(_GZIP_MAGIC):
        raw = gunzip(raw)
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SkipFile(f"not UTF-8 text (byte {exc.start})") from None


def region_from_key(key: str) -> str | None:
    """The region in a flow log object's key (``AWSLogs/<account>/vpcflowlogs/<region>/...``), if any."""
    match = _REGION_IN_KEY.search(key)
    return match.group(1) if match else None
