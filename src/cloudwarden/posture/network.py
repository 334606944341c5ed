"""Network controls: security groups, network ACLs, VPC flow logs and endpoints, and whether an instance or
database is reachable from the internet.

Reachability is judged on the whole path, not one rule at a time: a public address, a route from the
subnet to an internet gateway, a security group rule open to the world and a network ACL that lets the
same ports in (first matching rule wins) must all line up. Any one of them closed means not reachable.
"""

from __future__ import annotations

from cloudwarden.core.severity import Severity
from cloudwarden.posture.ec2 import live_instance, public_ips
from cloudwarden.posture.inventory import Inventory
from cloudwarden.posture.model import NotAvailable, ResourceDoc, Verdict, failed, passed, verdict
from cloudwarden.posture.ports import EMPTY, PortSet, is_anywhere, nacl_open_ports, sg_open_ports
from cloudwarden.posture.registry import control

SG = "AwsEc2SecurityGroup"
NACL = "AwsEc2NetworkAcl"
VPC = "AwsEc2Vpc"
SUBNET = "AwsEc2Subnet"
ROUTES = "AwsEc2RouteTable"

ADMIN_PORTS = PortSet.of("tcp", 22, 22) | PortSet.of("tcp", 3389, 3389)
HIGH_RISK = (20, 21, 22, 23, 25, 110, 135, 143, 445, 1433, 1434, 3000, 3306, 3389, 4333, 5000, 5432, 5500, 5601,
             8080, 8088, 8888, 9200, 9300)
AUTHORIZED = (80, 443)


def _tcp_ports(ports: tuple[int, ...]) -> PortSet:
    out = EMPTY
    for port in ports:
        out = out | PortSet.of("tcp", port, port)
    return out


HIGH_RISK_PORTS = _tcp_ports(HIGH_RISK)
AUTHORIZED_PORTS = _tcp_ports(AUTHORIZED)
CIFS_PORT = PortSet.of("tcp", 445, 445)


# --- security groups -----------------------------------------------------------------------------------------


def _sg_rule_check(doc: ResourceDoc, family: str, watched: PortSet, what: str) -> Verdict:
    opened = sg_open_ports(doc.data, family) & watched
    where = {"ipv4": "0.0.0.0/0", "ipv6": "::/0", "any": "the internet"}[family]
    return verdict(not opened, f"security group {doc.label} opens no {what} to {where}",
                   f"security group {doc.label} opens {opened.describe()} to {where}")


@control("EC2.2", title="VPC default security groups should not allow inbound or outbound traffic",
         severity=Severity.HIGH, resource_type=SG, service="ec2",
         rationale="Resources launched without a group land in the default one; it should let nothing through.",
         remediation="Remove every inbound and outbound rule from the default security group.",
         cli="aws ec2 revoke-security-group-ingress --group-id <id> --ip-permissions file://rules.json; "
             "aws ec2 revoke-security-group-egress --group-id <id> --ip-permissions file://rules.json")
def default_group_closed(doc: ResourceDoc, inv: Inventory) -> Verdict | None:
    if doc.data.get("GroupName") != "default":
        return None
    inbound = len(doc.data.get("IpPermissions") or [])
    outbound = len(doc.data.get("IpPermissionsEgress") or [])
    return verdict(inbound + outbound == 0, f"default security group {doc.label} has no rules",
                   f"default security group {doc.label} of {doc.data.get('VpcId')} has {inbound} inbound and "
                   f"{outbound} outbound rule(s)")


@control("EC2.18", title="Security groups should only allow unrestricted incoming traffic for authorized ports",
         severity=Severity.HIGH, resource_type=SG, service="ec2",
         rationale="Only the ports a service is meant to publish (80, 443) should be open to the world.",
         remediation="Restrict the rule's source to known addresses, or remove it.",
         cli="aws ec2 revoke-security-group-ingress --group-id <id> --protocol tcp --port <port> --cidr 0.0.0.0/0")
def only_authorized_ports(doc: ResourceDoc, inv: Inventory) -> Verdict:
    opened = sg_open_ports(doc.data) - AUTHORIZED_PORTS
    return verdict(not opened, f"security group {doc.label} opens only authorized ports to the internet",
                   f"security group {doc.label} opens {opened.describe()} to the internet")


@control("EC2.19", title="Security groups should not allow unrestricted access to ports with high risk",
         severity=Severity.CRITICAL, resource_type=SG, service="ec2",
         rationale="Administration, database and file-sharing ports open to the world are attacked within minutes.",
         remediation="Restrict the rule's source to known addresses, or remove it.",
         cli="aws ec2 revoke-security-group-ingress --group-id <id> --protocol tcp --port <port> --cidr 0.0.0.0/0")
