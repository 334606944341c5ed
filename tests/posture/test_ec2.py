"""EC2 and network controls (ec2.py, network.py), including reachability from the internet."""

from __future__ import annotations

from typing import Any

import pytest

from cloudwarden.posture.registry import controls
from tests.posture import docs as d
from tests.posture.cases import Case, check, covered

OPEN_ADMIN = [d.rule("tcp", 22, cidr="0.0.0.0/0"), d.rule("tcp", 3389, cidr="0.0.0.0/0"),
              d.rule("tcp", 22, cidr6="::/0")]
WEB = [d.rule("tcp", 80, cidr="0.0.0.0/0"), d.rule("tcp", 443, cidr="0.0.0.0/0")]
ALL_OPEN = [d.rule("-1", None, cidr="0.0.0.0/0")]
ALLOW_ALL_NACL = [d.nacl_entry(100, "allow"), d.nacl_entry(32767, "deny")]
PUBLIC_NET = {"PublicIpAddress": "198.51.100.10", "SubnetId": "subnet-public",
              "SecurityGroups": [{"GroupId": "sg-web", "GroupName": "web"}], "NetworkInterfaces": [
                  {"NetworkInterfaceId": "eni-1", "Association": {"PublicIp": "198.51.100.10"},
                   "Groups": [{"GroupId": "sg-web", "GroupName": "web"}]}]}


def public_path(ingress: list[dict[str, Any]], *, acl: list[dict[str, Any]] | None = None,
                igw: bool = True) -> list[dict[str, Any]]:
    return [d.subnet("subnet-public"), d.route_table(igw=igw), d.security_group("sg-web", "web", ingress=ingress),
            d.nacl(entries=acl if acl is not None else ALLOW_ALL_NACL)]


def template(**data: Any) -> dict[str, Any]:
    base = {"LaunchTemplateData": {"MetadataOptions": {"HttpTokens": "required"}, "NetworkInterfaces": [
        {"DeviceIndex": 0, "AssociatePublicIpAddress": False}], "BlockDeviceMappings": [
        {"DeviceName": "/dev/xvda", "Ebs": {"Encrypted": True, "VolumeSize": 8}}]}}
    base["LaunchTemplateData"].update(data)
    return d.doc("AwsEc2LaunchTemplate", f"arn:aws:ec2:{d.REGION}:{d.ACCT}:launch-template/lt-1", "web",
                 {"LaunchTemplateId": "lt-1", "LaunchTemplateName": "web", "LatestVersionNumber": 3},
                 {"DescribeLaunchTemplateVersions": {"LaunchTemplateVersions": [{"VersionNumber": 3, **base}]}})


def volume(encrypted: bool | None = True, attached: bool = True) -> dict[str, Any]:
    data: dict[str, Any] = {"VolumeId": "vol-1", "Size": 8, "State": "in-use" if attached else "available",
                            "Attachments": [{"InstanceId": "i-1", "State": "attached", "Device": "/dev/xvda"}]
                            if attached else []}
    if encrypted is not None:
        data["Encrypted"] = encrypted
    return d.doc("AwsEc2Volume", f"arn:aws:ec2:{d.REGION}:{d.ACCT}:volume/vol-1", "web-1", data)


def snapshot(*, public: bool = False, encrypted: bool = True) -> dict[str, Any]:
    return d.doc("AwsEc2Snapshot", f"arn:aws:ec2:{d.REGION}:{d.ACCT}:snapshot/snap-1", "web-1-data-backup",
                 {"SnapshotId": "snap-1", "Encrypted": encrypted, "OwnerId": d.ACCT, "State": "completed"},
                 {"DescribeSnapshotAttribute_createVolumePermission": {
                     "SnapshotId": "snap-1", "CreateVolumePermissions": [{"Group": "all"}] if public else []}})


def image(*, public: bool = False) -> dict[str, Any]:
    return d.doc("AwsEc2Image", f"arn:aws:ec2:{d.REGION}:{d.ACCT}:image/ami-1", "web-golden",
                 {"ImageId": "ami-1", "Public": public, "OwnerId": d.ACCT},
                 {"DescribeImageAttribute_launchPermission": {"ImageId": "ami-1", "LaunchPermissions":
                                                              [{"Group": "all"}] if public else []}})


