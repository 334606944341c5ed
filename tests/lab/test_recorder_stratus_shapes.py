"""The lab records the calls Stratus Red Team detonated with the same shapes as the real CloudTrail.

Each test makes, against the lab, the call one Stratus detonation log holds (made the same way: same
parameters, same form), and compares the delivered record's ``requestParameters`` (and where moto
answers alike, ``responseElements``) key by key and type by type with the real record. One lab plays
every call (module fixture), so the whole file costs one lab start.
"""

from __future__ import annotations

import base64
import io
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cloudwarden.lab.server import Lab
from tests.conftest import shared_path
from tests.lab.conftest import NO_BACKGROUND_FLUSH, disk_records

pytestmark = pytest.mark.lab

SHARE_WITH = "098797384747"
OTHER_ACCOUNT = "846424999548"


def stratus(technique: str, event_name: str) -> dict[str, Any]:
    """The first record named ``event_name`` in the detonation log of ``technique``."""
    path = shared_path("data", "stratus-detonations", f"{technique}.json")
    records = json.loads(path.read_text())
    return next(r for r in records if r["eventName"] == event_name)


def structure(value: Any) -> Any:
    """The shape of a JSON value: keys kept, leaves replaced by their JSON type, list items merged."""
    if isinstance(value, dict):
        return {key: structure(item) for key, item in sorted(value.items())}
    if isinstance(value, list):
        merged: dict[str, Any] = {}
        kinds = set()
        for item in value:
            shape = structure(item)
            if isinstance(shape, dict):
                merged.update(shape)
            else:
                kinds.add(json.dumps(shape))
        return [merged] if merged else sorted(kinds)
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return "null" if value is None else "string"


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", "def handler(event, context):\n    return 1\n")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def played(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, list[dict[str, Any]]]]:
    """Every call, made once against one lab; the delivered records by event name."""
    state = Path(tmp_path_factory.mktemp("stratus")) / "lab-state"
    with Lab(state, seed="empty", flush_interval=NO_BACKGROUND_FLUSH) as lab:
        ec2 = lab.aws_client("ec2")
        vpc = ec2.describe_vpcs()["Vpcs"][0]["VpcId"]
        subnet = ec2.describe_subnets()["Subnets"][0]["SubnetId"]
        group = ec2.create_security_group(GroupName="ssh", Description="ssh", VpcId=vpc)["GroupId"]
        ec2.authorize_security_group_ingress(
            GroupId=group, IpProtocol="tcp", FromPort=22, ToPort=22, CidrIp="0.0.0.0/0"
        )
        instance = ec2.run_instances(
            ImageId="ami-12345678", InstanceType="p2.xlarge", MinCount=1, MaxCount=10, SubnetId=subnet
        )["Instances"][0]["InstanceId"]
        volume = ec2.create_volume(Size=1, AvailabilityZone="us-east-1a")["VolumeId"]
        snapshot = ec2.create_snapshot(VolumeId=volume)["SnapshotId"]
        ec2.modify_snapshot_attribute(SnapshotId=snapshot, CreateVolumePermission={"Add": [{"UserId": SHARE_WITH}]})
        image = ec2.create_image(InstanceId=instance, Name="golden")["ImageId"]
        ec2.modify_image_attribute(ImageId=image, LaunchPermission={"Add": [{"UserId": OTHER_ACCOUNT}]})
        ec2.describe_instance_attribute(InstanceId=instance, Attribute="userData")
        ec2.describe_instances(InstanceIds=[instance])
        ec2.stop_instances(InstanceIds=[instance], Force=True)
        ec2.modify_instance_attribute(InstanceId=instance, UserData={"Value": base64.b64encode(b"#!/bin/sh\nid")})
        ec2.start_instances(InstanceIds=[instance])
        lab.aws_client("s3").create_bucket(Bucket="flow-logs")
        flow_logs = ec2.create_flow_logs(
            ResourceIds=[vpc],
            ResourceType="VPC",
            TrafficType="ALL",
            LogDestinationType="s3",
            LogDestination="arn:aws:s3:::flow-logs",
        )["FlowLogIds"]
        ec2.delete_flow_logs(FlowLogIds=flow_logs)

        rds = lab.aws_client("rds")
        rds.create_db_instance(
            DBInstanceIdentifier="orders",
            DBInstanceClass="db.t3.micro",
            Engine="postgres",
            MasterUsername="admin",
            MasterUserPassword="not-in-any-record-1",
            AllocatedStorage=20,
        )
        rds.create_db_snapshot(DBSnapshotIdentifier="exfiltration", DBInstanceIdentifier="orders")
        rds.modify_db_snapshot_attribute(
            DBSnapshotIdentifier="exfiltration", AttributeName="restore", ValuesToAdd=["503161813013"]
        )

        iam = lab.aws_client("iam")
        trust = {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}],
        }
        role = iam.create_role(RoleName="runner", AssumeRolePolicyDocument=json.dumps(trust))["Role"]
        iam.create_user(UserName="login-user")
        iam.create_login_profile(UserName="login-user", Password="Not-In-Any-Record-2!", PasswordResetRequired=False)
        lab.aws_client("sts").assume_role(
            RoleArn=role["Arn"], RoleSessionName="aws-go-sdk-1722511821294449000", DurationSeconds=900
        )

        functions = lab.aws_client("lambda")
        functions.create_function(
            FunctionName="backdoor",
            Runtime="python3.12",
            Role=role["Arn"],
            Handler="app.handler",
            Code={"ZipFile": _zip()},
        )
        layer = functions.publish_layer_version(LayerName="extension", Content={"ZipFile": _zip()})
        functions.add_permission(
            FunctionName="backdoor", StatementId="backdoor", Action="lambda:InvokeFunction", Principal="*"
        )
        functions.update_function_configuration(FunctionName="backdoor", Layers=[layer["LayerVersionArn"]])
        lab.client.flush()
        by_name: dict[str, list[dict[str, Any]]] = {}
        for record in disk_records(lab.state_dir):
            by_name.setdefault(record["eventName"], []).append(record)
        yield by_name


