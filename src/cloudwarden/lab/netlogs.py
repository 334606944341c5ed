"""VPC flow log and Route 53 resolver query log records for the lab, written as AWS delivers them.

moto keeps flow-log and query-log *configurations* but never produces a record, and the threats a
detector must find in network telemetry (SSH brute force, port scans, Tor, mining pools, DNS
tunnelling) exist only as traffic. This module generates that traffic deterministically from a
``random.Random``, formats it exactly as the services do, and names the objects with the keys the
services use, so ``detect`` reads lab output and real buckets alike:

* VPC flow logs, version 2 default format: a header line, then space-separated
  ``version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end
  action log-status`` records, gzipped, one object per flow log and five-minute window under
  ``AWSLogs/<account>/vpcflowlogs/<region>/<yyyy>/<mm>/<dd>/<account>_vpcflowlogs_<region>_<flow-log-id>_<yyyymmddThhmmZ>_<hash>.log.gz``.
* Route 53 resolver query logs: one JSON object per line, gzipped, under
  ``AWSLogs/<account>/vpcdnsquerylogs/<vpc-id>/<yyyy>/<mm>/<dd>/<vpc-id>_vpcdnsquerylogs_<account>_<yyyymmddThhmmZ>_<hash>.log.gz``.

Delivery goes through the lab's ``/_cloudwarden/deliver`` helper (anything with a
``deliver(account_id, bucket, key, body)`` method), so it is not an API call in CloudTrail, as an
AWS service's delivery is not. Hand-written because no library produces these formats.
"""

from __future__ import annotations

import gzip
import hashlib
import ipaddress
import json
import random
import string
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from cloudwarden.core.errors import BadInputError
from cloudwarden.lab.demo_org import TOR_NODE_IP

FLOW_LOG_HEADER = (
    "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes "
    "start end action log-status"
)
FLOW_WINDOW = timedelta(minutes=5)
TCP, UDP, ICMP = 6, 17, 1

# Names the ec2-compromise scenario resolves: real public mining pools (what GuardDuty's
# CryptoCurrency:EC2/BitcoinTool.B!DNS keys on), and command-and-control / tunnelling domains under
# the reserved .example TLD so no real third party is named.
MINING_POOLS = ("xmr.pool.minergate.com", "pool.supportxmr.com", "xmr-eu1.nanopool.org")
C2_DOMAIN = "cdn.vortex-update.example"
EXFIL_DOMAIN = "t.telemetry-sync.example"
STRATUM_PORT = 3333
TOR_OR_PORT = 9001

# Resolved addresses for the names above and for benign destinations; documentation ranges or
# well-known AWS service ranges only.
_POOL_IPS = ("203.0.113.140", "203.0.113.141", "203.0.113.142")
_C2_IP = "198.51.100.199"
_BENIGN_NAMES: tuple[tuple[str, str], ...] = (
    ("s3.us-east-1.amazonaws.com", "52.217.16.40"),
    ("sts.us-east-1.amazonaws.com", "209.54.177.164"),
    ("secretsmanager.us-east-1.amazonaws.com", "52.46.145.230"),
    ("ssm.us-east-1.amazonaws.com", "52.46.154.25"),
    ("ec2messages.us-east-1.amazonaws.com", "52.46.152.11"),
    ("logs.us-east-1.amazonaws.com", "52.46.157.31"),
    ("monitoring.us-east-1.amazonaws.com", "52.94.225.17"),
    ("api.github.com", "140.82.112.6"),
    ("pypi.org", "151.101.0.223"),
    ("files.pythonhosted.org", "151.101.1.63"),
    ("archive.ubuntu.com", "91.189.91.81"),
    ("security.ubuntu.com", "91.189.91.83"),
    ("api.stripe.com", "54.187.174.169"),
)


class Deliverer(Protocol):
    """The lab helper that writes an object into a bucket as an AWS service would."""

    def deliver(self, account_id: str, bucket: str, key: str, body: bytes) -> object: ...


@dataclass(frozen=True)
class Interface:
    """One network interface whose traffic is logged."""

    eni_id: str
    private_ip: str
    instance_id: str
    vpc_id: str
    subnet_id: str = ""
    public_ip: str | None = None


@dataclass(frozen=True)
class FlowRecord:
    """One version-2 flow log record (a flow aggregated over one capture window)."""

    account_id: str
    interface_id: str
    srcaddr: str
    dstaddr: str
    srcport: int
    dstport: int
    protocol: int
    packets: int
    bytes: int
    start: int
    end: int
    action: str  # ACCEPT | REJECT
    log_status: str = "OK"

    def line(self) -> str:
        return (
            f"2 {self.account_id} {self.interface_id} {self.srcaddr} {self.dstaddr} {self.srcport} "
            f"{self.dstport} {self.protocol} {self.packets} {self.bytes} {self.start} {self.end} "
            f"{self.action} {self.log_status}"
        )


