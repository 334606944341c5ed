"""Delivery to trails: logging status, deletion, regions, organisation trails and event selectors."""

from __future__ import annotations

import pytest

from cloudwarden.lab.server import Lab
from tests.lab.conftest import bucket_files, bucket_records, disk_records, make_trail, names

pytestmark = pytest.mark.lab


def test_stop_logging_stops_delivery_and_start_logging_resumes_it(lab: Lab) -> None:
    cloudtrail = make_trail(lab, "main", "main-logs")
    iam = lab.aws_client("iam")
    s3 = lab.aws_client("s3")
    iam.create_user(UserName="before-stop")
    cloudtrail.stop_logging(Name="main")
    assert cloudtrail.get_trail_status(Name="main")["IsLogging"] is False
    iam.create_user(UserName="while-stopped")
    cloudtrail.start_logging(Name="main")
    iam.create_user(UserName="after-restart")
    lab.client.flush()

    delivered = bucket_records(s3, "main-logs")
    users = [r["requestParameters"]["userName"] for r in delivered if r["eventName"] == "CreateUser"]
    assert users == ["before-stop", "after-restart"]
    # The attacker's StopLogging call itself is still delivered, and so is StartLogging.
    assert "StopLogging" in names(delivered)
    assert "GetTrailStatus" not in names(delivered)  # made while stopped
    assert "StartLogging" in names(delivered)
    # The disk copy is the ground truth: it has everything.
    on_disk = [
        r["requestParameters"]["userName"] for r in disk_records(lab.state_dir) if r["eventName"] == "CreateUser"
    ]
    assert on_disk == ["before-stop", "while-stopped", "after-restart"]


def test_delete_trail_stops_delivery(lab: Lab) -> None:
    cloudtrail = make_trail(lab, "doomed", "doomed-logs")
    lab.aws_client("iam").create_user(UserName="seen")
    lab.client.flush()
    cloudtrail.delete_trail(Name="doomed")
    lab.aws_client("iam").create_user(UserName="unseen")
    lab.client.flush()
    delivered = bucket_records(lab.aws_client("s3"), "doomed-logs")
    users = [r["requestParameters"]["userName"] for r in delivered if r["eventName"] == "CreateUser"]
    assert users == ["seen"]
    assert "DeleteTrail" in names(delivered)


def test_single_region_trail_gets_its_region_and_multi_region_trail_all(lab: Lab) -> None:
    make_trail(lab, "home-only", "home-only-logs")
    make_trail(lab, "everywhere", "everywhere-logs", IsMultiRegionTrail=True)
    lab.aws_client("ec2", region="eu-west-1").describe_vpcs()
    lab.aws_client("ec2", region="us-east-1").describe_vpcs()
    lab.client.flush()
    s3 = lab.aws_client("s3")
    home = [r["awsRegion"] for r in bucket_records(s3, "home-only-logs") if r["eventName"] == "DescribeVpcs"]
    everywhere = [r["awsRegion"] for r in bucket_records(s3, "everywhere-logs") if r["eventName"] == "DescribeVpcs"]
    assert home == ["us-east-1"]
    assert sorted(everywhere) == ["eu-west-1", "us-east-1"]
    regions = {key.split("/")[3] for key in bucket_files(s3, "everywhere-logs")}
    assert regions == {"us-east-1", "eu-west-1"}


def test_trail_receives_only_its_own_account(lab: Lab) -> None:
    from moto.iam.models import iam_backends

    make_trail(lab, "mgmt", "mgmt-logs")
    member = iam_backends["222222222222"]["aws"]
    member.create_user(region_name="us-east-1", user_name="dev")
    key = member.create_access_key("dev")
    lab.aws_client(
        "sts", access_key_id=key.access_key_id, secret_access_key=key.secret_access_key
    ).get_caller_identity()
    lab.client.flush()
    assert "GetCallerIdentity" not in names(bucket_records(lab.aws_client("s3"), "mgmt-logs"))


