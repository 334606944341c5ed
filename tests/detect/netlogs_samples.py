"""Network log samples for the netlogs tests: interfaces, a fixed window, and writers for both formats."""

from __future__ import annotations

import gzip
import json
import random
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cloudwarden.lab import netlogs
from cloudwarden.lab.demo_org import PROD

END = datetime(2026, 3, 4, 10, 20, 0, tzinfo=UTC)
START = END - timedelta(minutes=20)
WEB = netlogs.Interface("eni-0aaa", "10.10.1.4", "i-0web", "vpc-0main", "subnet-1")
WORKER = netlogs.Interface("eni-0bbb", "10.10.11.4", "i-0worker", "vpc-0main", "subnet-2")
REGION = "us-east-1"


def flows(seed: int = 1) -> netlogs.FlowFactory:
    return netlogs.FlowFactory(PROD, random.Random(seed), START, END)


def queries(seed: int = 1) -> netlogs.DnsFactory:
    return netlogs.DnsFactory(PROD, REGION, random.Random(seed), START, END)


def write_flows(path: Path, records: Iterable[netlogs.FlowRecord], *, gz: bool = True) -> Path:
    """A flow log object as flow logs delivers it (header, records), gzipped or plain."""
    body = netlogs.flow_log_body(records)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(body if gz else gzip.decompress(body))
    return path


def write_queries(path: Path, items: Iterable[netlogs.DnsQuery | dict[str, Any] | str]) -> Path:
    """A resolver query log object: DnsQuery records, raw dicts or raw lines, one a line."""
    lines = []
    for item in items:
        if isinstance(item, netlogs.DnsQuery):
            lines.append(json.dumps(item.as_json()))
        elif isinstance(item, dict):
            lines.append(json.dumps(item))
        else:
            lines.append(item)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = ("\n".join(lines) + "\n").encode()
    path.write_bytes(gzip.compress(data) if path.name.endswith(".gz") else data)
    return path


def instance_documents() -> list[dict[str, Any]]:
    """Inventory ``AwsEc2Instance`` documents for WEB and WORKER, shaped as the collector stores them."""
    docs = []
    for eni, name in ((WEB, "web-1"), (WORKER, "worker-1")):
        docs.append({
            "arn": f"arn:aws:ec2:{REGION}:{PROD}:instance/{eni.instance_id}", "type": "AwsEc2Instance",
            "account": PROD, "region": REGION, "name": name, "tags": {"Name": name},
            "data": {"InstanceId": eni.instance_id, "PrivateIpAddress": eni.private_ip,
                     "NetworkInterfaces": [{"NetworkInterfaceId": eni.eni_id, "PrivateIpAddress": eni.private_ip,
                                            "PrivateIpAddresses": [{"PrivateIpAddress": eni.private_ip}]}]},
        })
    return docs
