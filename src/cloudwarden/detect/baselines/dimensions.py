"""The behaviour dimensions a baseline learns, as the values compared: API, network, user-agent family, region.

Networks are the /24 of an IPv4 address and the /48 of an IPv6 one (no ASN database is needed, and a
host moving within its provider's block stays "known"); a source that is not an address (``AWS
Internal``, a service host name) is its own network. A user agent is reduced to its family, the
product token before the first ``/`` (``aws-cli/2.15 Python/3.11 ...`` -> ``aws-cli``), so version bumps
are not anomalies. These run in Python over the *distinct* addresses and agents of a chunk (far fewer
than its rows); the ``ipaddress`` module handles IPv6's many spellings that SQL string slicing would not.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Final

DIMENSIONS: Final = ("api", "network", "user_agent", "region")
_SKIPPED_PRODUCTS: Final = frozenset({"apn", "hashicorp"})  # partner-network prefixes before the real product
_TOKEN = re.compile(r"[^\s/\[\]()]+")


def network_of(source_ip: str | None) -> str:
    """``203.0.113.7`` -> ``203.0.113.0/24``; ``2001:db8:1:2::5`` -> ``2001:db8:1::/48``; others lower-cased."""
    if not source_ip:
        return "unknown"
    text = source_ip.strip()
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return text.lower()
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    prefix = 24 if address.version == 4 else 48
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))


def user_agent_family(user_agent: str | None) -> str:
    """The product token of a user agent, lower-cased (``unknown`` when there is none)."""
    if not user_agent:
        return "unknown"
    text = user_agent.strip()
    if "/" not in text and " " not in text.strip("[]"):  # console.amazonaws.com, AWS Internal forms
        return text.strip("[]").lower() or "unknown"
    parts = text.split()
    for part in parts:
        match = _TOKEN.search(part)
        if match is None:
            continue
        token = match.group(0).lower()
        if token in _SKIPPED_PRODUCTS and len(parts) > 1:
            continue
        return token
    return text.lower()
