"""Networks and compute: VPCs, subnets, security groups, NACLs, flow logs, instances, volumes, images.

Deliberately weak (``docs/demo-org.md``): ``web-open-admin`` opens 22 and 3389 to the world (22 to
``::/0`` too); the legacy VPC has no flow logs, an allow-all NACL and a default security group with
an extra rule; dev's VPC has no flow logs and keeps its default group's rules; web-1 allows IMDSv1,
has unencrypted volumes and a plaintext password in its user data; the snapshot of its data volume
and the AMI made from it are public; prod has EBS encryption by default off. The main VPC (flow
logs to ``BUCKET_FLOW_LOGS``, restricted NACL, emptied default group) and worker-1 (IMDSv2,
encrypted) are the well-configured counterparts.
"""

from __future__ import annotations

from typing import Any

from cloudwarden.core.errors import RuntimeFailure
from cloudwarden.lab import demo_org as org
from cloudwarden.lab.seed.context import SeedAccount, SeedContext, fake_secret, tags

WORLD = "0.0.0.0/0"
WORLD_V6 = "::/0"


def web_user_data() -> str:
    """web-1's boot script; it carries the reporting database's password in clear (a weakness)."""
    password = fake_secret("prod/rds/reporting-master", 20)
    return f"""#!/bin/bash
set -euo pipefail
dnf install -y nginx postgresql15 amazon-cloudwatch-agent
mkdir -p /etc/shop
cat > /etc/shop/app.env <<'ENV'
APP_ENV=production
DB_HOST={org.RDS_PUBLIC}.cluster.internal
DB_USER=reporting_admin
DB_PASSWORD={password}
ENV
chmod 0640 /etc/shop/app.env
aws s3 cp s3://{org.BUCKET_PUBLIC_ACL}/index.html /usr/share/nginx/html/index.html
systemctl enable --now nginx
"""


def worker_user_data() -> str:
    return f"""#!/bin/bash
set -euo pipefail
dnf install -y python3.11 amazon-cloudwatch-agent
DB_SECRET_ARN=$(aws secretsmanager describe-secret --secret-id {org.SECRET_DB} --query ARN --output text)
echo "DB_SECRET_ARN=$DB_SECRET_ARN" > /etc/worker.env
systemctl enable --now worker
"""


def _tag_spec(resource_type: str, env: str, owner: str, name: str, **extra: str) -> list[dict[str, Any]]:
    return [{"ResourceType": resource_type, "Tags": tags(env, owner, "CC-2100", Name=name, **extra)}]


def seed_network(ctx: SeedContext) -> None:
    """Networks and compute for prod and dev; EBS encryption by default in management."""
    ctx.account("management").client("ec2").enable_ebs_encryption_by_default()
    _seed_prod(ctx, ctx.account("prod"))
    _seed_dev(ctx, ctx.account("dev"))


def _vpc(ctx: SeedContext, acct: SeedAccount, key: str, cidr: str, name: str, env: str) -> str:
    ec2 = acct.client("ec2")
    vpc_id: str = ec2.create_vpc(CidrBlock=cidr, TagSpecifications=_tag_spec("vpc", env, "platform-team", name))["Vpc"][
        "VpcId"
    ]
    ctx.record(acct.alias, "vpc", key, vpc_id)
    default_sg = ec2.describe_security_groups(
        Filters=[{"Name": "vpc-id", "Values": [vpc_id]}, {"Name": "group-name", "Values": ["default"]}]
    )["SecurityGroups"][0]
    ctx.record(acct.alias, "sg", f"default-{key}", default_sg["GroupId"])
    return vpc_id


def _subnet(ctx: SeedContext, acct: SeedAccount, vpc_id: str, key: str, cidr: str, zone: str, env: str) -> str:
    subnet_id: str = acct.client("ec2").create_subnet(
        VpcId=vpc_id,
        CidrBlock=cidr,
        AvailabilityZone=zone,
        TagSpecifications=_tag_spec("subnet", env, "platform-team", key),
    )["Subnet"]["SubnetId"]
    ctx.record(acct.alias, "subnet", key, subnet_id)
    return subnet_id


def _security_group(
    ctx: SeedContext,
    acct: SeedAccount,
    vpc_id: str,
    name: str,
    description: str,
    owner: str,
    permissions: list[dict[str, Any]],
) -> str:
    ec2 = acct.client("ec2")
    group_id: str = ec2.create_security_group(
        GroupName=name,
        Description=description,
        VpcId=vpc_id,
        TagSpecifications=_tag_spec("security-group", acct.alias, owner, name),
    )["GroupId"]
    if permissions:
        ec2.authorize_security_group_ingress(GroupId=group_id, IpPermissions=permissions)
    ctx.record(acct.alias, "sg", name, group_id)
    return group_id


