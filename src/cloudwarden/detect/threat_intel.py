"""Threat intelligence lists (Tor exit nodes, custom malicious addresses, mining pools) for detection rules.

A list is a text file, one entry a line: an IPv4/IPv6 address, a CIDR range or a domain name; ``#``
starts a comment. Its *category* is the first dash-separated word of the file name (``tor-exit-nodes.txt``
-> ``tor``, ``malicious.txt`` -> ``malicious``, ``mining-pools.txt`` -> ``mining``, ``trusted-office.txt`` ->
``trusted``: addresses no rule raises a finding on, like GuardDuty's trusted IP lists); rules ask for
categories, so users add lists by dropping files in a directory (``--threat-intel DIR``). A small
sample ships in ``detect/intel/`` for the lab (its Tor node, its attacker as a custom malicious address,
the mining pools its instances resolve).

Rules see the lists as two tables, filled for the addresses actually present in the loaded events:
``intel_ip(ip, list, category)`` and ``intel_domain(domain, list, category)``. Matching is done here
with :mod:`ipaddress` (exact addresses by set lookup, ranges by containment) because the engines'
network-type support differs (DuckDB's ``inet`` is an extension, Spark has none).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Final

import duckdb

from cloudwarden.core.errors import BadInputError

IntelNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
# Addresses of this category are the user's own (offices, CI runners): no rule raises a finding on them.
TRUSTED_CATEGORY: Final = "trusted"
_DOMAIN: Final = re.compile(r"^(?=.{1,253}$)([A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}\.?$")


@dataclass
class IntelList:
    """One list file: its name (file stem), category, addresses, ranges and domains."""

    name: str
    category: str
    source: str
    addresses: set[str] = field(default_factory=set)
    networks: list[IntelNetwork] = field(default_factory=list)
    domains: set[str] = field(default_factory=set)

    def __len__(self) -> int:
        return len(self.addresses) + len(self.networks) + len(self.domains)


@dataclass
class ThreatIntel:
    lists: list[IntelList] = field(default_factory=list)

    @classmethod
    def load(cls, dirs: Sequence[Path | str] = (), *, include_sample: bool = True) -> ThreatIntel:
        """The shipped sample (unless ``include_sample`` is false) and every ``*.txt`` under ``dirs``."""
        intel = cls()
        if include_sample:
            sample = resources.files("cloudwarden.detect") / "intel"
            for entry in sorted(sample.iterdir(), key=lambda e: e.name):
                if entry.name.endswith(".txt"):
                    intel.lists.append(parse_list(entry.name, entry.read_text(encoding="utf-8"),
                                                  f"cloudwarden/detect/intel/{entry.name}"))
        for directory in dirs:
            path = Path(directory)
            if not path.is_dir():
                raise BadInputError(str(path), "no such directory (threat intelligence lists expected here)")
            files = sorted(path.rglob("*.txt"))
            if not files:
                raise BadInputError(str(path), "no *.txt threat intelligence lists in this directory")
            for file in files:
                intel.lists.append(parse_list(file.name, file.read_text(encoding="utf-8"), str(file)))
        return intel

    def categories(self) -> list[str]:
        return sorted({item.category for item in self.lists})

    def match_ips(self, ips: Iterable[str]) -> list[tuple[str, str, str]]:
        """(ip, list, category) for every given address some list holds (exactly or by range)."""
        out: list[tuple[str, str, str]] = []
        for text in ips:
            try:
                address = ipaddress.ip_address(text.strip())
            except ValueError:
                continue  # an AWS service name (``ec2.amazonaws.com``) or a hostname, not an address
            key = str(address)
            for item in self.lists:
                if key in item.addresses or any(address in net for net in item.networks
                                                if net.version == address.version):
                    out.append((text, item.name, item.category))
        return out

    def domain_rows(self) -> list[tuple[str, str, str]]:
        return [(domain, item.name, item.category) for item in self.lists for domain in sorted(item.domains)]

    def annotate(self, conn: duckdb.DuckDBPyConnection, table: str = "cloudtrail") -> int:
        """(Re)create ``intel_ip`` for the source addresses in ``table`` and ``intel_domain``; returns IP hits."""
        create_intel_tables(conn)
        ips = [row[0] for row in conn.execute(
            f"SELECT DISTINCT source_ip FROM {table} WHERE source_ip IS NOT NULL").fetchall()]
        hits = self.match_ips(ips)
        if hits:
            conn.executemany("INSERT INTO intel_ip VALUES (?, ?, ?)", hits)
        domains = self.domain_rows()
        if domains:
            conn.executemany("INSERT INTO intel_domain VALUES (?, ?, ?)", domains)
        return len(hits)


def create_intel_tables(conn: duckdb.DuckDBPyConnection) -> None:
    conn.execute("CREATE OR REPLACE TABLE intel_ip (ip VARCHAR, list VARCHAR, category VARCHAR)")
    conn.execute("CREATE OR REPLACE TABLE intel_domain (domain VARCHAR, list VARCHAR, category VARCHAR)")


def parse_list(file_name: str, text: str, where: str) -> IntelList:
    """Parse one list; a line that is neither an address, a range nor a domain is a :class:`BadInputError`."""
    stem = file_name.rsplit(".", 1)[0]
    item = IntelList(name=stem, category=stem.split("-")[0].lower(), source=where)
    for number, line in enumerate(text.splitlines(), start=1):
        entry = line.split("#", 1)[0].strip()
        if not entry:
            continue
        try:
            if "/" in entry:
                network = ipaddress.ip_network(entry, strict=False)
                if network.num_addresses == 1:
                    item.addresses.add(str(network.network_address))
                else:
                    item.networks.append(network)
                continue
            item.addresses.add(str(ipaddress.ip_address(entry)))
            continue
        except ValueError:
            pass
        if _DOMAIN.match(entry):
            item.domains.add(entry.lower().rstrip("."))
        else:
            raise BadInputError(f"{where}:{number}", f"{entry!r} is not an IP address, a CIDR range or a domain")
    return item