@dataclass(frozen=True)
class DnsQuery:
    """One Route 53 resolver query log record."""

    account_id: str
    region: str
    vpc_id: str
    when: datetime
    query_name: str  # without the trailing dot; written with it, as Route 53 does
    query_type: str
    rcode: str
    answers: tuple[tuple[str, str], ...]  # (rdata, type)
    srcaddr: str
    srcport: int
    instance_id: str
    transport: str = "UDP"

    def as_json(self) -> dict[str, object]:
        return {
            "version": "1.100000",
            "account_id": self.account_id,
            "region": self.region,
            "vpc_id": self.vpc_id,
            "query_timestamp": self.when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "query_name": self.query_name.rstrip(".") + ".",
            "query_type": self.query_type,
            "query_class": "IN",
            "rcode": self.rcode,
            "answers": [{"Rdata": rdata, "Type": rtype, "Class": "IN"} for rdata, rtype in self.answers],
            "srcaddr": self.srcaddr,
            "srcport": str(self.srcport),
            "transport": self.transport,
            "srcids": {"instance": self.instance_id},
        }


# --- formatting and keys ------------------------------------------------------------------------


def flow_log_body(records: Iterable[FlowRecord]) -> bytes:
    """Header line plus one line per record, gzipped, as flow logs delivers to S3."""
    text = FLOW_LOG_HEADER + "\n" + "".join(r.line() + "\n" for r in records)
    return gzip.compress(text.encode("ascii"), mtime=0)


def dns_log_body(queries: Iterable[DnsQuery]) -> bytes:
    """One JSON object per line, gzipped, as resolver query logging delivers to S3."""
    text = "".join(json.dumps(q.as_json(), separators=(",", ":")) + "\n" for q in queries)
    return gzip.compress(text.encode("utf-8"), mtime=0)


