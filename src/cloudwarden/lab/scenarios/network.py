"""From EC2's answers to the netlogs generators' inputs, and delivery of a batch of network records.

Scenarios and traffic already call DescribeInstances and DescribeFlowLogs as some principal; these
helpers turn those answers into :class:`~cloudwarden.lab.netlogs.Interface` objects and flow-log
destinations, then deliver generated records where the account's flow logs and resolver query logs
really go.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cloudwarden.lab import demo_org as org
from cloudwarden.lab.netlogs import (
    Deliverer,
    DnsQuery,
    FlowRecord,
    Interface,
    deliver_dns_logs,
    deliver_flow_logs,
)


@dataclass(frozen=True)
class FlowDestination:
    """Where one VPC's flow logs go: its flow log id and S3 bucket (and key prefix, if any)."""

    flow_log_id: str
    vpc_id: str
    bucket: str
    prefix: str


def interfaces(reservations: Sequence[dict[str, Any]]) -> dict[str, Interface]:
    """``Name`` tag (or instance id) -> the primary interface of each running instance."""
    out: dict[str, Interface] = {}
    for reservation in reservations:
        for instance in reservation.get("Instances", []):
            if instance.get("State", {}).get("Name") not in (None, "running", "pending"):
                continue
            enis = instance.get("NetworkInterfaces") or []
            if not enis:
                continue
            eni = enis[0]
            tags = {t["Key"]: t["Value"] for t in instance.get("Tags", [])}
            name = tags.get("Name", instance["InstanceId"])
            out[name] = Interface(
                eni_id=eni["NetworkInterfaceId"],
                private_ip=eni.get("PrivateIpAddress") or instance["PrivateIpAddress"],
                instance_id=instance["InstanceId"],
                vpc_id=instance.get("VpcId") or eni.get("VpcId", ""),
                subnet_id=instance.get("SubnetId", ""),
                public_ip=instance.get("PublicIpAddress"),
            )
    return out


def flow_destinations(flow_logs: Sequence[dict[str, Any]]) -> dict[str, FlowDestination]:
    """VPC id -> its S3 flow-log destination, from DescribeFlowLogs' answer."""
    out: dict[str, FlowDestination] = {}
    for flow_log in flow_logs:
        destination = flow_log.get("LogDestination") or ""
        if flow_log.get("LogDestinationType") != "s3" or not destination.startswith("arn:aws:s3:::"):
            continue
        bucket, _, prefix = destination.removeprefix("arn:aws:s3:::").partition("/")
        out.setdefault(flow_log["ResourceId"], FlowDestination(flow_log["FlowLogId"], flow_log["ResourceId"],
                                                               bucket, prefix.strip("/")))
    return out


class _Prefixed:
    """Delivers under a key prefix (a flow log whose destination ARN names a folder)."""

    def __init__(self, inner: Deliverer, prefix: str) -> None:
        self.inner, self.prefix = inner, prefix

    def deliver(self, account_id: str, bucket: str, key: str, body: bytes) -> object:
        return self.inner.deliver(account_id, bucket, f"{self.prefix}/{key}", body)


def deliver_network_records(
    lab: Deliverer, *, account_id: str, destinations: dict[str, FlowDestination],
    flows_by_vpc: dict[str, list[FlowRecord]], queries: Sequence[DnsQuery],
    dns_bucket: str = org.BUCKET_DNS_LOGS, region: str = org.HOME_REGION,
) -> list[str]:
    """Deliver flow records of VPCs that have flow logs (others are not logged, as in AWS) and all
    resolver queries; returns the s3:// URIs written."""
    uris: list[str] = []
    for vpc_id, records in flows_by_vpc.items():
        dest = destinations.get(vpc_id)
        if dest is None or not records:
            continue
        target: Deliverer = _Prefixed(lab, dest.prefix) if dest.prefix else lab
        written = deliver_flow_logs(target, account_id=account_id, region=region, bucket=dest.bucket,
                                    flow_log_id=dest.flow_log_id, records=records)
        if dest.prefix:
            written = [u.replace(f"s3://{dest.bucket}/", f"s3://{dest.bucket}/{dest.prefix}/", 1) for u in written]
        uris += written
    if queries:
        uris += deliver_dns_logs(lab, account_id=account_id, bucket=dns_bucket, queries=queries)
    return uris
