from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from cloudwarden.store import resources as snapshots
from cloudwarden.store.store import Store


def doc(arn: str, type_: str = "AwsS3Bucket", account: str = "222222222222", region: str = "us-east-1",
        **calls: Any) -> dict[str, Any]:
    return {"arn": arn, "type": type_, "account": account, "region": region, "name": arn.rsplit(":", 1)[-1],
            "tags": {}, "data": {"Name": arn}, "calls": calls}


def test_bulk_write_then_read_by_type_account_region(tmp_path: Path) -> None:
    with Store.open(tmp_path / "cw.duckdb") as store:
        sid = snapshots.begin_snapshot(store, None, ["222222222222", "333333333333"], ["us-east-1"])
        written = snapshots.add_resources(store, sid, [
            doc("arn:aws:s3:::a"), doc("arn:aws:s3:::b", account="333333333333"),
            doc("arn:aws:iam::222222222222:root", "AwsAccount",
                GetCredentialReport={"rows": [{"user": "bob", "password_enabled": "true"}]}),
        ] + [doc(f"arn:aws:ec2:eu-west-1:222222222222:vpc/vpc-{i}", "AwsEc2Vpc", region="eu-west-1")
             for i in range(500)])
        assert written == 503
        snapshots.finish_snapshot(store, sid, "complete", [])
        assert [d["arn"] for d in snapshots.resources(store, types="AwsS3Bucket")] == ["arn:aws:s3:::a",
                                                                                       "arn:aws:s3:::b"]
        assert [d["arn"] for d in snapshots.resources(store, sid, types="AwsS3Bucket",
                                                      account="333333333333")] == ["arn:aws:s3:::b"]
        assert len(snapshots.resources(store, sid, region="eu-west-1")) == 500
        account = snapshots.resources(store, sid, types=["AwsAccount"])[0]
        # documents are stored as given: the credential report's password_enabled column survives
        assert account["calls"]["GetCredentialReport"]["rows"][0]["password_enabled"] == "true"
        assert snapshots.resource_counts(store, sid)[("222222222222", "eu-west-1", "AwsEc2Vpc")] == 500


def test_same_arn_twice_keeps_the_last_document(tmp_path: Path) -> None:
    with Store.open(tmp_path / "cw.duckdb") as store:
        sid = snapshots.begin_snapshot(store, None, ["222222222222"], ["us-east-1"])
        snapshots.add_resources(store, sid, [doc("arn:aws:s3:::a", GetBucketAcl={"Owner": "x"})])
        snapshots.add_resources(store, sid, [doc("arn:aws:s3:::a", GetBucketAcl={"Owner": "y"})])
        snapshots.finish_snapshot(store, sid, "complete", [])
        found = snapshots.resources(store, sid)
        assert len(found) == 1 and found[0]["calls"]["GetBucketAcl"] == {"Owner": "y"}


def test_latest_skips_running_and_failed_snapshots(tmp_path: Path) -> None:
    with Store.open(tmp_path / "cw.duckdb") as store:
        assert snapshots.latest_snapshot_id(store) is None
        assert snapshots.resources(store) == []
        done = snapshots.begin_snapshot(store, None, ["1"], ["us-east-1"])
        error = {"account": "1", "region": "us-east-1", "service": "s3", "operation": "ListBuckets",
                 "code": "AccessDenied", "message": "no"}
        snapshots.finish_snapshot(store, done, "partial", [error])
        running = snapshots.begin_snapshot(store, None, ["1"], ["us-east-1"])
        failed = snapshots.begin_snapshot(store, None, ["1"], ["us-east-1"])
        snapshots.finish_snapshot(store, failed, "failed", [])
        assert snapshots.latest_snapshot_id(store) == done
        assert snapshots.snapshot_status(store, done) == ("partial", [error])
        assert snapshots.snapshot_status(store, running) == ("running", [])
        with pytest.raises(ValueError, match="no snapshot"):
            snapshots.finish_snapshot(store, "snap-missing", "complete", [])
