"""ec2-compromise: the web instance owned, its role's credentials used from outside, and its traffic.

The web instance (IMDSv1) gives up its instance-profile credentials: EC2 delivers them (AssumeRole of
``app-instance-role`` with the instance id as session name) and the attacker uses them from
``ATTACKER_IP``: GetCallerIdentity, ListBuckets, DescribeInstances, DescribeFlowLogs, an SSH rule open
to the world on the worker's security group, and every instance's user data read. The instance's
network traffic is delivered as VPC flow logs (an inbound SSH brute force from ``ATTACKER_IP``, an
outbound port scan, Tor and mining-pool connections) and Route 53 resolver query logs (mining pools,
a command-and-control domain, DNS tunnelling), mixed with the other instances' ordinary traffic.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from cloudwarden.core.errors import RuntimeFailure
from cloudwarden.lab import demo_org as org
from cloudwarden.lab import netlogs
from cloudwarden.lab.scenarios.base import Scenario, ScenarioContext, pages, tolerate
from cloudwarden.lab.scenarios.network import deliver_network_records, flow_destinations, interfaces

PORT_SCAN_TARGET = "198.51.100.150"
TRAFFIC_WINDOW = timedelta(minutes=20)


def run(ctx: ScenarioContext) -> None:
    prod = ctx.account("prod")
    web_id = ctx.resource(f"prod/instance/{org.INSTANCE_WEB_TAG}")

    # Find the web instance's id the way the attacker learnt it (from the instance metadata); the
    # seed names it. Without the seed's id, look it up by tag with the stolen credentials below.
    session_name = web_id or org.INSTANCE_WEB_TAG
    stolen = ctx.instance_credentials("prod", org.ROLE_APP_INSTANCE, session_name)
    attacker = stolen.with_origin(source_ip=org.ATTACKER_IP, user_agent=org.ATTACKER_USER_AGENT)

    attacker.client("sts").get_caller_identity()
    attacker.client("s3").list_buckets()
    ec2 = attacker.client("ec2")
    reservations = pages(ec2, "describe_instances", "Reservations")
    by_name = interfaces(reservations)
    web = by_name.get(org.INSTANCE_WEB_TAG)
    if web is None:
        raise RuntimeFailure(f"no running instance tagged Name={org.INSTANCE_WEB_TAG} in prod (was the lab seeded?)")

    # Open SSH to the world on the worker's security group (the web one is already open).
    worker_groups = [g["GroupId"] for r in reservations for i in r["Instances"]
                     if {t["Key"]: t["Value"] for t in i.get("Tags", [])}.get("Name") == org.INSTANCE_WORKER_TAG
                     for g in i.get("SecurityGroups", [])]
    groups = ec2.describe_security_groups().get("SecurityGroups", [])
    target_group = worker_groups[0] if worker_groups else next(
        g["GroupId"] for g in groups if g.get("GroupName") == "default")
    tolerate(lambda: ec2.authorize_security_group_ingress(
        GroupId=target_group, IpProtocol="tcp", FromPort=22, ToPort=22, CidrIp="0.0.0.0/0"),
        "InvalidPermission.Duplicate")

    # User data often holds secrets: read it for every instance.
    for interface in by_name.values():
        ec2.describe_instance_attribute(InstanceId=interface.instance_id, Attribute="userData")

    flow_logs = ec2.describe_flow_logs().get("FlowLogs", [])
    destinations = flow_destinations(flow_logs)

    end = datetime.now(UTC)
    start = end - TRAFFIC_WINDOW
    flows = netlogs.FlowFactory(prod, ctx.rng, start, end)
    others = [i for name, i in by_name.items() if name != org.INSTANCE_WEB_TAG]
    records = netlogs.benign_flows(flows, list(by_name.values()), office_ips=org.OFFICE_IPS, per_interface=25)
    records += netlogs.ssh_brute_force(flows, web, org.ATTACKER_IP)
    records += netlogs.port_scan(flows, web, PORT_SCAN_TARGET)
    records += netlogs.tor_connections(flows, web)
    records += netlogs.mining_connections(flows, web)
    by_vpc: dict[str, list[netlogs.FlowRecord]] = {}
    eni_vpc = {i.eni_id: i.vpc_id for i in by_name.values()}
    for record in records:
        by_vpc.setdefault(eni_vpc[record.interface_id], []).append(record)

    dns = netlogs.DnsFactory(prod, org.HOME_REGION, ctx.rng, start, end)
    queries = netlogs.benign_queries(dns, [web, *others], per_interface=20)
    queries += netlogs.malicious_queries(dns, web)
    ctx.delivered += deliver_network_records(ctx.lab, account_id=prod, destinations=destinations,
                                             flows_by_vpc=by_vpc, queries=queries)


SCENARIO = Scenario(
    name="ec2-compromise",
    title="Web instance compromised: role credentials used outside, malicious traffic",
    description=(
        f"EC2 delivers {org.ROLE_APP_INSTANCE} credentials to {org.INSTANCE_WEB_TAG} (AssumeRole, session named "
        f"after the instance id); from {org.ATTACKER_IP} (Kali AWS CLI) they call GetCallerIdentity, ListBuckets, "
        "DescribeInstances, DescribeSecurityGroups, AuthorizeSecurityGroupIngress tcp/22 from 0.0.0.0/0 on "
        f"{org.INSTANCE_WORKER_TAG}'s security group, DescribeInstanceAttribute userData for every instance, "
        "DescribeFlowLogs. Flow logs (last 20 minutes, 5-minute objects): ~120 SSH connections from "
        f"{org.ATTACKER_IP} to the web instance's port 22 (ACCEPT and REJECT), 200 ports of {PORT_SCAN_TARGET} "
        f"probed from the web instance, connections to {org.TOR_NODE_IP}:9001 and to mining pools on "
        "port 3333, over benign traffic from every instance. Resolver query logs: "
        f"{', '.join(netlogs.MINING_POOLS)}, {netlogs.C2_DOMAIN}, 40 TXT lookups of long base32 labels under "
        f"{netlogs.EXFIL_DOMAIN}, over benign lookups."
    ),
    mitre=("T1552.005", "T1078.004", "T1580", "T1562.007", "T1110.001", "T1046", "T1090.003", "T1496",
           "T1071.004", "T1048"),
    finding_types=(
        "UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.OutsideAWS",
        "PenTest:IAMUser/KaliLinux",
        "UnauthorizedAccess:EC2/SSHBruteForce",
        "Recon:EC2/Portscan",
        "UnauthorizedAccess:EC2/TorClient",
        "CryptoCurrency:EC2/BitcoinTool.B",
        "CryptoCurrency:EC2/BitcoinTool.B!DNS",
        "Backdoor:EC2/C&CActivity.B!DNS",
        "Trojan:EC2/DNSDataExfiltration",
    ),
    run=run,
)
