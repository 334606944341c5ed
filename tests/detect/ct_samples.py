"""CloudTrail records and files for the detection tests (shaped like the lab's and AWS's)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

PROD = "222222222222"
ATTACKER_IP = "198.51.100.23"  # on the shipped malicious sample list
OFFICE_IP = "192.0.2.10"  # on the shipped trusted sample list
OTHER_IP = "203.0.113.200"  # on no list


def event(n: int, name: str = "ListBuckets", source: str = "s3.amazonaws.com", *, minute: int | None = None,
          second: int = 0, user: str = "alice", ip: str = OTHER_IP, **overrides: Any) -> dict[str, Any]:
    """One CloudTrail record, ``eventID`` ``ev-<n>``, at 10:<minute>:<second> on 2026-03-01."""
    minute = n % 60 if minute is None else minute
    record: dict[str, Any] = {
        "eventVersion": "1.09",
        "userIdentity": {"type": "IAMUser", "principalId": f"AIDA{user.upper()}", "accountId": PROD,
                         "arn": f"arn:aws:iam::{PROD}:user/{user}", "accessKeyId": f"AKIA{user.upper()}",
                         "userName": user},
        "eventTime": f"2026-03-01T10:{minute:02d}:{second:02d}Z",
        "eventSource": source,
        "eventName": name,
        "awsRegion": "us-east-1",
        "sourceIPAddress": ip,
        "userAgent": "aws-cli/2.15.30 Python/3.11.8 Linux/6.5.0 exe/x86_64.ubuntu.22",
        "requestParameters": None,
        "responseElements": None,
        "requestID": f"req-{n}",
        "eventID": f"ev-{n}",
        "readOnly": name.startswith(("List", "Get", "Describe")),
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": PROD,
        "eventCategory": "Management",
    }
    record.update(overrides)
    return record


def write_trail_file(path: Path, records: list[dict[str, Any]]) -> Path:
    """A file as CloudTrail delivers it: gzipped ``{"Records": [...]}`` on one line."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(json.dumps({"Records": records}, separators=(",", ":")).encode()))
    return path


def write_lines(path: Path, records: list[Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path
