"""Deriving what network rules read from what the logs say: direction, peer, trust, and the instance.

A version 2 flow record says ``srcaddr -> dstaddr`` on an interface but not which side is the
interface. Seen from the interface, a record is ``ingress`` when its destination is one of the
interface's addresses and ``egress`` when its source is; the addresses come from the inventory
snapshot (:mod:`cloudwarden.detect.netlogs.instances`) and, for an interface it does not know, from the
logs themselves: the address that appears in most of the interface's records (every record of an
interface has the interface's own address on one side), a private one winning a tie. A custom format's
``flow-direction`` field, when present, is taken as is.

Peers on a threat-intel list of category ``trusted`` or matching the allowlist's ``source_ips`` are
marked ``peer_trusted``, and rules ignore them (the same rule as for CloudTrail). Each record is given
its resource: the instance's ARN (and name) when the interface or address maps to one, else the
interface id (flow logs) or the source address (queries without an instance).
"""

from __future__ import annotations

from typing import Final

import duckdb

from cloudwarden.detect.compile import glob_to_like, sql_string
from cloudwarden.detect.netlogs.instances import INSTANCE_TABLE
from cloudwarden.detect.netlogs.tables import DNS_TABLE, FLOW_TABLE
from cloudwarden.detect.rules.model import Allowlist
from cloudwarden.detect.threat_intel import TRUSTED_CATEGORY, ThreatIntel

ADDRESS_VIEW: Final = "_net_addresses"
_PRIVATE: Final = r"^(10\.|192\.168\.|172\.(1[6-9]|2[0-9]|3[01])\.|fd|fc)"

_INTERFACE_ADDRESSES: Final = f"""
CREATE OR REPLACE TABLE _iface_addr AS
SELECT DISTINCT eni_id AS interface_id, address AS addr FROM {INSTANCE_TABLE}
UNION
SELECT interface_id, addr FROM (
    SELECT interface_id, addr, count(*) AS n FROM (
        SELECT interface_id, srcaddr AS addr FROM {FLOW_TABLE}
        UNION ALL SELECT interface_id, dstaddr FROM {FLOW_TABLE}) AS a
    WHERE addr IS NOT NULL AND interface_id IS NOT NULL
      AND interface_id NOT IN (SELECT eni_id FROM {INSTANCE_TABLE})
    GROUP BY interface_id, addr
    QUALIFY row_number() OVER (PARTITION BY interface_id
                               ORDER BY n DESC, regexp_matches(addr, '{_PRIVATE}') DESC, addr) = 1) AS inferred
"""

_DIRECTION: Final = f"""
UPDATE {FLOW_TABLE} SET direction = d.direction,
    local_addr = CASE d.direction WHEN 'ingress' THEN d.dstaddr WHEN 'egress' THEN d.srcaddr END,
    peer_addr = CASE d.direction WHEN 'ingress' THEN d.srcaddr WHEN 'egress' THEN d.dstaddr END,
    local_port = CASE d.direction WHEN 'ingress' THEN d.dstport WHEN 'egress' THEN d.srcport END,
    peer_port = CASE d.direction WHEN 'ingress' THEN d.srcport WHEN 'egress' THEN d.dstport END
FROM (
    SELECT f.event_id, f.srcaddr, f.dstaddr, f.srcport, f.dstport,
           coalesce(CASE WHEN f.flow_direction IN ('ingress', 'egress') THEN f.flow_direction END,
                    CASE WHEN di.addr IS NOT NULL THEN 'ingress' WHEN si.addr IS NOT NULL THEN 'egress' END)
               AS direction
    FROM {FLOW_TABLE} AS f
    LEFT JOIN _iface_addr AS di ON di.interface_id = f.interface_id AND di.addr = f.dstaddr
    LEFT JOIN _iface_addr AS si ON si.interface_id = f.interface_id AND si.addr = f.srcaddr) AS d
WHERE {FLOW_TABLE}.event_id = d.event_id
"""