def high_risk_ports(doc: ResourceDoc, inv: Inventory) -> Verdict:
    return _sg_rule_check(doc, "any", HIGH_RISK_PORTS, "high-risk port")


@control("EC2.53", title="EC2 security groups should not allow ingress from 0.0.0.0/0 to remote server "
         "administration ports", severity=Severity.HIGH, resource_type=SG, service="ec2",
         rationale="SSH and RDP open to every IPv4 address invite brute force and exploits.",
         remediation="Restrict 22 and 3389 to known addresses, or use SSM Session Manager.",
         cli="aws ec2 revoke-security-group-ingress --group-id <id> --protocol tcp --port 22 --cidr 0.0.0.0/0")
def admin_ports_ipv4(doc: ResourceDoc, inv: Inventory) -> Verdict:
    return _sg_rule_check(doc, "ipv4", ADMIN_PORTS, "administration port")


@control("EC2.54", title="EC2 security groups should not allow ingress from ::/0 to remote server administration "
         "ports", severity=Severity.HIGH, resource_type=SG, service="ec2",
         rationale="SSH and RDP open to every IPv6 address invite brute force and exploits.",
         remediation="Restrict 22 and 3389 to known addresses, or use SSM Session Manager.",
         cli="aws ec2 revoke-security-group-ingress --group-id <id> --ip-permissions "
             "'IpProtocol=tcp,FromPort=22,ToPort=22,Ipv6Ranges=[{CidrIpv6=::/0}]'")
def admin_ports_ipv6(doc: ResourceDoc, inv: Inventory) -> Verdict:
    return _sg_rule_check(doc, "ipv6", ADMIN_PORTS, "administration port")


@control("CW.EC2.2", title="Security groups should not allow CIFS (445) from the internet", severity=Severity.HIGH,
         resource_type=SG, service="ec2",
         rationale="SMB/CIFS exposed to the internet is a classic ransomware entry point.",
         remediation="Restrict port 445 to trusted networks.",
         cli="aws ec2 revoke-security-group-ingress --group-id <id> --protocol tcp --port 445 --cidr 0.0.0.0/0")
def cifs(doc: ResourceDoc, inv: Inventory) -> Verdict:
    return _sg_rule_check(doc, "any", CIFS_PORT, "CIFS")


# --- network ACLs ----------------------------------------------------------------------------------------------


@control("EC2.21", title="Network ACLs should not allow ingress from 0.0.0.0/0 to port 22 or port 3389",
         severity=Severity.MEDIUM, resource_type=NACL, service="ec2",
         rationale="A network ACL is the subnet-wide backstop; it should not let SSH or RDP in from anywhere.",
         remediation="Add lower-numbered deny rules for 22 and 3389 from 0.0.0.0/0 and ::/0.",
         cli="aws ec2 create-network-acl-entry --network-acl-id <id> --ingress --rule-number 50 --protocol tcp "
             "--port-range From=22,To=22 --cidr-block 0.0.0.0/0 --rule-action deny")
def nacl_admin_ports(doc: ResourceDoc, inv: Inventory) -> Verdict:
    opened = nacl_open_ports(doc.data) & ADMIN_PORTS
    return verdict(not opened, f"network ACL {doc.label} lets no administration port in from anywhere",
                   f"network ACL {doc.label} lets {opened.describe()} in from anywhere")


@control("EC2.16", title="Unused Network Access Control Lists should be removed", severity=Severity.LOW,
         resource_type=NACL, service="ec2",
         rationale="Unused ACLs clutter reviews and get attached by mistake with stale rules.",
         remediation="Delete network ACLs associated with no subnet.",
         cli="aws ec2 delete-network-acl --network-acl-id <id>")
def nacl_unused(doc: ResourceDoc, inv: Inventory) -> Verdict | None:
    if doc.data.get("IsDefault"):
        return None
    used = bool(doc.data.get("Associations"))
    return verdict(used, f"network ACL {doc.label} is associated with a subnet",
                   f"network ACL {doc.label} is associated with no subnet")


# --- VPCs ------------------------------------------------------------------------------------------------------


@control("EC2.6", title="VPC flow logging should be enabled in all VPCs", severity=Severity.MEDIUM,
         resource_type=VPC, service="ec2", calls=("DescribeFlowLogs",),
         rationale="Flow logs are the record of who talked to what in the VPC during an incident.",
         remediation="Create a flow log for the VPC (at least REJECT traffic).",
         cli="aws ec2 create-flow-logs --resource-type VPC --resource-ids <vpc-id> --traffic-type ALL "
             "--log-destination-type s3 --log-destination arn:aws:s3:::<bucket>")
