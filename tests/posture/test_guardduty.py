"""GuardDuty controls: a detector in every region, and each protection plan."""

from __future__ import annotations

import pytest

from tests.posture import docs as d
from tests.posture.cases import Case, check

NO_DETECTOR = {"DetectorIds": []}
LEGACY = {"DataSources": {"S3Logs": {"Status": "ENABLED"}, "Kubernetes": {"AuditLogs": {"Status": "DISABLED"}}}}

CASES = [
    Case("GuardDuty.1", lambda: d.account_region(), "PASSED", "", lambda: [d.detector()]),
    Case("GuardDuty.1", lambda: d.account_region(ListDetectors=NO_DETECTOR), "FAILED", "no detector"),
    Case("GuardDuty.1", lambda: d.account_region(), "FAILED", "SUSPENDED", lambda: [d.detector(status="SUSPENDED")]),
    Case("GuardDuty.1", lambda: d.account_region(), "NOT_AVAILABLE", "not in the snapshot"),
    Case("GuardDuty.1", lambda: d.account_region(ListDetectors=d.error()), "NOT_AVAILABLE",
         "AccessDenied on guardduty:ListDetectors"),
    Case("GuardDuty.10", lambda: d.detector(), "PASSED"),
    Case("GuardDuty.10", lambda: d.detector(features=[{"Name": "S3_DATA_EVENTS", "Status": "DISABLED"}]), "FAILED"),
    Case("GuardDuty.10", lambda: d.with_(d.detector(), calls={"GetDetector": LEGACY}), "PASSED"),
    Case("GuardDuty.5", lambda: d.with_(d.detector(), calls={"GetDetector": LEGACY}), "FAILED"),
    Case("GuardDuty.9", lambda: d.with_(d.detector(), calls={"GetDetector": LEGACY}), "NOT_AVAILABLE",
         "neither Features"),
    Case("GuardDuty.9", lambda: d.detector(features=[]), "FAILED"),
    Case("GuardDuty.12", lambda: d.detector(), "PASSED"),
    Case("GuardDuty.12", lambda: d.detector(features=[{"Name": "RUNTIME_MONITORING", "Status": "ENABLED",
                                                       "AdditionalConfiguration": []}]), "FAILED"),
    Case("GuardDuty.11", lambda: d.with_(d.detector(), calls={"GetDetector": d.error()}), "NOT_AVAILABLE"),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_control(case: Case) -> None:
    check(case)


@pytest.mark.parametrize("control_id", [f"GuardDuty.{n}" for n in (5, 6, 7, 8, 9, 10, 11, 12, 13)])
def test_each_plan_passes_when_on_and_fails_when_off(control_id: str) -> None:
    assert d.status_of(control_id, d.detector()) == "PASSED"
    assert d.status_of(control_id, d.detector(features=[])) == "FAILED"
