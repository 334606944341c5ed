"""Route 53 resolver query log reading (detect/netlogs/dns.py): fields, derived columns, bad lines and files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cloudwarden.detect.cloudtrail_files import ReadReport
from cloudwarden.detect.netlogs.dns import entropy, split_name
from cloudwarden.detect.netlogs.engine import NetworkDB
from cloudwarden.lab import netlogs
from tests.detect.netlogs_samples import WEB, queries, write_queries


def _load(*paths: Path) -> tuple[NetworkDB, ReadReport]:
    db = NetworkDB()
    report = ReadReport()
    db.load_dns_logs(list(paths), report)
    return db, report


def test_queries_load_with_typed_fields(tmp_path: Path) -> None:
    query = queries().query(WEB, "Pool.SupportXMR.com", ["203.0.113.141", "203.0.113.142"])
    path = write_queries(tmp_path / "q.log.gz", [query])
    db, report = _load(path)
    assert report.clean and report.records == 1
    row = db.query("SELECT *, strftime(event_time, '%Y-%m-%dT%H:%M:%S') AS t FROM dns_logs")[0]
    assert row["query_name"] == "pool.supportxmr.com"  # lower-cased, trailing dot dropped
    assert row["answers"] == ["203.0.113.141", "203.0.113.142"]
    assert row["srcport"] == query.srcport and row["instance_id"] == WEB.instance_id
    assert row["t"] == query.when.strftime("%Y-%m-%dT%H:%M:%S") and row["query_type"] == "A"
    assert (row["base_domain"], row["subdomain"]) == ("supportxmr.com", "pool")
    assert row["event_id"] == f"{path.resolve()}:1" and row["vpc_id"] == WEB.vpc_id


def test_tunnelling_names_measure_long_and_random(tmp_path: Path) -> None:
    items = netlogs.malicious_queries(queries(), WEB, exfil_chunks=3)[-3:]
    db, _ = _load(write_queries(tmp_path / "q.log", items))
    rows = db.query("SELECT base_domain, max_label_length, subdomain_entropy FROM dns_logs")
    assert {r["base_domain"] for r in rows} == {"telemetry-sync.example"}
    assert all(r["max_label_length"] >= 52 and r["subdomain_entropy"] > 4.0 for r in rows)


def test_split_name_and_entropy() -> None:
    assert split_name("a.b.example.co.uk") == ("example.co.uk", "a.b")
    assert split_name("example.com") == ("example.com", "")
    assert split_name("ip-10-0-0-1.ec2.internal") == ("ip-10-0-0-1.ec2.internal", "")
    assert entropy("") == 0.0 and entropy("aaaa") == 0.0
    assert entropy("ab") == pytest.approx(1.0) and entropy("abcdefgh") == pytest.approx(3.0)


def test_bad_lines_are_reported_and_skipped(tmp_path: Path) -> None:
    good = queries().query(WEB, "s3.us-east-1.amazonaws.com", ["52.217.16.40"]).as_json()
    path = write_queries(tmp_path / "q.log", [
        good, "{not json", {**good, "query_name": None}, {**good, "query_timestamp": "yesterday"},
        {**good, "answers": "oops"}, "", {**good, "srcport": 53},
    ])
    db, report = _load(path)
    reasons = {s.where: s.reason for s in report.records_skipped}
    assert set(reasons) == {"line 2", "line 3", "line 4", "line 5"}
    assert "not a JSON object" in reasons["line 2"] and "query_name" in reasons["line 3"]
    assert "ISO 8601" in reasons["line 4"] and "unexpected type" in reasons["line 5"]
    assert [r["line"] for r in db.query("SELECT line FROM dns_logs ORDER BY line")] == [1, 7]


def test_files_that_are_not_query_logs_are_skipped_whole(tmp_path: Path) -> None:
    root = tmp_path / "dns"
    write_queries(root / "good.log", [queries().query(WEB, "pypi.org", ["151.101.0.223"])])
    (root / "flow.log").write_text(netlogs.FLOW_LOG_HEADER + "\n")
    (root / "other.json").write_text(json.dumps({"hello": "world"}) + "\n")
    (root / "empty.log").write_text("")
    db, report = _load(root)
    reasons = {Path(s.path).name: s.reason for s in report.files_skipped}
    assert set(reasons) == {"flow.log", "other.json", "empty.log"}
    assert "one JSON object a line" in reasons["flow.log"] and "missing query_name" in reasons["other.json"]
    assert db.count("dns_logs") == 1