def _one(played: dict[str, list[dict[str, Any]]], name: str) -> dict[str, Any]:
    records = played.get(name, [])
    assert len(records) == 1, f"{len(records)} {name} records"
    assert "errorCode" not in records[0], records[0].get("errorMessage")
    return records[0]


def test_authorize_security_group_ingress(played: dict[str, list[dict[str, Any]]]) -> None:
    real = stratus("aws.exfiltration.ec2-security-group-open-port-22-ingress", "AuthorizeSecurityGroupIngress")
    lab = _one(played, "AuthorizeSecurityGroupIngress")
    assert structure(lab["requestParameters"]) == structure(real["requestParameters"])
    assert lab["requestParameters"]["fromPort"] == 22 and lab["requestParameters"]["ipPermissions"] == {}
    # The response names rules as EC2 does; every field the real record has is there, but the
    # owner, which moto's answer does not carry.
    real_rule = real["responseElements"]["securityGroupRuleSet"]["items"][0]
    lab_rule = lab["responseElements"]["securityGroupRuleSet"]["items"][0]
    assert set(real_rule) - {"groupOwnerId"} <= set(lab_rule)
    assert lab["responseElements"]["_return"] is True
    assert lab_rule["isEgress"] is False and lab_rule["cidrIpv4"] == "0.0.0.0/0"


def test_run_instances(played: dict[str, list[dict[str, Any]]]) -> None:
    real = stratus("aws.execution.ec2-launch-unusual-instances", "RunInstances")
    lab = _one(played, "RunInstances")
    assert structure(lab["requestParameters"]) == structure(real["requestParameters"])
    assert lab["requestParameters"]["instancesSet"] == {
        "items": [{"imageId": "ami-12345678", "minCount": 1, "maxCount": 10}]
    }
    assert lab["requestParameters"]["instanceType"] == "p2.xlarge"


def test_modify_snapshot_attribute(played: dict[str, list[dict[str, Any]]]) -> None:
    real = stratus("aws.exfiltration.ec2-share-ebs-snapshot", "ModifySnapshotAttribute")
    lab = _one(played, "ModifySnapshotAttribute")
    assert structure(lab["requestParameters"]) == structure(real["requestParameters"])
    assert structure(lab["responseElements"]) == structure(real["responseElements"])
    assert lab["requestParameters"]["attributeType"] == "CREATE_VOLUME_PERMISSION"
    assert lab["requestParameters"]["createVolumePermission"] == {"add": {"items": [{"userId": SHARE_WITH}]}}
    assert lab["responseElements"]["requestId"] == lab["requestID"]


def test_modify_image_attribute(played: dict[str, list[dict[str, Any]]]) -> None:
    real = stratus("aws.exfiltration.ec2-share-ami", "ModifyImageAttribute")
    lab = _one(played, "ModifyImageAttribute")
    assert structure(lab["requestParameters"]) == structure(real["requestParameters"])
    assert structure(lab["responseElements"]) == structure(real["responseElements"])
    assert lab["requestParameters"]["launchPermission"] == {"add": {"items": [{"userId": OTHER_ACCOUNT}]}}


