from __future__ import annotations

from datetime import UTC, datetime

from cloudwarden.core.finding import Finding, ResourceRef, Source, Status, finding_id
from cloudwarden.core.severity import Severity


def _finding(**overrides: object) -> Finding:
    args: dict[str, object] = {
        "source": Source.DETECT,
        "rule_id": "cloudtrail-stopped",
        "type": "Stealth:IAMUser/CloudTrailLoggingDisabled",
        "title": "CloudTrail logging stopped",
        "severity": Severity.LOW,
        "account_id": "222222222222",
        "region": "us-east-1",
        "resource": ResourceRef(type="AwsCloudTrailTrail", id="arn:aws:cloudtrail:us-east-1:222222222222:trail/t"),
        "seen": datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
    }
    args.update(overrides)
    return Finding.create(**args)  # type: ignore[arg-type]


def test_id_is_stable_and_depends_on_every_key_part() -> None:
    first, again = _finding(), _finding(title="other title", severity=Severity.HIGH)
    assert first.id == again.id  # title and severity are not part of the identity
    assert len(first.id) == 64
    assert _finding(region="eu-west-1").id != first.id
    assert _finding(account_id="333333333333").id != first.id
    assert _finding(rule_id="other").id != first.id
    assert finding_id("a", "b", "c", "d", "e") != finding_id("a", "b", "c", "de", "")


def test_default_status_depends_on_source() -> None:
    assert _finding().status is Status.ACTIVE
    assert _finding(source=Source.POSTURE).status is Status.FAILED


def test_json_round_trip_matches_contract_shape() -> None:
    data = _finding(mitre=["T1562.008"], frameworks={"fsbp": ["CloudTrail.1"]}).to_json_dict()
    assert data["first_seen"] == "2026-01-02T03:04:05Z"
    assert data["resource"] == {"type": "AwsCloudTrailTrail", "id": "arn:aws:cloudtrail:us-east-1:222222222222:trail/t"}
    assert data["evidence"]["event_ids"] == []
    assert set(data) >= {
        "id", "source", "type", "control_id", "rule_id", "title", "description", "remediation", "status",
        "severity", "account_id", "region", "resource", "principal", "frameworks", "first_seen", "last_seen",
        "count", "evidence", "mitre",
    }
    assert Finding.from_json_dict(data) == _finding(mitre=["T1562.008"], frameworks={"fsbp": ["CloudTrail.1"]})