def _tcp(
    port: int, cidr: str | None = None, cidr_v6: str | None = None, group: str | None = None, description: str = ""
) -> dict[str, Any]:
    permission: dict[str, Any] = {"IpProtocol": "tcp", "FromPort": port, "ToPort": port}
    if cidr:
        permission["IpRanges"] = [{"CidrIp": cidr, "Description": description}]
    if cidr_v6:
        permission["Ipv6Ranges"] = [{"CidrIpv6": cidr_v6, "Description": description}]
    if group:
        permission["UserIdGroupPairs"] = [{"GroupId": group, "Description": description}]
    return permission


def _network_acl(
    ctx: SeedContext,
    acct: SeedAccount,
    vpc_id: str,
    name: str,
    subnet_ids: list[str],
    entries: list[dict[str, Any]],
) -> str:
    ec2 = acct.client("ec2")
    acl_id: str = ec2.create_network_acl(
        VpcId=vpc_id, TagSpecifications=_tag_spec("network-acl", acct.alias, "platform-team", name)
    )["NetworkAcl"]["NetworkAclId"]
    for entry in entries:
        ec2.create_network_acl_entry(NetworkAclId=acl_id, **entry)
    associations = ec2.describe_network_acls(Filters=[{"Name": "association.subnet-id", "Values": subnet_ids}])[
        "NetworkAcls"
    ]
    for acl in associations:
        for association in acl["Associations"]:
            if association["SubnetId"] in subnet_ids:
                ec2.replace_network_acl_association(
                    AssociationId=association["NetworkAclAssociationId"], NetworkAclId=acl_id
                )
    ctx.record(acct.alias, "nacl", name, acl_id)
    return acl_id


def _acl_entry(
    number: int,
    action: str,
    cidr: str,
    *,
    egress: bool = False,
    protocol: str = "-1",
    ports: tuple[int, int] | None = None,
) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "RuleNumber": number,
        "RuleAction": action,
        "CidrBlock": cidr,
        "Egress": egress,
        "Protocol": protocol,
    }
    if ports:
        entry["PortRange"] = {"From": ports[0], "To": ports[1]}
    return entry


