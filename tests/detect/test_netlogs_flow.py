"""VPC flow log reading (detect/netlogs/flow.py, sources.py): formats, headers, gzip, bad records and files."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from cloudwarden.core.errors import BadInputError
from cloudwarden.detect.cloudtrail_files import ReadReport
from cloudwarden.detect.netlogs.engine import NetworkDB
from cloudwarden.lab import netlogs
from cloudwarden.lab.demo_org import ATTACKER_IP, PROD
from tests.detect.netlogs_samples import WEB, flows, write_flows


def _load(*paths: Path) -> tuple[NetworkDB, ReadReport]:
    db = NetworkDB()
    report = ReadReport()
    db.load_flow_logs(list(paths), report)
    return db, report


def test_default_format_gz_and_plain_load_typed_rows(tmp_path: Path) -> None:
    records = netlogs.ssh_brute_force(flows(), WEB, ATTACKER_IP, attempts=5)
    gz = write_flows(tmp_path / "AWSLogs" / PROD / "vpcflowlogs" / "eu-west-1" / "a.log.gz", records)
    plain = write_flows(tmp_path / "b.log", records, gz=False)
    db, report = _load(gz, plain)
    assert report.clean and report.files_read == 2 and report.records == 2 * len(records)
    rows = db.query("SELECT * FROM flow_logs WHERE source_file LIKE '%a.log.gz' ORDER BY line")
    first, record = rows[0], records[0]
    assert first["event_id"] == f"{gz.resolve()}:2"  # line 1 is the header
    assert (first["srcport"], first["dstport"], first["protocol"]) == (record.srcport, record.dstport, 6)
    assert isinstance(first["packets"], int) and first["bytes"] == record.bytes
    assert first["region"] == "eu-west-1"  # from the delivery key
    assert db.query("SELECT DISTINCT region FROM flow_logs WHERE source_file LIKE '%b.log'")[0]["region"] is None
    types = {r["column_name"]: r["column_type"] for r in db.query("DESCRIBE flow_logs")}
    assert types["srcport"] == "INTEGER" and types["bytes"] == "BIGINT" and types["event_time"] == "TIMESTAMP"


def test_event_time_is_the_flow_start_in_utc(tmp_path: Path) -> None:
    record = netlogs.FlowRecord(PROD, "eni-1", "10.0.0.1", "1.2.3.4", 40000, 443, 6, 3, 300, 1_772_619_600,
                                1_772_619_660, "ACCEPT")
    db, _ = _load(write_flows(tmp_path / "x.log.gz", [record]))
    row = db.query("SELECT strftime(event_time, '%Y-%m-%dT%H:%M:%S') AS s, "
                   "strftime(end_time, '%H:%M:%S') AS e FROM flow_logs")[0]
    assert row == {"s": "2026-03-04T10:20:00", "e": "10:21:00"}


def test_custom_format_is_read_by_its_header(tmp_path: Path) -> None:
    text = ("instance-id interface-id srcaddr dstaddr srcport dstport protocol start end action flow-direction "
            "tcp-flags pkt-srcaddr az-id\n"
            "i-0abc eni-9 10.0.0.5 203.0.113.9 44321 22 6 1772619600 1772619610 ACCEPT egress 2 10.0.0.5 use1-az1\n"
            "- eni-9 203.0.113.9 10.0.0.5 22 44321 6 1772619600 1772619610 REJECT ingress - - use1-az1\n")
    path = tmp_path / "custom.log"
    path.write_text(text)
    db, report = _load(path)
    assert report.clean
    rows = db.query("SELECT instance_id, interface_id, dstport, flow_direction, tcp_flags, account_id, packets "
                    "FROM flow_logs ORDER BY line")
    assert rows[0] == {"instance_id": "i-0abc", "interface_id": "eni-9", "dstport": 22, "flow_direction": "egress",
                       "tcp_flags": 2, "account_id": None, "packets": None}
    assert rows[1]["instance_id"] is None and rows[1]["tcp_flags"] is None  # "-" is no value


def test_headerless_default_format_export_is_accepted(tmp_path: Path) -> None:
    record = netlogs.FlowRecord(PROD, "eni-1", "10.0.0.1", "1.2.3.4", 40000, 443, 6, 3, 300, 1_772_619_600,
                                1_772_619_660, "ACCEPT")
    path = tmp_path / "export.txt"
    path.write_text(record.line() + "\n" + record.line().replace("40000", "40001") + "\n")
    db, report = _load(path)
    assert report.clean and db.count("flow_logs") == 2


def test_bad_records_are_reported_with_their_line_and_skipped(tmp_path: Path) -> None:
    good = netlogs.FlowRecord(PROD, "eni-1", "10.0.0.1", "1.2.3.4", 40000, 443, 6, 3, 300, 1_772_619_600,
                              1_772_619_660, "ACCEPT").line()
    nodata = f"2 {PROD} eni-1 - - - - - - - 1772619600 1772619660 - NODATA"
    lines = [netlogs.FLOW_LOG_HEADER, good, "2 only five fields", good.replace(" 443 ", " https "),
             good.replace("ACCEPT", "ALLOW"), nodata, good.replace(" OK", " BROKEN")]
    path = tmp_path / "mixed.log"
    path.write_text("\n".join(lines) + "\n")
    db, report = _load(path)
    skipped = {(s.where, s.reason.split(" ")[0]) for s in report.records_skipped}
    assert skipped == {("line 3", "4"), ("line 4", "dstport"), ("line 5", "action"), ("line 7", "log-status")}
    assert all(s.path == str(path.resolve()) for s in report.records_skipped)
    rows = db.query("SELECT line, log_status, srcaddr FROM flow_logs ORDER BY line")
    assert [(r["line"], r["log_status"]) for r in rows] == [(2, "OK"), (6, "NODATA")]
    assert rows[1]["srcaddr"] is None


def test_bad_files_are_skipped_whole_and_named(tmp_path: Path) -> None:
    root = tmp_path / "logs"
    good = write_flows(root / "good.log.gz", netlogs.port_scan(flows(), WEB, "198.51.100.150", ports=3))
    (root / "truncated.log.gz").write_bytes(good.read_bytes()[:-6])
    (root / "cloudtrail.json").write_text('{"Records": []}')
    (root / "no-interface.log").write_text("version srcaddr dstaddr srcport dstport protocol start action\n")
    (root / "all-bad.log").write_text(netlogs.FLOW_LOG_HEADER + "\n1 2 3\n")
    (root / "readme.md").write_text("not a log")
    db, report = _load(root)
    reasons = {Path(s.path).name: s.reason for s in report.files_skipped}
    assert set(reasons) == {"truncated.log.gz", "cloudtrail.json", "no-interface.log", "all-bad.log", "readme.md"}
    assert "truncated gzip" in reasons["truncated.log.gz"]
    assert "no header line" in reasons["cloudtrail.json"]
    assert "interface-id" in reasons["no-interface.log"]
    assert "none of its 1 records" in reasons["all-bad.log"]
    assert "not a log file name" in reasons["readme.md"]
    assert report.files_read == 1 and db.count("flow_logs") == 3


def test_an_object_given_twice_is_read_once_and_a_missing_path_is_bad_input(tmp_path: Path) -> None:
    path = write_flows(tmp_path / "a.log.gz", netlogs.port_scan(flows(), WEB, "198.51.100.150", ports=4))
    db = NetworkDB()
    report = ReadReport()
    assert db.load_flow_logs([path], report) == 4
    assert db.load_flow_logs([path, tmp_path], report) == 0
    with pytest.raises(BadInputError, match="no such file"):
        db.load_flow_logs([tmp_path / "missing"], report)
    assert gzip.decompress(path.read_bytes()).startswith(b"version ")
