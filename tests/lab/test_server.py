"""The lab server: it listens, records, applies moto's settings, and cleans up after itself."""

from __future__ import annotations

import io
import json
import socket
import time
import urllib.request
import zipfile
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from cloudwarden.core.errors import RuntimeFailure
from cloudwarden.lab.recorder.identity import default_account_id
from cloudwarden.lab.server import Lab, LabPortInUse
from cloudwarden.lab.state import read_state
from tests.lab.conftest import disk_records, names, only

pytestmark = pytest.mark.lab
DEFAULT_ACCOUNT = default_account_id()


def test_lab_writes_state_and_removes_it_on_stop(tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    lab = Lab(state_dir).start()
    try:
        state = read_state(state_dir)
        assert state is not None
        assert state.endpoint == lab.endpoint_url == f"http://127.0.0.1:{state.port}"
        assert state.port > 0
        assert state.accounts == {"management": "123456789012"}
        sts = lab.aws_client("sts")
        assert sts.get_caller_identity()["Account"] == "123456789012"
    finally:
        lab.stop()
    assert read_state(state_dir) is None
    # Stopping delivered the pending record although no flush was asked for.
    assert names(disk_records(state_dir)) == ["GetCallerIdentity"]
    lab.stop()  # a second stop is harmless


def test_listens_on_loopback_only(lab: Lab) -> None:
    assert lab.server.host == "127.0.0.1"
    with socket.create_connection(("127.0.0.1", lab.port), timeout=2):
        pass


def test_one_lab_per_process(lab: Lab, tmp_path: Path) -> None:
    with pytest.raises(RuntimeFailure, match="already runs in this process"):
        Lab(tmp_path / "other").start()
    # the refused lab did not disturb the running one
    assert lab.aws_client("sts").get_caller_identity()["Account"] == "123456789012"


def test_port_in_use_is_a_runtime_failure(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(LabPortInUse, match=f"port {port} .* already in use") as caught:
            Lab(tmp_path / "state", port=port).start()
    assert caught.value.exit_code == 3
    # the failed start released the process's lab slot
    with Lab(tmp_path / "state2") as lab:
        assert lab.port != port


def test_moto_settings_make_an_account_look_real(lab: Lab) -> None:
    iam = lab.aws_client("iam")
    policy = iam.get_policy(PolicyArn="arn:aws:iam::aws:policy/AdministratorAccess")["Policy"]
    assert policy["PolicyName"] == "AdministratorAccess"
    ec2 = lab.aws_client("ec2")
    assert ec2.describe_images(Owners=["self"])["Images"] == []
    assert ec2.describe_snapshots(OwnerIds=["self"])["Snapshots"] == []
    assert ec2.describe_images()["Images"] == []


def test_aws_managed_policies_are_built_in_the_aws_partition_only(lab: Lab) -> None:
    """Every account of the ``aws`` partition has AWS's managed policies; moto's other partitions get none."""
    from moto.iam.models import iam_backends

    lab.aws_client("iam").list_users()  # looks the caller's key up in every partition's backend
    admin = "arn:aws:iam::aws:policy/AdministratorAccess"
    mine, other = iam_backends[DEFAULT_ACCOUNT]["aws"], iam_backends["210987654321"]["aws"]
    assert admin in mine.managed_policies and admin in other.managed_policies
    assert len(other.aws_managed_policies) == len(mine.aws_managed_policies) > 1000
    assert iam_backends[DEFAULT_ACCOUNT]["aws-cn"].aws_managed_policies == []


def test_lambda_runs_without_docker(lab: Lab) -> None:
    iam = lab.aws_client("iam")
    role = iam.create_role(
        RoleName="fn-role",
        AssumeRolePolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
                ],
            }
        ),
    )["Role"]
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("app.py", "def handler(event, context):\n    return {'ok': True}\n")
    functions = lab.aws_client("lambda")
    functions.create_function(
        FunctionName="hello",
        Runtime="python3.12",
        Role=role["Arn"],
        Handler="app.handler",
        Code={"ZipFile": code.getvalue()},
    )
    answer = functions.invoke(FunctionName="hello", Payload=b"{}")
    assert answer["StatusCode"] == 200
    assert "FunctionError" not in answer


