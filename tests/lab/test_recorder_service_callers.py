"""AWS services acting (the lab's default key from ``<name>.amazonaws.com``) and cross-account role
assumptions are recorded, and delivered, as CloudTrail records them."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from cloudwarden.lab.scenarios.base import ScenarioContext
from cloudwarden.lab.seed.result import SeedResult
from cloudwarden.lab.server import Lab
from tests.lab.conftest import bucket_files, disk_records, forwarded_for, make_trail, only

pytestmark = pytest.mark.lab

MANAGEMENT = "123456789012"
MEMBER = "222222222222"
EC2 = "ec2.amazonaws.com"
TRUST_ANYONE = json.dumps(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}]}
)


def _member_admin(lab: Lab) -> dict[str, str]:
    """A key of an IAM user in the member account (made as the seeder makes them)."""
    from moto.iam.models import iam_backends

    member = iam_backends[MEMBER]["aws"]
    member.create_user(region_name="us-east-1", user_name="admin")
    key = member.create_access_key("admin")
    return {"access_key_id": key.access_key_id, "secret_access_key": key.secret_access_key}


def _as_service(client: Any, *, address: str | None, agent: str | None) -> Any:
    def add_headers(request: Any, **_: Any) -> None:
        if address:
            request.headers["X-Forwarded-For"] = address
        if agent:
            request.headers["User-Agent"] = agent

    client.meta.events.register("before-send.*.*", add_headers)
    return client


def test_instance_profile_delivery_is_the_ec2_service_in_the_roles_account(lab: Lab) -> None:
    make_trail(lab, "management-trail", "management-logs")
    admin = _member_admin(lab)
    lab.aws_client("iam", **admin).create_role(RoleName="app-instance-role", AssumeRolePolicyDocument=TRUST_ANYONE)
    s3 = lab.aws_client("s3", **admin)
    s3.create_bucket(Bucket="member-trail-logs")
    member_trail = lab.aws_client("cloudtrail", **admin)
    member_trail.create_trail(Name="member-trail", S3BucketName="member-trail-logs")
    member_trail.start_logging(Name="member-trail")

    # What the ec2-compromise scenario does: EC2 hands the web instance its role's credentials.
    seed = SeedResult(
        accounts={"prod": MEMBER},
        organization_id="o-lab",
        credentials={},
        resources={},
        regions_used=["us-east-1"],
        seeded_at=datetime.now(UTC),
    )
    context = ScenarioContext(lab.endpoint_url, seed, lab.client)
    instance = context.instance_credentials("prod", "app-instance-role", "i-0web0000000000001")
    instance.client("sts").get_caller_identity()
    lab.client.flush()

    records = disk_records(lab.state_dir)
    assume = only(records, "AssumeRole")
    assert assume["userIdentity"] == {"type": "AWSService", "invokedBy": EC2}
    assert assume["sourceIPAddress"] == EC2 and assume["userAgent"] == EC2
    assert assume["recipientAccountId"] == MEMBER
    assert assume["readOnly"] is True
    assert assume["sharedEventID"] and assume["sharedEventID"] != assume["eventID"]
    assert assume["requestParameters"]["roleSessionName"] == "i-0web0000000000001"
    assert assume["resources"] == [
        {"accountId": MEMBER, "type": "AWS::IAM::Role", "ARN": f"arn:aws:iam::{MEMBER}:role/app-instance-role"}
    ]
    assert [r["userIdentity"]["type"] for r in records if r["sourceIPAddress"] == EC2] == ["AWSService", "AssumedRole"]
    # The session EC2 obtained acts as the role in the member account.
    session = only(records, "GetCallerIdentity")["userIdentity"]
    assert session["type"] == "AssumedRole"
    assert session["arn"] == f"arn:aws:sts::{MEMBER}:assumed-role/app-instance-role/i-0web0000000000001"

    # Delivered to the role's account's trail, not the management account's.
    member_files = bucket_files(s3, "member-trail-logs")
    assert any(r["eventName"] == "AssumeRole" for rs in member_files.values() for r in rs)
    assert all(k.startswith(f"AWSLogs/{MEMBER}/CloudTrail/") for k in member_files)
    management = bucket_files(lab.aws_client("s3"), "management-logs")
    assert not any(r["eventName"] == "AssumeRole" for rs in management.values() for r in rs)


@pytest.mark.parametrize(
    ("address", "agent"),
    [(None, "lambda.amazonaws.com"), ("lambda.amazonaws.com", None), ("lambda.amazonaws.com", "aws-internal/3")],
)
def test_either_the_address_or_the_agent_names_the_service(lab: Lab, address: str | None, agent: str | None) -> None:
    _as_service(lab.aws_client("sts"), address=address, agent=agent).assume_role(
        RoleArn=f"arn:aws:iam::{MANAGEMENT}:role/function-role", RoleSessionName="fn"
    )
    lab.client.flush()
    record = only(disk_records(lab.state_dir), "AssumeRole")
    assert record["userIdentity"] == {"type": "AWSService", "invokedBy": "lambda.amazonaws.com"}
    assert record["sourceIPAddress"] == record["userAgent"] == "lambda.amazonaws.com"
    assert record["recipientAccountId"] == MANAGEMENT


def test_service_names_only_count_for_the_default_key(lab: Lab) -> None:
    iam = lab.aws_client("iam")
    iam.create_user(UserName="builder")
    key = iam.create_access_key(UserName="builder")["AccessKey"]
    user_sts = lab.aws_client("sts", access_key_id=key["AccessKeyId"], secret_access_key=key["SecretAccessKey"])
    _as_service(user_sts, address=EC2, agent=EC2).get_caller_identity()
    # Neither an outside address nor a look-alike name makes the default key a service.
    forwarded_for(lab.aws_client("s3"), "198.51.100.7").list_buckets()
    _as_service(lab.aws_client("iam"), address="ec2.amazonaws.com.evil.example", agent=None).list_users()
    lab.client.flush()
    records = disk_records(lab.state_dir)
    assert only(records, "GetCallerIdentity")["userIdentity"]["type"] == "IAMUser"
    assert only(records, "GetCallerIdentity")["sourceIPAddress"] == EC2
    assert only(records, "ListBuckets")["userIdentity"]["type"] == "Root"
    assert only(records, "ListUsers")["userIdentity"]["type"] == "Root"


def test_cross_account_assume_role_is_logged_in_both_accounts(lab: Lab) -> None:
    make_trail(lab, "management-trail", "management-logs")
    admin = _member_admin(lab)
    role = lab.aws_client("iam", **admin).create_role(RoleName="auditor", AssumeRolePolicyDocument=TRUST_ANYONE)
    lab.aws_client("sts").assume_role(RoleArn=role["Role"]["Arn"], RoleSessionName="audit")
    lab.client.flush()
    records = [r for r in disk_records(lab.state_dir) if r["eventName"] == "AssumeRole"]
    assert sorted(r["recipientAccountId"] for r in records) == [MANAGEMENT, MEMBER]
    assert len({r["sharedEventID"] for r in records}) == 1
    assert len({r["eventID"] for r in records}) == 2
    assert {r["userIdentity"]["type"] for r in records} == {"Root"}
    assert (lab.state_dir / f"cloudtrail/AWSLogs/{MEMBER}/CloudTrail/us-east-1").is_dir()
