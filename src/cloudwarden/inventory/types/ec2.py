"""EC2 and VPC resource types: instances (with user data, secrets masked), volumes, snapshots, images,
security groups, network ACLs, VPCs (with their flow logs), subnets, route tables, gateways, endpoints,
launch templates (with the latest version), network interfaces and Elastic IPs."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from typing import Any

from cloudwarden.inventory.descriptor import Descriptor, Detail, Item, field_of, tag_name_or
from cloudwarden.inventory.secrets_scan import check_text


def ec2_arn(kind: str, id_field: str, *, with_account: bool = True) -> Callable[[Item, str, str], str]:
    def build(item: Item, account: str, region: str) -> str:
        return f"arn:aws:ec2:{region}:{account if with_account else ''}:{kind}/{item.get(id_field, '')}"

    return build


def decode_user_data(answer: Item) -> Item:
    """``UserData.Value`` (base64) -> ``UserDataText`` with secrets masked, plus the verdict; the raw
    base64 value is dropped, since it would carry the secrets the masking removed."""
    encoded = (answer.get("UserData") or {}).get("Value")
    result: dict[str, Any] = {k: v for k, v in answer.items() if k != "UserData"}
    if not encoded:
        result["UserDataText"] = None
        result["plaintext_check"] = {"looks_secret": False, "reasons": []}
        return result
    try:
        text = base64.b64decode(encoded).decode("utf-8", errors="replace")
    except (binascii.Error, ValueError):
        result["UserDataText"] = None
        result["plaintext_check"] = {"looks_secret": False, "reasons": ["user data is not base64"]}
        return result
    verdict = check_text(text)
    result["UserDataText"] = verdict.masked
    result["plaintext_check"] = verdict.as_dict()
    return result


def mask_template_user_data(answer: Item) -> Item:
    """Launch template versions carry user data (base64) too: decoded, masked and judged the same way."""
    for version in answer.get("LaunchTemplateVersions") or []:
        data = version.get("LaunchTemplateData")
        if isinstance(data, dict) and "UserData" in data:
            decoded = decode_user_data({"UserData": {"Value": data.pop("UserData")}})
            data["UserDataText"] = decoded["UserDataText"]
            data["plaintext_check"] = decoded["plaintext_check"]
    return answer


INSTANCE = Descriptor(
    type="AwsEc2Instance", service="ec2", list_operation="DescribeInstances", items="Reservations[].Instances[]",
    arn=ec2_arn("instance", "InstanceId"), name=tag_name_or("InstanceId"),
    details=(
        Detail("DescribeInstanceAttribute", lambda i: {"InstanceId": i["InstanceId"], "Attribute": "userData"},
               key="DescribeInstanceAttribute_userData", transform=decode_user_data),
    ),
)
VOLUME = Descriptor(
    type="AwsEc2Volume", service="ec2", list_operation="DescribeVolumes", items="Volumes[]",
    arn=ec2_arn("volume", "VolumeId"), name=tag_name_or("VolumeId"),
)
SNAPSHOT = Descriptor(
    type="AwsEc2Snapshot", service="ec2", list_operation="DescribeSnapshots", items="Snapshots[]",
    list_params={"OwnerIds": ["self"]}, arn=ec2_arn("snapshot", "SnapshotId"), name=tag_name_or("SnapshotId"),
    details=(
        Detail("DescribeSnapshotAttribute",
               lambda i: {"SnapshotId": i["SnapshotId"], "Attribute": "createVolumePermission"},
               key="DescribeSnapshotAttribute_createVolumePermission"),
    ),
)
IMAGE = Descriptor(
    type="AwsEc2Image", service="ec2", list_operation="DescribeImages", items="Images[]",
    list_params={"Owners": ["self"]}, arn=ec2_arn("image", "ImageId", with_account=False), name=field_of("Name"),
    details=(
        Detail("DescribeImageAttribute", lambda i: {"ImageId": i["ImageId"], "Attribute": "launchPermission"},
               key="DescribeImageAttribute_launchPermission"),
    ),
)
SECURITY_GROUP = Descriptor(
    type="AwsEc2SecurityGroup", service="ec2", list_operation="DescribeSecurityGroups", items="SecurityGroups[]",
    arn=ec2_arn("security-group", "GroupId"), name=field_of("GroupName"),
)
NETWORK_ACL = Descriptor(
    type="AwsEc2NetworkAcl", service="ec2", list_operation="DescribeNetworkAcls", items="NetworkAcls[]",
    arn=ec2_arn("network-acl", "NetworkAclId"), name=tag_name_or("NetworkAclId"),
)
VPC = Descriptor(
    type="AwsEc2Vpc", service="ec2", list_operation="DescribeVpcs", items="Vpcs[]",
    arn=ec2_arn("vpc", "VpcId"), name=tag_name_or("VpcId"),
    details=(
        Detail("DescribeFlowLogs", lambda i: {"Filters": [{"Name": "resource-id", "Values": [i["VpcId"]]}]}),
    ),
)
SUBNET = Descriptor(
    type="AwsEc2Subnet", service="ec2", list_operation="DescribeSubnets", items="Subnets[]",
    arn=ec2_arn("subnet", "SubnetId"), name=tag_name_or("SubnetId"),
)
ROUTE_TABLE = Descriptor(
    type="AwsEc2RouteTable", service="ec2", list_operation="DescribeRouteTables", items="RouteTables[]",
    arn=ec2_arn("route-table", "RouteTableId"), name=tag_name_or("RouteTableId"),
)
INTERNET_GATEWAY = Descriptor(
    type="AwsEc2InternetGateway", service="ec2", list_operation="DescribeInternetGateways",
    items="InternetGateways[]", arn=ec2_arn("internet-gateway", "InternetGatewayId"),
    name=tag_name_or("InternetGatewayId"),
)
NAT_GATEWAY = Descriptor(
    type="AwsEc2NatGateway", service="ec2", list_operation="DescribeNatGateways", items="NatGateways[]",
    arn=ec2_arn("natgateway", "NatGatewayId"), name=tag_name_or("NatGatewayId"),
)
VPC_ENDPOINT = Descriptor(
    type="AwsEc2VpcEndpoint", service="ec2", list_operation="DescribeVpcEndpoints", items="VpcEndpoints[]",
    arn=ec2_arn("vpc-endpoint", "VpcEndpointId"), name=tag_name_or("VpcEndpointId"),
)
LAUNCH_TEMPLATE = Descriptor(
    type="AwsEc2LaunchTemplate", service="ec2", list_operation="DescribeLaunchTemplates",
    items="LaunchTemplates[]", arn=ec2_arn("launch-template", "LaunchTemplateId"),
    name=field_of("LaunchTemplateName"),
    details=(
        Detail("DescribeLaunchTemplateVersions",
               lambda i: {"LaunchTemplateId": i["LaunchTemplateId"], "Versions": ["$Latest"]},
               transform=mask_template_user_data),
    ),
)
NETWORK_INTERFACE = Descriptor(
    type="AwsEc2NetworkInterface", service="ec2", list_operation="DescribeNetworkInterfaces",
    items="NetworkInterfaces[]", arn=ec2_arn("network-interface", "NetworkInterfaceId"),
    name=field_of("NetworkInterfaceId"),
    tags=lambda data, _calls: {str(t["Key"]): str(t.get("Value", "")) for t in data.get("TagSet") or []},
)
EIP = Descriptor(
    type="AwsEc2Eip", service="ec2", list_operation="DescribeAddresses", items="Addresses[]",
    arn=ec2_arn("elastic-ip", "AllocationId"), name=field_of("PublicIp"),
)

DESCRIPTORS: tuple[Descriptor, ...] = (
    INSTANCE, VOLUME, SNAPSHOT, IMAGE, SECURITY_GROUP, NETWORK_ACL, VPC, SUBNET, ROUTE_TABLE, INTERNET_GATEWAY,
    NAT_GATEWAY, VPC_ENDPOINT, LAUNCH_TEMPLATE, NETWORK_INTERFACE, EIP,
)