def test_modify_instance_attribute_user_data(played: dict[str, list[dict[str, Any]]]) -> None:
    real = stratus("aws.execution.ec2-user-data", "ModifyInstanceAttribute")
    lab = _one(played, "ModifyInstanceAttribute")
    assert structure(lab["requestParameters"]) == structure(real["requestParameters"])
    assert structure(lab["responseElements"]) == structure(real["responseElements"])
    assert lab["requestParameters"]["userData"] == "<sensitiveDataRemoved>"
    assert "IyEvYmluL3No" not in json.dumps(lab)  # the script, base64 encoded


@pytest.mark.parametrize("name", ["StopInstances", "StartInstances", "DescribeInstances"])
def test_instance_lifecycle_calls(played: dict[str, list[dict[str, Any]]], name: str) -> None:
    real = stratus("aws.execution.ec2-user-data", name)
    lab = _one(played, name)
    assert structure(lab["requestParameters"]) == structure(real["requestParameters"])
    assert structure(lab["responseElements"]) == structure(real["responseElements"])


def test_describe_instance_attribute(played: dict[str, list[dict[str, Any]]]) -> None:
    real = stratus("aws.discovery.ec2-download-user-data", "DescribeInstanceAttribute")
    lab = _one(played, "DescribeInstanceAttribute")
    assert structure(lab["requestParameters"]) == structure(real["requestParameters"])
    assert lab["requestParameters"]["attribute"] == "userData"
    assert lab["readOnly"] is True and lab["responseElements"] is None


def test_delete_flow_logs(played: dict[str, list[dict[str, Any]]]) -> None:
    real = stratus("aws.defense-evasion.vpc-remove-flow-logs", "DeleteFlowLogs")
    lab = _one(played, "DeleteFlowLogs")
    assert structure(lab["requestParameters"]) == structure(real["requestParameters"])
    flow_log = lab["requestParameters"]["DeleteFlowLogsRequest"]["FlowLogId"]
    assert flow_log["content"].startswith("fl-") and flow_log["tag"] == 1
    response = lab["responseElements"]["DeleteFlowLogsResponse"]
    assert response["xmlns"] == real["responseElements"]["DeleteFlowLogsResponse"]["xmlns"]
    assert response["requestId"] == lab["requestID"]


def test_modify_db_snapshot_attribute(played: dict[str, list[dict[str, Any]]]) -> None:
    real = stratus("aws.exfiltration.rds-share-snapshot", "ModifyDBSnapshotAttribute")
    lab = _one(played, "ModifyDBSnapshotAttribute")
    assert lab["requestParameters"] == real["requestParameters"]
    assert lab["responseElements"] == real["responseElements"]


def test_assume_role(played: dict[str, list[dict[str, Any]]]) -> None:
    real = stratus("aws.execution.ec2-launch-unusual-instances", "AssumeRole")
    lab = _one(played, "AssumeRole")
    assert structure(lab["requestParameters"]) == structure(real["requestParameters"])
    assert structure(lab["resources"]) == structure(real["resources"])
    assert lab["readOnly"] is real["readOnly"] is True
    assert set(real["responseElements"]) <= set(lab["responseElements"])  # moto adds packedPolicySize
    assert lab["resources"][0]["ARN"] == lab["requestParameters"]["roleArn"]


def test_create_login_profile(played: dict[str, list[dict[str, Any]]]) -> None:
    real = stratus("aws.persistence.iam-create-user-login-profile", "CreateLoginProfile")
    lab = _one(played, "CreateLoginProfile")
    assert structure(lab["requestParameters"]) == structure(real["requestParameters"])
    assert structure(lab["responseElements"]) == structure(real["responseElements"])


def test_lambda_add_permission(played: dict[str, list[dict[str, Any]]]) -> None:
    real = stratus("aws.persistence.lambda-backdoor-function", "AddPermission20150331v2")
    lab = _one(played, "AddPermission20150331v2")
    assert structure(lab["requestParameters"]) == structure(real["requestParameters"])
    assert structure(lab["responseElements"]) == structure(real["responseElements"])


def test_lambda_update_function_configuration(played: dict[str, list[dict[str, Any]]]) -> None:
    real = stratus("aws.persistence.lambda-layer-extension", "UpdateFunctionConfiguration20150331v2")
    lab = _one(played, "UpdateFunctionConfiguration20150331v2")
    assert structure(lab["requestParameters"]) == structure(real["requestParameters"])
    assert lab["requestParameters"]["layers"][0].endswith(":layer:extension:1")
