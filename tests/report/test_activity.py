from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from cloudwarden.core.errors import BadInputError
from cloudwarden.detect import read_records
from cloudwarden.report.activity import summarise_activity
from tests.conftest import shared_path


def _event(minute: int, **overrides: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "eventTime": f"2026-03-01T10:{minute:02d}:30Z",
        "eventSource": "s3.amazonaws.com",
        "eventName": "GetObject",
        "awsRegion": "us-east-1",
        "recipientAccountId": "222222222222",
        "sourceIPAddress": "10.0.0.5",
        "readOnly": True,
        "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::222222222222:user/alice"},
    }
    record.update(overrides)
    return record


def _login(minute: int, ok: bool, mfa: str, ip: str) -> dict[str, Any]:
    return _event(
        minute,
        eventSource="signin.amazonaws.com",
        eventName="ConsoleLogin",
        readOnly=False,
        sourceIPAddress=ip,
        responseElements={"ConsoleLogin": "Success" if ok else "Failure"},
        additionalEventData={"MFAUsed": mfa},
        **({} if ok else {"errorMessage": "Failed authentication"}),
    )


def test_counts_principals_regions_ips_errors_and_read_write() -> None:
    bob = {"type": "IAMUser", "arn": "arn:aws:iam::222222222222:user/bob"}
    records = [
        _event(0),
        _event(0, awsRegion="eu-west-1"),
        _event(
            1,
            userIdentity=bob,
            sourceIPAddress="198.51.100.23",
            readOnly=False,
            eventName="PutBucketPolicy",
            errorCode="AccessDenied",
        ),
        _event(1, userIdentity=bob, sourceIPAddress="198.51.100.23", readOnly="false", errorCode="AccessDenied"),
        _event(2, sourceIPAddress="192.0.2.10"),
        _event(
            2,
            sourceIPAddress="cloudtrail.amazonaws.com",
            readOnly=None,
            userIdentity={"type": "AWSService", "invokedBy": "cloudtrail.amazonaws.com"},
            recipientAccountId="333333333333",
        ),
    ]

    summary = summarise_activity(records, known_ranges=["192.0.2.0/28"])

    assert summary.total_records == 6
    assert summary.first_event == datetime(2026, 3, 1, 10, 0, 30, tzinfo=UTC)
    assert summary.last_event == datetime(2026, 3, 1, 10, 2, 30, tzinfo=UTC)
    assert [(c.key, c.count) for c in summary.by_account] == [("222222222222", 5), ("333333333333", 1)]
    assert [(c.key, c.count) for c in summary.by_region] == [("us-east-1", 5), ("eu-west-1", 1)]
    principals = [(p.principal, p.type, p.count, p.errors) for p in summary.top_principals]
    assert principals == [
        ("arn:aws:iam::222222222222:user/alice", "IAMUser", 3, 0),
        ("arn:aws:iam::222222222222:user/bob", "IAMUser", 2, 2),
        ("cloudtrail.amazonaws.com", "AWSService", 1, 0),
    ]
    ips = {ip.ip: (ip.count, ip.kind, ip.flagged) for ip in summary.source_ips}
    assert ips == {
        "10.0.0.5": (2, "private", False),
        "198.51.100.23": (2, "external", True),  # a documentation range, yet not ours: flagged
        "192.0.2.10": (1, "known", False),
        "cloudtrail.amazonaws.com": (1, "aws", False),
    }
    assert summary.flagged_ips == 1
    assert [(c.key, c.count) for c in summary.error_codes] == [("AccessDenied", 2)]
    assert summary.error_records == 2
    assert (summary.read_only, summary.write, summary.read_only_unknown) == (3, 2, 1)
    assert summary.read_only_share == pytest.approx(0.6)
    assert [(c.key, c.count) for c in summary.top_event_names] == [("s3:GetObject", 5), ("s3:PutBucketPolicy", 1)]
    assert [(b.start.minute, b.count) for b in summary.timeline] == [(0, 2), (1, 2), (2, 2)]
    assert summary.bucket_minutes == 1


def test_console_logins_count_success_failure_and_mfa() -> None:
    records = [
        _login(0, ok=True, mfa="Yes", ip="192.0.2.10"),
        _login(1, ok=True, mfa="No", ip="203.0.113.66"),
        _login(2, ok=False, mfa="No", ip="203.0.113.66"),
        _event(3),
    ]

    logins = summarise_activity(records).console_logins

    assert (logins.success, logins.failure, logins.with_mfa, logins.without_mfa) == (2, 1, 1, 2)
    assert [(x.time.minute, x.success, x.mfa) for x in logins.logins] == [
        (2, False, False),
        (1, True, False),
        (0, True, True),
    ]


def test_timeline_is_zero_filled_and_coarsens_for_long_spans() -> None:
    short = summarise_activity([_event(0), _event(5)])
    assert [b.count for b in short.timeline] == [1, 0, 0, 0, 0, 1]

    days = [_event(0, eventTime=f"2026-03-{day:02d}T12:00:00Z") for day in (1, 1, 10)]
    long = summarise_activity(days)
    assert long.bucket_minutes == 60  # 9 days in hours is 217 buckets, within the limit
    assert len(long.timeline) <= 240
    assert sum(b.count for b in long.timeline) == 3
    assert long.timeline[0].count == 2


def test_empty_input_and_bad_ranges() -> None:
    empty = summarise_activity([])
    assert empty.total_records == 0
    assert empty.first_event is None
    assert empty.timeline == []
    assert empty.read_only_share is None
    with pytest.raises(BadInputError, match="not-a-cidr"):
        summarise_activity([], known_ranges=["not-a-cidr"])


def test_summarises_the_stratus_detonations() -> None:
    records, _ = read_records([shared_path("data", "stratus-detonations")])

    summary = summarise_activity(records)

    assert summary.total_records == len(records)
    assert summary.console_logins.success == 1
    assert summary.console_logins.without_mfa == 1
    assert {c.key for c in summary.error_codes} >= {"AccessDenied", "Client.UnauthorizedOperation"}
    assert sum(b.count for b in summary.timeline) == len(records)
    assert summary.read_only + summary.write == len(records)
