"""Findings wrapped as Security Hub and GuardDuty EventBridge events, checked with the patterns AWS documents."""

from __future__ import annotations

import json
import uuid

import pytest

from cloudwarden.core.errors import BadInputError
from cloudwarden.core.finding import Evidence, Finding, ResourceRef, Source, Status
from cloudwarden.core.severity import Severity
from cloudwarden.findings.asff import to_asff
from cloudwarden.lab import demo_org
from cloudwarden.route import EventMatcher, events_for, guardduty_event, pattern_matches, securityhub_event
from tests.findings.samples import SECRET, T0, all_kinds, posture_failed

PROD = demo_org.PROD


def detection(severity: Severity = Severity.HIGH, **fields: object) -> Finding:
    return Finding.create(
        source=Source.DETECT, rule_id="cloudtrail-logging-stopped", type="Stealth:IAMUser/CloudTrailLoggingDisabled",
        title="CloudTrail logging stopped by mallory", severity=severity, account_id=PROD, region="us-east-1",
        resource=ResourceRef(type="AwsCloudTrailTrail", id=f"arn:aws:cloudtrail:us-east-1:{PROD}:trail/org"),
        principal=f"arn:aws:iam::{PROD}:user/mallory", seen=T0, mitre=["T1562.008"],
        evidence=Evidence(event_ids=["e1"], details={
            "eventName": "StopLogging", "eventSource": "cloudtrail.amazonaws.com",
            "sourceIPAddress": demo_org.ATTACKER_IP, "userAgent": demo_org.ATTACKER_USER_AGENT,
            "accessKeyId": "AKIAEXAMPLEKEY", "SecretAccessKey": SECRET}),
        **fields,  # type: ignore[arg-type]
    )


def test_security_hub_event_envelope_and_asff_detail() -> None:
    finding = posture_failed()
    event = securityhub_event(finding)
    assert event["source"] == "aws.securityhub"
    assert event["detail-type"] == "Security Hub Findings - Imported"
    assert event["version"] == "0" and uuid.UUID(event["id"])
    assert event["account"] == PROD and event["region"] == "us-east-1" and event["time"] == "2025-03-01T12:00:00Z"
    assert event["detail"] == {"findings": [to_asff(finding)]}
    assert event["resources"] == [to_asff(finding)["Id"]]


def test_event_ids_follow_the_finding_state() -> None:
    finding = posture_failed()
    assert securityhub_event(finding)["id"] == securityhub_event(finding)["id"]
    resolved = finding.model_copy(update={"status": Status.PASSED})
    assert securityhub_event(resolved)["id"] != securityhub_event(finding)["id"]
    assert securityhub_event(finding)["id"] != guardduty_event(detection())["id"]


def test_global_findings_use_the_home_region() -> None:
    root_mfa = next(f for f in all_kinds() if f.rule_id == "iam.root-mfa")
    assert securityhub_event(root_mfa)["region"] == "us-east-1"


def test_guardduty_event_shape() -> None:
    event = guardduty_event(detection())
    detail = event["detail"]
    assert (event["source"], event["detail-type"]) == ("aws.guardduty", "GuardDuty Finding")
    assert event["account"] == PROD and event["resources"] == []
    assert detail["schemaVersion"] == "2.0" and detail["type"] == "Stealth:IAMUser/CloudTrailLoggingDisabled"
    assert detail["severity"] == 8.0 and isinstance(detail["severity"], float)
    assert len(detail["id"]) == 32 and detail["arn"].endswith(f"/finding/{detail['id']}")
    assert detail["arn"].startswith(f"arn:aws:guardduty:us-east-1:{PROD}:detector/")
    assert detail["resource"] == {"resourceType": "AccessKey", "accessKeyDetails": {
        "accessKeyId": "AKIAEXAMPLEKEY", "principalId": "", "userName": "mallory", "userType": "IAMUser"}}
    call = detail["service"]["action"]["awsApiCallAction"]
    assert detail["service"]["action"]["actionType"] == "AWS_API_CALL"
    assert call["api"] == "StopLogging" and call["serviceName"] == "cloudtrail.amazonaws.com"
    assert call["callerType"] == "Remote IP" and call["remoteIpDetails"] == {"ipAddressV4": demo_org.ATTACKER_IP}
    assert detail["service"]["count"] == 1 and detail["service"]["archived"] is False
    assert detail["createdAt"] == "2025-03-01T12:00:00Z"


