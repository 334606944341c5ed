"""OCSF output validated against JSON Schemas generated from the OCSF 1.6.0 schema (``ocsf-json-schema``)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from cloudwarden.findings import ocsf
from tests.findings import samples, schemas


@pytest.fixture(scope="module")
def events(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    path = tmp_path_factory.mktemp("ocsf") / "findings.ocsf.json"
    ocsf.write(samples.all_kinds(), path)
    data = json.loads(path.read_text(encoding="utf-8"))
    assert isinstance(data, list)
    return data


def test_every_event_is_valid_against_the_ocsf_schema(events: list[dict[str, Any]]) -> None:
    assert len(events) == len(samples.all_kinds())
    for event in events:
        assert schemas.ocsf_errors(event) == [], event["finding_info"]["title"]


def test_validator_has_teeth(events: list[dict[str, Any]]) -> None:
    bad = json.loads(json.dumps(events[0]))
    bad["severity_id"] = 42
    del bad["compliance"]
    bad["surprise"] = True
    errors = "\n".join(schemas.ocsf_errors(bad))
    assert "42" in errors and "compliance" in errors and "surprise" in errors


def test_classes_by_source(events: list[dict[str, Any]]) -> None:
    kinds = [(e["class_uid"], e["category_uid"], e["type_uid"]) for e in events]
    posture = [k for k, f in zip(kinds, samples.all_kinds(), strict=True) if f.source.value == "posture"]
    others = [k for k, f in zip(kinds, samples.all_kinds(), strict=True) if f.source.value != "posture"]
    assert posture and all(cls == 2003 and cat == 2 and 200300 < t < 200304 for cls, cat, t in posture)
    assert others and all(cls == 2004 and cat == 2 and 200400 < t < 200404 for cls, cat, t in others)
    for event in events:
        assert event["type_uid"] == event["class_uid"] * 100 + event["activity_id"]


def test_required_content(events: list[dict[str, Any]]) -> None:
    for event in events:
        assert event["metadata"]["product"]["name"] == "cloudwarden"
        assert event["metadata"]["version"] == ocsf.OCSF_VERSION
        assert event["metadata"]["profiles"] == ["cloud"]
        info = event["finding_info"]
        assert {"uid", "title", "types", "first_seen_time", "last_seen_time"} <= info.keys()
        assert event["cloud"]["provider"] == "AWS"
        assert event["resources"][0]["uid"]
        assert event["time"] == info["last_seen_time"]


def test_posture_compliance_and_severity(events: list[dict[str, Any]]) -> None:
    failed, passed, not_available = events[:3]
    assert failed["compliance"] == {
        "standards": ["CIS AWS Foundations Benchmark v3.0.0", "AWS Foundational Security Best Practices v1.0.0"],
        "status_id": 3, "status": "Fail", "control": "S3.8",
        "requirements": ["CIS AWS Foundations Benchmark v3.0.0 2.1.4",
                         "AWS Foundational Security Best Practices v1.0.0 S3.8"],
    }
    assert (failed["severity_id"], failed["severity"]) == (5, "Critical")
    assert failed["cloud"] == {"provider": "AWS", "region": "us-east-1",
                               "account": {"uid": samples.PROD, "type_id": 10, "type": "AWS Account"}}
    assert passed["compliance"]["status_id"] == 1 and passed["status_id"] == 4
    assert not_available["compliance"]["status_id"] == 2
    assert failed["remediation"]["desc"].startswith("Turn on S3 Block Public Access")


def test_detection_attacks_times_and_actor(events: list[dict[str, Any]]) -> None:
    event = next(e for e in events if e["finding_info"]["analytic"]["uid"] == "cloudtrail-logging-stopped")
    info = event["finding_info"]
    assert info["attacks"] == [
        {"technique": {"uid": "T1562"}, "sub_technique": {"uid": "T1562.008"}},
        {"technique": {"uid": "T1078"}},
    ]
    assert info["types"] == ["Stealth:IAMUser/CloudTrailLoggingDisabled"]
    assert info["first_seen_time"] == 1740830400000 and info["last_seen_time"] == 1740848400000
    assert event["activity_id"] == 2 and event["count"] == 3
    assert event["evidences"][0]["actor"]["user"] == {"uid": f"arn:aws:iam::{samples.PROD}:user/mallory",
                                                      "name": "mallory"}
    assert event["evidences"][0]["data"]["event_ids"] == ["e1", "e2", "e3"]
    archived = next(e for e in events if e["finding_info"]["analytic"]["uid"] == "crypto-mining-gpu")
    assert archived["activity_id"] == 3 and archived["status_id"] == 5


def test_secrets_never_reach_the_file(events: list[dict[str, Any]]) -> None:
    text = json.dumps(events)
    assert samples.SECRET not in text and "hunter2" not in text
    assert "AKIAEXAMPLE" in text  # key ids stay: responders search CloudTrail for them