_FLOW_RESOURCES: Final = (
    f"""UPDATE {FLOW_TABLE} SET
        resource_id = CASE WHEN instance_id IS NOT NULL AND region IS NOT NULL AND account_id IS NOT NULL
                           THEN 'arn:aws:ec2:' || region || ':' || account_id || ':instance/' || instance_id
                           ELSE interface_id END,
        resource_type = CASE WHEN instance_id IS NOT NULL AND region IS NOT NULL AND account_id IS NOT NULL
                             THEN 'AwsEc2Instance' ELSE 'AwsEc2NetworkInterface' END""",
    f"""UPDATE {FLOW_TABLE} SET instance_id = i.instance_id, instance_name = i.name, resource_id = i.arn,
        resource_type = 'AwsEc2Instance', region = coalesce({FLOW_TABLE}.region, i.region),
        account_id = coalesce({FLOW_TABLE}.account_id, i.account)
    FROM (SELECT DISTINCT eni_id, instance_id, arn, name, region, account FROM {INSTANCE_TABLE}) AS i
    WHERE {FLOW_TABLE}.interface_id = i.eni_id""",
)

_DNS_RESOURCES: Final = (
    f"""UPDATE {DNS_TABLE} SET
        resource_id = CASE WHEN instance_id IS NOT NULL
                           THEN 'arn:aws:ec2:' || coalesce(region, '') || ':' || coalesce(account_id, '')
                                || ':instance/' || instance_id
                           ELSE coalesce(srcaddr, resolver_endpoint, 'unknown') END,
        resource_type = CASE WHEN instance_id IS NOT NULL THEN 'AwsEc2Instance' ELSE 'Other' END""",
    f"""UPDATE {DNS_TABLE} SET instance_name = i.name, resource_id = i.arn
    FROM (SELECT DISTINCT instance_id, arn, name FROM {INSTANCE_TABLE}) AS i
    WHERE {DNS_TABLE}.instance_id = i.instance_id""",
    f"""UPDATE {DNS_TABLE} SET instance_id = i.instance_id, instance_name = i.name, resource_id = i.arn,
        resource_type = 'AwsEc2Instance'
    FROM (SELECT DISTINCT account, address, instance_id, arn, name FROM {INSTANCE_TABLE}) AS i
    WHERE {DNS_TABLE}.instance_id IS NULL AND {DNS_TABLE}.srcaddr = i.address
      AND {DNS_TABLE}.account_id = i.account""",
)


def enrich(conn: duckdb.DuckDBPyConnection, intel: ThreatIntel, allowlist: Allowlist | None = None) -> int:
    """Fill the derived columns of both tables; returns how many peer/answer addresses are on an intel list.

    ``net_instances`` must exist (empty when there is no snapshot).
    """
    conn.execute(_INTERFACE_ADDRESSES)
    conn.execute(_DIRECTION)
    conn.execute(f"CREATE OR REPLACE VIEW {ADDRESS_VIEW} AS SELECT peer_addr AS source_ip FROM {FLOW_TABLE} "
                 f"UNION SELECT unnest(answers) FROM {DNS_TABLE}")
    hits = intel.annotate(conn, ADDRESS_VIEW)
    trusted = ["false"]
    if allowlist is None or allowlist.trusted_intel:
        trusted.append(f"peer_addr IN (SELECT ip FROM intel_ip WHERE category = {sql_string(TRUSTED_CATEGORY)})")
    if allowlist is not None:
        trusted += [f"peer_addr LIKE {sql_string(glob_to_like(p))} ESCAPE '\\'" for p in allowlist.source_ips]
    conn.execute(f"UPDATE {FLOW_TABLE} SET peer_trusted = coalesce({' OR '.join(trusted)}, false)")
    for statement in (*_FLOW_RESOURCES, *_DNS_RESOURCES):
        conn.execute(statement)
    return hits