@pytest.mark.parametrize(("severity", "number"), [
    (Severity.INFORMATIONAL, 1.0), (Severity.LOW, 2.0), (Severity.MEDIUM, 5.0), (Severity.HIGH, 8.0),
    (Severity.CRITICAL, 8.9)])
def test_guardduty_severity_bands(severity: Severity, number: float) -> None:
    assert guardduty_event(detection(severity))["detail"]["severity"] == number


def test_guardduty_resources_by_type() -> None:
    miner = next(f for f in all_kinds() if f.rule_id == "crypto-mining-gpu")
    resource = guardduty_event(miner)["detail"]["resource"]
    assert resource["resourceType"] == "Instance" and resource["instanceDetails"] == {"instanceId": "i-0abc"}
    assert resource["accessKeyDetails"]["userType"] == "AssumedRole"
    assert resource["accessKeyDetails"]["userName"] == "ci-deployer"
    assert guardduty_event(miner)["detail"]["service"]["archived"] is True


def test_only_detections_have_a_guardduty_form() -> None:
    with pytest.raises(BadInputError):
        guardduty_event(posture_failed())
    kinds = {f.rule_id: [e["source"] for e in events_for(f)] for f in all_kinds()}
    assert kinds["s3.bucket-public-read"] == ["aws.securityhub"]
    assert kinds["cloudtrail-logging-stopped"] == ["aws.securityhub", "aws.guardduty"]


def test_secrets_never_reach_an_event() -> None:
    for finding in [*all_kinds(), detection()]:
        text = json.dumps(events_for(finding))
        assert SECRET not in text and "hunter2" not in text


# Patterns as AWS documents them for these events.
GUARDDUTY_HIGH = {"source": ["aws.guardduty"], "detail-type": ["GuardDuty Finding"],
                  "detail": {"severity": [{"numeric": [">=", 7]}]}}
SECURITY_HUB_CRITICAL_NEW = {"source": ["aws.securityhub"], "detail-type": ["Security Hub Findings - Imported"],
                             "detail": {"findings": {"Severity": {"Label": ["CRITICAL", "HIGH"]},
                                                     "Workflow": {"Status": ["NEW"]},
                                                     "RecordState": ["ACTIVE"]}}}
FAILED_CONTROL = {"source": ["aws.securityhub"], "detail": {"findings": {
    "Compliance": {"Status": ["FAILED"], "SecurityControlId": ["S3.8"]}}}}
STEALTH_FROM_ATTACKER = {"source": ["aws.guardduty"], "detail": {
    "type": [{"prefix": "Stealth:"}],
    "service": {"action": {"awsApiCallAction": {"remoteIpDetails": {"ipAddressV4": [{"cidr": "198.51.100.0/24"}]}}}}}}


def test_documented_patterns_match_our_events() -> None:
    matcher = EventMatcher([("gd-high", GUARDDUTY_HIGH), ("sh-critical", SECURITY_HUB_CRITICAL_NEW),
                            ("s3.8", FAILED_CONTROL), ("stealth", STEALTH_FROM_ATTACKER)])
    assert [matcher.match(e) for e in events_for(posture_failed())] == [["sh-critical", "s3.8"]]
    assert [matcher.match(e) for e in events_for(detection())] == [["sh-critical"], ["gd-high", "stealth"]]
    low = detection(Severity.LOW)
    assert [matcher.match(e) for e in events_for(low)] == [[], ["stealth"]]
    archived = detection(status=Status.ARCHIVED)
    assert matcher.match(securityhub_event(archived)) == []


def test_round_trip_through_json_text() -> None:
    event = securityhub_event(posture_failed())
    assert pattern_matches(FAILED_CONTROL, json.dumps(event))
