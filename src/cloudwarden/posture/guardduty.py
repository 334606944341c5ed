"""GuardDuty controls: a detector enabled in every region, and each protection plan turned on.

Features are read from ``GetDetector``'s ``Features`` list (current API) and, where a plan has one, from
the older ``DataSources`` block, so detectors created either way are judged alike.
"""

from __future__ import annotations

from typing import Any

from cloudwarden.core.severity import Severity
from cloudwarden.posture.inventory import ACCOUNT_REGION, Inventory
from cloudwarden.posture.model import NotAvailable, ResourceDoc, Verdict, failed, verdict
from cloudwarden.posture.registry import control

DETECTOR = "AwsGuardDutyDetector"


def detector_answer(doc: ResourceDoc) -> dict[str, Any]:
    return doc.call("GetDetector") or {}


@control("GuardDuty.1", title="GuardDuty should be enabled", severity=Severity.HIGH, resource_type=ACCOUNT_REGION,
         service="guardduty", calls=("ListDetectors", "GetDetector"),
         rationale="GuardDuty is the threat detection that notices stolen credentials and compromised hosts.",
         remediation="Enable GuardDuty in every region (through the organisation's delegated administrator).",
         cli="aws guardduty create-detector --enable --region <region>")
def enabled(doc: ResourceDoc, inv: Inventory) -> Verdict:
    ids = (doc.call("ListDetectors") or {}).get("DetectorIds") or []
    if not ids:
        return failed(f"GuardDuty has no detector in {doc.account}/{doc.region}")
    detectors = {str(d.data.get("DetectorId") or d.arn.rsplit("/", 1)[-1]): d
                 for d in inv.of_type(DETECTOR, doc.account, doc.region)}
    statuses = []
    for detector_id in ids:
        detector = detectors.get(str(detector_id))
        if detector is None:
            raise NotAvailable(f"detector {detector_id} of {doc.account}/{doc.region} is not in the snapshot")
        statuses.append(detector_answer(detector).get("Status"))
    return verdict("ENABLED" in statuses, f"GuardDuty is enabled in {doc.account}/{doc.region}",
                   f"the GuardDuty detector of {doc.account}/{doc.region} is {', '.join(map(str, statuses))}")


def feature_on(answer: dict[str, Any], name: str, additional: str | None, legacy: tuple[str, ...]) -> bool | None:
    """Is a protection plan on? ``None`` when neither Features nor DataSources say. ``name`` may list
    alternatives separated by ``|`` (a plan that moved from its own feature into Runtime Monitoring)."""
    if "|" in name:
        found = [feature_on(answer, n, additional, legacy) for n in name.split("|")]
        return True if True in found else (None if all(f is None for f in found) else False)
    for feature in answer.get("Features") or []:
        if feature.get("Name") != name:
            continue
        if feature.get("Status") != "ENABLED":
            return False
        if additional is None:
            return True
        extra = {c.get("Name"): c.get("Status") for c in feature.get("AdditionalConfiguration") or []}
        return extra.get(additional) == "ENABLED"
    if legacy:
        node: Any = answer.get("DataSources")
        for key in legacy:
            node = node.get(key) if isinstance(node, dict) else None
        if isinstance(node, dict) and "Status" in node:
            return bool(node["Status"] == "ENABLED")
    if answer.get("Features") is not None:
        return False
    return None


def _feature(doc: ResourceDoc, label: str, name: str, additional: str | None = None,
             legacy: tuple[str, ...] = ()) -> Verdict:
    on = feature_on(detector_answer(doc), name, additional, legacy)
    if on is None:
        raise NotAvailable(f"GetDetector of {doc.label} reports neither Features nor DataSources for {label}")
    return verdict(on, f"{label} is enabled on detector {doc.label} ({doc.region})",
                   f"{label} is not enabled on detector {doc.label} ({doc.region})")


def _register(control_id: str, label: str, name: str, additional: str | None = None,
              legacy: tuple[str, ...] = (), severity: Severity = Severity.MEDIUM) -> None:
    def check(doc: ResourceDoc, inv: Inventory) -> Verdict:
        return _feature(doc, label, name, additional, legacy)

    check.__name__ = f"feature_{name.split('|')[0].lower()}"
    control(control_id, title=f"GuardDuty {label} should be enabled", severity=severity, resource_type=DETECTOR,
            service="guardduty", calls=("GetDetector",),
            rationale=f"{label} extends GuardDuty's threat detection to more of the account's workloads.",
            remediation=f"Turn on {label} for the detector (organisation-wide through the delegated administrator).",
            cli=f"aws guardduty update-detector --detector-id <id> "
                f"--features Name={name.split('|')[-1]},Status=ENABLED")(check)


_register("GuardDuty.5", "EKS Audit Log Monitoring", "EKS_AUDIT_LOGS", legacy=("Kubernetes", "AuditLogs"),
          severity=Severity.HIGH)
_register("GuardDuty.6", "Lambda Protection", "LAMBDA_NETWORK_LOGS", severity=Severity.HIGH)
_register("GuardDuty.7", "EKS Runtime Monitoring", "EKS_RUNTIME_MONITORING|RUNTIME_MONITORING", "EKS_ADDON_MANAGEMENT")
_register("GuardDuty.8", "Malware Protection for EC2", "EBS_MALWARE_PROTECTION",
          legacy=("MalwareProtection", "ScanEc2InstanceWithFindings", "EbsVolumes"), severity=Severity.HIGH)
_register("GuardDuty.9", "RDS Protection", "RDS_LOGIN_EVENTS", severity=Severity.HIGH)
_register("GuardDuty.10", "S3 Protection", "S3_DATA_EVENTS", legacy=("S3Logs",), severity=Severity.HIGH)
_register("GuardDuty.11", "Runtime Monitoring", "RUNTIME_MONITORING", severity=Severity.HIGH)
_register("GuardDuty.12", "ECS Runtime Monitoring", "RUNTIME_MONITORING", "ECS_FARGATE_AGENT_MANAGEMENT")
_register("GuardDuty.13", "EC2 Runtime Monitoring", "RUNTIME_MONITORING", "EC2_AGENT_MANAGEMENT")
