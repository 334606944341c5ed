"""Network rules (detect/netlogs/pack, engine.py, enrich.py): each GuardDuty type on generated records and not on
its benign look-alike; direction, instances, trusted peers; the rule model's limits; the detect command."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from cloudwarden.cli.detect import detect
from cloudwarden.core.errors import BadInputError
from cloudwarden.core.finding import Finding
from cloudwarden.core.severity import Severity
from cloudwarden.detect.netlogs.engine import load_network_pack, network_rules, run_network_detection
from cloudwarden.detect.netlogs.instances import InstanceMap
from cloudwarden.detect.rules.model import Allowlist, Rule
from cloudwarden.lab import netlogs
from cloudwarden.lab.demo_org import ATTACKER_IP, OFFICE_IPS, PROD, TOR_NODE_IP
from tests.detect.netlogs_samples import (
    REGION,
    WEB,
    WORKER,
    flows,
    instance_documents,
    queries,
    write_flows,
    write_queries,
)

WEB_ARN = f"arn:aws:ec2:{REGION}:{PROD}:instance/{WEB.instance_id}"
SEVERITY = {
    "Recon:EC2/Portscan": Severity.MEDIUM, "UnauthorizedAccess:EC2/TorClient": Severity.HIGH,
    "CryptoCurrency:EC2/BitcoinTool.B": Severity.HIGH, "CryptoCurrency:EC2/BitcoinTool.B!DNS": Severity.HIGH,
    "Backdoor:EC2/C&CActivity.B!DNS": Severity.HIGH, "Trojan:EC2/DNSDataExfiltration": Severity.HIGH,
}


def _benign_flows(seed: int = 3) -> list[netlogs.FlowRecord]:
    return netlogs.benign_flows(flows(seed), [WEB, WORKER], office_ips=OFFICE_IPS, per_interface=80)


def _detect(tmp_path: Path, flow_records: list[netlogs.FlowRecord] = (),  # type: ignore[assignment]
            dns: list[netlogs.DnsQuery] = (), **kwargs: object) -> list[Finding]:  # type: ignore[assignment]
    flow_paths = [write_flows(tmp_path / "flow.log.gz", flow_records)] if flow_records else []
    dns_paths = [write_queries(tmp_path / "dns.log.gz", dns)] if dns else []
    result = run_network_detection(flow_paths, dns_paths, **kwargs)  # type: ignore[arg-type]
    assert result.read_report.clean
    return result.findings


def _types(found: list[Finding]) -> set[str]:
    return {f.type for f in found}


def test_benign_traffic_raises_nothing(tmp_path: Path) -> None:
    dns = netlogs.benign_queries(queries(), [WEB, WORKER], per_interface=60)
    assert _detect(tmp_path, _benign_flows(), dns) == []


def test_port_scan_and_its_threshold(tmp_path: Path) -> None:
    scan = netlogs.port_scan(flows(), WEB, "198.51.100.150", ports=60)
    found = _detect(tmp_path, _benign_flows() + scan)
    [finding] = found
    assert finding.type == "Recon:EC2/Portscan" and finding.severity is Severity.MEDIUM
    assert finding.count == 60 and finding.evidence.details["distinct_ports"] == 60
    assert finding.evidence.details["peer_addresses"] == ["198.51.100.150"]
    assert finding.mitre == ["T1046"] and finding.resource.id == WEB.eni_id
    few = netlogs.port_scan(flows(), WEB, "198.51.100.150", ports=10)
    assert _detect(tmp_path, _benign_flows() + few) == []


def test_replies_of_a_busy_server_are_not_a_port_scan(tmp_path: Path) -> None:
    # One client opening 60 connections to the web server's 443: the replies go to 60 ephemeral ports.
    factory = flows()
    records = [r for _ in range(60) for r in factory.conversation(WEB, inbound=True, peer="8.8.4.4", port=443)]
    assert _detect(tmp_path, records) == []


def test_ssh_brute_force_inbound_and_outbound(tmp_path: Path) -> None:
    inbound = netlogs.ssh_brute_force(flows(), WEB, ATTACKER_IP, attempts=80)
    [finding] = _detect(tmp_path, _benign_flows() + inbound)
    assert finding.type == "UnauthorizedAccess:EC2/SSHBruteForce" and finding.severity is Severity.LOW
    assert finding.evidence.details["ports"] == [22] and finding.evidence.details["peer_addresses"] == [ATTACKER_IP]
    assert finding.evidence.details["rejected"] > 0 and finding.evidence.details["directions"] == ["ingress"]
    factory = flows()
    outbound = [r for _ in range(60) for r in factory.conversation(WEB, inbound=False, peer="192.0.2.200", port=22)]
    [out] = _detect(tmp_path, outbound)
    assert out.type == "UnauthorizedAccess:EC2/SSHBruteForce" and out.severity is Severity.HIGH
    few = netlogs.ssh_brute_force(flows(), WEB, ATTACKER_IP, attempts=8)
    assert _detect(tmp_path, _benign_flows() + few) == []


def test_rdp_brute_force_inbound_and_outbound(tmp_path: Path) -> None:
    factory = flows()
    inbound = [r for _ in range(60) for r in factory.conversation(WEB, inbound=True, peer=ATTACKER_IP, port=3389)]
    outbound = [r for _ in range(60) for r in factory.conversation(WORKER, inbound=False, peer="198.51.100.9",
                                                                    port=3389, action="REJECT")]
    found = {(f.type, f.severity, f.resource.id) for f in _detect(tmp_path, inbound + outbound)}
    assert found == {("UnauthorizedAccess:EC2/RDPBruteForce", Severity.LOW, WEB.eni_id),
                     ("UnauthorizedAccess:EC2/RDPBruteForce", Severity.HIGH, WORKER.eni_id)}
    # The internet's background noise on 3389 (one probe per address) is not brute force.
    noise = [factory.flow(WEB, f"8.8.{i}.1", WEB.private_ip, 50000 + i, 3389, 6, 1, 40, "REJECT") for i in range(40)]
    assert _detect(tmp_path, noise) == []


def test_tor_and_mining_connections_need_intel_listed_peers(tmp_path: Path) -> None:
    tor = netlogs.tor_connections(flows(), WEB, TOR_NODE_IP, sessions=2)
    mining = netlogs.mining_connections(flows(), WEB, sessions=2)
    found = _detect(tmp_path, _benign_flows() + tor + mining)
    assert _types(found) == {"UnauthorizedAccess:EC2/TorClient", "CryptoCurrency:EC2/BitcoinTool.B"}
    tor_finding = next(f for f in found if f.type == "UnauthorizedAccess:EC2/TorClient")
    assert tor_finding.count == 2 and tor_finding.evidence.details["peer_addresses"] == [TOR_NODE_IP]
    assert tor_finding.evidence.details["ports"] == [netlogs.TOR_OR_PORT]
    unlisted = netlogs.tor_connections(flows(), WEB, "198.51.100.78", sessions=2)
    assert _detect(tmp_path, unlisted) == []


def test_dns_rules_on_mining_c2_and_tunnelling(tmp_path: Path) -> None:
    dns = netlogs.benign_queries(queries(), [WEB, WORKER]) + netlogs.malicious_queries(queries(2), WEB)
    found = _detect(tmp_path, dns=dns)
    assert _types(found) == {"CryptoCurrency:EC2/BitcoinTool.B!DNS", "Backdoor:EC2/C&CActivity.B!DNS",
                             "Trojan:EC2/DNSDataExfiltration"}
    for finding in found:
        assert finding.severity is SEVERITY[finding.type] and finding.mitre
        assert finding.resource.id == WEB_ARN and finding.resource.type == "AwsEc2Instance"
        assert finding.evidence.details["query_names"] and finding.evidence.event_ids
    by_type = {f.type: f for f in found}
    assert by_type["Backdoor:EC2/C&CActivity.B!DNS"].evidence.details["query_names"] == [netlogs.C2_DOMAIN]
    assert by_type["Trojan:EC2/DNSDataExfiltration"].count == 40
    assert by_type["CryptoCurrency:EC2/BitcoinTool.B!DNS"].count == 9


def test_a_few_long_names_under_one_domain_are_not_tunnelling(tmp_path: Path) -> None:
    dns = netlogs.malicious_queries(queries(), WEB, exfil_chunks=5)[-5:]
    long_benign = [queries().query(WEB, f"{'a1b2c3d4' * 6}-{i}.cdn.example", ["192.0.2.50"]) for i in range(20)]
    assert _detect(tmp_path, dns=dns + long_benign) == []  # 5 random names; 20 long but low-entropy ones


def test_instances_from_a_snapshot_name_the_instance(tmp_path: Path) -> None:
    scan = netlogs.port_scan(flows(), WEB, "198.51.100.150", ports=80)
    [finding] = _detect(tmp_path, scan, instances=InstanceMap.from_documents(instance_documents()))
    assert finding.resource.id == WEB_ARN and finding.resource.type == "AwsEc2Instance"
    assert finding.evidence.details["instance_name"] == "web-1"
    assert finding.evidence.details["interface_ids"] == [WEB.eni_id]
    assert finding.region == REGION and finding.account_id == PROD


def test_direction_is_inferred_from_the_interface_address(tmp_path: Path) -> None:
    from cloudwarden.detect.cloudtrail_files import ReadReport
    from cloudwarden.detect.netlogs.engine import NetworkDB

    records = _benign_flows() + netlogs.ssh_brute_force(flows(), WEB, ATTACKER_IP, attempts=5)
    db = NetworkDB()
    db.load_flow_logs([write_flows(tmp_path / "f.log.gz", records)], ReadReport())
    db.prepare()
    rows = db.query("SELECT interface_id, local_addr, count(*) AS n FROM flow_logs GROUP BY ALL ORDER BY 1")
    assert [(r["interface_id"], r["local_addr"]) for r in rows] == [(WEB.eni_id, WEB.private_ip),
                                                                    (WORKER.eni_id, WORKER.private_ip)]
    bad = db.query("SELECT direction, count(*) AS n FROM flow_logs WHERE srcaddr = ? AND dstport = 22 GROUP BY 1",
                   [ATTACKER_IP])
    assert bad == [{"direction": "ingress", "n": 5}]
    db.close()


def test_trusted_and_allowlisted_peers_raise_nothing(tmp_path: Path) -> None:
    office = netlogs.ssh_brute_force(flows(), WEB, OFFICE_IPS[0], attempts=80)  # on the trusted sample list
    assert _detect(tmp_path, office) == []
    attacker = netlogs.ssh_brute_force(flows(), WEB, ATTACKER_IP, attempts=80)
    assert _detect(tmp_path, attacker, allowlist=Allowlist(source_ips=("198.51.100.*",))) == []
    assert len(_detect(tmp_path, attacker, allowlist=Allowlist(source_ips=("203.0.113.*",)))) == 1


def test_the_pack_covers_the_types_and_rules_must_fit_network_tables() -> None:
    pack = load_network_pack()
    assert {r.type for r in pack} >= {
        "Recon:EC2/Portscan", "UnauthorizedAccess:EC2/SSHBruteForce", "UnauthorizedAccess:EC2/RDPBruteForce",
        "CryptoCurrency:EC2/BitcoinTool.B!DNS", "Backdoor:EC2/C&CActivity.B!DNS", "UnauthorizedAccess:EC2/TorClient",
        "Trojan:EC2/DNSDataExfiltration"}
    assert all(r.mitre and r.sql for r in pack)
    base = {"id": "x", "title": "t", "type": "Recon:EC2/Portscan", "severity": "LOW"}
    with pytest.raises(BadInputError, match="sql"):
        network_rules([Rule.model_validate({**base, "condition": "true"})])
    with pytest.raises(BadInputError, match="allowlist"):
        network_rules([Rule.model_validate({**base, "sql": "SELECT 1", "allowlist": {"source_ips": ["1.2.3.4"]}})])
    broken = Rule.model_validate({**base, "sql": "SELECT nope FROM flow_logs", "origin": "mine.yaml:3"})
    with pytest.raises(BadInputError, match=r"mine\.yaml:3"):
        run_network_detection(rules=[broken])
    with pytest.raises(BadInputError, match="--engine"):
        run_network_detection(engine="oracle")


def _stored(path: Path) -> list[tuple[str, int]]:
    from cloudwarden.store import Store

    with Store.open(path, read_only=True) as store:
        return sorted((f.type, f.count) for f in store.findings(source="detect"))


def test_detect_command_reads_flow_and_dns_logs(tmp_path: Path) -> None:
    app = typer.Typer()
    app.command()(detect)
    app.callback()(lambda: None)
    scan = netlogs.port_scan(flows(), WEB, "198.51.100.150", ports=80)
    flow_path = write_flows(tmp_path / "logs" / "flow.log.gz", _benign_flows() + scan)
    (tmp_path / "logs" / "broken.log").write_text(netlogs.FLOW_LOG_HEADER + "\n1 2\n")
    c2 = queries().query(WEB, netlogs.C2_DOMAIN, ["198.51.100.199"])
    dns_path = write_queries(tmp_path / "dns" / "q.log", [c2])
    args = ["detect", "--flow-logs", str(flow_path.parent), "--dns-logs", str(dns_path), "--store",
            str(tmp_path / "s.duckdb"), "--output-dir", str(tmp_path / "out"), "--format", "json"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    records = len(_benign_flows()) + len(scan)
    assert f"{records} flow records, 1 DNS queries" in result.output and "the header names 14" in result.output
    lines = [json.loads(x) for x in (tmp_path / "out" / "findings.jsonl").read_text().splitlines()]
    assert {x["type"] for x in lines} == {"Recon:EC2/Portscan", "Backdoor:EC2/C&CActivity.B!DNS"}
    store_state = _stored(tmp_path / "s.duckdb")
    assert {t for t, _ in store_state} == {"Recon:EC2/Portscan", "Backdoor:EC2/C&CActivity.B!DNS"}
    again = CliRunner().invoke(app, [*args, "--fail-on", "high"])
    assert again.exit_code == 0, again.output  # checkpointed: nothing new read, so no HIGH finding this run
    assert "0 flow records, 0 DNS queries from 0 files (2 already read)" in again.output
    assert _stored(tmp_path / "s.duckdb") == store_state  # counted once
    # The broken file was skipped, not checkpointed: it is reported again.
    assert "the header names 14" in again.output
    reread = CliRunner().invoke(app, [*args, "--reread", "--fail-on", "high"])
    assert reread.exit_code == 1  # --reread ignores checkpoints: the C&C finding is HIGH
    nothing = CliRunner().invoke(app, ["detect", "--store", str(tmp_path / "s.duckdb")])
    assert nothing.exit_code != 0


def test_the_memory_limit_caps_each_chunks_duckdb(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from cloudwarden.detect.netlogs import engine

    db = engine.NetworkDB(memory_limit="64MB")
    limit, spill = db.conn.execute(
        "SELECT current_setting('memory_limit'), current_setting('temp_directory')").fetchone()
    assert limit == "61.0 MiB" and Path(spill).is_dir()
    db.close()
    assert not Path(spill).exists()  # the scratch directory goes with the database
    limits: list[str | None] = []
    real = engine.NetworkDB

    class Spy(real):  # type: ignore[misc, valid-type]
        def __init__(self, **kwargs: object) -> None:
            limits.append(kwargs.get("memory_limit"))  # type: ignore[arg-type]
            super().__init__(**kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(engine, "NetworkDB", Spy)
    scan = netlogs.port_scan(flows(), WEB, "198.51.100.150", ports=60)
    capped = _detect(tmp_path, _benign_flows() + scan, memory_limit="64MB")
    assert limits == [None, "64MB"]  # the empty database that plans the rules, then the one chunk
    assert [f.id for f in capped] == [f.id for f in _detect(tmp_path, _benign_flows() + scan, memory_limit=None)]