def eni(check: bool | None = True, kind: str = "interface") -> dict[str, Any]:
    data: dict[str, Any] = {"NetworkInterfaceId": "eni-1", "InterfaceType": kind}
    if check is not None:
        data["SourceDestCheck"] = check
    return d.doc("AwsEc2NetworkInterface", f"arn:aws:ec2:{d.REGION}:{d.ACCT}:network-interface/eni-1", "eni-1", data)


STOPPED = {"State": {"Name": "stopped", "Code": 80}}

CASES = [
    Case("EC2.1", lambda: snapshot(), "PASSED"),
    Case("EC2.1", lambda: snapshot(public=True), "FAILED", "createVolumePermission: all"),
    Case("EC2.1", lambda: d.with_(snapshot(), calls={"DescribeSnapshotAttribute_createVolumePermission": d.error()}),
         "NOT_AVAILABLE", "AccessDenied on ec2:DescribeSnapshotAttribute"),
    Case("CW.EC2.4", lambda: snapshot(), "PASSED"),
    Case("CW.EC2.4", lambda: snapshot(encrypted=False), "FAILED"),
    Case("CW.EC2.4", lambda: d.with_(snapshot(), drop_data=("Encrypted",)), "NOT_AVAILABLE"),
    Case("EC2.3", lambda: volume(), "PASSED"),
    Case("EC2.3", lambda: volume(False), "FAILED", "i-1"),
    Case("EC2.3", lambda: volume(False, attached=False), None),
    Case("EC2.3", lambda: volume(None), "NOT_AVAILABLE"),
    Case("EC2.4", lambda: d.instance(), "PASSED", "running"),
    Case("EC2.4", lambda: d.instance(**STOPPED, StateTransitionReason="User initiated (2026-01-02 03:04:05 GMT)"),
         "FAILED", "stopped for 150 days"),
    Case("EC2.4", lambda: d.instance(**STOPPED, StateTransitionReason="User initiated (2026-05-30 03:04:05 GMT)"),
         "PASSED"),
    Case("EC2.4", lambda: d.instance(**STOPPED), "NOT_AVAILABLE"),
    Case("EC2.7", lambda: d.account_region(), "PASSED"),
    Case("EC2.7", lambda: d.account_region(GetEbsEncryptionByDefault={"EbsEncryptionByDefault": False}), "FAILED"),
    Case("EC2.7", lambda: d.account_region(GetEbsEncryptionByDefault=d.error()), "NOT_AVAILABLE",
         "AccessDenied on ec2:GetEbsEncryptionByDefault"),
    Case("EC2.8", lambda: d.instance(), "PASSED"),
    Case("EC2.8", lambda: d.instance("web-1", MetadataOptions={"HttpTokens": "optional", "HttpEndpoint": "enabled"}),
         "FAILED", "IMDSv1"),
    Case("EC2.8", lambda: d.instance(State={"Name": "terminated"}), None),
    Case("EC2.8", lambda: d.with_(d.instance(), drop_data=("MetadataOptions",)), "NOT_AVAILABLE"),
    Case("EC2.9", lambda: d.instance(), "PASSED"),
    Case("EC2.9", lambda: d.instance(**PUBLIC_NET), "FAILED", "198.51.100.10"),
    Case("EC2.15", lambda: d.subnet(), "PASSED"),
    Case("EC2.15", lambda: d.subnet(public_ip=True), "FAILED"),
    Case("EC2.15", lambda: d.with_(d.subnet(), drop_data=("MapPublicIpOnLaunch",)), "NOT_AVAILABLE"),
    Case("EC2.17", lambda: d.instance(), "PASSED"),
    Case("EC2.17", lambda: d.instance(NetworkInterfaces=[{"NetworkInterfaceId": "a"}, {"NetworkInterfaceId": "b"}]),
         "FAILED", "2 network interfaces"),
    Case("EC2.24", lambda: d.instance(), "PASSED"),
    Case("EC2.24", lambda: d.instance(VirtualizationType="paravirtual"), "FAILED"),
    Case("CW.EC2.1", lambda: d.instance(), "PASSED"),
    Case("CW.EC2.1", lambda: d.with_(d.instance(), drop_data=("IamInstanceProfile",)), "FAILED"),
    Case("CW.EC2.3", lambda: image(), "PASSED"),
    Case("CW.EC2.3", lambda: image(public=True), "FAILED"),
    Case("CW.EC2.3", lambda: d.with_(image(), calls={"DescribeImageAttribute_launchPermission": d.error()}),
         "NOT_AVAILABLE"),
    Case("CW.EC2.5", lambda: d.instance(), "PASSED"),
    Case("CW.EC2.5", lambda: d.with_(d.instance("web-1"), calls={"DescribeInstanceAttribute_userData": {
        "UserDataText": "DB_PASSWORD=****", "plaintext_check": {
            "looks_secret": True, "reasons": ["DB_PASSWORD is assigned a literal value"]}}}), "FAILED", "DB_PASSWORD"),
    Case("CW.EC2.5", lambda: d.with_(d.instance(), calls={"DescribeInstanceAttribute_userData": {"UserDataText": "x"}}),
         "NOT_AVAILABLE", "verdict"),
    Case("CW.EC2.5", lambda: d.with_(d.instance(), calls={"DescribeInstanceAttribute_userData": d.error()}),
         "NOT_AVAILABLE", "AccessDenied on ec2:DescribeInstanceAttribute"),
    Case("EC2.180", lambda: eni(), "PASSED"),
    Case("EC2.180", lambda: eni(False), "FAILED"),
    Case("EC2.180", lambda: eni(False, kind="nat_gateway"), None),
    Case("EC2.180", lambda: eni(None), "NOT_AVAILABLE"),
    Case("EC2.25", lambda: template(), "PASSED"),
    Case("EC2.25", lambda: template(NetworkInterfaces=[{"AssociatePublicIpAddress": True}]), "FAILED"),
    Case("EC2.25", lambda: d.with_(template(), calls={"DescribeLaunchTemplateVersions": d.error()}), "NOT_AVAILABLE"),
    Case("EC2.170", lambda: template(), "PASSED"),
    Case("EC2.170", lambda: template(MetadataOptions={"HttpTokens": "optional"}), "FAILED"),
    Case("EC2.170", lambda: d.with_(template(), calls={"DescribeLaunchTemplateVersions": {
        "LaunchTemplateVersions": []}}), "NOT_AVAILABLE"),
    Case("EC2.181", lambda: template(), "PASSED"),
    Case("EC2.181", lambda: template(BlockDeviceMappings=[{"DeviceName": "/dev/sdb", "Ebs": {"VolumeSize": 8}}]),
         "FAILED", "/dev/sdb"),
    Case("EC2.181", lambda: d.with_(template(), calls={"DescribeLaunchTemplateVersions": d.error()}), "NOT_AVAILABLE"),
    # security groups
    Case("EC2.2", lambda: d.security_group("sg-d", "default"), "PASSED"),
    Case("EC2.2", lambda: d.security_group("sg-d", "default", egress=[d.rule("-1", None, cidr="0.0.0.0/0")]),
         "FAILED", "1 outbound"),
    Case("EC2.2", lambda: d.security_group(), None),
    Case("EC2.18", lambda: d.security_group("sg-web", "web-public", ingress=WEB), "PASSED"),
    Case("EC2.18", lambda: d.security_group("sg-o", "web-open-admin", ingress=OPEN_ADMIN + WEB), "FAILED",
         "tcp/22, tcp/3389"),
    Case("EC2.19", lambda: d.security_group("sg-web", ingress=WEB), "PASSED"),
    Case("EC2.19", lambda: d.security_group("sg-all", ingress=ALL_OPEN), "FAILED"),
    Case("EC2.53", lambda: d.security_group(ingress=[d.rule("tcp", 22, cidr="10.0.0.0/8")]), "PASSED"),
    Case("EC2.53", lambda: d.security_group(ingress=[d.rule("tcp", 0, 65535, cidr="0.0.0.0/0")]), "FAILED",
         "tcp/22, tcp/3389 to 0.0.0.0/0"),
    Case("EC2.54", lambda: d.security_group(ingress=[d.rule("tcp", 22, cidr="0.0.0.0/0")]), "PASSED"),
    Case("EC2.54", lambda: d.security_group(ingress=OPEN_ADMIN), "FAILED", "tcp/22 to ::/0"),
    Case("CW.EC2.2", lambda: d.security_group(ingress=WEB), "PASSED"),
    Case("CW.EC2.2", lambda: d.security_group(ingress=[d.rule("tcp", 445, cidr="0.0.0.0/0")]), "FAILED"),
    # network ACLs: first matching rule wins
    Case("EC2.21", lambda: d.nacl(), "PASSED"),
    Case("EC2.21", lambda: d.nacl("acl-legacy", "prod-legacy-allow-all", entries=ALLOW_ALL_NACL), "FAILED",
         "tcp/22, tcp/3389"),
    Case("EC2.21", lambda: d.nacl(entries=[d.nacl_entry(100, "allow"), d.nacl_entry(200, "deny", protocol="6",
                                                                                     ports=(22, 22))]),
         "FAILED", "tcp/22"),
    Case("EC2.16", lambda: d.nacl(), "PASSED"),
    Case("EC2.16", lambda: d.nacl(subnets=()), "FAILED"),
    Case("EC2.16", lambda: d.nacl(subnets=(), default=True), None),
    Case("EC2.6", lambda: d.vpc(), "PASSED"),
    Case("EC2.6", lambda: d.vpc("vpc-legacy", "prod-legacy", flow_logs=False), "FAILED", "prod-legacy"),
    Case("EC2.6", lambda: d.with_(d.vpc(), calls={"DescribeFlowLogs": d.error()}), "NOT_AVAILABLE"),
    Case("EC2.10", lambda: d.vpc(), "PASSED", "", lambda: [d.endpoint("ec2")]),
    Case("EC2.10", lambda: d.vpc(), "FAILED", "com.amazonaws.us-east-1.ec2", lambda: [d.endpoint("ssm")]),
    Case("EC2.10", lambda: d.with_(d.vpc(), drop_data=("VpcId",)), "NOT_AVAILABLE"),
    Case("EC2.57", lambda: d.vpc(), "PASSED", "", lambda: [d.endpoint("ssm")]),
    Case("EC2.57", lambda: d.vpc(), "FAILED"),
    # reachability: the whole path
    Case("CW.NET.1", lambda: d.instance(), "PASSED", "no public address"),
    Case("CW.NET.1", lambda: d.instance("web-1", **PUBLIC_NET), "FAILED", "tcp/22, tcp/3389",
         lambda: public_path(OPEN_ADMIN)),
    Case("CW.NET.1", lambda: d.instance("web-1", **PUBLIC_NET), "PASSED", "blocks",
         lambda: public_path(OPEN_ADMIN, acl=d.nacl()["data"]["Entries"])),
    Case("CW.NET.1", lambda: d.instance("web-1", **PUBLIC_NET), "FAILED", "tcp/80",
         lambda: public_path(WEB + OPEN_ADMIN, acl=d.nacl()["data"]["Entries"])),
    Case("CW.NET.1", lambda: d.instance("web-1", **PUBLIC_NET), "PASSED", "no route to an internet gateway",
         lambda: public_path(OPEN_ADMIN, igw=False)),
    Case("CW.NET.1", lambda: d.instance("web-1", **PUBLIC_NET), "PASSED", "no security group rule",
         lambda: public_path([d.rule("tcp", 22, cidr="10.0.0.0/8")])),
    Case("CW.NET.1", lambda: d.instance("web-1", **PUBLIC_NET), "NOT_AVAILABLE", "sg-web",
         lambda: [d.subnet("subnet-public"), d.route_table(), d.nacl()]),
    # the subnet has no association of its own: the VPC's main route table decides
    Case("CW.NET.1", lambda: d.instance("web-1", **PUBLIC_NET), "FAILED", "igw-1",
         lambda: [d.subnet("subnet-public"), d.route_table("rtb-main", subnets=(), main=True),
                  d.security_group("sg-web", ingress=OPEN_ADMIN), d.nacl(entries=ALLOW_ALL_NACL)]),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_control(case: Case) -> None:
    check(case)


UNCOLLECTED = {"EC2.20", "EC2.23", "EC2.51", "EC2.171", "EC2.172", "EC2.173"}


@pytest.mark.parametrize("control_id", sorted(UNCOLLECTED))
def test_types_outside_the_contract_are_not_available(control_id: str) -> None:
    found = d.verdict_of(control_id, d.account_region())
    assert found is not None and found.status.value == "NOT_AVAILABLE" and "not collected" in found.reason


def test_every_ec2_control_has_pass_and_fail_cases() -> None:
    seen = covered(CASES, ("EC2.", "CW.EC2.", "CW.NET.1"))
    endpoints = {"EC2.55", "EC2.56", "EC2.58", "EC2.60"}  # same check as EC2.10 / EC2.57, other service names
    for item in controls(services=["ec2"]):
        if item.id in UNCOLLECTED | endpoints:
            continue
        assert {"PASSED", "FAILED"} <= seen.get(item.id, set()), item.id