def flow_logs(doc: ResourceDoc, inv: Inventory) -> Verdict:
    logs = [f for f in (doc.call("DescribeFlowLogs") or {}).get("FlowLogs") or []
            if f.get("FlowLogStatus", "ACTIVE") == "ACTIVE" and f.get("TrafficType", "ALL") in ("ALL", "REJECT")]
    return verdict(bool(logs), f"VPC {doc.label} has flow logs", f"VPC {doc.label} has no flow logs")


def _endpoint(control_id: str, service_suffix: str, label: str, severity: Severity = Severity.MEDIUM) -> None:
    def check(doc: ResourceDoc, inv: Inventory) -> Verdict:
        vpc_id = doc.need("VpcId")
        wanted = f"com.amazonaws.{doc.region}.{service_suffix}"
        found = [e for e in inv.of_type("AwsEc2VpcEndpoint", doc.account, doc.region)
                 if e.data.get("VpcId") == vpc_id and e.data.get("ServiceName") == wanted]
        return verdict(bool(found), f"VPC {doc.label} has an endpoint for {wanted}",
                       f"VPC {doc.label} has no endpoint for {wanted}")

    check.__name__ = "endpoint_" + service_suffix.replace(".", "_").replace("-", "_")
    control(control_id, title=f"VPCs should be configured with an interface endpoint for {label}",
            severity=severity, resource_type=VPC, service="ec2",
            rationale=f"A VPC endpoint keeps {label} traffic off the internet and lets endpoint policies limit it.",
            remediation=f"Create an interface VPC endpoint for com.amazonaws.<region>.{service_suffix}.",
            cli=f"aws ec2 create-vpc-endpoint --vpc-id <vpc-id> --service-name com.amazonaws.<region>.{service_suffix} "
                "--vpc-endpoint-type Interface")(check)


_endpoint("EC2.10", "ec2", "the Amazon EC2 service")
_endpoint("EC2.55", "ecr.api", "ECR API")
_endpoint("EC2.56", "ecr.dkr", "Docker Registry")
_endpoint("EC2.57", "ssm", "Systems Manager")
_endpoint("EC2.58", "ssm-contacts", "Systems Manager Incident Manager Contacts")
_endpoint("EC2.60", "ssm-incidents", "Systems Manager Incident Manager")


# --- reachability ----------------------------------------------------------------------------------------------


def route_table_of(inv: Inventory, subnet: ResourceDoc) -> ResourceDoc:
    subnet_id = subnet.need("SubnetId")
    vpc_id = subnet.need("VpcId")
    main: ResourceDoc | None = None
    for table in inv.of_type(ROUTES, subnet.account, subnet.region):
        if table.data.get("VpcId") != vpc_id:
            continue
        for assoc in table.data.get("Associations") or []:
            if assoc.get("SubnetId") == subnet_id:
                return table
            if assoc.get("Main"):
                main = table
    if main is None:
        raise NotAvailable(f"no route table of subnet {subnet_id} is in the snapshot")
    return main


def internet_gateway(table: ResourceDoc) -> str | None:
    """The internet gateway a default route of ``table`` goes to, if any."""
    for route in table.data.get("Routes") or []:
        default = is_anywhere(route.get("DestinationCidrBlock")) or is_anywhere(route.get("DestinationIpv6CidrBlock"))
        gateway = str(route.get("GatewayId") or "")
        if default and gateway.startswith("igw-") and route.get("State", "active") == "active":
            return gateway
    return None


def nacl_of(inv: Inventory, subnet: ResourceDoc) -> ResourceDoc:
    subnet_id = subnet.need("SubnetId")
    default: ResourceDoc | None = None
    for acl in inv.of_type(NACL, subnet.account, subnet.region):
        if any(a.get("SubnetId") == subnet_id for a in acl.data.get("Associations") or []):
            return acl
        if acl.data.get("IsDefault") and acl.data.get("VpcId") == subnet.data.get("VpcId"):
            default = acl
    if default is None:
        raise NotAvailable(f"no network ACL of subnet {subnet_id} is in the snapshot")
    return default


def group_ports(inv: Inventory, group_ids: list[str], why: str) -> PortSet:
    opened = EMPTY
    for group_id in group_ids:
        opened = opened | sg_open_ports(inv.require_id(SG, "GroupId", group_id, why).data)
    return opened


