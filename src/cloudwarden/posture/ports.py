"""Port sets: which (protocol, port) pairs security group and network ACL rules let in from anywhere.

Reachability is an intersection (security group AND network ACL), and network ACLs are first-match lists
of allow and deny rules, so rules are turned into sets of port intervals per protocol that can be
intersected and subtracted. ``-1`` (all traffic) becomes every port of tcp and udp plus icmp.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

MAX_PORT = 65535
PROTOCOLS = ("tcp", "udp", "icmp")
_PROTO_NAMES = {"6": "tcp", "17": "udp", "1": "icmp", "58": "icmp", "icmpv6": "icmp", "tcp": "tcp", "udp": "udp",
                "icmp": "icmp"}
Interval = tuple[int, int]


def _normalise(intervals: Iterable[Interval]) -> tuple[Interval, ...]:
    merged: list[list[int]] = []
    for lo, hi in sorted(intervals):
        if merged and lo <= merged[-1][1] + 1:
            merged[-1][1] = max(merged[-1][1], hi)
        else:
            merged.append([lo, hi])
    return tuple((lo, hi) for lo, hi in merged)


@dataclass(frozen=True)
class PortSet:
    """Per protocol, disjoint sorted port intervals."""

    ranges: dict[str, tuple[Interval, ...]] = field(default_factory=dict)

    @classmethod
    def of(cls, protocol: str, lo: int | None, hi: int | None) -> PortSet:
        proto = str(protocol).lower()
        if proto in ("-1", "all"):
            return cls({p: ((0, MAX_PORT),) for p in PROTOCOLS})
        name = _PROTO_NAMES.get(proto)
        if name is None:
            return cls()
        if name == "icmp" or lo is None or hi is None or lo < 0 or hi < 0:
            return cls({name: ((0, MAX_PORT),)})
        return cls({name: ((max(lo, 0), min(hi, MAX_PORT)),)})

    def __or__(self, other: PortSet) -> PortSet:
        out = dict(self.ranges)
        for proto, intervals in other.ranges.items():
            out[proto] = _normalise((*out.get(proto, ()), *intervals))
        return PortSet(out)

    def __and__(self, other: PortSet) -> PortSet:
        out: dict[str, tuple[Interval, ...]] = {}
        for proto, mine in self.ranges.items():
            found = [(max(a, c), min(b, d)) for a, b in mine for c, d in other.ranges.get(proto, ())
                     if max(a, c) <= min(b, d)]
            if found:
                out[proto] = _normalise(found)
        return PortSet(out)

    def __sub__(self, other: PortSet) -> PortSet:
        out: dict[str, tuple[Interval, ...]] = {}
        for proto, mine in self.ranges.items():
            pieces = list(mine)
            for c, d in other.ranges.get(proto, ()):
                nxt: list[Interval] = []
                for a, b in pieces:
                    if d < a or c > b:
                        nxt.append((a, b))
                        continue
                    if a < c:
                        nxt.append((a, c - 1))
                    if d < b:
                        nxt.append((d + 1, b))
                pieces = nxt
            if pieces:
                out[proto] = _normalise(pieces)
        return PortSet(out)

    def __bool__(self) -> bool:
        return any(self.ranges.values())

    def has(self, protocol: str, port: int) -> bool:
        return any(lo <= port <= hi for lo, hi in self.ranges.get(protocol, ()))

    def describe(self, limit: int = 6) -> str:
        parts = []
        for proto in PROTOCOLS:
            for lo, hi in self.ranges.get(proto, ()):
                if proto == "icmp":
                    parts.append("icmp")
                elif (lo, hi) == (0, MAX_PORT):
                    parts.append(f"{proto}/all")
                else:
                    parts.append(f"{proto}/{lo}" if lo == hi else f"{proto}/{lo}-{hi}")
        shown = ", ".join(parts[:limit])
        return shown + (f" and {len(parts) - limit} more" if len(parts) > limit else "")


EMPTY = PortSet()


def is_anywhere(cidr: str | None) -> bool:
    """Is ``cidr`` every address (``0.0.0.0/0``, ``::/0`` or an equivalent spelling)?"""
    if not cidr:
        return False
    if cidr in ("0.0.0.0/0", "::/0"):
        return True
    return _prefix_zero(cidr)


@lru_cache(maxsize=4096)
def _prefix_zero(cidr: str) -> bool:
    try:
        return ipaddress.ip_network(cidr, strict=False).prefixlen == 0
    except ValueError:
        return False


def sg_open_ports(group: dict[str, Any], family: str = "any") -> PortSet:
    """Ports a security group's ingress rules open to ``0.0.0.0/0`` (``ipv4``), ``::/0`` (``ipv6``) or either."""
    opened = EMPTY
    for rule in group.get("IpPermissions") or []:
        v4 = any(is_anywhere(r.get("CidrIp")) for r in rule.get("IpRanges") or [])
        v6 = any(is_anywhere(r.get("CidrIpv6")) for r in rule.get("Ipv6Ranges") or [])
        if (family == "ipv4" and v4) or (family == "ipv6" and v6) or (family == "any" and (v4 or v6)):
            opened = opened | PortSet.of(str(rule.get("IpProtocol", "-1")), rule.get("FromPort"), rule.get("ToPort"))
    return opened


def nacl_open_ports(acl: dict[str, Any]) -> PortSet:
    """Ports a network ACL lets in from anywhere, evaluating ingress rules in number order (first match wins)."""
    rules = sorted((e for e in acl.get("Entries") or [] if not e.get("Egress")),
                   key=lambda e: int(e.get("RuleNumber", 32767)))
    remaining = PortSet.of("-1", None, None)
    allowed = EMPTY
    for entry in rules:
        if not (is_anywhere(entry.get("CidrBlock")) or is_anywhere(entry.get("Ipv6CidrBlock"))):
            continue
        port_range = entry.get("PortRange") or {}
        covered = remaining & PortSet.of(str(entry.get("Protocol", "-1")), port_range.get("From"),
                                         port_range.get("To"))
        if str(entry.get("RuleAction", "")).lower() == "allow":
            allowed = allowed | covered
        remaining = remaining - covered
    return allowed
