"""VPC flow log and resolver query log generation: formats, object keys, and the attack patterns."""

from __future__ import annotations

import gzip
import json
import random
import re
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from cloudwarden.core.errors import BadInputError
from cloudwarden.lab import netlogs
from cloudwarden.lab.demo_org import ATTACKER_IP, OFFICE_IPS, PROD, TOR_NODE_IP

END = datetime(2026, 3, 4, 10, 17, 30, tzinfo=UTC)
START = END - timedelta(minutes=20)
WEB = netlogs.Interface("eni-0aaa", "10.10.1.4", "i-0web", "vpc-0main", "subnet-1")
WORKER = netlogs.Interface("eni-0bbb", "10.10.11.4", "i-0worker", "vpc-0main", "subnet-2")


class Recorder:
    """Stands in for the lab's deliver helper: keeps what would have been written."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str, str], bytes] = {}

    def deliver(self, account_id: str, bucket: str, key: str, body: bytes) -> None:
        self.objects[(account_id, bucket, key)] = body


def factory(seed: int = 1) -> netlogs.FlowFactory:
    return netlogs.FlowFactory(PROD, random.Random(seed), START, END)


def test_flow_body_is_gzipped_v2_default_format_with_header() -> None:
    records = netlogs.ssh_brute_force(factory(), WEB, ATTACKER_IP, attempts=5)
    text = gzip.decompress(netlogs.flow_log_body(records)).decode()
    lines = text.splitlines()
    assert lines[0] == ("version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes "
                        "start end action log-status")
    assert len(lines) == len(records) + 1
    fields = lines[1].split(" ")
    assert len(fields) == 14
    assert fields[0] == "2" and fields[1] == PROD and fields[2] == WEB.eni_id
    assert fields[12] in ("ACCEPT", "REJECT") and fields[13] == "OK"
    assert int(START.timestamp()) <= int(fields[10]) <= int(fields[11]) <= int(END.timestamp())


def test_parse_flow_log_round_trips_and_rejects_bad_objects() -> None:
    records = netlogs.port_scan(factory(), WEB, "198.51.100.150", ports=30)
    rows = netlogs.parse_flow_log(netlogs.flow_log_body(records))
    assert [int(r["dstport"]) for r in rows] == [r.dstport for r in records]
    with pytest.raises(BadInputError, match="header"):
        netlogs.parse_flow_log(gzip.compress(b"2 1 eni 1 2 3 4 6 1 1 1 1 ACCEPT OK\n"))
    bad = gzip.compress((netlogs.FLOW_LOG_HEADER + "\n2 only five fields here\n").encode())
    with pytest.raises(BadInputError, match="line 2"):
        netlogs.parse_flow_log(bad)


def test_flow_log_key_matches_aws_layout() -> None:
    key = netlogs.flow_log_key(PROD, "us-east-1", "fl-0123", datetime(2026, 3, 4, 10, 15, tzinfo=UTC), b"x")
    assert re.fullmatch(
        rf"AWSLogs/{PROD}/vpcflowlogs/us-east-1/2026/03/04/{PROD}_vpcflowlogs_us-east-1_fl-0123_20260304T1015Z_"
        r"[0-9a-f]{8}\.log\.gz", key), key


def test_dns_record_fields_and_key() -> None:
    dns = netlogs.DnsFactory(PROD, "us-east-1", random.Random(3), START, END)
    query = dns.query(WEB, "pool.supportxmr.com", ["203.0.113.140"])
    record = query.as_json()
    assert list(record) == ["version", "account_id", "region", "vpc_id", "query_timestamp", "query_name",
                            "query_type", "query_class", "rcode", "answers", "srcaddr", "srcport", "transport",
                            "srcids"]
    assert record["query_name"] == "pool.supportxmr.com."
    assert record["answers"] == [{"Rdata": "203.0.113.140", "Type": "A", "Class": "IN"}]
    assert record["srcids"] == {"instance": "i-0web"} and record["srcaddr"] == WEB.private_ip
    body = netlogs.dns_log_body([query])
    assert json.loads(gzip.decompress(body).decode().splitlines()[0]) == record
    key = netlogs.dns_log_key(PROD, "vpc-0main", END, body)
    assert key.startswith(f"AWSLogs/{PROD}/vpcdnsquerylogs/vpc-0main/2026/03/04/vpc-0main_vpcdnsquerylogs_{PROD}_")


def test_brute_force_is_many_ssh_connections_from_one_outside_address() -> None:
    records = netlogs.ssh_brute_force(factory(), WEB, ATTACKER_IP, attempts=100)
    inbound = [r for r in records if r.srcaddr == ATTACKER_IP]
    assert len(inbound) == 100
    assert {r.dstport for r in inbound} == {22} and {r.dstaddr for r in inbound} == {WEB.private_ip}
    actions = Counter(r.action for r in inbound)
    assert actions["ACCEPT"] > 50 and actions["REJECT"] > 5
    # replies exist only for accepted connections
    replies = [r for r in records if r.srcaddr == WEB.private_ip]
    assert len(replies) == actions["ACCEPT"] and {r.srcport for r in replies} == {22}


def test_port_scan_tor_and_mining_patterns() -> None:
    f = factory()
    scan = netlogs.port_scan(f, WEB, "198.51.100.150", ports=200)
    assert len({r.dstport for r in scan}) == 200 and {r.srcaddr for r in scan} == {WEB.private_ip}
    tor = netlogs.tor_connections(f, WEB)
    assert any(r.dstaddr == TOR_NODE_IP and r.dstport == 9001 for r in tor)
    mining = netlogs.mining_connections(f, WEB)
    assert {r.dstport for r in mining if r.srcaddr == WEB.private_ip} == {netlogs.STRATUM_PORT}


def test_benign_traffic_is_deterministic_and_has_no_attack_signal() -> None:
    first = netlogs.benign_flows(factory(9), [WEB, WORKER], office_ips=OFFICE_IPS, per_interface=60)
    again = netlogs.benign_flows(factory(9), [WEB, WORKER], office_ips=OFFICE_IPS, per_interface=60)
    assert first == again
    addresses = {r.srcaddr for r in first} | {r.dstaddr for r in first}
    assert ATTACKER_IP not in addresses and TOR_NODE_IP not in addresses
    assert {r.interface_id for r in first} == {WEB.eni_id, WORKER.eni_id}
    assert any(r.action == "REJECT" for r in first)  # the internet's background scanning


def test_malicious_queries_cover_pools_c2_and_tunnelling() -> None:
    dns = netlogs.DnsFactory(PROD, "us-east-1", random.Random(5), START, END)
    names = [q.query_name for q in netlogs.malicious_queries(dns, WEB, exfil_chunks=10)]
    assert set(netlogs.MINING_POOLS) <= set(names)
    assert netlogs.C2_DOMAIN in names
    tunnel = [n for n in names if n.endswith(netlogs.EXFIL_DOMAIN)]
    assert len(tunnel) == 10 and all(len(n.split(".")[0]) >= 52 for n in tunnel)


def test_delivery_groups_records_into_five_minute_objects() -> None:
    sink = Recorder()
    records = netlogs.ssh_brute_force(factory(), WEB, ATTACKER_IP, attempts=80)
    uris = netlogs.deliver_flow_logs(sink, account_id=PROD, region="us-east-1", bucket="flow-bucket",
                                     flow_log_id="fl-0123", records=records)
    assert len(uris) == len(sink.objects) >= 4  # a 20-minute span gives 4-5 windows
    delivered = 0
    for (account, bucket, key), body in sink.objects.items():
        assert (account, bucket) == (PROD, "flow-bucket")
        rows = netlogs.parse_flow_log(body)
        window = re.search(r"_(\d{8}T\d{4})Z_", key)
        assert window is not None
        window_start = datetime.strptime(window.group(1), "%Y%m%dT%H%M").replace(tzinfo=UTC).timestamp()
        assert all(window_start <= int(r["start"]) < window_start + 300 for r in rows)
        delivered += len(rows)
    assert delivered == len(records)


def test_factories_reject_an_empty_window() -> None:
    with pytest.raises(BadInputError):
        netlogs.FlowFactory(PROD, random.Random(1), END, START)
    with pytest.raises(BadInputError):
        netlogs.DnsFactory(PROD, "us-east-1", random.Random(1), END, END)