def test_organization_trail_receives_member_accounts_under_the_org_prefix(lab: Lab) -> None:
    from moto.iam.models import iam_backends

    organizations = lab.aws_client("organizations")
    org_id = organizations.create_organization(FeatureSet="ALL")["Organization"]["Id"]
    status = organizations.create_account(AccountName="prod", Email="prod@example.com")["CreateAccountStatus"]
    member_id = organizations.describe_create_account_status(CreateAccountRequestId=status["Id"])[
        "CreateAccountStatus"
    ]["AccountId"]
    make_trail(lab, "org", "org-logs", IsOrganizationTrail=True, IsMultiRegionTrail=True, S3KeyPrefix="org")
    member = iam_backends[member_id]["aws"]
    member.create_user(region_name="us-east-1", user_name="ops")
    key = member.create_access_key("ops")
    lab.aws_client("s3", access_key_id=key.access_key_id, secret_access_key=key.secret_access_key).list_buckets()
    lab.client.flush()
    files = bucket_files(lab.aws_client("s3"), "org-logs")
    member_keys = [k for k, records in files.items() if "ListBuckets" in names(records)]
    assert len(member_keys) == 1
    assert member_keys[0].startswith(f"org/AWSLogs/{org_id}/{member_id}/CloudTrail/us-east-1/")
    assert any(k.startswith(f"org/AWSLogs/{org_id}/123456789012/CloudTrail/") for k in files)


def test_default_trail_has_management_events_only_and_selectors_add_s3_data(lab: Lab) -> None:
    make_trail(lab, "mgmt-only", "mgmt-only-logs")
    cloudtrail = make_trail(lab, "with-data", "with-data-logs")
    s3 = lab.aws_client("s3")
    s3.create_bucket(Bucket="payroll")
    s3.create_bucket(Bucket="other")
    cloudtrail.put_event_selectors(
        TrailName="with-data",
        EventSelectors=[
            {
                "ReadWriteType": "All",
                "IncludeManagementEvents": True,
                "DataResources": [{"Type": "AWS::S3::Object", "Values": ["arn:aws:s3:::payroll/"]}],
            }
        ],
    )
    s3.put_object(Bucket="payroll", Key="2024.csv", Body=b"x")
    s3.put_object(Bucket="other", Key="a.txt", Body=b"x")
    s3.get_object(Bucket="payroll", Key="2024.csv")
    lab.client.flush()
    management_only = bucket_records(s3, "mgmt-only-logs")
    assert "PutObject" not in names(management_only)
    assert "CreateBucket" in names(management_only)
    with_data = bucket_records(s3, "with-data-logs")
    data = [(r["eventName"], r["requestParameters"]["bucketName"]) for r in with_data if r["eventCategory"] == "Data"]
    assert data == [("PutObject", "payroll"), ("GetObject", "payroll")]


def test_advanced_selectors_write_only_data(lab: Lab) -> None:
    cloudtrail = make_trail(lab, "advanced", "advanced-logs")
    cloudtrail.put_event_selectors(
        TrailName="advanced",
        AdvancedEventSelectors=[
            {
                "Name": "S3 writes",
                "FieldSelectors": [
                    {"Field": "eventCategory", "Equals": ["Data"]},
                    {"Field": "resources.type", "Equals": ["AWS::S3::Object"]},
                    {"Field": "readOnly", "Equals": ["false"]},
                ],
            }
        ],
    )
    s3 = lab.aws_client("s3")
    s3.create_bucket(Bucket="uploads")
    s3.put_object(Bucket="uploads", Key="f", Body=b"x")
    s3.get_object(Bucket="uploads", Key="f")
    lab.client.flush()
    # Calls before the selectors were set are management events the trail logged then; after: S3 writes only.
    assert names(bucket_records(s3, "advanced-logs")) == ["StartLogging", "PutEventSelectors", "PutObject"]


def test_deleted_trail_bucket_is_a_reported_delivery_error(lab: Lab) -> None:
    make_trail(lab, "orphan", "orphan-logs")
    s3 = lab.aws_client("s3")
    s3.delete_bucket(Bucket="orphan-logs")
    lab.aws_client("iam").create_user(UserName="x")
    result = lab.client.flush()
    assert result["errors"] and "orphan-logs does not exist" in result["errors"][0]
    assert "orphan-logs does not exist" in lab.client.status()["delivery_errors"][0]
    assert "CreateUser" in names(disk_records(lab.state_dir))