def _short_hash(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()[:8]


def flow_log_key(account_id: str, region: str, flow_log_id: str, window: datetime, body: bytes) -> str:
    w = window.astimezone(UTC)
    return (
        f"AWSLogs/{account_id}/vpcflowlogs/{region}/{w:%Y/%m/%d}/"
        f"{account_id}_vpcflowlogs_{region}_{flow_log_id}_{w:%Y%m%dT%H%MZ}_{_short_hash(body)}.log.gz"
    )


def dns_log_key(account_id: str, vpc_id: str, window: datetime, body: bytes) -> str:
    w = window.astimezone(UTC)
    return (
        f"AWSLogs/{account_id}/vpcdnsquerylogs/{vpc_id}/{w:%Y/%m/%d}/"
        f"{vpc_id}_vpcdnsquerylogs_{account_id}_{w:%Y%m%dT%H%MZ}_{_short_hash(body)}.log.gz"
    )


def parse_flow_log(body: bytes) -> list[dict[str, str]]:
    """Read a delivered flow log object back (gunzip, header, records): used by tests and docs."""
    lines = gzip.decompress(body).decode("ascii").splitlines()
    if not lines or lines[0] != FLOW_LOG_HEADER:
        raise BadInputError("flow log", f"first line is not the version-2 header: {lines[:1]!r}")
    names = FLOW_LOG_HEADER.split()
    rows = []
    for number, line in enumerate(lines[1:], start=2):
        fields = line.split()
        if len(fields) != len(names):
            raise BadInputError(f"flow log line {number}", f"{len(fields)} fields, expected {len(names)}")
        rows.append(dict(zip(names, fields, strict=True)))
    return rows


def _window_start(t: datetime) -> datetime:
    t = t.astimezone(UTC).replace(second=0, microsecond=0)
    return t - timedelta(minutes=t.minute % 5)


def deliver_flow_logs(
    lab: Deliverer, *, account_id: str, region: str, bucket: str, flow_log_id: str,
    records: Sequence[FlowRecord],
) -> list[str]:
    """Group records into five-minute objects (by record start) and deliver them; returns s3:// URIs."""
    groups: dict[datetime, list[FlowRecord]] = {}
    for record in sorted(records, key=lambda r: (r.start, r.interface_id)):
        window = _window_start(datetime.fromtimestamp(record.start, UTC))
        groups.setdefault(window, []).append(record)
    uris = []
    for window, group in sorted(groups.items()):
        body = flow_log_body(group)
        key = flow_log_key(account_id, region, flow_log_id, window, body)
        lab.deliver(account_id, bucket, key, body)
        uris.append(f"s3://{bucket}/{key}")
    return uris


def deliver_dns_logs(lab: Deliverer, *, account_id: str, bucket: str, queries: Sequence[DnsQuery]) -> list[str]:
    """Group queries per VPC into five-minute objects and deliver them; returns s3:// URIs."""
    groups: dict[tuple[str, datetime], list[DnsQuery]] = {}
    for query in sorted(queries, key=lambda q: q.when):
        groups.setdefault((query.vpc_id, _window_start(query.when)), []).append(query)
    uris = []
    for (vpc_id, window), group in sorted(groups.items()):
        body = dns_log_body(group)
        key = dns_log_key(account_id, vpc_id, window, body)
        lab.deliver(account_id, bucket, key, body)
        uris.append(f"s3://{bucket}/{key}")
    return uris


# --- generators ----------------------------------------------------------------------------------


class FlowFactory:
    """Builds flow records for one account with one random generator, all within [start, end]."""

    def __init__(self, account_id: str, rng: random.Random, start: datetime, end: datetime) -> None:
        if end <= start:
            raise BadInputError("flow window", f"end {end} is not after start {start}")
        self.account_id = account_id
        self.rng = rng
        self.t0 = int(start.timestamp())
        self.t1 = int(end.timestamp())

    def _times(self) -> tuple[int, int]:
        start = self.rng.randint(self.t0, max(self.t0, self.t1 - 60))
        return start, min(self.t1, start + self.rng.randint(5, 60))

    def ephemeral(self) -> int:
        return self.rng.randint(32768, 60999)

    def flow(self, eni: Interface, src: str, dst: str, sport: int, dport: int, proto: int,
             packets: int, nbytes: int, action: str = "ACCEPT") -> FlowRecord:
        start, end = self._times()
        return FlowRecord(self.account_id, eni.eni_id, src, dst, sport, dport, proto,
                          packets, nbytes, start, end, action)

    def conversation(self, eni: Interface, *, inbound: bool, peer: str, port: int, proto: int = TCP,
                     packets: int = 10, nbytes: int = 1500, action: str = "ACCEPT") -> list[FlowRecord]:
        """Both directions of one connection as flow logs show them (the reply only when accepted)."""
        eph = self.ephemeral()
        if inbound:
            out = [self.flow(eni, peer, eni.private_ip, eph, port, proto, packets, nbytes, action)]
            if action == "ACCEPT":
                out.append(self.flow(eni, eni.private_ip, peer, port, eph, proto, packets,
                                     nbytes * self.rng.randint(2, 8)))
        else:
            out = [self.flow(eni, eni.private_ip, peer, eph, port, proto, packets, nbytes, action)]
            if action == "ACCEPT":
                out.append(self.flow(eni, peer, eni.private_ip, port, eph, proto, packets,
                                     nbytes * self.rng.randint(2, 20)))
        return out


def _internet_ip(rng: random.Random) -> str:
    """A public-looking client address (not in the documentation ranges the attackers use)."""
    while True:
        address = ipaddress.IPv4Address(rng.randint(0x01000000, 0xDFFFFFFF))
        if address.is_global and not str(address).startswith(("198.51.100.", "203.0.113.", "192.0.2.")):
            return str(address)


def benign_flows(factory: FlowFactory, interfaces: Sequence[Interface], *, office_ips: Sequence[str],
                 per_interface: int = 40) -> list[FlowRecord]:
    """Ordinary traffic: HTTPS out to AWS and package mirrors, web clients in, office SSH, app to
    database, and the internet's background scanning that security groups reject."""
    rng = factory.rng
    records: list[FlowRecord] = []
    for eni in interfaces:
        for _ in range(per_interface):
            kind = rng.random()
            if kind < 0.40:
                _, address = rng.choice(_BENIGN_NAMES)
                records += factory.conversation(eni, inbound=False, peer=address, port=443,
                                                packets=rng.randint(6, 40), nbytes=rng.randint(800, 9000))
            elif kind < 0.65:
                records += factory.conversation(eni, inbound=True, peer=_internet_ip(rng), port=443,
                                                packets=rng.randint(8, 30), nbytes=rng.randint(600, 4000))
            elif kind < 0.72:
                records += factory.conversation(eni, inbound=True, peer=rng.choice(office_ips), port=22,
                                                packets=rng.randint(30, 300), nbytes=rng.randint(5000, 90000))
            elif kind < 0.85 and len(interfaces) > 1:
                other = rng.choice([i for i in interfaces if i is not eni])
                records += factory.conversation(eni, inbound=False, peer=other.private_ip,
                                                port=rng.choice((5432, 6379, 8080)),
                                                packets=rng.randint(5, 50), nbytes=rng.randint(500, 20000))
            else:
                # Internet background noise: a scanner probing a closed port, rejected.
                records.append(factory.flow(eni, _internet_ip(rng), eni.private_ip, factory.ephemeral(),
                                            rng.choice((23, 445, 3389, 5900, 8291, 1433)), TCP, 1, 40,
                                            "REJECT"))
    return records


def ssh_brute_force(factory: FlowFactory, target: Interface, attacker_ip: str, *,
                    attempts: int = 120) -> list[FlowRecord]:
    """Many short SSH connections from one address: mostly accepted (port 22 is open) and tiny,
    some rejected by the network ACL's rate rule; GuardDuty's UnauthorizedAccess:EC2/SSHBruteForce."""
    rng = factory.rng
    records: list[FlowRecord] = []
    for _ in range(attempts):
        action = "REJECT" if rng.random() < 0.25 else "ACCEPT"
        records += factory.conversation(target, inbound=True, peer=attacker_ip, port=22,
                                        packets=rng.randint(8, 14), nbytes=rng.randint(1800, 2600),
                                        action=action)
    return records


def port_scan(factory: FlowFactory, source: Interface, victim_ip: str, *, ports: int = 200) -> list[FlowRecord]:
    """One source probing many ports of one host (SYNs, one packet each); Recon:EC2/Portscan."""
    rng = factory.rng
    chosen = sorted(rng.sample(range(1, 10000), ports))
    sport = factory.ephemeral()
    return [factory.flow(source, source.private_ip, victim_ip, sport, port, TCP, 1, 44,
                         "ACCEPT") for port in chosen]


def tor_connections(factory: FlowFactory, source: Interface, tor_ip: str = TOR_NODE_IP, *,
                    sessions: int = 6) -> list[FlowRecord]:
    """Long-lived connections to a Tor relay's OR port; UnauthorizedAccess:EC2/TorClient."""
    records: list[FlowRecord] = []
    for _ in range(sessions):
        records += factory.conversation(source, inbound=False, peer=tor_ip, port=TOR_OR_PORT,
                                        packets=factory.rng.randint(200, 900),
                                        nbytes=factory.rng.randint(60000, 400000))
    return records


def mining_connections(factory: FlowFactory, source: Interface, *, sessions: int = 4) -> list[FlowRecord]:
    """Stratum connections to the pools the instance looked up (CryptoCurrency:EC2/BitcoinTool.B)."""
    records: list[FlowRecord] = []
    for _ in range(sessions):
        records += factory.conversation(source, inbound=False, peer=factory.rng.choice(_POOL_IPS),
                                        port=STRATUM_PORT, packets=factory.rng.randint(100, 500),
                                        nbytes=factory.rng.randint(20000, 90000))
    return records


class DnsFactory:
    """Builds resolver query records for one account/region within [start, end]."""

    def __init__(self, account_id: str, region: str, rng: random.Random, start: datetime, end: datetime) -> None:
        if end <= start:
            raise BadInputError("dns window", f"end {end} is not after start {start}")
        self.account_id, self.region, self.rng = account_id, region, rng
        self.start, self.span = start, (end - start).total_seconds()

    def query(self, eni: Interface, name: str, answers: Sequence[str], *, qtype: str = "A",
              rcode: str = "NOERROR") -> DnsQuery:
        when = self.start + timedelta(seconds=self.rng.uniform(0, self.span))
        return DnsQuery(self.account_id, self.region, eni.vpc_id, when.replace(microsecond=0), name, qtype,
                        rcode, tuple((a, qtype) for a in answers), eni.private_ip,
                        self.rng.randint(32768, 60999), eni.instance_id)


def benign_queries(factory: DnsFactory, interfaces: Sequence[Interface], *, per_interface: int = 30) -> list[DnsQuery]:
    """Lookups every instance makes: AWS endpoints, package mirrors, a payment API."""
    out = []
    for eni in interfaces:
        for _ in range(per_interface):
            name, address = factory.rng.choice(_BENIGN_NAMES)
            out.append(factory.query(eni, name, [address]))
    return out


def malicious_queries(factory: DnsFactory, source: Interface, *, exfil_chunks: int = 40) -> list[DnsQuery]:
    """Mining pools, a command-and-control domain, and DNS tunnelling: long random labels under one
    domain, each query carrying a chunk of encoded data (Trojan:EC2/DNSDataExfiltration)."""
    rng = factory.rng
    out = [factory.query(source, pool, [rng.choice(_POOL_IPS)]) for pool in MINING_POOLS for _ in range(3)]
    out += [factory.query(source, C2_DOMAIN, [_C2_IP]) for _ in range(8)]
    alphabet = string.ascii_lowercase + "234567"  # base32, as DNS tunnelling tools encode
    for sequence in range(exfil_chunks):
        chunk = "".join(rng.choice(alphabet) for _ in range(rng.randint(52, 63)))
        chunk2 = "".join(rng.choice(alphabet) for _ in range(rng.randint(30, 50)))
        name = f"{chunk}.{chunk2}.s{sequence:04d}.{EXFIL_DOMAIN}"
        out.append(factory.query(source, name, [], qtype="TXT", rcode="NXDOMAIN"))
    return out
