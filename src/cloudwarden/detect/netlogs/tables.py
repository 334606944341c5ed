"""The ``flow_logs`` and ``dns_logs`` tables network rules read, and the view that feeds their evidence.

One row per VPC flow log record / Route 53 resolver query, typed (ports and counters are integers,
times are UTC timestamps). Besides the fields the services write, each row carries columns the
readers and :mod:`cloudwarden.detect.netlogs.enrich` derive once, so rules stay short:

* ``flow_logs``: ``direction`` (``ingress``/``egress``, seen from the interface), ``local_addr``,
  ``peer_addr``, ``local_port``, ``peer_port``, ``peer_trusted`` (the peer is on a trusted threat-intel
  list or the allowlist), and the resource the record belongs to (``resource_id``, ``resource_type``,
  ``instance_id``, ``instance_name``).
* ``dns_logs``: the query name lower-cased without its trailing dot, its ``base_domain`` (the registered
  domain), the ``subdomain`` left of it, the longest label's length, the subdomain's Shannon entropy,
  and the same resource columns.

``event_id`` is ``<object>:<line>``, where the record is, so evidence points a responder at it;
``event_time`` is the flow's start or the query's time.
"""

from __future__ import annotations

from typing import Final

import duckdb

FLOW_TABLE: Final = "flow_logs"
DNS_TABLE: Final = "dns_logs"

FLOW_COLUMNS: Final[tuple[tuple[str, str], ...]] = (
    ("event_id", "VARCHAR NOT NULL"),
    ("event_time", "TIMESTAMP"),
    ("end_time", "TIMESTAMP"),
    ("version", "INTEGER"),
    ("account_id", "VARCHAR"),
    ("region", "VARCHAR"),
    ("interface_id", "VARCHAR"),
    ("vpc_id", "VARCHAR"),
    ("subnet_id", "VARCHAR"),
    ("srcaddr", "VARCHAR"),
    ("dstaddr", "VARCHAR"),
    ("srcport", "INTEGER"),
    ("dstport", "INTEGER"),
    ("protocol", "INTEGER"),
    ("packets", "BIGINT"),
    ("bytes", "BIGINT"),
    ("action", "VARCHAR"),
    ("log_status", "VARCHAR"),
    ("tcp_flags", "INTEGER"),
    ("pkt_srcaddr", "VARCHAR"),
    ("pkt_dstaddr", "VARCHAR"),
    ("flow_direction", "VARCHAR"),
    ("source_file", "VARCHAR"),
    ("line", "INTEGER"),
    # derived (enrich)
    ("direction", "VARCHAR"),
    ("local_addr", "VARCHAR"),
    ("peer_addr", "VARCHAR"),
    ("local_port", "INTEGER"),
    ("peer_port", "INTEGER"),
    ("peer_trusted", "BOOLEAN"),
    ("instance_id", "VARCHAR"),
    ("instance_name", "VARCHAR"),
    ("resource_id", "VARCHAR"),
    ("resource_type", "VARCHAR"),
)

DNS_COLUMNS: Final[tuple[tuple[str, str], ...]] = (
    ("event_id", "VARCHAR NOT NULL"),
    ("event_time", "TIMESTAMP"),
    ("version", "VARCHAR"),
    ("account_id", "VARCHAR"),
    ("region", "VARCHAR"),
    ("vpc_id", "VARCHAR"),
    ("query_name", "VARCHAR"),
    ("query_type", "VARCHAR"),
    ("query_class", "VARCHAR"),
    ("rcode", "VARCHAR"),
    ("answers", "VARCHAR[]"),
    ("srcaddr", "VARCHAR"),
    ("srcport", "INTEGER"),
    ("transport", "VARCHAR"),
    ("instance_id", "VARCHAR"),
    ("resolver_endpoint", "VARCHAR"),
    ("base_domain", "VARCHAR"),
    ("subdomain", "VARCHAR"),
    ("max_label_length", "INTEGER"),
    ("subdomain_entropy", "DOUBLE"),
    ("source_file", "VARCHAR"),
    ("line", "INTEGER"),
    # derived (enrich)
    ("instance_name", "VARCHAR"),
    ("resource_id", "VARCHAR"),
    ("resource_type", "VARCHAR"),
)

# What grouping reads for evidence: one row per record of either table, with the same columns.
EVIDENCE_VIEW: Final = "net_records"
# The columns of either table the view reads (what a carried record keeps besides those its rules name).
EVIDENCE_COLUMNS: Final = ("interface_id", "peer_addr", "local_port", "peer_port", "protocol", "action", "packets",
                           "bytes", "direction", "query_name", "instance_id", "instance_name", "resource_type")
# The view's query, portable SQL (Spark registers it as a temporary view of the same name).
EVIDENCE_SELECT: Final = f"""
SELECT event_id, 'flow' AS kind, interface_id, peer_addr, local_port, peer_port, protocol, action, packets,
       bytes, direction, CAST(NULL AS VARCHAR) AS query_name, instance_id, instance_name, resource_type
FROM {FLOW_TABLE}
UNION ALL
SELECT event_id, 'dns', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, query_name, instance_id,
       instance_name, resource_type
FROM {DNS_TABLE}
"""


def create_tables(conn: duckdb.DuckDBPyConnection) -> None:
    """Create the empty tables and the evidence view."""
    for table, columns in ((FLOW_TABLE, FLOW_COLUMNS), (DNS_TABLE, DNS_COLUMNS)):
        conn.execute(f"CREATE TABLE {table} ({', '.join(f'{c} {t}' for c, t in columns)})")
    conn.execute(f"CREATE OR REPLACE VIEW {EVIDENCE_VIEW} AS {EVIDENCE_SELECT}")
