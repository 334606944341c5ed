"""``userIdentity``, ``sourceIPAddress`` and delivery of what an IAM user, a role session and root do."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from botocore import UNSIGNED
from botocore.config import Config

from cloudwarden.lab.server import Lab
from tests.lab.conftest import bucket_files, disk_records, forwarded_for, make_trail, only

pytestmark = pytest.mark.lab

ATTACKER_IP = "198.51.100.23"


def _user_with_key(lab: Lab, name: str) -> dict[str, Any]:
    iam = lab.aws_client("iam")
    iam.create_user(UserName=name)
    return dict(iam.create_access_key(UserName=name)["AccessKey"])


def test_user_call_with_forwarded_for_reaches_trail_bucket_and_disk(lab: Lab) -> None:
    make_trail(lab, "main-trail", "main-trail-logs")
    key = _user_with_key(lab, "ci-deployer")
    user = lab.aws_client("iam").get_user(UserName="ci-deployer")["User"]
    iam_as_user = forwarded_for(
        lab.aws_client("iam", access_key_id=key["AccessKeyId"], secret_access_key=key["SecretAccessKey"]),
        ATTACKER_IP,
    )
    iam_as_user.list_users()
    assert lab.client.flush()["trail_files"] == 1

    files = bucket_files(lab.aws_client("s3"), "main-trail-logs")
    ((key_name, records),) = files.items()
    assert key_name.startswith("AWSLogs/123456789012/CloudTrail/us-east-1/")
    assert key_name.rsplit("/", 1)[1].startswith("123456789012_CloudTrail_us-east-1_")
    for delivered in (only(records, "ListUsers"), only(disk_records(lab.state_dir), "ListUsers")):
        identity = delivered["userIdentity"]
        assert identity == {
            "type": "IAMUser",
            "principalId": user["UserId"],
            "arn": "arn:aws:iam::123456789012:user/ci-deployer",
            "accountId": "123456789012",
            "accessKeyId": key["AccessKeyId"],
            "userName": "ci-deployer",
        }
        assert delivered["sourceIPAddress"] == ATTACKER_IP
        assert delivered["eventSource"] == "iam.amazonaws.com"
        assert delivered["awsRegion"] == "us-east-1"
        assert delivered["recipientAccountId"] == "123456789012"
        assert delivered["userAgent"].startswith("Boto3/")
        assert delivered["readOnly"] is True
        assert delivered["eventType"] == "AwsApiCall"
        assert delivered["managementEvent"] is True
        assert delivered["eventCategory"] == "Management"
        assert delivered["eventVersion"] == "1.09"


def test_without_forwarded_for_the_peer_address_is_the_source(lab: Lab) -> None:
    lab.aws_client("sts").get_caller_identity()
    lab.client.flush()
    assert only(disk_records(lab.state_dir), "GetCallerIdentity")["sourceIPAddress"] == "127.0.0.1"


def test_default_credentials_are_the_management_root(lab: Lab) -> None:
    lab.aws_client("s3").list_buckets()
    lab.client.flush()
    assert only(disk_records(lab.state_dir), "ListBuckets")["userIdentity"] == {
        "type": "Root",
        "principalId": "123456789012",
        "arn": "arn:aws:iam::123456789012:root",
        "accountId": "123456789012",
        "accessKeyId": "testing",
    }


def test_assumed_role_session_has_its_issuer(lab: Lab) -> None:
    iam = lab.aws_client("iam")
    trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}],
    }
    role = iam.create_role(RoleName="deployer", Path="/ci/", AssumeRolePolicyDocument=json.dumps(trust))["Role"]
    key = _user_with_key(lab, "builder")
    sts = lab.aws_client("sts", access_key_id=key["AccessKeyId"], secret_access_key=key["SecretAccessKey"])
    credentials = sts.assume_role(RoleArn=role["Arn"], RoleSessionName="build-42")["Credentials"]
    session_s3 = lab.aws_client(
        "s3",
        access_key_id=credentials["AccessKeyId"],
        secret_access_key=credentials["SecretAccessKey"],
        session_token=credentials["SessionToken"],
    )
    session_s3.list_buckets()
    lab.client.flush()
    records = disk_records(lab.state_dir)
    identity = only(records, "ListBuckets")["userIdentity"]
    assert identity["type"] == "AssumedRole"
    assert identity["arn"] == "arn:aws:sts::123456789012:assumed-role/deployer/build-42"
    assert identity["principalId"] == f"{role['RoleId']}:build-42"
    assert identity["accessKeyId"] == credentials["AccessKeyId"]
    assert identity["sessionContext"]["sessionIssuer"] == {
        "type": "Role",
        "principalId": role["RoleId"],
        "arn": "arn:aws:iam::123456789012:role/ci/deployer",
        "accountId": "123456789012",
        "userName": "deployer",
    }
    attributes = identity["sessionContext"]["attributes"]
    assert attributes["mfaAuthenticated"] == "false"
    assert attributes["creationDate"].endswith("Z")
    # The AssumeRole call itself is the user's, and its response hides the secret key.
    assume = only(records, "AssumeRole")
    assert assume["userIdentity"]["userName"] == "builder"
    assert assume["requestParameters"] == {"roleArn": role["Arn"], "roleSessionName": "build-42"}
    assert assume["responseElements"]["credentials"]["accessKeyId"] == credentials["AccessKeyId"]
    assert assume["responseElements"]["credentials"]["secretAccessKey"] == "HIDDEN_DUE_TO_SECURITY_REASONS"


def test_session_from_mfa_assume_role_is_mfa_authenticated(lab: Lab) -> None:
    iam = lab.aws_client("iam")
    trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}],
    }
    role = iam.create_role(RoleName="admin", AssumeRolePolicyDocument=json.dumps(trust))["Role"]
    credentials = lab.aws_client("sts").assume_role(
        RoleArn=role["Arn"], RoleSessionName="ops", SerialNumber="arn:aws:iam::123456789012:mfa/ops", TokenCode="123456"
    )["Credentials"]
    lab.aws_client(
        "sts",
        access_key_id=credentials["AccessKeyId"],
        secret_access_key=credentials["SecretAccessKey"],
        session_token=credentials["SessionToken"],
    ).get_caller_identity()
    lab.client.flush()
    identity = only(disk_records(lab.state_dir), "GetCallerIdentity")["userIdentity"]
    assert identity["sessionContext"]["attributes"]["mfaAuthenticated"] == "true"


def test_member_account_user_is_recorded_in_its_account(lab: Lab) -> None:
    # A key created in another account (as the seeder does through OrganizationAccountAccessRole).
    from moto.iam.models import iam_backends

    member = iam_backends["222222222222"]["aws"]
    member.create_user(region_name="us-east-1", user_name="alice")
    key = member.create_access_key("alice")
    s3 = lab.aws_client("s3", access_key_id=key.access_key_id, secret_access_key=key.secret_access_key)
    s3.list_buckets()
    lab.client.flush()
    record = only(disk_records(lab.state_dir), "ListBuckets")
    assert record["userIdentity"]["arn"] == "arn:aws:iam::222222222222:user/alice"
    assert record["recipientAccountId"] == "222222222222"
    assert (lab.state_dir / "cloudtrail/AWSLogs/222222222222/CloudTrail/us-east-1").is_dir()


def test_anonymous_read_of_a_public_object_is_logged_for_the_bucket_owner(lab: Lab) -> None:
    s3 = lab.aws_client("s3")
    s3.create_bucket(Bucket="public-assets")
    s3.put_object(Bucket="public-assets", Key="logo.png", Body=b"png", ACL="public-read")
    anonymous = boto3.client(
        "s3", endpoint_url=lab.endpoint_url, region_name="us-east-1", config=Config(signature_version=UNSIGNED)
    )
    assert anonymous.get_object(Bucket="public-assets", Key="logo.png")["Body"].read() == b"png"
    lab.client.flush()
    reads = [r for r in disk_records(lab.state_dir) if r["eventName"] == "GetObject"]
    assert len(reads) == 1
    assert reads[0]["userIdentity"] == {"type": "AWSAccount", "principalId": "", "accountId": "ANONYMOUS_PRINCIPAL"}
    assert reads[0]["recipientAccountId"] == "123456789012"


def test_session_token_credentials_act_as_their_user(lab: Lab) -> None:
    key = _user_with_key(lab, "traveller")
    sts = lab.aws_client("sts", access_key_id=key["AccessKeyId"], secret_access_key=key["SecretAccessKey"])
    token = sts.get_session_token(SerialNumber="arn:aws:iam::123456789012:mfa/traveller", TokenCode="123456")
    credentials = token["Credentials"]
    lab.aws_client(
        "iam",
        access_key_id=credentials["AccessKeyId"],
        secret_access_key=credentials["SecretAccessKey"],
        session_token=credentials["SessionToken"],
    ).list_roles()
    lab.client.flush()
    identity = only(disk_records(lab.state_dir), "ListRoles")["userIdentity"]
    assert identity["type"] == "IAMUser"
    assert identity["userName"] == "traveller"
    assert identity["accessKeyId"] == credentials["AccessKeyId"]
    assert identity["sessionContext"]["attributes"]["mfaAuthenticated"] == "true"
