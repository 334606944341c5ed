"""How collection meets errors: an AccessDenied is an error in the document and in the snapshot, never missing;
"not configured" answers stay in the document without being reported as collection errors."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from moto.core.authorization import enable_iam_authentication

from cloudwarden.aws.session import AwsTarget, ClientFactory, make_session
from cloudwarden.inventory.context import UnitContext, failed, short_message
from cloudwarden.inventory.stage import collect_snapshot
from cloudwarden.lab.server import Lab
from cloudwarden.store import resources as snapshots
from cloudwarden.store.store import Store

pytestmark = pytest.mark.lab

GUARDED = "guarded-bucket-123456789012"
PLAIN = "plain-bucket-123456789012"
AUDITOR_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Action": ["s3:ListAllMyBuckets", "s3:GetBucket*", "s3:GetEncryptionConfiguration",
                                       "s3:GetLifecycleConfiguration", "s3:GetReplicationConfiguration"],
         "Resource": "*"},
        {"Effect": "Deny", "Action": "s3:GetBucketPolicy", "Resource": "*"},
    ],
}


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    with Lab(tmp_path_factory.mktemp("lab"), seed="empty", flush_interval=3600.0) as running:
        s3 = running.aws_client("s3")
        for bucket in (GUARDED, PLAIN):
            s3.create_bucket(Bucket=bucket)
        s3.put_bucket_policy(Bucket=GUARDED, Policy=json.dumps({
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Deny", "Principal": "*", "Action": "s3:DeleteBucket",
                           "Resource": f"arn:aws:s3:::{GUARDED}"}],
        }))
        yield running


def auditor(lab: Lab) -> AwsTarget:
    iam = lab.aws_client("iam")
    iam.create_user(UserName="auditor")
    iam.put_user_policy(UserName="auditor", PolicyName="audit", PolicyDocument=json.dumps(AUDITOR_POLICY))
    key = iam.create_access_key(UserName="auditor")["AccessKey"]
    return AwsTarget(endpoint_url=lab.endpoint_url, access_key_id=key["AccessKeyId"],
                     secret_access_key=key["SecretAccessKey"])


def test_access_denied_is_an_error_in_the_document_and_the_snapshot(lab: Lab, tmp_path: Path) -> None:
    target = auditor(lab)
    with Store.open(tmp_path / "cw.duckdb") as store, enable_iam_authentication():
        result = collect_snapshot(target, store=store, services=["s3"])
        buckets = {d["name"]: d for d in snapshots.resources(store, result.snapshot_id, types="AwsS3Bucket")}
        accounts = snapshots.resources(store, result.snapshot_id, types="AwsAccount")
        stored_status = snapshots.snapshot_status(store, result.snapshot_id)
    guarded = buckets[GUARDED]["calls"]
    assert guarded["GetBucketPolicy"]["error"]["code"] == "AccessDenied"
    assert "PolicyDocument" not in guarded["GetBucketPolicy"]
    assert not failed(guarded["GetBucketAcl"])  # what the policy allows still answers
    denied = [e for e in result.errors if e["operation"] == "GetBucketPolicy"]
    assert {(e["service"], e["code"]) for e in denied} == {("s3", "AccessDenied")}
    assert len(denied) == 2  # one per bucket
    assert stored_status is not None and stored_status[0] == "partial"
    assert any(e["operation"] == "GetBucketPolicy" for e in stored_status[1])
    # the account pseudo-resource exists although its calls were refused: controls see why, not a gap
    assert len(accounts) == 1
    assert accounts[0]["calls"]["GetAccountPasswordPolicy"]["error"]["code"] == "AccessDenied"


def test_not_configured_answers_are_kept_but_not_reported(lab: Lab) -> None:
    target = AwsTarget(endpoint_url=lab.endpoint_url)
    ctx = UnitContext(ClientFactory(target, make_session(target), "123456789012"), "123456789012", "us-east-1", "s3")
    missing = ctx.call("GetBucketPolicy", {"Bucket": PLAIN})
    assert missing == {"error": {"code": "NoSuchBucketPolicy", "message": missing["error"]["message"]}}
    assert ctx.errors == []
    refused = ctx.call("GetBucketPolicy", {"Bucket": "no-such-bucket-anywhere"})
    assert refused["error"]["code"] == "NoSuchBucket"
    assert [(e["operation"], e["code"]) for e in ctx.errors] == [("GetBucketPolicy", "NoSuchBucket")]


def test_list_stops_at_the_cap_and_records_it(lab: Lab) -> None:
    target = AwsTarget(endpoint_url=lab.endpoint_url)
    ctx = UnitContext(ClientFactory(target, make_session(target), "123456789012"), "123456789012", "us-east-1", "s3")
    listing = ctx.list("ListBuckets", "Buckets[]", cap=1)
    assert len(listing.items) == 1 and listing.truncated
    assert ctx.errors[0]["code"] == "CapReached"
    whole = ctx.list("ListBuckets", "Buckets[]")
    assert sorted(b["Name"] for b in whole.items) == sorted([GUARDED, PLAIN]) and not whole.truncated


def test_html_error_pages_are_summarised() -> None:
    page: Any = "<!doctype html>\n<html><title>500 Internal Server Error</title></html>"
    assert "HTML error page" in short_message(page)
    assert short_message("Access Denied") == "Access Denied"


def _bare_context(concurrency: int) -> UnitContext:
    target = AwsTarget(endpoint_url="http://127.0.0.1:1")
    return UnitContext(ClientFactory(target, make_session(target), "123456789012"), "123456789012", "us-east-1",
                       "s3", concurrency=concurrency)


def test_map_runs_a_units_independent_calls_at_once_and_keeps_their_order() -> None:
    import threading

    ctx = _bare_context(concurrency=4)
    together = threading.Barrier(4, timeout=10)  # breaks (raises) unless four calls are in flight at once

    def call(n: int) -> int:
        together.wait()
        return n * n

    assert ctx.map(call, [3, 1, 2, 0]) == [9, 1, 4, 0]
    assert ctx.gather({"b": lambda: 2, "a": lambda: 1}) == {"b": 2, "a": 1}
    assert list(ctx.gather({"b": lambda: 2, "a": lambda: 1})) == ["b", "a"]


def test_map_lets_an_exception_of_one_call_propagate() -> None:
    def call(n: int) -> int:
        if n == 2:
            raise KeyError("shape")
        return n

    for concurrency in (1, 4):
        with pytest.raises(KeyError, match="shape"):
            _bare_context(concurrency).map(call, [1, 2, 3])
