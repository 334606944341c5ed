from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest

from cloudwarden.core.errors import BadInputError
from cloudwarden.detect import ReadReport, iter_records, read_records
from tests.conftest import shared_path


def _event(n: int, **overrides: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "eventVersion": "1.09",
        "eventTime": f"2026-03-01T10:{n % 60:02d}:00Z",
        "eventSource": "s3.amazonaws.com",
        "eventName": "GetObject",
        "eventID": f"ev-{n}",
        "awsRegion": "us-east-1",
        "sourceIPAddress": "198.51.100.23",
        "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::222222222222:user/alice"},
        "recipientAccountId": "222222222222",
    }
    record.update(overrides)
    return record


def _delivery_path(root: Path, account: str, region: str, name: str) -> Path:
    """CloudTrail's S3 key layout: AWSLogs/<account>/CloudTrail/<region>/<yyyy>/<mm>/<dd>/<file>."""
    folder = root / "AWSLogs" / account / "CloudTrail" / region / "2026" / "03" / "01"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / name


def _write_gz(path: Path, records: list[Any]) -> Path:
    path.write_bytes(gzip.compress(json.dumps({"Records": records}).encode()))
    return path


def test_reads_a_delivery_tree_of_gzipped_records_in_path_order(tmp_path: Path) -> None:
    _write_gz(_delivery_path(tmp_path, "222222222222", "us-east-1", "b.json.gz"), [_event(3), _event(4)])
    _write_gz(_delivery_path(tmp_path, "222222222222", "us-east-1", "a.json.gz"), [_event(1), _event(2)])
    _write_gz(_delivery_path(tmp_path, "333333333333", "eu-west-1", "c.json.gz"), [_event(5)])

    records, report = read_records([tmp_path])

    assert [r["eventID"] for r in records] == ["ev-1", "ev-2", "ev-3", "ev-4", "ev-5"]
    assert report.files_read == 3
    assert report.records == 5
    assert report.clean


def test_reads_plain_json_json_lines_and_a_bare_array(tmp_path: Path) -> None:
    (tmp_path / "records.json").write_text(json.dumps({"Records": [_event(1)]}))
    (tmp_path / "lines.jsonl").write_text("\n".join(json.dumps(_event(n)) for n in (2, 3)) + "\n\n")
    (tmp_path / "lines-in.json").write_text(json.dumps(_event(4)) + "\n" + json.dumps(_event(5)))
    (tmp_path / "one-line.json").write_text(json.dumps(_event(6)))
    (tmp_path / "zarray.json").write_text(json.dumps([_event(7), _event(8)], indent=2))
    (tmp_path / "zlines.jsonl.gz").write_bytes(gzip.compress(json.dumps(_event(9)).encode()))

    records, report = read_records([tmp_path])

    assert sorted(r["eventID"] for r in records) == [f"ev-{n}" for n in range(1, 10)]
    assert report.files_read == 6
    assert report.clean