def _seed_prod(ctx: SeedContext, acct: SeedAccount) -> None:
    ec2 = acct.client("ec2")
    env = "prod"
    main = _vpc(ctx, acct, "main", org.VPC_PROD_CIDR, org.VPC_PROD_TAG, env)
    public_a = _subnet(ctx, acct, main, "public-a", "10.10.1.0/24", "us-east-1a", env)
    private_a = _subnet(ctx, acct, main, "private-a", "10.10.11.0/24", "us-east-1a", env)
    private_b = _subnet(ctx, acct, main, "private-b", "10.10.12.0/24", "us-east-1b", env)
    igw = ec2.create_internet_gateway(
        TagSpecifications=_tag_spec("internet-gateway", env, "platform-team", "prod-main-igw")
    )["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=main)
    ctx.record("prod", "igw", "main", igw)
    route_table = ec2.create_route_table(
        VpcId=main, TagSpecifications=_tag_spec("route-table", env, "platform-team", "prod-main-public")
    )["RouteTable"]["RouteTableId"]
    ec2.create_route(RouteTableId=route_table, DestinationCidrBlock=WORLD, GatewayId=igw)
    ec2.associate_route_table(RouteTableId=route_table, SubnetId=public_a)

    # The main VPC's default group gets emptied, as CIS 5.4 asks.
    default_main = ctx.resources["prod/sg/default-main"]
    group = ec2.describe_security_groups(GroupIds=[default_main])["SecurityGroups"][0]
    if group["IpPermissions"]:
        ec2.revoke_security_group_ingress(GroupId=default_main, IpPermissions=group["IpPermissions"])
    if group["IpPermissionsEgress"]:
        ec2.revoke_security_group_egress(GroupId=default_main, IpPermissions=group["IpPermissionsEgress"])

    _network_acl(
        ctx,
        acct,
        main,
        org.NACL_RESTRICTED,
        [public_a, private_a, private_b],
        [
            _acl_entry(100, "deny", WORLD, protocol="6", ports=(22, 22)),
            _acl_entry(110, "deny", WORLD, protocol="6", ports=(3389, 3389)),
            _acl_entry(200, "allow", WORLD, protocol="6", ports=(443, 443)),
            _acl_entry(210, "allow", WORLD, protocol="6", ports=(80, 80)),
            _acl_entry(300, "allow", WORLD, protocol="6", ports=(1024, 65535)),
            _acl_entry(400, "allow", org.VPC_PROD_CIDR),
            _acl_entry(100, "allow", WORLD, egress=True),
        ],
    )
    flow_log = ec2.create_flow_logs(
        ResourceIds=[main],
        ResourceType="VPC",
        TrafficType="ALL",
        LogDestinationType="s3",
        LogDestination=f"arn:aws:s3:::{org.BUCKET_FLOW_LOGS}",
        MaxAggregationInterval=60,
        TagSpecifications=_tag_spec("vpc-flow-log", env, "platform-team", "prod-main-flow-logs"),
    )
    if flow_log.get("Unsuccessful"):
        raise RuntimeFailure(f"flow logs for {main} were refused: {flow_log['Unsuccessful']}")
    ctx.record("prod", "flow-log", "main", flow_log["FlowLogIds"][0])

    legacy = _vpc(ctx, acct, "legacy", org.VPC_PROD_NO_FLOW_CIDR, org.VPC_PROD_NO_FLOW_TAG, env)
    legacy_a = _subnet(ctx, acct, legacy, "legacy-a", "10.20.1.0/24", "us-east-1a", env)
    ec2.authorize_security_group_ingress(
        GroupId=ctx.resources["prod/sg/default-legacy"],
        IpPermissions=[_tcp(80, cidr=WORLD, description="legacy load balancer health checks")],
    )
    _network_acl(
        ctx,
        acct,
        legacy,
        org.NACL_ALLOW_ALL,
        [legacy_a],
        [
            _acl_entry(100, "allow", WORLD),
            _acl_entry(100, "allow", WORLD, egress=True),
        ],
    )

    open_admin = _security_group(
        ctx,
        acct,
        main,
        org.SG_WEB_OPEN,
        "Web admin access (temporary)",
        "web-team",
        [
            _tcp(22, cidr=WORLD, cidr_v6=WORLD_V6, description="ssh from anywhere"),
            _tcp(3389, cidr=WORLD, description="rdp from anywhere"),
        ],
    )
    web_public = _security_group(
        ctx,
        acct,
        main,
        org.SG_WEB_PUBLIC,
        "Public web traffic",
        "web-team",
        [
            _tcp(80, cidr=WORLD, description="http"),
            _tcp(443, cidr=WORLD, description="https"),
        ],
    )
    worker_sg = _security_group(
        ctx,
        acct,
        main,
        org.SG_WORKER,
        "Worker tier, internal only",
        "platform-team",
        [
            _tcp(8080, group=web_public, description="from the web tier"),
            _tcp(22, cidr=org.VPC_PROD_CIDR, description="ssh from inside the VPC"),
        ],
    )

    base_ami = ec2.register_image(
        Name=org.AMI_BASE,
        Description="Amazon Linux 2023 base with the company agent",
        Architecture="x86_64",
        RootDeviceName="/dev/xvda",
        VirtualizationType="hvm",
        BlockDeviceMappings=[{"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": 8, "VolumeType": "gp3"}}],
        TagSpecifications=_tag_spec("image", env, "platform-team", org.AMI_BASE),
    )["ImageId"]
    ctx.record("prod", "ami", org.AMI_BASE, base_ami)
    data_key = ctx.resources[f"prod/kms-arn/{org.KMS_ALIAS_ROTATED}"]

    web = ec2.run_instances(
        ImageId=base_ami,
        InstanceType="t3.small",
        MinCount=1,
        MaxCount=1,
        SubnetId=public_a,
        SecurityGroupIds=[open_admin, web_public],
        IamInstanceProfile={"Name": org.ROLE_APP_INSTANCE},
        MetadataOptions={"HttpTokens": "optional", "HttpEndpoint": "enabled", "HttpPutResponseHopLimit": 2},
        BlockDeviceMappings=[
            {"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": 8, "VolumeType": "gp3", "Encrypted": False}},
            {
                "DeviceName": "/dev/sdf",
                "Ebs": {"VolumeSize": 50, "VolumeType": "gp3", "Encrypted": False, "DeleteOnTermination": False},
            },
        ],
        UserData=web_user_data(),
        TagSpecifications=[
            *_tag_spec("instance", env, "web-team", org.INSTANCE_WEB_TAG, Role="web"),
            *_tag_spec("volume", env, "web-team", org.INSTANCE_WEB_TAG),
        ],
    )["Instances"][0]
    ctx.record("prod", "instance", org.INSTANCE_WEB_TAG, web["InstanceId"])
    # The web server faces the internet through an Elastic IP: with web-open-admin, 22/3389 are reachable.
    eip = ec2.allocate_address(Domain="vpc", TagSpecifications=_tag_spec("elastic-ip", env, "web-team", "web-1-eip"))
    ec2.associate_address(InstanceId=web["InstanceId"], AllocationId=eip["AllocationId"])
    ctx.record("prod", "eip", "web-1", eip["PublicIp"])
    worker = ec2.run_instances(
        ImageId=base_ami,
        InstanceType="t3.medium",
        MinCount=1,
        MaxCount=1,
        SubnetId=private_a,
        SecurityGroupIds=[worker_sg],
        IamInstanceProfile={"Name": org.ROLE_APP_INSTANCE},
        MetadataOptions={"HttpTokens": "required", "HttpEndpoint": "enabled", "HttpPutResponseHopLimit": 1},
        BlockDeviceMappings=[
            {
                "DeviceName": "/dev/xvda",
                "Ebs": {"VolumeSize": 20, "VolumeType": "gp3", "Encrypted": True, "KmsKeyId": data_key},
            }
        ],
        UserData=worker_user_data(),
        TagSpecifications=[
            *_tag_spec("instance", env, "platform-team", org.INSTANCE_WORKER_TAG, Role="worker"),
            *_tag_spec("volume", env, "platform-team", org.INSTANCE_WORKER_TAG),
        ],
    )["Instances"][0]
    ctx.record("prod", "instance", org.INSTANCE_WORKER_TAG, worker["InstanceId"])

    volumes = _volumes_by_device(ec2, web["InstanceId"])
    ctx.record("prod", "volume", "web-1-root", volumes["/dev/xvda"])
    ctx.record("prod", "volume", "web-1-data", volumes["/dev/sdf"])
    worker_root = _volumes_by_device(ec2, worker["InstanceId"])["/dev/xvda"]
    ctx.record("prod", "volume", "worker-1-root", worker_root)

    public_snapshot = ec2.create_snapshot(
        VolumeId=volumes["/dev/sdf"],
        Description="web-1 data volume before the 2024.06 migration",
        TagSpecifications=_tag_spec("snapshot", env, "web-team", org.SNAPSHOT_PUBLIC_TAG),
    )["SnapshotId"]
    ec2.modify_snapshot_attribute(
        SnapshotId=public_snapshot, Attribute="createVolumePermission", OperationType="add", GroupNames=["all"]
    )
    ctx.record("prod", "snapshot", org.SNAPSHOT_PUBLIC_TAG, public_snapshot)
    private_snapshot = ec2.create_snapshot(
        VolumeId=worker_root,
        Description="worker-1 nightly backup",
        TagSpecifications=_tag_spec("snapshot", env, "platform-team", org.SNAPSHOT_PRIVATE_TAG),
    )["SnapshotId"]
    ctx.record("prod", "snapshot", org.SNAPSHOT_PRIVATE_TAG, private_snapshot)

    public_ami = ec2.create_image(
        InstanceId=web["InstanceId"],
        Name=org.AMI_PUBLIC,
        Description="web tier golden image",
        TagSpecifications=_tag_spec("image", env, "web-team", org.AMI_PUBLIC),
    )["ImageId"]
    ec2.modify_image_attribute(ImageId=public_ami, LaunchPermission={"Add": [{"Group": "all"}]})
    ctx.record("prod", "ami", org.AMI_PUBLIC, public_ami)


def _volumes_by_device(ec2: Any, instance_id: str) -> dict[str, str]:
    reservation = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]
    mappings = reservation["Instances"][0]["BlockDeviceMappings"]
    return {mapping["DeviceName"]: mapping["Ebs"]["VolumeId"] for mapping in mappings}


def _seed_dev(ctx: SeedContext, acct: SeedAccount) -> None:
    vpc = _vpc(ctx, acct, "main", org.VPC_DEV_CIDR, org.VPC_DEV_TAG, "dev")
    _subnet(ctx, acct, vpc, "private-a", "10.30.1.0/24", "us-east-1a", "dev")
    # dev's default group keeps AWS's default rules. AWS creates it with "all inbound from members of
    # this group" and "all outbound"; moto creates only the outbound rule, so the inbound one is added.
    default_sg = ctx.resources["dev/sg/default-main"]
    ec2 = acct.client("ec2")
    if not ec2.describe_security_groups(GroupIds=[default_sg])["SecurityGroups"][0]["IpPermissions"]:
        ec2.authorize_security_group_ingress(
            GroupId=default_sg, IpPermissions=[{"IpProtocol": "-1", "UserIdGroupPairs": [{"GroupId": default_sg}]}]
        )
