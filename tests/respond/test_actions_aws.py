"""KMS, security-group, S3 and EC2 actions on an empty lab: what the playbook tests do not reach
(explicit rules, refusals, exclusion tags on EC2 resources, KMS), plus the export of approval gates."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft7Validator

from cloudwarden.core.errors import BadInputError
from cloudwarden.lab.server import Lab
from cloudwarden.respond.actions import ACTIONS, EXCLUDE_TAG, ActionContext, Evidence, get_action
from cloudwarden.respond.actions.aws import CASE_TAG
from cloudwarden.respond.actions.s3 import is_public_statement
from cloudwarden.respond.asl import StatesError, TaskCall, validate
from cloudwarden.respond.export import export_definition
from cloudwarden.respond.journal import Journal
from cloudwarden.respond.playbooks import load_playbook
from cloudwarden.respond.records import Records
from cloudwarden.respond.steps import Mode, StepRunner
from cloudwarden.store import Store

pytestmark = pytest.mark.lab
SERVICES = {"iam", "cloudtrail", "s3", "ec2", "kms", "guardduty"}


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    with Lab(tmp_path_factory.mktemp("lab"), seed="empty", flush_interval=3600) as running:
        yield running


@pytest.fixture
def ctx(lab: Lab, tmp_path: Path) -> ActionContext:
    def client(service: str, region: str | None) -> Any:
        return lab.aws_client(service, region=region or "us-east-1")

    return ActionContext(client, lab.accounts["management"], "us-east-1", "run-test",
                         datetime.now(UTC).replace(microsecond=0), Evidence(tmp_path / "evidence"))


@pytest.fixture(scope="module")
def ec2(lab: Lab) -> Any:
    return lab.aws_client("ec2")


def test_every_action_declares_schema_and_permissions() -> None:
    for action in ACTIONS.values():
        Draft7Validator.check_schema(action.input_schema)
        assert action.permissions and {p.split(":")[0] for p in action.permissions} <= SERVICES, action.name
        assert not (action.read_only and action.disruptive), action.name


def test_public_statements_are_told_from_narrowed_ones() -> None:
    assert is_public_statement({"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject"})
    assert is_public_statement({"Effect": "Allow", "Principal": {"AWS": ["*"]}, "Action": "s3:*"})
    assert not is_public_statement({"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                                    "Condition": {"StringEquals": {"aws:PrincipalOrgID": "o-abc"}}})
    assert is_public_statement({"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                                "Condition": {"Bool": {"aws:SecureTransport": "true"}}})  # TLS narrows nobody
    assert not is_public_statement({"Effect": "Deny", "Principal": "*", "Action": "s3:*"})
    assert not is_public_statement({"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::1:root"}})


def _group(ec2: Any, name: str, tags: dict[str, str] | None = None) -> str:
    vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    spec = [{"ResourceType": "security-group", "Tags": [{"Key": k, "Value": v} for k, v in (tags or {}).items()]}]
    group: str = ec2.create_security_group(GroupName=name, Description=name, VpcId=vpc,
                                           **({"TagSpecifications": spec} if tags else {}))["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}],
         "Ipv6Ranges": [{"CidrIpv6": "::/0", "Description": "ssh v6"}]},
        {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]},
        {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "10.9.0.0/16"}]}])
    return group


def _rules(ec2: Any, group: str) -> list[tuple[Any, ...]]:
    found = ec2.describe_security_groups(GroupIds=[group])["SecurityGroups"][0]["IpPermissions"]
    return sorted((p["IpProtocol"], p["FromPort"], r.get("CidrIp") or r.get("CidrIpv6"), r.get("Description"))
                  for p in found for r in [*p.get("IpRanges", []), *p.get("Ipv6Ranges", [])])


def test_revoke_only_the_rules_named(ec2: Any, ctx: ActionContext) -> None:
    group = _group(ec2, "named")
    before = _rules(ec2, group)
    action = get_action("network.revoke-world-ingress")
    params = {"GroupId": group, "Rules": [{"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "Cidr": "::/0"}]}
    done = action.execute(ctx, params)
    assert _rules(ec2, group) == [r for r in before if r[2] != "::/0"]
    assert done.result["OtherWorldOpenRules"] == [
        {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "Cidr": "0.0.0.0/0"},
        {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "Cidr": "0.0.0.0/0"}]
    assert action.execute(ctx, params).changes == []
    assert done.undo is not None
    action.rollback(ctx, done.undo)
    assert _rules(ec2, group) == before  # the description came back too


def test_rules_that_are_not_world_open_are_refused(ctx: ActionContext, ec2: Any) -> None:
    group = _group(ec2, "refuse")
    with Store.open(":memory:") as store:
        steps = StepRunner(Mode.EXECUTE, ctx, Journal(store), Records(store), "run-r", auto_approve=True)
        with pytest.raises(StatesError) as caught:
            steps(TaskCall("cloudwarden:network.revoke-world-ingress", {"GroupId": group, "Rules": [
                {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "Cidr": "10.9.0.0/16"}]}, "S", "S", 0, {}))
        assert caught.value.error == "cloudwarden.InvalidParameters"
        with pytest.raises(StatesError):
            steps(TaskCall("cloudwarden:network.revoke-world-ingress", {"GroupId": group}, "S", "S", 0, {}))


def test_excluded_security_group_and_instance_are_never_touched(ec2: Any, ctx: ActionContext) -> None:
    group = _group(ec2, "protected", {EXCLUDE_TAG: "true"})
    before = _rules(ec2, group)
    done = get_action("network.revoke-world-ingress").execute(ctx, {"GroupId": group, "Rules": [
        {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "Cidr": "0.0.0.0/0"}]})
    assert done.result["Excluded"] == [f"ec2-security-group/{group}"] and done.changes == []
    assert _rules(ec2, group) == before
    image = ec2.register_image(Name="base-image", RootDeviceName="/dev/xvda",
                               BlockDeviceMappings=[{"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": 8}}])["ImageId"]
    instance = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1, TagSpecifications=[
        {"ResourceType": "instance", "Tags": [{"Key": EXCLUDE_TAG, "Value": "forensics done elsewhere"}]}])[
        "Instances"][0]["InstanceId"]
    for name in ("ec2.stop-instance", "ec2.snapshot-volumes", "ec2.isolate"):
        assert get_action(name).execute(ctx, {"InstanceId": instance}).result["Excluded"] == [
            f"ec2-instance/{instance}"], name
    state = ec2.describe_instances(InstanceIds=[instance])["Reservations"][0]["Instances"][0]["State"]["Name"]
    assert state == "running"
    assert ec2.describe_snapshots(OwnerIds=["self"], Filters=[{"Name": "tag-key", "Values": [CASE_TAG]}])[
        "Snapshots"] == []


def test_kms_rotation_and_cancelled_deletion_roll_back(lab: Lab, ctx: ActionContext) -> None:
    kms = lab.aws_client("kms")
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    rotation = get_action("kms.enable-key-rotation")
    done = rotation.execute(ctx, {"KeyId": key})
    assert kms.get_key_rotation_status(KeyId=key)["KeyRotationEnabled"] is True
    assert rotation.execute(ctx, {"KeyId": key}).changes == []
    assert done.undo is not None
    rotation.rollback(ctx, done.undo)
    assert kms.get_key_rotation_status(KeyId=key)["KeyRotationEnabled"] is False

    kms.schedule_key_deletion(KeyId=key, PendingWindowInDays=10)
    cancel = get_action("kms.cancel-key-deletion")
    assert cancel.plan(ctx, {"KeyId": key}).changes and kms.describe_key(KeyId=key)["KeyMetadata"][
        "KeyState"] == "PendingDeletion"
    saved = cancel.execute(ctx, {"KeyId": key, "Enable": True})
    assert kms.describe_key(KeyId=key)["KeyMetadata"]["KeyState"] == "Enabled"
    assert cancel.execute(ctx, {"KeyId": key}).changes == []
    assert saved.undo is not None and 7 <= saved.undo["PendingWindowInDays"] <= 10
    cancel.rollback(ctx, saved.undo)
    assert kms.describe_key(KeyId=key)["KeyMetadata"]["KeyState"] == "PendingDeletion"


def test_bad_resource_ids_are_bad_input(ctx: ActionContext) -> None:
    with pytest.raises(BadInputError):
        get_action("ec2.stop-instance").plan(ctx, {"InstanceId": "arn:aws:ec2:us-east-1:1:volume/i-0abc1234"})
    with pytest.raises(BadInputError):
        get_action("s3.block-public-access").plan(ctx, {"Bucket": "arn:aws:s3:::bucket/key"})


def test_export_turns_approval_gates_into_the_task_token_integration() -> None:
    prefix = "arn:aws-us-gov:lambda:us-gov-west-1:111122223333:function:cw-"
    exported = export_definition(load_playbook("compromised-iam-credentials").definition, prefix)
    recover = exported["States"]["Recover"]
    assert recover["Resource"] == "arn:aws-us-gov:states:::lambda:invoke.waitForTaskToken"
    assert recover["Parameters"] == {"FunctionName": f"{prefix}iam-remove-quarantine-policy",
                                     "Payload": {"Principal.$": "$.finding.principal", "TaskToken.$": "$$.Task.Token"}}
    assert validate(exported) == []
    assert json.dumps(load_playbook("compromised-iam-credentials").definition).count("cloudwarden:") > 5
    with pytest.raises(BadInputError, match="longer than"):
        export_definition(load_playbook("ec2-malware").definition, prefix + "x" * 50)