def test_truncated_gzip_and_non_cloudtrail_files_are_reported_and_the_rest_read(tmp_path: Path) -> None:
    good = _write_gz(tmp_path / "1-good.json.gz", [_event(1), _event(2)])
    whole = gzip.compress(json.dumps({"Records": [_event(n) for n in range(50)]}).encode())
    (tmp_path / "2-truncated.json.gz").write_bytes(whole[: len(whole) // 2])
    (tmp_path / "3-config.json").write_text(json.dumps({"name": "not a trail", "Version": "2012-10-17"}))
    (tmp_path / "4-broken.json").write_text('{"Records": [')
    (tmp_path / "5-digest.json.gz").write_bytes(
        gzip.compress(json.dumps({"digestStartTime": "x", "logFiles": []}).encode())
    )
    (tmp_path / "6-good.json").write_text(json.dumps({"Records": [_event(3)]}))
    (tmp_path / "notes.txt").write_text("hello")

    report = ReadReport()
    ids = [r["eventID"] for r in iter_records([tmp_path], report)]

    assert ids == ["ev-1", "ev-2", "ev-3"]
    assert report.files_read == 2
    assert report.records == 3
    reasons = {Path(s.path).name: s.reason for s in report.files_skipped}
    assert set(reasons) == {"2-truncated.json.gz", "3-config.json", "4-broken.json", "5-digest.json.gz", "notes.txt"}
    assert "truncated gzip" in reasons["2-truncated.json.gz"]
    assert "not CloudTrail" in reasons["3-config.json"]
    assert "not valid JSON" in reasons["4-broken.json"]
    assert "digest" in reasons["5-digest.json.gz"]
    assert "not a log file name" in reasons["notes.txt"]
    assert good.exists()  # the reader never touches its input


def test_bad_records_are_skipped_with_their_location_and_good_ones_kept(tmp_path: Path) -> None:
    bad_time = _event(2, eventTime="yesterday")
    no_name = _event(3)
    del no_name["eventName"]
    items: list[Any] = [_event(1), bad_time, "text", no_name, _event(5)]
    _write_gz(tmp_path / "mixed.json.gz", items)
    (tmp_path / "mixed.jsonl").write_text(json.dumps(_event(6)) + "\n{not json\n" + json.dumps([1]) + "\n")

    records, report = read_records([tmp_path])

    assert [r["eventID"] for r in records] == ["ev-1", "ev-5", "ev-6"]
    skipped = [(Path(s.path).name, s.where) for s in report.records_skipped]
    assert skipped == [
        ("mixed.json.gz", "record 1"),
        ("mixed.json.gz", "record 2"),
        ("mixed.json.gz", "record 3"),
        ("mixed.jsonl", "line 2"),
        ("mixed.jsonl", "line 3"),
    ]
    reasons = [s.reason for s in report.records_skipped]
    assert "ISO 8601" in reasons[0]
    assert "not a JSON object" in reasons[1]
    assert "eventName" in reasons[2]
    assert "not valid JSON" in reasons[3]
    assert report.files_read == 2
    assert report.to_dict()["records_skipped"][0] == {
        "path": str(tmp_path / "mixed.json.gz"),
        "where": "record 1",
        "reason": reasons[0],
    }


def test_explicit_file_is_read_whatever_its_name_and_gzip_is_sniffed(tmp_path: Path) -> None:
    path = tmp_path / "export.log"
    path.write_bytes(gzip.compress(json.dumps({"Records": [_event(1)]}).encode()))

    records, report = read_records([path])

    assert [r["eventID"] for r in records] == ["ev-1"]
    assert report.files_read == 1


def test_missing_path_is_bad_input_before_anything_is_read(tmp_path: Path) -> None:
    _write_gz(tmp_path / "a.json.gz", [_event(1)])
    with pytest.raises(BadInputError) as caught:
        iter_records([tmp_path, tmp_path / "nope"])
    assert "nope" in str(caught.value)


def test_reads_the_stratus_red_team_detonation_logs() -> None:
    folder = shared_path("data", "stratus-detonations")

    records, report = read_records([folder])

    json_files = sorted(folder.glob("*.json"))
    assert report.files_read == len(json_files) == 35
    assert [Path(s.path).name for s in report.files_skipped] == ["LICENSE"]
    assert not report.records_skipped
    expected = sum(len(json.loads(p.read_text())) for p in json_files)
    assert report.records == len(records) == expected
    names = {r["eventName"] for r in records}
    assert {"StopLogging", "DeleteTrail", "ConsoleLogin", "GetSecretValue"} <= names


def test_decompress_reads_what_gzip_reads_and_rejects_what_it_rejects() -> None:
    from cloudwarden.detect.cloudtrail_files import INFLATER, decompress, gunzip

    assert INFLATER == "isal"  # a dependency: what follows is ISA-L's inflate, falling back to gzip's errors

    one = gzip.compress(b'{"Records": []}')
    assert decompress(one) == b'{"Records": []}'
    # Several members (concatenated gzip files): every member, as gzip.decompress reads them.
    assert decompress(gzip.compress(b"first\n") + gzip.compress(b"second\n")) == b"first\nsecond\n"
    # Two members of the same size: the last trailer's size is the first member's too, and both are read.
    assert decompress(one + one) == b'{"Records": []}' * 2
    # A large file reads the same as gzip.decompress (through the buffer of its trailer's size: here its
    # compressed bytes hold no second member's start).
    text = b"".join(b'{"eventID": "%d", "eventName": "GetObject"}\n' % i for i in range(100_000))
    packed = gzip.compress(text, mtime=0)
    assert decompress(packed) == text
    with pytest.raises(EOFError):
        decompress(one[:-9])
    bad_crc = one[:-8] + bytes([one[-8] ^ 0xFF]) + one[-7:]  # the member's CRC-32 no longer matches its data
    for bad in (one[:10] + b"\xff" * 20 + one[30:], one + b"trailing junk", bad_crc, bad_crc + one):
        with pytest.raises(Exception) as caught:
            gzip.decompress(bad)
        with pytest.raises(Exception) as ours:
            decompress(bad)
        assert type(ours.value) is type(caught.value) and str(ours.value) == str(caught.value)
    with pytest.raises(Exception, match="truncated gzip"):
        gunzip(one[:-9])