def test_moto_api_and_helpers_are_not_recorded(lab: Lab) -> None:
    urllib.request.urlopen(urllib.request.Request(f"{lab.endpoint_url}/moto-api/data.json"), timeout=5).read()
    lab.client.status()
    lab.aws_client("s3").list_buckets()
    lab.client.flush()
    assert names(disk_records(lab.state_dir)) == ["ListBuckets"]
    status = lab.client.status()
    assert status["requests_total"] == 1
    assert status["records_total"] == 1


def test_background_flush_delivers_within_the_interval(tmp_path: Path) -> None:
    with Lab(tmp_path / "state", flush_interval=0.2) as lab:
        lab.aws_client("sts").get_caller_identity()
        deadline = time.monotonic() + 5
        while not disk_records(lab.state_dir) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert names(disk_records(lab.state_dir)) == ["GetCallerIdentity"]


def test_paused_recorder_records_nothing(lab: Lab) -> None:
    s3 = lab.aws_client("s3")
    with lab.recorder.paused():
        s3.create_bucket(Bucket="made-while-seeding")
    s3.list_buckets()
    lab.client.flush()
    assert names(disk_records(lab.state_dir)) == ["ListBuckets"]


def test_status_counts_calls_per_second(lab: Lab) -> None:
    sts = lab.aws_client("sts")
    for _ in range(20):
        sts.get_caller_identity()
    time.sleep(1.05)  # the rate counts whole seconds that have ended
    status = lab.client.status()
    assert status["requests_total"] == 20
    assert status["calls_per_second"] == pytest.approx(2.0)


def test_failed_calls_still_answer_the_client(lab: Lab) -> None:
    with pytest.raises(ClientError) as caught:
        lab.aws_client("iam").get_user(UserName="nobody")
    assert caught.value.response["Error"]["Code"] == "NoSuchEntity"
    assert lab.client.status()["recording_errors"] == 0


@pytest.mark.parametrize(
    ("service", "operation", "params", "event_name"),
    [
        # Operations moto lacks, one per protocol: EC2, query, JSON, REST-XML (no route in moto).
        ("ec2", "get_snapshot_block_public_access_state", {}, "GetSnapshotBlockPublicAccessState"),
        ("iam", "list_policies_granting_service_access",
         {"Arn": "arn:aws:iam::123456789012:user/x", "ServiceNamespaces": ["s3"]}, "ListPoliciesGrantingServiceAccess"),
        ("ssm", "get_service_setting", {"SettingId": "/ssm/documents/console/public-sharing-permission"},
         "GetServiceSetting"),
        ("route53", "list_cidr_collections", {}, "ListCidrCollections"),
        # Services moto does not emulate at all: REST-JSON and JSON.
        ("accessanalyzer", "list_analyzers", {}, "ListAnalyzers"),
        ("fms", "list_policies", {}, "ListPolicies"),
    ],
)
def test_calls_the_lab_cannot_serve_are_answered_not_implemented(
    lab: Lab, capfd: pytest.CaptureFixture[str], service: str, operation: str, params: dict[str, Any],
    event_name: str,
) -> None:
    capfd.readouterr()
    with pytest.raises(ClientError) as caught:
        getattr(lab.aws_client(service), operation)(**params)
    answer = caught.value.response
    assert answer["Error"]["Code"] == "NotImplemented"
    assert answer["Error"]["Message"].startswith("The cloudwarden lab does not ")
    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 501
    assert answer["ResponseMetadata"]["RetryAttempts"] == 0  # 501 is not a status SDKs retry
    out, err = capfd.readouterr()
    assert "Traceback" not in out + err
    assert "Unable to find appropriate backend" not in out + err
    lab.client.flush()
    record = only(disk_records(lab.state_dir), event_name)
    assert record["errorCode"] == "NotImplemented"
    assert record["errorMessage"] == answer["Error"]["Message"]
