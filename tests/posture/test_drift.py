"""Drift between two snapshots: new, changed and resolved verdicts, and configuration changes that did
not flip a verdict."""

from __future__ import annotations

from cloudwarden.posture.drift import CHANGED, NEW, RESOLVED, changed_paths, drift
from cloudwarden.posture.evaluate import evaluate
from tests.posture import docs as d


def test_new_resolved_and_configuration_only_changes() -> None:
    before = [d.account(), d.bucket("a-1"), d.bucket("b-1", GetBucketLogging={}),
              d.security_group("sg-1", ingress=[d.rule("tcp", 443, cidr="10.0.0.0/8")]), d.bucket("gone-1")]
    after = [d.account(), d.bucket("a-1", GetBucketLogging={}), d.bucket("b-1"),
             d.security_group("sg-1", ingress=[d.rule("tcp", 443, cidr="10.0.0.0/8"),
                                               d.rule("tcp", 8443, cidr="10.1.0.0/16")]),
             d.bucket("new-1")]
    report = drift(before, evaluate(before, now=d.NOW), after, evaluate(after, now=d.NOW))
    by = {(v.control_id, v.resource_id.rsplit(":", 1)[-1]): v for v in report.verdicts}
    assert by[("S3.9", "a-1")].kind == NEW and by[("S3.9", "a-1")].before == "PASSED"
    assert by[("S3.9", "b-1")].kind == RESOLVED and by[("S3.9", "b-1")].after == "PASSED"
    assert by[("S3.9", "gone-1")].kind == CHANGED and by[("S3.9", "gone-1")].after is None
    assert by[("S3.9", "new-1")].kind == CHANGED and by[("S3.9", "new-1")].before is None
    config = {c.resource_id.rsplit("/", 1)[-1].rsplit(":", 1)[-1]: c for c in report.configuration}
    sg = config["sg-1"]
    assert sg.kind == CHANGED and not sg.verdict_changed and sg.paths == ("/data/IpPermissions",)
    assert config["a-1"].verdict_changed and config["a-1"].paths == ("/calls/GetBucketLogging/LoggingEnabled",)
    assert config["gone-1"].kind == RESOLVED and config["new-1"].kind == NEW
    summary = report.to_dict()["summary"]
    # S3.9 on a-1 and S3.5 (no TLS-only policy) on the new bucket; S3.9 on b-1 and S3.5 on the gone one
    assert summary[NEW] == 2 and summary[RESOLVED] == 2 and summary["configuration_changes"] == 5


def test_identical_snapshots_have_no_drift_and_volatile_fields_are_ignored() -> None:
    docs = [d.account(), d.bucket(), d.user()]
    later = [d.account(), d.bucket(), d.with_(d.user(), calls={"GetAccessKeyLastUsed": {"AKIAALICE0000001": {
        "UserName": "alice", "AccessKeyLastUsed": {"LastUsedDate": d.ago(0), "ServiceName": "s3",
                                                  "Region": "us-east-1"}}}})]
    report = drift(docs, evaluate(docs, now=d.NOW), later, evaluate(later, now=d.NOW))
    assert report.verdicts == [] and report.configuration == []


def test_changed_paths_reports_lists_and_keys() -> None:
    assert list(changed_paths({"a": [1, 2], "b": {"c": 1}}, {"a": [1, 3], "b": {}})) == ["/a/1", "/b/c"]
    assert list(changed_paths({"a": [1]}, {"a": [1, 2]})) == ["/a"]