def path_ports(inv: Inventory, subnet_id: str, group_ids: list[str], why: str) -> tuple[PortSet, str]:
    """Ports open from the internet through ``subnet_id`` and the groups, and a note on what closed it."""
    subnet = inv.require_id(SUBNET, "SubnetId", subnet_id, why)
    gateway = internet_gateway(route_table_of(inv, subnet))
    if gateway is None:
        return EMPTY, f"subnet {subnet_id} has no route to an internet gateway"
    by_groups = group_ports(inv, group_ids, why)
    if not by_groups:
        return EMPTY, "no security group rule is open to the internet"
    acl = nacl_of(inv, subnet)
    through = by_groups & nacl_open_ports(acl.data)
    if not through:
        return EMPTY, f"network ACL {acl.label} blocks the ports the security groups open"
    return through, f"via {gateway}, network ACL {acl.label}"


@control("CW.NET.1", title="EC2 instances should not be reachable from the internet", severity=Severity.HIGH,
         resource_type="AwsEc2Instance", service="ec2",
         rationale="Public address + internet route + open security group + permissive network ACL: an instance "
                   "anyone can connect to.",
         remediation="Remove the public address or close the security group rules; put the service behind a "
                     "load balancer.",
         cli="aws ec2 revoke-security-group-ingress --group-id <id> --ip-permissions file://rules.json")
def instance_reachable(doc: ResourceDoc, inv: Inventory) -> Verdict | None:
    if not live_instance(doc):
        return None
    ips = public_ips(doc)
    if not ips:
        return passed(f"instance {doc.label} has no public address")
    groups = sorted({str(g.get("GroupId")) for g in doc.data.get("SecurityGroups") or []}
                    | {str(g.get("GroupId")) for eni in doc.data.get("NetworkInterfaces") or []
                       for g in eni.get("Groups") or []})
    subnet_id = doc.data.get("SubnetId")
    if not subnet_id:
        raise NotAvailable(f"the subnet of instance {doc.label} is not in the snapshot")
    ports, note = path_ports(inv, str(subnet_id), groups, f"reachability of {doc.label}")
    if not ports:
        return passed(f"instance {doc.label} is not reachable from the internet: {note}")
    return failed(f"instance {doc.label} is reachable from the internet at {', '.join(ips)} on "
                  f"{ports.describe()} ({note})")


_DEFAULT_PORTS = {"mysql": 3306, "mariadb": 3306, "aurora": 3306, "aurora-mysql": 3306, "postgres": 5432,
                  "aurora-postgresql": 5432, "oracle": 1521, "sqlserver": 1433}


def db_port(doc: ResourceDoc) -> int:
    port = (doc.data.get("Endpoint") or {}).get("Port") or doc.data.get("DbInstancePort")
    if port:
        return int(port)
    engine = str(doc.data.get("Engine", ""))
    for prefix, value in _DEFAULT_PORTS.items():
        if engine.startswith(prefix):
            return value
    raise NotAvailable(f"the port of database {doc.label} is not in the snapshot")


@control("CW.NET.2", title="RDS DB instances should not be reachable from the internet", severity=Severity.CRITICAL,
         resource_type="AwsRdsDbInstance", service="rds",
         rationale="A database anyone can connect to is one weak password or CVE from a breach.",
         remediation="Turn off public accessibility and close the security group rule.",
         cli="aws rds modify-db-instance --db-instance-identifier <id> --no-publicly-accessible --apply-immediately")
def database_reachable(doc: ResourceDoc, inv: Inventory) -> Verdict:
    if not doc.need("PubliclyAccessible"):
        return passed(f"database {doc.label} is not publicly accessible")
    port = db_port(doc)
    groups = [str(g.get("VpcSecurityGroupId")) for g in doc.data.get("VpcSecurityGroups") or []
              if g.get("Status", "active") == "active"]
    subnets = [str(s.get("SubnetIdentifier")) for s in (doc.data.get("DBSubnetGroup") or {}).get("Subnets") or []]
    if not subnets:
        raise NotAvailable(f"the subnets of database {doc.label} are not in the snapshot")
    notes = []
    for subnet_id in subnets:
        ports, note = path_ports(inv, subnet_id, groups, f"reachability of {doc.label}")
        if ports.has("tcp", port):
            return failed(f"database {doc.label} is reachable from the internet on tcp/{port} ({note})")
        notes.append(note if ports else f"{subnet_id}: {note}")
    return passed(f"database {doc.label} is publicly accessible but not reachable on tcp/{port}: {notes[0]}")
